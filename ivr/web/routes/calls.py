"""Calls: the filtered, keyset-paged list and one call's page (timeline, recordings,
masked NIK and caller number, with an audited one-click reveal)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from ivr.store.models import INPUT_MODES
from ivr.store.views import CallDetail, CallSummary
from ivr.web import queries, timeline
from ivr.web.context import WebContext
from ivr.web.deps import PROTECTED, CurrentUser, Store, Web
from ivr.web.labels import OUTCOMES
from ivr.web.pages import page
from ivr.web.schemas import CallDetailPublic, CallPagePublic, CallPublic, FollowUpPublic, RecordingPublic

pages = APIRouter(tags=["calls"], dependencies=PROTECTED)
api = APIRouter(prefix="/api/calls", tags=["calls"], dependencies=PROTECTED)

PAGE_SIZE = 50


def parse_filter(web: WebContext, since: str, until: str, outcome: str, mode: str, follow_up: str,
                 recording: str) -> queries.CallFilter:
    """Query-string filters -> CallFilter; ValueError (Indonesian) for a value that makes no sense."""
    def day(text: str, what: str) -> dt.date | None:
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"tanggal {what} harus berbentuk TTTT-BB-HH") from None

    first, last = day(since, "awal"), day(until, "akhir")
    if first and last and last < first:
        raise ValueError("tanggal akhir lebih awal dari tanggal awal")
    if outcome and outcome not in OUTCOMES:
        raise ValueError("hasil panggilan tidak dikenal")
    if mode and mode not in INPUT_MODES:
        raise ValueError("cara input tidak dikenal")
    if follow_up and follow_up not in queries.FOLLOW_UP_FILTERS:
        raise ValueError("status tindak lanjut tidak dikenal")
    if recording not in ("", "yes", "no"):
        raise ValueError("pilihan rekaman tidak dikenal")
    start = lambda d: dt.datetime.combine(d, dt.time(), web.tz)  # noqa: E731 - local midnight
    return queries.CallFilter(
        since=start(first) if first else None,
        until=start(last + dt.timedelta(days=1)) if last else None,
        outcome=outcome or None, input_mode=mode or None, follow_up=follow_up or None,
        has_recording={"yes": True, "no": False}.get(recording))


def call_public(c: CallSummary, follow_up_state: str | None = None, recordings: int | None = None) -> CallPublic:
    return CallPublic(**c.as_dict() | {"started": c.started, "ended": c.ended},
                      follow_up_state=follow_up_state, recordings=recordings)


def recording_public(r) -> RecordingPublic:
    return RecordingPublic(id=r.id, purpose=r.purpose, duration_ms=r.duration_ms, created=r.created,
                           url=f"/media/recordings/{r.id}")


def detail_public(web: WebContext, d: CallDetail) -> CallDetailPublic:
    steps = timeline.build(d, web.catalog())
    return CallDetailPublic(
        call=call_public(d.call), revealed=d.revealed, timeline=[s.as_dict() for s in steps],
        recordings=[recording_public(r) for r in d.recordings],
        follow_ups=[FollowUpPublic(**f.as_dict()) for f in d.follow_ups])



@pages.get("/calls")
def calls_page(request: Request, web: Web, store: Store, user: CurrentUser, since: str = "", until: str = "",
               outcome: str = "", mode: str = "", follow_up: str = "", recording: str = "",
               cursor: Annotated[str, Query(max_length=200)] = ""):
    args = dict(since=since, until=until, outcome=outcome, mode=mode, follow_up=follow_up, recording=recording)
    error = None
    try:
        f = parse_filter(web, **args)
        result = queries.list_calls(store.engine, f, cursor=cursor or None, limit=PAGE_SIZE)
    except ValueError as exc:
        error = str(exc) if "cursor" not in str(exc) else "tautan halaman tidak sah; mulai dari halaman pertama"
        result = queries.CallPage((), None)
    keep = {k: v for k, v in args.items() if v}
    return page(request, "calls.html", {"page": result, "args": args, "keep": keep, "error": error,
                                        "first_page": not cursor, "modes": INPUT_MODES})


def _detail_or_404(store, call_id: str, reveal_by: str | None = None) -> CallDetail:
    if len(call_id) > 36:
        raise HTTPException(404, "panggilan tidak ditemukan")
    detail = store.get_call(call_id, reveal_by=reveal_by)
    if detail is None:
        raise HTTPException(404, "panggilan tidak ditemukan")
    return detail


@pages.get("/calls/{call_id}")
def call_page(request: Request, web: Web, store: Store, user: CurrentUser, call_id: str):
    detail = _detail_or_404(store, call_id)
    return page(request, "call.html", {"d": detail, "steps": timeline.build(detail, web.catalog())})


@pages.post("/calls/{call_id}/reveal")
def call_reveal(request: Request, web: Web, store: Store, user: CurrentUser, call_id: str):
    """Shows the real NIK and caller number on this response only (never in a URL); audited."""
    detail = _detail_or_404(store, call_id, reveal_by=user.name)
    return page(request, "call.html", {"d": detail, "steps": timeline.build(detail, web.catalog())})


@api.get("", response_model=CallPagePublic)
def list_calls(web: Web, store: Store, user: CurrentUser, since: str = "", until: str = "", outcome: str = "",
               mode: str = "", follow_up: str = "", recording: str = "",
               cursor: Annotated[str, Query(max_length=200)] = "",
               limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZE) -> CallPagePublic:
    """Calls newest first.  Filters: ``since``/``until`` (local dates, inclusive), ``outcome``,
    ``mode`` (keypad/speech/mixed/none), ``follow_up`` (none/any/not_done/open/assigned/done),
    ``recording`` (yes/no).  Pass ``next_cursor`` back as ``cursor`` for the next page."""
    try:
        f = parse_filter(web, since, until, outcome, mode, follow_up, recording)
        result = queries.list_calls(store.engine, f, cursor=cursor or None, limit=limit)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return CallPagePublic(items=[call_public(r.call, r.follow_up_state, r.recordings) for r in result.rows],
                          next_cursor=result.next_cursor)


@api.get("/{call_id}", response_model=CallDetailPublic)
def get_call(web: Web, store: Store, user: CurrentUser, call_id: str) -> CallDetailPublic:
    return detail_public(web, _detail_or_404(store, call_id))


@api.post("/{call_id}/reveal", response_model=CallDetailPublic)
def reveal_call(web: Web, store: Store, user: CurrentUser, call_id: str) -> CallDetailPublic:
    """The call with its real NIK, caller number, keys and transcripts; writes an audit entry."""
    return detail_public(web, _detail_or_404(store, call_id, reveal_by=user.name))


def routers() -> list[APIRouter]:
    return [pages, api]
