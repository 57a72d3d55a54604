"""Checked uploads waiting in the database (no file left on disk), masked call channels
and the one-off data upgrade that masks old ones, and ``ivr recipients import`` on a
malformed file -- on SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from sqlalchemy import delete, insert, inspect, select, update

from ivr.config import get_settings
from ivr.ports import CallInfo
from ivr.store.cli import register
from ivr.store.db import create_schema, upgrade
from ivr.store.models import Call, PendingUpload, RecipientImport, SchemaUpgrade
from ivr.store.recipients import (
    ImportProgress, apply_upload, discard_upload, pending_upload, stage_upload, sweep_uploads,
)

from .conftest import T0

HEADER = "nik,name,status,collection_date,collection_time,place,address,phone\n"
GOOD = (HEADER + "3171012304900021,Ani,scheduled,2026-12-02,08:00-12:00,Kantor,Jl. A,081200000021\n"
        + "3171012304900022,Bayu,in_review,,,,,\n")


def _stage_tables(store) -> list[str]:
    with store.engine.connect() as conn:
        return [n for n in inspect(conn).get_table_names() if n.startswith("upload_stage_")]


def test_a_checked_list_waits_protected_then_applies_once(store, write_csv):
    watch = ImportProgress()
    report = stage_upload(store, write_csv(GOOD), "tok-" + "a" * 30, source="daftar.csv", by="admin",
                          size=123, watch=watch)
    assert report.ok and (report.rows, report.inserted, report.updated) == (2, 2, 0)
    assert watch.rows == 2 and watch.bytes_read == len(GOOD.encode()) and watch.total_bytes == watch.bytes_read
    assert store.lookup("3171012304900021") is None                      # nothing applied yet
    [table] = _stage_tables(store)
    with store.engine.connect() as conn:
        staged = conn.exec_driver_sql(f"SELECT nik_hash, nik_masked, nik_enc, phone_masked FROM {table}").all()
    assert {r.nik_masked for r in staged} == {"3171********0021", "3171********0022"}
    assert not any("3171012304900021" in str(v) or "081200000021" in str(v) for r in staged for v in r)
    assert pending_upload(store, "tok-" + "a" * 30)["rows"] == 2
    assert pending_upload(store, "tok-" + "b" * 30) is None

    done = apply_upload(store, "tok-" + "a" * 30, by="admin")
    assert done.applied and (done.inserted, done.updated) == (2, 0)
    assert store.lookup("3171012304900021").place == "Kantor"
    assert _stage_tables(store) == [] and apply_upload(store, "tok-" + "a" * 30, by="admin") is None
    with store.engine.connect() as conn:
        assert conn.execute(select(RecipientImport.rows, RecipientImport.by)).all() == [(2, "admin")]


def test_a_bad_list_keeps_nothing(store, write_csv):
    report = stage_upload(store, write_csv(GOOD + "317101230490002,Short,in_review,,,,,\n"), "tok-" + "c" * 30,
                          source="x.csv", by="admin")
    assert not report.ok and report.problems[0][0] == 4
    assert _stage_tables(store) == [] and pending_upload(store, "tok-" + "c" * 30) is None


def test_discard_and_expiry(store, write_csv):
    stage_upload(store, write_csv(GOOD), "tok-" + "d" * 30, source="x.csv", by="admin")
    assert discard_upload(store, "tok-" + "d" * 30) and _stage_tables(store) == []
    assert not discard_upload(store, "tok-" + "d" * 30)
    stage_upload(store, write_csv(GOOD), "tok-" + "e" * 30, source="x.csv", by="admin")
    assert sweep_uploads(store, 3600) == 0 and len(_stage_tables(store)) == 1
    with store.engine.begin() as conn:
        conn.execute(update(PendingUpload).values(created=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    assert apply_upload(store, "tok-" + "e" * 30, by="admin", max_age_s=3600) is None     # expired
    assert _stage_tables(store) == [] and store.lookup("3171012304900021") is None
    stage_upload(store, write_csv(GOOD), "tok-" + "f" * 30, source="x.csv", by="admin")
    with store.engine.begin() as conn:
        conn.execute(update(PendingUpload).values(created=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)))
    assert sweep_uploads(store, 3600) == 1 and _stage_tables(store) == []


def test_a_staging_table_left_by_a_crash_is_swept(store, write_csv):
    stage_upload(store, write_csv(GOOD), "tok-" + "g" * 30, source="x.csv", by="admin")
    [table] = _stage_tables(store)
    with store.engine.begin() as conn:
        conn.execute(delete(PendingUpload))                              # as if the check never finished
    assert sweep_uploads(store, 3600) == 0                               # young: may still be filling
    assert sweep_uploads(store, -3600) == 1 and _stage_tables(store) == []
    assert table.startswith("upload_stage_")


def test_the_channel_name_is_masked_like_the_caller(store):
    cid = store.start_call(CallInfo(uniqueid="1.1", caller="081277776666",
                                    channel="PJSIP/081277776666-00000042"), T0)
    other = store.start_call(CallInfo(uniqueid="1.2", caller="6001", channel="PJSIP/6001-0000000a"), T0)
    with store.engine.connect() as conn:
        channels = dict(conn.execute(select(Call.id, Call.channel)).all())
        raw = " ".join(str(v) for row in conn.execute(select(Call)).all() for v in row)
    assert channels[cid] == "PJSIP/0812*****666-00000042"
    assert channels[other] == "PJSIP/6001-0000000a"                    # an extension, not a person's number
    assert "081277776666" not in raw and "77776666" not in raw


def test_old_rows_are_masked_once_on_upgrade(store, engine):
    with engine.begin() as conn:
        conn.execute(insert(Call), [
            {"id": f"old-{i:04d}", "uniqueid": str(i), "started": T0, "caller_masked": "",
             "channel": f"PJSIP/0812{i:08d}-{i:08x}"} for i in range(12)])
        conn.execute(insert(Call).values(id="old-trunk", uniqueid="t", started=T0, caller_masked="",
                                         channel="PJSIP/trunk-00000001"))
        conn.execute(delete(SchemaUpgrade))                              # a database from before the upgrade
    import ivr.store.db as db

    db_batch = db.UPGRADE_BATCH
    db.UPGRADE_BATCH = 5                                                # several batches
    try:
        assert upgrade(engine) == ["mask_call_channels"]
    finally:
        db.UPGRADE_BATCH = db_batch
    with engine.connect() as conn:
        channels = dict(conn.execute(select(Call.id, Call.channel)).all())
    assert channels["old-0007"] == "PJSIP/0812*****007-00000007"
    assert channels["old-trunk"] == "PJSIP/trunk-00000001"
    assert not any("0812000000" in c for c in channels.values())
    assert upgrade(engine) == []                                         # once only
    create_schema(engine)                                                # start-up runs it; nothing left to do


@pytest.fixture
def ivr_cli(tmp_path, monkeypatch, engine):
    """``ivr ...`` on the same database as ``engine`` (SQLite file or PostgreSQL schema)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IVR_SECRET_KEY", "cli-test-secret-0123456789")
    monkeypatch.setenv("IVR_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="ivr")
    register(parser.add_subparsers(dest="cmd", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.func(args)

    yield run
    get_settings.cache_clear()


@pytest.mark.parametrize("body, line, words", [
    ('3171012304900401,"' + "a" * 140_000 + '",in_review,,,,,\n', 3, "131,072 characters"),
    ('3171012304900401,"Ani,in_review,,,,,\n', 3, "never closed"),
    ("3171012304900401,A\x00ni,in_review,,,,,\n", 3, "control character (0x00)"),
])
def test_cli_import_reports_a_malformed_file_by_line(ivr_cli, store, tmp_path, capsys, body, line, words):
    path = tmp_path / "bad.csv"
    path.write_text(GOOD.splitlines(keepends=True)[0] + GOOD.splitlines(keepends=True)[1] + body)
    assert ivr_cli("recipients", "import", str(path), "--no-progress") == 1
    err = capsys.readouterr().err
    assert f"line {line}: " in err and words in err, err
    assert ivr_cli("recipients", "import", str(path), "--no-progress", "--dry-run") == 1
    assert store.lookup("3171012304900021") is None
