"""The web app's own queries on PostgreSQL: keyset paging with every filter, the
overview, and the plan of a page of the call list."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr.store.db import create_schema, make_engine
from ivr.store.sql import SqlStore
from ivr.web import queries

from .conftest import NOW, make_call

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_store(pg_database_url):
    engine = make_engine(pg_database_url)
    create_schema(engine)
    yield SqlStore(engine, b"test-secret-key-0123456789")
    engine.dispose()


def test_queries_on_postgres(pg_store, tmp_path):
    day = dt.timedelta(days=1)
    a = make_call(pg_store, tmp_path, started=NOW - 3 * day, mode="speech")
    b = make_call(pg_store, tmp_path, started=NOW - 2 * day, mode="keypad", outcome="not_found",
                  follow_up="not_found", recording=False)
    c = make_call(pg_store, tmp_path, started=NOW - day, mode="mixed", follow_up="complaint", complaint=True)
    ids = lambda f, **kw: [r.call.id for r in queries.list_calls(pg_store.engine, f, **kw).rows]  # noqa: E731
    assert ids(queries.CallFilter()) == [c, b, a]
    assert ids(queries.CallFilter(follow_up="none")) == [a]
    assert ids(queries.CallFilter(has_recording=False)) == [b]
    assert ids(queries.CallFilter(outcome="not_found", input_mode="keypad")) == [b]
    first = queries.list_calls(pg_store.engine, queries.CallFilter(), limit=2)
    assert [r.call.id for r in first.rows] == [c, b] and first.next_cursor
    assert ids(queries.CallFilter(), cursor=first.next_cursor, limit=2) == [a]
    plan = queries.explain_calls(pg_store.engine, queries.CallFilter(follow_up="open"), cursor=first.next_cursor)
    assert "calls" in plan
    tz = ZoneInfo("Asia/Jakarta")
    last = NOW.astimezone(tz).date()
    o = queries.overview(pg_store.engine, last - dt.timedelta(days=13), last, tz)
    assert o.total == 3 and o.speech_heard == 2 and o.median_to_status_s == 20.0
    assert dict(o.open_follow_ups) == {"not_found": 1, "complaint": 1}


def test_sessions_end_on_the_server_on_postgres(pg_store, settings, monkeypatch):
    from ivr.web.app import create_app
    from ivr.web.auth import hash_password
    from ivr.web.sessions import COOKIE

    from .conftest import OPERATOR_PW, FakeClock, TestClient, sign_in

    monkeypatch.setenv("IVR_ADMIN_PASSWORD", "admin-password-123")
    pg_store.create_user("siti", "operator", hash_password(OPERATOR_PW))
    app = create_app(settings, store=pg_store, clock=FakeClock(), now=lambda: NOW)

    def replay(cookie: str) -> int:
        with TestClient(app) as thief:
            thief.cookies.set(COOKIE, cookie)
            return thief.get("/api/session").status_code

    with TestClient(app) as c:
        token = sign_in(c, "siti", OPERATOR_PW)
        first = c.cookies.get(COOKIE)
        assert replay(first) == 200
        assert c.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 204
        assert replay(first) == 401
        sign_in(c, "siti", OPERATOR_PW)
        second = c.cookies.get(COOKIE)
        pg_store.update_user("siti", by="admin", disabled=True)
        pg_store.update_user("siti", by="admin", disabled=False)
        assert replay(second) == 401
        sign_in(c, "siti", OPERATOR_PW)
        third = c.cookies.get(COOKIE)
        pg_store.update_user("siti", by="admin", password_hash=hash_password("another-password-1"))
        assert replay(third) == 401 and pg_store.count_sessions("siti") == 0
