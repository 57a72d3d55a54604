"""Voice coverage: the share of a typical call's audio that a human speaks.

A count of recorded prompts would mislead: the greeting is heard on every call, the
sixteen read-back digits once each, ``status/rejected`` almost never.  So the figure
follows one typical call, produced by the real (pure) call flow: a caller keys a NIK,
confirms it, hears a full schedule (day, date, time window, place, address, documents)
and hangs up at the menu.  Each prompt counts for the seconds it lasts in its live
file; silences count for nothing.  Place and address names count as human only where
the administrator recorded that place.
"""

from __future__ import annotations

import datetime as dt
import os
import wave
from dataclasses import dataclass
from pathlib import Path

from ivr.dialogue.flow import Dialogue, FlowConfig
from ivr.dialogue.vocab import (Ask, CallStarted, End, HungUp, KeysEntered, LookupDone, Play, PromptItem, Record,
                                Spoken)
from ivr.ports import RecipientInfo
from ivr.prompts.catalog import is_generated
from ivr.prompts.render import dyn_id

SECONDS_PER_CHAR = 0.092  # the rendered voice's median, for a place name not yet rendered
# A typical answer: the line's busiest case, a scheduled recipient (dates in the coming week).
TYPICAL_NIK = "3172014508850001"
TYPICAL_RECIPIENT = RecipientInfo(
    status="scheduled", collection_date=dt.date(2026, 12, 3), time_start=dt.time(8, 0), time_end=dt.time(12, 0),
    place="Kantor Kelurahan Cipinang", address="Jalan Cipinang Jaya Nomor 12, RT 05/RW 03")


def typical_call(recipient: RecipientInfo = TYPICAL_RECIPIENT, nik: str = TYPICAL_NIK) -> list[PromptItem]:
    """Every prompt item a caller hears in one typical call, in order."""
    at = dt.datetime(2026, 12, 1, 9, 0)
    flow = Dialogue(FlowConfig())
    heard: list[PromptItem] = []

    def take(step):
        for action in step.actions:
            if isinstance(action, (Play, Ask, Record, End)):
                heard.extend(action.items)
        return step

    step = take(flow.start(CallStarted(at, True)))
    for event in (KeysEntered(at, nik), KeysEntered(at, "1"), LookupDone(at, recipient), HungUp(at)):
        step = take(flow.handle(step.state, step.context, event))
    return heard


def _seconds(path: Path) -> float | None:
    try:
        with wave.open(os.fspath(path), "rb") as w:
            return w.getnframes() / w.getframerate() if w.getframerate() else None
    except (OSError, wave.Error, EOFError):
        return None


@dataclass(frozen=True)
class Coverage:
    human_s: float
    total_s: float
    items: tuple[tuple[str, float, bool], ...]  # (prompt id, seconds, human) in call order

    @property
    def share(self) -> float:
        return self.human_s / self.total_s if self.total_s else 0.0

    @property
    def percent(self) -> int:
        return round(100 * self.share)

    def missing(self) -> list[tuple[str, float]]:
        """Synthetic prompts of the typical call, longest total time first: what to record next."""
        total: dict[str, float] = {}
        for pid, seconds, human in self.items:
            if not human:
                total[pid] = total.get(pid, 0.0) + seconds
        return sorted(total.items(), key=lambda kv: -kv[1])


def coverage(audio_dir: str | os.PathLike[str], human_ids: set[str] | frozenset[str],
             items: list[PromptItem] | None = None) -> Coverage:
    """How much of ``items`` (default: the typical call) is spoken by a human.

    ``human_ids``: prompt ids (catalog ids and ``dyn/...`` place ids) whose live voice is
    a recording.
    """
    audio_dir = Path(audio_dir)
    rows: list[tuple[str, float, bool]] = []
    for item in typical_call() if items is None else items:
        if isinstance(item, Spoken):
            pid = dyn_id(item.text)
            seconds = _seconds(audio_dir / f"{pid}.wav") or len(item.text) * SECONDS_PER_CHAR
        else:
            if is_generated(item):
                continue
            pid = item
            seconds = _seconds(audio_dir / f"{pid}.wav") or 0.0
        rows.append((pid, seconds, pid in human_ids))
    human = sum(s for _, s, h in rows if h)
    total = sum(s for _, s, _ in rows)
    return Coverage(human, total, tuple(rows))
