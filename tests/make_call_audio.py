"""Regenerate the committed caller audio in tests/data/calls/ (whole spoken calls).

    python tests/make_call_audio.py

A caller says a demo NIK in two halves, then "ya", then "selesai", in espeak-ng voices
that model training never uses (``corpus.HELDOUT_VOICES``), through a mild telephone
channel at 8 kHz.  No licensed recording is involved.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.speech.make_audio import synthesize  # noqa: E402

OUT = ROOT / "tests" / "data" / "calls"
WORDS = "nol satu dua tiga empat lima enam tujuh delapan sembilan".split()
NIK = "3172014508850001"          # DEMO_NIKS["scheduled"]


def spoken(digits: str) -> str:
    return " ".join(WORDS[int(d)] for d in digits)


# (file stem, voice, rate, pitch, text): slow speech with the pauses real callers make
CALL = (
    ("nik_first_half_mike", "Mike", 125, 45, spoken(NIK[:8])),
    ("nik_second_half_mike", "Mike", 125, 45, spoken(NIK[8:])),
    ("nik_first_half_annie", "Annie", 120, 55, spoken(NIK[:8])),
    ("nik_second_half_annie", "Annie", 120, 55, spoken(NIK[8:])),
    ("nik_whole_mike", "Mike", 125, 45, spoken(NIK)),
    ("ya_andy", "Andy", 140, 50, "ya"),
    ("selesai_storm", "Storm", 140, 50, "selesai"),
)


def main() -> int:
    synthesize(CALL, OUT, np.random.default_rng(7))
    print(f"wrote {len(CALL)} files to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
