"""Recipient lists through the page and the API: preview before apply, all or nothing,
and hostile files (wrong encoding, formulas, numbers mangled by spreadsheets, too big)
get a clear report and change nothing.  NIK search shows what a caller would hear."""

from __future__ import annotations

import io

import openpyxl
import pytest

from ivr.store.recipients import DEMO_NIKS

from .conftest import NIK

HEADER = "nik,name,status,collection_date,collection_time,place,address,phone\n"
GOOD = (HEADER
        + "3171012304900021,Ani Wijaya,scheduled,2026-12-02,08:00-12:00,Kantor Kelurahan Tebet,Jl. Tebet Raya 1,081200000021\n"
        + "3171012304900022,Bayu Saputra,in_review,,,,,\n"
        + f"{NIK},DEMO Siti Rahmawati,collected,2026-11-20,08:00-12:00,Kantor Kelurahan Cawang,Jl. Dewi Sartika 12,\n")


def _upload(client, content: bytes, name: str = "daftar.csv"):
    return client.post("/api/recipients/uploads", files={"file": (name, content, "text/csv")})


def _uploads_left(env) -> list:
    return [p for p in env.app.state.web.uploads_dir.glob("*") if p.is_file()]


def test_preview_then_apply(admin, env):
    before = env.store.recipient_count()
    r = _upload(admin, GOOD.encode())
    body = r.json()
    assert r.status_code == 200 and body["ok"] and body["problems"] == []
    assert (body["rows"], body["inserted"], body["updated"]) == (3, 2, 1)
    assert env.store.recipient_count() == before                        # preview changes nothing
    assert env.store.lookup(NIK).status == "scheduled"
    token = body["token"]
    done = admin.post(f"/api/recipients/uploads/{token}/apply").json()
    assert done["ok"] and (done["inserted"], done["updated"]) == (2, 1)
    assert env.store.recipient_count() == before + 2
    assert env.store.lookup(NIK).status == "collected"
    assert env.store.lookup("3171012304900021").place == "Kantor Kelurahan Tebet"
    assert _uploads_left(env) == []                                    # the kept file is gone
    assert admin.post(f"/api/recipients/uploads/{token}/apply").status_code == 404
    assert any(e["action"] == "import_recipients" for e in admin.get("/api/audit").json())


def test_page_flow(admin, env):
    token = admin.headers["X-CSRF-Token"]
    r = admin.post("/recipients/upload", data={"csrf_token": token},
                   files={"file": ("daftar.csv", GOOD.encode(), "text/csv")})
    assert r.status_code == 200 and "Semua 3 baris sah" in r.text and "Terapkan daftar ini" in r.text
    upload_token = r.text.split('name="token" value="')[1].split('"')[0]
    r = admin.post("/recipients/apply", data={"csrf_token": token, "token": upload_token})
    assert r.status_code == 200 and "Daftar diterapkan" in r.text and "2 baru, 1 diperbarui" in r.text
    r = admin.post("/recipients/apply", data={"csrf_token": token, "token": upload_token})
    assert r.status_code == 404 and "kedaluwarsa" in r.text


