"""Spoken answers over AudioSocket beside RECORD FILE, on the same calls.

Starts `ivr serve` (SQLite, demo data, the bundled speech model) in its own process,
once per transport (IVR_SPEECH_TRANSPORT=audiosocket, then record), and places calls
from the fake Asterisk in this process, in real time: prompts take their real length
(STREAM FILE, RECORD FILE and the AudioSocket stream are all paced), callers speak
the committed test recordings (tests/data/asr, with the silence around their words
trimmed) at real speed.  RECORD FILE ends as Asterisk's does: 2 s (IVR_RECORD_SILENCE_S)
after the caller's last sound.

1. Response latency: from the end of the caller's last word to the first audio of
   the service's next prompt, p50/p95, for three answers per call: a 16-digit NIK said
   in four groups with 0.5 s pauses (complete: ends early), a spoken "ya" (complete),
   a spoken "selesai".
2. Correctness: every committed test recording, asked at the question whose grammar
   fits it (digits at the NIK question, yes/no at the read-back, the menu after the
   answer); what the service heard, read from its call log, against the manifest.
3. Capacity: N concurrent calls, half by voice (the calls above) and half by keypad,
   started over 10 s; p95 of the service's step latency (a reply to its next command,
   what Asterisk waits for) and of the response latency, the service's CPU (from
   /proc), and CPU per concurrent spoken call (an upper bound: keypad calls' share is
   included).

    python benchmarks/stream_bench.py                          # all three, 10 and 40 calls
    python benchmarks/stream_bench.py --skip-capacity
    python benchmarks/stream_bench.py --levels 10 20 40 80

The machine is shared and the fake callers run on the same cores as the service.
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
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.dialogue.understand import Kind, speech_answer  # noqa: E402
from ivr.store.recipients import DEMO_NIKS  # noqa: E402
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, run_call  # noqa: E402

SOUNDS = "/var/lib/asterisk/sounds/id/hotline"
ASR = REPO / "tests" / "data" / "asr"
AUDIO_COMMANDS = {"STREAM FILE", "GET DATA", "SAY DIGITS"}
DIGIT_WORDS = {"nol": "0", "kosong": "0", "satu": "1", "dua": "2", "tiga": "3", "empat": "4", "lima": "5",
               "enam": "6", "tujuh": "7", "delapan": "8", "sembilan": "9"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, transport: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update(IVR_DATA_DIR=str(data_dir), IVR_AGI_PORT=str(port), IVR_WEB_ENABLED="false",
               IVR_SPEECH_ENABLED="true", IVR_SPEECH_TRANSPORT=transport, IVR_AUDIOSOCKET_PORT=str(free_port()),
               IVR_AUDIOSOCKET_BIND="127.0.0.1", IVR_AUDIOSOCKET_HOST="127.0.0.1",
               IVR_PROMPTS_DIR=str(REPO / "prompts"), IVR_LOG_LEVEL="WARNING", IVR_KEEP_TRAINING_AUDIO="false",
               IVR_GRAMMARS_DIR=str(REPO / "grammars"),
               # this checkout's ivr, not whichever one is installed
               PYTHONPATH=os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])))
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=data_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "answering" in line:
            return proc, port
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("ivr serve did not start")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- caller audio --------------------------------------------------------------------------

def voiced(name: str) -> np.ndarray:
    with wave.open(str(ASR / f"{name}.wav"), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    frames = x[: len(x) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 150)
    return x[max(loud[0] - 3, 0) * 160:(loud[-1] + 4) * 160]


def write(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def caller_audio(folder: Path) -> dict[str, tuple[Path, float]]:
    """name -> (trimmed WAV, seconds of speech)."""
    out = {}
    gap = np.zeros(4000, dtype="<i2")
    parts = [voiced(n) for n in ("digits_annie", "digits_female3", "digits_annie", "digits_female3")]
    nik = np.concatenate([p for part in parts for p in (part, gap)][:-1])
    out["nik16"] = (write(folder / "nik16.wav", nik), len(nik) / 8000)
    for line in (ASR / "manifest.tsv").read_text().splitlines():
        name = line.split("\t")[0][:-4]
        samples = voiced(name)
        out[name] = (write(folder / f"{name}.wav", samples), len(samples) / 8000)
    return out


# --- latency from one call -------------------------------------------------------------------

def response_latencies(result, say_seconds: list[float]) -> list[float]:
    """Seconds from each spoken answer's end to the next audio the caller hears."""
    return [x for _, x in labelled_latencies(result, say_seconds)]


def labelled_latencies(result, say_seconds: list[float]) -> list[tuple[int, float]]:
    """(which spoken answer of the call, 0-based; seconds to the next audio)."""
    cmds = [(e.command, e.args, w) for e, w in zip(result.exchanges, result.walls)]
    audio_starts: list[float] = []
    sessions = iter(result.audiosocket_sessions)
    speech_ends: list[float] = []
    says = iter(say_seconds)
    for command, args, (received, _answered) in cmds:
        if command in AUDIO_COMMANDS:
            audio_starts.append(received)
        elif command == "EXEC" and args and args[0].lower() == "audiosocket":
            session = next(sessions)
            if session.first_audio_wall is not None:
                audio_starts.append(session.first_audio_wall)
            if session.speech_end_wall is not None:
                speech_ends.append(session.speech_end_wall)
                next(says, None)
        elif command == "RECORD FILE":
            seconds = next(says, None)
            if seconds is not None:
                speech_ends.append(received + seconds)
    out = []
    for n, end in enumerate(speech_ends):
        later = [a for a in audio_starts if a > end]
        if later:
            out.append((n, min(later) - end))
    return out


