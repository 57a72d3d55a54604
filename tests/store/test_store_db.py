"""Engines: URL handling, SQLite pragmas, clear errors for bad or unreachable databases."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ivr.errors import ConfigError, StoreError
from ivr.store.db import make_engine, normalize_url


def test_sqlite_pragmas(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'sub' / 'h.db'}")   # missing folder is created
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1   # NORMAL
    eng.dispose()


def test_plain_postgresql_url_means_psycopg():
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db", "sqlite+nosuchdriver:///x.db"])
def test_bad_url_is_config_error(url):
    with pytest.raises(ConfigError):
        make_engine(url)


def test_unopenable_sqlite_is_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"cannot open database sqlite:///"):
        make_engine(f"sqlite:///{blocker}/h.db")


@pytest.mark.postgres
def test_unreachable_postgres_is_store_error():
    with pytest.raises(StoreError, match=r"cannot open database postgresql\+psycopg://u:\*\*\*@127.0.0.1:1/x"):
        make_engine("postgresql://u:secretpw@127.0.0.1:1/x")
