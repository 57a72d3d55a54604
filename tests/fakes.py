"""Fakes that implement the real ports with scripted behaviour (no mocks of internals)."""

from __future__ import annotations

import threading
from pathlib import Path

from ivr.errors import StoreError
from ivr.ports import Hypothesis, Transcript


class ScriptedRecognizer:
    """Returns the scripted readings in order, one per recording decoded.

    Each entry is a text or a (text, confidence, alternatives[, evidence]) tuple.  Records
    which grammar each decode asked for, so tests can check the flow restricts speech.
    """

    def __init__(self, readings):
        self._readings = list(readings)
        self._lock = threading.Lock()
        self.calls: list[tuple[Path, str]] = []

    def recognize(self, wav_path: Path, grammar: str) -> Transcript:
        with self._lock:
            self.calls.append((Path(wav_path), grammar))
            item = self._readings.pop(0) if self._readings else ""
        evidence = ()
        if isinstance(item, tuple):
            text, conf, alts, *rest = item
            evidence = tuple(rest[0]) if rest else ()
        else:
            text, conf, alts = item, 0.9 if item else 0.0, ()
        hyps = (Hypothesis(text, conf),) + tuple(Hypothesis(t, c) for t, c in alts)
        return Transcript(text, conf, hyps if text else (), duration_s=1.0, decode_s=0.01, evidence=evidence)


class FailingLookupStore:
    """Wraps a real store; lookups raise StoreError as if the database died mid-call."""

    def __init__(self, store):
        self._store = store

    def lookup(self, nik: str):
        raise StoreError("database connection lost")

    def __getattr__(self, name):
        return getattr(self._store, name)


class DeadDatabase:
    """Wraps the SQL store; while ``dead`` every method raises StoreError, as when the
    database server is down.  Flip ``dead`` to bring it back."""

    def __init__(self, store):
        self._store = store
        self.dead = True

    def __getattr__(self, name):
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            if self.dead:
                raise StoreError("could not connect to the database")
            return target(*args, **kwargs)

        return call


class HungLookup:
    """Wraps a real store; a lookup blocks until ``release()`` (at most ``max_s``), as a
    query stuck behind a lock or on a server that stopped answering."""

    def __init__(self, store, max_s: float = 60.0):
        self._store = store
        self._release = threading.Event()
        self.max_s = max_s
        self.started = 0

    def lookup(self, nik: str):
        self.started += 1
        self._release.wait(self.max_s)
        return self._store.lookup(nik)

    def release(self) -> None:
        self._release.set()

    def __getattr__(self, name):
        return getattr(self._store, name)