def voice_turns(audio) -> tuple[list, list[float]]:
    nik, nik_s = audio["nik16"]
    yes, yes_s = audio["yes_andy"]
    done, done_s = audio["menu_andy"]
    # the spoken NIK is 16 digits but not a valid NIK: the line says so and asks again
    # (ANSWER_NAMES labels these three answers in the latency breakdown)
    return ([Say(nik), Keys(DEMO_NIKS["scheduled"]), Say(yes), Say(done), HangUp()], [nik_s, yes_s, done_s])


ANSWER_NAMES = ("16-digit NIK", "ya (read-back)", "selesai (menu)")


def keypad_turns() -> list:
    return [Keys(DEMO_NIKS["scheduled"]), Keys("1"), Keys("9"), HangUp()]


async def place(port: int, turns, spool: Path, *, delay: float = 0.0, caller: str = "081200000000"):
    await asyncio.sleep(delay)
    return await run_call("127.0.0.1", port, turns, caller=caller, sounds_prefix=SOUNDS,
                          audio_dir=REPO / "prompts" / "audio", asterisk_spool=str(spool), spool_dir=spool,
                          timeout=900, pace=True)


def meant(name: str, words: str):
    """What the call does with a word answer: "benar" for "ya", or "satu" at the
    read-back, is still a yes (the caller hears the same next step)."""
    if name.startswith("digits"):
        return Kind.NOTHING
    return speech_answer(words or "", "confirm" if name.startswith(("yes", "no")) else "menu").kind


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the three measurements --------------------------------------------------------------------

async def latency_run(port: int, spool: Path, audio, calls: int) -> tuple[list[float], int]:
    turns, seconds = voice_turns(audio)
    results = await asyncio.gather(*[place(port, list(turns), spool, delay=i * 1.0, caller=f"0812000{i:05d}")
                                     for i in range(calls)])
    lat = [x for r in results for x in labelled_latencies(r, seconds)]
    note(f"  {sum(len(r.audiosocket_sessions) for r in results)} AudioSocket sessions, "
         f"{sum(r.commands().count('RECORD FILE') for r in results)} RECORD FILEs")
    return lat, sum(1 for r in results if not r.clean)


async def correctness_run(port: int, spool: Path, audio) -> list[tuple[str, str, str]]:
    names, scripts = [], []
    for line in (ASR / "manifest.tsv").read_text().splitlines():
        file, truth = line.split("\t")
        name = file[:-4]
        wav = audio[name][0]
        if name.startswith("digits"):
            turns = [Say(wav), HangUp()]
        elif name.startswith(("yes", "no")):
            turns = [Keys(DEMO_NIKS["scheduled"]), Say(wav), HangUp()]
        else:
            turns = [Keys(DEMO_NIKS["scheduled"]), Keys("1"), Say(wav), HangUp()]
        names.append((name, truth))
        scripts.append(turns)
    results = await asyncio.gather(*[place(port, t, spool, delay=i * 0.5, caller=f"0813000{i:05d}")
                                     for i, t in enumerate(scripts)])
    return [(name, truth, r.uniqueid) for (name, truth), r in zip(names, results)]


def heard_in_log(data_dir: Path, uniqueid: str) -> str:
    """What the service heard at the call's first spoken answer, from its call log:
    digits from the read-back it then played, other words as logged."""
    from ivr.config import Settings
    from ivr.store.sql import SqlStore

    store = SqlStore.from_settings(Settings(data_dir=data_dir, prompts_dir=REPO / "prompts"), create=False)
    try:
        for summary in store.list_calls(limit=1000):
            detail = store.get_call(summary.id)
            if detail.call.uniqueid != uniqueid:
                continue
            events = list(detail.events)
            for n, e in enumerate(events):
                if e.kind == "speech":
                    if e.detail.get("grammar") != "digits":
                        return e.transcript
                    for later in events[n + 1:]:
                        if later.kind == "prompt" and "nik/heard_so_far" in later.prompts:
                            # the read-back: digits between "heard so far" and "only N digits"
                            ids = list(later.prompts)
                            start = ids.index("nik/heard_so_far") + 1
                            stop = ids.index("nik/only") if "nik/only" in ids else len(ids)
                            return "".join(p[7:] for p in ids[start:stop] if p.startswith("digits/"))
                    return "?"
                if e.kind == "no_input":
                    return ""
            return ""
    finally:
        store.engine.dispose()
    return "(call not found)"


