"""The call log survives a dead database: ``JournalingStore`` writes what it cannot store to
an append-only JSONL journal and ``replay()`` applies it, in order, once the database is back.

Each journal line is ``{"op": <uuid>, "m": <method>, "call": <call id>, "at": ..., "data": <token>}``
where ``data`` is the operation's arguments, encrypted with the store's key: the file never
holds a plain NIK, phone number, keypress or transcript.  Replays are idempotent (the store
records each applied ``op`` in the same transaction as its effect), so a crash halfway
through a replay only means some entries are skipped the next time.

Once a call has anything in the journal, its later operations are journaled too, so they
are applied after it (an event must not reach the database before its call does).

After a write fails because the database is unavailable (down, or a lock held past the
store's lock timeout), every write goes straight to the journal for ``retry_after_s``
(the service uses a few seconds; 0 turns this off) or until a replay succeeds:
the one call-log writer thread then does not wait out a lock timeout per call while
the database is hung, and calls keep their log without waiting on it.
``lookup`` is never journaled: it raises ``StoreError`` and the call flow apologises.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Callable

from ivr.errors import StoreError
from ivr.ports import CallEventRecord, CallInfo, RecipientInfo
from ivr.store.protect import DecryptError, Protector

log = logging.getLogger(__name__)


class JournalingStore:
    """Wraps a ``SqlStore``; the call-log methods never lose data to a database outage."""

    def __init__(self, store, journal_path: str | Path, protector: Protector | None = None, *,
                 retry_after_s: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.retry_after_s = retry_after_s
        self.clock = clock
        self._down_until = 0.0
        self.path = Path(journal_path)
        self.dead_path = self.path.with_name(self.path.name + ".failed")
        self._p = protector or store.protector
        self._lock = threading.RLock()
        self._pending_calls: set[str] = {e.get("call", "") for e in self._read()}

    # --- the Store port -------------------------------------------------------------
    def lookup(self, nik: str) -> RecipientInfo | None:
        return self.store.lookup(nik)

    def start_call(self, info: CallInfo, started: dt.datetime, *, call_id: str | None = None) -> str:
        # the id is made up front so the call runner can go on with it while the database is down
        call_id = call_id or str(uuid.uuid4())
        self._do("start_call", call_id, {"info": dataclasses.asdict(info), "started": started.isoformat()},
                 lambda op: self.store.start_call(info, started, call_id=call_id, op_id=op))
        return call_id

    def add_event(self, call_id: str, event: CallEventRecord) -> None:
        self.add_events(call_id, (event,))

    def add_events(self, call_id: str, events) -> None:
        events = tuple(events)
        payload = []
        for event in events:
            data = dataclasses.asdict(event)
            data["at"] = event.at.isoformat()
            payload.append(json.loads(json.dumps(data, default=str)))
        self._do("add_events", call_id, {"events": payload},
                 lambda op: self.store.add_events(call_id, events, op_id=op))

    def add_recording(self, call_id: str, path: str, purpose: str, duration_ms: int) -> str:
        rid = str(uuid.uuid4())
        self._do("add_recording", call_id,
                 {"path": str(path), "purpose": purpose, "duration_ms": duration_ms, "recording_id": rid},
                 lambda op: self.store.add_recording(call_id, path, purpose, duration_ms,
                                                     recording_id=rid, op_id=op))
        return rid

    def set_call_nik(self, call_id: str, nik: str) -> None:
        self._do("set_call_nik", call_id, {"nik": nik},
                 lambda op: self.store.set_call_nik(call_id, nik, op_id=op))

    def finish_call(self, call_id: str, ended: dt.datetime, outcome: str, end_state: str,
                    input_mode: str) -> None:
        self._do("finish_call", call_id, {"ended": ended.isoformat(), "outcome": outcome,
                                          "end_state": end_state, "input_mode": input_mode},
                 lambda op: self.store.finish_call(call_id, ended, outcome, end_state, input_mode, op_id=op))

    def add_follow_up(self, call_id: str, reason: str, detail: str = "") -> None:
        self._do("add_follow_up", call_id, {"reason": reason, "detail": detail},
                 lambda op: self.store.add_follow_up(call_id, reason, detail, op_id=op))

    def __getattr__(self, name: str):
        # operator queries (list_calls, get_call ...) go straight to the store
        return getattr(self.store, name)

    # --- journaling -----------------------------------------------------------------
    def _do(self, method: str, call_id: str, payload: dict, direct: Callable[[str | None], object]) -> None:
        # the lock guards the journal only: direct writes of different calls run in parallel
        # (one call's operations arrive one after another from its call runner)
        with self._lock:
            journaled = call_id in self._pending_calls or self.clock() < self._down_until
        if not journaled:
            try:
                direct(None)
                return
            except StoreError as exc:
                log.warning("call log: %s failed, journaling it (%s)", method, exc)
                if exc.retryable:
                    self._down_until = self.clock() + self.retry_after_s
        with self._lock:
            self._append({"op": str(uuid.uuid4()), "m": method, "call": call_id,
                          "at": dt.datetime.now(dt.timezone.utc).isoformat(),
                          "data": self._p.encrypt(json.dumps(payload))})
            self._pending_calls.add(call_id)

    def _append(self, entry: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise StoreError(f"database down and call journal {self.path} not writable: {exc.strerror}") from None

    def _read(self) -> list[dict]:
        if not self.path.exists():
            return []
        entries = []
        with open(self.path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    entries.append(json.loads(line))
                except json.JSONDecodeError:
                    # a torn last line from a crash mid-write: nothing we can apply
                    log.error("call journal %s line %d is not JSON; skipped", self.path, n)
        return entries

    def pending(self) -> int:
        """Number of journaled operations waiting for the database."""
        with self._lock:
            return len(self._read())

    def replay(self) -> int:
        """Apply journaled operations in order; returns how many were applied.

        Stops at the first retryable StoreError (database still down) and keeps the rest.
        An entry that can never apply (constraint violation, unreadable) goes to
        ``<journal>.failed`` so it cannot block the ones behind it.
        """
        with self._lock:
            entries = self._read()
            if not entries:
                return 0
            done: list[str] = []
            remaining: list[dict] = []
            for i, entry in enumerate(entries):
                try:
                    self._apply(entry)
                    done.append(entry["op"])
                except StoreError as exc:
                    if exc.retryable:
                        remaining = entries[i:]
                        self._down_until = self.clock() + self.retry_after_s
                        break
                    log.error("call journal: %s for call %s can never apply (%s); moved to %s",
                              entry.get("m"), entry.get("call"), exc, self.dead_path.name)
                    self._dead(entry)
                except (DecryptError, KeyError, ValueError, TypeError) as exc:
                    log.error("call journal: unreadable entry %s (%s); moved aside", entry.get("op"), exc)
                    self._dead(entry)
            try:
                self._rewrite(remaining)
            except OSError as exc:
                # applied entries stay in the file; replaying them again later is harmless
                raise StoreError(f"call journal {self.path} could not be rewritten: {exc}") from None
            self._pending_calls = {e.get("call", "") for e in remaining}
            if not remaining:
                self._down_until = 0.0      # it all went in: the database is back
        forget = getattr(self.store, "forget_ops", None)
        if done and forget is not None:
            try:
                forget(done)    # the journal no longer holds them, so they cannot come back
            except StoreError:
                pass
        return len(done)

    def _apply(self, entry: dict) -> None:
        m, call_id, op = entry["m"], entry["call"], entry["op"]
        data = json.loads(self._p.decrypt(entry["data"]))
        s = self.store
        if m == "start_call":
            info = data["info"]
            info["env"] = tuple(tuple(pair) for pair in info.get("env", ()))
            s.start_call(CallInfo(**info), dt.datetime.fromisoformat(data["started"]), call_id=call_id, op_id=op)
        elif m in ("add_event", "add_events"):
            s.add_events(call_id, [_event(ev) for ev in data.get("events", [data.get("event")])], op_id=op)
        elif m == "add_recording":
            s.add_recording(call_id, data["path"], data["purpose"], data["duration_ms"],
                            recording_id=data["recording_id"], op_id=op)
        elif m == "set_call_nik":
            s.set_call_nik(call_id, data["nik"], op_id=op)
        elif m == "finish_call":
            s.finish_call(call_id, dt.datetime.fromisoformat(data["ended"]), data["outcome"],
                          data["end_state"], data["input_mode"], op_id=op)
        elif m == "add_follow_up":
            s.add_follow_up(call_id, data["reason"], data["detail"], op_id=op)
        else:
            raise ValueError(f"unknown journal method {m!r}")

    def _rewrite(self, remaining: list[dict]) -> None:
        if not remaining:
            self.path.unlink(missing_ok=True)
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(e) + "\n" for e in remaining)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def _dead(self, entry: dict) -> None:
        fd = os.open(self.dead_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def _event(ev: dict) -> CallEventRecord:
    ev = dict(ev)
    ev["at"] = dt.datetime.fromisoformat(ev["at"])
    ev["prompts"] = tuple(ev.get("prompts", ()))
    return CallEventRecord(**ev)


def default_journal_path(settings) -> Path:
    """Where the service keeps its call journal (``ivr.app`` uses the same file)."""
    return settings.data_dir / "call-journal.jsonl"
