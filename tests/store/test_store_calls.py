"""SqlStore as the call runner and the operators use it, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from ivr.errors import StoreError
from ivr.ports import CallEventRecord, CallInfo, Store
from ivr.store.recipients import DEMO_NIKS, load_demo
from ivr.store.sql import SqlStore

from .conftest import SECRET, T0

NIK = DEMO_NIKS["scheduled"]
CALLER = "081234567890"
SPOKEN = "tiga satu tujuh dua nol satu empat lima nol delapan delapan lima nol nol nol satu"


def _full_call(store, started=T0, outcome="answered", mode="speech", follow_up=None) -> str:
    cid = store.start_call(CallInfo(uniqueid="1700000000.1", caller=CALLER, channel="PJSIP/trunk-1"), started)
    store.add_event(cid, CallEventRecord(at=started, kind="prompt", state="greeting", prompts=("welcome",)))
    store.add_event(cid, CallEventRecord(at=started + dt.timedelta(seconds=5), kind="speech", state="nik",
                                         transcript=SPOKEN, confidence=0.91, detail={"best": SPOKEN}))
    store.add_event(cid, CallEventRecord(at=started + dt.timedelta(seconds=9), kind="keys", state="confirm", keys="1"))
    store.add_recording(cid, "/spool/a.wav", "nik", 5400)
    store.set_call_nik(cid, NIK)
    store.add_event(cid, CallEventRecord(at=started + dt.timedelta(seconds=10), kind="lookup", state="answer",
                                         detail={"status": "scheduled"}))
    if follow_up:
        store.add_follow_up(cid, follow_up, f"caller read {NIK}")
    store.finish_call(cid, started + dt.timedelta(seconds=42), outcome, "answer", mode)
    return cid


def test_implements_port(store):
    assert isinstance(store, SqlStore)
    for name in ("lookup", "start_call", "add_event", "add_recording", "set_call_nik", "finish_call",
                 "add_follow_up"):
        assert callable(getattr(store, name)), name
    _: Store = store   # the Protocol is structural; this documents intent for type checkers


def test_lookup(store):
    load_demo(store, dt.date(2026, 11, 28))
    info = store.lookup(NIK)
    assert info.status == "scheduled" and info.name.startswith("DEMO")
    assert info.collection_date == dt.date(2026, 11, 30)
    assert info.time_start == dt.time(8) and info.time_end == dt.time(12)
    assert info.documents == ("surat undangan", "KTP asli dan fotokopi", "Kartu Keluarga asli dan fotokopi")
    assert store.lookup(DEMO_NIKS["not_registered"]) is None
    for status in ("not_scheduled", "collected", "in_review", "rejected"):
        assert store.lookup(DEMO_NIKS[status]).status == status
    assert store.lookup(DEMO_NIKS["collected"]).collected_on == dt.date(2026, 11, 25)
    assert store.recipient_count() == 20 and store.recipient_count(include_demo=False) == 0


def test_call_log_round_trip_masked_then_revealed(store):
    cid = _full_call(store, follow_up="not_found")
    detail = store.get_call(cid)
    c = detail.call
    assert (c.outcome, c.end_state, c.input_mode, c.lookup_status) == ("answered", "answer", "speech", "scheduled")
    assert c.duration_s == 42.0 and c.started == T0
    assert c.caller == "0812*****890" and c.nik == "3172********0001" and c.follow_up == "not_found"
    assert [e.seq for e in detail.events] == [1, 2, 3, 4]
    assert detail.events[0].prompts == ("welcome",)
    assert detail.events[1].confidence == pytest.approx(0.91)
    assert "lima nol delapan" not in detail.events[1].transcript
    assert detail.events[2].keys == "1"
    assert detail.recordings[0].path == "/spool/a.wav" and detail.recordings[0].duration_ms == 5400
    assert NIK not in detail.follow_ups[0].detail
    assert store.list_audit() == []

    revealed = store.get_call(cid, reveal_by="admin")
    assert revealed.revealed and revealed.call.nik == NIK and revealed.call.caller == CALLER
    assert revealed.events[1].transcript == SPOKEN and revealed.events[1].detail == {"best": SPOKEN}
    assert revealed.follow_ups[0].detail == f"caller read {NIK}"
    audit = store.list_audit()
    assert [(a.user, a.action, a.target) for a in audit] == [("admin", "reveal_call", cid)]


def test_unknown_caller_and_missing_call(store):
    cid = store.start_call(CallInfo(uniqueid="u1", caller="unknown"), T0)
    assert store.get_call(cid).call.caller == ""
    assert store.get_call("no-such-id") is None


def test_list_filters_and_paging(store):
    ids = []
    for i in range(12):
        ids.append(_full_call(store, started=T0 + dt.timedelta(minutes=i),
                              outcome="answered" if i % 3 else "not_found",
                              mode="keypad" if i % 2 else "speech",
                              follow_up="not_found" if i % 3 == 0 else None))
    calls = store.list_calls(limit=5)
    assert [c.id for c in calls] == ids[::-1][:5]
    page2 = store.list_calls(limit=5, before=(calls[-1].started, calls[-1].id))
    assert [c.id for c in page2] == ids[::-1][5:10]
    assert [c.id for c in store.list_calls(limit=5, offset=5)] == [c.id for c in page2]
    assert {c.outcome for c in store.list_calls(outcome="not_found")} == {"not_found"}
    assert store.count_calls(outcome="not_found") == 4
    assert store.count_calls(input_mode="keypad") == 6
    assert store.count_calls(since=T0 + dt.timedelta(minutes=10)) == 2
    assert store.count_calls(until=T0 + dt.timedelta(minutes=2)) == 2
    assert store.count_calls(follow_up=True) == 4 and store.count_calls(follow_up=False) == 8
    assert all(c.follow_up == "not_found" for c in store.list_calls(follow_up=True))
    assert store.count_calls(nik=NIK) == 12 and store.count_calls(nik=DEMO_NIKS["rejected"]) == 0


def test_threads_share_one_store(store):
    errors = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                _full_call(store, started=T0 + dt.timedelta(seconds=n * 100 + i))
        except StoreError as exc:     # pragma: no cover - what the test looks for
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.count_calls() == 20


def test_dead_database_raises_store_error_without_personal_data(store, dead_engine):
    store.engine = dead_engine
    with pytest.raises(StoreError) as err:
        store.lookup(NIK)
    assert err.value.retryable and NIK not in str(err.value)
    with pytest.raises(StoreError) as err:
        store.start_call(CallInfo(uniqueid="x", caller=CALLER), T0)
    assert CALLER not in str(err.value)


def test_follow_up_workflow(store):
    cid = _full_call(store, follow_up="complaint")
    [f] = store.list_follow_ups(state="open")
    assert f.call_id == cid and f.reason == "complaint"
    store.update_follow_up(f.id, by="ana", assignee="ana", note="called back, no answer")
    f = store.get_follow_up(f.id)
    assert f.state == "assigned" and f.assignee == "ana" and f.notes[0].text == "called back, no answer"
    store.update_follow_up(f.id, by="ana", state="done")
    f = store.get_follow_up(f.id)
    assert f.state == "done" and f.done_by == "ana" and f.done_at is not None
    assert store.count_follow_ups(state="open") == 0
    with pytest.raises(ValueError):
        store.update_follow_up(f.id, by="ana", state="closed-ish")
    manual = store.create_follow_up("callback", "walk-in asked for a call", by="ana")
    assert store.get_follow_up(manual).call_id is None
    assert {a.action for a in store.list_audit(user="ana")} >= {"update_follow_up", "create_follow_up"}


def test_users(store):
    store.create_user("admin", "admin", "$argon2id$fake")
    assert store.get_user("admin").role == "admin" and not store.get_user("admin").disabled
    with pytest.raises(StoreError) as err:
        store.create_user("admin", "operator", "x")
    assert not err.value.retryable
    store.update_user("admin", by="root", disabled=True, password_hash="$argon2id$new")
    u = store.get_user("admin")
    assert u.disabled and u.password_hash == "$argon2id$new"
    assert store.get_user("nobody") is None
    with pytest.raises(ValueError):
        store.create_user("x", "superuser", "h")


def test_training_utterances_and_find_recipient(store):
    load_demo(store, dt.date(2026, 11, 28))
    cid = _full_call(store)
    store.save_training_utterance(cid, "/spool/a.wav", NIK)
    [(path, digits, _)] = store.training_utterances()
    assert (path, digits) == ("/spool/a.wav", NIK)
    found = store.find_recipient(NIK, by="ana")
    assert found.nik == "3172********0001" and found.phone == "0812*****001"
    assert store.find_recipient(NIK, by="ana", reveal=True).nik == NIK
    assert [a.action for a in store.list_audit(user="ana")] == ["reveal_recipient", "find_recipient"]


def test_secret_matters(engine):
    a = SqlStore(engine, SECRET)
    load_demo(a, dt.date(2026, 11, 28))
    assert SqlStore(engine, b"a-different-secret-key").lookup(NIK) is None
