"""Recipients (administrators): upload a CSV/XLSX list, read its validation report,
apply it all or nothing; look a NIK up (exact, by keyed hash; audited) and see what a
caller would hear."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile

from ivr.dialogue.flow import answer_items
from ivr.dialogue.vocab import Spoken
from ivr.ports import RecipientInfo
from ivr.store.views import RecipientView
from ivr.web import uploads
from ivr.web.context import WebContext
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store, Web
from ivr.web.pages import page
from ivr.web.schemas import HeardItemPublic, RecipientPublic, RecipientSearch, UploadAppliedPublic, UploadPreviewPublic
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


def _preview(web: WebContext, store, file: UploadFile) -> uploads.Preview:
    try:
        token, path, size = uploads.save(web.uploads_dir, file.filename or "", file.file, web.max_upload_bytes)
    except uploads.UploadTooLarge as exc:
        return uploads.Preview(None, file.filename or "", 0, 0, 0, 0,
                               ((0, f"{exc}; tidak ada yang diubah"),), 1)
    return uploads.preview(store, token, path, file.filename or "", size)


@pages.get("/recipients")
def recipients_page(request: Request, store: Store, user: AdminUser):
    return page(request, "recipients.html", {"count": store.recipient_count(), "preview": None,
                                             "applied": None, "found": None, "error": None})


@pages.post("/recipients/upload")
def upload_page(request: Request, web: Web, store: Store, user: AdminUser, file: Annotated[UploadFile, File()]):
    preview = _preview(web, store, file)
    return page(request, "recipients.html", {"count": store.recipient_count(), "preview": preview,
                                             "applied": None, "found": None, "error": None},
                status_code=200 if preview.ok else 422)


@pages.post("/recipients/apply")
def apply_page(request: Request, web: Web, store: Store, user: AdminUser,
               token: Annotated[str, Form(max_length=80)]):
    applied = uploads.apply(store, web.uploads_dir, token, user.name)
    error = None if applied else "Unggahan tidak ditemukan atau sudah kedaluwarsa (1 jam). Unggah ulang berkasnya."
    return page(request, "recipients.html", {"count": store.recipient_count(), "preview": None,
                                             "applied": applied, "found": None, "error": error},
                status_code=200 if applied and applied.ok else (404 if applied is None else 422))


@pages.post("/recipients/search")
def search_page(request: Request, web: Web, store: Store, user: AdminUser,
                nik: Annotated[str, Form(max_length=40)]):
    # a POST, so the NIK never sits in a URL, a browser history or an access log
    nik = nik.strip().replace(" ", "")
    if not (len(nik) == 16 and nik.isdigit()):
        return page(request, "recipients.html", {"count": store.recipient_count(), "preview": None,
                                                 "applied": None, "found": None,
                                                 "error": "NIK harus 16 angka."}, status_code=422)
    return page(request, "recipients.html", {"count": store.recipient_count(), "preview": None, "applied": None,
                                             "found": search(web, store, nik, user.name), "error": None})


@api.post("/uploads", response_model=UploadPreviewPublic)
def upload(web: Web, store: Store, user: AdminUser, file: Annotated[UploadFile, File()]) -> UploadPreviewPublic:
    """Check a list without applying it.  When ``ok``, apply it with its ``token``."""
    return UploadPreviewPublic(**_preview(web, store, file).as_dict())


@api.post("/uploads/{token}/apply", response_model=UploadAppliedPublic)
def apply(web: Web, store: Store, user: AdminUser, token: str) -> UploadAppliedPublic:
    applied = uploads.apply(store, web.uploads_dir, token, user.name)
    if applied is None:
        raise HTTPException(404, "unggahan tidak ditemukan atau kedaluwarsa")
    return UploadAppliedPublic(**applied.as_dict())


@api.post("/search", response_model=RecipientPublic)
def search_api(web: Web, store: Store, user: AdminUser, body: RecipientSearch) -> RecipientPublic:
    return search(web, store, body.nik, user.name)


def routers() -> list[APIRouter]:
    return [pages, api]
