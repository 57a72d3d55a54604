"""Store fixtures: every store test runs on SQLite and, marked ``postgres``, on PostgreSQL.

Each PostgreSQL test gets its own schema (search_path), so parallel runs never collide.
"""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.store.db import create_schema, make_engine
from ivr.store.sql import SqlStore

SECRET = b"test-secret-key-0123456789"
T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'hotline.db'}")
        create_schema(eng)
        yield eng
        eng.dispose()
        return
    eng = make_engine(request.getfixturevalue("pg_database_url"))
    create_schema(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine) -> SqlStore:
    return SqlStore(engine, SECRET)


@pytest.fixture
def dead_engine(tmp_path):
    """An engine whose database cannot be opened (its folder is a file)."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    return make_engine(f"sqlite:///{blocker / 'x.db'}", check=False)


@pytest.fixture
def write_csv(tmp_path):
    """Write a CSV into tmp_path: write_csv(text, name=..., encoding=..., bom=...)."""
    def write(text: str, name: str = "list.csv", encoding: str = "utf-8", bom: bool = False):
        path = tmp_path / name
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding))
        return path
    return write
