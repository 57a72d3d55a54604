"""Importing recipient lists: validate every row, then apply all or nothing (upsert by NIK).

Rows stream from the file into a temporary staging table (SQLite: executemany in batches;
PostgreSQL: COPY), so a million-row list needs neither much memory nor a long lock on the
live ``recipients`` table: only the final merge (one INSERT ... SELECT ... ON CONFLICT)
writes to it, inside the same transaction.  Any bad row means nothing is merged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import (
    Boolean, Column, Connection, Date, Engine, MetaData, String, Table, Text, Time, func, insert, inspect,
    literal, select, true,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import SQLAlchemyError

from ivr.errors import ImportRejected, StoreError
from ivr.store import protect
from ivr.store.demo import DEMO_NIKS, demo_rows
from ivr.store.guard import now, short
from ivr.store.models import PendingUpload, Recipient, RecipientImport, UtcDateTime
from ivr.store.rows import CleanRow, Problems, clean_row, records

__all__ = ["ImportReport", "ImportProgress", "import_csv", "import_file", "validate_csv", "stage_upload",
           "apply_upload", "pending_upload", "discard_upload", "sweep_uploads", "load_demo", "ensure_demo",
           "DEMO_NIKS"]

log = logging.getLogger(__name__)

BATCH = 5000
_STAGE_COLS = ("nik_hash", "nik_masked", "nik_enc", "name", "phone_hash", "phone_masked", "phone_enc",
               "status", "phase", "collection_date", "time_start", "time_end", "place", "address",
               "documents", "collected_on")


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, for a dry run, would do)."""

    source: str
    rows: int                          # good rows read
    inserted: int                      # new NIKs (0 when rejected)
    updated: int                       # NIKs already present
    problems: tuple[tuple[int, str], ...]
    problem_count: int
    applied: bool
    batch: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


