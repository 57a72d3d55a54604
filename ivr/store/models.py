"""Tables of the hotline's database (SQLAlchemy 2.x declarative).

Personal data columns come in threes: ``*_hash`` (keyed, for lookup), ``*_masked``
(display) and ``*_enc`` (encrypted, for an authorised reveal); see ``ivr.store.protect``.
Free text that may hold digits (keys pressed, transcripts, notes) is stored masked, with
the original in an encrypted ``secret_enc`` column.

Indexes follow the operator screens: calls are listed newest first, filtered by date,
outcome or input mode, and must stay fast with millions of rows.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, Text, Time,
    TypeDecorator, UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RECIPIENT_STATUSES = ("scheduled", "not_scheduled", "collected", "in_review", "rejected")
INPUT_MODES = ("keypad", "speech", "mixed", "none")
RECORDING_PURPOSES = ("nik", "confirm", "complaint", "other")
FOLLOW_UP_REASONS = ("not_found", "complaint", "callback", "repeated_failure", "system_fault", "rejected")
FOLLOW_UP_STATES = ("open", "assigned", "done")
USER_ROLES = ("operator", "admin")
from ivr.ports import DEFAULT_DOCUMENTS  # noqa: E402,F401  (re-exported for the store)


class Base(DeclarativeBase):
    pass


class UtcDateTime(TypeDecorator):
    """Timestamps are stored as naive UTC and read back timezone-aware (UTC).

    SQLite has no zone-aware type and PostgreSQL's depends on the session zone; storing
    UTC everywhere keeps ordering right across instances.  Naive input is taken as UTC.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


_TS = UtcDateTime()


class Recipient(Base):
    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    nik_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    nik_masked: Mapped[str] = mapped_column(String(16))
    nik_enc: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200), default="")
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    phone_masked: Mapped[str | None] = mapped_column(String(20))
    phone_enc: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(60), default="")
    collection_date: Mapped[dt.date | None] = mapped_column(Date)
    time_start: Mapped[dt.time | None] = mapped_column(Time)
    time_end: Mapped[dt.time | None] = mapped_column(Time)
    place: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(400), default="")
    documents: Mapped[str] = mapped_column(Text, default="")      # ';'-joined; "" = default list
    collected_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(_TS)
    batch: Mapped[str] = mapped_column(String(40), default="")   # recipient_imports.id
    is_demo: Mapped[bool] = mapped_column(Boolean, default=False)


class RecipientImport(Base):
    """One applied recipient list: where it came from and what it changed."""

    __tablename__ = "recipient_imports"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS)
    source: Mapped[str] = mapped_column(String(400))
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(100), default="")


class PendingUpload(Base):
    """A recipient list checked through the web page and waiting to be applied.

    Its rows wait in the table named ``stage`` already protected (hashed, masked,
    encrypted) like ``recipients``; the uploaded file itself is deleted once checked.
    ``id`` is a hash of the token the administrator holds, never the token."""

    __tablename__ = "pending_uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stage: Mapped[str] = mapped_column(String(60))
    created: Mapped[dt.datetime] = mapped_column(_TS)
    source: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(Integer, default=0)
    rows: Mapped[int] = mapped_column(Integer)
    by: Mapped[str] = mapped_column(String(100), default="")


class SchemaUpgrade(Base):
    """One-off data upgrades already done on this database (see ``ivr.store.db.upgrade``)."""

    __tablename__ = "schema_upgrades"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS)


class Call(Base):
    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), default="", index=True)
    started: Mapped[dt.datetime] = mapped_column(_TS)
    ended: Mapped[dt.datetime | None] = mapped_column(_TS)
    caller_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    caller_masked: Mapped[str] = mapped_column(String(20), default="")
    caller_enc: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(120), default="")
    nik_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    nik_masked: Mapped[str | None] = mapped_column(String(16))
    nik_enc: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str | None] = mapped_column(String(32))
    end_state: Mapped[str | None] = mapped_column(String(40))
    input_mode: Mapped[str | None] = mapped_column(String(8))
    lookup_status: Mapped[str | None] = mapped_column(String(20))
    duration_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        # list newest first, optionally narrowed by outcome or input mode
        Index("ix_calls_started", "started", "id"),
        Index("ix_calls_outcome_started", "outcome", "started"),
        Index("ix_calls_input_started", "input_mode", "started"),
    )


class CallEvent(Base):
    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(_TS)
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(40), default="")
    prompts: Mapped[list] = mapped_column(JSON, default=list)
    keys: Mapped[str] = mapped_column(String(64), default="")          # masked
    transcript: Mapped[str] = mapped_column(Text, default="")          # masked
    confidence: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)           # masked
    secret_enc: Mapped[str | None] = mapped_column(Text)               # unmasked keys/transcript/detail

    __table_args__ = (UniqueConstraint("call_id", "seq", name="uq_call_events_seq"),)


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(400))
    purpose: Mapped[str] = mapped_column(String(20))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[dt.datetime] = mapped_column(_TS)


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10), default="open")
    assignee: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")              # masked
    detail_enc: Mapped[str | None] = mapped_column(Text)
    created: Mapped[dt.datetime] = mapped_column(_TS)
    updated: Mapped[dt.datetime] = mapped_column(_TS)
    done_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    done_by: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_follow_ups_state_created", "state", "created"),)