async def capacity_run(proc, port: int, spool: Path, audio, calls: int):
    turns, seconds = voice_turns(audio)
    cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
    tasks = []
    for i in range(calls):
        script = list(turns) if i % 2 == 0 else keypad_turns()
        tasks.append(place(port, script, spool, delay=10.0 * i / calls, caller=f"0814{i:07d}"))
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - t0
    cpu = cpu_seconds(proc.pid) - cpu0
    steps = [s for r in results for s in r.step_latencies[1:]]
    lat = [x for i, r in enumerate(results) if i % 2 == 0 for x in response_latencies(r, seconds)]
    # average number of calls up at once over the run (calls ramp up and end at different times)
    busy = sum(r.walls[-1][1] - r.walls[0][0] for r in results if r.walls) / wall
    return steps, lat, cpu, wall, busy, sum(1 for r in results if not r.clean)


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency-calls", type=int, default=8)
    parser.add_argument("--levels", type=int, nargs="*", default=[10, 40])
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--transports", nargs="*", default=["audiosocket", "record"])
    args = parser.parse_args()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        audio = caller_audio(Path(tmp))
        for transport in args.transports:
            data = Path(tmp) / transport
            data.mkdir()
            proc, port = start_server(data, transport)
            spool = data / "spool"
            row = rows.setdefault(transport, {})
            try:
                note(f"{transport}: latency calls")
                lat, failed = asyncio.run(latency_run(port, spool, audio, args.latency_calls))
                note(f"{transport}: correctness calls")
                row["latency"] = (lat, failed)
                checks = asyncio.run(correctness_run(port, spool, audio))
                row["correct"] = [(n, t, heard_in_log(data, uid)) for n, t, uid in checks]
                if not args.skip_capacity:
                    note(f"{transport}: capacity levels {args.levels}")
                    row["capacity"] = [(n, asyncio.run(capacity_run(proc, port, spool, audio, n)))
                                       for n in args.levels]
            finally:
                proc.terminate()
                proc.wait(timeout=60)
                proc.stdout.close()
    print(f"cores: {os.cpu_count()} (shared with other work); service: ivr serve in its own process;"
          " callers: fake Asterisk in this process, real time")
    print("\nResponse latency: end of the caller's last word -> first audio of the next prompt")
    print(f"{'transport':<12} {'answers':>7} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'calls not clean':>16}")
    for transport, row in rows.items():
        lat, failed = row["latency"]
        ms = [x * 1000 for _, x in lat]
        print(f"{transport:<12} {len(ms):>7} {statistics.median(ms) if ms else float('nan'):>8.0f}"
              f" {pct(ms, .95):>8.0f} {max(ms) if ms else float('nan'):>8.0f} {failed:>16}")
    print("by answer (p50 / max ms):")
    for transport, row in rows.items():
        cells = []
        for n, label in enumerate(ANSWER_NAMES):
            ms = [x * 1000 for i, x in row["latency"][0] if i == n]
            cells.append(f"{label} {statistics.median(ms) if ms else float('nan'):.0f} / "
                         f"{max(ms) if ms else float('nan'):.0f}")
        print(f"  {transport:<10} " + "; ".join(cells))
    print("\nCorrectness on the committed test recordings (what the call log shows was heard; a word"
          " answer counts when it means the same to the call, e.g. 'benar' for 'ya')")
    names = [n for n, _, _ in next(iter(rows.values()))["correct"]]
    print(f"{'recording':<18} {'truth':<30} " + " ".join(f"{t:<24}" for t in rows))
    totals = {t: 0 for t in rows}
    for i, name in enumerate(names):
        truth = rows[next(iter(rows))]["correct"][i][1]
        expected = "".join(DIGIT_WORDS[w] for w in truth.split()) if name.startswith("digits") else truth
        cells = []
        for t, row in rows.items():
            heard = row["correct"][i][2]
            ok = heard == expected or meant(name, heard) == meant(name, truth) != Kind.NOTHING
            totals[t] += ok
            cells.append(f"{(heard or '(nothing)') + (' ok' if ok else ' WRONG'):<24}")
        print(f"{name:<18} {truth:<30} " + " ".join(cells))
    print(f"{'exactly right':<49} " + " ".join(f"{totals[t]}/{len(names):<22}" for t in rows))
    if not args.skip_capacity:
        print("\nCapacity: N concurrent calls (half voice, half keypad), real-time pacing")
        print(f"{'transport':<12} {'calls':>5} {'avg up':>7} {'step p95 ms':>12} {'response p95 ms':>16}"
              f" {'CPU (cores)':>12} {'CPU per call':>13} {'not clean':>10}")
        for transport, row in rows.items():
            for n, (steps, lat, cpu, wall, busy, failed) in row["capacity"]:
                cores = cpu / wall
                print(f"{transport:<12} {n:>5} {busy:>7.1f} {pct([s * 1000 for s in steps], .95):>12.0f}"
                      f" {pct([x * 1000 for x in lat], .95):>16.0f} {cores:>12.3f} {cores / max(busy, 1e-9):>13.4f}"
                      f" {failed:>10}")
        print("CPU per call: the service's CPU over the average number of calls up (voice and keypad alike).")


if __name__ == "__main__":
    main()