@dataclass
class ImportProgress:
    """Live figures of a running import, written by the importing thread and read by
    whoever shows progress (the web page's import job)."""

    total_bytes: int = 0
    bytes_read: int = 0
    rows: int = 0
    phase: str = "check"                 # check | merge

    def update(self, nbytes: int) -> None:
        self.bytes_read += nbytes

    @property
    def percent(self) -> int:
        if self.phase == "merge":
            return 100
        return min(99, self.bytes_read * 100 // self.total_bytes) if self.total_bytes else 0


# A record check the caller adds to the store's own (the web upload refuses formula cells).
RecordCheck = Callable[[int, dict, Problems], None]


def _protector_engine(store_or_engine, secret: bytes | None) -> tuple[Engine, protect.Protector]:
    if isinstance(store_or_engine, Engine):
        if secret is None:
            raise ValueError("importing into a bare engine needs secret= (the NIK hashing key)")
        return store_or_engine, protect.Protector(secret)
    return store_or_engine.engine, store_or_engine.protector


def import_csv(store_or_engine, path: str | Path, *, progress: bool = True, by: str = "",
               secret: bytes | None = None) -> ImportReport:
    """Validate and apply a CSV (or XLSX) list.  Raises ImportRejected when any row is bad."""
    engine, prot = _protector_engine(store_or_engine, secret)
    rows, problems, bar = _reader(Path(path), progress=progress)
    try:
        report = _apply(engine, prot, str(path), rows, problems, apply=True, by=by, is_demo=False, progress=bar)
    finally:
        if bar:
            bar.close()
    if not report.ok:
        raise ImportRejected(list(report.problems))
    return report


import_file = import_csv


def validate_csv(store_or_engine, path: str | Path, *, progress: bool = False, secret: bytes | None = None,
                 watch: ImportProgress | None = None, check: RecordCheck | None = None) -> ImportReport:
    """Check a list and count what it would insert/update, changing nothing."""
    engine, prot = _protector_engine(store_or_engine, secret)
    rows, problems, bar = _reader(Path(path), progress=progress, watch=watch, check=check)
    try:
        return _apply(engine, prot, str(path), rows, problems, apply=False, by="", is_demo=False, progress=bar)
    finally:
        if bar:
            bar.close()


def _token_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def stage_upload(store, path: str | Path, token: str, *, source: str, by: str, size: int = 0,
                 watch: ImportProgress | None = None, check: RecordCheck | None = None) -> ImportReport:
    """Check a list; when every row is good, keep its rows in the database, protected
    like ``recipients`` (hashed, masked, encrypted), until ``apply_upload(token)``.

    The file is not needed afterwards, so the caller deletes it at once: between the
    check and the apply no file with NIKs is left on disk.  Rows are written in short
    transactions, so on SQLite the call log keeps writing while a long list is checked.
    """
    engine, prot = store.engine, store.protector
    rows, problems, bar = _reader(Path(path), progress=False, watch=watch, check=check)
    stage = _stage_table(f"upload_stage_{int(time.time()):x}_{_token_id(token)[:12]}", temporary=False)
    good = 0
    try:
        with engine.connect() as conn:
            stage.create(conn)
            conn.commit()
            kept = False
            try:
                with _stager(conn, stage) as write:
                    buffer: list[tuple] = []
                    for _line, row in rows:
                        good += 1
                        if problems:
                            continue
                        buffer.append(_protected(prot, row))
                        if len(buffer) >= BATCH:
                            write(buffer)
                            buffer = []
                            if conn.dialect.name == "sqlite":
                                _raw_commit(conn)      # let the call log write between batches
                    if buffer and not problems:
                        write(buffer)
                _raw_commit(conn)
                if good == 0 and not problems:
                    problems.add(2, "the file has a header but no rows")
                if problems:
                    return ImportReport(source, good, 0, 0, tuple(problems.final()), problems.count, False)
                updated = _count_existing(conn, stage)
                conn.execute(insert(PendingUpload).values(id=_token_id(token), stage=stage.name, created=now(),
                                                          source=source[:200], size=size, rows=good, by=by[:100]))
                conn.commit()
                kept = True
                return ImportReport(source, good, good - updated, updated, (), 0, False)
            finally:
                if not kept:
                    conn.rollback()
                    with contextlib.suppress(SQLAlchemyError):
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
                        conn.commit()
    except SQLAlchemyError as exc:
        raise StoreError(f"check of {source}: database error ({short(exc)})") from None


def _raw_commit(conn: Connection) -> None:
    # the stager writes through the driver's own cursor, outside SQLAlchemy's transaction
    conn.connection.dbapi_connection.commit()


def pending_upload(store, token: str) -> dict | None:
    """What a checked upload holds (source, size, rows, created), or None when unknown."""
    try:
        with store.engine.connect() as conn:
            row = conn.execute(select(PendingUpload).where(PendingUpload.id == _token_id(token))).first()
    except SQLAlchemyError as exc:
        raise StoreError(f"pending upload: database error ({short(exc)})") from None
    if row is None:
        return None
    return {"source": row.source, "size": row.size, "rows": row.rows, "created": row.created, "by": row.by}


def apply_upload(store, token: str, *, by: str, max_age_s: float | None = None,
                 watch: ImportProgress | None = None) -> ImportReport | None:
    """Merge a checked upload's rows into ``recipients`` in one transaction (all or
    nothing); None when the token is unknown, already applied or older than ``max_age_s``."""
    engine = store.engine
    batch_id = uuid.uuid4().hex[:12]
    if watch is not None:
        watch.phase = "merge"
    try:
        with engine.connect() as conn, conn.begin() as tx:
            # claiming the pending row first: a second apply of the same token finds nothing
            claimed = conn.execute(PendingUpload.__table__.delete().where(PendingUpload.id == _token_id(token))
                                   .returning(PendingUpload.stage, PendingUpload.created, PendingUpload.source,
                                              PendingUpload.rows)).first()
            if claimed is None:
                return None
            stage = _stage_table(claimed.stage, temporary=False)
            if max_age_s is not None and (now() - claimed.created).total_seconds() > max_age_s:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
                tx.commit()
                return None
            at = now()
            conn.execute(insert(RecipientImport).values(id=batch_id, at=at, source=claimed.source[-400:],
                                                        rows=claimed.rows, inserted=0, updated=0, by=by))
            updated = _count_existing(conn, stage)
            _merge(conn, stage, at, batch_id, False)
            conn.execute(RecipientImport.__table__.update().where(RecipientImport.id == batch_id)
                         .values(inserted=claimed.rows - updated, updated=updated))
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
            tx.commit()
    except SQLAlchemyError as exc:
        raise StoreError(f"import of a checked list: database error ({short(exc)})") from None
    return ImportReport(claimed.source, claimed.rows, claimed.rows - updated, updated, (), 0, True, batch_id)


def discard_upload(store, token: str) -> bool:
    """Forget a checked upload (cancelled): its staged rows are dropped."""
    try:
        with store.engine.begin() as conn:
            claimed = conn.execute(PendingUpload.__table__.delete().where(PendingUpload.id == _token_id(token))
                                   .returning(PendingUpload.stage)).first()
            if claimed is not None:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_stage_table(claimed.stage, temporary=False).name}")
    except SQLAlchemyError as exc:
        raise StoreError(f"discarding an upload: database error ({short(exc)})") from None
    return claimed is not None


