"""Hostile recipient lists against the store, on SQLite and PostgreSQL (COPY): every file
the csv module or the workbook reader cannot take gets a line-numbered problem, never an
exception, and nothing is stored; XLSX zip bombs are refused before anything inflates."""

from __future__ import annotations

import zipfile

import pytest

from ivr.errors import ImportRejected
from ivr.store import xlsx
from ivr.store.recipients import import_csv, validate_csv
from ivr.store.rows import MAX_LINE_BYTES, Problems

from tests.hostile_files import HEADER, book_bytes as _book, inflating_xlsx

ROWS = "".join(f"31710123049{i:05d},Ani {i},in_review,,,,,\n" for i in range(1, 300))   # lines 2..300, ~10 KB

# name -> (text, line the problem is reported on, words in the problem)
MALFORMED = {
    "quoted field over 131,072 characters":
        (HEADER + ROWS + '3171012304900401,"' + "a" * 140_000 + '",in_review,,,,,\n', 301, "131,072 characters"),
    "quoted field spread over many lines":
        (HEADER + ROWS + '3171012304900401,"' + "abc\n" * 40_000 + '",in_review,,,,,\n', 301, "runs on to line"),
    "unclosed quote in the middle":
        (HEADER + '3171012304900401,"Ani,in_review,,,,,\n' + ROWS, 2, "never closed"),
    "unclosed quote on the last line":
        (HEADER + ROWS + '3171012304900401,"Ani,in_review,,,,,\n', 301, "never closed"),
    "NUL byte after the first 4 KB":
        (HEADER + ROWS + "3171012304900401,A\x00ni,in_review,,,,,\n", 301, "control character (0x00)"),
    "NUL byte inside quotes":
        (HEADER + ROWS + '3171012304900401,"A\x00ni",in_review,,,,,\n', 301, "control character (0x00)"),
    "other control character":
        (HEADER + ROWS + "3171012304900401,Ani,in_review,,,K\x1bX,,\n", 301, "control character (0x1B)"),
    "text after a closing quote":
        (HEADER + ROWS + '3171012304900401,"Ani" W,in_review,,,,,\n', 301, "closing quote"),
    "old Mac line endings":
        (HEADER + ROWS + "3171012304900401,Ani,in_review,,,,,\r3171012304900402,Bob,in_review,,,,,\r", 301,
         "line break inside a value"),
    "one line over a megabyte":
        (HEADER + ROWS + "3171012304900401," + "x" * (MAX_LINE_BYTES + 10) + "\n", 301, "longer than"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_csv_is_reported_by_line_and_stores_nothing(store, write_csv, case):
    text, line, words = MALFORMED[case]
    path = write_csv(text)
    before = store.recipient_count()
    report = validate_csv(store, path)
    assert not report.ok
    assert any(at == line and words in why for at, why in report.problems), report.problems[:3]
    with pytest.raises(ImportRejected) as rejected:
        import_csv(store, path, progress=False)
    assert any(at == line and words in why for at, why in rejected.value.problems)
    assert store.recipient_count() == before


def test_good_rows_before_a_fault_are_not_applied(store, write_csv):
    path = write_csv(HEADER + ROWS + '3171012304900401,"Ani,in_review,,,,,\n')
    with pytest.raises(ImportRejected):
        import_csv(store, path, progress=False)
    assert store.lookup("3171012304900001") is None


def test_the_reader_stays_within_its_limits(tmp_path):
    # a quote never closed in a 3 MB file: the csv module stops at its field limit
    path = tmp_path / "big.csv"
    path.write_text(HEADER + '3171012304900401,"' + ("y" * 99 + "\n") * 30_000)
    problems = Problems()
    from ivr.store.rows import csv_records

    assert list(csv_records(path, problems)) == []
    assert problems.count == 1 and problems.items[0][0] == 2


# --- workbooks --------------------------------------------------------------------------------

def test_a_zip_bomb_is_refused_from_its_directory(store, tmp_path):
    path = inflating_xlsx(tmp_path / "bomb.xlsx", 64)
    assert path.stat().st_size < 200_000
    report = validate_csv(store, path)
    assert not report.ok and report.rows == 0
    assert "zip bomb" in report.problems[0][1] and report.problems[0][0] == 1


def test_declared_sizes_are_capped(tmp_path, monkeypatch):
    path = inflating_xlsx(tmp_path / "big.xlsx", 8, noise=True)
    assert xlsx.inspect(path) is None
    monkeypatch.setattr(xlsx, "MAX_TOTAL_BYTES", 4 << 20)
    assert "inflates to more than 4 MB" in xlsx.inspect(path)


def test_a_lying_directory_only_makes_the_read_fail(store, tmp_path):
    path = inflating_xlsx(tmp_path / "liar.xlsx", 32)
    data = bytearray(path.read_bytes())
    # the sheet's central directory entry (46 fixed bytes, then its name) now claims 1 MB
    header = data.rfind(b"xl/worksheets/sheet1.xml") - 46
    assert data[header:header + 4] == b"PK\x01\x02"
    data[header + 24:header + 28] = (1 << 20).to_bytes(4, "little")
    liar = tmp_path / "liar2.xlsx"
    liar.write_bytes(bytes(data))
    info = zipfile.ZipFile(liar).getinfo("xl/worksheets/sheet1.xml")
    assert info.file_size == 1 << 20 and xlsx.inspect(liar) is None     # the directory now looks harmless
    report = validate_csv(store, liar)
    assert not report.ok and any("cannot read the workbook" in why for _, why in report.problems)


def test_the_workbook_reader_has_a_memory_ceiling(store, tmp_path, monkeypatch):
    # passes the directory checks, then needs more memory than the reader may have
    path = inflating_xlsx(tmp_path / "heavy.xlsx", 300, noise=True)
    assert xlsx.inspect(path) is None
    monkeypatch.setattr(xlsx, "WORKER_MEMORY_BYTES", 200 << 20)
    report = validate_csv(store, path)
    assert not report.ok
    assert any("more than 200 MB of memory" in why for _, why in report.problems), report.problems


def test_workbook_row_and_column_caps(store, tmp_path, monkeypatch):
    rows = [HEADER.strip().split(",")] + [[f"31710123049{i:05d}", "Ani", "in_review"] for i in range(1, 50)]
    path = tmp_path / "list.xlsx"
    path.write_bytes(_book(rows))
    assert validate_csv(store, path).rows == 49
    monkeypatch.setattr(xlsx, "MAX_ROWS", 20)
    report = validate_csv(store, path)
    assert not report.ok and "declares 50 rows" in report.problems[0][1]
    monkeypatch.setattr(xlsx, "MAX_ROWS", 1_000)
    monkeypatch.setattr(xlsx, "MAX_CELLS", 8 * 10)        # counted while reading: 10 rows of 8 columns
    report = validate_csv(store, path)
    assert not report.ok and (12, "the sheet has more than 10 rows; the rest was not read") in report.problems
    wide = tmp_path / "wide.xlsx"
    wide.write_bytes(_book([HEADER.strip().split(",") + [f"x{i}" for i in range(70)]]))
    report = validate_csv(store, wide)
    assert "header has 78 columns" in report.problems[0][1]
