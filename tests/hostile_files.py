"""Hostile files for the upload tests: workbooks that inflate when opened."""

from __future__ import annotations

import io
import random
import zipfile

import openpyxl

HEADER = "nik,name,status,collection_date,collection_time,place,address,phone\n"


def book_bytes(rows) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def inflating_xlsx(path, mib: int, *, noise: bool = False):
    """A valid workbook whose sheet carries ``mib`` MiB of filler after its rows: plain
    whitespace (a ~1000:1 zip bomb) or, with ``noise``, text that deflates only ~150:1."""
    source = zipfile.ZipFile(io.BytesIO(book_bytes([HEADER.strip().split(","),
                                               ["3171012304900021", "Ani", "in_review"]])))
    rng = random.Random(3)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1 if noise else 9) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != "xl/worksheets/sheet1.xml":
                out.writestr(info, data)
                continue
            head, tail = data.split(b"</sheetData>")
            with out.open(info.filename, "w", force_zip64=True) as w:
                w.write(head)
                for _ in range(mib):
                    block = rng.randbytes(3000).hex().encode() if noise else b""
                    w.write(block + b" " * ((1 << 20) - len(block)))
                w.write(b"</sheetData>" + tail)
    return path
