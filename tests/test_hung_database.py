"""A hung database (a lock held by another session, a query that never returns):
the caller hears the apology within the limit, a follow-up is kept (journaled while the
database cannot take it), the hang-up closes the AGI connection at once, and
``/health`` says the database is slow.

Limits are set short (``IVR_DB_TIMEOUT_S`` below a second) instead of waiting out the
real default; the lock is released by the test, never by a sleep.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import HangUp, Keys, Silence
from tests.conftest import make_settings, run_line
from tests.fakes import HungLookup
from tests.test_calls import calls_of, only_call
from tests.web.conftest import TestClient  # imported there without the httpx2 warning

SCHEDULED = DEMO_NIKS["scheduled"]


def sqlite_lock(settings) -> sqlite3.Connection:
    """A second connection holding the database's write lock (BEGIN EXCLUSIVE)."""
    holder = sqlite3.connect(settings.data_dir / "hotline.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def pg_lock(url: str, *tables: str, mode: str = "ACCESS EXCLUSIVE"):
    """A second PostgreSQL session holding ``LOCK TABLE`` on ``tables`` until rollback."""
    import psycopg
    from sqlalchemy import make_url

    parsed = make_url(url)
    conn = psycopg.connect(host=parsed.host, port=parsed.port or 5432, user=parsed.username,
                           dbname=parsed.database, options=parsed.query.get("options", ""))
    conn.execute(f"LOCK TABLE {', '.join(tables)} IN {mode} MODE")
    return conn


def apology_latency(result) -> float:
    """Seconds the caller waited in silence before the apology began."""
    commands = [e.command + " " + " ".join(e.args) for e in result.exchanges]
    i = next(n for n, c in enumerate(commands) if "error/system" in c)
    return result.step_latencies[i]


def test_sqlite_hung_lookup_and_locked_log_get_the_apology_and_a_journaled_follow_up(tmp_path):
    settings = make_settings(tmp_path, db_timeout_s=0.5)
    hung: list[HungLookup] = []

    def wrap(store):
        hung.append(HungLookup(store))
        return hung[0]

    async def scenario(line):
        holder = sqlite_lock(settings)          # every call-log write now waits for the lock
        try:
            result = await line.call(Keys(SCHEDULED), Keys("1"), Silence())
            # The call is over for the caller; its log writes may still be queued on a
            # busy machine.  Hold the lock until they have met it and gone to the
            # journal (bounded), so the release below cannot let them through first.
            for _ in range(400):
                if line.hotline.call_log.pending() > 0:
                    break
                await asyncio.sleep(0.05)
            return result
        finally:
            holder.execute("ROLLBACK")
            holder.close()
            hung[0].release()

    result, line = run_line(settings, scenario, db_wrapper=wrap)
    journaled = line.hotline.call_log.pending()
    assert hung[0].started == 1
    assert "error/system" in result.prompts and result.clean
    assert apology_latency(result) < 10          # the hung lookup alone would never end
    assert journaled > 0                         # the log and follow-up waited in the journal
    assert line.hotline.call_log.replay() == journaled
    call = only_call(line)
    assert call.outcome == "fault" and [f.reason for f in call.follow_ups] == ["system_fault"]
    fault = next(e for e in call.events if e.kind == "fault")
    assert fault.detail == {"kind": "store", "during": "lookup", "error": "timeout"}


def test_sqlite_write_lock_never_holds_the_hang_up(tmp_path):
    """The call log's writes wait behind a lock that outlives the call (a long lock
    timeout here, so only not waiting can explain a prompt close): the caller's
    hang-up still closes the AGI connection while the lock is held."""
    settings = make_settings(tmp_path, db_timeout_s=30)

    async def scenario(line):
        holder = sqlite_lock(settings)
        try:
            # the lookup reads under WAL; the caller hears the status, then hangs up
            result = await asyncio.wait_for(line.call(Keys(SCHEDULED), Keys("1"), Silence(), HangUp()), 15)
            still_locked = holder.in_transaction
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return result, still_locked

    (result, still_locked), line = run_line(settings, scenario)
    assert still_locked
    assert "status/scheduled" in result.prompts
    assert result.ended_by == "caller"        # the fake saw the service close after the hang-up
    call = only_call(line)                    # the log was completed once the lock went
    assert call.ended is not None and call.outcome == "answered"
    assert any(e.kind == "hangup" for e in call.events)


@pytest.mark.postgres
def test_postgresql_locked_tables_get_the_apology_and_a_journaled_follow_up(tmp_path, pg_database_url):
    settings = make_settings(tmp_path, database_url=pg_database_url, db_timeout_s=0.8)

    async def scenario(line):
        holder = pg_lock(pg_database_url, "recipients", "calls", "call_events", "follow_ups")
        try:
            result = await asyncio.wait_for(line.call(Keys(SCHEDULED), Keys("1"), Silence()), 30)
            for _ in range(400):                # as on SQLite: let queued writes meet the lock
                if line.hotline.call_log.pending() > 0:
                    break
                await asyncio.sleep(0.05)
            return result
        finally:
            holder.rollback()
            holder.close()

    result, line = run_line(settings, scenario)
    journaled = line.hotline.call_log.pending()
    assert "error/system" in result.prompts and result.clean
    assert apology_latency(result) < 10
    assert journaled > 0
    assert line.hotline.call_log.replay() == journaled
    call = only_call(line)
    assert call.outcome == "fault" and [f.reason for f in call.follow_ups] == ["system_fault"]
    line.hotline.store.engine.dispose()


@pytest.mark.postgres
def test_postgresql_lookup_lock_fails_at_the_lock_timeout(tmp_path, pg_database_url):
    """Only the recipients table locked: the lookup ends at PostgreSQL's lock timeout
    (or the runner's limit), and the follow-up goes straight into the database."""
    settings = make_settings(tmp_path, database_url=pg_database_url, db_timeout_s=0.8)

    async def scenario(line):
        holder = pg_lock(pg_database_url, "recipients")
        try:
            return await asyncio.wait_for(line.call(Keys(SCHEDULED), Keys("1"), Silence()), 30)
        finally:
            holder.rollback()
            holder.close()

    result, line = run_line(settings, scenario)
    assert "error/system" in result.prompts
    assert line.hotline.call_log.pending() == 0
    calls = calls_of(line)
    assert [f.reason for f in calls[0].follow_ups] == ["system_fault"]
    line.hotline.store.engine.dispose()


# --- /health ---------------------------------------------------------------------------

def _health(settings):
    from ivr.store.sql import SqlStore
    from ivr.web.app import create_app

    store = SqlStore.from_settings(settings)
    return store, TestClient(create_app(settings, store=store))


def test_health_reports_a_locked_sqlite_database_as_slow(tmp_path):
    settings = make_settings(tmp_path, db_timeout_s=0.3)
    store, client = _health(settings)
    with client as c:
        assert c.get("/health").json()["database"] == "ok"
        holder = sqlite_lock(settings)
        try:
            r = c.get("/health")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert r.status_code == 200
        assert r.json()["status"] == "degraded" and r.json()["database"] == "slow"
        assert c.get("/health").json()["status"] == "ok"
    store.engine.dispose()


@pytest.mark.postgres
def test_health_reports_a_locked_postgresql_database_as_slow(tmp_path, pg_database_url):
    settings = make_settings(tmp_path, database_url=pg_database_url, db_timeout_s=0.3)
    store, client = _health(settings)
    with client as c:
        assert c.get("/health").json()["database"] == "ok"
        # EXCLUSIVE lets readers through and stops every write: SELECT 1 would say "ok"
        holder = pg_lock(pg_database_url, "calls", mode="EXCLUSIVE")
        try:
            r = c.get("/health")
        finally:
            holder.rollback()
            holder.close()
        assert r.json()["status"] == "degraded" and r.json()["database"] == "slow"
        assert c.get("/health").json()["status"] == "ok"
    store.engine.dispose()
