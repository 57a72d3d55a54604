"""Recipient lists uploaded through the page: checked, then applied all or nothing.

An upload is written to ``<data_dir>/uploads/`` (folder 0700, file 0600, a random name)
only for as long as it is being checked: whatever happens (a clean list, a rejected one,
an exception, a client that went away) the file is deleted when its check ends.  A clean
list's rows wait in the database, protected like the recipients themselves, under a
random token (the only name the browser ever sees) until an administrator applies them
or ``KEEP_S`` passes.  Checks and applies run as import jobs (``ivr.web.jobs``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ivr.store.files import create_private, private_dir
from ivr.store.recipients import (
    ImportProgress, apply_upload, discard_upload, pending_upload, stage_upload, sweep_uploads,
)
from ivr.store.rows import Problems

log = logging.getLogger(__name__)

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
    token: str | None              # None when the list cannot be applied
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


def valid_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token or ""))


def clean_name(filename: str) -> str:
    name = Path(filename or "").name
    return re.sub(r"[^\w .()-]", "_", name)[:120] or "daftar"


def refused(filename: str, reason: str) -> Preview:
    """A preview for a file that was never checked (too large, another import running)."""
    return Preview(None, clean_name(filename), 0, 0, 0, 0, ((0, reason),), 1)


def save(folder: Path, filename: str, stream: BinaryIO, limit: int) -> tuple[Path, int]:
    """Copy the upload into ``folder`` (0700) as a new 0600 file; raise UploadTooLarge past
    ``limit``.  The caller owns the file and must delete it."""
    suffix = Path(filename or "").suffix.lower()
    private_dir(folder)
    path = folder / f"{secrets.token_hex(16)}{suffix if suffix in SUFFIXES else '.bin'}"
    size = 0
    done = False
    try:
        with os.fdopen(create_private(path), "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge(f"berkas lebih dari {limit // (1024 * 1024)} MB")
                out.write(chunk)
        done = True
        return path, size
    finally:
        if not done:
            path.unlink(missing_ok=True)


def clear_folder(folder: Path) -> int:
    """Delete every upload left in ``folder`` (at start-up: a file there outlived its request
    only if the process died while checking it)."""
    removed = 0
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() or p.is_symlink():
                p.unlink(missing_ok=True)
                removed += 1
    return removed


def sweep(store) -> int:
    """Forget checked lists older than ``KEEP_S`` that were never applied."""
    return sweep_uploads(store, KEEP_S)


def file_checks(path: Path) -> list[tuple[int, str]]:
    """Problems found before reading rows: file type, emptiness, binary content."""
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
        return []
    if b"\x00" in head:
        return [(1, "berkas ini bukan teks CSV (berisi data biner; UTF-16 atau berkas lain?)")]
    return []


def refuse_formulas(line: int, record: dict, problems: Problems) -> None:
    """A cell a spreadsheet would run as a formula (CSV injection) makes the list bad."""
    for column, value in record.items():
        if isinstance(value, str) and _FORMULA.match(value):
            shown = value.strip()[:30]
            problems.add(line, f"kolom {column} berisi rumus spreadsheet ({shown!r}); hapus tanda "
                               f"'{shown[:1]}' di awal sel, rumus tidak boleh ada di daftar")


def check(store, path: Path, filename: str, size: int, by: str,
          watch: ImportProgress | None = None) -> Preview:
    """Check an uploaded file and keep a clean list's rows for ``apply``.  The file is
    deleted when this returns or raises, whatever happened."""
    name = clean_name(filename)
    try:
        problems = file_checks(path)
        if problems:
            return Preview(None, name, size, 0, 0, 0, tuple(problems), len(problems))
        token = secrets.token_urlsafe(24)
        report = stage_upload(store, path, token, source=name, by=by, size=size, watch=watch,
                              check=refuse_formulas)
        if not report.ok:
            return Preview(None, name, size, report.rows, 0, 0, tuple(report.problems[:1000]), report.problem_count)
        return Preview(token, name, size, report.rows, report.inserted, report.updated, (), 0)
    finally:
        path.unlink(missing_ok=True)


def pending(store, token: str) -> dict | None:
    """A checked list waiting to be applied (None when unknown, applied or expired)."""
    if not valid_token(token):
        return None
    return pending_upload(store, token)


def apply(store, token: str, by: str, watch: ImportProgress | None = None) -> Applied | None:
    """Apply a checked list (all or nothing); None when the token is unknown or expired."""
    if not valid_token(token):
        return None
    report = apply_upload(store, token, by=by, max_age_s=KEEP_S, watch=watch)
    if report is None:
        return None
    store.audit(by, "import_recipients", report.source[:100],
                json.dumps({"rows": report.rows, "inserted": report.inserted, "updated": report.updated}))
    return Applied(True, report.source, report.rows, report.inserted, report.updated)


def discard(store, token: str) -> bool:
    return valid_token(token) and discard_upload(store, token)
