"""Hostile FastAGI peers against a running `ivr serve`: what each attack costs the
service, and whether a real call placed right after it is still served.

Each attack gets a fresh `ivr serve` (SQLite, demo data, keypad only) in its own
process, so its peak memory (VmHWM) is the service's alone.  Attacks, all on loopback:

* idle: 1,010 connections that never send a header, then a real call;
* 520 flood: a peer answers ANSWER with ``520-`` and streams 64 KB (or 4 KB) lines,
  never ending the block, for up to --flood-seconds or --flood-cap-mb;
* drop after answer: 200 connections that send a header, answer ANSWER and vanish;
  counted: ``system_fault`` follow-ups filed for the operators.

    python benchmarks/agi_attack_bench.py                     # this checkout
    python benchmarks/agi_attack_bench.py --code /tmp/before  # another checkout, e.g.
        # `git archive main | tar -x -C /tmp/before`, for the figures before a change

The flood is bounded by time and bytes sent, so an unprotected service is stopped
long before it exhausts the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.store.recipients import DEMO_NIKS  # noqa: E402
from ivr.telephony import agi  # noqa: E402
from ivr.telephony.fake_asterisk import HangUp, Keys, Silence, agi_environment, run_call  # noqa: E402

SOUNDS = "/var/lib/asterisk/sounds/id/hotline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, code: Path, data_dir: Path):
        self.port = free_port()
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
        env.update(IVR_DATA_DIR=str(data_dir), IVR_AGI_PORT=str(self.port), IVR_WEB_ENABLED="false",
                   IVR_SPEECH_ENABLED="false", IVR_PROMPTS_DIR=str(code / "prompts"),
                   IVR_LOG_LEVEL="ERROR", PYTHONPATH=str(code))
        self.proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=data_dir, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "answering" in line:
                return
            if not line and self.proc.poll() is not None:
                break
        self.proc.kill()
        raise SystemExit("ivr serve did not start")

    def memory_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def follow_ups(self) -> int:
        with sqlite3.connect(self.data_dir / "hotline.db") as db:
            return db.execute("SELECT count(*) FROM follow_ups WHERE reason = 'system_fault'").fetchone()[0]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def real_call(svc: Service, spool: Path) -> tuple[bool, float]:
    started = time.perf_counter()
    result = await run_call("127.0.0.1", svc.port, [Keys(DEMO_NIKS["scheduled"]), Keys("1"), Silence(), HangUp()],
                            sounds_prefix=SOUNDS, audio_dir=REPO / "prompts" / "audio",
                            asterisk_spool=str(spool), spool_dir=spool, timeout=30)
    return "status/scheduled" in result.prompts, time.perf_counter() - started


def header(port: int, n: int) -> bytes:
    return agi.format_env(agi_environment("127.0.0.1", port, caller="081200000000", uniqueid=f"66.{n}"))


async def idle_attack(svc: Service, count: int) -> str:
    writers = []
    try:
        for _ in range(count):
            writers.append((await asyncio.open_connection("127.0.0.1", svc.port))[1])
        await asyncio.sleep(0.5)
        served, took = await real_call(svc, svc.data_dir / "spool")
        return f"{count} idle sockets open; real call {'served' if served else 'NOT served'} in {took:.2f} s"
    finally:
        for w in writers:
            w.close()


async def flood_attack(svc: Service, line_kb: int, seconds: float, cap_mb: int) -> str:
    before = svc.memory_mb("VmRSS")
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.port)
    writer.write(header(svc.port, 0))
    await writer.drain()
    await reader.readline()                        # ANSWER
    writer.write(b"520-Invalid command syntax.  Proper usage follows:\n")
    line = b"u" * (line_kb * 1024 - 1) + b"\n"
    sent, started, closed = 0, time.monotonic(), False
    try:
        while time.monotonic() - started < seconds and sent < cap_mb * 2**20:
            writer.write(line)
            await writer.drain()
            sent += len(line)
    except (ConnectionError, OSError):
        closed = True
    writer.close()
    peak = svc.memory_mb("VmHWM")
    served, _ = await real_call(svc, svc.data_dir / "spool")
    how = "service closed it" if closed else f"still open after {time.monotonic() - started:.1f} s"
    return (f"{line_kb} KB lines: {sent / 2**20:.1f} MB sent, {how}; RSS {before:.0f} MB before, "
            f"peak {peak:.0f} MB; next call {'served' if served else 'NOT served'}")


async def drop_attack(svc: Service, count: int) -> str:
    for n in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", svc.port)
        writer.write(header(svc.port, n))
        await writer.drain()
        await reader.readline()                    # ANSWER
        writer.write(b"200 result=0\n")
        await writer.drain()
        await reader.readline()                    # the greeting: vanish instead of playing it
        writer.close()
    await asyncio.sleep(2)                         # let the call log catch up
    served, _ = await real_call(svc, svc.data_dir / "spool")
    return (f"{count} calls answered then dropped: {svc.follow_ups()} system_fault follow-up(s); "
            f"next call {'served' if served else 'NOT served'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose `ivr serve` is attacked")
    ap.add_argument("--idle", type=int, default=1010)
    ap.add_argument("--drops", type=int, default=200)
    ap.add_argument("--flood-seconds", type=float, default=9.0)
    ap.add_argument("--flood-cap-mb", type=int, default=1024)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4096)), hard))
    attacks = [
        ("idle sockets", lambda s: idle_attack(s, args.idle)),
        ("520 flood", lambda s: flood_attack(s, 64, args.flood_seconds, args.flood_cap_mb)),
        ("520 flood", lambda s: flood_attack(s, 4, args.flood_seconds, args.flood_cap_mb)),
        ("drop after answer", lambda s: drop_attack(s, args.drops)),
    ]
    print(f"attacking `ivr serve` from {args.code}")
    for name, attack in attacks:
        with tempfile.TemporaryDirectory() as tmp:
            svc = Service(args.code.resolve(), Path(tmp))
            try:
                print(f"  {name:18} {asyncio.run(attack(svc))}", flush=True)
            finally:
                svc.stop()


if __name__ == "__main__":
    main()
