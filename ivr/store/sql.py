"""``SqlStore``: the ``ivr.ports.Store`` the call runner uses, plus the operator queries.

Every method opens its own connection and transaction, so one store serves a thread pool.
Each call-log write commits at once: a process that dies mid-call keeps what happened so far.
Every database failure leaves as ``StoreError`` whose message holds no personal data.

Call-log methods take optional ``op_id`` (and ``call_id`` / ``recording_id``) keywords:
``JournalingStore`` uses them to replay journaled operations exactly once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from typing import Iterator

from sqlalchemy import Connection, Engine, and_, delete, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from ivr.ports import CallEventRecord, CallInfo, RecipientInfo
from ivr.store import protect
from ivr.store.db import create_schema, make_engine
from ivr.store.guard import guarded, now
from ivr.store.models import (
    DEFAULT_DOCUMENTS, AppliedOp, Call, CallEvent, FollowUp, Recipient, Recording,
    TrainingUtterance, UtcDateTime,
)
from ivr.store.operators import OperatorQueries
from ivr.store.outbound import OutboundQueries
from ivr.store.views import CallDetail, CallSummary, EventView, RecordingView

_UNKNOWN_CALLERS = frozenset({"", "unknown", "anonymous", "restricted", "private"})


def documents_of(stored: str) -> tuple[str, ...]:
    docs = tuple(d.strip() for d in (stored or "").split(";") if d.strip())
    return docs or DEFAULT_DOCUMENTS


def _jsonable(value: object) -> object:
    # detail dicts come from the call runner; make sure the JSON column can take them
    return json.loads(json.dumps(value, default=str))


class SqlStore(OperatorQueries, OutboundQueries):
    """The data layer on one SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, secret: bytes):
        self.engine = engine
        self.protector = protect.Protector(secret)
        self._p = self.protector

    @classmethod
    def from_settings(cls, settings, *, check: bool = True, create: bool = True) -> "SqlStore":
        """Engine from ``settings.db_url``, tables created when missing."""
        engine = make_engine(settings.db_url, check=check, lock_timeout_s=settings.db_timeout_s)
        if create:
            create_schema(engine)
        return cls(engine, settings.secret())

    def _read(self) -> Connection:
        """A connection for read-only work.  On PostgreSQL it runs in autocommit: a lookup is
        then one round trip instead of BEGIN, SELECT and ROLLBACK."""
        engine = self.engine
        if getattr(self, "_read_for", None) is not engine:
            self._read_engine = (engine if engine.dialect.name == "sqlite"
                                 else engine.execution_options(isolation_level="AUTOCOMMIT"))
            self._read_for = engine
        return self._read_engine.connect()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def _insert(self, conn: Connection, model):
        dialect = sqlite_dialect if conn.dialect.name == "sqlite" else pg_dialect
        return dialect.insert(model)

    def _claim(self, conn: Connection, op_id: str | None) -> bool:
        """Record a journal op as applied; False when it already was (skip it)."""
        if op_id is None:
            return True
        stmt = (self._insert(conn, AppliedOp).values(op_id=op_id, at=now()).on_conflict_do_nothing()
                .returning(AppliedOp.op_id))    # rowcount of an INSERT is not reliable on every driver
        return conn.execute(stmt).first() is not None

    def probe(self, timeout_s: float):
        """Whether lookups and call-log writes would get through within ``timeout_s``
        (see :mod:`ivr.store.probe`); never raises."""
        from ivr.store.probe import probe

        return probe(self.engine, timeout_s)

    # --- the call runner's port ----------------------------------------------------
    @guarded
    def lookup(self, nik: str) -> RecipientInfo | None:
        with self._read() as conn:
            row = conn.execute(
                select(Recipient.status, Recipient.name, Recipient.phase, Recipient.collection_date,
                       Recipient.time_start, Recipient.time_end, Recipient.place, Recipient.address,
                       Recipient.documents, Recipient.collected_on)
                .where(Recipient.nik_hash == self._p.nik_hash(nik))
            ).first()
        if row is None:
            return None
        return RecipientInfo(
            status=row.status, name=row.name, phase=row.phase or "",
            collection_date=row.collection_date, time_start=row.time_start, time_end=row.time_end,
            place=row.place or "", address=row.address or "", documents=documents_of(row.documents),
            collected_on=row.collected_on,
        )

    @guarded
    def start_call(self, info: CallInfo, started: dt.datetime, *, call_id: str | None = None,
                   op_id: str | None = None) -> str:
        cid = call_id or str(uuid.uuid4())
        caller = (info.caller or "").strip()
        known = caller.lower() not in _UNKNOWN_CALLERS
        values = dict(
            id=cid, uniqueid=info.uniqueid[:64], started=started, channel=protect.mask_channel(info.channel)[:120],
            caller_hash=self._p.phone_hash(caller) if known else None,
            caller_masked=protect.mask_phone(caller) if known else "",
            caller_enc=self._p.encrypt(caller) if known else None,
        )
        with self._tx() as conn:
            if self._claim(conn, op_id):
                stmt = self._insert(conn, Call).values(**values)
                if call_id is not None:     # a replayed start may already be there
                    stmt = stmt.on_conflict_do_nothing()
                conn.execute(stmt)
        return cid

    def _event_row(self, call_id: str, seq: int, event: CallEventRecord) -> dict:
        detail = _jsonable(event.detail or {})
        keys = protect.mask_digits(event.keys)
        transcript = protect.mask_spoken(event.transcript)
        masked_detail, detail_changed = protect.scrub(detail)
        secret = None
        if keys != event.keys or transcript != event.transcript or detail_changed:
            secret = self._p.encrypt(json.dumps(
                {"keys": event.keys, "transcript": event.transcript, "detail": detail}))
        return dict(call_id=call_id, seq=seq, at=event.at, kind=event.kind[:20], state=event.state[:40],
                    prompts=list(event.prompts), keys=keys[:64], transcript=transcript,
                    confidence=event.confidence, detail=masked_detail, secret_enc=secret)

    @guarded
    def add_event(self, call_id: str, event: CallEventRecord, *, op_id: str | None = None) -> None:
        self.add_events(call_id, (event,), op_id=op_id)

    @guarded
    def add_events(self, call_id: str, events, *, op_id: str | None = None) -> None:
        """Several steps of one call in one transaction (the call runner batches the
        steps between two waits on the caller)."""
        events = tuple(events)
        if not events:
            return
        with self._tx() as conn:
            if not self._claim(conn, op_id):
                return
            # One writer per call (its runner, or the journal replaying it), so the
            # next sequence number can be read once for the batch.
            base = conn.execute(select(func.coalesce(func.max(CallEvent.seq), 0))
                                .where(CallEvent.call_id == call_id)).scalar()
            conn.execute(self._insert(conn, CallEvent),
                         [self._event_row(call_id, base + i, e) for i, e in enumerate(events, start=1)])
            for event in events:
                if event.kind == "lookup":
                    detail = event.detail if isinstance(event.detail, dict) else {}
                    status = str(detail.get("status") or event.state or "")[:20]
                    conn.execute(update(Call).where(Call.id == call_id).values(lookup_status=status or None))

    @guarded
    def add_recording(self, call_id: str, path: str, purpose: str, duration_ms: int, *,
                      recording_id: str | None = None, op_id: str | None = None) -> str:
        rid = recording_id or str(uuid.uuid4())
        with self._tx() as conn:
            if self._claim(conn, op_id):
                conn.execute(self._insert(conn, Recording).values(
                    id=rid, call_id=call_id, path=str(path), purpose=purpose[:20],
                    duration_ms=int(duration_ms or 0), created=now()))
        return rid

    @guarded
    def set_call_nik(self, call_id: str, nik: str, *, op_id: str | None = None) -> None:
        with self._tx() as conn:
            if self._claim(conn, op_id):
                conn.execute(update(Call).where(Call.id == call_id).values(
                    nik_hash=self._p.nik_hash(nik), nik_masked=protect.mask(nik)[:16],
                    nik_enc=self._p.encrypt(nik)))

    @guarded
    def finish_call(self, call_id: str, ended: dt.datetime, outcome: str, end_state: str,
                    input_mode: str, *, op_id: str | None = None) -> None:
        with self._tx() as conn:
            if not self._claim(conn, op_id):
                return
            conn.execute(update(Call).where(Call.id == call_id).values(
                ended=ended, outcome=outcome[:32], end_state=end_state[:40], input_mode=input_mode[:8]))
            started = conn.execute(select(Call.started).where(Call.id == call_id)).scalar()
            if started is not None:
                duration = (_aware(ended) - started).total_seconds()
                conn.execute(update(Call).where(Call.id == call_id).values(duration_s=round(duration, 3)))

    @guarded
    def add_follow_up(self, call_id: str, reason: str, detail: str = "", *,
                      op_id: str | None = None) -> None:
        masked = protect.mask_spoken(detail or "")
        t = now()
        with self._tx() as conn:
            if self._claim(conn, op_id):
                conn.execute(self._insert(conn, FollowUp).values(
                    call_id=call_id, reason=reason[:20], state="open", detail=masked,
                    detail_enc=self._p.encrypt(detail) if masked != (detail or "") else None,
                    created=t, updated=t))

    @guarded
    def forget_ops(self, op_ids: list[str]) -> None:
        """Drop applied-op markers the journal no longer holds (keeps the table small)."""
        with self._tx() as conn:
            for i in range(0, len(op_ids), 500):
                conn.execute(delete(AppliedOp).where(AppliedOp.op_id.in_(op_ids[i:i + 500])))

    # --- training data ----------------------------------------------------------------
    @guarded
    def save_training_utterance(self, call_id: str | None, path: str, digits: str) -> int:
        with self._tx() as conn:
            return conn.execute(self._insert(conn, TrainingUtterance).values(
                call_id=call_id, path=str(path), digits_enc=self._p.encrypt(digits), created=now())
            ).inserted_primary_key[0]

    @guarded
    def training_utterances(self, since: dt.datetime | None = None) -> list[tuple[str, str, dt.datetime]]:
        """(path, digits, created) of confirmed NIK utterances, oldest first (for model training)."""
        q = select(TrainingUtterance.path, TrainingUtterance.digits_enc, TrainingUtterance.created)
        if since is not None:
            q = q.where(TrainingUtterance.created >= since)
        with self._read() as conn:
            rows = conn.execute(q.order_by(TrainingUtterance.id)).all()
        return [(r.path, self._p.decrypt(r.digits_enc), r.created) for r in rows]

    @guarded
    def delete_training_utterances(self, before: dt.datetime | None = None) -> list[str]:
        """Forget confirmed NIK utterances (all, or those older than ``before``); returns
        their audio paths so the caller can remove the files."""
        where = [TrainingUtterance.created < before] if before is not None else []
        with self._tx() as conn:
            paths = [r.path for r in conn.execute(select(TrainingUtterance.path).where(*where))]
            conn.execute(delete(TrainingUtterance).where(*where))
        return paths

    # --- calls for operators ----------------------------------------------------------
    def _call_filters(self, since, until, outcome, input_mode, nik, follow_up) -> list:
        conds = []
        if since is not None:
            conds.append(Call.started >= since)
        if until is not None:
            conds.append(Call.started < until)
        if outcome:
            conds.append(Call.outcome == outcome)
        if input_mode:
            conds.append(Call.input_mode == input_mode)
        if nik:
            conds.append(Call.nik_hash == self._p.nik_hash(nik))
        if follow_up is not None:
            has = select(FollowUp.id).where(FollowUp.call_id == Call.id).exists()
            conds.append(has if follow_up else ~has)
        return conds

    @guarded
    def list_calls(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                   outcome: str | None = None, input_mode: str | None = None, nik: str | None = None,
                   follow_up: bool | None = None, limit: int = 50, offset: int = 0,
                   before: tuple[dt.datetime, str] | None = None) -> list[CallSummary]:
        """Calls newest first.  Page with ``offset`` or, faster on deep pages, with
        ``before=(started, id)`` of the last call of the previous page."""
        conds = self._call_filters(since, until, outcome, input_mode, nik, follow_up)
        if before is not None:
            b_started, b_id = before
            conds.append(or_(Call.started < b_started, and_(Call.started == b_started, Call.id < b_id)))
        q = select(Call).where(*conds).order_by(Call.started.desc(), Call.id.desc()).limit(limit).offset(offset)
        with self._read() as conn:
            rows = conn.execute(q).all()
            reasons = self._first_reasons(conn, [r.id for r in rows])
        return [_summary(r, reasons.get(r.id)) for r in rows]

    @guarded
    def count_calls(self, *, since: dt.datetime | None = None, until: dt.datetime | None = None,
                    outcome: str | None = None, input_mode: str | None = None, nik: str | None = None,
                    follow_up: bool | None = None) -> int:
        conds = self._call_filters(since, until, outcome, input_mode, nik, follow_up)
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(Call).where(*conds)).scalar_one()

    def _first_reasons(self, conn: Connection, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = conn.execute(select(FollowUp.call_id, FollowUp.reason).where(FollowUp.call_id.in_(ids))
                            .order_by(FollowUp.id)).all()
        out: dict[str, str] = {}
        for call_id, reason in rows:
            out.setdefault(call_id, reason)
        return out

    @guarded
    def find_call_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Call ids starting with ``prefix`` (the CLI shows the first 8 characters)."""
        safe = prefix.replace("%", "").replace("_", "")
        with self._read() as conn:
            return list(conn.execute(select(Call.id).where(Call.id.like(safe + "%")).limit(limit)).scalars())

    @guarded
    def get_call(self, call_id: str, *, reveal_by: str | None = None) -> CallDetail | None:
        """One call with its steps, recordings and follow-ups.  ``reveal_by`` (a user name)
        decrypts caller number, NIK, keys and transcripts and writes an audit entry."""
        with self._tx() as conn:
            row = conn.execute(select(Call).where(Call.id == call_id)).first()
            if row is None:
                return None
            events = conn.execute(select(CallEvent).where(CallEvent.call_id == call_id)
                                  .order_by(CallEvent.seq)).all()
            recs = conn.execute(select(Recording).where(Recording.call_id == call_id)
                                .order_by(Recording.created, Recording.id)).all()
            follow_ids = conn.execute(select(FollowUp.id).where(FollowUp.call_id == call_id)
                                      .order_by(FollowUp.id)).scalars().all()
            follow_ups = tuple(self._follow_up(conn, fid, reveal=reveal_by is not None) for fid in follow_ids)
            if reveal_by is not None:
                self._audit(conn, reveal_by, "reveal_call", call_id, "")
        summary = _summary(row, follow_ups[0].reason if follow_ups else None)
        if reveal_by is not None:
            summary = _replace(summary, caller=self._p.decrypt_opt(row.caller_enc) or "",
                               nik=self._p.decrypt_opt(row.nik_enc))
        views = []
        for e in events:
            keys, transcript, detail = e.keys, e.transcript, e.detail or {}
            if reveal_by is not None and e.secret_enc:
                plain = json.loads(self._p.decrypt(e.secret_enc))
                keys, transcript, detail = plain["keys"], plain["transcript"], plain["detail"]
            views.append(EventView(seq=e.seq, at=e.at, kind=e.kind, state=e.state or "",
                                   prompts=tuple(e.prompts or ()), keys=keys, transcript=transcript,
                                   confidence=e.confidence, detail=detail))
        recordings = tuple(RecordingView(id=r.id, path=r.path, purpose=r.purpose,
                                         duration_ms=r.duration_ms, created=r.created) for r in recs)
        return CallDetail(call=summary, events=tuple(views), recordings=recordings,
                          follow_ups=follow_ups, revealed=reveal_by is not None)


def _summary(row, follow_up: str | None) -> CallSummary:
    return CallSummary(
        id=row.id, uniqueid=row.uniqueid, started=row.started, ended=row.ended,
        caller=row.caller_masked or "", nik=row.nik_masked, outcome=row.outcome,
        end_state=row.end_state, input_mode=row.input_mode, lookup_status=row.lookup_status,
        duration_s=row.duration_s, follow_up=follow_up,
    )


def _replace(summary: CallSummary, **changes) -> CallSummary:
    import dataclasses
    return dataclasses.replace(summary, **changes)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
