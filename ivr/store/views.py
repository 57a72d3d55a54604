"""Read-only shapes the store hands to operators (CLI, web).  Personal data arrives masked
unless a method was asked to reveal it, which writes an audit entry."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CallSummary:
    id: str
    uniqueid: str
    started: dt.datetime
    ended: dt.datetime | None
    caller: str                  # masked ("" when unknown)
    nik: str | None              # masked
    outcome: str | None
    end_state: str | None
    input_mode: str | None
    lookup_status: str | None
    duration_s: float | None
    follow_up: str | None = None  # reason of the call's first follow-up, if any

    def as_dict(self) -> dict:
        return {
            "id": self.id, "uniqueid": self.uniqueid,
            "started": _iso(self.started), "ended": _iso(self.ended),
            "caller": self.caller, "nik": self.nik, "outcome": self.outcome,
            "end_state": self.end_state, "input_mode": self.input_mode,
            "lookup_status": self.lookup_status, "duration_s": self.duration_s,
            "follow_up": self.follow_up,
        }


@dataclass(frozen=True)
class EventView:
    seq: int
    at: dt.datetime
    kind: str
    state: str
    prompts: tuple[str, ...]
    keys: str
    transcript: str
    confidence: float | None
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "seq": self.seq, "at": _iso(self.at), "kind": self.kind, "state": self.state,
            "prompts": list(self.prompts), "keys": self.keys, "transcript": self.transcript,
            "confidence": self.confidence, "detail": self.detail,
        }


@dataclass(frozen=True)
class RecordingView:
    id: str
    path: str
    purpose: str
    duration_ms: int
    created: dt.datetime

    def as_dict(self) -> dict:
        return {"id": self.id, "path": self.path, "purpose": self.purpose,
                "duration_ms": self.duration_ms, "created": _iso(self.created)}


@dataclass(frozen=True)
class NoteView:
    author: str
    at: dt.datetime
    text: str


@dataclass(frozen=True)
class FollowUpView:
    id: int
    call_id: str | None
    reason: str
    state: str
    assignee: str | None
    detail: str
    created: dt.datetime
    updated: dt.datetime
    done_at: dt.datetime | None = None
    done_by: str | None = None
    notes: tuple[NoteView, ...] = ()

    def as_dict(self) -> dict:
        return {
            "id": self.id, "call_id": self.call_id, "reason": self.reason, "state": self.state,
            "assignee": self.assignee, "detail": self.detail, "created": _iso(self.created),
            "updated": _iso(self.updated), "done_at": _iso(self.done_at), "done_by": self.done_by,
            "notes": [{"author": n.author, "at": _iso(n.at), "text": n.text} for n in self.notes],
        }


@dataclass(frozen=True)
class CallDetail:
    call: CallSummary
    events: tuple[EventView, ...]
    recordings: tuple[RecordingView, ...]
    follow_ups: tuple[FollowUpView, ...]
    revealed: bool = False       # caller/nik/keys/transcripts are the real values

    def as_dict(self) -> dict:
        out = self.call.as_dict()
        out["events"] = [e.as_dict() for e in self.events]
        out["recordings"] = [r.as_dict() for r in self.recordings]
        out["follow_ups"] = [f.as_dict() for f in self.follow_ups]
        out["revealed"] = self.revealed
        return out


@dataclass(frozen=True)
class RecipientView:
    id: int
    nik: str                     # masked unless revealed
    name: str
    phone: str | None            # masked unless revealed
    status: str
    phase: str
    collection_date: dt.date | None
    time_start: dt.time | None
    time_end: dt.time | None
    place: str
    address: str
    documents: tuple[str, ...]
    collected_on: dt.date | None
    updated_at: dt.datetime
    is_demo: bool


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    role: str
    password_hash: str
    created: dt.datetime
    disabled: bool


@dataclass(frozen=True)
class AuditView:
    at: dt.datetime
    user: str
    action: str
    target: str
    detail: str


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
