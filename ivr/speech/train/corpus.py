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

from ivr.speech.lexicon import DIGIT_WORDS, LEXICON, UNK

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
GROUP = ("satu", "dua", "tiga", "empat", "semua")

# Indonesian that is none of the hotline's words: teaches the garbage word "[unk]".
OOV_PHRASES = (
    "halo", "selamat pagi", "selamat siang", "saya mau tanya", "apa", "bagaimana", "terima kasih",
    "bantuan sosial", "nomor saya", "berapa", "sudah", "belum", "maaf", "tolong", "bisa", "kapan",
    "di mana", "uang", "kartu", "mbak", "pak", "bu", "hmm", "eh", "anu", "sebentar", "tunggu",
    "jakarta", "kelurahan", "rumah", "keluarga", "bagus", "oke", "nggak tahu", "hah", "coba lagi",
)


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


def load_human(data_dir: Path) -> list[Utt]:
    table = data_dir / "transcripts.tsv"
    utts = []
    with table.open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            utts.append(Utt(uid=Path(row["file"]).stem, speaker=row["speaker"],
                            text=" ".join(row["transcript"].split()), source="human",
                            path=str(data_dir / row["file"])))
    return utts


def load_manifest(path: Path) -> list[Utt]:
    """TSV ``wav_path<TAB>transcript``; relative paths are relative to the manifest."""
    utts = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip() or line.startswith("#"):
            continue
        wav, _, text = line.partition("\t")
        wav_path = Path(wav) if Path(wav).is_absolute() else path.parent / wav
        words = [w for w in text.lower().split() if w in LEXICON]
        utts.append(Utt(uid=f"{path.stem}-{n}", speaker=f"extra-{path.stem}", text=" ".join(words),
                        source="extra", path=str(wav_path)))
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
    """Sentences the human set lacks: yes/no, menu, 16-digit NIKs with pauses, OOV."""
    utts = []
    for i in range(count):
        r = rng.random()
        say = ""
        if r < 0.30:
            words = _digit_string(rng, int(rng.integers(1, 8)))
        elif r < 0.42:
            words = _digit_string(rng, 16)
            groups = [" ".join(words[k:k + 4]) for k in range(0, 16, 4)]
            say = str(rng.choice([", ", ". ", " "])).join(groups)
        elif r < 0.62:
            words = [str(rng.choice(YESNO))]
            if rng.random() < 0.25:
                words.append(str(rng.choice(YESNO)))
        elif r < 0.76:
            words = [str(rng.choice(MENU))]
        elif r < 0.86:
            words = [str(rng.choice(GROUP))]
        else:
            words = [UNK]
            say = str(rng.choice(OOV_PHRASES))
        voice = str(rng.choice(voices))
        utts.append(Utt(uid=f"{prefix}{i:05d}", speaker=f"espeak-{voice}", text=" ".join(words),
                        source="synth", voice=voice, rate=int(rng.integers(110, 210)),
                        pitch=int(rng.integers(15, 85)), say=say or " ".join(words)))
    return utts


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
