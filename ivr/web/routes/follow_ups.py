"""Follow-ups: the queue of calls a person should act on (not found, complaint, callback,
repeated failure, system fault).  Take one, add a note, mark it done; the store keeps
who did what and when.  A complaint's (or message's) recording plays on its item."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse

from ivr.store.models import FOLLOW_UP_REASONS
from ivr.web import queries
from ivr.web.deps import PROTECTED, AuthUser, CurrentUser, Store
from ivr.web.pages import page
from ivr.web.routes.calls import recording_public
from ivr.web.schemas import FollowUpPublic, FollowUpUpdate

PageNo = Annotated[int, Query(alias="page", ge=1, le=100000)]
pages = APIRouter(tags=["follow-ups"], dependencies=PROTECTED)
api = APIRouter(prefix="/api/follow-ups", tags=["follow-ups"], dependencies=PROTECTED)

PAGE_SIZE = 30
_STATE_SETS = {"not_done": ("open", "assigned"), "open": ("open",), "assigned": ("assigned",),
               "done": ("done",), "all": ()}
STATE_LABELS = {"not_done": "Belum selesai", "open": "Baru", "assigned": "Ditangani", "done": "Selesai",
                "all": "Semua"}


def _list(store, state: str, reason: str, mine: bool, user: AuthUser, page_no: int) -> list[FollowUpPublic]:
    if state not in _STATE_SETS:
        raise ValueError("status tidak dikenal")
    if reason and reason not in FOLLOW_UP_REASONS:
        raise ValueError("alasan tidak dikenal")
    ids = queries.follow_up_ids(store.engine, states=_STATE_SETS[state], reason=reason or None,
                                assignee=user.name if mine else None, limit=PAGE_SIZE,
                                offset=(page_no - 1) * PAGE_SIZE)
    items = [f for f in (store.get_follow_up(i) for i in ids) if f is not None]
    recs = queries.recordings_of_calls(store.engine, [f.call_id for f in items if f.call_id])
    return [FollowUpPublic(**f.as_dict(), recordings=_own(recs.get(f.call_id, []))) for f in items]


def _own(recordings) -> list:
    """The caller's own message (a complaint, a voice message), not the NIK utterances."""
    return [recording_public(r) for r in recordings
            if not r.purpose.startswith("speech:") and r.purpose not in ("nik", "confirm")]


def _apply(store, follow_up_id: int, user: AuthUser, body: FollowUpUpdate) -> FollowUpPublic:
    if store.get_follow_up(follow_up_id) is None:
        raise HTTPException(404, "tindak lanjut tidak ditemukan")
    note = (body.note or "").strip() or None
    if body.assign_to_me or body.state or note:
        store.update_follow_up(follow_up_id, by=user.name, state=body.state,
                               assignee=user.name if body.assign_to_me else None, note=note)
    f = store.get_follow_up(follow_up_id)
    recs = queries.recordings_of_calls(store.engine, [f.call_id] if f.call_id else [])
    return FollowUpPublic(**f.as_dict(), recordings=_own(recs.get(f.call_id, [])))


@pages.get("/follow-ups")
def follow_ups_page(request: Request, store: Store, user: CurrentUser, state: str = "not_done",
                    reason: str = "", mine: bool = False, page_no: PageNo = 1):
    error = None
    try:
        items = _list(store, state, reason, mine, user, max(1, page_no))
    except ValueError as exc:
        error, items = str(exc), []
    return page(request, "follow_ups.html", {
        "items": items, "state": state, "reason": reason, "mine": mine, "page_no": max(1, page_no),
        "error": error, "more": len(items) == PAGE_SIZE, "states": STATE_LABELS})


def _back(target: str, follow_up_id: int) -> RedirectResponse:
    if not (target.startswith("/") and not target.startswith("//")):
        target = "/follow-ups"
    return RedirectResponse(f"{target}#fu-{follow_up_id}", status_code=303)


@pages.post("/follow-ups/{follow_up_id}/assign")
def assign(store: Store, user: CurrentUser, follow_up_id: int, back: Annotated[str, Form()] = "/follow-ups"):
    _apply(store, follow_up_id, user, FollowUpUpdate(assign_to_me=True))
    return _back(back, follow_up_id)


@pages.post("/follow-ups/{follow_up_id}/note")
def add_note(store: Store, user: CurrentUser, follow_up_id: int,
             note: Annotated[str, Form(max_length=4000)] = "", back: Annotated[str, Form()] = "/follow-ups"):
    _apply(store, follow_up_id, user, FollowUpUpdate(note=note))
    return _back(back, follow_up_id)


@pages.post("/follow-ups/{follow_up_id}/done")
def mark_done(store: Store, user: CurrentUser, follow_up_id: int,
              note: Annotated[str, Form(max_length=4000)] = "", back: Annotated[str, Form()] = "/follow-ups"):
    _apply(store, follow_up_id, user, FollowUpUpdate(state="done", note=note))
    return _back(back, follow_up_id)


@pages.post("/follow-ups/{follow_up_id}/call-back")
def call_back_now(request: Request, store: Store, user: CurrentUser, follow_up_id: int,
                  back: Annotated[str, Form()] = "/follow-ups"):
    """"Telepon balik sekarang": the dialer places it on its next tick, within the rules
    of decency (never before 08:00 or from 20:00, never on a blocked day); how it went
    is noted on the follow-up."""
    f = store.get_follow_up(follow_up_id)
    if f is None:
        raise HTTPException(404, "tindak lanjut tidak ditemukan")
    if f.reason != "callback" or not f.call_id:
        raise HTTPException(422, "hanya permintaan telepon balik dari sebuah panggilan yang bisa ditelepon balik")
    store.request_callback(follow_up_id, by=user.name, due=request.app.state.web.now())
    return _back(back, follow_up_id)


@pages.post("/follow-ups/{follow_up_id}/reopen")
def reopen(store: Store, user: CurrentUser, follow_up_id: int, back: Annotated[str, Form()] = "/follow-ups"):
    _apply(store, follow_up_id, user, FollowUpUpdate(state="open"))
    return _back(back, follow_up_id)


@api.get("", response_model=list[FollowUpPublic])
def list_follow_ups(store: Store, user: CurrentUser, state: str = "not_done", reason: str = "",
                    mine: bool = False, page: Annotated[int, Query(ge=1, le=100000)] = 1) -> list[FollowUpPublic]:
    """``state``: not_done (default), open, assigned, done or all; ``mine``: assigned to me."""
    try:
        return _list(store, state, reason, mine, user, max(1, page))
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None


@api.get("/{follow_up_id}", response_model=FollowUpPublic)
def get_follow_up(store: Store, user: CurrentUser, follow_up_id: int) -> FollowUpPublic:
    return _apply(store, follow_up_id, user, FollowUpUpdate())


@api.patch("/{follow_up_id}", response_model=FollowUpPublic)
def update_follow_up(store: Store, user: CurrentUser, follow_up_id: int, body: FollowUpUpdate) -> FollowUpPublic:
    """Assign to me, add a note and/or change the state (done records who and when)."""
    return _apply(store, follow_up_id, user, body)


def routers() -> list[APIRouter]:
    return [pages, api]
