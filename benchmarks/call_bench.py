"""Per-step service latency of the hotline under many concurrent calls.

Starts `ivr serve` (SQLite, demo data, keypad-only so that speech decoding does not
dominate; speech cost is measured by benchmarks/asr_bench.py) in its own process,
then places N concurrent calls from the fake Asterisk in this process.  Each call
keys a NIK, confirms, hears its status, repeats it once and hangs up.  A "step" is
the time from the fake Asterisk's reply to the service's next command: what
Asterisk would wait for.

    python benchmarks/call_bench.py                 # 100 and 500 concurrent calls
    python benchmarks/call_bench.py --calls 50 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.store.recipients import DEMO_NIKS  # noqa: E402
from ivr.telephony.fake_asterisk import HangUp, Keys, run_call  # noqa: E402

SOUNDS = "/var/lib/asterisk/sounds/id/hotline"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(IVR_DATA_DIR=str(data_dir), IVR_AGI_PORT=str(port), IVR_WEB_ENABLED="false",
               IVR_SPEECH_ENABLED="false", IVR_PROMPTS_DIR=str(REPO / "prompts"), IVR_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=data_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "answering" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("ivr serve did not start")


async def one_round(port: int, calls: int, spool: Path) -> tuple[list[float], float, int]:
    niks = [DEMO_NIKS[k] for k in ("scheduled", "not_scheduled", "collected", "in_review", "rejected")]
    start = time.perf_counter()
    results = await asyncio.gather(*[
        run_call("127.0.0.1", port, [Keys(niks[i % len(niks)]), Keys("1"), Keys("9"), HangUp()],
                 caller=f"08120000{i:04d}", sounds_prefix=SOUNDS, audio_dir=REPO / "prompts" / "audio",
                 asterisk_spool=str(spool), spool_dir=spool, timeout=600)
        for i in range(calls)])
    wall = time.perf_counter() - start
    steps = [s for r in results for s in r.step_latencies[1:]]   # [0] includes connection set-up
    failed = sum(1 for r in results if not r.clean)
    return steps, wall, failed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        port = free_port()
        server = start_server(data, port)
        try:
            print(f"cores: {os.cpu_count()}; server: ivr serve (SQLite, keypad only); one client process")
            print(f"{'calls':>6} {'round':>5} {'steps':>7} {'median ms':>10} {'p95 ms':>8} {'p99 ms':>8}"
                  f" {'max ms':>8} {'wall s':>7} {'calls/s':>8} {'failed':>6}")
            for calls in args.calls:
                for n in range(1, args.rounds + 1):
                    steps, wall, failed = asyncio.run(one_round(port, calls, data / "spool"))
                    ms = [s * 1000 for s in steps]
                    print(f"{calls:>6} {n:>5} {len(ms):>7} {statistics.median(ms):>10.2f} {pct(ms, .95):>8.2f}"
                          f" {pct(ms, .99):>8.2f} {max(ms):>8.2f} {wall:>7.2f} {calls / wall:>8.1f} {failed:>6}")
        finally:
            server.terminate()
            server.wait(timeout=60)
            server.stdout.close()


if __name__ == "__main__":
    main()
