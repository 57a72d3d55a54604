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
from typing import Any, TextIO

JOB_TIMEOUT_S = 60.0  # espeak renders ~20x faster than real time; this only catches hangs


def _emit(out: TextIO, record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _run(batch: dict[str, Any], out: TextIO) -> int:
    import pyttsx3  # imported here so `--help`-style failures show up as protocol errors

    engine = pyttsx3.init("espeak")
    finished = threading.Event()
    errors: list[str] = []
    engine.connect("finished-utterance", lambda name=None, completed=True: finished.set())
    engine.connect("error", lambda name=None, exception=None: errors.append(repr(exception)))

    failures = 0
    for job in batch["jobs"]:
        key, text, target = job["key"], job["text"], job["out"]
        finished.clear()
        errors.clear()
        try:
            os.unlink(target)
        except FileNotFoundError:
            pass
        # Properties are queued commands in pyttsx3: set them before every job so
        # that they are applied in the same loop as the synthesis that needs them.
        engine.setProperty("voice", batch.get("voice", "id"))
        engine.setProperty("rate", int(batch.get("rate", 130)))
        engine.setProperty("volume", float(batch.get("volume", 1.0)))
        engine.save_to_file(text, target)
        engine.runAndWait()
        done = finished.wait(JOB_TIMEOUT_S)
        if errors:
            failures += 1
            _emit(out, {"key": key, "ok": False, "error": "; ".join(errors)})
        elif not done:
            failures += 1
            _emit(out, {"key": key, "ok": False, "error": f"no end of speech within {JOB_TIMEOUT_S:.0f} s"})
        elif not os.path.exists(target) or os.path.getsize(target) <= 44:
            failures += 1
            _emit(out, {"key": key, "ok": False, "error": "espeak finished but wrote no audio"})
        else:
            _emit(out, {"key": key, "ok": True})
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
