"""Recipients (administrators): upload a CSV/XLSX list, read its validation report,
apply it all or nothing; look a NIK up (exact, by keyed hash; audited) and see what a
caller would hear."""

from __future__ import annotations

from typing import Annotated

import contextlib

from fastapi import APIRouter, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse

from ivr.dialogue.flow import answer_items
from ivr.dialogue.vocab import Spoken
from ivr.errors import StoreError
from ivr.ports import RecipientInfo
from ivr.store.views import RecipientView
from ivr.web import uploads
from ivr.web.context import WebContext
from ivr.web.jobs import ImportJob, JobBusy
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store, Web
from ivr.web.pages import page
from ivr.web.schemas import (
    HeardItemPublic, ImportJobPublic, RecipientPublic, RecipientSearch, UploadAppliedPublic, UploadPreviewPublic,
)
from ivr.web.timeline import prompt_text

pages = APIRouter(tags=["recipients"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/recipients", tags=["recipients"], dependencies=ADMIN_ONLY)


def heard(web: WebContext, view: RecipientView | None) -> list[HeardItemPublic]:
    """The answer a caller with this NIK hears, prompt by prompt."""
    info = None
    if view is not None:
        info = RecipientInfo(status=view.status, name=view.name, phase=view.phase or "",
                             collection_date=view.collection_date, time_start=view.time_start,
                             time_end=view.time_end, place=view.place or "", address=view.address or "",
                             documents=tuple(view.documents), collected_on=view.collected_on)
    catalog = web.catalog()
    out = []
    for item in answer_items(info):
        if isinstance(item, Spoken):
            out.append(HeardItemPublic(id=None, text=item.text))
        else:
            out.append(HeardItemPublic(id=item, text=prompt_text(catalog, item)))
    return out


def search(web: WebContext, store, nik: str, by: str) -> RecipientPublic:
    view = store.find_recipient(nik, by=by)
    from ivr import nik as nikmod

    if view is None:
        return RecipientPublic(found=False, nik=nikmod.mask(nik), status="not_found", heard=heard(web, None))
    return RecipientPublic(
        found=True, nik=view.nik, name=view.name, phone=view.phone, status=view.status, phase=view.phase,
        collection_date=view.collection_date, time_start=view.time_start, time_end=view.time_end,
        place=view.place, address=view.address, documents=list(view.documents),
        collected_on=view.collected_on, heard=heard(web, view))


BUSY = "Impor lain sedang berjalan ({}); tunggu sampai selesai lalu unggah lagi. Tidak ada yang diubah."


def _check(web: WebContext, store, file: UploadFile, by: str) -> ImportJob | uploads.Preview:
    """Save the upload and check it as an import job; a small file's job is waited for."""
    filename = file.filename or ""
    try:
        path, size = uploads.save(web.uploads_dir, filename, file.file, web.max_upload_bytes)
    except uploads.UploadTooLarge as exc:
        return uploads.refused(filename, f"{exc}; tidak ada yang diubah")
    handed_over = False
    try:
        with contextlib.suppress(StoreError):
            uploads.sweep(store)
        # JobBusy goes to the caller; the file is deleted on the way out
        job = web.jobs.start("check", lambda watch: uploads.check(store, path, filename, size, by, watch),
                             filename=uploads.clean_name(filename), size=size, by=by)
        handed_over = True          # from here the job deletes the file when its check ends
    finally:
        if not handed_over:
            path.unlink(missing_ok=True)
    if size <= web.inline_check_bytes:
        job.done.wait()
    return job


def _apply(web: WebContext, store, token: str, by: str) -> ImportJob | None:
    """Apply a checked list as an import job (a small one waited for); None when the token
    is unknown or expired; JobBusy when another job runs."""
    waiting = uploads.pending(store, token)
    if waiting is None:
        return None
    job = web.jobs.start("apply", lambda watch: uploads.apply(store, token, by, watch),
                         filename=waiting["source"], size=waiting["size"], by=by)
    if waiting["rows"] <= web.inline_apply_rows:
        job.done.wait()
    return job


def _context(store, job: ImportJob | None = None, **extra) -> dict:
    """The page's context; a finished job shows its result, a running one its progress."""
    context = {"count": store.recipient_count(), "job": None, "preview": None, "applied": None,
               "found": None, "error": None}
    if job is not None:
        context["job"] = job
        if job.state == "done":
            context["preview" if job.kind == "check" else "applied"] = job.result
        elif job.state == "failed":
            context["error"] = job.error
    context.update(extra)
    return context


def _status(job: ImportJob) -> int:
    if job.state == "running":
        return 202
    if job.state == "failed":
        return 503
    return 200 if job.result.ok else 422


@pages.get("/recipients")
def recipients_page(request: Request, web: Web, store: Store, user: AdminUser, job: str | None = None):
    shown = web.jobs.get(job) if job else web.jobs.latest()
    return page(request, "recipients.html", _context(store, shown))


@pages.post("/recipients/upload")
def upload_page(request: Request, web: Web, store: Store, user: AdminUser, file: Annotated[UploadFile, File()]):
    try:
        outcome = _check(web, store, file, user.name)
    except JobBusy as exc:
        return page(request, "recipients.html", _context(store, error=BUSY.format(exc)), status_code=409)
    if isinstance(outcome, uploads.Preview):
        return page(request, "recipients.html", _context(store, preview=outcome), status_code=422)
    if outcome.state == "running":
        return RedirectResponse(f"/recipients?job={outcome.id}", status_code=303)
    return page(request, "recipients.html", _context(store, outcome), status_code=_status(outcome))


@pages.post("/recipients/apply")
def apply_page(request: Request, web: Web, store: Store, user: AdminUser,
               token: Annotated[str, Form(max_length=80)]):
    try:
        outcome = _apply(web, store, token, user.name)
    except JobBusy as exc:
        return page(request, "recipients.html", _context(store, error=BUSY.format(exc)), status_code=409)
    if outcome is None:
        return page(request, "recipients.html", _context(store, error=EXPIRED), status_code=404)
    if outcome.state == "running":
        return RedirectResponse(f"/recipients?job={outcome.id}", status_code=303)
    return page(request, "recipients.html", _context(store, outcome), status_code=_status(outcome))


@pages.post("/recipients/discard")
def discard_page(request: Request, store: Store, user: AdminUser, token: Annotated[str, Form(max_length=80)]):
    uploads.discard(store, token)
    return RedirectResponse("/recipients", status_code=303)


EXPIRED = "Unggahan tidak ditemukan atau sudah kedaluwarsa (1 jam). Unggah ulang berkasnya."


@pages.post("/recipients/search")
def search_page(request: Request, web: Web, store: Store, user: AdminUser,
                nik: Annotated[str, Form(max_length=40)]):
    # a POST, so the NIK never sits in a URL, a browser history or an access log
    nik = nik.strip().replace(" ", "")
    if not (len(nik) == 16 and nik.isdigit()):
        return page(request, "recipients.html", _context(store, error="NIK harus 16 angka."), status_code=422)
    return page(request, "recipients.html", _context(store, found=search(web, store, nik, user.name)))


def _job_public(job: ImportJob) -> ImportJobPublic:
    return ImportJobPublic(**job.as_dict())


@api.post("/uploads", response_model=UploadPreviewPublic,
          responses={202: {"model": ImportJobPublic, "description": "a large list: checked in the background"}})
def upload(web: Web, store: Store, user: AdminUser, file: Annotated[UploadFile, File()]):
    """Check a list without applying it.  A small list's report comes back at once (when
    ``ok``, apply it with its ``token``); a large one answers 202 with the import job to
    follow at ``/api/recipients/jobs/{id}``."""
    try:
        outcome = _check(web, store, file, user.name)
    except JobBusy as exc:
        raise HTTPException(409, BUSY.format(exc)) from None
    if isinstance(outcome, uploads.Preview):
        return UploadPreviewPublic(**outcome.as_dict())
    if outcome.state == "running":
        return JSONResponse(_job_public(outcome).model_dump(mode="json"), status_code=202)
    if outcome.state == "failed":
        raise HTTPException(503, outcome.error)
    return UploadPreviewPublic(**outcome.result.as_dict())


@api.post("/uploads/{token}/apply", response_model=UploadAppliedPublic,
          responses={202: {"model": ImportJobPublic, "description": "a large list: applied in the background"}})
def apply(web: Web, store: Store, user: AdminUser, token: str):
    try:
        outcome = _apply(web, store, token, user.name)
    except JobBusy as exc:
        raise HTTPException(409, BUSY.format(exc)) from None
    if outcome is None:
        raise HTTPException(404, "unggahan tidak ditemukan atau kedaluwarsa")
    if outcome.state == "running":
        return JSONResponse(_job_public(outcome).model_dump(mode="json"), status_code=202)
    if outcome.state == "failed":
        raise HTTPException(503, outcome.error)
    return UploadAppliedPublic(**outcome.result.as_dict())


@api.delete("/uploads/{token}", status_code=204)
def discard(store: Store, user: AdminUser, token: str) -> Response:
    """Forget a checked list that will not be applied."""
    if not uploads.discard(store, token):
        raise HTTPException(404, "unggahan tidak ditemukan atau kedaluwarsa")
    return Response(status_code=204)


@api.get("/jobs/latest", response_model=ImportJobPublic)
def latest_job(web: Web, user: AdminUser) -> ImportJobPublic:
    job = web.jobs.latest()
    if job is None:
        raise HTTPException(404, "belum ada impor")
    return _job_public(job)


@api.get("/jobs/{job_id}", response_model=ImportJobPublic)
def job_status(web: Web, user: AdminUser, job_id: str) -> ImportJobPublic:
    """An import job's progress and, once finished, its result."""
    job = web.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, "impor tidak ditemukan")
    return _job_public(job)


@api.post("/search", response_model=RecipientPublic)
def search_api(web: Web, store: Store, user: AdminUser, body: RecipientSearch) -> RecipientPublic:
    return search(web, store, body.nik, user.name)


def routers() -> list[APIRouter]:
    return [pages, api]
