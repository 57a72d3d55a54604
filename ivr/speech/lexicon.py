"""The hotline vocabulary: phone set and pronunciations.

Indonesian spelling is close to phonemic, so a hand-written lexicon for the few
words the hotline listens for is more reliable than any grapheme-to-phoneme tool.
The same table is written into the model directory (``graph/lexicon.txt``) at build
time; the recogniser builds its grammar graphs from the copy in the model, so a
model always decodes with the pronunciations it was trained on.

Besides the textbook words, the table holds what Jakarta's callers actually say
(colloquial and Betawi forms, ``COLLOQUIAL``) and the words they wrap around
digits (``CARRIER``): "NIK saya ...", "nomornya ...", "eh", "ee", "em".  Carrier
words are never a grammar's answer; in a grammar that allows ``[unk]`` they are
garbage paths that come out as ``[unk]`` and yield no digit.

:func:`g2p` spells any other Indonesian word with the same phone set (the rules
are nearly regular; its one real ambiguity, "e" as schwa or as /e/, defaults to
the schwa).  Training uses it for transcript words outside the table.
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
    # --- Jakarta's own words (README "Words the line understands") -------------------
    # "no": colloquial, Betawi ("kagak") and Javanese-influenced ("ndak") forms
    "nggak": ("ng", "g", "a", "k"),
    "enggak": ("@", "ng", "g", "a", "k"),
    "gak": ("g", "a", "k"),
    "ga": ("g", "a"),
    "kagak": ("k", "a", "g", "a", "k"),
    "ndak": ("n", "d", "a", "k"),
    # "yes"
    "iye": ("i", "y", "e"),
    "he'eh": ("h", "e", "e", "h"),
    "yoi": ("y", "o", "i"),
    "bener": ("b", "@", "n", "@", "r"),
    "oke": ("o", "k", "e"),
    # menu and control
    "ulang": ("u", "l", "a", "ng"),
    "sekali": ("s", "@", "k", "a", "l", "i"),
    "lagi": ("l", "a", "g", "i"),
    "operator": ("o", "p", "@", "r", "a", "t", "o", "r"),
    "cs": ("s", "e", "e", "s"),
    "udah": ("u", "d", "a", "h"),
    "sudah": ("s", "u", "d", "a", "h"),
    "cukup": ("j", "u", "k", "u", "p"),          # no /c/ phone: its voiced twin
    # opt-out: "jangan telepon lagi", "berhenti"
    "jangan": ("j", "a", "ng", "a", "n"),
    "telepon": ("t", "e", "l", "e", "p", "o", "n"),
    "berhenti": ("b", "@", "r", "h", "@", "n", "t", "i"),      # "stop" (reminder calls)
    # --- carrier words and fillers around digits (garbage: never an answer) ---------
    "nik": ("n", "i", "k"),
    "saya": ("s", "a", "y", "a"),
    "nomor": ("n", "o", "m", "o", "r"),
    "nomornya": ("n", "o", "m", "o", "r", "n", "y", "a"),
    "eh": ("e", "h"),
    "ee": ("e",),
    "em": ("@", "m"),
    UNK: (GARBAGE,),
}

# Second pronunciations, heard as the same word when decoding (never used as training
# labels: a model learns each word under its ``LEXICON`` spelling).  Written into the
# model's ``graph/lexicon.txt`` as extra lines, Kaldi's way of listing variants.
# "ndak" starts on a nasal that many speakers (and espeak-ng's voices) open with a
# short vowel, "endak"; without that path the held-out voices' "ndak" was heard as
# "benar" (a false yes at the read-back) in 5 of 24 tries, 1 of 24 with it.
VARIANTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "ndak": (("@", "n", "d", "a", "k"),),
}

COLLOQUIAL_NO: tuple[str, ...] = ("nggak", "enggak", "gak", "ga", "kagak", "ndak")
COLLOQUIAL_YES: tuple[str, ...] = ("iye", "he'eh", "yoi", "bener", "oke")
COLLOQUIAL_MENU: tuple[str, ...] = ("ulang", "sekali lagi", "operator", "cs", "udah", "sudah", "cukup")
OPT_OUT = "jangan telepon lagi"
CARRIER: tuple[str, ...] = ("nik", "saya", "nomor", "nomornya", "eh", "ee", "em")

DIGIT_WORDS: tuple[str, ...] = (
    "nol", "kosong", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan",
)

WORDS: tuple[str, ...] = tuple(LEXICON)

_G2P_MULTI = (("ng", ("ng",)), ("ny", ("n", "y")), ("sy", ("s", "y")), ("kh", ("h",)))
_G2P_ONE = {
    "a": ("a",), "i": ("i",), "u": ("u",), "o": ("o",), "e": ("@",), "\u00e9": ("e",),
    "b": ("b",), "c": ("j",), "d": ("d",), "f": ("p",), "g": ("g",), "h": ("h",), "j": ("j",),
    "k": ("k",), "l": ("l",), "m": ("m",), "n": ("n",), "p": ("p",), "q": ("k",), "r": ("r",),
    "s": ("s",), "t": ("t",), "v": ("p",), "w": ("w",), "x": ("k", "s"), "y": ("y",), "z": ("j",),
}


def g2p(word: str) -> tuple[str, ...]:
    """Rule-based pronunciation of an Indonesian word in ``PHONES``.

    Letters outside the alphabet (apostrophes, hyphens, digits) are skipped; "é"
    marks the /e/ that plain "e" (schwa) does not.
    """
    w = word.lower()
    out: list[str] = []
    i = 0
    while i < len(w):
        for spelling, phones in _G2P_MULTI:
            if w.startswith(spelling, i):
                out.extend(phones)
                i += len(spelling)
                break
        else:
            out.extend(_G2P_ONE.get(w[i], ()))
            i += 1
    return tuple(out)


def pronounce(word: str) -> tuple[str, ...]:
    """The table's pronunciation, or the rules' for any other word."""
    return LEXICON[word] if word in LEXICON else g2p(word)


def pronunciations(word: str) -> tuple[tuple[str, ...], ...]:
    """Every pronunciation the decoder accepts for a table word, the training one first."""
    return (LEXICON[word],) + VARIANTS.get(word, ())


def lexicon_text() -> str:
    """The model's ``graph/lexicon.txt``: a line per pronunciation, each word's
    training one first (further lines are variants, as in Kaldi's lexicon)."""
    return "".join(f"{w} {' '.join(p)}\n" for w in LEXICON for p in pronunciations(w))


def check_lexicon() -> None:
    """Fail early if a pronunciation uses a phone outside the phone set."""
    known = set(PHONES)
    if set(VARIANTS) - set(LEXICON):
        raise ValueError(f"variants of words outside the table: {sorted(set(VARIANTS) - set(LEXICON))}")
    for word, pron in [*LEXICON.items(), *((w, v) for w, vs in VARIANTS.items() for v in vs)]:
        bad = [p for p in pron if p not in known]
        if bad:
            raise ValueError(f"lexicon entry {word!r} uses unknown phones {bad}")


check_lexicon()
