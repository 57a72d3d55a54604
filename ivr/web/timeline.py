"""A call's log as the step-by-step timeline operators read: what the line said (prompt
ids with their text from the catalog), what the caller pressed or said, the lookup
result and how it ended."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.prompts.catalog import Catalog
from ivr.store.views import CallDetail
from ivr.web.labels import EVENTS, OUTCOMES, REASONS, RECIPIENT_STATUSES, label


@dataclass(frozen=True)
class PromptLine:
    id: str
    text: str


@dataclass(frozen=True)
class Step:
    seq: int
    offset: str                  # "+0:07" from the call's start
    kind: str
    title: str
    state: str
    prompts: tuple[PromptLine, ...] = ()
    keys: str = ""
    heard: str = ""
    confidence: float | None = None
    note: str = ""

    def as_dict(self) -> dict:
        return {"seq": self.seq, "offset": self.offset, "kind": self.kind, "title": self.title,
                "state": self.state, "prompts": [{"id": p.id, "text": p.text} for p in self.prompts],
                "keys": self.keys, "heard": self.heard, "confidence": self.confidence, "note": self.note}


def prompt_text(catalog: Catalog | None, prompt_id: str) -> str:
    if prompt_id.startswith("dyn/"):
        return "(teks dinamis: nama tempat atau alamat)"
    if prompt_id.startswith("silence/"):
        return "(jeda)"
    if catalog is not None and prompt_id in catalog:
        return catalog.text(prompt_id)
    return "(teks tidak ada di katalog)"


def _offset(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"+{seconds // 60}:{seconds % 60:02d}"


def _note(kind: str, detail: dict) -> str:
    if kind == "lookup":
        return "Hasil: " + label(RECIPIENT_STATUSES, str(detail.get("status") or ""))
    if kind == "no_input":
        return {"timeout": "waktu habis", "silence": "diam / tidak jelas",
                "no recording": "tidak ada rekaman"}.get(str(detail.get("reason")), str(detail.get("reason", "")))
    if kind == "end":
        return label(OUTCOMES, str(detail.get("outcome") or ""))
    if kind == "follow_up":
        return label(REASONS, str(detail.get("reason") or ""))
    if kind == "fault":
        return "jenis: " + str(detail.get("kind", "?"))
    if kind == "state":
        return f"{detail.get('from', '')} \u2192 {detail.get('to', '')}"
    if kind == "transfer_done":
        return str(detail.get("status", ""))
    if kind == "recorded":
        return f"{detail.get('purpose', '')}, {int(detail.get('duration_ms') or 0) / 1000:.1f} detik"
    if kind == "nik_confirmed":
        return str(detail.get("nik", ""))
    return ""


def build(detail: CallDetail, catalog: Catalog | None) -> tuple[Step, ...]:
    start = detail.call.started
    steps = []
    for e in detail.events:
        d = e.detail if isinstance(e.detail, dict) else {}
        steps.append(Step(
            seq=e.seq, offset=_offset((e.at - start).total_seconds()), kind=e.kind,
            title=EVENTS.get(e.kind, e.kind), state=e.state,
            prompts=tuple(PromptLine(p, prompt_text(catalog, p)) for p in e.prompts),
            keys=e.keys, heard=e.transcript, confidence=e.confidence, note=_note(e.kind, d)))
    return tuple(steps)
