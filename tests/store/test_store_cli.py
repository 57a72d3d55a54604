"""The store's commands: import with line-numbered rejections, demo data, calls list/show."""

from __future__ import annotations

import argparse
import datetime as dt
import json

import pytest

from ivr.config import get_settings
from ivr.ports import CallEventRecord, CallInfo
from ivr.store.cli import register
from ivr.store.recipients import DEMO_NIKS
from ivr.store.sql import SqlStore

from .conftest import T0


@pytest.fixture
def ivr(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IVR_SECRET_KEY", "cli-test-secret-0123456789")
    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="ivr")
    register(parser.add_subparsers(dest="cmd", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.func(args)

    yield run
    get_settings.cache_clear()


def test_demo_then_calls_list_json(ivr, capsys):
    assert ivr("recipients", "demo", "--today", "2026-11-28") == 0
    assert DEMO_NIKS["scheduled"] in capsys.readouterr().out
    store = SqlStore.from_settings(get_settings())
    assert store.lookup(DEMO_NIKS["scheduled"]).collection_date == dt.date(2026, 11, 30)
    first = store.start_call(CallInfo(uniqueid="1.1", caller="081234567890"), T0)
    store.set_call_nik(first, DEMO_NIKS["scheduled"])
    store.add_event(first, CallEventRecord(at=T0, kind="keys", state="nik", keys=DEMO_NIKS["scheduled"]))
    store.add_follow_up(first, "complaint", "")
    store.finish_call(first, T0 + dt.timedelta(seconds=30), "answered", "answer", "keypad")
    second = store.start_call(CallInfo(uniqueid="1.2", caller=""), T0 + dt.timedelta(minutes=1))

    assert ivr("calls", "list", "--json", "--limit", "5") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == [second, first]
    assert rows[1]["nik"] == "3172********0001" and rows[1]["follow_up"] == "complaint"
    assert rows[1]["outcome"] == "answered" and rows[1]["input_mode"] == "keypad"
    assert rows[0]["ended"] is None and rows[0]["follow_up"] is None
    assert {"id", "started", "ended", "outcome", "nik", "input_mode", "follow_up"} <= set(rows[0])

    assert ivr("calls", "list", "--json", "--limit", "1") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1

    assert ivr("calls", "show", first, "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["events"][0]["keys"] == "3172********0001" and DEMO_NIKS["scheduled"] not in json.dumps(shown)
    assert ivr("calls", "show", first[:8]) == 0
    out = capsys.readouterr().out
    assert first in out and "3172********0001" in out
    assert ivr("calls", "show", "nope") == 1
    assert ivr("calls", "list") == 0
    assert "answered" in capsys.readouterr().out


def test_import_rejection_exit_code_and_lines(ivr, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("nik,name,status,collection_date,collection_time,place,address\n"
                   "3172014508850001,Siti,in_review,,,,\n"
                   "3.17201E+15,Budi,in_review,,,,\n")
    assert ivr("recipients", "import", str(bad), "--no-progress") == 1
    err = capsys.readouterr().err
    assert "line 3:" in err and "scientific notation" in err and "nothing was applied" in err
    good = tmp_path / "good.csv"
    good.write_text("nik,name,status,collection_date,collection_time,place,address\n"
                    "3172014508850001,Siti,in_review,,,,\n")
    assert ivr("recipients", "import", str(good), "--dry-run", "--no-progress") == 0
    assert "would insert 1" in capsys.readouterr().out
    assert ivr("recipients", "import", str(good), "--no-progress") == 0
    assert "inserted 1" in capsys.readouterr().out
    assert ivr("recipients", "count") == 0
    assert capsys.readouterr().out.startswith("1 recipients")


def test_unreachable_database_is_a_clear_error(ivr, monkeypatch, capsys):
    monkeypatch.setenv("IVR_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    get_settings.cache_clear()
    assert ivr("calls", "list") == 2
    assert "cannot open database postgresql+psycopg://nobody@127.0.0.1:1/none" in capsys.readouterr().err


def test_replay_command(ivr, capsys):
    assert ivr("calls", "replay") == 0
    assert "applied 0" in capsys.readouterr().out
