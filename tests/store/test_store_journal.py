"""The call log survives a dead database: journal, then replay in order, exactly once."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ivr.errors import StoreError
from ivr.ports import CallEventRecord, CallInfo
from ivr.store.journal import JournalingStore

from .conftest import T0

NIK = "3172014508850001"
CALLER = "081234567890"


def _call(j, uniqueid="1.1"):
    cid = j.start_call(CallInfo(uniqueid=uniqueid, caller=CALLER), T0)
    j.add_event(cid, CallEventRecord(at=T0, kind="keys", state="nik", keys=NIK))
    rid = j.add_recording(cid, "/spool/n.wav", "nik", 3000)
    j.set_call_nik(cid, NIK)
    j.add_event(cid, CallEventRecord(at=T0 + dt.timedelta(seconds=3), kind="fault", state="lookup"))
    j.add_follow_up(cid, "system_fault", "database down")
    j.finish_call(cid, T0 + dt.timedelta(seconds=20), "fault", "lookup", "keypad")
    return cid, rid


def test_passes_through_when_healthy(store, tmp_path):
    j = JournalingStore(store, tmp_path / "j.jsonl")
    cid, _ = _call(j)
    assert not (tmp_path / "j.jsonl").exists() and j.pending() == 0
    assert j.get_call(cid).call.outcome == "fault"      # operator queries pass through


def test_dead_database_then_replay(store, dead_engine, tmp_path):
    live = store.engine
    journal = tmp_path / "j.jsonl"
    j = JournalingStore(store, journal)
    store.engine = dead_engine
    with pytest.raises(StoreError):
        j.lookup(NIK)                                   # lookups are not journaled
    cid, rid = _call(j)
    assert j.pending() == 7
    text = journal.read_text()
    assert NIK not in text and CALLER not in text and "database down" not in text
    assert all(json.loads(line)["call"] == cid for line in text.splitlines())

    assert j.replay() == 0 and j.pending() == 7      # still down: nothing lost
    store.engine = live
    # a call that started while the journal is pending goes straight to the database
    other = j.start_call(CallInfo(uniqueid="2.2", caller=""), T0)
    assert j.replay() == 7 and j.pending() == 0 and not journal.exists()
    detail = store.get_call(cid)
    assert detail.call.outcome == "fault" and detail.call.nik == "3172********0001"
    assert [e.kind for e in detail.events] == ["keys", "fault"]
    assert [r.id for r in detail.recordings] == [rid]
    assert detail.follow_ups[0].reason == "system_fault"
    assert store.get_call(other) is not None
    assert j.replay() == 0


def test_replay_is_idempotent_after_a_crash(store, dead_engine, tmp_path, monkeypatch):
    live = store.engine
    journal = tmp_path / "j.jsonl"
    j = JournalingStore(store, journal)
    store.engine = dead_engine
    cid, _ = _call(j)
    store.engine = live

    def crash(*_args, **_kwargs):
        raise OSError("simulated crash before the journal is rewritten")

    # the process "dies" after applying everything but before the journal is rewritten
    monkeypatch.setattr("ivr.store.journal.os.replace", crash)
    monkeypatch.setattr("ivr.store.journal.Path.unlink", crash)
    with pytest.raises(StoreError, match="could not be rewritten"):
        j.replay()
    monkeypatch.undo()
    j2 = JournalingStore(store, journal)
    assert j2.pending() == 7
    j2.replay()
    assert j2.pending() == 0
    detail = store.get_call(cid)
    assert len(detail.events) == 2 and len(detail.recordings) == 1 and len(detail.follow_ups) == 1


def test_later_operations_of_a_journaled_call_stay_in_order(store, dead_engine, tmp_path):
    live = store.engine
    j = JournalingStore(store, tmp_path / "j.jsonl")
    store.engine = dead_engine
    cid = j.start_call(CallInfo(uniqueid="3.3", caller=CALLER), T0)
    store.engine = live                                  # the database is back mid-call
    j.add_event(cid, CallEventRecord(at=T0, kind="prompt", state="greeting", prompts=("welcome",)))
    assert j.pending() == 2                              # journaled behind its call's start
    assert j.replay() == 2
    assert [e.kind for e in store.get_call(cid).events] == ["prompt"]


def test_unapplicable_entry_moves_aside(store, tmp_path):
    journal = tmp_path / "j.jsonl"
    j = JournalingStore(store, journal)
    bad = {"op": "op-1", "m": "add_event", "call": "no-such-call", "at": T0.isoformat(),
           "data": store.protector.encrypt(json.dumps({"event": {"at": T0.isoformat(), "kind": "x"}}))}
    journal.write_text(json.dumps(bad) + "\n" + "{torn line\n")
    assert j.replay() == 0 and j.pending() == 0
    assert "no-such-call" in (tmp_path / "j.jsonl.failed").read_text()


class CountingStore:
    """Counts the writes that reach the wrapped store."""

    def __init__(self, store):
        self._store = store
        self.tries = 0

    def start_call(self, *args, **kwargs):
        self.tries += 1
        return self._store.start_call(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._store, name)


def test_after_a_failed_write_the_journal_takes_writes_without_trying_the_database(store, dead_engine, tmp_path):
    """A hung database costs the writer one lock timeout, not one per call."""
    live = store.engine
    now = [0.0]
    counting = CountingStore(store)
    j = JournalingStore(counting, tmp_path / "j.jsonl", retry_after_s=10, clock=lambda: now[0])
    store.engine = dead_engine
    j.start_call(CallInfo(uniqueid="1.1", caller=""), T0)
    assert counting.tries == 1
    store.engine = live
    for n in range(5):                                # other calls, moments later
        j.start_call(CallInfo(uniqueid=f"2.{n}", caller=""), T0)
    assert counting.tries == 1 and j.pending() == 6
    now[0] += 10                                       # the window is over: try again
    j.start_call(CallInfo(uniqueid="3.1", caller=""), T0)
    assert counting.tries == 2 and j.pending() == 6
    assert j.replay() == 6 and j.pending() == 0
    assert len(store.list_calls()) == 7
