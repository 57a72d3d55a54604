"""Is the database answering in time for a caller?  A short probe for ``/health``.

"Answers ``SELECT 1``" is not enough: a table lock held by another session leaves
``SELECT 1`` instant while every lookup or call-log write waits.  The probe does what
a call does, under a short limit: it reads the recipients table, and takes (and at
once gives back) the write lock a call-log write needs -- ``BEGIN IMMEDIATE`` on
SQLite, ``ROW EXCLUSIVE`` locks on the call-log tables on PostgreSQL -- then rolls
back, writing nothing.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ivr.store.models import Call, CallEvent, FollowUp, Recipient

# PostgreSQL: lock_not_available, query_canceled (statement_timeout)
_PG_SLOW = frozenset({"55P03", "57014"})


@dataclass(frozen=True)
class Probe:
    """``database``: ``ok``, ``slow`` (answered late, or a lock made it wait past the
    limit) or ``unavailable``; ``ms``: how long the probe took."""

    database: str
    ms: int

    @property
    def ok(self) -> bool:
        return self.database == "ok"


def probe(engine: Engine, timeout_s: float) -> Probe:
    started = time.monotonic()
    try:
        if engine.dialect.name == "sqlite":
            _sqlite(engine, timeout_s)
        else:
            _postgresql(engine, timeout_s)
        state = "ok"
    except DBAPIError as exc:
        state = "slow" if _is_lock_wait(exc.orig) else "unavailable"
    except sqlite3.Error as exc:
        state = "slow" if _is_lock_wait(exc) else "unavailable"
    except SQLAlchemyError:
        state = "unavailable"
    elapsed = time.monotonic() - started
    if state == "ok" and elapsed > timeout_s:
        state = "slow"
    return Probe(state, int(elapsed * 1000))


def _is_lock_wait(orig: BaseException | None) -> bool:
    if getattr(orig, "sqlstate", None) in _PG_SLOW:
        return True
    return "database is locked" in str(orig) or "database table is locked" in str(orig)


def _sqlite(engine: Engine, timeout_s: float) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("PRAGMA busy_timeout")
        busy = cur.fetchone()[0]
        cur.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        try:
            cur.execute(f"SELECT 1 FROM {Recipient.__tablename__} LIMIT 1").fetchall()
            if raw.driver_connection.in_transaction:
                raw.rollback()
            cur.execute("BEGIN IMMEDIATE")      # the write lock a call-log write needs
            cur.execute("ROLLBACK")
        finally:
            cur.execute(f"PRAGMA busy_timeout={int(busy)}")
            cur.close()
    finally:
        raw.close()


def _postgresql(engine: Engine, timeout_s: float) -> None:
    ms = int(timeout_s * 1000)
    with engine.connect() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = {ms}"))
        conn.execute(text(f"SET LOCAL statement_timeout = {ms}"))
        conn.execute(text(f"SELECT 1 FROM {Recipient.__tablename__} LIMIT 1")).all()
        tables = ", ".join(m.__tablename__ for m in (Call, CallEvent, FollowUp))
        conn.execute(text(f"LOCK TABLE {tables} IN ROW EXCLUSIVE MODE"))
        conn.rollback()

