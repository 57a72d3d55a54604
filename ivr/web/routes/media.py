"""Audio for signed-in users: call recordings from the spool and rendered prompts.

Paths never come from the request: a recording is found by its id in the store and
must lie inside the spool folder; a prompt id is checked by the catalog's id rules.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from ivr.prompts.catalog import CatalogError, validate_id
from ivr.web import queries
from ivr.web.deps import PROTECTED, AdminUser, CurrentUser, Store, Web

router = APIRouter(prefix="/media", tags=["media"], dependencies=PROTECTED)
_PREVIEW = re.compile(r"^[0-9a-f]{16}$")


def _wav(path: Path, cache: str = "no-store") -> FileResponse:
    # recordings hold personal data: kept out of every cache (a shared office laptop)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": cache})


def inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


@router.get("/recordings/{recording_id}")
def recording(web: Web, store: Store, user: CurrentUser, recording_id: str):
    ref = queries.get_recording(store.engine, recording_id) if len(recording_id) <= 36 else None
    if ref is None:
        raise HTTPException(404, "rekaman tidak ditemukan")
    path = Path(ref.path)
    if not path.is_absolute():
        path = web.settings.spool / path
    if path.suffix.lower() != ".wav" or not inside(path, web.settings.spool) or not path.is_file():
        raise HTTPException(404, "berkas rekaman tidak ada di folder spool")
    return _wav(path)


@router.get("/prompts/{prompt_id:path}")
def prompt_audio(web: Web, user: CurrentUser, prompt_id: str):
    prompt_id = prompt_id.removesuffix(".wav")
    try:
        validate_id(prompt_id)
    except CatalogError:
        raise HTTPException(404, "suara tidak ditemukan") from None
    # validate_id allows no "..", no leading "/": the path stays under audio_dir (files may be links)
    path = web.settings.audio_dir / f"{prompt_id}.wav"
    if not path.is_file():
        raise HTTPException(404, "suara belum dibuat")
    # prompt URLs carry ?v=<mtime>: a re-rendered prompt gets a new URL, so caching is safe
    return _wav(path, "private, max-age=86400")


@router.get("/preview/{name}")
def preview_audio(web: Web, user: AdminUser, name: str):
    name = name.removesuffix(".wav")
    if not _PREVIEW.fullmatch(name):
        raise HTTPException(404, "pratinjau tidak ditemukan")
    path = web.preview_dir / "dyn" / f"{name}.wav"
    if not path.is_file():
        raise HTTPException(404, "pratinjau tidak ditemukan")
    return _wav(path)


def routers() -> list[APIRouter]:
    return [router]
