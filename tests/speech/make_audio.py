"""Regenerate the committed synthetic test audio in tests/data/asr/.

    python tests/speech/make_audio.py

Only espeak-ng voices that training never uses (``corpus.HELDOUT_VOICES``) speak
here, at 8 kHz through a fixed, mild telephone channel.  No licensed recording is
involved.  ``manifest.tsv`` lists every speech file with its transcript.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ivr.speech.train import augment, corpus  # noqa: E402

OUT = ROOT / "tests" / "data" / "asr"

# (file stem, voice, rate, pitch, text)
SPEECH = (
    ("digits_andy", "Andy", 150, 45, "satu dua tiga"),
    ("digits_annie", "Annie", 140, 60, "tujuh delapan sembilan nol"),
    ("digits_mike", "Mike", 160, 40, "empat lima enam"),
    ("digits_female3", "female3", 145, 55, "kosong dua kosong lima"),
    ("digits_storm", "Storm", 150, 50, "sembilan"),
    ("yes_andy", "Andy", 150, 50, "ya"),
    ("yes_annie", "Annie", 140, 55, "betul"),
    ("no_mike", "Mike", 150, 45, "tidak"),
    ("no_female3", "female3", 150, 55, "bukan"),
    ("menu_storm", "Storm", 150, 50, "ulangi"),
    ("menu_andy", "Andy", 150, 50, "selesai"),
)


def synthesize(entries, out: Path, rng: np.random.Generator) -> None:
    """Speak each (stem, voice, rate, pitch, text) through a mild telephone channel
    into ``out/<stem>.wav`` and list them in ``out/manifest.tsv``."""
    assert all(voice in corpus.HELDOUT_VOICES for _, voice, *_ in entries), "held-out voices only"
    out.mkdir(parents=True, exist_ok=True)
    mild = augment.Telephone(snr_db=(25.0, 30.0), noise_prob=1.0, reverb_prob=0.0,
                             codec_probs=(0.5, 0.5, 0.0, 0.0))
    lines = []
    for stem, voice, rate, pitch, text in entries:
        x, r = corpus.espeak(text, voice, rate, pitch)
        y, _ = augment.telephone(x, r, rng, mild, lead_s=(0.3, 0.4))
        sf.write(out / f"{stem}.wav", y, augment.RATE, subtype="PCM_16")
        lines.append(f"{stem}.wav\t{text}\n")
    (out / "manifest.tsv").write_text("".join(lines), encoding="utf-8")


def main() -> int:
    rng = np.random.default_rng(2024)
    synthesize(SPEECH, OUT, rng)
    sf.write(OUT / "silence.wav", np.zeros(int(1.5 * augment.RATE), np.float32), augment.RATE, subtype="PCM_16")
    noise = augment._channel_filter(augment.make_noise(2 * augment.RATE, rng), rng)
    noise *= 10 ** (-30 / 20) / np.sqrt(np.mean(noise ** 2))
    sf.write(OUT / "noise.wav", np.clip(noise, -1, 1), augment.RATE, subtype="PCM_16")
    # The same utterance at 16 kHz stereo: the recogniser must accept any rate and layout.
    x, r = corpus.espeak("dua tiga", "Mike", 150, 45)
    y = augment.resample(x, r, 16000)
    sf.write(OUT / "digits_mike_16k_stereo.wav", np.stack([y, y], axis=1) * 0.3, 16000, subtype="PCM_16")
    print(f"wrote {len(SPEECH) + 3} files to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
