"""Rendering pages: the Jinja2 environment (filters for local time, labels) and one helper
that every page goes through, so each gets the signed-in user, its CSRF token and
``Cache-Control: no-store`` (pages show personal data)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates

from ivr.web import labels
from ivr.web.problems import indonesian

TEMPLATES = Path(__file__).resolve().parent / "templates"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def make_templates(tz: ZoneInfo) -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env

    def local(value: dt.datetime | None, fmt: str = "full") -> str:
        if value is None:
            return "-"
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        v = value.astimezone(tz)
        if fmt == "time":
            return v.strftime("%H:%M:%S")
        return f"{v.day} {MONTHS[v.month - 1]} {v.year} {v:%H:%M}"

    def day(value: dt.date | None) -> str:
        return "-" if value is None else f"{value.day} {MONTHS[value.month - 1]} {value.year}"

    def seconds(value: float | None) -> str:
        if value is None:
            return "-"
        s = int(round(value))
        return f"{s // 60}:{s % 60:02d}"

    env.filters.update(local=local, day=day, seconds=seconds,
                       combine_cursor=lambda keep, cursor: {**keep, "cursor": cursor})
    env.globals.update(
        L=labels, label=labels.label, OUTCOMES=labels.OUTCOMES, INPUT_MODES=labels.INPUT_MODES,
        REASONS=labels.REASONS, STATES=labels.STATES, RECIPIENT_STATUSES=labels.RECIPIENT_STATUSES,
        FOLLOW_UP_FILTERS=labels.FOLLOW_UP_FILTERS, PURPOSES=labels.PURPOSES, ROLES=labels.ROLES,
        AUDIT_ACTIONS=labels.AUDIT_ACTIONS, detail=labels.detail, problem_text=indonesian,
    )
    return templates


def page(request: Request, name: str, context: dict | None = None, status_code: int = 200):
    web = request.app.state.web
    user = getattr(request.state, "user", None)
    ctx = {"user": user, "csrf": user.csrf if user else "", **(context or {})}
    response = web.templates.TemplateResponse(request, name, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
