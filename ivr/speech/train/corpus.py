"""Training material: the licensed human set, synthetic espeak-ng speech, noise, extras.

Every utterance carries a speaker id so that whole speakers (never single
utterances) are held out for measurement.  Synthetic "speakers" are espeak-ng
voice variants; the variants in ``HELDOUT_VOICES`` are never used for training,
because the committed test audio and the synthetic figures are made with them.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ivr.speech.lexicon import (
    COLLOQUIAL_MENU, COLLOQUIAL_NO, COLLOQUIAL_YES, DIGIT_WORDS, LEXICON, OPT_OUT, PHONES, UNK, g2p,
)

# Human speakers held out for every reported figure (2 female, 2 male).
HELDOUT_HUMAN = ("FOC", "FWP", "MDS", "MRS")

# espeak-ng variants reserved for tests and synthetic figures.
HELDOUT_VOICES = ("Andy", "Annie", "female3", "klatt3", "Mike", "Storm")
TRAIN_VOICES = (
    "Adam", "Alex", "Alicia", "Andrea", "Antonio", "Auntie", "Belinda", "Benjamin", "Boris", "Caleb",
    "David", "Denis", "Diogo", "Ed", "Edward", "Gene", "Gene2", "Henrique", "Hugo", "Iven", "Iven2",
    "Iven3", "Jacky", "John", "Lee", "Linda", "Marcelo", "Marco", "Mario", "Max", "Michael", "Michel",
    "Miguel", "Pablo", "Paul", "Pedro", "Quincy", "Rob", "Robert", "Steph", "Steph2", "Steph3",
    "Tweaky", "Zac", "anika", "female1", "female2", "female4", "female5", "grandma", "grandpa",
    "klatt", "klatt2", "klatt4", "klatt5", "male1", "male2", "male3", "male4", "male5", "male6",
    "male7", "male8", "norbert", "sandro", "shelby", "travis", "victor", "croak",
)

YESNO = ("ya", "iya", "betul", "benar", "tidak", "bukan", "salah")
MENU = ("ulangi", "lapor", "petugas", "selesai")
# What Jakarta's callers say instead (lexicon.COLLOQUIAL_*): trained from synthetic
# voices; the news speaker adds human "tidak", "ya", "bukan", "salah", ...
YESNO_COLLOQUIAL = COLLOQUIAL_YES + COLLOQUIAL_NO
MENU_COLLOQUIAL = COLLOQUIAL_MENU
FILLERS = ("eh", "ee", "em")
# Said before a spoken NIK; garbage in the digits grammar.
CARRIER_LEADS = ("nik saya", "nomornya", "nomor saya", "nomor nik saya", "nik", "saya")
GROUP = ("satu", "dua", "tiga", "empat", "semua")

# Indonesian that is none of the hotline's words: teaches the garbage word "[unk]".
OOV_PHRASES = (
    "halo", "selamat pagi", "selamat siang", "mau tanya dong", "apa", "bagaimana", "terima kasih",
    "bantuan sosial", "berapa", "belum", "maaf", "tolong", "bisa", "kapan",
    "di mana", "uang", "kartu", "mbak", "pak", "bu", "hmm", "anu", "sebentar", "tunggu",
    "jakarta", "kelurahan", "rumah", "keluarga", "bagus", "hah", "coba dulu",
)
assert not {w for p in OOV_PHRASES for w in p.split()} & set(LEXICON), "an OOV phrase uses a vocabulary word"

# The news subset's lexicon uses 33 phones; these are ours for the ones we lack.
_NEWS_PHONES = {"E2": ("@",), "NY": ("n", "y"), "AY": ("a", "i"), "AW": ("a", "u"), "EY": ("e", "i"),
                "OY": ("o", "i"), "KH": ("h",), "F": ("p",), "Z": ("j",), "C": ("j",), "SY": ("s", "y"),
                "V": ("p",), "Q": ("k",), "X": ("k", "s")}
NEWS_SPEAKER = "news-SPK00_F"


@dataclass(frozen=True)
class Utt:
    uid: str
    speaker: str
    text: str                 # space-separated lexicon words; "" for noise only
    source: str               # human | synth | extra | noise
    path: str = ""            # audio file (human, extra)
    voice: str = ""           # espeak-ng voice (synth)
    rate: int = 160
    pitch: int = 50
    say: str = ""             # what espeak is asked to say (may hold pauses)
    phones: tuple[tuple[str, ...], ...] = ()   # per word, when some word is not in LEXICON


def load_human(data_dir: Path) -> list[Utt]:
    table = data_dir / "transcripts.tsv"
    utts = []
    with table.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            utts.append(Utt(uid=Path(row["file"]).stem, speaker=row["speaker"],
                            text=" ".join(row["transcript"].split()), source="human",
                            path=str(data_dir / row["file"])))
    return utts


def _spelled(words: list[str], known: dict[str, tuple[str, ...]] | None = None) -> tuple[tuple[str, ...], ...]:
    """Per-word phones when a word is outside LEXICON (``known`` first, then the rules)."""
    if all(w in LEXICON for w in words):
        return ()
    return tuple(LEXICON[w] if w in LEXICON else (known or {}).get(w) or g2p(w) for w in words)


def load_manifest(path: Path) -> list[Utt]:
    """TSV ``wav_path<TAB>transcript``; relative paths are relative to the manifest.

    Words outside the lexicon keep their place in the labels, spelt by the rules:
    dropping them would teach the network that those sounds are silence."""
    utts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip() or line.startswith("#"):
            continue
        wav, _, text = line.partition("\t")
        wav_path = Path(wav) if Path(wav).is_absolute() else path.parent / wav
        words = text.lower().split()
        utts.append(Utt(uid=f"{path.stem}-{n}", speaker=f"extra-{path.stem}", text=" ".join(words),
                        source="extra", path=str(wav_path), phones=_spelled(words)))
    return utts


def news_lexicon(data_dir: Path) -> dict[str, tuple[str, ...]]:
    """The news subset's own pronunciations, in our phone set."""
    known = set(PHONES)
    table: dict[str, tuple[str, ...]] = {}
    for line in (data_dir / "lexicon.txt").read_text(encoding="utf-8").splitlines():
        word, _, phones = line.partition("\t")
        out: list[str] = []
        for ph in phones.split():
            out.extend(_NEWS_PHONES.get(ph, (ph.lower(),)))
        if out and all(p in known for p in out):
            table[word.strip().lower()] = tuple(out)
    return table


