"""Subprocess that turns texts into raw WAV files with pyttsx3 (espeak-ng driver).

Run as ``python -m ivr.prompts.render_worker``.  It reads one JSON object on stdin::

    {"voice": "id", "rate": 130, "volume": 1.0, "jobs": [{"key": "...", "text": "...", "out": "/tmp/x.wav"}]}

and writes one JSON line per job to stdout as each finishes:
``{"key": ..., "ok": true}`` or ``{"key": ..., "ok": false, "error": "..."}``.

Why a separate process: pyttsx3 engines are not thread-safe, espeak can be
initialised only once per process, and the espeak driver is quirky --
``runAndWait()`` returns while espeak is still synthesising on its own thread and
the WAV is written later from a callback (a process that exits at once loses the
file; a second ``save_to_file`` can steal the first one's file name).  So each job
waits for the driver's ``finished-utterance`` notification before the next one
starts, and the parent process checks every file anyway.  The driver also prints
"Audio saved to ..." on stdout, so our protocol lines go to a saved copy of the
real stdout while ``sys.stdout`` is pointed at stderr.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, TextIO

JOB_TIMEOUT_S = 30.0  # espeak renders ~20x faster than real time; this only catches hangs


def _emit(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _wait_idle(espeak: Any, limit_s: float = 5.0) -> None:
    until = time.monotonic() + limit_s
    while espeak.IsPlaying() and time.monotonic() < until:
        time.sleep(0.005)


def _setup(engine: Any, espeak: Any, batch: dict[str, Any]) -> str | None:
    """Apply voice settings once, before any text; return why that failed, or None.

    In asynchronous mode espeak counts queued parameter changes as "playing", and
    pyttsx3's runAndWait cancels anything playing when its loop ends -- which then
    cancels the *next* utterance too (the driver's ``_stopping`` flag lingers).  So
    settings are flushed by one empty run (only the first run of an engine returns
    without speech; a later empty run would loop forever), espeak is let go idle,
    and the flag reset.
    """
    voice, rate, volume = str(batch.get("voice", "id")), int(batch.get("rate", 130)), float(batch.get("volume", 1.0))
    engine.setProperty("voice", voice)
    engine.runAndWait()  # the engine starts "busy": this flushes the queued voice change
    _wait_idle(espeak)
    # Loading a voice resets the rate to the voice's default, and that can land after
    # a rate queued behind it, so the rate is set (and checked) once the voice is in.
    for _attempt in range(3):
        engine.setProperty("rate", rate)  # not busy now: applied at once
        engine.setProperty("volume", volume)
        _wait_idle(espeak)
        if engine.getProperty("rate") == rate:
            break
    engine.proxy._driver._stopping = False
    got_voice, got_rate = engine.getProperty("voice"), engine.getProperty("rate")
    if got_rate != rate or not got_voice or got_voice == "gmw/en":
        return f"espeak did not take voice {voice!r} at {rate} wpm (has {got_voice!r} at {got_rate})"
    return None


def _run(batch: dict[str, Any], out: TextIO) -> int:
    import pyttsx3  # imported here so a missing library is reported like any other failure
    from pyttsx3.drivers import _espeak

    engine = pyttsx3.init("espeak")
    finished = threading.Event()
    ends: list[bool] = []  # the `completed` flag of each finished-utterance
    errors: list[str] = []

    def on_finished(name: object = None, completed: bool = True) -> None:
        ends.append(bool(completed))
        finished.set()

    engine.connect("finished-utterance", on_finished)
    engine.connect("error", lambda name=None, exception=None: errors.append(repr(exception)))

    problem = _setup(engine, _espeak, batch)
    if problem:
        for job in batch["jobs"]:
            _emit(out, {"key": job["key"], "ok": False, "error": problem})
        return 1

    failures = 0
    for job in batch["jobs"]:
        key, text, target = job["key"], job["text"], job["out"]
        # espeak reports the end of an utterance a moment before it is idle; a
        # job started in that moment would be cancelled by runAndWait (see _setup).
        _wait_idle(_espeak)
        engine.proxy._driver._stopping = False
        finished.clear()
        ends.clear()
        errors.clear()
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass
        engine.save_to_file(text, target)
        engine.runAndWait()
        done = finished.wait(JOB_TIMEOUT_S)
        if errors:
            error = "; ".join(errors)
        elif not done:
            error = f"no end of speech within {JOB_TIMEOUT_S:.0f} s"
        elif not all(ends):
            error = "espeak cancelled the utterance"
        elif not os.path.exists(target) or os.path.getsize(target) <= 44:
            error = "espeak finished but wrote no audio"
        else:
            _emit(out, {"key": key, "ok": True})
            continue
        failures += 1
        _emit(out, {"key": key, "ok": False, "error": error})
    return 1 if failures else 0


def main() -> int:
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr  # pyttsx3's espeak driver prints to stdout
    try:
        batch = json.load(sys.stdin)
        if not isinstance(batch, dict) or not isinstance(batch.get("jobs"), list):
            raise ValueError("expected an object with a 'jobs' list")
    except ValueError as exc:
        _emit(out, {"key": None, "ok": False, "error": f"bad batch: {exc}"})
        return 2
    try:
        return _run(batch, out)
    finally:
        out.flush()


if __name__ == "__main__":
    # os._exit: espeak's library asserts on interpreter shutdown in some builds
    # (pyttsx3 keeps it alive for that reason); our output is already flushed.
    code = main()
    sys.stderr.flush()
    os._exit(code)
