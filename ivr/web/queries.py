"""Read queries the web app needs beyond ``SqlStore``'s: keyset-paged call lists with
every filter of the calls page, recordings by id, and the overview's figures.

They take the store's engine and use its models; all are blocking (run them from sync
route handlers, which FastAPI runs in its thread pool).  The call list pages by
``(started, id)`` so page 10,000 costs what page 1 costs; ``explain_calls`` shows the
plan (benchmarks/web_calls_paging.py and a test check it uses an index).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import statistics
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, and_, exists, func, or_, select

from ivr.store.models import Call, CallEvent, FollowUp, Recording
from ivr.store.views import CallSummary

FOLLOW_UP_FILTERS = ("none", "any", "open", "assigned", "done", "not_done")
IN_LIMIT = 2000         # follow-up filters matching at most this many follow-ups start from them
SAMPLE_CALLS = 5000     # the overview's speech figures and median come from this many latest calls


@dataclass(frozen=True)
class CallFilter:
    since: dt.datetime | None = None      # inclusive, aware
    until: dt.datetime | None = None      # exclusive, aware
    outcome: str | None = None
    input_mode: str | None = None
    follow_up: str | None = None          # one of FOLLOW_UP_FILTERS
    has_recording: bool | None = None


@dataclass(frozen=True)
class CallRow:
    call: CallSummary
    follow_up_state: str | None           # "open"/"assigned"/"done" of its first follow-up
    recordings: int


@dataclass(frozen=True)
class CallPage:
    rows: tuple[CallRow, ...]
    next_cursor: str | None


def encode_cursor(started: dt.datetime, call_id: str) -> str:
    raw = f"{started.astimezone(dt.timezone.utc).isoformat()}|{call_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    """Raise ValueError for anything that is not a cursor this module made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, call_id = raw.split("|", 1)
        started = dt.datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("bad cursor") from exc
    if started.tzinfo is None or len(call_id) > 36:
        raise ValueError("bad cursor")
    return started, call_id


def _conditions(f: CallFilter, conn: Connection) -> list:
    conds = []
    if f.since is not None:
        conds.append(Call.started >= f.since)
    if f.until is not None:
        conds.append(Call.started < f.until)
    if f.outcome:
        conds.append(Call.outcome == f.outcome)
    if f.input_mode:
        conds.append(Call.input_mode == f.input_mode)
    if f.follow_up == "none":
        conds.append(~exists(select(FollowUp.id).where(FollowUp.call_id == Call.id)))
    elif f.follow_up:
        states = {"any": (), "not_done": ("open", "assigned")}.get(f.follow_up, (f.follow_up,))
        fu = select(FollowUp.call_id).where(FollowUp.call_id.is_not(None))
        if states:
            fu = fu.where(FollowUp.state.in_(states))
        matching = conn.execute(select(func.count()).select_from(fu.subquery())).scalar_one()
        if matching <= IN_LIMIT:
            # few: start from those follow-ups and sort their calls
            conds.append(Call.id.in_(fu))
        else:
            # many: walk the calls newest first and stop at a page full
            conds.append(exists(fu.where(FollowUp.call_id == Call.id)))
    if f.has_recording is not None:
        rec = exists(select(Recording.id).where(Recording.call_id == Call.id))
        conds.append(rec if f.has_recording else ~rec)
    return conds


def _page_query(f: CallFilter, cursor: str | None, limit: int, conn: Connection):
    conds = _conditions(f, conn)
    if cursor:
        started, call_id = decode_cursor(cursor)
        # the plain bound lets every planner seek the index; the OR breaks ties on equal start times
        conds.append(Call.started <= started)
        conds.append(or_(Call.started < started, and_(Call.started == started, Call.id < call_id)))
    return (select(Call).where(*conds).order_by(Call.started.desc(), Call.id.desc()).limit(limit + 1))


