"""Engines and schema: SQLite (one file, WAL) by default, PostgreSQL (psycopg 3) for many instances.

The store is synchronous; the call runner and the web app call it off the event loop.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from sqlalchemy import Engine, bindparam, create_engine, event, make_url, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ivr.errors import ConfigError, StoreError
from ivr.store import protect
from ivr.store.files import prepare_sqlite
from ivr.store.models import Base, Call, SchemaUpgrade

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
    if backend != "sqlite":
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
    if backend == "sqlite" and parsed.database and parsed.database != ":memory:" \
            and not parsed.database.startswith("file:"):
        try:
            # the file holds personal data: 0600 from its first byte, and its -wal/-shm too
            prepare_sqlite(Path(parsed.database).expanduser().resolve())
        except OSError as exc:
            if check:
                engine.dispose()
                raise StoreError(f"cannot open database {safe_url(parsed)}: {exc.strerror}") from None
            # unchecked: the first use reports it, as for any database that cannot be opened
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
    """Create missing tables and indexes (existing ones are left alone), then run the
    data upgrades this database has not had yet."""
    try:
        Base.metadata.create_all(engine)
        upgrade(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot create tables in {safe_url(engine.url)}: {_reason(exc)}") from None


def _mask_call_channels(conn) -> int:
    """Older versions stored ``agi_channel`` as sent, which may hold the caller's number."""
    changed, after = 0, ""
    while True:
        rows = conn.execute(select(Call.id, Call.channel).where(Call.id > after).order_by(Call.id)
                            .limit(UPGRADE_BATCH)).all()
        if not rows:
            return changed
        fixes = [{"cid": cid, "masked": protect.mask_channel(channel)[:120]}
                 for cid, channel in rows if channel and protect.mask_channel(channel) != channel]
        if fixes:
            conn.execute(update(Call).where(Call.id == bindparam("cid")).values(channel=bindparam("masked")), fixes)
            changed += len(fixes)
        after = rows[-1][0]


# name -> function(connection); each runs once per database, in one transaction with its record
UPGRADES = (("mask_call_channels", _mask_call_channels),)
UPGRADE_BATCH = 5000


def upgrade(engine: Engine) -> list[str]:
    """Run the data upgrades not yet recorded in ``schema_upgrades``; their names."""
    with engine.connect() as conn:
        done = set(conn.execute(select(SchemaUpgrade.name)).scalars())
    ran = []
    for name, step in UPGRADES:
        if name in done:
            continue
        with engine.begin() as conn:
            # recorded first: a second instance starting at the same time waits here, then skips
            inserted = conn.execute(_insert_ignore(conn, SchemaUpgrade).values(name=name, at=_now())
                                    .returning(SchemaUpgrade.name)).first()
            if inserted is None:
                continue
            count = step(conn)
        log.info("data upgrade %s: %s row(s) changed", name, count)
        ran.append(name)
    return ran


def _insert_ignore(conn, model):
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(model).on_conflict_do_nothing()


def _now():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


def drop_schema(engine: Engine) -> None:
    """Drop every table (tests and demo resets only)."""
    Base.metadata.drop_all(engine)
