"""Recipient lists uploaded through the page: kept server-side between preview and apply.

An upload is written under ``<data_dir>/uploads/<token>.<ext>`` (the token is random and
is the only name the browser ever sees), checked (size, type, cells that a spreadsheet
would run as a formula) and validated by the store without changing anything.  Only a
clean list can be applied, and applying re-validates inside the store's all-or-nothing
import.  Files older than ``KEEP_S`` are removed.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ivr.errors import ImportRejected
from ivr.store.recipients import import_file, validate_csv

KEEP_S = 3600
CHUNK = 1 << 16
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
SUFFIXES = (".csv", ".xlsx")
# A cell a spreadsheet may evaluate: =, @, or +/- followed by something that is not a number.
_FORMULA = re.compile(r"^\s*(?:[=@]|[+-](?![\d\s.]*$))")
MAX_REPORTED = 200


class UploadTooLarge(ValueError):
    pass


@dataclass(frozen=True)
class Preview:
    token: str | None              # None when the file cannot be applied (it was removed)
    filename: str
    size: int
    rows: int
    inserted: int
    updated: int
    problems: tuple[tuple[int, str], ...]
    problem_count: int

    @property
    def ok(self) -> bool:
        return self.problem_count == 0 and self.token is not None

    def as_dict(self) -> dict:
        return {"token": self.token, "filename": self.filename, "size": self.size, "rows": self.rows,
                "inserted": self.inserted, "updated": self.updated, "ok": self.ok,
                "problem_count": self.problem_count,
                "problems": [{"line": line, "reason": why} for line, why in self.problems]}


def valid_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token or ""))


def _clean_name(filename: str) -> str:
    name = Path(filename or "").name
    return re.sub(r"[^\w .()-]", "_", name)[:120] or "daftar"


def save(folder: Path, filename: str, stream: BinaryIO, limit: int) -> tuple[str, Path, int]:
    """Copy the upload to ``folder`` under a fresh token; raise UploadTooLarge past ``limit``."""
    suffix = Path(filename or "").suffix.lower()
    folder.mkdir(parents=True, exist_ok=True)
    sweep(folder)
    token = secrets.token_urlsafe(24)
    path = folder / f"{token}{suffix if suffix in SUFFIXES else '.bin'}"
    size = 0
    with open(path, "wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                path.unlink(missing_ok=True)
                raise UploadTooLarge(f"berkas lebih dari {limit // (1024 * 1024)} MB")
            out.write(chunk)
    return token, path, size


def sweep(folder: Path) -> None:
    cutoff = time.time() - KEEP_S
    for p in folder.glob("*"):
        if p.is_file() and p.stat().st_mtime < cutoff:
            p.unlink(missing_ok=True)


def find(folder: Path, token: str) -> Path | None:
    if not valid_token(token):
        return None
    for suffix in SUFFIXES:
        p = folder / f"{token}{suffix}"
        if p.is_file():
            return p
    return None


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def file_checks(path: Path) -> list[tuple[int, str]]:
    """Problems the store's validation does not look for: file type and formula cells."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        return [(0, "jenis berkas tidak didukung: unggah .csv (UTF-8) atau .xlsx")]
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if not head.strip():
        return [(1, "berkas kosong")]
    if suffix == ".xlsx":
        if not head.startswith(b"PK\x03\x04"):
            return [(1, "berkas ini bukan buku kerja .xlsx yang sah")]
        return _xlsx_formulas(path)
    if b"\x00" in head:
        return [(1, "berkas ini bukan teks CSV (berisi data biner; UTF-16 atau berkas lain?)")]
    return _csv_formulas(path)


def _report(line: int, column: str, value: str) -> tuple[int, str]:
    shown = value.strip()[:30]
    return line, (f"kolom {column} berisi rumus spreadsheet ({shown!r}); hapus tanda "
                  f"'{shown[:1]}' di awal sel, rumus tidak boleh ada di daftar")


def _csv_formulas(path: Path) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    with open(path, "rb") as raw:
        first = raw.readline()
        raw.seek(0)
        delimiter = ";" if first.count(b";") > first.count(b",") else ","
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] = []
        prev = 0
        for fields in reader:
            line, prev = prev + 1, reader.line_num
            if not header:
                header = [h.strip().lower() for h in fields]
                continue
            for i, value in enumerate(fields):
                if _FORMULA.match(value):
                    problems.append(_report(line, header[i] if i < len(header) else f"#{i + 1}", value))
                    if len(problems) >= MAX_REPORTED:
                        return problems
    return problems


def _xlsx_formulas(path: Path) -> list[tuple[int, str]]:
    import openpyxl

    problems: list[tuple[int, str]] = []
    try:
        # data_only=False: formulas come back as their "=..." text, which is what we refuse
        book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception:   # openpyxl raises many types for a broken workbook; the store reports it
        return problems
    try:
        rows = book.worksheets[0].iter_rows(values_only=True)
        header = [str(h or "").strip().lower() for h in next(rows, ())]
        for line, values in enumerate(rows, start=2):
            for i, value in enumerate(values):
                if isinstance(value, str) and _FORMULA.match(value):
                    problems.append(_report(line, header[i] if i < len(header) else f"#{i + 1}", value))
                    if len(problems) >= MAX_REPORTED:
                        return problems
    finally:
        book.close()
    return problems


def preview(store, token: str, path: Path, filename: str, size: int) -> Preview:
    """Check and dry-run the file; a file that cannot be applied is removed at once."""
    problems = file_checks(path)
    report = None
    if not problems or problems[0][0] > 1:
        report = validate_csv(store, path)
        problems = sorted(problems + list(report.problems), key=lambda p: p[0])
    count = len(problems) + (report.problem_count - len(report.problems) if report else 0)
    name = _clean_name(filename)
    if count:
        path.unlink(missing_ok=True)
        return Preview(None, name, size, report.rows if report else 0, 0, 0, tuple(problems[:1000]), count)
    _meta_path(path).write_text(json.dumps({"filename": name, "size": size}))
    return Preview(token, name, size, report.rows, report.inserted, report.updated, (), 0)


@dataclass(frozen=True)
class Applied:
    ok: bool
    filename: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    problems: tuple[tuple[int, str], ...] = ()

    def as_dict(self) -> dict:
        return {"ok": self.ok, "filename": self.filename, "rows": self.rows, "inserted": self.inserted,
                "updated": self.updated, "problems": [{"line": a, "reason": b} for a, b in self.problems]}


def apply(store, folder: Path, token: str, by: str) -> Applied | None:
    """Apply a previewed upload (all or nothing); None when the token is unknown or expired."""
    path = find(folder, token)
    if path is None or not _meta_path(path).is_file():
        return None
    meta = json.loads(_meta_path(path).read_text())
    try:
        report = import_file(store, path, progress=False, by=by)
    except ImportRejected as exc:
        return Applied(False, meta["filename"], problems=tuple(exc.problems[:1000]))
    finally:
        path.unlink(missing_ok=True)
        _meta_path(path).unlink(missing_ok=True)
    store.audit(by, "import_recipients", meta["filename"][:100],
                json.dumps({"rows": report.rows, "inserted": report.inserted, "updated": report.updated}))
    return Applied(True, meta["filename"], report.rows, report.inserted, report.updated)
