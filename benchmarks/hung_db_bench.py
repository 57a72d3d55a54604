"""How long a caller waits in silence when the database hangs, and how long their
hang-up keeps the AGI connection open.

A caller keys a NIK and confirms it while the database is hung:

* PostgreSQL (skipped when no server answers on 127.0.0.1:5432, database ``test``):
  another session holds ``LOCK TABLE`` on the recipients and call-log tables for
  --hold seconds;
* SQLite: another connection holds ``BEGIN EXCLUSIVE`` for --hold seconds.  Under WAL
  that lock stops writes but not reads, so the lookup itself is made to hang too (a
  wrapped store whose lookup blocks for --hold seconds, as a query on a stuck disk).

Printed: the silence between the caller's confirming key and the next prompt (the
apology once the limit is reached), with the limit (IVR_DB_TIMEOUT_S, default 3 s)
beside no limit to speak of (60 s, which is how the service behaved before the
limit existed: the caller waits until the lock goes); and, with only the call-log
writes locked, the seconds from the caller's hang-up to the AGI connection closing.

    python benchmarks/hung_db_bench.py              # --hold 15
    python benchmarks/hung_db_bench.py --hold 40    # the issue's 40 s lock
    python benchmarks/hung_db_bench.py --code /tmp/before   # another checkout's service
        # (e.g. `git archive main | tar -x -C /tmp/before`; it ignores IVR_DB_TIMEOUT_S
        # if it predates it)
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the service under test: this checkout, or the one named by --code
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else REPO
sys.path.insert(0, str(CODE))

from ivr.store.recipients import DEMO_NIKS  # noqa: E402
from ivr.telephony.fake_asterisk import HangUp, Keys, Silence  # noqa: E402
from tests.conftest import PG_URL, make_settings, run_line  # noqa: E402


class HungLookup:
    def __init__(self, store, hold_s: float):
        self._store, self.hold_s = store, hold_s

    def lookup(self, nik):
        time.sleep(self.hold_s)
        return self._store.lookup(nik)

    def __getattr__(self, name):
        return getattr(self._store, name)


def silence_after_confirm(result) -> tuple[float, str]:
    """Seconds from the confirming key to the next prompt, and that prompt."""
    cmds = [(e.command, e.args) for e in result.exchanges]
    for i, (cmd, args) in enumerate(cmds):
        if cmd == "STREAM FILE" and ("error/system" in args[0] or "status/" in args[0]):
            return result.step_latencies[i], args[0].rsplit("/", 2)[-2] + "/" + args[0].rsplit("/", 1)[-1]
    return float("nan"), "none"


def release_later(hold_s: float, release) -> threading.Timer:
    timer = threading.Timer(hold_s, release)
    timer.start()
    return timer


def sqlite_case(tmp: Path, limit: float, hold: float, hang_lookup: bool, turns):
    settings = make_settings(tmp / uuid.uuid4().hex, db_timeout_s=limit)
    wrap = (lambda store: HungLookup(store, hold)) if hang_lookup else None

    async def scenario(line):
        holder = sqlite3.connect(settings.data_dir / "hotline.db", isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        timer = release_later(hold, lambda: (holder.execute("ROLLBACK"), holder.close()))
        started = time.perf_counter()
        result = await line.call(*turns)
        return result, time.perf_counter() - started, timer

    (result, took, timer), line = run_line(settings, scenario, db_wrapper=wrap)
    timer.join()
    return result, took


def pg_case(tmp: Path, limit: float, hold: float, turns, tables: str):
    import psycopg
    from sqlalchemy import create_engine

    schema = "bench_" + uuid.uuid4().hex[:10]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    settings = make_settings(tmp / uuid.uuid4().hex, database_url=url, db_timeout_s=limit)
    try:
        async def scenario(line):
            holder = psycopg.connect(host="127.0.0.1", user="postgres", dbname="test",
                                     options=f"-csearch_path={schema}")
            holder.execute(f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE")
            timer = release_later(hold, lambda: (holder.rollback(), holder.close()))
            started = time.perf_counter()
            result = await line.call(*turns)
            return result, time.perf_counter() - started, timer

        (result, took, timer), line = run_line(settings, scenario)
        timer.join()
        line.hotline.store.engine.dispose()
        return result, took
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


def pg_available() -> bool:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    engine = create_engine(PG_URL)
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hold", type=float, default=15.0, help="seconds the lock is held")
    ap.add_argument("--limit", type=float, default=3.0, help="IVR_DB_TIMEOUT_S to measure")
    ap.add_argument("--code", type=Path, default=REPO, help="checkout whose service is measured")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)      # the faults are the point here, not news
    print(f"service from {CODE}")
    lookup = [Keys(DEMO_NIKS["scheduled"]), Keys("1"), Silence(), Silence()]
    hang_up = [Keys(DEMO_NIKS["scheduled"]), Keys("1"), HangUp()]
    log_tables = "calls, call_events, follow_ups"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"database hung for {args.hold:g} s; silence after the confirming key, then what the caller heard")
        for limit in (args.limit, 60.0):
            label = f"limit {limit:g} s" if limit < 60 else "no limit (60 s)"
            result, _ = sqlite_case(tmp, limit, args.hold, True, lookup)
            silence, prompt = silence_after_confirm(result)
            print(f"  sqlite      {label:16} {silence:6.2f} s -> {prompt}", flush=True)
            if pg_available():
                result, _ = pg_case(tmp, limit, args.hold, lookup, "recipients, " + log_tables)
                silence, prompt = silence_after_confirm(result)
                print(f"  postgresql  {label:16} {silence:6.2f} s -> {prompt}", flush=True)
        print(f"call-log tables locked for {args.hold:g} s; the caller hangs up right after hearing the status:"
              " whole call, connect to close")
        _, took = sqlite_case(tmp, args.limit, args.hold, False, hang_up)
        print(f"  sqlite      limit {args.limit:g} s    {took:6.2f} s")
        if pg_available():
            _, took = pg_case(tmp, args.limit, args.hold, hang_up, log_tables)
            print(f"  postgresql  limit {args.limit:g} s    {took:6.2f} s")


if __name__ == "__main__":
    main()
