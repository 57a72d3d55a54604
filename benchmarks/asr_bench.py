"""Recognition figures on held-out speakers at 8 kHz telephone quality.

    python benchmarks/asr_bench.py [--model DIR] [--human-dir DIR] [--keep DIR]

First, yes/no as the NIK read-back decides it (``ivr.dialogue.understand``: a yes
must beat the best no reading by ``FlowConfig.yes_margin``), false-yes first:
  * human "no" and "yes" words of the news subset's one speaker (cut from its
    sentences, ``benchmarks/news_words.py``).  Never a speaker-held-out figure: one
    voice, and a model built with the subset has heard it (the header says which);
  * held-out human speakers' isolated "satu"/"dua", the spoken keys the read-back
    also takes (``confirm`` grammar);
  * held-out synthetic voices saying textbook and Jakarta's colloquial yes/no words
    through telephone channels; with a sweep of the margin.
  A spoken no is also counted where the text alone is a no word ("written as a no"),
  as ``ivr asr transcribe`` writes it (``--yesno-grammar yesno`` for that grammar).
Then digits inside carrier sentences ("NIK saya ...", fillers between groups,
held-out synthetic voices; digit-word accuracy), and among everyday words the model
never trained on ("ka te pe saya ...", "anu", "terus" between groups), and held-out human
speakers' digits spliced among such words said by held-out synthetic voices; digits inside the news subset's
running sentences ("... memiliki empat ruangan ..."), said by its speaker (never a
held-out figure) and read by the held-out synthetic voices; human strings through
G.711 and GSM alone, and colloquial menu words.

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
from dataclasses import dataclass, field
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ivr.dialogue.flow import FlowConfig  # noqa: E402
from ivr.dialogue.understand import (  # noqa: E402
    NO_WORDS, YES_WORDS, Kind, speech_answer, words_to_digits, yes_no_decision, yes_no_margin,
)
from ivr.speech.lexicon import COLLOQUIAL_MENU, COLLOQUIAL_NO, COLLOQUIAL_YES  # noqa: E402
from ivr.speech import evaluate  # noqa: E402
from ivr.speech.lexicon import DIGIT_WORDS  # noqa: E402
from ivr.speech.recognizer import default_model_dir, load_recognizer  # noqa: E402
from ivr.speech.train import augment, corpus  # noqa: E402

import news_words  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

RATE = 8000
NEWS_DIR = ROOT.parent / "shared/data/indsp-news-tts-subset"
HUMAN_NO = {"tidak", "bukan", "salah"}
HUMAN_YES = {"ya", "iya", "benar", "betul"}


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


def human_speakers_seen(model_dir: Path) -> bool:
    """Did this model train on the human test speakers (an ``--no-holdout`` build)?"""
    import json

    try:
        info = json.loads((model_dir / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(info.get("with_human")) and not set(corpus.HELDOUT_HUMAN) <= set(info.get("heldout_human") or ())


def human_sets(human_dir: Path, tmp: Path, rng: np.random.Generator, niks: int):
    utts = [u for u in corpus.load_human(human_dir) if u.speaker in corpus.HELDOUT_HUMAN]
    sets: dict[str, list[tuple[Path, str]]] = {k: [] for k in
                                               ("human isolated digits (phone)", "human strings (phone)",
                                                "human isolated digits (clean 8k)", "human strings (clean 8k)",
                                                "human 16-digit NIK (phone)", "human 16-digit NIK (clean 8k)",
                                                "human 16-digit NIK (GSM 06.10)")}
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
        # the same NIK only band-limited to 8 kHz, and through GSM alone (no rng draws,
        # so the other sets stay as they were for a seed)
        sets["human 16-digit NIK (clean 8k)"].append((_write(tmp / f"nik{i:03d}-cl.wav", x), " ".join(words)))
        sets["human 16-digit NIK (GSM 06.10)"].append(
            (_write(tmp / f"nik{i:03d}-gsm.wav", augment.gsm_batch([x])[0]), " ".join(words)))
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
            x, r = corpus.espeak(" ".join(corpus._SAY.get(w, w) for w in words), voice, rate, pitch)
            y, gsm = augment.telephone(x, r, rng, augment.Telephone())
            if gsm:
                y = augment.gsm_batch([y])[0]
            sets[name].append((_write(tmp / f"syn{i:03d}-{len(sets[name])}-{name[10:13]}.wav", y), " ".join(words)))
    return sets


def colloquial_menu_set(tmp: Path, rng: np.random.Generator, count: int) -> list[tuple[Path, str]]:
    """Jakarta's menu words (held-out synthetic voices, phone channel); own random
    stream, so the other sets stay comparable with earlier runs."""
    rows = []
    for i in range(count):
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        words = str(rng.choice(COLLOQUIAL_MENU)).split()
        x, r = corpus.espeak(" ".join(corpus._SAY.get(w, w) for w in words), voice, int(rng.integers(120, 200)),
                             int(rng.integers(20, 80)))
        y, gsm = augment.telephone(x, r, rng, augment.Telephone())
        if gsm:
            y = augment.gsm_batch([y])[0]
        rows.append((_write(tmp / f"colmenu{i:03d}.wav", y), " ".join(words)))
    return rows


def level_sweep(rec, human_dir: Path, rng: np.random.Generator, n: int = 40, label: str = "") -> None:
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
    print(f"{label + 'human strings by peak level':<34} exact: " + ", ".join(cells))


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


# --- yes/no as the line decides it ------------------------------------------------------

@dataclass
class YesNoTally:
    no: int = 0
    yes: int = 0
    false_yes_text: int = 0      # a spoken no transcribed as a yes word
    no_text: int = 0             # ... as a no word (what `ivr asr transcribe` writes)
    false_yes: int = 0           # ... and acted on as a yes by the read-back rule
    no_right: int = 0
    no_unsure: int = 0
    false_no: int = 0
    yes_right: int = 0
    yes_unsure: int = 0
    margins: list = field(default_factory=list)   # (truth, margin, text kind)

    def add(self, truth: str, got, grammar: str, cfg: FlowConfig) -> None:
        answer = speech_answer(got.text, grammar)
        margin = yes_no_margin(got.evidence)
        decided = yes_no_decision(answer, margin, cfg.yes_margin, cfg.no_margin).kind
        self.margins.append((truth, margin, answer.kind))
        if truth == "no":
            self.no += 1
            self.false_yes_text += answer.kind is Kind.YES
            self.no_text += answer.kind is Kind.NO
            self.false_yes += decided is Kind.YES
            self.no_right += decided is Kind.NO
            self.no_unsure += decided is Kind.UNSURE
        else:
            self.yes += 1
            self.false_no += decided is Kind.NO
            self.yes_right += decided is Kind.YES
            self.yes_unsure += decided is Kind.UNSURE

    def lines(self, name: str) -> list[str]:
        def pct(a, b):
            return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "   - "
        out = []
        if self.no:
            out.append(f"{name + ' — no':<44} false-yes {pct(self.false_yes, self.no)}  "
                       f"[as text: {pct(self.false_yes_text, self.no)}]  no taken {pct(self.no_right, self.no)}  "
                       f"asked again {pct(self.no_unsure, self.no)}  written as a no {pct(self.no_text, self.no)}")
        if self.yes:
            out.append(f"{name + ' — yes':<44} false-no  {pct(self.false_no, self.yes)}  "
                       f"yes taken {pct(self.yes_right, self.yes)}  asked again {pct(self.yes_unsure, self.yes)}")
        return out

    def sweep(self, grammar_margins=(0.0, 2.0, 4.0, 6.0, 8.0)) -> str:
        cells = []
        for m in grammar_margins:
            fy = sum(1 for t, mg, k in self.margins if t == "no" and k is Kind.YES and mg is not None and mg >= m)
            ty = sum(1 for t, mg, k in self.margins if t == "yes" and k is Kind.YES and mg is not None and mg >= m)
            cells.append(f"{m:g}: false-yes {fy}/{self.no}, yes taken {ty}/{self.yes}")
        return "   margin sweep  " + " | ".join(cells)


def yes_no_sets(rec, args, rng: np.random.Generator, tmp: Path, cfg: FlowConfig,
                humans_seen: bool = False) -> None:
    grammar = args.yesno_grammar
    spent = [0.0, 0.0]                           # decode seconds, audio seconds

    def heard(wav: Path):
        got = rec.recognize(wav, grammar)
        spent[0] += got.decode_s
        spent[1] += got.duration_s
        return got

    print(f"--- yes/no at the NIK read-back (yes needs a margin of {cfg.yes_margin:g}, "
          f"no {cfg.no_margin:g}; false-yes first) ---")
    if args.news_dir.is_dir():
        rows = news_words.cut_words(args.news_dir, args.model, HUMAN_NO | HUMAN_YES, tmp / "news")
        tally = YesNoTally()
        for wav, word in rows:
            tally.add("no" if word in HUMAN_NO else "yes", heard(wav), grammar, cfg)
        seen = news_words.news_speaker_seen(args.model)
        label = f"human news speaker ({'SEEN in training' if seen else 'unseen by this model'}; 1 voice)"
        for line in tally.lines(label):
            print(line)
        print(tally.sweep())
    else:
        print(f"(no news subset at {args.news_dir}: human yes/no words skipped)")
    if args.human_dir.is_dir():
        utts = [u for u in corpus.load_human(args.human_dir)
                if u.speaker in corpus.HELDOUT_HUMAN and u.text in ("satu", "dua")]
        tally, tally_ph = YesNoTally(), YesNoTally()
        for u in utts:
            x, rate = corpus.load_audio(u)
            truth = "yes" if u.text == "satu" else "no"
            clean = _write(tmp / f"{u.uid}-yn-cl.wav", _clean8k(x, rate))
            tally.add(truth, heard(clean), grammar, cfg)
            y, gsm = augment.telephone(x, rate, rng, augment.Telephone())
            if gsm:
                y = augment.gsm_batch([y])[0]
            tally_ph.add(truth, heard(_write(tmp / f"{u.uid}-yn-ph.wav", y)), grammar, cfg)
        who = "SEEN humans" if humans_seen else "held-out humans"
        for line in tally.lines(f"{who} 'satu'/'dua' (clean 8k)") + tally_ph.lines(
                f"{who} 'satu'/'dua' (phone)"):
            print(line)
    for name, words in (("synthetic textbook yes/no (phone)", corpus.YESNO),
                        ("synthetic colloquial yes/no (phone)", COLLOQUIAL_YES + COLLOQUIAL_NO)):
        tally = YesNoTally()
        for i in range(args.synth):
            voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
            word = str(rng.choice(words))
            x, r = corpus.espeak(corpus._SAY.get(word, word), voice, int(rng.integers(120, 200)),
                                 int(rng.integers(20, 80)))
            y, gsm = augment.telephone(x, r, rng, augment.Telephone())
            if gsm:
                y = augment.gsm_batch([y])[0]
            got = heard(_write(tmp / f"yn{i:03d}-{name[10:14]}.wav", y))
            truth = "yes" if word in YES_WORDS else "no"
            tally.add(truth, got, grammar, cfg)
            if args.errors and speech_answer(got.text, grammar).kind.value != truth:
                print(f"   {voice} said {word!r}: heard {got.text!r}, yes-no margin "
                      f"{yes_no_margin(got.evidence)}")
        for line in tally.lines(name):
            print(line)
        print(tally.sweep())
    print(f"yes/no answers above ({grammar} grammar), real-time factor, one thread: "
          f"{spent[0] / max(spent[1], 1e-9):.4f}")


def carrier_set(rec, rng: np.random.Generator, tmp: Path, count: int) -> None:
    """Digits inside carrier sentences, held-out synthetic voices: digit-word accuracy
    (carrier and filler words are not digits and must give none)."""

    def compose() -> tuple[str, list[str]]:
        lead = str(rng.choice(corpus.CARRIER_LEADS))
        groups = _digit_groups(rng)
        say = lead + " " + ", ".join(
            (str(rng.choice(corpus.FILLERS)) + ", " if k and rng.random() < 0.6 else "") + " ".join(g)
            for k, g in enumerate(groups))
        return say, [w for g in groups for w in g]

    _digits_among_words(rec, rng, tmp, count, compose, "carrier", "digits in carrier sentences (synthetic, phone)")


def _digit_groups(rng: np.random.Generator) -> list[list[str]]:
    return [[DIGIT_WORDS[int(d)] for d in rng.integers(len(DIGIT_WORDS), size=int(rng.integers(2, 5)))]
            for _ in range(int(rng.integers(1, 4)))]


def _digits_among_words(rec, rng: np.random.Generator, tmp: Path, count: int, compose, stem: str,
                        label: str) -> None:
    """Say ``compose()``'s words with the held-out voices in turn, through a telephone
    channel, decode with the `digits` grammar and print the digit-word accuracy and how
    many whole digit strings came out exactly right."""
    words_total = errors = exact = 0
    for i in range(count):
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        say, ref = compose()
        x, r = corpus.espeak(say, voice, int(rng.integers(120, 190)), int(rng.integers(20, 80)))
        y, gsm = augment.telephone(x, r, rng, augment.Telephone())
        if gsm:
            y = augment.gsm_batch([y])[0]
        got = rec.recognize(_write(tmp / f"{stem}{i:03d}.wav", y), "digits")
        hyp = [w for w in got.text.split() if w in DIGIT_WORDS]
        words_total += len(ref)
        errors += evaluate.word_errors(ref, hyp)
        exact += words_to_digits(" ".join(ref)) == words_to_digits(" ".join(hyp))
    print(f"{label:<44} n={count:<4d} "
          f"digit-word accuracy={100 * (1 - errors / max(words_total, 1)):6.2f}%  "
          f"digits exact={100 * exact / max(count, 1):6.2f}%")


def _words_then_groups(rng: np.random.Generator, leads: tuple[str, ...], between: tuple[str, ...]):
    """A ``compose`` for :func:`_digits_among_words`: one of ``leads``, then digit groups
    with one of ``between`` before each later group 70% of the time."""

    def compose() -> tuple[str, list[str]]:
        groups = _digit_groups(rng)
        say = str(rng.choice(leads)) + ", " + ", ".join(
            (str(rng.choice(between)) + ", " if k and rng.random() < 0.7 else "") + " ".join(g)
            for k, g in enumerate(groups))
        return say, [w for g in groups for w in g]

    return compose


# What callers say around their NIK outside the model's vocabulary, for
# ``everyday_set``: only the loop of phones, or the garbage word for "anu" and
# "sebentar" (two of the phrases the networks learnt as ``[unk]``), can take them.
EVERYDAY_LEADS = ("ka te pe saya", "nomor ka te pe saya", "ini nik saya ya", "anu, nik nya",
                  "punya saya", "sebentar ya, nomornya", "oh iya, nik saya", "nomor induk saya")
EVERYDAY_BETWEEN = ("anu", "terus", "habis itu", "ya", "eh", "bentar")


def everyday_set(rec, rng: np.random.Generator, tmp: Path, count: int) -> None:
    """Digits among everyday words outside the vocabulary ("ka te pe saya ...", "anu",
    "terus", "habis itu" between groups), held-out synthetic voices through the
    telephone channels: digit-word accuracy (those words must give no digit)."""

    _digits_among_words(rec, rng, tmp, count, _words_then_groups(rng, EVERYDAY_LEADS, EVERYDAY_BETWEEN),
                        "everyday", "digits among untrained everyday words (synth)")


# Everyday words around a NIK chosen apart from the lexicon's carrier words, for
# ``unlisted_set``: the words between groups ("trus", "lalu", "gitu", "sama", "koma";
# "eh" is a listed filler) and "dicek", "kalau", "gini", "dengerin", "bacain" are in
# no list of the model's, neither its lexicon nor the garbage phrases it trained on
# ("tolong", "mbak", "coba" are among those).  It shows whether carrier words added to
# the lexicon help only the words they name.
UNLISTED_LEADS = ("tolong dicek ya, nomornya", "kalau nggak salah nik saya", "gini mbak, nik saya",
                  "sama nomor saya", "dengerin ya, nomornya", "coba saya bacain")
UNLISTED_BETWEEN = ("trus", "lalu", "gitu", "sama", "koma", "eh")


def unlisted_set(rec, rng: np.random.Generator, tmp: Path, count: int) -> None:
    """Digits among everyday words mostly listed nowhere in the model ("tolong dicek
    ya, nomornya ...", "lalu", "gitu", "koma" between groups): only the loop of phones
    can take those.  Held-out synthetic voices, telephone channels."""

    _digits_among_words(rec, rng, tmp, count, _words_then_groups(rng, UNLISTED_LEADS, UNLISTED_BETWEEN),
                        "unlisted", "digits among unlisted everyday words (synth)")


# For ``spliced_set``: what a caller says before the NIK and between its groups, in the
# vocabulary (carrier words, fillers) and outside it (everyday words).
SPLICED_LEADS = corpus.CARRIER_LEADS + EVERYDAY_LEADS
SPLICED_BETWEEN = corpus.FILLERS + EVERYDAY_BETWEEN


def spliced_set(rec, human_dir: Path, rng: np.random.Generator, tmp: Path, count: int,
                seen: bool = False, errors_shown: bool = False) -> None:
    """Human digits among words: groups of 2-4 of one held-out human speaker's
    isolated digits (short pauses inside a group), after a lead ("nik saya", "ka te pe
    saya", ...) and with a filler or everyday word before a later group 70% of the
    time, those words said by a held-out synthetic voice at the same peak level.  A
    splice of two voices, not a person's sentence: it shows whether human digits
    survive the words around them, not how a person runs words together.  Clean 8 kHz
    and through the telephone channels, digit-word accuracy."""
    singles: dict[str, list[tuple[np.ndarray, str]]] = {}
    for u in corpus.load_human(human_dir):
        if u.speaker in corpus.HELDOUT_HUMAN and len(u.text.split()) == 1:
            x, rate = corpus.load_audio(u)
            singles.setdefault(u.speaker, []).append((_trim(_clean8k(x, rate)), u.text))
    if not singles:
        print("(no held-out human isolated digits: spliced set skipped)")
        return

    def said(text: str, voice: str) -> np.ndarray:
        x, r = corpus.espeak(text, voice, int(rng.integers(120, 190)), int(rng.integers(20, 80)))
        return _trim(_clean8k(x, r))

    def pause(lo: float, hi: float) -> np.ndarray:
        return np.zeros(int(rng.uniform(lo, hi) * RATE), np.float32)

    rows: dict[str, list[tuple[Path, list[str]]]] = {"clean 8k": [], "phone": []}
    spoken: dict[str, str] = {}                  # file -> what was said, words and digits
    for i in range(count):
        spk = sorted(singles)[i % len(singles)]
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        lead = str(rng.choice(SPLICED_LEADS))
        parts, ref, say = [pause(0.2, 0.4), said(lead, voice)], [], [f"<{lead}>"]
        for k in range(int(rng.integers(1, 4))):
            parts.append(pause(0.15, 0.4))
            if k and rng.random() < 0.7:
                between = str(rng.choice(SPLICED_BETWEEN))
                parts += [said(between, voice), pause(0.15, 0.4)]
                say.append(f"<{between}>")
            for n, j in enumerate(rng.integers(len(singles[spk]), size=int(rng.integers(2, 5)))):
                audio, word = singles[spk][int(j)]
                parts += ([pause(0.05, 0.2)] if n else []) + [audio]
                ref.append(word)
                say.append(word)
        x = np.concatenate(parts + [pause(0.2, 0.4)])
        spoken[f"spliced{i:03d}"] = " ".join(say)
        rows["clean 8k"].append((_write(tmp / f"spliced{i:03d}-cl.wav", x), ref))
        y, gsm = augment.telephone(x, RATE, rng, augment.Telephone(), lead_s=(0.0, 0.1))
        if gsm:
            y = augment.gsm_batch([y])[0]
        rows["phone"].append((_write(tmp / f"spliced{i:03d}-ph.wav", y), ref))
    def show(wav, got):
        if errors_shown:
            print(f"   {wav.name}: said {spoken[wav.stem[:-3]]!r} heard {got.text!r}")

    who = "SEEN human" if seen else "held-out human"
    for name, items in rows.items():
        accuracy, exact, _ = _digit_words_scored(rec, items, show)
        print(f"{who + ' digits among synthetic words (spliced), ' + name:<62} n={len(items):<4d} "
              f"digit-word accuracy={accuracy:7.2f}%  digits exact={exact:6.2f}%")


def news_sentence_sets(rec, news_dir: Path, rng: np.random.Generator, tmp: Path, seen: bool) -> None:
    """Digits inside running sentences ("rumah tersebut juga memiliki empat ruangan ..."):
    the news subset's sentences that hold a digit word, as the news speaker said them
    (clean 8 kHz and through the telephone channels) and as the held-out synthetic
    voices read them (telephone channels). Digit-word accuracy against the sentence's
    digit words, with the `digits` grammar; every other word must give no digit."""
    rows = [(u, ref) for u in corpus.load_news(news_dir)
            if (ref := [w for w in u.text.split() if w in DIGIT_WORDS])]
    who = "SEEN in training" if seen else "held out"
    sets: dict[str, list[tuple[Path, list[str]]]] = {
        f"news speaker ({who}), clean 8k": [], f"news speaker ({who}), phone": [],
        "held-out synthetic voices, phone": []}
    names = list(sets)
    for i, (u, ref) in enumerate(rows):
        x, r = corpus.load_audio(u)
        sets[names[0]].append((_write(tmp / f"news{i:03d}-clean.wav", _clean8k(x, r)), ref))
        y, gsm = augment.telephone(x, r, rng, augment.Telephone())
        if gsm:
            y = augment.gsm_batch([y])[0]
        sets[names[1]].append((_write(tmp / f"news{i:03d}-phone.wav", y), ref))
        voice = corpus.HELDOUT_VOICES[i % len(corpus.HELDOUT_VOICES)]
        x, r = corpus.espeak(u.text.replace("-", " "), voice, int(rng.integers(120, 190)), int(rng.integers(20, 80)))
        y, gsm = augment.telephone(x, r, rng, augment.Telephone())
        if gsm:
            y = augment.gsm_batch([y])[0]
        sets[names[2]].append((_write(tmp / f"news{i:03d}-synth.wav", y), ref))
    for name, items in sets.items():
        accuracy, exact, rtf = _digit_words_scored(rec, items)
        print(f"{'digits in news sentences, ' + name:<62} n={len(items):<4d} "
              f"digit-word accuracy={accuracy:7.2f}%  digits exact={exact:6.2f}%  rtf={rtf:.4f}")


def _digit_words_scored(rec, items: list[tuple[Path, list[str]]], show=None) -> tuple[float, float, float]:
    """Decode each file with the `digits` grammar: digit-word accuracy against its
    digit words (any other word must give no digit), % of files with every digit right,
    and the real-time factor.  ``show(wav, got)`` is called for each file with an error."""
    words = errors = exact = 0
    decode = audio = 0.0
    for wav, ref in items:
        got = rec.recognize(wav, "digits")
        e = evaluate.word_errors(ref, [w for w in got.text.split() if w in DIGIT_WORDS])
        words, errors, exact = words + len(ref), errors + e, exact + (e == 0)
        decode, audio = decode + got.decode_s, audio + got.duration_s
        if e and show:
            show(wav, got)
    return (100 * (1 - errors / max(words, 1)), 100 * exact / max(len(items), 1),
            decode / max(audio, 1e-9))


def codec_sets(human_dir: Path, tmp: Path) -> dict[str, list[tuple[Path, str]]]:
    """Held-out human strings through one codec only: G.711 mu-law, GSM 06.10."""
    utts = [u for u in corpus.load_human(human_dir)
            if u.speaker in corpus.HELDOUT_HUMAN and len(u.text.split()) > 1]
    clean = [(u, _clean8k(*corpus.load_audio(u))) for u in utts]
    sets = {"human strings (G.711 mu-law)": [], "human strings (GSM 06.10)": []}
    for (u, c), g in zip(clean, augment.gsm_batch([c for _, c in clean])):
        sets["human strings (G.711 mu-law)"].append((_write(tmp / f"{u.uid}-mu.wav", augment.mulaw(c)), u.text))
        sets["human strings (GSM 06.10)"].append((_write(tmp / f"{u.uid}-gsm.wav", g), u.text))
    return sets


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
    ap.add_argument("--news-dir", type=Path, default=NEWS_DIR, help="one-speaker news subset (human yes/no)")
    ap.add_argument("--yes-margin", type=float, default=FlowConfig().yes_margin)
    ap.add_argument("--no-margin", type=float, default=FlowConfig().no_margin)
    ap.add_argument("--only-yesno", action="store_true", help="just the yes/no and carrier figures")
    ap.add_argument("--grammars", type=Path, default=None, help="grammar folder (default: grammars/)")
    ap.add_argument("--yesno-grammar", default="confirm",
                    help="grammar of the yes/no sets (confirm: the read-back's; yesno for an old grammar folder)")
    args = ap.parse_args(argv)

    rec = load_recognizer(args.model, args.grammars)
    rng = np.random.default_rng(args.seed)
    cfg = FlowConfig(yes_margin=args.yes_margin, no_margin=args.no_margin)
    with tempfile.TemporaryDirectory() as t:
        tmp = args.keep or Path(t)
        tmp.mkdir(parents=True, exist_ok=True)
        seen = human_speakers_seen(args.model)
        if seen:
            print(f"NOTE: this model trained on the human test speakers ({', '.join(corpus.HELDOUT_HUMAN)}): "
                  "its human figures are not speaker-held-out (SEEN); take them from a held-out build")
        print(f"model: {args.model}  human test speakers: {', '.join(corpus.HELDOUT_HUMAN)} "
              f"({'SEEN in training' if seen else 'held out'})  "
              f"held-out voices: {', '.join(corpus.HELDOUT_VOICES)}")
        yes_no_sets(rec, args, np.random.default_rng(args.seed), tmp, cfg, seen)
        carrier_set(rec, np.random.default_rng(args.seed + 1), tmp, args.synth)
        if (args.news_dir / "transcripts.tsv").is_file():
            news_sentence_sets(rec, args.news_dir, np.random.default_rng(args.seed + 3), tmp,
                               news_words.news_speaker_seen(args.model))
        if args.only_yesno:
            return 0
        sets: dict[str, list[tuple[Path, str]]] = {}
        if args.human_dir.is_dir():
            human = {**human_sets(args.human_dir, tmp, rng, args.niks), **codec_sets(args.human_dir, tmp)}
            sets.update({f"SEEN {k}" if seen else k: v for k, v in human.items()})
        else:
            print(f"(no human set at {args.human_dir}: human figures skipped)")
        sets.update(synth_sets(tmp, rng, args.synth))
        sets["synthetic colloquial menu (phone)"] = colloquial_menu_set(tmp, np.random.default_rng(args.seed + 2),
                                                                        args.synth)

        def show(wav, ref, got):
            if args.errors and got.text != ref:
                print(f"   {wav.name}: ref={ref!r} hyp={got.text!r} conf={got.confidence:.2f}")

        total_audio = total_decode = 0.0
        for name, rows in sets.items():
            grammar = "yesno" if "yes/no" in name else "menu" if "menu" in name else "digits"
            meant = [0, 0]

            def judge(wav, ref, got, meant=meant, grammar=grammar):
                # What the call does with it: "iya" for "ya" or "benar" for "betul",
                # "ulang" for "ulangi", is still the caller's answer.
                show(wav, ref, got)
                meant[0] += 1
                if grammar == "menu":
                    meant[1] += speech_answer(got.text, "menu") == speech_answer(ref, "menu")
                else:
                    meant[1] += _meaning(got.text) == _meaning(ref)

            lengths = [0, 0]

            def judge_nik(wav, ref, got, meant=meant, lengths=lengths):
                show(wav, ref, got)
                lengths[0] += 1
                lengths[1] += len(words_to_digits(got.text)) == len(ref.split())

            s = evaluate.score(rec, rows, grammar, judge_nik if "NIK" in name else judge)
            total_audio += s.audio_s
            total_decode += s.decode_s
            print(s.line(name) + (f"  yes/no decided right={100 * meant[1] / max(meant[0], 1):6.2f}%"
                                  if grammar == "yesno" else
                                  f"  meaning right={100 * meant[1] / max(meant[0], 1):6.2f}%"
                                  if grammar == "menu" else "")
                  + (f"  right length={100 * lengths[1] / max(lengths[0], 1):6.2f}%" if "NIK" in name else ""))
            if args.keep:
                (tmp / f"{re.sub('[^a-z0-9]+', '_', name.lower()).strip('_')}.tsv").write_text(
                    "".join(f"{p.name}\t{r}\n" for p, r in rows), encoding="utf-8")
        if args.human_dir.is_dir():
            level_sweep(rec, args.human_dir, np.random.default_rng(args.seed),
                        label="SEEN " if seen else "")
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
        # Last, so that the decodes before it (and Kaldi's dither, drawn from one random
        # state per process) are those of the runs before this set was added.
        everyday_set(rec, np.random.default_rng(args.seed + 4), tmp, args.synth)
        unlisted_set(rec, np.random.default_rng(args.seed + 5), tmp, args.synth)
        if args.human_dir.is_dir():
            spliced_set(rec, args.human_dir, np.random.default_rng(args.seed + 6), tmp, args.synth, seen,
                        args.errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
