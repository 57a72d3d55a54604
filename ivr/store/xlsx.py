"""XLSX recipient lists, read without trusting them.

A workbook is a zip of XML files, and a 1 MB upload can inflate to gigabytes (a zip
bomb).  openpyxl, even in read-only mode, keeps the shared strings and the text of
elements it does not clear in memory, so the file is read in two steps:

1. :func:`inspect` reads only the zip's directory (member count, declared sizes,
   compression ratios) and refuses a bomb in milliseconds, before anything is inflated.
   ``zipfile`` never returns more than a member's declared size (it fails the CRC
   instead), so a directory that lies about sizes only makes the read fail.
2. The first sheet is read in a child process (``python -m ivr.store.xlsx``) whose
   address space is capped (``RLIMIT_AS``), streaming rows with openpyxl's read-only
   mode, only as many columns as the header has, and stopping at ``MAX_ROWS`` /
   ``MAX_CELLS``.  Whatever the file does, the server's own memory does not grow with
   it; a child that runs out of memory is reported as a problem with the file.

Rows come back as JSON lines on the child's stdout, read one at a time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable, Iterator

MAX_MEMBERS = 1000                       # a real workbook has ten or twenty
MAX_MEMBER_BYTES = 512 << 20             # one sheet of a million rows is a few hundred MB of XML
MAX_TOTAL_BYTES = 768 << 20
MAX_RATIO = 200                          # XML sheets deflate 5-50:1; a bomb ~1000:1
RATIO_FROM_BYTES = 1 << 20               # tiny members may compress better; they cannot hurt
MAX_ROWS = 1_048_576                     # Excel's own limit
MAX_COLUMNS = 64
MAX_CELLS = 40_000_000
MAX_CELL_CHARS = 32_767                  # Excel's own limit for one cell
WORKER_MEMORY_BYTES = 1 << 30
WORKER_CPU_S = 1800
MAX_MESSAGE_BYTES = 16 << 20             # one JSON line: 64 cells of 32,767 characters, escaped

_DIGITS = re.compile(r"\d{6,}")


def inspect(path: Path) -> str | None:
    """Why the workbook must not be opened, or None.  Reads the zip directory only."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"not a valid .xlsx workbook ({exc})"
    if len(members) > MAX_MEMBERS:
        return f"the workbook has {len(members):,} parts (a real one has a few dozen); refused"
    total = 0
    for info in members:
        total += info.file_size
        if info.file_size > MAX_MEMBER_BYTES or total > MAX_TOTAL_BYTES:
            return (f"the workbook inflates to more than {MAX_TOTAL_BYTES >> 20} MB when opened "
                    f"({info.filename!r} alone is {info.file_size >> 20} MB); refused as a zip bomb. "
                    "Save the list as CSV UTF-8 or split it")
        if info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            ratio = info.file_size // max(info.compress_size, 1)
            return (f"{info.filename!r} inflates {ratio:,} times ({info.compress_size:,} bytes to "
                    f"{info.file_size:,}): no spreadsheet compresses like that; refused as a zip bomb")
    return None


