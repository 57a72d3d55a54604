"""Engines and schema: SQLite (one file, WAL) by default, PostgreSQL (psycopg 3) for many instances.

The store is synchronous; the call runner and the web app call it off the event loop.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ivr.errors import ConfigError, StoreError
from ivr.store.models import Base

log = logging.getLogger(__name__)

SQLITE_BUSY_MS = 5000          # when no lock timeout is asked for


def safe_url(url: str | URL) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True) if isinstance(url, str) else url.render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` (and ``postgres://``) mean psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"cannot parse database URL {url!r}: expected sqlite:///PATH or postgresql://USER@HOST/DB") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"unsupported database {safe_url(parsed)}: use sqlite:/// or postgresql://")
    return parsed


def _sqlite_pragmas(dbapi_conn, _record, *, busy_ms: int = SQLITE_BUSY_MS) -> None:
    cur = dbapi_conn.cursor()
    # WAL: lookups keep reading while a call log or an import writes
    cur.execute("PRAGMA journal_mode=WAL")
    # how long a write waits for another writer's lock before it fails
    cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cur.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the last commits
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, *, check: bool = True, lock_timeout_s: float | None = None, **kwargs) -> Engine:
    """Build an engine for ``url``; with ``check`` it connects once so a bad URL fails here.

    ``lock_timeout_s`` bounds how long a statement waits for a lock another connection
    holds (SQLite ``busy_timeout``, PostgreSQL ``lock_timeout``): a table locked for a
    minute then fails fast with ``StoreError`` instead of hanging the thread.

    Raises ConfigError for a URL that cannot work at all, StoreError when the database
    cannot be reached or opened (the message names the URL without its password).
    """
    parsed = normalize_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().resolve().parent
            if not folder.exists():
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StoreError(f"cannot open database {safe_url(parsed)}: {exc.strerror}") from None
    else:
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("connect_timeout", 5)
        if lock_timeout_s is not None:
            # added to any options the URL already carries (e.g. a search_path)
            given = parsed.query.get("options", "")
            given = " ".join(given) if isinstance(given, tuple) else given
            connect_args["options"] = f"{given} -c lock_timeout={int(lock_timeout_s * 1000)}".strip()
        kwargs["connect_args"] = connect_args
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise ConfigError(f"cannot use database {safe_url(parsed)}: {exc}") from None
    if backend == "sqlite":
        busy = SQLITE_BUSY_MS if lock_timeout_s is None else int(lock_timeout_s * 1000)
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_ms=busy))
    if check:
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open database {safe_url(parsed)}: {_reason(exc)}") from None
    return engine


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def create_schema(engine: Engine) -> None:
    """Create missing tables and indexes (existing ones are left alone)."""
    try:
        Base.metadata.create_all(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create tables in {safe_url(engine.url)}: {_reason(exc)}") from None


def drop_schema(engine: Engine) -> None:
    """Drop every table (tests and demo resets only)."""
    Base.metadata.drop_all(engine)
