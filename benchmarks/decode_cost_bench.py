"""What the digits question's answers cost to decode, the loop of phones' own
label against the decodes before it (``ivr.speech.recognizer``).

The digits question decodes with a loop of phones as garbage, and when the loop's
best reading holds garbage the plain graph decodes too, for the gate.  The loop now
writes a label of its own, so a reading whose garbage is only the model's own words
("NIK saya", "eh", heard as [unk]) is told apart: it is the plain graph's best too,
and the second decode is left out (``VoskRecognizer.plain_when_words`` False; True is
the behaviour before).

Prints, per set: the real-time factor (decode seconds over audio seconds, one
thread) both ways, their ratio, the decodes per answer, and how many transcripts
came out the same (Kaldi's dither differs between decodes, so a borderline answer can
move either way; with the dither off they are the same).

    python benchmarks/decode_cost_bench.py [--rounds 5] [--sentences 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.speech.recognizer import default_model_dir, load_recognizer, read_audio  # noqa: E402
from ivr.speech.train import augment, corpus  # noqa: E402

DATA = ROOT / "tests" / "data" / "asr"
RATE = 8000
# Digits among words a held-out synthetic voice says: carrier words the model knows, and
# everyday words it does not (which only the loop can take).
CARRIER = ("nik saya tiga satu tujuh satu, eh, nol dua", "nomor saya lima enam, em, dua satu",
           "eh, nik saya, tiga dua, ee, tujuh lima", "nomornya delapan sembilan, eh, nol satu")
EVERYDAY = ("tolong dicek ya, nomornya lima enam", "gini mbak, nik saya tiga satu, terus tujuh empat",
            "tempat tinggal saya di jakarta timur", "anu, nomor induk saya dua sembilan delapan")


class _Counting:
    """Counts a recogniser's decodes (one Vosk recogniser each)."""

    def __init__(self, rec):
        self.vosk, self.made = rec._vosk, 0
        rec._vosk = self

    def KaldiRecognizer(self, *args):              # noqa: N802 - vosk's name
        self.made += 1
        return self.vosk.KaldiRecognizer(*args)


def _sentences(tmp: Path, texts: tuple[str, ...], count: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        x, r = corpus.espeak(texts[i % len(texts)], voice, int(rng.integers(120, 190)),
                             int(rng.integers(20, 80)))
        y = augment.resample(x, r, RATE)
        path = tmp / f"sentence{seed}-{i:02d}.wav"
        sf.write(path, 0.3 * y / (np.max(np.abs(y)) + 1e-9), RATE, subtype="PCM_16")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sentences", type=int, default=12)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    now = load_recognizer(args.model)             # as bundled
    before = load_recognizer(args.model)
    before.plain_when_words = True           # the plain graph decodes whenever there is garbage
    counts = {"before": _Counting(before), "now": _Counting(now)}
    with tempfile.TemporaryDirectory() as t:
        sets = [("digit strings, 5 held-out voices", "digits",
                 [DATA / f for f in ("digits_andy.wav", "digits_annie.wav", "digits_female3.wav",
                                     "digits_mike.wav", "digits_storm.wav")]),
                (f"carrier words, {args.sentences} sentences", "digits",
                 _sentences(Path(t), CARRIER, args.sentences, args.seed)),
                (f"everyday words, {args.sentences} sentences", "digits",
                 _sentences(Path(t), EVERYDAY, args.sentences, args.seed + 1))]
        print(f"model: {args.model}  rounds: {args.rounds}")
        for name, grammar, files in sets:
            audio = [read_audio(f) for f in files]
            spent = {"before": 0.0, "now": 0.0}
            heard = 0.0
            same_text = total = 0
            for c in counts.values():
                c.made = 0
            for _ in range(args.rounds):
                for samples, rate in audio:
                    a = before.recognize_samples(samples, rate, grammar)
                    b = now.recognize_samples(samples, rate, grammar)
                    spent["before"] += a.decode_s
                    spent["now"] += b.decode_s
                    heard += a.duration_s
                    total += 1
                    same_text += a.text == b.text
            ra, rb = spent["before"] / heard, spent["now"] / heard
            print(f"{name:<36} rtf before={ra:.4f}  now={rb:.4f}  ratio={rb / ra:.2f}  decodes per answer "
                  f"{counts['before'].made / total:.2f} -> {counts['now'].made / total:.2f}  "
                  f"same transcript {same_text}/{total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
