"""NIK (Nomor Induk Kependudukan) structure checks and masking.  Pure functions.

A NIK is 16 digits: ``PP KK CC DDMMYY SSSS`` -- province, regency/city, district,
birth date (women add 40 to the day) and a serial from 0001.  The checks here are
the ones a caller can be told about in plain words; they never look anything up.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum

NIK_LENGTH = 16

# Province codes in use (Kemendagri).  DKI Jakarta is 31.
PROVINCES = frozenset({
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53,
    61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96, 97,
})
JAKARTA_CITIES = {
    "3101": "Kepulauan Seribu",
    "3171": "Jakarta Selatan",
    "3172": "Jakarta Timur",
    "3173": "Jakarta Pusat",
    "3174": "Jakarta Barat",
    "3175": "Jakarta Utara",
}


class NikProblem(str, Enum):
    """Why a NIK cannot be right; each maps to a spoken explanation."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NOT_DIGITS = "not_digits"
    PROVINCE = "province"
    CITY = "city"
    DISTRICT = "district"
    DAY = "day"
    MONTH = "month"
    SERIAL = "serial"


@dataclass(frozen=True)
class NikCheck:
    ok: bool
    problem: NikProblem | None = None
    value: int | None = None   # the offending number (digit count, month, day ...)


_DIGITS = re.compile(r"\d+")


def check(nik: str, today: dt.date | None = None) -> NikCheck:
    """Check a NIK's length and structure.  ``today`` bounds plausible birth years."""
    if not _DIGITS.fullmatch(nik or ""):
        return NikCheck(False, NikProblem.NOT_DIGITS)
    if len(nik) < NIK_LENGTH:
        return NikCheck(False, NikProblem.TOO_SHORT, len(nik))
    if len(nik) > NIK_LENGTH:
        return NikCheck(False, NikProblem.TOO_LONG, len(nik))
    province = int(nik[0:2])
    if province not in PROVINCES:
        return NikCheck(False, NikProblem.PROVINCE, province)
    city = int(nik[2:4])
    if city == 0:
        return NikCheck(False, NikProblem.CITY, city)
    if int(nik[4:6]) == 0:
        return NikCheck(False, NikProblem.DISTRICT, 0)
    day, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if not 1 <= month <= 12:
        return NikCheck(False, NikProblem.MONTH, month)
    real_day = day - 40 if day > 40 else day
    if not 1 <= real_day <= 31 or (31 < day <= 40):
        return NikCheck(False, NikProblem.DAY, day)
    # the day must exist in that month; try both centuries (the NIK carries only YY)
    if not any(_valid_date(century + year2, month, real_day) for century in (1900, 2000)):
        return NikCheck(False, NikProblem.DAY, day)
    if int(nik[12:16]) == 0:
        return NikCheck(False, NikProblem.SERIAL, 0)
    return NikCheck(True)


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def is_valid(nik: str) -> bool:
    return check(nik).ok


def is_jakarta(nik: str) -> bool:
    return nik[:4] in JAKARTA_CITIES


def mask(nik: str) -> str:
    """``3172********0001``: enough for a caller to recognise, not enough to reuse."""
    if len(nik) <= 8:
        return "*" * len(nik)
    return nik[:4] + "*" * (len(nik) - 8) + nik[-4:]


def mask_phone(number: str) -> str:
    """``0812*****678``: the operator sees the network prefix and the last three digits."""
    digits = number or ""
    if len(digits) <= 9:   # short numbers (extensions, landlines): hide all but the last two
        return "*" * max(len(digits) - 2, 0) + digits[-2:] if len(digits) > 4 else "*" * len(digits)
    return digits[:4] + "*" * (len(digits) - 7) + digits[-3:]


def groups(nik: str, size: int = 4) -> list[str]:
    """Split into groups for read-back: ``3172 0101 8001 0001``."""
    return [nik[i:i + size] for i in range(0, len(nik), size)]
