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
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.speech.train import augment, corpus  # noqa: E402

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
    assert all(voice in corpus.HELDOUT_VOICES for _, voice, *_ in CALL), "use held-out voices only"
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    mild = augment.Telephone(snr_db=(25.0, 30.0), noise_prob=1.0, reverb_prob=0.0,
                             codec_probs=(0.5, 0.5, 0.0, 0.0))
    lines = []
    for stem, voice, rate, pitch, text in CALL:
        x, r = corpus.espeak(text, voice, rate, pitch)
        y, _ = augment.telephone(x, r, rng, mild, lead_s=(0.3, 0.4))
        sf.write(OUT / f"{stem}.wav", y, augment.RATE, subtype="PCM_16")
        lines.append(f"{stem}.wav\t{text}\n")
    (OUT / "manifest.tsv").write_text("".join(lines), encoding="utf-8")
    print(f"wrote {len(CALL)} files to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
