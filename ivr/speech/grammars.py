"""Grammar files: ``grammars/<name>.json``, a JSON list of phrases (Vosk's format).

The repository's ``grammars/`` folder is the source of truth.  The same lists are
kept here as a fallback so that an installed package (which does not ship the
top-level folder) still restricts each question to its own words.

A grammar may have a companion ``grammars/<name>.meta.json``:

* ``"classes"``: named sets of its phrases that mean the same answer (``yes``,
  ``no``).  The recogniser scores the best reading inside each class with a
  decode of its own and reports the scores as ``Transcript.evidence``, so the
  dialogue can ask for a clear margin between "yes" and "no" (the n-best list
  rarely holds the losing answer: the lattice beam prunes it);
* ``"costs"``: a cost per word, a prior against it in the grammar's graph (a word
  with cost 2 must explain the audio e^2 times better than its rival to win).
"""

from __future__ import annotations

import json
from pathlib import Path

from dataclasses import dataclass, field

from ivr.errors import RecognizerError

_YES = ("ya", "iya", "betul", "benar", "iye", "he'eh", "yoi", "bener", "oke")
_NO = ("tidak", "bukan", "salah", "nggak", "enggak", "gak", "ga", "kagak", "ndak",
       "tidak benar", "tidak betul", "nggak bener", "gak bener")
_CONTROL = ("ulangi", "ulang", "sekali lagi", "petugas", "operator", "cs", "[unk]")

BUILTIN: dict[str, tuple[str, ...]] = {
    "digits": ("nol", "kosong", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan",
               "sembilan", "petugas", "ulangi", "[unk]"),
    "yesno": _YES + _NO + _CONTROL,
    # The NIK read-back: yes/no, or "satu"/"dua" for the keys 1/2 (digits are the
    # words the model learnt from the most human voices).
    "confirm": _YES + ("satu",) + _NO + ("dua",) + _CONTROL,
    "menu": ("ulangi", "ulang", "sekali lagi", "lapor", "petugas", "operator", "cs", "selesai", "udah",
             "sudah", "cukup", "[unk]"),
    "group": ("satu", "dua", "tiga", "empat", "semua", "petugas", "[unk]"),
    "reminder": ("ya", "iya", "ulangi", "petugas", "jangan telepon lagi", "berhenti", "[unk]"),
}




@dataclass(frozen=True)
class GrammarMeta:
    classes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    costs: dict[str, float] = field(default_factory=dict)
    # Expected counts of digit words (a NIK: 16).  A reading within ``length_window``
    # of one but not on it is decoded again held to that count, and the held reading
    # is taken when it scores at most ``length_margin`` (log units) below the free one.
    lengths: tuple[int, ...] = ()
    length_window: int = 2
    length_margin: float = 0.0
    # Garbage as a loop of phones (``ivr.speech.graph``), for grammars that allow
    # ``[unk]``: ``phone_cost`` per phone (None: no loop), ``phone_entry`` on entering
    # it (None: the graph's reject cost).  The loop's reading is kept only when it
    # holds no garbage or scores ``phone_gate`` better than the graph without the
    # loop (``ivr.speech.recognizer``); the loop's graph decodes with ``lattice_beam``.
    phone_cost: float | None = None
    phone_entry: float | None = None
    phone_gate: float = 0.0
    lattice_beam: float | None = None


