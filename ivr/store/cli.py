"""``ivr recipients ...``, ``ivr calls ...`` and ``ivr db ...``: the store's commands.

Output is for people (rich tables) unless ``--json`` asks for one JSON object per line.
Personal data is shown masked; nothing here reveals a NIK or a phone number.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from ivr.errors import ConfigError, ImportRejected, StoreError


def register(subparsers) -> None:
    rec = subparsers.add_parser("recipients", help="recipient lists: import, demo data, count")
    rsub = rec.add_subparsers(dest="recipients_cmd", required=True)
    p = rsub.add_parser("import", help="validate and apply a CSV/XLSX list (all or nothing)")
    p.add_argument("file", help="CSV (UTF-8, header nik,name,status,collection_date,collection_time,"
                                "place,address[,phone,phase,documents]) or XLSX")
    p.add_argument("--dry-run", action="store_true", help="check and count only, change nothing")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_import)
    p = rsub.add_parser("demo", help="load ~20 demo recipients (names start with DEMO)")
    p.add_argument("--today", type=dt.date.fromisoformat, default=None,
                   help="schedule relative to this date (YYYY-MM-DD; default today)")
    p.add_argument("--remove", action="store_true", help="delete the demo recipients instead")
    p.set_defaults(func=_cmd_demo)
    p = rsub.add_parser("count", help="how many recipients are loaded")
    p.set_defaults(func=_cmd_count)

    tr = subparsers.add_parser("training", help="speech from real calls kept for training (personal data)")
    tsub = tr.add_subparsers(dest="training_cmd", required=True)
    p = tsub.add_parser("count", help="how many confirmed NIK utterances are kept")
    p.set_defaults(func=_cmd_training_count)
    p = tsub.add_parser("export", help="write audio + manifest.tsv for `ivr model build --extra-manifest`")
    p.add_argument("folder", type=Path)
    p.add_argument("--since", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    p.set_defaults(func=_cmd_training_export)
    p = tsub.add_parser("delete", help="delete kept utterances (all, or older than --before)")
    p.add_argument("--before", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    p.add_argument("--yes", action="store_true", help="do it (otherwise only say how many)")
    p.set_defaults(func=_cmd_training_delete)

    calls = subparsers.add_parser("calls", help="the call log")
    csub = calls.add_subparsers(dest="calls_cmd", required=True)
    p = csub.add_parser("list", help="recent calls, newest first")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--outcome", default=None)
    p.add_argument("--input-mode", default=None, choices=["keypad", "speech", "mixed", "none"])
    p.add_argument("--since", type=dt.date.fromisoformat, default=None, help="YYYY-MM-DD")
    p.add_argument("--follow-up", action="store_true", help="only calls with a follow-up")
    p.set_defaults(func=_cmd_calls_list)
    p = csub.add_parser("show", help="one call with its steps")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_calls_show)
    p = csub.add_parser("replay", help="apply call-log entries journaled while the database was down")
    p.set_defaults(func=_cmd_replay)

    db = subparsers.add_parser("db", help="database schema")
    dsub = db.add_subparsers(dest="db_cmd", required=True)
    p = dsub.add_parser("init", help="create missing tables")
    p.set_defaults(func=_cmd_db_init)


_opened: list = []


def _store():
    from ivr.config import get_settings
    from ivr.store.sql import SqlStore

    store = SqlStore.from_settings(get_settings())
    _opened.append(store)
    return store


def _errors(fn):
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (StoreError, ConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        finally:
            while _opened:          # close the database connections the command opened
                _opened.pop().engine.dispose()
    run.__name__ = fn.__name__
    return run


@_errors
def _cmd_import(args: argparse.Namespace) -> int:
    from ivr.store.recipients import import_csv, validate_csv

    store = _store()
    try:
        if args.dry_run:
            report = validate_csv(store, args.file, progress=not args.no_progress)
            if not report.ok:
                raise ImportRejected(list(report.problems))
        else:
            report = import_csv(store, args.file, progress=not args.no_progress, by="cli")
    except ImportRejected as rej:
        print(f"REJECTED {args.file}: {rej}", file=sys.stderr)
        for line, message in rej.problems:
            print(f"  line {line}: {message}" if line else f"  {message}", file=sys.stderr)
        return 1
    verb = "would insert" if args.dry_run else "inserted"
    print(f"{args.file}: {report.rows} rows OK; {verb} {report.inserted}, "
          f"{'would update' if args.dry_run else 'updated'} {report.updated}"
          + (f" (batch {report.batch})" if report.batch else ""))
    return 0


@_errors
def _cmd_demo(args: argparse.Namespace) -> int:
    from ivr.store.recipients import DEMO_NIKS, load_demo

    store = _store()
    if args.remove:
        print(f"removed {store.delete_demo_recipients()} demo recipients")
        return 0
    report = load_demo(store, args.today)
    print(f"demo recipients loaded: {report.rows} ({report.inserted} new, {report.updated} updated)")
    for status, nik in DEMO_NIKS.items():
        print(f"  {status:15} {nik}")
    return 0


@_errors
def _cmd_count(args: argparse.Namespace) -> int:
    store = _store()
    total, real = store.recipient_count(), store.recipient_count(include_demo=False)
    print(f"{total} recipients ({total - real} demo)")
    return 0


@_errors
def _cmd_calls_list(args: argparse.Namespace) -> int:
    store = _store()
    since = dt.datetime.combine(args.since, dt.time(), dt.timezone.utc) if args.since else None
    calls = store.list_calls(limit=args.limit, outcome=args.outcome, input_mode=args.input_mode,
                             since=since, follow_up=True if args.follow_up else None)
    if args.json:
        for c in calls:
            print(json.dumps(c.as_dict(), ensure_ascii=False))
        return 0
    from rich.table import Table

    table = Table("started", "id", "caller", "NIK", "input", "outcome", "ended at", "s", "follow-up")
    for c in calls:
        table.add_row(_t(c.started), c.id[:8], c.caller or "-", c.nik or "-", c.input_mode or "-",
                      c.outcome or "(in progress)", c.end_state or "-",
                      f"{c.duration_s:.0f}" if c.duration_s is not None else "-", c.follow_up or "")
    _console().print(table)
    return 0


@_errors
def _cmd_calls_show(args: argparse.Namespace) -> int:
    store = _store()
    call_id = args.id
    detail = store.get_call(call_id)
    if detail is None and len(call_id) < 36:       # accept the 8-character prefix the list shows
        matches = store.find_call_ids(call_id)
        detail = store.get_call(matches[0]) if len(matches) == 1 else None
    if detail is None:
        print(f"error: no call {call_id}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(detail.as_dict(), ensure_ascii=False))
        return 0
    from rich.table import Table

    c = detail.call
    console = _console()
    console.print(f"call {c.id}  (asterisk {c.uniqueid})\n  started {_t(c.started)}  ended {_t(c.ended)}"
                  f"  caller {c.caller or '-'}  NIK {c.nik or '-'}\n  input {c.input_mode or '-'}"
                  f"  lookup {c.lookup_status or '-'}  outcome {c.outcome or '(in progress)'}"
                  f"  at {c.end_state or '-'}")
    table = Table("#", "time", "kind", "state", "prompts", "keys", "heard", "conf")
    for e in detail.events:
        table.add_row(str(e.seq), _t(e.at, seconds=True), e.kind, e.state, " ".join(e.prompts), e.keys,
                      e.transcript, f"{e.confidence:.2f}" if e.confidence is not None else "")
    console.print(table)
    for r in detail.recordings:
        console.print(f"  recording [{r.purpose}] {r.path} ({r.duration_ms} ms)")
    for f in detail.follow_ups:
        console.print(f"  follow-up #{f.id} {f.reason} [{f.state}] {f.assignee or ''} {f.detail}")
    return 0


@_errors
def _cmd_replay(args: argparse.Namespace) -> int:
    from ivr.config import get_settings
    from ivr.store.journal import JournalingStore, default_journal_path

    journal = JournalingStore(_store(), default_journal_path(get_settings()))
    applied = journal.replay()
    left = journal.pending()
    print(f"applied {applied} journaled operation(s); {left} still pending")
    return 0 if left == 0 else 1


@_errors
def _cmd_db_init(args: argparse.Namespace) -> int:
    from ivr.store.db import safe_url

    store = _store()
    print(f"schema ready in {safe_url(store.engine.url)}")
    return 0


def _console():
    from rich.console import Console

    # piped output (less, grep, a file) gets wide rows instead of squeezed columns
    return Console(width=None if sys.stdout.isatty() else 200)


def _t(value: dt.datetime | None, seconds: bool = False) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _day(d: dt.date | None) -> dt.datetime | None:
    return dt.datetime.combine(d, dt.time(), tzinfo=dt.timezone.utc) if d else None


def _cmd_training_count(args) -> int:
    print(len(_store().training_utterances()))
    return 0


def _cmd_training_export(args) -> int:
    from ivr.store.training import export_training

    report = export_training(_store(), args.folder, since=_day(args.since))
    print(f"exported {report.exported} utterance(s) to {report.folder}/manifest.tsv"
          + (f"; {report.missing} had no audio file any more" if report.missing else ""))
    print("this folder holds NIK digits: personal data, delete it after the build")
    return 0


def _cmd_training_delete(args) -> int:
    from ivr.store.training import delete_training

    store = _store()
    before = _day(args.before)
    if not args.yes:
        count = sum(1 for *_x, created in store.training_utterances() if before is None or created < before)
        print(f"{count} utterance(s) would be deleted; add --yes to delete them")
        return 0
    print(f"deleted {delete_training(store, before=before)} utterance(s)")
    return 0
