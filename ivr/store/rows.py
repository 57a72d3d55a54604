"""Reading and checking recipient-list rows (CSV or XLSX) -- pure, no database.

Every row is checked and every problem reported with its line number, in words an office
clerk can act on ("format the NIK column as Text"), because lists come from spreadsheets.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ivr import nik as nikmod
from ivr.store.models import RECIPIENT_STATUSES

REQUIRED = ("nik", "name", "status", "collection_date", "collection_time", "place", "address")
OPTIONAL = ("phone", "phase", "documents", "collected_on")
_COLUMNS = REQUIRED + OPTIONAL
MAX_KEPT_PROBLEMS = 1000
MAX_FIELD_CHARS = csv.field_size_limit()     # 131,072: the csv module's own limit, kept as is
MAX_LINE_BYTES = 1 << 20                     # a real row is a few hundred bytes
# C0 control characters other than tab, line feed and carriage return: never in a real list,
# and PostgreSQL refuses NUL outright
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

_SCIENTIFIC = re.compile(r"^\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_DECIMAL_TAIL = re.compile(r"^\d+[.,]0+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME_RANGE = re.compile(r"^(\d{1,2})[:.](\d{2})\s*[-\u2013\u2014]\s*(\d{1,2})[:.](\d{2})$")
_PHONE_JUNK = re.compile(r"[\s\-().]")
_LIMITS = {"name": 200, "place": 200, "address": 400, "phase": 60}

_NIK_WORDS = {
    nikmod.NikProblem.PROVINCE: "province code {value} does not exist",
    nikmod.NikProblem.CITY: "regency/city code is 00",
    nikmod.NikProblem.DISTRICT: "district code is 00",
    nikmod.NikProblem.DAY: "birth day {value} is impossible (women add 40: 41-71)",
    nikmod.NikProblem.MONTH: "birth month {value} is impossible",
    nikmod.NikProblem.SERIAL: "serial number is 0000",
}


@dataclass(frozen=True)
class CleanRow:
    """One valid row, in the shape the staging table takes (plain NIK/phone still here)."""

    nik: str
    name: str
    phone: str
    status: str
    phase: str
    collection_date: dt.date | None
    time_start: dt.time | None
    time_end: dt.time | None
    place: str
    address: str
    documents: str
    collected_on: dt.date | None


class Problems:
    """Collects (line, message); keeps the first MAX_KEPT_PROBLEMS and counts the rest."""

    def __init__(self) -> None:
        self.items: list[tuple[int, str]] = []
        self.count = 0

    def add(self, line: int, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_KEPT_PROBLEMS:
            self.items.append((line, message))

    def final(self) -> list[tuple[int, str]]:
        out = sorted(self.items, key=lambda p: p[0])
        if self.count > len(self.items):
            out.append((0, f"... and {self.count - len(self.items)} more problem(s) not listed"))
        return out

    def __bool__(self) -> bool:
        return self.count > 0


# --- sources: yield (line number, {column: text}) --------------------------------------

def csv_records(path: Path, problems: Problems, on_bytes: Callable[[int], None] | None = None
                ) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a UTF-8 CSV (BOM tolerated; ',' or ';' separated, as spreadsheets export).

    A file the csv module cannot parse (a value past ``MAX_FIELD_CHARS``, a quote that is
    never closed, text after a closing quote, a bare carriage return) or a line past
    ``MAX_LINE_BYTES`` ends the reading with one line-numbered problem: what follows such a
    fault cannot be split into rows reliably, and the list is refused anyway.  Memory stays
    bounded by those two limits whatever the file holds.
    """
    with open(path, "rb") as raw:
        first = raw.readline(MAX_LINE_BYTES + 1)
        if not first.strip():
            problems.add(1, "the file is empty or its first line (the header) is blank")
            return
        delimiter = ";" if first.count(b";") > first.count(b",") else ","
        raw.seek(0)
        line_no = 0
        broken = False

        def lines() -> Iterator[str]:
            nonlocal line_no, broken
            while chunk := raw.readline(MAX_LINE_BYTES + 1):
                line_no += 1
                if on_bytes:
                    on_bytes(len(chunk))
                if len(chunk) > MAX_LINE_BYTES:
                    problems.add(line_no, f"line is longer than {MAX_LINE_BYTES:,} bytes; the rest of the "
                                          "file was not checked (is this really a recipient list?)")
                    broken = True
                    return
                if line_no == 1 and chunk.startswith(b"\xef\xbb\xbf"):
                    chunk = chunk[3:]
                try:
                    yield chunk.decode("utf-8")
                except UnicodeDecodeError as exc:
                    problems.add(line_no, f"not UTF-8 text (byte 0x{chunk[exc.start]:02X} at position "
                                          f"{exc.start + 1}); save the file as 'CSV UTF-8'")
                    yield chunk.decode("utf-8", errors="replace")

        # strict: a stray character after a closing quote, or a file ending inside quotes,
        # is an error to report rather than a row silently glued together
        reader = csv.reader(lines(), delimiter=delimiter, strict=True)
        prev = 0
        try:
            header = next(reader, None)
            if header is None:
                if not broken:
                    problems.add(1, "the file is empty")
                return
            columns = [h.strip().lower() for h in header]
            if not _header_ok(columns, problems):
                return
            prev = reader.line_num
            for fields in reader:
                line, prev = prev + 1, reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if len(fields) != len(columns):
                    spread = f" (it runs on to line {prev}: a quote opened there is closed too late?)" \
                        if prev > line else " (a comma or quote inside a value?)"
                    problems.add(line, f"has {len(fields)} fields but the header has {len(columns)}{spread}")
                    continue
                yield line, dict(zip(columns, fields))
        except csv.Error as exc:
            if not broken:
                problems.add(prev + 1, _csv_fault(str(exc), prev + 1, line_no))


