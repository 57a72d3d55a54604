"""Recognition figures on held-out speakers at 8 kHz telephone quality.

    python benchmarks/asr_bench.py [--model DIR] [--human-dir DIR] [--keep DIR]

Test sets (all speakers/voices held out from training by ``ivr model build``):
  * human isolated digits and connected strings of the held-out human speakers,
    each through a telephone channel (band-pass, noise, codec; fixed seed), and
    also just band-limited to 8 kHz ("clean");
  * 16-digit NIKs made by concatenating one held-out speaker's isolated digits,
    with a pause after every four;
  * synthetic held-out espeak-ng voices: digit strings, yes/no words (also scored
    as the yes-or-no decision the call makes), menu words;
  * the same yes/no words decoded with the digits grammar: how many become digits;
  * silence and noise clips: how many digits are invented.
Real-time factor is decode time / audio time in one thread (Vosk decodes one
utterance on one core).  Needs no ``train`` extra: numpy, scipy, soundfile,
espeak-ng and sox suffice.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.dialogue.understand import NO_WORDS, YES_WORDS  # noqa: E402
from ivr.speech import evaluate  # noqa: E402
from ivr.speech.lexicon import DIGIT_WORDS  # noqa: E402
from ivr.speech.recognizer import default_model_dir, load_recognizer  # noqa: E402
from ivr.speech.train import augment, corpus  # noqa: E402

RATE = 8000


def _write(path: Path, x: np.ndarray) -> Path:
    sf.write(path, np.clip(x, -1, 1), RATE, subtype="PCM_16")
    return path


def _clean8k(x: np.ndarray, rate: int) -> np.ndarray:
    y = augment.resample(x, rate, RATE)
    return 0.3 * y / (np.max(np.abs(y)) + 1e-9)


def _trim(x: np.ndarray) -> np.ndarray:
    """Cut leading/trailing low-energy 10 ms frames (keeps 50 ms margins)."""
    frames = np.abs(x[: len(x) // 80 * 80]).reshape(-1, 80).mean(1)
    active = np.nonzero(frames > 0.08 * frames.max())[0]
    if not len(active):
        return x
    a, b = max(0, active[0] - 5), min(len(frames), active[-1] + 6)
    return x[a * 80: b * 80]


def human_sets(human_dir: Path, tmp: Path, rng: np.random.Generator, niks: int):
    utts = [u for u in corpus.load_human(human_dir) if u.speaker in corpus.HELDOUT_HUMAN]
    sets: dict[str, list[tuple[Path, str]]] = {k: [] for k in
                                               ("human isolated digits (phone)", "human strings (phone)",
                                                "human isolated digits (clean 8k)", "human strings (clean 8k)",
                                                "human 16-digit NIK (phone)")}
    singles: dict[str, list[tuple[np.ndarray, str]]] = {}
    for u in utts:
        x, rate = corpus.load_audio(u)
        kind = "isolated digits" if len(u.text.split()) == 1 else "strings"
        y, gsm = augment.telephone(x, rate, rng, augment.Telephone())
        if gsm:
            y = augment.gsm_batch([y])[0]
        sets[f"human {kind} (phone)"].append((_write(tmp / f"{u.uid}-ph.wav", y), u.text))
        c = _clean8k(x, rate)
        sets[f"human {kind} (clean 8k)"].append((_write(tmp / f"{u.uid}-cl.wav", c), u.text))
        if kind == "isolated digits":
            singles.setdefault(u.speaker, []).append((_trim(c), u.text))
    for i in range(niks):
        spk = sorted(singles)[i % len(singles)]
        pick = [singles[spk][int(j)] for j in rng.integers(len(singles[spk]), size=16)]
        parts, words = [np.zeros(int(0.3 * RATE), np.float32)], []
        for k, (audio, word) in enumerate(pick):
            parts.append(audio)
            words.append(word)
            gap = rng.uniform(0.4, 0.8) if k % 4 == 3 else rng.uniform(0.05, 0.2)
            parts.append(np.zeros(int(gap * RATE), np.float32))
        x = np.concatenate(parts)
        y, gsm = augment.telephone(x, RATE, rng, augment.Telephone(), lead_s=(0.0, 0.1))
        if gsm:
            y = augment.gsm_batch([y])[0]
        sets["human 16-digit NIK (phone)"].append((_write(tmp / f"nik{i:03d}.wav", y), " ".join(words)))
    return sets


def synth_sets(tmp: Path, rng: np.random.Generator, count: int):
    sets: dict[str, list[tuple[Path, str]]] = {"synthetic digit strings (phone)": [],
                                               "synthetic yes/no (phone)": [], "synthetic menu (phone)": []}
    for i in range(count):
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        rate, pitch = int(rng.integers(120, 200)), int(rng.integers(20, 80))
        for name, words in (("synthetic digit strings (phone)",
                             [DIGIT_WORDS[int(d)] for d in rng.integers(len(DIGIT_WORDS), size=int(rng.integers(1, 8)))]),
                            ("synthetic yes/no (phone)", [str(rng.choice(corpus.YESNO))]),
                            ("synthetic menu (phone)", [str(rng.choice(corpus.MENU))])):
            x, r = corpus.espeak(" ".join(words), voice, rate, pitch)
            y, gsm = augment.telephone(x, r, rng, augment.Telephone())
            if gsm:
                y = augment.gsm_batch([y])[0]
            sets[name].append((_write(tmp / f"syn{i:03d}-{len(sets[name])}-{name[10:13]}.wav", y), " ".join(words)))
    return sets


def level_sweep(rec, human_dir: Path, rng: np.random.Generator, n: int = 40) -> None:
    """The same held-out utterances (clean 8 kHz) at peak levels from -50 to -3 dBFS."""
    utts = [u for u in corpus.load_human(human_dir) if u.speaker in corpus.HELDOUT_HUMAN]
    pick = [utts[int(i)] for i in rng.choice(len(utts), size=min(n, len(utts)), replace=False)]
    audio = [(augment.resample(*corpus.load_audio(u), RATE), u.text) for u in pick]
    cells = []
    for db in (-50, -40, -30, -20, -10, -3):
        ok = 0
        for x, text in audio:
            y = x * 10 ** (db / 20) / (np.max(np.abs(x)) + 1e-9)
            ok += rec.recognize_samples((y * 32767).astype(np.int16), RATE, "digits").text == text
        cells.append(f"{db} dB {ok}/{len(audio)}")
    print(f"{'human strings by peak level':<34} exact: " + ", ".join(cells))


def _meaning(text: str) -> str:
    words = set(text.split())
    yes, no = bool(words & YES_WORDS), bool(words & NO_WORDS)
    return "yes" if yes and not no else "no" if no and not yes else "unclear"


def noise_set(tmp: Path, rng: np.random.Generator, count: int) -> list[Path]:
    out = []
    for i in range(count):
        n = int(rng.uniform(1.0, 4.0) * RATE)
        if i % 5 == 0:
            x = np.zeros(n, np.float32)
        else:
            x = augment._channel_filter(augment.make_noise(n, rng), rng)
            x *= 10 ** (rng.uniform(-55, -20) / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-9)
        out.append(_write(tmp / f"noise{i:03d}.wav", x))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--human-dir", type=Path, default=ROOT.parent / "shared/data/indsp-digit-train")
    ap.add_argument("--niks", type=int, default=40)
    ap.add_argument("--synth", type=int, default=60, help="utterances per synthetic set")
    ap.add_argument("--noise", type=int, default=50)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", type=Path, help="write the test audio and manifests here")
    ap.add_argument("--errors", action="store_true", help="print every misrecognition")
    args = ap.parse_args(argv)

    rec = load_recognizer(args.model)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as t:
        tmp = args.keep or Path(t)
        tmp.mkdir(parents=True, exist_ok=True)
        sets: dict[str, list[tuple[Path, str]]] = {}
        if args.human_dir.is_dir():
            sets.update(human_sets(args.human_dir, tmp, rng, args.niks))
        else:
            print(f"(no human set at {args.human_dir}: human figures skipped)")
        sets.update(synth_sets(tmp, rng, args.synth))
        print(f"model: {args.model}  held-out humans: {', '.join(corpus.HELDOUT_HUMAN)}  "
              f"held-out voices: {', '.join(corpus.HELDOUT_VOICES)}")

        def show(wav, ref, got):
            if args.errors and got.text != ref:
                print(f"   {wav.name}: ref={ref!r} hyp={got.text!r} conf={got.confidence:.2f}")

        total_audio = total_decode = 0.0
        for name, rows in sets.items():
            grammar = "yesno" if "yes/no" in name else "menu" if "menu" in name else "digits"
            meant = [0, 0]

            def judge(wav, ref, got, meant=meant):
                # What the call does with it: "iya" for "ya" or "benar" for "betul"
                # is still the caller's answer.
                show(wav, ref, got)
                meant[0] += 1
                meant[1] += _meaning(got.text) == _meaning(ref)

            s = evaluate.score(rec, rows, grammar, judge)
            total_audio += s.audio_s
            total_decode += s.decode_s
            print(s.line(name) + (f"  yes/no decided right={100 * meant[1] / max(meant[0], 1):6.2f}%"
                                  if grammar == "yesno" else ""))
            if args.keep:
                (tmp / f"{re.sub('[^a-z0-9]+', '_', name.lower()).strip('_')}.tsv").write_text(
                    "".join(f"{p.name}\t{r}\n" for p, r in rows), encoding="utf-8")
        if args.human_dir.is_dir():
            level_sweep(rec, args.human_dir, np.random.default_rng(args.seed))
        yes_rows = sets.get("synthetic yes/no (phone)", [])
        misread = [w for w, _ in yes_rows if rec.recognize(w, "digits").text]
        print(f"{'yes/no words asked for digits':<34} n={len(yes_rows):<5d} "
              f"heard as digits={len(misread)}  (rejected as [unk] or nothing: {len(yes_rows) - len(misread)})")
        clips = noise_set(tmp, rng, args.noise)
        invented = 0
        for clip in clips:
            got = rec.recognize(clip, "digits")
            invented += len(got.text.split())
            if args.errors and got.text:
                print(f"   {clip.name}: hyp={got.text!r}")
        print(f"{'silence/noise clips (digits grammar)':<34} n={len(clips):<5d} invented words={invented}  "
              f"clips with any word={sum(1 for c in clips if rec.recognize(c, 'digits').text)}")
        print(f"real-time factor, one thread, all sets: {total_decode / max(total_audio, 1e-9):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