_STAGE_NAME = re.compile(r"^upload_stage_([0-9a-f]{1,12})_[0-9a-f]{12}$")


def sweep_uploads(store, max_age_s: float) -> int:
    """Drop checked uploads older than ``max_age_s`` and staging tables left by a check
    that never finished (a crash); returns how many were dropped."""
    cutoff = now() - dt.timedelta(seconds=max_age_s)
    dropped = 0
    try:
        with store.engine.begin() as conn:
            old = conn.execute(PendingUpload.__table__.delete().where(PendingUpload.created < cutoff)
                               .returning(PendingUpload.stage)).scalars().all()
            live = set(conn.execute(select(PendingUpload.stage)).scalars())
            names = set(old) | {n for n in inspect(conn).get_table_names() if _STAGE_NAME.match(n)}
            for name in sorted(names - live):
                m = _STAGE_NAME.match(name)
                if m and (name in old or int(m.group(1), 16) < cutoff.timestamp()):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
                    dropped += 1
    except SQLAlchemyError as exc:
        raise StoreError(f"sweeping uploads: database error ({short(exc)})") from None
    return dropped


def load_demo(store, today: dt.date | None = None) -> ImportReport:
    """Upsert ~20 demo recipients (names start with 'DEMO', ``is_demo`` set), scheduled
    relative to ``today``.  Their NIKs are in ``DEMO_NIKS``."""
    engine, prot = _protector_engine(store, None)
    rows = demo_rows(today or dt.date.today())
    problems = Problems()
    return _apply(engine, prot, "demo", ((i + 2, r) for i, r in enumerate(rows)), problems,
                  apply=True, by="demo", is_demo=True, progress=None)


def ensure_demo(store, today: dt.date | None = None) -> bool:
    """Load the demo recipients when the store has no recipients at all (``IVR_DEMO_DATA``)."""
    if store.recipient_count() > 0:
        return False
    load_demo(store, today)
    return True


def _reader(path: Path, *, progress: bool, watch: ImportProgress | None = None,
            check: RecordCheck | None = None):
    """(rows, problems, bar): the good rows of a file as they are read, the problems found."""
    problems = Problems()
    if not path.is_file():
        problems.add(0, f"no such file: {path.name}")
        return iter(()), problems, None
    bar = _bar(path, progress)
    if watch is not None:
        watch.total_bytes = path.stat().st_size

    def on_bytes(n: int) -> None:
        if bar:
            bar.update(n)
        if watch is not None:
            watch.update(n)

    seen: set[int] = set()

    def rows() -> Iterator[tuple[int, CleanRow]]:
        for line, rec in records(path, problems, on_bytes if bar or watch else None,
                                 formulas=check is not None):
            if watch is not None:
                watch.rows += 1
            if check is not None:
                check(line, rec, problems)
            row = clean_row(line, rec, seen, problems)
            if row is not None:
                yield line, row

    return rows(), problems, bar


def _bar(path: Path, progress: bool):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=f"import {path.name}",
                disable=None, mininterval=0.5)


def _apply(engine: Engine, prot: protect.Protector, source: str, rows: Iterable[tuple[int, CleanRow]],
           problems: Problems, *, apply: bool, by: str, is_demo: bool, progress) -> ImportReport:
    batch_id = uuid.uuid4().hex[:12]
    started = time.perf_counter()
    good = 0
    try:
        with engine.connect() as conn, conn.begin() as tx:
            stage = _stage_table()
            stage.create(conn, checkfirst=False)
            try:
                with _stager(conn, stage) as write:
                    buffer: list[tuple] = []
                    for _line, row in rows:
                        good += 1
                        if problems:
                            continue        # keep validating, stop staging: nothing will be applied
                        buffer.append(_protected(prot, row))
                        if len(buffer) >= BATCH:
                            write(buffer)
                            buffer = []
                    if buffer and not problems:
                        write(buffer)
                if good == 0 and not problems:
                    problems.add(2, "the file has a header but no rows")
                if problems or not apply:
                    updated = _count_existing(conn, stage) if not problems else 0
                    tx.rollback()
                    return ImportReport(source, good, good - updated if not problems else 0, updated,
                                        tuple(problems.final()), problems.count, False)
                at = now()
                # the import record first: it takes SQLite's write lock before we read the live table
                conn.execute(insert(RecipientImport).values(id=batch_id, at=at, source=source[-400:],
                                                            rows=good, inserted=0, updated=0, by=by))
                merge_start = time.perf_counter()
                updated = _count_existing(conn, stage)
                _merge(conn, stage, at, batch_id, is_demo)
                conn.execute(RecipientImport.__table__.update().where(RecipientImport.id == batch_id)
                             .values(inserted=good - updated, updated=updated))
                tx.commit()
                # on SQLite the merge holds the write lock: call-log writes wait (or journal) meanwhile
                log.info("import %s: %d rows checked and staged in %.1f s, merged in %.1f s",
                         batch_id, good, merge_start - started, time.perf_counter() - merge_start)
            finally:
                with contextlib.suppress(SQLAlchemyError):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {stage.name}")
                    conn.commit()
    except SQLAlchemyError as exc:
        raise StoreError(f"import of {Path(source).name}: database error ({short(exc)})") from None
    return ImportReport(source, good, good - updated, updated, (), 0, True, batch_id)


