"""What a caller's keys or words mean at each kind of question.  Pure functions.

Speech arrives as lower-case words from a grammar-restricted recogniser; keys as
DTMF characters.  Each question kind maps both onto one small set of answers, so
the flow never cares which way the caller answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

DIGIT_WORDS = {
    "nol": "0", "kosong": "0", "satu": "1", "dua": "2", "tiga": "3", "empat": "4",
    "lima": "5", "enam": "6", "tujuh": "7", "delapan": "8", "sembilan": "9",
}
# Callers say "dobel"/"double" before a digit to mean it twice ("dobel satu" = 11);
# the grammar may not offer these words, but a bigger model may produce them.
REPEAT_WORDS = {"dobel": 2, "double": 2, "tripel": 3, "triple": 3}

# Textbook words first, then what Jakarta says (colloquial, Betawi "kagak"/"iye",
# Javanese-influenced "ndak"); README "Words the line understands" lists them.
YES_WORDS = {"ya", "iya", "betul", "benar", "yes", "bener", "iye", "he'eh", "yoi", "oke"}
NO_WORDS = {"tidak", "bukan", "salah", "tak", "nggak", "enggak", "gak", "ga", "kagak", "ndak"}
# At the NIK read-back ("confirm", a yes/no question) "satu"/"dua" mean the keys 1/2:
# the digit models learnt from human voices, so they are the surest spoken answer.
YES_DIGIT, NO_DIGIT = "satu", "dua"
YES_NO_GRAMMARS = ("yesno", "confirm")
REPEAT = {"ulangi", "ulang"}
REPEAT_PHRASES = (("sekali", "lagi"),)
OPERATOR = {"petugas", "operator", "cs"}
REPORT = {"lapor", "laporan", "melapor"}
DONE = {"selesai", "cukup", "sudah", "udah"}
ALL = {"semua", "semuanya"}
# "jangan telepon lagi" (don't call again) or "berhenti" (stop): off future campaigns.
OPT_OUT_PHRASES = ("jangan telepon lagi", "jangan telpon lagi", "berhenti")
GROUP_WORDS = {"satu": 1, "dua": 2, "tiga": 3, "empat": 4}


class Kind(str, Enum):
    DIGITS = "digits"
    YES = "yes"
    NO = "no"
    REPEAT = "repeat"
    OPERATOR = "operator"
    REPORT = "report"
    DONE = "done"
    GROUP = "group"        # value: 1..4
    ALL = "all"
    CALLBACK = "callback"
    MESSAGE = "message"
    RESTART = "restart"
    OPT_OUT = "opt_out"
    UNSURE = "unsure"      # a yes or no heard without a clear margin over the other
    NOTHING = "nothing"    # nothing usable


@dataclass(frozen=True)
class Answer:
    kind: Kind
    value: str = ""


NOTHING = Answer(Kind.NOTHING)


def words_to_digits(text: str) -> str:
    """``"tiga satu tujuh dua"`` -> ``"3172"``; keeps repeats, ignores other words."""
    out: list[str] = []
    times = 1
    for word in text.lower().split():
        if word in REPEAT_WORDS:
            times = REPEAT_WORDS[word]
            continue
        digit = DIGIT_WORDS.get(word)
        if digit is not None:
            out.append(digit * times)
        times = 1
    return "".join(out)


def _words(text: str) -> list[str]:
    return [w for w in text.lower().split() if w != "[unk]"]


def _has_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i:i + n]) == phrase for i in range(len(words) - n + 1))


def yes_no_margin(evidence: tuple[tuple[str, float], ...]) -> float | None:
    """Log score of the best "yes" reading minus that of the best "no" reading
    (``Transcript.evidence``); None when the recogniser gave no such evidence.
    A class the recogniser could not fit at all counts as infinitely unlikely."""
    scores = dict(evidence)
    if "yes" not in scores and "no" not in scores:
        return None
    return scores.get("yes", float("-inf")) - scores.get("no", float("-inf"))


def yes_no_decision(answer: Answer, margin: float | None, yes_margin: float, no_margin: float) -> Answer:
    """Safe by construction: a YES stands only when the best "yes" reading beats the
    best "no" reading by ``yes_margin`` (natural-log units); a NO only when it is at
    least ``no_margin`` ahead the other way.  Anything closer is UNSURE (ask again,
    offering the keypad).  Without evidence (keypad, another recogniser) the answer
    stands as it is."""
    if margin is None or answer.kind not in (Kind.YES, Kind.NO):
        return answer
    if answer.kind is Kind.YES:
        return answer if margin >= yes_margin else Answer(Kind.UNSURE)
    return answer if -margin >= no_margin else Answer(Kind.UNSURE)


def meaning_confidence(text: str, confidence: float, alternatives: tuple[tuple[str, float], ...],
                       grammar: str) -> float:
    """How sure the recogniser is of what the best reading *means*: the posteriors of
    every reading with the same meaning add up.  "benar" 0.45 beside "ya" 0.40 is a
    yes heard at 0.85, not a doubtful "benar"; "selesai" beside "sudah" is "done"."""
    if not alternatives:
        return confidence
    meant = speech_answer(text, grammar)
    same = sum(c for t, c in alternatives if speech_answer(t, grammar) == meant)
    return max(confidence, min(1.0, same))


def keys_answer(keys: str, grammar: str) -> Answer:
    """Meaning of keypad input for a question kind."""
    if not keys:
        return NOTHING
    if grammar == "digits":
        if keys.startswith("*"):
            return Answer(Kind.RESTART)
        digits = "".join(k for k in keys if k.isdigit())
        return Answer(Kind.DIGITS, digits) if digits else NOTHING
    key = keys[0]
    if key == "0":
        return Answer(Kind.OPERATOR)
    if key == "9":
        return Answer(Kind.REPEAT)
    if grammar in YES_NO_GRAMMARS:
        return {"1": Answer(Kind.YES), "2": Answer(Kind.NO)}.get(key, NOTHING)
    if grammar == "menu":
        return {"2": Answer(Kind.REPORT)}.get(key, NOTHING)
    if grammar == "group":
        if key in "1234":
            return Answer(Kind.GROUP, key)
        return Answer(Kind.ALL) if key == "5" else NOTHING
    if grammar == "fallback":
        return {"1": Answer(Kind.CALLBACK), "2": Answer(Kind.MESSAGE)}.get(key, NOTHING)
    if grammar == "reminder":
        return {"1": Answer(Kind.YES), "8": Answer(Kind.OPT_OUT)}.get(key, NOTHING)
    return NOTHING


def speech_answer(text: str, grammar: str) -> Answer:
    """Meaning of recognised words for a question kind."""
    words = _words(text)
    if not words:
        return NOTHING
    if grammar == "reminder" and any(p in " ".join(words) for p in OPT_OUT_PHRASES):
        return Answer(Kind.OPT_OUT)      # checked first: "jangan ... lagi" is not a yes
    if any(w in OPERATOR for w in words):
        return Answer(Kind.OPERATOR)
    if grammar == "digits":
        digits = words_to_digits(" ".join(words))
        if digits:
            return Answer(Kind.DIGITS, digits)
        return Answer(Kind.REPEAT) if any(w in REPEAT for w in words) else NOTHING
    if any(w in REPEAT for w in words) or any(_has_phrase(words, p) for p in REPEAT_PHRASES):
        return Answer(Kind.REPEAT)
    if grammar in YES_NO_GRAMMARS or grammar == "reminder":
        # "tidak benar", "nggak bener": a negated yes is a no.
        negated = any(a in NO_WORDS and b in YES_WORDS for a, b in zip(words, words[1:]))
        digits = grammar == "confirm"
        yes = any(w in YES_WORDS or (digits and w == YES_DIGIT) for w in words) and not negated
        no = any(w in NO_WORDS or (digits and w == NO_DIGIT) for w in words)
        if yes != no:                       # "ya ... tidak" is not an answer
            return Answer(Kind.YES if yes else Kind.NO)
        return NOTHING
    if grammar == "menu":
        if any(w in REPORT for w in words):
            return Answer(Kind.REPORT)
        if any(w in DONE for w in words):
            return Answer(Kind.DONE)
        return NOTHING
    if grammar == "group":
        if any(w in ALL for w in words):
            return Answer(Kind.ALL)
        groups = [GROUP_WORDS[w] for w in words if w in GROUP_WORDS]
        return Answer(Kind.GROUP, str(groups[0])) if len(groups) == 1 else NOTHING
    return NOTHING
