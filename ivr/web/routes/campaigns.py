"""Reminder campaigns (administrators): who, when and how fast; progress and results
live; a CSV of results without full NIKs or numbers; days on which nobody is called.

The web app only writes to the store: the dialer of each running service instance
picks running campaigns up on its next tick, so no AMI connection is opened here.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field, ValidationError, model_validator

from ivr.outbound.rules import EARLIEST, LATEST
from ivr.store.models import RECIPIENT_STATUSES
from ivr.store.outbound import CampaignSpec
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store
from ivr.web.pages import page

pages = APIRouter(tags=["campaigns"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/campaigns", tags=["campaigns"], dependencies=ADMIN_ONLY)

STATE_LABELS = {"draft": "Draf", "running": "Berjalan", "paused": "Dijeda", "done": "Selesai"}
RESULT_LABELS = {"": "-", "confirmed": "Mengonfirmasi", "heard": "Tersambung", "operator": "Ke petugas",
                 "opted_out": "Tidak mau ditelepon lagi", "busy": "Sibuk", "no_answer": "Tidak diangkat",
                 "failed": "Gagal", "congestion": "Jaringan penuh", "lost": "Tidak diketahui",
                 "no_response": "Diangkat, tanpa jawaban", "skipped": "Dilewati", "invalid": "Nomor tidak sah",
                 "not_sent": "Tidak terkirim"}
TARGET_STATES = {"pending": "Menunggu", "retry": "Menunggu dicoba lagi", "dialing": "Sedang ditelepon",
                 "done": "Selesai", "skipped": "Dilewati"}


class CampaignCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    collection_date: dt.date | None = None
    phase: str = Field("", max_length=60)
    status: str = ""
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    day_start: dt.time = EARLIEST
    day_end: dt.time = LATEST
    max_concurrent: int = Field(10, ge=1, le=200)
    per_minute: int = Field(30, ge=1, le=1000)
    max_attempts: int = Field(3, ge=1, le=10)
    retry_minutes: int = Field(30, ge=1, le=1440)

    @model_validator(mode="after")
    def _sane(self):
        if self.status and self.status not in RECIPIENT_STATUSES:
            raise ValueError("status penerima tidak dikenal")
        if self.collection_date is None and not self.phase and not self.status:
            raise ValueError("pilih tanggal pengambilan, tahap atau status penerima")
        if not (EARLIEST <= self.day_start < self.day_end <= LATEST):
            raise ValueError("jam menelepon harus di antara 08.00 dan 20.00, jam mulai sebelum jam selesai")
        if self.first_day and self.last_day and self.first_day > self.last_day:
            raise ValueError("hari pertama harus sebelum hari terakhir")
        return self


class ProgressPublic(BaseModel):
    id: int
    name: str
    state: str
    total: int
    pending: int
    dialing: int
    reached: int
    confirmed: int
    not_reached: int
    opted_out: int
    skipped: int
    attempts: int


def _progress(store, campaign) -> ProgressPublic:
    p = store.campaign_progress(campaign.id)
    return ProgressPublic(id=campaign.id, name=campaign.name, state=campaign.state, total=p.total,
                          pending=p.pending, dialing=p.dialing, reached=p.reached, confirmed=p.confirmed,
                          not_reached=p.not_reached, opted_out=p.opted_out, skipped=p.skipped, attempts=p.attempts)


def _create(store, body: CampaignCreate, by: str) -> tuple[int, dict[str, int]]:
    return store.create_campaign(CampaignSpec(**body.model_dump()), by=by)


def _campaign(store, campaign_id: int):
    c = store.get_campaign(campaign_id)
    if c is None:
        raise HTTPException(404, "kampanye tidak ditemukan")
    return c


def _list_context(store, web_today: dt.date, error: str | None = None, form: dict | None = None) -> dict:
    return {"campaigns": [(c, _progress(store, c)) for c in store.list_campaigns()],
            "blocked": store.blocked_days(web_today), "error": error, "form": form or {},
            "states": STATE_LABELS, "statuses": RECIPIENT_STATUSES, "today": web_today}


@pages.get("/campaigns")
def campaigns_page(request: Request, store: Store, user: AdminUser):
    today = request.app.state.web.now().date()
    return page(request, "campaigns.html", _list_context(store, today))


def _opt(value: str) -> str | None:
    return value.strip() or None


@pages.post("/campaigns")
def create_page(request: Request, store: Store, user: AdminUser,
                name: Annotated[str, Form(max_length=200)] = "",
                collection_date: Annotated[str, Form()] = "", phase: Annotated[str, Form(max_length=60)] = "",
                status: Annotated[str, Form()] = "", first_day: Annotated[str, Form()] = "",
                last_day: Annotated[str, Form()] = "", day_start: Annotated[str, Form()] = "08:00",
                day_end: Annotated[str, Form()] = "20:00", max_concurrent: Annotated[str, Form()] = "10",
                per_minute: Annotated[str, Form()] = "30", max_attempts: Annotated[str, Form()] = "3",
                retry_minutes: Annotated[str, Form()] = "30"):
    form = dict(name=name.strip(), collection_date=_opt(collection_date), phase=phase.strip(), status=status,
                first_day=_opt(first_day), last_day=_opt(last_day), day_start=day_start, day_end=day_end,
                max_concurrent=max_concurrent, per_minute=per_minute, max_attempts=max_attempts,
                retry_minutes=retry_minutes)
    try:
        body = CampaignCreate(**form)
    except ValidationError as exc:
        messages = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        today = request.app.state.web.now().date()
        return page(request, "campaigns.html",
                    _list_context(store, today, f"Kampanye tidak dibuat: {messages}", form), status_code=422)
    cid, _counts = _create(store, body, user.name)
    return RedirectResponse(f"/campaigns/{cid}", status_code=303)


@pages.get("/campaigns/{campaign_id}")
def campaign_page(request: Request, store: Store, user: AdminUser, campaign_id: int):
    c = _campaign(store, campaign_id)
    rows = store.campaign_results(campaign_id)
    return page(request, "campaign.html", {
        "c": c, "p": _progress(store, c), "rows": rows[:200], "more": max(0, len(rows) - 200),
        "states": STATE_LABELS, "results": RESULT_LABELS, "target_states": TARGET_STATES})


@pages.post("/campaigns/{campaign_id}/state")
def set_state(store: Store, user: AdminUser, campaign_id: int, state: Annotated[str, Form()]):
    _campaign(store, campaign_id)
    if state not in ("running", "paused", "done"):
        raise HTTPException(422, "status kampanye tidak dikenal")
    store.set_campaign_state(campaign_id, state, by=user.name)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


@pages.get("/campaigns/{campaign_id}/results.csv")
def results_csv(store: Store, user: AdminUser, campaign_id: int):
    """Masked NIK and number only: the export leaves this screen and this building."""
    c = _campaign(store, campaign_id)
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["nik", "nama", "telepon", "status", "hasil", "percobaan", "terakhir_ditelepon", "keterangan"])
    for r in store.campaign_results(campaign_id):
        w.writerow([r.nik_masked, r.name, r.phone_masked, r.state, r.result, r.attempts,
                    r.last_attempt.isoformat() if r.last_attempt else "", r.reason])
    store.audit(user.name, "export_campaign", str(campaign_id), c.name[:100])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="kampanye-{campaign_id}.csv"'})


@pages.post("/campaigns/blocked-days")
def block_day(request: Request, store: Store, user: AdminUser, day: Annotated[str, Form()],
              note: Annotated[str, Form(max_length=200)] = ""):
    try:
        when = dt.date.fromisoformat(day.strip())
    except ValueError:
        today = request.app.state.web.now().date()
        return page(request, "campaigns.html",
                    _list_context(store, today, "Tanggal tidak sah: gunakan format TTTT-BB-HH."), status_code=422)
    store.block_day(when, note=note.strip(), by=user.name)
    return RedirectResponse("/campaigns#blocked", status_code=303)


@pages.post("/campaigns/blocked-days/delete")
def unblock_day(store: Store, user: AdminUser, day: Annotated[str, Form()]):
    try:
        when = dt.date.fromisoformat(day.strip())
    except ValueError:
        raise HTTPException(422, "tanggal tidak sah") from None
    store.unblock_day(when, by=user.name)
    return RedirectResponse("/campaigns#blocked", status_code=303)


@api.get("", response_model=list[ProgressPublic])
def list_api(store: Store, user: AdminUser) -> list[ProgressPublic]:
    return [_progress(store, c) for c in store.list_campaigns()]


@api.post("", response_model=ProgressPublic, status_code=201)
def create_api(store: Store, user: AdminUser, body: CampaignCreate) -> ProgressPublic:
    cid, _ = _create(store, body, user.name)
    return _progress(store, _campaign(store, cid))


@api.get("/{campaign_id}", response_model=ProgressPublic)
def progress_api(store: Store, user: AdminUser, campaign_id: int) -> ProgressPublic:
    """What the campaign page polls for its live figures."""
    return _progress(store, _campaign(store, campaign_id))


def routers() -> list[APIRouter]:
    return [pages, api]