def _protected(prot: protect.Protector, row: CleanRow) -> tuple:
    phone = row.phone or None
    return (prot.nik_hash(row.nik), protect.mask(row.nik), prot.encrypt(row.nik), row.name,
            prot.phone_hash(phone) if phone else None, protect.mask_phone(phone) if phone else None,
            prot.encrypt(phone) if phone else None, row.status, row.phase, row.collection_date,
            row.time_start, row.time_end, row.place, row.address, row.documents, row.collected_on)


def _stage_table(name: str | None = None, *, temporary: bool = True) -> Table:
    # a fresh name per import: two imports on one PostgreSQL session never collide
    return Table(
        name or f"stage_recipients_{uuid.uuid4().hex[:8]}", MetaData(),
        Column("nik_hash", String(64)), Column("nik_masked", String(16)), Column("nik_enc", String(100)),
        Column("name", String(200)), Column("phone_hash", String(64)), Column("phone_masked", String(20)),
        Column("phone_enc", String(100)), Column("status", String(16)), Column("phase", String(60)),
        Column("collection_date", Date), Column("time_start", Time), Column("time_end", Time),
        Column("place", String(200)), Column("address", String(400)), Column("documents", Text),
        Column("collected_on", Date),
        prefixes=["TEMPORARY"] if temporary else [],
    )


@contextlib.contextmanager
def _stager(conn: Connection, stage: Table):
    """Yield a function that appends a batch of row tuples to the staging table."""
    if conn.dialect.name == "postgresql":
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {stage.name} ({', '.join(_STAGE_COLS)}) FROM STDIN") as copy:
            def write(batch: list[tuple]) -> None:
                for row in batch:
                    copy.write_row(row)
            yield write
    else:
        # plain DBAPI executemany: SQLAlchemy's per-row parameter handling costs more than SQLite's
        # insert; dates and times are converted with the dialect's own processors, so they read back
        cursor = conn.connection.dbapi_connection.cursor()
        sql = f"INSERT INTO {stage.name} ({', '.join(_STAGE_COLS)}) VALUES ({', '.join('?' * len(_STAGE_COLS))})"
        procs = [(i, stage.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)) for i, name in enumerate(_STAGE_COLS)
                 if name in ("collection_date", "time_start", "time_end", "collected_on")]

        def write(batch: list[tuple]) -> None:
            rows = []
            for row in batch:
                row = list(row)
                for i, proc in procs:
                    if row[i] is not None:
                        row[i] = proc(row[i])
                rows.append(row)
            cursor.executemany(sql, rows)
        try:
            yield write
        finally:
            cursor.close()


def _count_existing(conn: Connection, stage: Table) -> int:
    return conn.execute(select(func.count()).select_from(stage)
                        .join(Recipient.__table__, Recipient.nik_hash == stage.c.nik_hash)).scalar_one()


def _merge(conn: Connection, stage: Table, at: dt.datetime, batch_id: str, is_demo: bool) -> None:
    dialect = pg_dialect if conn.dialect.name == "postgresql" else sqlite_dialect
    cols = list(_STAGE_COLS) + ["updated_at", "batch", "is_demo"]
    src = (select(*[stage.c[c] for c in _STAGE_COLS], literal(at, UtcDateTime()), literal(batch_id),
                  literal(is_demo, Boolean()))
           .where(true())                  # SQLite needs a WHERE before ON CONFLICT in INSERT ... SELECT
           .order_by(stage.c.nik_hash))    # index-order inserts: far fewer page splits
    ins = dialect.insert(Recipient).from_select(cols, src)
    ins = ins.on_conflict_do_update(index_elements=["nik_hash"],
                                    set_={c: ins.excluded[c] for c in cols if c != "nik_hash"})
    conn.execute(ins)