class FollowUpNote(Base):
    __tablename__ = "follow_up_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    follow_up_id: Mapped[int] = mapped_column(ForeignKey("follow_ups.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(_TS)
    text: Mapped[str] = mapped_column(Text)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(200))
    created: Mapped[dt.datetime] = mapped_column(_TS)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class WebSession(Base):
    """A signed-in web session.  The cookie carries the session id; only its SHA-256 is
    stored, so a copy of the database holds no usable session.  Deleting the row ends the
    session at once, whatever the cookie says: at sign-out, a password change, and when
    the account is disabled (re-enabling it does not bring old sessions back)."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"), index=True)
    created: Mapped[dt.datetime] = mapped_column(_TS)
    expires: Mapped[dt.datetime] = mapped_column(_TS, index=True)


class AuditEntry(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS, index=True)
    user: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class TrainingUtterance(Base):
    """A NIK utterance the caller confirmed: audio plus the digits as a training label."""

    __tablename__ = "training_utterances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str | None] = mapped_column(ForeignKey("calls.id", ondelete="SET NULL"), index=True)
    path: Mapped[str] = mapped_column(String(400))
    digits_enc: Mapped[str] = mapped_column(String(100))
    created: Mapped[dt.datetime] = mapped_column(_TS)


class Campaign(Base):
    """An outbound reminder campaign: who (a collection date, or a phase/status filter),
    when (a date window and daily hours) and how fast (calls at once, calls a minute)."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prompt: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(10), default="draft")    # draft|running|paused|done
    created: Mapped[dt.datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    collection_date: Mapped[dt.date | None] = mapped_column(Date)      # recipients scheduled that day
    phase: Mapped[str] = mapped_column(String(60), default="")
    status: Mapped[str] = mapped_column(String(16), default="")
    first_day: Mapped[dt.date | None] = mapped_column(Date)            # calls only inside this window
    last_day: Mapped[dt.date | None] = mapped_column(Date)
    day_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    day_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(20, 0))
    max_concurrent: Mapped[int] = mapped_column(Integer, default=10)
    per_minute: Mapped[int] = mapped_column(Integer, default=30)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_minutes: Mapped[int] = mapped_column(Integer, default=30)


class OutboundCall(Base):
    """One person to reach (a campaign recipient or a callback request) and where that stands.

    ``state`` moves pending -> dialing -> (retry -> dialing)* -> done | skipped; a row is
    claimed for one attempt at a time (see ``ivr.store.outbound``)."""

    __tablename__ = "outbound_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="reminder")  # reminder|callback
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"))
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_ups.id", ondelete="SET NULL"),
                                                     unique=True)
    origin_call_id: Mapped[str | None] = mapped_column(String(36))    # the inbound call asking for it
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[str | None] = mapped_column(String(100))
    phone_masked: Mapped[str] = mapped_column(String(20), default="")
    nik_masked: Mapped[str] = mapped_column(String(16), default="")
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending|dialing|retry|done|skipped
    result: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    retry_minutes: Mapped[int] = mapped_column(Integer, default=30)
    next_at: Mapped[dt.datetime | None] = mapped_column(_TS)
    last_attempt: Mapped[dt.datetime | None] = mapped_column(_TS)
    call_id: Mapped[str | None] = mapped_column(String(36))
    claimed_by: Mapped[str | None] = mapped_column(String(60))
    claimed_until: Mapped[dt.datetime | None] = mapped_column(_TS)
    updated: Mapped[dt.datetime | None] = mapped_column(_TS)

    __table_args__ = (
        Index("ix_outbound_campaign_state", "campaign_id", "state"),
        Index("ix_outbound_due", "state", "next_at"),
        UniqueConstraint("campaign_id", "phone_hash", name="uq_outbound_campaign_phone"),
    )


class OutboundAttempt(Base):
    """One dialling of one target.  The unique (target, attempt number) row is the claim:
    two instances can never both place attempt N to the same person."""

    __tablename__ = "outbound_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("outbound_calls.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    instance: Mapped[str] = mapped_column(String(60), default="")
    started: Mapped[dt.datetime] = mapped_column(_TS)
    ended: Mapped[dt.datetime | None] = mapped_column(_TS)
    outcome: Mapped[str] = mapped_column(String(20), default="")       # answered|busy|no_answer|failed|...
    reason_code: Mapped[str] = mapped_column(String(8), default="")    # OriginateResponse Reason
    result: Mapped[str] = mapped_column(String(20), default="")        # what the answered call achieved
    call_id: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (UniqueConstraint("target_id", "number", name="uq_outbound_attempt"),)


class OptOut(Base):
    """A number that asked not to be called again ("jangan telepon lagi" / 8)."""

    __tablename__ = "opt_outs"

    phone_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS)
    source: Mapped[str] = mapped_column(String(40), default="")


class BlockedDay(Base):
    """A day on which no outbound call is placed (holidays, an administrator's choice)."""

    __tablename__ = "blocked_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    by: Mapped[str] = mapped_column(String(100), default="")


class AppliedOp(Base):
    """Journal operations already applied, so a replay interrupted halfway is idempotent."""

    __tablename__ = "applied_ops"

    op_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(_TS)