# A prior against "yes": each yes word must explain the audio e^4 (about 55) times
# better than the best other reading to be the transcript.  Chosen for the bundled
# network on held-out synthetic voices (a sweep of 0/2/4/6, MODEL_CARD.md): at 4 no
# textbook "no" of 26 is written as a yes (1 at 0 and 2), and 62% of textbook yes still
# are (47% at 6).  The read-back also needs the yes to win by IVR_YES_MARGIN.
YES_COST = 4.0
BUILTIN_META: dict[str, GrammarMeta] = {
    "yesno": GrammarMeta(classes={"yes": _YES, "no": _NO}, costs={w: YES_COST for w in _YES}),
    "confirm": GrammarMeta(classes={"yes": _YES + ("satu",), "no": _NO + ("dua",)},
                           costs={w: YES_COST for w in _YES + ("satu",)}),
    # A spoken NIK is 16 digits.  On 80 held-out human NIKs (phone channel, seeds 7
    # and 11) the free reading had the right length for 62; held to 16 when it
    # missed by at most 2 and scored at most 10 below: 78 (exact readings: 38 both).
    # Carrier words said before a NIK are garbage here ([unk]); rejecting them costs 2
    # less than rejecting other words (synthetic carrier sentences 65.7 -> 67.4% of
    # digit words right, held-out human strings unchanged).
    # Other words around the digits ("tempat tinggal lebih dari satu juta") go to a
    # phone loop, 0.75 a phone and 2.5 to enter, read only when it beats the plain
    # graph by 2 (chosen on held-out human strings, the news speaker's sentences and
    # held-out voices' sentences: 3 for the ensemble before s3, 2 since; MODEL_CARD.md
    # "Words around the digits").
    "digits": GrammarMeta(costs={w: -2.0 for w in ("nik", "saya", "nomor", "nomornya")},
                          lengths=(16,), length_window=2, length_margin=10.0,
                          phone_cost=0.75, phone_entry=2.5, phone_gate=2.0, lattice_beam=2.0),
}


def default_grammars_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "grammars"


def load_grammars(grammars_dir: Path | None) -> dict[str, tuple[str, ...]]:
    """Read every ``*.json`` grammar; fall back to the built-in lists when absent."""
    found = dict(BUILTIN)
    directory = grammars_dir if grammars_dir is not None else default_grammars_dir()
    if not directory.is_dir():
        if grammars_dir is not None:
            raise RecognizerError(f"grammars directory {directory} does not exist")
        return found
    for path in sorted(directory.glob("*.json")):
        if path.name.endswith(".meta.json"):
            continue
        try:
            phrases = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RecognizerError(f"grammar {path} is not readable JSON: {exc}") from exc
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise RecognizerError(f"grammar {path} must be a JSON list of strings")
        found[path.stem] = tuple(" ".join(p.lower().split()) for p in phrases if p.strip())
    return found


def load_grammar_meta(grammars_dir: Path | None) -> dict[str, GrammarMeta]:
    """Read every ``<name>.meta.json``; the built-in ones stand where none is given."""
    found = dict(BUILTIN_META)
    directory = grammars_dir if grammars_dir is not None else default_grammars_dir()
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.meta.json")):
        name = path.name[: -len(".meta.json")]
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            classes = {str(k): tuple(" ".join(str(p).lower().split()) for p in v)
                       for k, v in raw.get("classes", {}).items()}
            costs = {str(k).lower(): float(v) for k, v in raw.get("costs", {}).items()}
            lengths = tuple(int(n) for n in raw.get("lengths", ()))
            window = int(raw.get("length_window", 2))
            margin = float(raw.get("length_margin", 0.0))
            phone_cost = None if raw.get("phone_cost") is None else float(raw["phone_cost"])
            phone_entry = None if raw.get("phone_entry") is None else float(raw["phone_entry"])
            phone_gate = float(raw.get("phone_gate", 0.0))
            lattice_beam = None if raw.get("lattice_beam") is None else float(raw["lattice_beam"])
            if phone_cost is not None and not 0.0 <= phone_cost < float("inf"):
                raise ValueError(f"phone_cost must be a finite cost of 0 or more, not {phone_cost}")
            for key, value in (("phone_entry", phone_entry), ("phone_gate", phone_gate)):
                if value is not None and not -float("inf") < value < float("inf"):
                    raise ValueError(f"{key} must be a finite number, not {value}")
            if lattice_beam is not None and not 0.0 < lattice_beam < float("inf"):
                raise ValueError(f"lattice_beam must be a finite beam above 0, not {lattice_beam}")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise RecognizerError(f"grammar description {path} is not valid: {exc}") from exc
        found[name] = GrammarMeta(classes=classes, costs=costs, lengths=lengths, length_window=window,
                                  length_margin=margin, phone_cost=phone_cost,
                                  phone_entry=phone_entry, phone_gate=phone_gate,
                                  lattice_beam=lattice_beam)
    return found