def load_news(data_dir: Path) -> list[Utt]:
    """The one-speaker news subset: whole read sentences, every word labelled (the
    hotline's words from LEXICON, the rest from the subset's lexicon)."""
    table = news_lexicon(data_dir)
    utts = []
    for line in (data_dir / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        fid, _, text = line.partition("\t")
        words = text.lower().split()
        if not fid or not words:
            continue
        utts.append(Utt(uid=f"news-{fid}", speaker=NEWS_SPEAKER, text=" ".join(words), source="human",
                        path=str(data_dir / "flac" / f"{fid}.flac"), phones=_spelled(words, table)))
    return utts


def _digit_string(rng: np.random.Generator, n: int) -> list[str]:
    words: list[str] = []
    for _ in range(n):
        if words and rng.random() < 0.25:          # repeated digits are common in NIKs
            words.append(words[-1] if words[-1] not in ("nol", "kosong") else str(rng.choice(["nol", "kosong"])))
            continue
        d = int(rng.integers(10))
        words.append(str(rng.choice(["nol", "kosong"])) if d == 0 else DIGIT_WORDS[d + 1])
    return words


def synth_plan(rng: np.random.Generator, voices: tuple[str, ...], count: int, prefix: str) -> list[Utt]:
    """Sentences the human set lacks: yes/no (textbook and colloquial), menu, 16-digit
    NIKs with pauses, digits inside carrier sentences with fillers, the opt-out
    phrase, OOV."""
    utts = []
    for i in range(count):
        r = rng.random()
        say = ""
        if r < 0.26:
            words = _digit_string(rng, int(rng.integers(1, 8)))
        elif r < 0.36:
            words = _digit_string(rng, 16)
            groups = [" ".join(words[k:k + 4]) for k in range(0, 16, 4)]
            say = str(rng.choice([", ", ". ", " "])).join(groups)
        elif r < 0.45:
            # "NIK saya tiga satu tujuh dua, eh, nol satu ..."
            words = str(rng.choice(CARRIER_LEADS)).split() if rng.random() < 0.8 else []
            for k in range(int(rng.integers(1, 5))):
                if k and rng.random() < 0.5:
                    words.append(str(rng.choice(FILLERS)))
                words += _digit_string(rng, int(rng.integers(1, 5)))
        elif r < 0.62:
            pool = YESNO_COLLOQUIAL if rng.random() < 0.5 else YESNO
            words = [str(rng.choice(pool))]
            if rng.random() < 0.25:
                words.append(str(rng.choice(YESNO + YESNO_COLLOQUIAL)))
        elif r < 0.74:
            words = str(rng.choice(MENU + MENU_COLLOQUIAL)).split()
        elif r < 0.80:
            words = [str(rng.choice(GROUP))]
        elif r < 0.83:
            words = OPT_OUT.split()
        else:
            words = [UNK]
            say = str(rng.choice(OOV_PHRASES))
        voice = str(rng.choice(voices))
        if not say:
            say = " ".join(_SAY.get(w, w) for w in words)
        utts.append(Utt(uid=f"{prefix}{i:05d}", speaker=f"espeak-{voice}", text=" ".join(words),
                        source="synth", voice=voice, rate=int(rng.integers(110, 210)),
                        pitch=int(rng.integers(15, 85)), say=say or " ".join(words)))
    return utts


def sentence_plan(rng: np.random.Generator, voices: tuple[str, ...], count: int, news_dir: Path,
                  prefix: str) -> list[Utt]:
    """Running speech from many voices: the training voices read the news subset's words.

    Half are stretches of the subset's sentences that hold no digit word (the sentences
    that do are the benchmark's "digits in news sentences"; their text is never read
    here); the other half put a digit string, sometimes with a filler, between two
    such stretches, so the network hears digits inside running speech from many voices.
    Every word is labelled with its phones (the subset's lexicon, then the rules): the
    phone loop of the `digits` grammar needs the phones of words it does not know."""
    table = news_lexicon(news_dir)
    pool = [u.text.split() for u in load_news(news_dir)]
    pool = [ws for ws in pool if not set(ws) & set(DIGIT_WORDS)]
    if not pool:
        raise ValueError(f"{news_dir}: no sentence without a digit word to read")

    def stretch(lo: int, hi: int) -> list[str]:
        ws = pool[int(rng.integers(len(pool)))]
        n = min(len(ws), int(rng.integers(lo, hi + 1)))
        start = int(rng.integers(len(ws) - n + 1))
        return ws[start:start + n]

    utts = []
    for i in range(count):
        if rng.random() < 0.5:
            words = stretch(4, 14)
        else:
            words = stretch(2, 8)
            if rng.random() < 0.3:
                words.append(str(rng.choice(FILLERS)))
            words += _digit_string(rng, int(rng.integers(1, 7)))
            if rng.random() < 0.7:
                words += stretch(1, 6)
        voice = str(rng.choice(voices))
        say = " ".join(_SAY.get(w, w) for w in words).replace("-", " ")
        utts.append(Utt(uid=f"{prefix}{i:05d}", speaker=f"espeak-{voice}", text=" ".join(words),
                        source="synth", voice=voice, rate=int(rng.integers(110, 210)),
                        pitch=int(rng.integers(15, 85)), say=say, phones=_spelled(words, table)))
    return utts


# How espeak-ng is asked to say a vocabulary word whose spelling it reads wrongly.
_SAY = {"cs": "se es", "he'eh": "he eh", "[unk]": ""}


def espeak(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", f"id+{voice}", "-s", str(rate), "-p", str(pitch),
                        "-w", tmp.name, text], check=True, capture_output=True)
        audio, rate_out = sf.read(tmp.name, dtype="float32")
    return audio, rate_out


def load_audio(utt: Utt) -> tuple[np.ndarray, int]:
    """Mono float audio of an utterance (synthesised on the fly for synth ones)."""
    if utt.source == "synth":
        return espeak(utt.say, utt.voice, utt.rate, utt.pitch)
    audio, rate = sf.read(utt.path, dtype="float32", always_2d=True)
    return audio.mean(axis=1), rate
