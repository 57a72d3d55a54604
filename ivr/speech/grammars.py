"""Grammar files: ``grammars/<name>.json``, a JSON list of phrases (Vosk's format).

The repository's ``grammars/`` folder is the source of truth.  The same lists are
kept here as a fallback so that an installed package (which does not ship the
top-level folder) still restricts each question to its own words.
"""

from __future__ import annotations

import json
from pathlib import Path

from ivr.errors import RecognizerError

BUILTIN: dict[str, tuple[str, ...]] = {
    "digits": ("nol", "kosong", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan",
               "sembilan", "petugas", "ulangi", "[unk]"),
    "yesno": ("ya", "iya", "betul", "benar", "tidak", "bukan", "salah", "ulangi", "petugas", "[unk]"),
    "menu": ("ulangi", "lapor", "petugas", "selesai", "[unk]"),
    "group": ("satu", "dua", "tiga", "empat", "semua", "petugas", "[unk]"),
    "reminder": ("ya", "iya", "ulangi", "petugas", "jangan telepon lagi", "berhenti", "[unk]"),
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
        try:
            phrases = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RecognizerError(f"grammar {path} is not readable JSON: {exc}") from exc
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            raise RecognizerError(f"grammar {path} must be a JSON list of strings")
        found[path.stem] = tuple(" ".join(p.lower().split()) for p in phrases if p.strip())
    return found
