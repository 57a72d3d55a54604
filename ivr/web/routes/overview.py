"""The overview (home page): calls per day, outcomes, keypad vs speech, recognition
success, median time to hear the status, open follow-ups by reason -- as SVG charts.
Also serves the OpenAPI schema to signed-in users."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from ivr.web import charts, queries
from ivr.web.context import WebContext
from ivr.web.deps import PROTECTED, CurrentUser, Store, Web
from ivr.web.labels import INPUT_MODES, OUTCOMES, REASONS, label
from ivr.web.pages import MONTHS, page
from ivr.web.schemas import CountPublic, DayPublic, OverviewPublic

pages = APIRouter(tags=["overview"], dependencies=PROTECTED)
api = APIRouter(prefix="/api", tags=["overview"], dependencies=PROTECTED)

Days = Annotated[int, Query(ge=1, le=92)]


def _figures(web: WebContext, store, days: int) -> tuple[dt.date, dt.date, queries.Overview]:
    last = web.now().astimezone(web.tz).date()
    first = last - dt.timedelta(days=days - 1)
    figures = web.cached(("overview", first, last), web.overview_ttl_s,
                         lambda: queries.overview(store.engine, first, last, web.tz))
    return first, last, figures


@pages.get("/")
def overview_page(request: Request, web: Web, store: Store, user: CurrentUser, days: Days = 14):
    first, last, o = _figures(web, store, days)
    per_day = [(f"{d.day} {MONTHS[d.month - 1]}", n) for d, n in o.days]
    modes = [(label(INPUT_MODES, m), n) for m, n in o.input_modes]
    recog = [("Terdengar", o.speech_heard), ("Tidak ada/tidak jelas", o.speech_missed)]
    return page(request, "overview.html", {
        "o": o, "first": first, "last": last, "days": days,
        "chart_days": charts.column_chart(per_day, title="Panggilan per hari"),
        "chart_outcomes": charts.bar_list([(label(OUTCOMES, k), n) for k, n in o.outcomes], title="Hasil panggilan"),
        "chart_modes": charts.share_bar(modes, title="Cara menjawab: tombol atau suara"),
        "chart_recog": charts.share_bar(recog if o.speech_heard + o.speech_missed else [],
                                        title="Keberhasilan pengenalan suara"),
        "chart_follow": charts.bar_list([(label(REASONS, k), n) for k, n in o.open_follow_ups],
                                        title="Tindak lanjut terbuka per alasan"),
    })


@api.get("/overview", response_model=OverviewPublic)
def overview(web: Web, store: Store, user: CurrentUser, days: Days = 14) -> OverviewPublic:
    first, last, o = _figures(web, store, days)
    return OverviewPublic(
        first_day=first, last_day=last, total_calls=o.total,
        per_day=[DayPublic(day=d, calls=n) for d, n in o.days],
        outcomes=[CountPublic(key=k, label=label(OUTCOMES, k), count=n) for k, n in o.outcomes],
        input_modes=[CountPublic(key=k, label=label(INPUT_MODES, k), count=n) for k, n in o.input_modes],
        recognition_rate=o.recognition_rate, speech_heard=o.speech_heard, speech_missed=o.speech_missed,
        median_to_status_s=o.median_to_status_s, sampled_calls=o.sampled_calls,
        open_follow_ups=[CountPublic(key=k, label=label(REASONS, k), count=n) for k, n in o.open_follow_ups])


@api.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, user: CurrentUser) -> dict:
    return request.app.openapi()


def routers() -> list[APIRouter]:
    return [pages, api]
