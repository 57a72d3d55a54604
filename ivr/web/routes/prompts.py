"""Prompts (administrators): every prompt's text with a play button and its voice
(recorded or synthetic, by whom, when) and the call's voice coverage; edit a text,
re-render its audio, or hear a preview of a new text before saving it.  Recording,
uploading and rolling back live in :mod:`ivr.web.routes.voice`; the edit page shows them.

Rendering runs the TTS worker (seconds): the handlers are plain ``def`` so FastAPI runs
them in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request

from ivr.prompts.catalog import CatalogError, set_text
from ivr.prompts.render import DYN_PREFIX
from ivr.prompts.voice import sha256_of
from ivr.web import voice as vs
from ivr.web.context import WebContext
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store, Web
from ivr.web.pages import page
from ivr.web.schemas import PromptPublic, PromptSaved, PromptUpdate

pages = APIRouter(tags=["prompts"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/prompts", tags=["prompts"], dependencies=ADMIN_ONLY)

SECTION_NAMES = {"prompts": "Kalimat", "words": "Kata (angka, hari, bulan, jam)"}
NOTICES = {"saved": "Rekaman disimpan: suara ini sekarang dipakai di telepon.",
           "restored": "Versi terpilih dipakai lagi.",
           "synthetic": "Suara sintetis dipakai lagi."}


def _public(web: WebContext, catalog, prompt_id: str, text: str | None = None) -> PromptPublic:
    wav = web.settings.audio_dir / f"{prompt_id}.wav"
    version = wav.stat().st_mtime_ns if wav.is_file() else 0
    section = catalog.section(prompt_id) if catalog is not None and prompt_id in catalog else "dyn"
    return PromptPublic(id=prompt_id, section=section, text=catalog.text(prompt_id) if text is None else text,
                        audio_url=f"/media/prompts/{prompt_id}.wav?v={version}", has_audio=version > 0)


def edit_context(web: WebContext, store, prompt_id: str, *, text: str | None = None, draft=None,
                 error: str | None = None, next_url: str = "", done: str = "") -> dict:
    """Everything the prompt page shows: text, live voice, versions, a draft to hear."""
    try:
        spoken = vs.text_of(web, store, prompt_id)
    except vs.VoiceRefused:
        raise HTTPException(404, "prompt tidak ditemukan") from None
    catalog = web.catalog()
    state = vs.voice(web).state(prompt_id, spoken)
    live_file = web.settings.audio_dir / f"{prompt_id}.wav"
    live_sha = sha256_of(live_file) if live_file.is_file() else ""
    versions = [{"v": v, "at": vs.when(v), "url": f"/media/voice/{v.n}/{prompt_id}.wav",
                 "restorable": state.restorable(v),
                 "is_live": (state.live is not None and v.n == state.live.n)
                 or (state.live is None and v.source == "synthetic" and v.sha256 == live_sha)}
                for v in state.versions]
    return {"p": _public(web, catalog, prompt_id, spoken), "text": spoken if text is None else text,
            "editable": not prompt_id.startswith(DYN_PREFIX), "saved": None, "preview_url": None,
            "error": error, "notice": NOTICES.get(done), "voice": state, "live_at": vs.when(state.live),
            "stale_at": vs.when(state.stale), "versions": versions, "draft": draft, "next_url": next_url}


def _catalog(web: WebContext):
    catalog = web.catalog()
    if catalog is None:
        raise HTTPException(503, "katalog prompts.toml tidak bisa dibaca")
    return catalog


def _save(web: WebContext, store, prompt_id: str, text: str, by: str) -> PromptSaved:
    catalog = _catalog(web)
    if prompt_id not in catalog:
        raise HTTPException(404, "prompt tidak ditemukan")
    old = catalog.text(prompt_id)
    try:
        new = set_text(web.catalog_path, prompt_id, text).text(prompt_id)
    except CatalogError as exc:
        raise HTTPException(422, str(exc)) from None
    store.audit(by, "edit_prompt", prompt_id, "")
    if new != old:
        # a recording says the old words: the synthetic voice speaks the new ones until re-recorded
        vs.voice(web).text_changed(prompt_id)
    error = None
    try:
        report = web.renderer(web.catalog_path, web.settings.audio_dir, [prompt_id])
        failed = dict(getattr(report, "failed", ()))
        if prompt_id in failed:
            error = f"audio gagal dibuat: {failed[prompt_id]}"
    except Exception as exc:   # noqa: BLE001 - any renderer failure is shown; the text is saved
        error = f"audio gagal dibuat: {exc}"
    return PromptSaved(prompt=_public(web, _catalog(web), prompt_id), rendered=error is None, error=error)


@pages.get("/prompts")
def prompts_page(request: Request, web: Web, user: AdminUser):
    catalog = _catalog(web)
    items = [_public(web, catalog, i) for i in catalog.ids()]
    states = vs.states(web)
    coverage = vs.call_coverage(web, states)
    when = {pid: (vs.when(s.live), vs.when(s.stale)) for pid, s in states.items()}
    recorded = sum(1 for s in states.values() if s.live is not None)
    guide = vs.guide_ids(web)
    return page(request, "prompts.html", {
        "items": items, "sections": SECTION_NAMES, "states": states, "when": when, "coverage": coverage,
        "recorded": recorded, "spoken": len(states),
        "guide_done": sum(1 for i in guide if states.get(i) and states[i].live is not None),
        "guide_total": len(guide), "record_next": coverage.missing()[:5]})


@pages.get("/prompts/edit")
def edit_page(request: Request, web: Web, store: Store, user: AdminUser,
              id: Annotated[str, Query(max_length=100)], done: Annotated[str, Query(max_length=20)] = ""):
    if web.catalog() is None:
        raise HTTPException(503, "katalog prompts.toml tidak bisa dibaca")
    return page(request, "prompt_edit.html", edit_context(web, store, id, done=done))


@pages.post("/prompts/edit")
def edit_submit(request: Request, web: Web, store: Store, user: AdminUser,
                prompt_id: Annotated[str, Form(max_length=100)], text: Annotated[str, Form(max_length=2000)],
                action: Annotated[str, Form()] = "save"):
    catalog = _catalog(web)
    if prompt_id not in catalog:
        raise HTTPException(404, "prompt tidak ditemukan")
    ctx = edit_context(web, store, prompt_id, text=text)
    if not text.strip():
        ctx["error"] = "Teks tidak boleh kosong."
        return page(request, "prompt_edit.html", ctx, status_code=422)
    if action == "preview":
        try:
            dyn = web.previewer(text, web.preview_dir)
            ctx["preview_url"] = f"/media/preview/{dyn.split('/')[-1]}.wav"
        except Exception as exc:   # noqa: BLE001 - show why the preview failed
            ctx["error"] = f"Pratinjau gagal: {exc}"
        return page(request, "prompt_edit.html", ctx)
    try:
        saved = _save(web, store, prompt_id, text, user.name)
    except HTTPException as exc:
        ctx["error"] = exc.detail
        return page(request, "prompt_edit.html", ctx, status_code=exc.status_code)
    ctx = edit_context(web, store, prompt_id)
    ctx.update(saved=saved, error=saved.error)
    return page(request, "prompt_edit.html", ctx)


@api.get("", response_model=list[PromptPublic])
def list_prompts(web: Web, user: AdminUser) -> list[PromptPublic]:
    catalog = _catalog(web)
    return [_public(web, catalog, i) for i in catalog.ids()]


@api.put("/{prompt_id:path}", response_model=PromptSaved)
def update_prompt(web: Web, store: Store, user: AdminUser, prompt_id: str, body: PromptUpdate) -> PromptSaved:
    """Save a new text and re-render that prompt's audio."""
    return _save(web, store, prompt_id, body.text, user.name)


def routers() -> list[APIRouter]:
    return [pages, api]