HOSTILE = {
    "formula injection": (HEADER + '3171012304900021,"=HYPERLINK(""http://evil.example"",""klik"")",in_review,,,,,\n'
                          + "3171012304900022,@SUM(A1),in_review,,,,,\n", [(2, "rumus"), (3, "rumus")]),
    "scientific notation": (HEADER + "3.17101E+15,Ani,in_review,,,,,\n", [(2, "scientific notation")]),
    "short NIK": (HEADER + "317101230490002,Ani,in_review,,,,,\n", [(2, "15 digits")]),
    "bad status and date": (HEADER + "3171012304900021,Ani,maybe,2026-13-40,08:00-12:00,X,Y,\n",
                            [(2, "status"), (2, "collection_date")]),
    "missing columns": ("nik,name\n3171012304900021,Ani\n", [(1, "missing column")]),
    "duplicate NIK": (HEADER + "3171012304900021,Ani,in_review,,,,,\n3171012304900021,Ani,in_review,,,,,\n",
                      [(3, "more than once")]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_bad_lists_are_reported_and_change_nothing(admin, env, case):
    text, expected = HOSTILE[case]
    before = env.store.recipient_count()
    body = _upload(admin, text.encode()).json()
    assert not body["ok"] and body["token"] is None and body["problem_count"] >= len(expected)
    for line, words in expected:
        assert any(p["line"] == line and words in p["reason"] for p in body["problems"]), (words, body["problems"])
    assert env.store.recipient_count() == before and _uploads_left(env) == []


def test_wrong_encodings(admin, env):
    latin1 = (HEADER + "3171012304900021,José Núñez,in_review,,,,,\n").encode("latin-1")
    body = _upload(admin, latin1).json()
    assert not body["ok"] and any(p["line"] == 2 and "UTF-8" in p["reason"] for p in body["problems"])
    utf16 = GOOD.encode("utf-16")
    body = _upload(admin, utf16).json()
    assert not body["ok"] and "bukan teks CSV" in body["problems"][0]["reason"]
    body = _upload(admin, b"MZ\x90\x00binary", name="daftar.exe").json()
    assert not body["ok"] and "tidak didukung" in body["problems"][0]["reason"]
    body = _upload(admin, b"not a zip", name="daftar.xlsx").json()
    assert not body["ok"] and ".xlsx" in body["problems"][0]["reason"]
    assert _uploads_left(env) == []


def test_page_shows_the_report_with_line_numbers(admin, env):
    text, _ = HOSTILE["formula injection"]
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", text.encode(), "text/csv")})
    assert r.status_code == 422
    assert "Tidak ada yang diubah" in r.text and "<td>2</td>" in r.text and "rumus spreadsheet" in r.text
    assert "Terapkan daftar ini" not in r.text
    assert "<td>=HYPERLINK" not in r.text          # shown as text, escaped, never as a live cell


def test_oversized_uploads(admin, env):
    env.app.state.web.max_upload_bytes = 4000
    before = env.store.recipient_count()
    big = (HEADER + "3171012304900021,Ani,in_review,,,,,\n" * 200).encode()     # ~8 KB: past the limit
    body = _upload(admin, big).json()
    assert not body["ok"] and body["token"] is None
    assert "lebih dari" in body["problems"][0]["reason"] and "tidak ada yang diubah" in body["problems"][0]["reason"]
    huge = b"x" * (200 * 1024)                                                     # refused before parsing
    r = _upload(admin, huge)
    assert r.status_code == 413 and "terlalu besar" in r.json()["detail"]
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", huge, "text/csv")})
    assert r.status_code == 413 and "Tidak ada yang diubah" in r.text
    assert env.store.recipient_count() == before and _uploads_left(env) == []


def _xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def test_xlsx_uploads(admin, env):
    header = HEADER.strip().split(",")
    good = _xlsx([header, ["3171012304900021", "Ani", "in_review", None, None, None, None, None]])
    body = _upload(admin, good, name="daftar.xlsx").json()
    assert body["ok"] and body["inserted"] == 1, body
    mangled = _xlsx([header, [3171012304900021, "Ani", "in_review", None, None, None, None, None],
                     ["3171012304900022", '=HYPERLINK("http://evil.example","x")', "in_review"]])
    body = _upload(admin, mangled, name="daftar.xlsx").json()
    assert not body["ok"]
    assert any(p["line"] == 2 and "Text" in p["reason"] for p in body["problems"]), body["problems"]
    assert any(p["line"] == 3 and "rumus" in p["reason"] for p in body["problems"]), body["problems"]


def test_apply_tokens_cannot_name_other_files(admin, env):
    for token in ("..", "../hotline", "..%2Fhotline", "A" * 10, "A" * 32):
        r = admin.post(f"/api/recipients/uploads/{token}/apply")
        assert r.status_code == 404, token


def test_search_shows_what_a_caller_hears(admin, env):
    body = admin.post("/api/recipients/search", json={"nik": NIK}).json()
    assert body["found"] and body["status"] == "scheduled" and body["nik"] == "3172********0001"
    heard = body["heard"]
    assert heard[0] == {"id": "status/scheduled", "text": env.app.state.web.catalog().text("status/scheduled")}
    assert {"id": None, "text": "Kantor Kelurahan Cawang"} in heard       # a spoken place name
    assert heard[-1]["id"] == "status/free"
    missing = admin.post("/api/recipients/search", json={"nik": DEMO_NIKS["not_registered"]}).json()
    assert not missing["found"] and [h["id"] for h in missing["heard"]] == ["status/not_found"]
    assert admin.post("/api/recipients/search", json={"nik": "12345"}).status_code == 422
    actions = [e["action"] for e in admin.get("/api/audit").json()]
    assert actions.count("find_recipient") == 2
    page = admin.post("/recipients/search", data={"csrf_token": admin.headers["X-CSRF-Token"], "nik": NIK})
    assert "Yang didengar penelepon" in page.text and "DEMO Siti Rahmawati" in page.text
    assert NIK not in page.text


def test_a_streamed_body_without_length_is_cut_off(admin, env):
    env.app.state.web.max_upload_bytes = 4000

    def chunks():
        yield (b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="daftar.csv"\r\n'
               b"Content-Type: text/csv\r\n\r\n")
        for _ in range(20):
            yield b"x" * 8192

    r = admin.post("/api/recipients/uploads", content=chunks(),
                   headers={"content-type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 413 and "terlalu besar" in r.json()["detail"]
    assert _uploads_left(env) == []


def test_the_page_reports_problems_in_indonesian(admin):
    text = (HEADER + "3.17101E+15,Ani,in_review,,,,,\n317101230490002,Budi,maybe,,,,,\n"
            + "3171012304900021,,scheduled,2026-12-02,12:00-08:00,,,\n")
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", text.encode(), "text/csv")})
    assert "diubah spreadsheet menjadi notasi ilmiah" in r.text
    assert "NIK berisi 15 angka, seharusnya 16" in r.text
    assert "status &#39;maybe&#39; tidak dikenal" in r.text
    assert "nama kosong" in r.text and "berakhir sebelum dimulai" in r.text
    assert "wajib punya place" in r.text


def test_every_store_message_pattern_has_an_indonesian_form():
    from ivr.web.problems import indonesian

    samples = ["NIK has 15 digits, expected 16", "name is empty", "NIK 3172********0001 appears more than once in the file",
               "collection_date '2026-13-40' is not a date YYYY-MM-DD", "phone must be 8 to 15 digits (optionally starting with +)",
               "missing column(s) status, place; the header must have ...", "address is longer than 400 characters"]
    for s in samples:
        assert indonesian(s) != s, s
    assert indonesian("something new") == "something new"
