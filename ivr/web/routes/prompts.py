"""Prompts (administrators): every prompt's text with a play button; edit a text,
re-render its audio, or hear a preview of a new text before saving it.

Rendering runs the TTS worker (seconds): the handlers are plain ``def`` so FastAPI runs
them in its thread pool, off the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request

from ivr.prompts.catalog import CatalogError, set_text
from ivr.web.context import WebContext
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store, Web
from ivr.web.pages import page
from ivr.web.schemas import PromptPublic, PromptSaved, PromptUpdate

pages = APIRouter(tags=["prompts"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/prompts", tags=["prompts"], dependencies=ADMIN_ONLY)

SECTION_NAMES = {"prompts": "Kalimat", "words": "Kata (angka, hari, bulan, jam)"}


def _public(web: WebContext, catalog, prompt_id: str) -> PromptPublic:
    wav = web.settings.audio_dir / f"{prompt_id}.wav"
    version = int(wav.stat().st_mtime) if wav.is_file() else 0
    return PromptPublic(id=prompt_id, section=catalog.section(prompt_id), text=catalog.text(prompt_id),
                        audio_url=f"/media/prompts/{prompt_id}.wav?v={version}", has_audio=version > 0)


def _catalog(web: WebContext):
    catalog = web.catalog()
    if catalog is None:
        raise HTTPException(503, "katalog prompts.toml tidak bisa dibaca")
    return catalog


def _save(web: WebContext, store, prompt_id: str, text: str, by: str) -> PromptSaved:
    catalog = _catalog(web)
    if prompt_id not in catalog:
        raise HTTPException(404, "prompt tidak ditemukan")
    try:
        set_text(web.catalog_path, prompt_id, text)
    except CatalogError as exc:
        raise HTTPException(422, str(exc)) from None
    store.audit(by, "edit_prompt", prompt_id, "")
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
    return page(request, "prompts.html", {"items": items, "sections": SECTION_NAMES})


@pages.get("/prompts/edit")
def edit_page(request: Request, web: Web, user: AdminUser, id: Annotated[str, Query(max_length=100)]):
    catalog = _catalog(web)
    if id not in catalog:
        raise HTTPException(404, "prompt tidak ditemukan")
    return page(request, "prompt_edit.html", {"p": _public(web, catalog, id), "text": catalog.text(id),
                                              "saved": None, "preview_url": None, "error": None})


@pages.post("/prompts/edit")
def edit_submit(request: Request, web: Web, store: Store, user: AdminUser,
                prompt_id: Annotated[str, Form(max_length=100)], text: Annotated[str, Form(max_length=2000)],
                action: Annotated[str, Form()] = "save"):
    catalog = _catalog(web)
    if prompt_id not in catalog:
        raise HTTPException(404, "prompt tidak ditemukan")
    ctx = {"p": _public(web, catalog, prompt_id), "text": text, "saved": None, "preview_url": None, "error": None}
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
    ctx.update(p=saved.prompt, text=saved.prompt.text, saved=saved, error=saved.error)
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
