"""JSON shapes of the ``/api`` routes: ``*Create``/``*Update`` come in, ``*Public`` go out.

Public shapes carry masked personal data unless a reveal was asked for (and audited).
"""

from __future__ import annotations

import datetime as dt

from typing import Literal

from pydantic import BaseModel, Field


class SessionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class SessionPublic(BaseModel):
    name: str
    role: str
    csrf_token: str


class CallPublic(BaseModel):
    id: str
    uniqueid: str
    started: dt.datetime
    ended: dt.datetime | None
    caller: str
    nik: str | None
    outcome: str | None
    end_state: str | None
    input_mode: str | None
    lookup_status: str | None
    duration_s: float | None
    follow_up: str | None
    follow_up_state: str | None = None
    recordings: int | None = None


class CallPagePublic(BaseModel):
    items: list[CallPublic]
    next_cursor: str | None


class PromptLinePublic(BaseModel):
    id: str
    text: str


class StepPublic(BaseModel):
    seq: int
    offset: str
    kind: str
    title: str
    state: str
    prompts: list[PromptLinePublic]
    keys: str
    heard: str
    confidence: float | None
    note: str


class RecordingPublic(BaseModel):
    id: str
    purpose: str
    duration_ms: int
    created: dt.datetime
    url: str


class NotePublic(BaseModel):
    author: str
    at: dt.datetime
    text: str


class FollowUpPublic(BaseModel):
    id: int
    call_id: str | None
    reason: str
    state: str
    assignee: str | None
    detail: str
    created: dt.datetime
    updated: dt.datetime
    done_at: dt.datetime | None
    done_by: str | None
    notes: list[NotePublic]
    recordings: list[RecordingPublic] = []


class CallDetailPublic(BaseModel):
    call: CallPublic
    revealed: bool
    timeline: list[StepPublic]
    recordings: list[RecordingPublic]
    follow_ups: list[FollowUpPublic]


class FollowUpUpdate(BaseModel):
    """Any of: take it (assign to me), add a note, move it to a state."""

    assign_to_me: bool = False
    note: str | None = Field(default=None, max_length=4000)
    state: str | None = Field(default=None, pattern="^(open|assigned|done)$")


class RecipientSearch(BaseModel):
    nik: str = Field(pattern=r"^\d{16}$")


class HeardItemPublic(BaseModel):
    id: str | None          # prompt id; None for a spoken dynamic text
    text: str


class RecipientPublic(BaseModel):
    found: bool
    nik: str
    name: str | None = None
    phone: str | None = None
    status: str
    phase: str | None = None
    collection_date: dt.date | None = None
    time_start: dt.time | None = None
    time_end: dt.time | None = None
    place: str | None = None
    address: str | None = None
    documents: list[str] = []
    collected_on: dt.date | None = None
    heard: list[HeardItemPublic]


class ProblemPublic(BaseModel):
    line: int
    reason: str


class UploadPreviewPublic(BaseModel):
    token: str | None
    filename: str
    size: int
    rows: int
    inserted: int
    updated: int
    ok: bool
    problem_count: int
    problems: list[ProblemPublic]


class UploadAppliedPublic(BaseModel):
    ok: bool
    filename: str
    rows: int
    inserted: int
    updated: int
    problems: list[ProblemPublic]


class ImportJobPublic(BaseModel):
    """A check or apply of a recipient list running (or run) in the background."""

    id: str
    kind: Literal["check", "apply"]
    state: Literal["running", "done", "failed"]
    filename: str
    size: int
    by: str
    started: dt.datetime
    finished: dt.datetime | None
    phase: str
    percent: int
    rows_read: int
    bytes_read: int
    error: str | None
    preview: UploadPreviewPublic | None
    applied: UploadAppliedPublic | None


class PromptPublic(BaseModel):
    id: str
    section: str
    text: str
    audio_url: str
    has_audio: bool


class PromptUpdate(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class PromptSaved(BaseModel):
    prompt: PromptPublic
    rendered: bool
    error: str | None = None


class CountPublic(BaseModel):
    key: str
    label: str
    count: int


class DayPublic(BaseModel):
    day: dt.date
    calls: int


class OverviewPublic(BaseModel):
    first_day: dt.date
    last_day: dt.date
    total_calls: int
    per_day: list[DayPublic]
    outcomes: list[CountPublic]
    input_modes: list[CountPublic]
    recognition_rate: float | None
    speech_heard: int
    speech_missed: int
    median_to_status_s: float | None
    sampled_calls: int          # the speech figures and the median come from this many latest calls
    open_follow_ups: list[CountPublic]


class AuditPublic(BaseModel):
    at: dt.datetime
    user: str
    action: str
    target: str
    detail: str


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\s].*[^\s]$|^[^\s]$")
    role: str = Field(pattern="^(operator|admin)$")
    password: str = Field(min_length=8, max_length=200)


class UserPublic(BaseModel):
    name: str
    role: str
    created: dt.datetime
    disabled: bool
