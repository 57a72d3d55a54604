"""Recipient import: every row checked, line numbers right, all or nothing, upsert."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest
from sqlalchemy import select

from ivr.errors import ImportRejected
from ivr.store.models import Recipient, RecipientImport
from ivr.store.recipients import import_csv, validate_csv

HEADER = "nik,name,status,collection_date,collection_time,place,address,phone,phase,documents\n"
GOOD = (
    HEADER
    + "3172014508850001,Siti Aminah,scheduled,2026-12-01,08:00-12:00,Kantor Kelurahan Cawang,Jl. Dewi Sartika 12,081234567890,tahap 2,\n"
    + "3171021203790002,Budi,not_scheduled,,,,,,,\n"
    + '3173035506900003,"Sri, W.",collected,2026-11-20,,Kantor Pos,"Jl. Garuda 40\nRT 01",,,surat undangan;KTP asli\n'
    + "3174040102680004,Andi,in_review,,,,,,,\n"
)


def _snapshot(store):
    with store.engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(
            select(Recipient.nik_hash, Recipient.name, Recipient.status, Recipient.collection_date)))


def test_good_import(store, write_csv):
    report = import_csv(store, write_csv(GOOD), progress=False)
    assert (report.rows, report.inserted, report.updated, report.applied) == (4, 4, 0, True)
    info = store.lookup("3172014508850001")
    assert (info.status, info.collection_date, info.time_start, info.time_end, info.phase) == (
        "scheduled", dt.date(2026, 12, 1), dt.time(8), dt.time(12), "tahap 2")
    assert info.documents[0] == "surat undangan" and len(info.documents) == 3     # the default list
    sri = store.lookup("3173035506900003")
    assert sri.name == "Sri, W." and sri.address == "Jl. Garuda 40\nRT 01"
    assert sri.documents == ("surat undangan", "KTP asli") and sri.collected_on == dt.date(2026, 11, 20)
    with store.engine.connect() as conn:
        rec = conn.execute(select(RecipientImport)).one()
    assert (rec.rows, rec.inserted, rec.updated) == (4, 4, 0)


def test_upsert_updates_existing(store, write_csv):
    import_csv(store, write_csv(GOOD), progress=False)
    changed = HEADER + "3171021203790002,Budi Santoso,scheduled,2026-12-03,13:00-15:00,Kantor Pos,Jl. A,,,\n" \
                     + "3175056711950005,Wulan,rejected,,,,,,,\n"
    report = import_csv(store, write_csv(changed, name="b.csv"), progress=False)
    assert (report.inserted, report.updated) == (1, 1)
    budi = store.lookup("3171021203790002")
    assert (budi.name, budi.status, budi.collection_date) == ("Budi Santoso", "scheduled", dt.date(2026, 12, 3))
    assert store.recipient_count() == 5


def test_rejection_reports_every_bad_row_and_changes_nothing(store, write_csv):
    import_csv(store, write_csv(GOOD), progress=False)
    before = _snapshot(store)
    bad = (
        HEADER
        + "3171021203790002,Budi changed,collected,2026-11-01,,,,,,\n"      # line 2: fine on its own
        + "3.17201E+15,Excel,scheduled,2026-12-01,08:00-12:00,K,A,,,\n"      # line 3
        + "317201450885,Short,in_review,,,,,,,\n"                            # line 4
        + "3172011308850002,Month,scheduled,2026-12-01,08:00-12:00,K,A,,,\n"  # line 5 (fine)
        + "3172011399850002,Month,in_review,,,,,,,\n"                        # line 6: month 99
        + "3171021203790002,Again,in_review,,,,,,,\n"                        # line 7: duplicate of line 2
        + "3172014508850009,Nobody,maybe,,,,,,,\n"                           # line 8: status
        + "3172014508850010,Date,scheduled,01/12/2026,08:00-12:00,K,A,,,\n"  # line 9: date format
        + "3172014508850011,Time,scheduled,2026-12-01,12:00-08:00,K,A,,,\n"  # line 10: reversed
        + "3172014508850012,NoSched,scheduled,,,K,A,,,\n"                    # line 11: no schedule
        + "3172014508850013,Phone,in_review,,,,,12ab,,\n"                    # line 12: phone
        + "3172014508850014,,in_review,,,,,,,\n"                             # line 13: name
        + "3172014508850015,Fields,in_review\n"                              # line 14: field count
    )
    with pytest.raises(ImportRejected) as rej:
        import_csv(store, write_csv(bad, name="bad.csv"), progress=False)
    lines = [line for line, _ in rej.value.problems]
    assert lines == [3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14]
    text = dict(rej.value.problems)
    assert "scientific notation" in text[3] and "12 digits" in text[4] and "month 99" in text[6]
    assert "more than once" in text[7] and "'maybe'" in text[8] and "YYYY-MM-DD" in text[9]
    assert "ends before" in text[10] and "needs both" in text[11] and "phone" in text[12]
    assert "name is empty" in text[13] and "3 fields" in text[14]
    assert _snapshot(store) == before
    with store.engine.connect() as conn:
        assert conn.execute(select(RecipientImport)).all().__len__() == 1


def test_validate_only_counts(store, write_csv):
    import_csv(store, write_csv(GOOD), progress=False)
    more = GOOD + "3175056711950005,Wulan,rejected,,,,,,,\n"
    report = validate_csv(store, write_csv(more, name="more.csv"))
    assert (report.ok, report.applied, report.rows, report.inserted, report.updated) == (True, False, 5, 1, 4)
    assert store.recipient_count() == 4
    bad = validate_csv(store, write_csv(HEADER + "123,x,in_review,,,,,,,\n", name="bad.csv"))
    assert not bad.ok and bad.problems[0][0] == 2 and not bad.applied


def test_rejected_report_counts_every_good_row(store, write_csv):
    text = HEADER + "x,Bad,in_review,,,,,,,\n" + "".join(
        f"31720145088500{i:02d},P{i},in_review,,,,,,,\n" for i in range(1, 11))
    report = validate_csv(store, write_csv(text))
    assert (report.rows, report.problem_count, report.inserted) == (10, 1, 0)


def test_ensure_demo_only_fills_an_empty_store(store, write_csv):
    from ivr.store.recipients import ensure_demo

    assert ensure_demo(store, dt.date(2026, 11, 28)) and store.recipient_count() == 20
    assert not ensure_demo(store, dt.date(2026, 11, 28))
    assert store.delete_demo_recipients() == 20 and store.recipient_count() == 0


def test_bom_and_semicolons_tolerated(store, write_csv):
    text = GOOD.replace(",", ";").replace("surat undangan;KTP asli", '"surat undangan;KTP asli"')
    text = text.replace('"Sri; W."', '"Sri, W."')
    report = import_csv(store, write_csv(text, bom=True), progress=True)
    assert report.rows == 4
    assert store.lookup("3173035506900003").documents == ("surat undangan", "KTP asli")


def test_wrong_encoding_reported_with_line(store, write_csv):
    text = HEADER + "3172014508850001,Siti,in_review,,,,,,,\n3171021203790002,Bud\u00ed,in_review,,,,,,,\n"
    with pytest.raises(ImportRejected) as rej:
        import_csv(store, write_csv(text, encoding="latin-1"), progress=False)
    [(line, message)] = rej.value.problems
    assert line == 3 and "UTF-8" in message
    assert store.recipient_count() == 0


def test_missing_columns_and_empty_file(store, write_csv):
    with pytest.raises(ImportRejected) as rej:
        import_csv(store, write_csv("nik,name\n3172014508850001,Siti\n"), progress=False)
    assert rej.value.problems[0][0] == 1 and "status" in rej.value.problems[0][1]
    with pytest.raises(ImportRejected):
        import_csv(store, write_csv("", name="empty.csv"), progress=False)
    with pytest.raises(ImportRejected) as rej:
        import_csv(store, write_csv(HEADER, name="header-only.csv"), progress=False)
    assert "no rows" in rej.value.problems[0][1]


def test_xlsx(store, tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER.strip().split(","))
    sheet.append(["3172014508850001", "Siti", "scheduled", dt.datetime(2026, 12, 1), "08:00-12:00", "K", "A",
                  None, None, None])
    sheet.append([3171021203790002, "Budi", "in_review"])       # NIK typed as a number
    path = tmp_path / "list.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as rej:
        import_csv(store, path, progress=False)
    assert [line for line, _ in rej.value.problems] == [3] and "Text" in rej.value.problems[0][1]
    sheet.delete_rows(3)
    book.save(path)
    assert import_csv(store, path, progress=False).rows == 1
    assert store.lookup("3172014508850001").collection_date == dt.date(2026, 12, 1)
