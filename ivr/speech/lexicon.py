"""The hotline vocabulary: phone set and pronunciations.

Indonesian spelling is close to phonemic, so a hand-written lexicon for the few
words the hotline listens for is more reliable than any grapheme-to-phoneme tool.
The same table is written into the model directory (``graph/lexicon.txt``) at build
time; the recogniser builds its grammar graphs from the copy in the model, so a
model always decodes with the pronunciations it was trained on.
"""

from __future__ import annotations

SILENCE = "sil"
GARBAGE = "spn"          # "spoken noise": anything said that is not in the vocabulary
UNK = "[unk]"

# "@" is the schwa (pepet) of e.g. "empat", "delapan"; "ng" the velar nasal.
PHONES: tuple[str, ...] = (
    SILENCE, GARBAGE,
    "a", "i", "u", "e", "o", "@",
    "b", "d", "g", "h", "j", "k", "l", "m", "n", "ng", "p", "r", "s", "t", "w", "y",
)

LEXICON: dict[str, tuple[str, ...]] = {
    "nol": ("n", "o", "l"),
    "kosong": ("k", "o", "s", "o", "ng"),
    "satu": ("s", "a", "t", "u"),
    "dua": ("d", "u", "w", "a"),
    "tiga": ("t", "i", "g", "a"),
    "empat": ("@", "m", "p", "a", "t"),
    "lima": ("l", "i", "m", "a"),
    "enam": ("@", "n", "a", "m"),
    "tujuh": ("t", "u", "j", "u", "h"),
    "delapan": ("d", "@", "l", "a", "p", "a", "n"),
    "sembilan": ("s", "@", "m", "b", "i", "l", "a", "n"),
    "petugas": ("p", "@", "t", "u", "g", "a", "s"),
    "ulangi": ("u", "l", "a", "ng", "i"),
    "ya": ("y", "a"),
    "iya": ("i", "y", "a"),
    "betul": ("b", "@", "t", "u", "l"),
    "benar": ("b", "@", "n", "a", "r"),
    "tidak": ("t", "i", "d", "a", "k"),
    "bukan": ("b", "u", "k", "a", "n"),
    "salah": ("s", "a", "l", "a", "h"),
    "lapor": ("l", "a", "p", "o", "r"),
    "selesai": ("s", "@", "l", "@", "s", "a", "i"),
    "semua": ("s", "@", "m", "u", "w", "a"),
    UNK: (GARBAGE,),
}

DIGIT_WORDS: tuple[str, ...] = (
    "nol", "kosong", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan",
)

WORDS: tuple[str, ...] = tuple(LEXICON)


def check_lexicon() -> None:
    """Fail early if a pronunciation uses a phone outside the phone set."""
    known = set(PHONES)
    for word, pron in LEXICON.items():
        bad = [p for p in pron if p not in known]
        if bad:
            raise ValueError(f"lexicon entry {word!r} uses unknown phones {bad}")


check_lexicon()