def _csv_fault(error: str, start: int, reached: int) -> str:
    """The csv module's complaint about the record starting on line ``start``, in words."""
    tail = "; the rest of the file was not checked"
    if "field larger than field limit" in error:
        spread = f" (it runs on to line {reached})" if reached > start else ""
        return (f"a value starting on this line is longer than {MAX_FIELD_CHARS:,} characters{spread}; "
                "a quote (\") that is never closed turns everything after it into one value" + tail)
    if "unexpected end of data" in error:
        return "a quote (\") opened here is never closed: the file ends inside it" + tail
    if "expected after" in error:
        return ("text follows a closing quote (\"); a quote inside a value must be doubled (\"\")" + tail)
    if "new-line character seen in unquoted field" in error:
        return ("a line break inside a value that is not quoted (old Mac line endings?); "
                "save the file as 'CSV UTF-8'" + tail)
    return f"cannot be read as CSV ({error})" + tail


def xlsx_records(path: Path, problems: Problems, on_bytes: Callable[[int], None] | None = None, *,
                 formulas: bool = False) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of the first sheet of an XLSX workbook; cells converted to text like a CSV export.
    The workbook is checked for zip bombs and read in a memory-capped child process
    (``ivr.store.xlsx``)."""
    from ivr.store import xlsx

    yield from xlsx.records(path, problems, on_bytes, formulas=formulas)


def records(path: Path, problems: Problems, on_bytes: Callable[[int], None] | None = None, *,
            formulas: bool = False) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV or XLSX list, chosen by the file's suffix."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return xlsx_records(path, problems, on_bytes, formulas=formulas)
    return csv_records(path, problems, on_bytes)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _header_ok(columns: list[str], problems: Problems) -> bool:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problems.add(1, f"missing column(s) {', '.join(missing)}; the header must have "
                        f"{','.join(REQUIRED)} (optional: {','.join(OPTIONAL)})")
        return False
    dup = sorted({c for c in columns if c and columns.count(c) > 1})
    if dup:
        problems.add(1, f"column(s) {', '.join(dup)} appear twice in the header")
        return False
    return True


# --- row checks -----------------------------------------------------------------------

def check_nik(text: str) -> tuple[str | None, str | None]:
    """(nik, None) when usable, else (None, problem in words)."""
    value = text.strip().lstrip("'").replace(" ", "")
    if not value:
        return None, "NIK is empty"
    if _SCIENTIFIC.match(value):
        return None, (f"NIK {value!r} was turned into scientific notation by a spreadsheet; "
                      "format the NIK column as Text and export again")
    if _DECIMAL_TAIL.match(value):
        return None, f"NIK {value!r} has a decimal part (spreadsheet number format); format the column as Text"
    if not value.isdigit():
        return None, "NIK must contain only digits"
    if len(value) != nikmod.NIK_LENGTH:
        return None, f"NIK has {len(value)} digits, expected 16"
    result = nikmod.check(value)
    if not result.ok:
        words = _NIK_WORDS.get(result.problem, str(result.problem))
        return None, f"NIK {nikmod.mask(value)}: " + words.format(value=result.value)
    return value, None


def _date(text: str, column: str, line: int, problems: Problems) -> dt.date | None:
    m = _DATE.match(text)
    if m:
        try:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            pass
    problems.add(line, f"{column} {text!r} is not a date YYYY-MM-DD")
    return None


def clean_row(line: int, rec: dict[str, str], seen: set[int], problems: Problems) -> CleanRow | None:
    """Check one row; record each problem; return the row only when it is entirely good."""
    before = problems.count
    rec = {c: (rec.get(c) or "").strip() for c in _COLUMNS}
    get = rec.__getitem__
    for col, value in rec.items():
        bad = _CONTROL.search(value)
        if bad:
            problems.add(line, f"{col} contains a control character (0x{ord(bad.group()):02X}); "
                               "save the list again as text (CSV UTF-8) or a workbook")
            return None
    nik, why = check_nik(get("nik"))
    if why:
        problems.add(line, why)
    elif int(nik) in seen:
        problems.add(line, f"NIK {nikmod.mask(nik)} appears more than once in the file")
    else:
        seen.add(int(nik))

    name = get("name")
    if not name:
        problems.add(line, "name is empty")
    status = get("status").lower().replace(" ", "_").replace("-", "_")
    if status not in RECIPIENT_STATUSES:
        problems.add(line, f"status {get('status')!r} is unknown; use one of {', '.join(RECIPIENT_STATUSES)}")

    date_text, time_text = get("collection_date"), get("collection_time")
    day = _date(date_text, "collection_date", line, problems) if date_text else None
    start = end = None
    if time_text:
        m = _TIME_RANGE.match(time_text)
        try:
            start, end = (dt.time(int(m[1]), int(m[2])), dt.time(int(m[3]), int(m[4]))) if m else (None, None)
        except ValueError:
            start = end = None
        if start is None:
            problems.add(line, f"collection_time {time_text!r} is not a time range HH:MM-HH:MM")
        elif start >= end:
            problems.add(line, f"collection_time {time_text!r} ends before it starts")
    if status == "scheduled":
        if not date_text or not time_text:
            problems.add(line, "status scheduled needs both collection_date and collection_time")
        if not get("place"):
            problems.add(line, "status scheduled needs a place")
    elif bool(date_text) != bool(time_text) and status != "collected":
        problems.add(line, "collection_date and collection_time must both be given or both be empty")

    collected_text = get("collected_on")
    collected = _date(collected_text, "collected_on", line, problems) if collected_text else None
    if status == "collected" and collected is None and not collected_text:
        collected = day

    phone = get("phone")
    if phone:
        compact = _PHONE_JUNK.sub("", phone)
        if _SCIENTIFIC.match(compact):
            problems.add(line, "phone was turned into scientific notation by a spreadsheet; format it as Text")
        elif not re.fullmatch(r"\+?\d{8,15}", compact):
            problems.add(line, "phone must be 8 to 15 digits (optionally starting with +)")
        phone = compact

    for col, limit in _LIMITS.items():
        if len(get(col)) > limit:
            problems.add(line, f"{col} is longer than {limit} characters")
    documents = ";".join(d.strip() for d in get("documents").split(";") if d.strip())
    if len(documents) > 2000:
        problems.add(line, "documents is longer than 2000 characters")

    if problems.count != before:
        return None
    return CleanRow(nik=nik, name=name, phone=phone, status=status, phase=get("phase"),
                    collection_date=day, time_start=start, time_end=end, place=get("place"),
                    address=get("address"), documents=documents, collected_on=collected)
