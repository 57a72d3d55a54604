"""Indonesian numbers, dates and times as sequences of prompt ids (pure, stdlib only).

Asterisk's own say-number code has no Indonesian rules, so the call flow plays our
word prompts (``[words]`` in prompts/prompts.toml) one after another:
``number_ids(2025) == ["digits/2", "words/ribu", "digits/2", "words/puluh", "digits/5"]``.

Indonesian rules used here: "se-" forms for one ten / hundred / thousand
(sepuluh, sebelas, seratus, seribu), "belas" for 12-19, "puluh" for tens, "ratus"
for hundreds, "ribu" for thousands, where the thousands count is itself a number
(dua ratus lima puluh ribu); the unit words are the ``digits/N`` prompts.
"""

from __future__ import annotations

import datetime as dt

MAX_NUMBER = 999_999
PAUSE = "silence/short"  # the comma in "hari Kamis, tanggal ..."

_DAYS = ("senin", "selasa", "rabu", "kamis", "jumat", "sabtu", "minggu")  # Monday first, as weekday()
_MONTHS = (
    "januari", "februari", "maret", "april", "mei", "juni",
    "juli", "agustus", "september", "oktober", "november", "desember",
)  # fmt: skip


def _digit(n: int) -> str:
    return f"digits/{n}"


def _below_thousand(n: int) -> list[str]:
    """Words for 1..999 (0 says nothing here: it is only spoken on its own)."""
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds == 1:
        out.append("words/seratus")
    elif hundreds > 1:
        out += [_digit(hundreds), "words/ratus"]
    tens, units = divmod(rest, 10)
    if tens == 0:
        if units:
            out.append(_digit(units))
    elif tens == 1:
        if units == 0:
            out.append("words/sepuluh")
        elif units == 1:
            out.append("words/sebelas")
        else:
            out += [_digit(units), "words/belas"]
    else:
        out += [_digit(tens), "words/puluh"]
        if units:
            out.append(_digit(units))
    return out


def number_ids(n: int) -> list[str]:
    """Prompt ids that speak ``n`` (0..999 999) the Indonesian way."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"number_ids needs an int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"number_ids speaks 0..{MAX_NUMBER}, not {n}")
    if n == 0:
        return [_digit(0)]
    thousands, rest = divmod(n, 1000)
    out: list[str] = []
    if thousands == 1:
        out.append("words/seribu")
    elif thousands > 1:
        out += _below_thousand(thousands) + ["words/ribu"]
    return out + _below_thousand(rest)


def digit_ids(digits: str) -> list[str]:
    """One ``digits/N`` prompt per digit, as Asterisk's SAY DIGITS would play them."""
    if digits and not (digits.isascii() and digits.isdigit()):
        raise ValueError("digit_ids takes a string of digits 0-9 only")
    return [_digit(int(ch)) for ch in digits]


def grouped_digit_ids(digits: str, size: int = 4, pause: str = PAUSE) -> list[str]:
    """Digits in groups with a pause between (a NIK read back as 3172 0112 ...)."""
    if size < 1:
        raise ValueError("group size must be at least 1")
    out: list[str] = []
    for start in range(0, len(digits), size):
        if start:
            out.append(pause)
        out += digit_ids(digits[start : start + size])
    return out


def day_id(d: dt.date) -> str:
    return f"days/{_DAYS[d.weekday()]}"


def month_id(month: int) -> str:
    if not 1 <= month <= 12:
        raise ValueError(f"no month {month}")
    return f"months/{_MONTHS[month - 1]}"


def date_ids(d: dt.date, with_day: bool = True) -> list[str]:
    """"hari Kamis, tanggal dua puluh tiga Juli dua ribu dua puluh lima"."""
    if d.year > MAX_NUMBER:
        raise ValueError(f"cannot speak the year {d.year}")
    out: list[str] = []
    if with_day:
        out += ["words/hari", day_id(d), PAUSE]
    return out + ["words/tanggal", *number_ids(d.day), month_id(d.month), *number_ids(d.year)]


def time_ids(t: dt.time) -> list[str]:
    """"pukul delapan" or "pukul delapan lewat tiga puluh menit" (24-hour clock, seconds ignored)."""
    out = ["words/pukul", *number_ids(t.hour)]
    if t.minute:
        out += ["words/lewat", *number_ids(t.minute), "words/menit"]
    return out


def time_window_ids(start: dt.time, end: dt.time) -> list[str]:
    """"pukul delapan sampai pukul dua belas"."""
    return [*time_ids(start), "words/sampai", *time_ids(end)]


ALL_WORD_IDS: frozenset[str] = frozenset(
    [_digit(i) for i in range(10)]
    + [f"words/{w}" for w in ("sepuluh", "sebelas", "belas", "puluh", "seratus", "ratus", "seribu", "ribu")]
    + [f"words/{w}" for w in ("hari", "tanggal", "pukul", "lewat", "menit", "sampai")]
    + [f"days/{d}" for d in _DAYS]
    + [f"months/{m}" for m in _MONTHS]
    + [PAUSE]
)
