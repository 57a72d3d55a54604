"""A copied SQLite file (and the journal) must not reveal NIKs or phone numbers."""

from __future__ import annotations

import datetime as dt

from ivr.ports import CallEventRecord, CallInfo
from ivr.store.db import create_schema, make_engine
from ivr.store.recipients import import_csv
from ivr.store.sql import SqlStore

from .conftest import SECRET, T0

NIK = "3172014508850001"
PHONE = "081298765432"
CALLER = "085712345678"
SPOKEN = "tiga satu tujuh dua nol satu empat lima nol delapan delapan lima nol nol nol satu"


def _all_bytes(folder) -> bytes:
    # the database file plus its WAL: what a copy of the folder would hold
    return b"".join(p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("h.db"))


def test_plain_nik_and_phone_nowhere_in_the_file(tmp_path, write_csv):
    folder = tmp_path / "db"
    engine = make_engine(f"sqlite:///{folder / 'h.db'}")
    create_schema(engine)
    store = SqlStore(engine, SECRET)
    csv = write_csv("nik,name,status,collection_date,collection_time,place,address,phone\n"
                    f"{NIK},Siti,scheduled,2026-12-01,08:00-12:00,Kantor,Jl. A,{PHONE}\n")
    import_csv(store, csv, progress=False)
    assert store.lookup(NIK).name == "Siti"
    blob = _all_bytes(folder)
    assert blob and NIK.encode() not in blob and PHONE.encode() not in blob

    cid = store.start_call(CallInfo(uniqueid="1.1", caller=CALLER), T0)
    store.add_event(cid, CallEventRecord(at=T0, kind="keys", state="nik", keys=NIK))
    store.add_event(cid, CallEventRecord(at=T0, kind="speech", state="nik", transcript=SPOKEN,
                                         detail={"alternatives": [SPOKEN], "digits": NIK}))
    store.set_call_nik(cid, NIK)
    store.add_follow_up(cid, "not_found", f"NIK {NIK}, call back on {CALLER}")
    store.save_training_utterance(cid, "/spool/x.wav", NIK)
    store.finish_call(cid, T0 + dt.timedelta(seconds=30), "not_found", "answer", "mixed")
    blob = _all_bytes(folder)
    for secret in (NIK, CALLER, PHONE, SPOKEN, "lima nol delapan delapan"):
        assert secret.encode() not in blob, secret
    # and still revealable by an operator
    assert store.get_call(cid, reveal_by="admin").events[0].keys == NIK
    engine.dispose()
