"""Human voices for prompts (administrators): record or upload a clip, hear the shaped
draft, save it, roll back to an earlier version or to the synthetic voice; the guided
walk through the read-back words; place names recorded per place.

The recorder on the page posts to the JSON API (``/api/voice/...``); the same actions are
plain forms for an upload without JavaScript.  Decoding and file writes block, so the
handlers are plain ``def`` (FastAPI runs them in its thread pool).  Every refusal is a
message for the administrator, never a 500.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from ivr.web import voice as vs
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store, Web
from ivr.web.pages import page
from ivr.web.routes.prompts import edit_context

pages = APIRouter(tags=["voice"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/voice", tags=["voice"], dependencies=ADMIN_ONLY)
media = APIRouter(prefix="/media", tags=["voice"], dependencies=ADMIN_ONLY)

ORIGINS = ("browser", "upload")


class VoiceAction(BaseModel):
    id: str = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1)


def _refused(exc: vs.VoiceRefused) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "reason": exc.reason}, status_code=exc.status)


def _edit_url(prompt_id: str, done: str = "") -> str:
    return f"/prompts/edit?id={quote(prompt_id, safe='')}" + (f"&done={done}" if done else "")


def _safe_next(target: str) -> str:
    """Only a path on this site (the guided walk's next step), never another host."""
    return target if target.startswith("/prompts") and not target.startswith("//") else ""


# --- JSON API (the in-page recorder) ---------------------------------------------------


@api.get("")
def voice_summary(web: Web, user: AdminUser):
    states = vs.states(web)
    cov = vs.call_coverage(web, states)
    return {
        "coverage": {"percent": cov.percent, "share": round(cov.share, 4), "human_s": round(cov.human_s, 1),
                     "total_s": round(cov.total_s, 1),
                     "record_next": [{"id": i, "seconds": round(s, 1)} for i, s in cov.missing()[:10]]},
        "prompts": [{"id": pid, "source": s.source, "version": s.live.n if s.live else None,
                     "by": s.live.by if s.live else None, "at": s.live.at if s.live else None,
                     "stale_version": s.stale.n if s.stale else None} for pid, s in states.items()],
    }


@api.post("/drafts")
def create_draft(web: Web, store: Store, user: AdminUser, id: Annotated[str, Query(max_length=100)],
                 file: Annotated[UploadFile, File()], origin: Annotated[str, Form(max_length=20)] = "upload"):
    """Check and shape a clip for prompt ``id``; returns a draft to hear, or the reason it is refused."""
    try:
        data = vs.read_capped(file.file)
        draft = vs.make_draft(web, store, id, data, origin if origin in ORIGINS else "upload")
    except vs.VoiceRefused as exc:
        return _refused(exc)
    return draft.as_dict()


@api.post("/drafts/{token}/save")
def save_draft(web: Web, store: Store, user: AdminUser, token: str):
    try:
        version = vs.save_draft(web, store, token, user.name)
    except vs.VoiceRefused as exc:
        return _refused(exc)
    return {"version": version.n, "seconds": version.seconds, "by": version.by, "at": version.at}


@api.post("/restore")
def restore(web: Web, store: Store, user: AdminUser, body: VoiceAction):
    if body.version is None:
        raise HTTPException(422, "nomor versi diperlukan")
    try:
        version = vs.restore(web, store, body.id, body.version, user.name)
    except vs.VoiceRefused as exc:
        return _refused(exc)
    return {"version": version.n, "source": version.source}


@api.post("/synthetic")
def synthetic(web: Web, store: Store, user: AdminUser, body: VoiceAction):
    try:
        how = vs.back_to_synthetic(web, store, body.id, user.name)
    except vs.VoiceRefused as exc:
        return _refused(exc)
    return {"source": "synthetic", "how": how}


# --- forms (uploads without JavaScript, rollback buttons) ------------------------------


@pages.post("/prompts/voice/upload")
def upload_form(request: Request, web: Web, store: Store, user: AdminUser,
                prompt_id: Annotated[str, Form(max_length=100)], file: Annotated[UploadFile, File()]):
    try:
        data = vs.read_capped(file.file)
        draft = vs.make_draft(web, store, prompt_id, data, "upload")
    except vs.VoiceRefused as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from None
        ctx = edit_context(web, store, prompt_id, error=str(exc))
        return page(request, "prompt_edit.html", ctx, status_code=exc.status)
    return page(request, "prompt_edit.html", edit_context(web, store, prompt_id, draft=draft))


@pages.post("/prompts/voice/save")
def save_form(request: Request, web: Web, store: Store, user: AdminUser,
              token: Annotated[str, Form(max_length=80)], prompt_id: Annotated[str, Form(max_length=100)],
              next: Annotated[str, Form(max_length=200)] = ""):
    try:
        vs.save_draft(web, store, token, user.name)
    except vs.VoiceRefused as exc:
        ctx = edit_context(web, store, prompt_id, error=str(exc))
        return page(request, "prompt_edit.html", ctx, status_code=exc.status)
    return RedirectResponse(_safe_next(next) or _edit_url(prompt_id, "saved"), status_code=303)


@pages.post("/prompts/voice/restore")
def restore_form(request: Request, web: Web, store: Store, user: AdminUser,
                 prompt_id: Annotated[str, Form(max_length=100)], version: Annotated[int, Form(ge=1)]):
    try:
        vs.restore(web, store, prompt_id, version, user.name)
    except vs.VoiceRefused as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from None
        return page(request, "prompt_edit.html", edit_context(web, store, prompt_id, error=str(exc)),
                    status_code=exc.status)
    return RedirectResponse(_edit_url(prompt_id, "restored"), status_code=303)


@pages.post("/prompts/voice/synthetic")
def synthetic_form(request: Request, web: Web, store: Store, user: AdminUser,
                   prompt_id: Annotated[str, Form(max_length=100)]):
    try:
        vs.back_to_synthetic(web, store, prompt_id, user.name)
    except vs.VoiceRefused as exc:
        if exc.status == 404:
            raise HTTPException(404, str(exc)) from None
        return page(request, "prompt_edit.html", edit_context(web, store, prompt_id, error=str(exc)),
                    status_code=exc.status)
    return RedirectResponse(_edit_url(prompt_id, "synthetic"), status_code=303)


# --- the guided walk and the place names -----------------------------------------------


@pages.get("/prompts/guide")
def guide(request: Request, web: Web, store: Store, user: AdminUser,
          step: Annotated[int | None, Query(ge=1, le=1000)] = None):
    ids = vs.guide_ids(web)
    if not ids:
        raise HTTPException(503, "katalog prompts.toml tidak bisa dibaca")
    states = vs.states(web)
    done = [i for i in ids if states.get(i) and states[i].live is not None]
    if step is None:  # start at the first item not yet recorded
        step = next((k + 1 for k, i in enumerate(ids) if i not in done), 1)
    step = min(step, len(ids))
    prompt_id = ids[step - 1]
    nxt = f"/prompts/guide?step={step + 1}" if step < len(ids) else "/prompts/guide?step=1"
    ctx = edit_context(web, store, prompt_id, next_url=nxt)
    ctx.update(step=step, total=len(ids), done=set(done), ids=ids, states=states)
    return page(request, "voice_guide.html", ctx)


@pages.get("/prompts/places")
def places_page(request: Request, web: Web, store: Store, user: AdminUser):
    places = vs.places(web, store)
    voice = vs.voice(web)
    states = voice.states(places)
    rows = [{"id": pid, "text": text, "state": states[pid], "at": vs.when(states[pid].live)}
            for pid, text in places.items()]
    return page(request, "voice_places.html", {"rows": rows})


# --- audio of drafts and kept versions -------------------------------------------------


@media.get("/voice-draft/{name}")
def draft_audio(web: Web, user: AdminUser, name: str):
    path = vs.draft_path(web, name.removesuffix(".wav"))
    if path is None:
        raise HTTPException(404, "rekaman sementara tidak ditemukan")
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@media.get("/voice/{n}/{prompt_id:path}")
def version_audio(web: Web, user: AdminUser, n: int, prompt_id: str):
    from ivr.prompts.catalog import CatalogError

    prompt_id = prompt_id.removesuffix(".wav")
    try:
        path = vs.voice(web).version_path(prompt_id, n)
    except CatalogError:
        raise HTTPException(404, "versi tidak ditemukan") from None
    if not path.is_file():
        raise HTTPException(404, "versi tidak ditemukan")
    # a version's file never changes once written
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "private, max-age=86400"})


def routers() -> list[APIRouter]:
    return [pages, api, media]

