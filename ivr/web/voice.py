"""Human voices for the prompts, as the prompts pages use them: drafts, saving, rollback,
coverage, the guided walk and the place names.

A recording or upload becomes a *draft* first: decoded, judged and shaped
(:mod:`ivr.prompts.ingest`), then written under ``<data_dir>/voice-drafts/<token>.wav``
so the administrator hears exactly what callers will hear before saving it.  Saving
makes the draft a version in the voice registry (:mod:`ivr.prompts.voice`), which copies
it to the file Asterisk plays.  A draft is bound to the text it was recorded for: a
text edited meanwhile refuses the save.  Drafts are removed after ``KEEP_S``.

All functions block (decoding, file writes): call them from plain ``def`` handlers.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ivr.prompts import ingest
from ivr.prompts.catalog import is_generated
from ivr.prompts.coverage import Coverage, coverage
from ivr.prompts.render import DYN_PREFIX, dyn_id
from ivr.prompts.voice import Version, Voice, VoiceError, VoiceState, copy_atomic
from ivr.web.context import WebContext

KEEP_S = 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# Every number, day and month the line reads back: the [words] table, in its order.
GUIDE_SECTION = "words"


class VoiceRefused(Exception):
    """A voice action that cannot be done; the message is for the administrator."""

    def __init__(self, message: str, reason: str = "refused", status: int = 422):
        super().__init__(message)
        self.reason, self.status = reason, status


@dataclass(frozen=True)
class Draft:
    token: str
    prompt_id: str
    text: str
    seconds: float
    source: str
    origin: str
    active_dbfs: float
    gain_db: float

    @property
    def url(self) -> str:
        return f"/media/voice-draft/{self.token}.wav"

    def as_dict(self) -> dict:
        return {"token": self.token, "prompt_id": self.prompt_id, "seconds": round(self.seconds, 2),
                "source": self.source, "origin": self.origin, "level_dbfs": round(self.active_dbfs, 1),
                "gain_db": round(self.gain_db, 1), "url": self.url}


def voice(web: WebContext) -> Voice:
    return Voice(web.settings.audio_dir)


def drafts_dir(web: WebContext) -> Path:
    return web.settings.data_dir / "voice-drafts"


# --- which text an id speaks -----------------------------------------------------------


def places(web: WebContext, store) -> dict[str, str]:
    """``dyn/...`` id -> place or address text, for every place in the recipient list."""
    from ivr.web import queries

    return {dyn_id(text): text for text in queries.place_texts(store.engine)}


def text_of(web: WebContext, store, prompt_id: str) -> str:
    """The text ``prompt_id`` speaks: the catalog's, or a place name's; 404 when neither."""
    catalog = web.catalog()
    if catalog is not None and prompt_id in catalog:
        return catalog.text(prompt_id)
    if prompt_id.startswith(DYN_PREFIX):
        text = places(web, store).get(prompt_id) or voice(web).dynamic_texts().get(prompt_id)
        if text:
            return text
    raise VoiceRefused("prompt tidak ditemukan", "not_found", 404)


# --- drafts ----------------------------------------------------------------------------


def _sweep(folder: Path) -> None:
    cutoff = time.time() - KEEP_S
    for p in folder.glob("*"):
        try:
            if p.is_file() and p.stat().st_mtime < cutoff:
                p.unlink(missing_ok=True)
        except OSError:
            continue


def read_capped(stream: BinaryIO, limit: int | None = None) -> bytes:
    """At most ``limit`` bytes of an upload; one byte more means it is too large."""
    limit = ingest.MAX_UPLOAD_BYTES if limit is None else limit
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise VoiceRefused(f"Berkas terlalu besar (batas {limit // (1024 * 1024)} MB). Tidak ada yang diubah.",
                           "too_big", 413)
    return data


def make_draft(web: WebContext, store, prompt_id: str, data: bytes, origin: str) -> Draft:
    """Judge and shape a clip for ``prompt_id``; keep it as a draft to hear before saving."""
    text = text_of(web, store, prompt_id)
    if is_generated(prompt_id):
        raise VoiceRefused("Jeda dan nada (silence/, tone/) dibuat otomatis, tidak direkam.", "generated")
    try:
        clip = ingest.ingest(data, text)
    except ingest.ClipRefused as exc:
        raise VoiceRefused(str(exc), exc.reason) from None
    folder = drafts_dir(web)
    folder.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    token = secrets.token_urlsafe(24)
    from ivr.prompts import audio

    audio.write_wav_atomic(folder / f"{token}.wav", clip.samples)
    draft = Draft(token, prompt_id, text, clip.seconds, clip.source, origin, clip.active_dbfs, clip.gain_db)
    (folder / f"{token}.json").write_text(json.dumps(draft.__dict__), encoding="utf-8")
    return draft


def draft_path(web: WebContext, token: str) -> Path | None:
    if not _TOKEN.fullmatch(token or ""):
        return None
    path = drafts_dir(web) / f"{token}.wav"
    return path if path.is_file() else None


def save_draft(web: WebContext, store, token: str, by: str) -> Version:
    """Make a draft the live voice of its prompt (the previous version stays kept)."""
    path = draft_path(web, token)
    meta_path = drafts_dir(web) / f"{token}.json"
    if path is None or not meta_path.is_file():
        raise VoiceRefused("Rekaman sementara tidak ditemukan atau sudah kedaluwarsa (1 jam). Rekam lagi.",
                           "expired", 404)
    draft = Draft(**json.loads(meta_path.read_text(encoding="utf-8")))
    if text_of(web, store, draft.prompt_id) != draft.text:
        raise VoiceRefused("Teksnya sudah diubah sejak direkam. Rekam teks yang baru.", "text_changed")
    from ivr.prompts import audio

    samples, _ = audio.read_wav(path)
    try:
        version = voice(web).record(draft.prompt_id, draft.text, samples, by=by, at=web.now(),
                                    origin=f"{draft.origin} {draft.source}")
    except VoiceError as exc:
        raise VoiceRefused(f"Tidak bisa disimpan: {exc}", "voice") from None
    finally:
        path.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
    store.audit(by, "record_prompt", draft.prompt_id[:100], json.dumps({"version": version.n,
                                                                         "seconds": version.seconds}))
    return version


# --- rollback --------------------------------------------------------------------------


def restore(web: WebContext, store, prompt_id: str, n: int, by: str) -> Version:
    text = text_of(web, store, prompt_id)
    try:
        version = voice(web).restore(prompt_id, n, text, at=web.now())
    except VoiceError as exc:
        raise VoiceRefused(f"Versi {n} tidak bisa dipakai lagi: {exc}", "restore") from None
    store.audit(by, "restore_prompt", prompt_id[:100], json.dumps({"version": n, "source": version.source}))
    return version


def back_to_synthetic(web: WebContext, store, prompt_id: str, by: str) -> str:
    """Make the synthetic voice live again: a kept synthetic version of this text, else a fresh render."""
    text = text_of(web, store, prompt_id)
    v = voice(web)
    kept = v.synthetic_for(prompt_id, text)
    how = "kept"
    if kept is not None:
        try:
            v.restore(prompt_id, kept.n, text, at=web.now())
        except VoiceError:  # its file went missing: render instead
            kept = None
    if kept is None:
        how = "rendered"
        _render_synthetic(web, prompt_id, text)
    store.audit(by, "synthetic_prompt", prompt_id[:100], how)
    return how


def _render_synthetic(web: WebContext, prompt_id: str, text: str) -> None:
    v = voice(web)
    if prompt_id.startswith(DYN_PREFIX):
        # a place name: rendered aside, as a call would, then swapped in (calls remember a
        # place's file name, so the file must never be missing in between)
        with tempfile.TemporaryDirectory(prefix="ivr-place-") as tmp:
            try:
                rendered = Path(tmp) / f"{web.previewer(text, Path(tmp))}.wav"
                if not rendered.is_file():
                    raise FileNotFoundError("no file rendered")
            except Exception as exc:  # noqa: BLE001 - the recording stays; the reason is shown
                raise VoiceRefused(f"Suara sintetis gagal dibuat: {exc}", "render") from None
            copy_atomic(rendered, web.settings.audio_dir / f"{prompt_id}.wav")
        v.unset_live(prompt_id, stale=False)
        return
    was = v.state(prompt_id, text).live
    v.unset_live(prompt_id, stale=False)  # else the build skips it as recorded
    _forget_manifest(web.settings.audio_dir, prompt_id)
    error = None
    try:
        report = web.renderer(web.catalog_path, web.settings.audio_dir, [prompt_id])
        failed = dict(getattr(report, "failed", ()))
        if prompt_id in failed:
            error = str(failed[prompt_id])
    except Exception as exc:  # noqa: BLE001 - any renderer failure is shown; the recording stays
        error = str(exc)
    if error is not None:
        if was is not None:  # the recording is still the file that plays: say so
            v.mark_live(prompt_id, was.n)
        raise VoiceRefused(f"Suara sintetis gagal dibuat: {error}", "render")


def _forget_manifest(audio_dir: Path, prompt_id: str) -> None:
    """Drop a prompt's build hash so the next build renders it even though a file is there."""
    from ivr.prompts import render

    manifest = render._load_manifest(audio_dir)
    if manifest.pop(prompt_id, None) is not None:
        render._save_manifest(audio_dir, manifest, render.DEFAULT_VOICE)


# --- what the pages show ---------------------------------------------------------------


def states(web: WebContext) -> dict[str, VoiceState]:
    catalog = web.catalog()
    if catalog is None:
        return {}
    return voice(web).states({i: catalog.text(i) for i in catalog.ids() if not is_generated(i)})


def call_coverage(web: WebContext, prompt_states: dict[str, VoiceState] | None = None) -> Coverage:
    prompt_states = states(web) if prompt_states is None else prompt_states
    human = {pid for pid, s in prompt_states.items() if s.live is not None}
    v = voice(web)
    human |= set(v.live_recordings(v.dynamic_texts()))
    return coverage(web.settings.audio_dir, human)


def guide_ids(web: WebContext) -> list[str]:
    catalog = web.catalog()
    return [] if catalog is None else list(catalog.ids(GUIDE_SECTION))


def when(version: Version | None) -> dt.datetime | None:
    if version is None:
        return None
    try:
        return dt.datetime.fromisoformat(version.at)
    except ValueError:
        return None


__all__ = ["Draft", "VoiceRefused", "make_draft", "save_draft", "restore", "back_to_synthetic",
           "states", "call_coverage", "guide_ids", "places", "text_of", "read_capped", "draft_path", "when"]
