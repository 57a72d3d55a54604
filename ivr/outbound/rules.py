"""Rules of decency for outbound calls.  Pure: the time arrives as an argument.

* no call before 08:00 or from 20:00 Jakarta time (a campaign may narrow the hours);
* none on a day the administrators blocked, nor outside a campaign's date window;
* callbacks only while the office is open, since they are meant to reach an operator.

A number that opted out, or that is withheld or invalid, is filtered in the store
(``ivr.store.outbound``) where each is kept with its reason.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

EARLIEST = dt.time(8, 0)
LATEST = dt.time(20, 0)


@dataclass(frozen=True)
class Window:
    """When one campaign (or the callbacks) may call: daily hours and a date range."""

    day_start: dt.time = EARLIEST
    day_end: dt.time = LATEST
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(7)))   # Monday = 0


def refusal(at: dt.datetime, window: Window, blocked: frozenset[dt.date] | set[dt.date]) -> str:
    """Why no call may be placed at local time ``at`` ("" when one may)."""
    day, clock = at.date(), at.time()
    if clock < EARLIEST or clock >= LATEST:
        return "di luar jam 08.00-20.00"
    if clock < window.day_start or clock >= window.day_end:
        return "di luar jam kampanye"
    if day in blocked:
        return "hari diblokir administrator"
    if window.first_day is not None and day < window.first_day:
        return "kampanye belum mulai"
    if window.last_day is not None and day > window.last_day:
        return "kampanye sudah lewat"
    if at.weekday() not in window.weekdays:
        return "hari libur kantor"
    return ""


def outcome_of(success: bool, reason: str) -> str:
    """An OriginateResponse as one word.  ``reason`` is the last AST_CONTROL_* state of
    the dial (Asterisk's channel.c / frame.h): 4 answered, 5 busy, 8 congestion, 3 it
    rang until the timeout, 1 the far end hung up before answering, 0 no channel at all."""
    if success:
        return "answered"
    return {"5": "busy", "8": "congestion", "3": "no_answer", "1": "no_answer"}.get(reason.strip(), "failed")