def records(path: Path, problems, on_bytes: Callable[[int], None] | None = None, *,
            formulas: bool = False) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of the first sheet as ``(line, {column: text})``; problems go to ``problems``.

    ``formulas``: formula cells come back as their ``=...`` text instead of the value
    the spreadsheet last computed (the web upload refuses formulas).
    """
    why = inspect(path)
    if why is not None:
        problems.add(1, why)
        return
    size = path.stat().st_size
    reported = 0
    rows_total = 0
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
               # openpyxl imports numpy when present; one BLAS thread keeps its buffers small
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    limits = {"memory": WORKER_MEMORY_BYTES, "rows": MAX_ROWS, "cells": MAX_CELLS, "columns": MAX_COLUMNS}
    argv = [sys.executable, "-m", "ivr.store.xlsx", str(path), "--limits=" + json.dumps(limits)]
    proc = subprocess.Popen(argv + (["--formulas"] if formulas else []),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    finished = False
    try:
        assert proc.stdout is not None
        while raw := proc.stdout.readline(MAX_MESSAGE_BYTES + 1):
            if len(raw) > MAX_MESSAGE_BYTES or not raw.endswith(b"\n"):
                break
            message = json.loads(raw)
            kind = message[0]
            if kind == "r":
                line, record = message[1], message[2]
                if on_bytes and rows_total:
                    share = min(size, size * line // rows_total)
                    if share > reported:
                        on_bytes(share - reported)
                        reported = share
                yield line, record
            elif kind == "p":
                problems.add(message[1], message[2])
            elif kind == "n":
                rows_total = message[1] or 0
            elif kind == "d":
                finished = True
    finally:
        if proc.poll() is None:
            proc.kill()
        code = proc.wait()
        proc.stdout.close()
    if on_bytes and size > reported:
        on_bytes(size - reported)
    if not finished:
        if code == 3:
            problems.add(0, f"the workbook needs more than {WORKER_MEMORY_BYTES >> 20} MB of memory to read; "
                            "refused. Save the list as CSV UTF-8")
        else:
            problems.add(0, f"the workbook could not be read to the end (reader status {code}); "
                            "save the list as CSV UTF-8")


# --- the child process ----------------------------------------------------------------------

def _limit_resources(memory: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (WORKER_CPU_S, WORKER_CPU_S))


def _child(path: str, formulas: bool) -> int:
    from ivr.store.rows import _cell_text, _header_ok, Problems

    out = sys.stdout.buffer

    def emit(*message) -> None:
        out.write(json.dumps(message, ensure_ascii=False).encode() + b"\n")

    class Emitting(Problems):
        def add(self, line: int, message: str) -> None:
            super().add(line, message)
            emit("p", line, message)

    problems = Emitting()
    try:
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=not formulas)
        except MemoryError:
            raise
        except Exception as exc:    # openpyxl raises many types for a broken workbook
            problems.add(1, f"cannot read the workbook: {_DIGITS.sub('...', str(exc))[:200]}")
            emit("d")
            return 0
        try:
            _sheet(book.worksheets[0], problems, emit, _cell_text, _header_ok)
        finally:
            book.close()
    except MemoryError:
        out.flush()
        return 3
    except Exception as exc:        # a broken part of the sheet, met half-way
        problems.add(0, f"cannot read the workbook: {_DIGITS.sub('...', str(exc))[:200]}")
    emit("d")
    out.flush()
    return 0


def _sheet(sheet, problems, emit, cell_text, header_ok) -> None:
    declared = sheet.max_row
    if declared is not None and declared > MAX_ROWS:
        problems.add(1, f"the sheet declares {declared:,} rows; at most {MAX_ROWS:,} are read")
        return
    emit("n", declared)
    header = next(sheet.iter_rows(min_row=1, max_row=1, values_only=True), None)
    if header is None:
        problems.add(1, "the first sheet is empty")
        return
    columns = [str(h or "").strip().lower()[:100] for h in header]
    while columns and not columns[-1]:
        columns.pop()
    if len(columns) > MAX_COLUMNS:
        problems.add(1, f"the header has {len(columns)} columns; a recipient list has at most {MAX_COLUMNS}")
        return
    if not header_ok(columns, problems):
        return
    width = len(columns)
    cells = 0
    for line, values in enumerate(sheet.iter_rows(min_row=2, max_col=width, values_only=True), start=2):
        cells += width
        if line > MAX_ROWS or cells > MAX_CELLS:
            problems.add(line, f"the sheet has more than {min(MAX_ROWS, MAX_CELLS // width):,} rows; "
                               "the rest was not read")
            return
        if all(v is None or str(v).strip() == "" for v in values):
            continue
        record = {}
        for col, value in zip(columns, values):
            if col == "nik" and isinstance(value, (int, float)):
                problems.add(line, "NIK is stored as a number; spreadsheets keep only 15 digits "
                                   "(the last becomes 0): format the NIK column as Text and type it again")
            text = cell_text(value)
            if len(text) > MAX_CELL_CHARS:
                problems.add(line, f"{col or 'a column'} is longer than {MAX_CELL_CHARS} characters")
                text = text[:MAX_CELL_CHARS]
            record[col] = text
        for col in columns[len(values):]:
            record[col] = ""
        emit("r", line, record)


def main(argv: list[str]) -> int:
    global MAX_ROWS, MAX_CELLS, MAX_COLUMNS
    limits = {}
    for arg in argv[1:]:
        if arg.startswith("--limits="):
            limits = json.loads(arg.split("=", 1)[1])
    # the parent's limits (tests lower them); the defaults otherwise
    MAX_ROWS = int(limits.get("rows", MAX_ROWS))
    MAX_CELLS = int(limits.get("cells", MAX_CELLS))
    MAX_COLUMNS = int(limits.get("columns", MAX_COLUMNS))
    _limit_resources(int(limits.get("memory", WORKER_MEMORY_BYTES)))
    return _child(argv[0], "--formulas" in argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