def list_calls(engine: Engine, f: CallFilter, *, cursor: str | None = None, limit: int = 50) -> CallPage:
    """Newest first; ``next_cursor`` is None on the last page."""
    limit = max(1, min(limit, 200))
    with engine.connect() as conn:
        rows = conn.execute(_page_query(f, cursor, limit, conn)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        ids = [r.id for r in rows]
        firsts: dict[str, tuple[str, str]] = {}
        counts: dict[str, int] = {}
        if ids:
            for call_id, reason, state in conn.execute(
                    select(FollowUp.call_id, FollowUp.reason, FollowUp.state)
                    .where(FollowUp.call_id.in_(ids)).order_by(FollowUp.id)):
                firsts.setdefault(call_id, (reason, state))
            counts = dict(conn.execute(select(Recording.call_id, func.count()).where(Recording.call_id.in_(ids))
                                       .group_by(Recording.call_id)).all())
    out = []
    for r in rows:
        reason, state = firsts.get(r.id, (None, None))
        out.append(CallRow(summary(r, reason), state, counts.get(r.id, 0)))
    next_cursor = encode_cursor(rows[-1].started, rows[-1].id) if more and rows else None
    return CallPage(tuple(out), next_cursor)


def summary(row, follow_up: str | None) -> CallSummary:
    return CallSummary(
        id=row.id, uniqueid=row.uniqueid, started=row.started, ended=row.ended,
        caller=row.caller_masked or "", nik=row.nik_masked, outcome=row.outcome, end_state=row.end_state,
        input_mode=row.input_mode, lookup_status=row.lookup_status, duration_s=row.duration_s,
        follow_up=follow_up)


def explain_calls(engine: Engine, f: CallFilter, *, cursor: str | None = None, limit: int = 50) -> str:
    """The database's plan for one page of the call list (SQLite or PostgreSQL)."""
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        stmt = _page_query(f, cursor, limit, conn)
        compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
        rows = conn.exec_driver_sql(prefix + str(compiled)).all()
    return "\n".join(" ".join(str(c) for c in r) for r in rows)


# --- recordings ------------------------------------------------------------------------

@dataclass(frozen=True)
class RecordingRef:
    id: str
    call_id: str
    path: str
    purpose: str
    duration_ms: int
    created: dt.datetime


def get_recording(engine: Engine, recording_id: str) -> RecordingRef | None:
    with engine.connect() as conn:
        r = conn.execute(select(Recording).where(Recording.id == recording_id)).first()
    return RecordingRef(r.id, r.call_id, r.path, r.purpose, r.duration_ms, r.created) if r else None


def recordings_of_calls(engine: Engine, call_ids: list[str],
                        purpose: str | None = None) -> dict[str, list[RecordingRef]]:
    if not call_ids:
        return {}
    q = select(Recording).where(Recording.call_id.in_(call_ids))
    if purpose:
        q = q.where(Recording.purpose == purpose)
    out: dict[str, list[RecordingRef]] = {}
    with engine.connect() as conn:
        for r in conn.execute(q.order_by(Recording.created, Recording.id)):
            ref = RecordingRef(r.id, r.call_id, r.path, r.purpose, r.duration_ms, r.created)
            out.setdefault(r.call_id, []).append(ref)
    return out


def follow_up_ids(engine: Engine, *, states: tuple[str, ...] = (), reason: str | None = None,
                  assignee: str | None = None, limit: int = 50, offset: int = 0) -> list[int]:
    q = select(FollowUp.id)
    if states:
        q = q.where(FollowUp.state.in_(states))
    if reason:
        q = q.where(FollowUp.reason == reason)
    if assignee:
        q = q.where(FollowUp.assignee == assignee)
    q = q.order_by(FollowUp.created.desc(), FollowUp.id.desc()).limit(limit).offset(offset)
    with engine.connect() as conn:
        return list(conn.execute(q).scalars())


# --- overview ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Overview:
    days: tuple[tuple[dt.date, int], ...]          # calls per local day, oldest first
    outcomes: tuple[tuple[str, int], ...]
    input_modes: tuple[tuple[str, int], ...]
    speech_heard: int                              # speech events with a non-empty result
    speech_missed: int                             # no_input events
    median_to_status_s: float | None               # call start -> lookup event
    status_samples: int
    open_follow_ups: tuple[tuple[str, int], ...]   # by reason, not done
    sampled_calls: int = 0                         # calls the speech figures and median come from

    @property
    def total(self) -> int:
        return sum(n for _, n in self.days)

    @property
    def recognition_rate(self) -> float | None:
        n = self.speech_heard + self.speech_missed
        return self.speech_heard / n if n else None


def overview(engine: Engine, first_day: dt.date, last_day: dt.date, tz: dt.tzinfo) -> Overview:
    """Figures for calls started on local days ``first_day`` .. ``last_day`` (inclusive)."""
    def start_of(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(), tz)

    since, until = start_of(first_day), start_of(last_day + dt.timedelta(days=1))
    in_range = and_(Call.started >= since, Call.started < until)
    days = []
    with engine.connect() as conn:
        day = first_day
        while day <= last_day:
            # one indexed range count per day: portable across SQLite/PostgreSQL time zone rules
            n = conn.execute(select(func.count()).select_from(Call).where(
                Call.started >= start_of(day), Call.started < start_of(day + dt.timedelta(days=1)))).scalar_one()
            days.append((day, n))
            day += dt.timedelta(days=1)
        outcomes = conn.execute(select(Call.outcome, func.count()).where(in_range).group_by(Call.outcome)
                                .order_by(func.count().desc())).all()
        modes = conn.execute(select(Call.input_mode, func.count()).where(in_range).group_by(Call.input_mode)
                             .order_by(func.count().desc())).all()
        # speech figures from the most recent calls only: a fixed cost however busy the period was
        recent = (select(Call.id, Call.started).where(in_range).order_by(Call.started.desc(), Call.id.desc())
                  .limit(SAMPLE_CALLS).subquery())
        events = conn.execute(
            select(recent.c.id, recent.c.started, CallEvent.kind, CallEvent.at, CallEvent.transcript != "")
            .join(CallEvent, CallEvent.call_id == recent.c.id)
            .where(CallEvent.kind.in_(("speech", "no_input", "lookup")))).all()
        sampled = conn.execute(select(func.count()).select_from(recent)).scalar_one()
        reasons = conn.execute(select(FollowUp.reason, func.count()).where(FollowUp.state != "done")
                               .group_by(FollowUp.reason).order_by(func.count().desc())).all()
    heard = missed = 0
    first_lookup: dict[str, float] = {}
    for call_id, started, kind, at, has_text in events:
        if kind == "speech" and has_text:
            heard += 1
        elif kind == "no_input":
            missed += 1
        elif kind == "lookup" and at is not None and started is not None:
            wait = (at - started).total_seconds()
            first_lookup[call_id] = min(wait, first_lookup.get(call_id, wait))
    waits = list(first_lookup.values())
    return Overview(
        days=tuple(days),
        outcomes=tuple((o or "unknown", n) for o, n in outcomes),
        input_modes=tuple((m or "unknown", n) for m, n in modes),
        speech_heard=heard, speech_missed=missed, sampled_calls=sampled,
        median_to_status_s=statistics.median(waits) if waits else None, status_samples=len(waits),
        open_follow_ups=tuple((r, n) for r, n in reasons),
    )


def place_texts(engine: Engine, limit: int = 2000) -> list[str]:
    """Distinct place names and addresses in the recipient list (what calls speak as
    dynamic texts), most used first; the prompts page offers to record them."""
    from ivr.store.models import Recipient

    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for column in (Recipient.place, Recipient.address):
            rows = conn.execute(select(column, func.count()).where(column != "").group_by(column)
                                .order_by(func.count().desc()).limit(limit))
            for text, n in rows:
                if text and text.strip():
                    counts[text] = counts.get(text, 0) + n
    return sorted(counts, key=lambda t: (-counts[t], t))[:limit]
