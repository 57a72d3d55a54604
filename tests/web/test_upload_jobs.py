"""Uploads through the web app on SQLite and PostgreSQL: malformed files and zip bombs get
a line-numbered report (never a 500), the uploaded file is 0600 in a 0700 folder while it
is checked and gone afterwards whatever happened, and lists run as import jobs (one at a
time, progress on the page, the result kept)."""

from __future__ import annotations

import asyncio
import stat
import threading

import pytest

from ivr.store.db import create_schema, make_engine
from ivr.store.recipients import load_demo
from ivr.store.sql import SqlStore
from ivr.web import uploads
from ivr.web.app import create_app

from tests.hostile_files import inflating_xlsx
from .conftest import ADMIN_PW, NOW, Env, FakeClock, FakeRenderer, TestClient, fake_preview, sign_in

HEADER = "nik,name,status,collection_date,collection_time,place,address,phone\n"
ROWS = "".join(f"31710123049{i:05d},Ani {i},in_review,,,,,\n" for i in range(1, 300))
GOOD = HEADER + ROWS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def web(request, settings, monkeypatch) -> Env:
    monkeypatch.setenv("IVR_ADMIN_PASSWORD", ADMIN_PW)
    if request.param == "sqlite":
        store = SqlStore.from_settings(settings)
    else:
        engine = make_engine(request.getfixturevalue("pg_database_url"))
        create_schema(engine)
        store = SqlStore(engine, settings.secret())
    load_demo(store, NOW.date())
    clock, renderer = FakeClock(), FakeRenderer()
    app = create_app(settings, store=store, clock=clock, now=lambda: NOW, renderer=renderer,
                     previewer=fake_preview)
    yield Env(settings, store, app, clock, renderer)
    assert app.state.web.jobs.wait_idle(60)
    store.engine.dispose()


@pytest.fixture
def admin(web):
    with TestClient(web.app) as c:
        c.headers["X-CSRF-Token"] = sign_in(c, "admin", ADMIN_PW)
        yield c


def _left(web) -> list:
    folder = web.app.state.web.uploads_dir
    return sorted(folder.iterdir()) if folder.exists() else []


def _upload(client, content: bytes, name: str = "daftar.csv"):
    return client.post("/api/recipients/uploads", files={"file": (name, content, "text/csv")})


MALFORMED = {
    "quoted field over 131,072 characters":
        ((HEADER + ROWS + '3171012304900401,"' + "a" * 140_000 + '",in_review,,,,,\n').encode(), 301, "131,072"),
    "unclosed quote": ((HEADER + '3171012304900401,"Ani,in_review,,,,,\n' + ROWS).encode(), 2, "never closed"),
    "NUL after the first 4 KB": ((HEADER + ROWS + "3171012304900401,A\x00ni,in_review,,,,,\n").encode(), 301,
                                 "control character (0x00)"),
    "text after a closing quote": ((HEADER + ROWS + '3171012304900401,"Ani" W,in_review,,,,,\n').encode(), 301,
                                   "closing quote"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_csv_gets_a_report_never_a_500(admin, web, case):
    content, line, words = MALFORMED[case]
    before = web.store.recipient_count()
    r = _upload(admin, content)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["ok"] and body["token"] is None
    assert any(p["line"] == line and words in p["reason"] for p in body["problems"]), body["problems"]
    assert web.store.recipient_count() == before and _left(web) == []


def test_the_page_reports_a_malformed_file_in_indonesian(admin, web):
    content, _, _ = MALFORMED["unclosed quote"]
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", content, "text/csv")})
    assert r.status_code == 422 and "<td>2</td>" in r.text and "tidak pernah ditutup" in r.text
    assert "Terapkan daftar ini" not in r.text and _left(web) == []


def test_a_zip_bomb_is_refused_quickly(admin, web, tmp_path):
    bomb = inflating_xlsx(tmp_path / "bomb.xlsx", 64).read_bytes()
    before = web.store.recipient_count()
    body = _upload(admin, bomb, name="daftar.xlsx").json()
    assert not body["ok"] and "zip bomb" in body["problems"][0]["reason"]
    assert web.store.recipient_count() == before and _left(web) == []
    page = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                      files={"file": ("daftar.xlsx", bomb, "application/octet-stream")})
    assert page.status_code == 422 and "bom zip" in page.text


class Gate:
    """Holds an import job inside the store call it wraps until the test opens it, and
    looks at the upload folder meanwhile."""

    def __init__(self, real):
        self.real = real
        self.entered = threading.Event()
        self.open = threading.Event()
        self.seen: list[tuple[str, int]] = []

    def __call__(self, store, *args, **kwargs):
        path = args[0] if args and hasattr(args[0], "stat") else None
        if path is not None:
            self.seen = [(p.name, stat.S_IMODE(p.stat().st_mode)) for p in path.parent.iterdir()]
            self.seen.append(("<folder>", stat.S_IMODE(path.parent.stat().st_mode)))
        self.entered.set()
        assert self.open.wait(30)
        return self.real(store, *args, **kwargs)


def _wait(admin, job_id: str) -> dict:
    for _ in range(600):
        body = admin.get(f"/api/recipients/jobs/{job_id}").json()
        if body["state"] != "running":
            return body
        threading.Event().wait(0.05)
    raise AssertionError("the job never finished")


def test_a_large_list_is_checked_and_applied_in_the_background(admin, web, monkeypatch):
    context = web.app.state.web
    context.inline_check_bytes = 0          # every list counts as large: the job path
    context.inline_apply_rows = 0
    check_gate = Gate(uploads.stage_upload)
    monkeypatch.setattr(uploads, "stage_upload", check_gate)
    before = web.store.recipient_count()

    r = _upload(admin, GOOD.encode())
    assert r.status_code == 202, r.text                    # the request returns at once
    job = r.json()
    assert job["kind"] == "check" and job["state"] == "running" and job["filename"] == "daftar.csv"
    assert check_gate.entered.wait(30)
    # while it runs: the file is owner-only in an owner-only folder
    assert check_gate.seen and all(mode == 0o600 for name, mode in check_gate.seen if name != "<folder>")
    assert ("<folder>", 0o700) in check_gate.seen
    assert admin.get("/api/recipients/jobs/latest").json()["id"] == job["id"]
    page = admin.get("/recipients")
    assert f'data-job-url="/api/recipients/jobs/{job["id"]}"' in page.text and "<progress" in page.text
    assert "/static/import-job.js" in page.text and admin.get("/static/import-job.js").status_code == 200
    # one job at a time: a second list is refused and its file removed at once
    second = _upload(admin, GOOD.encode())
    assert second.status_code == 409 and "sedang berjalan" in second.json()["detail"]
    assert len(_left(web)) == 1

    check_gate.open.set()
    done = _wait(admin, job["id"])
    assert done["state"] == "done" and done["percent"] == 100 and done["rows_read"] == 299
    preview = done["preview"]
    assert preview["ok"] and (preview["rows"], preview["inserted"]) == (299, 299) and preview["token"]
    assert _left(web) == [] and web.store.recipient_count() == before       # checked, nothing applied

    apply_gate = Gate(uploads.apply_upload)
    monkeypatch.setattr(uploads, "apply_upload", apply_gate)
    r = admin.post(f"/api/recipients/uploads/{preview['token']}/apply")
    assert r.status_code == 202 and r.json()["kind"] == "apply"
    assert apply_gate.entered.wait(30)
    assert admin.post(f"/api/recipients/uploads/{preview['token']}/apply").status_code == 409
    apply_gate.open.set()
    applied = _wait(admin, r.json()["id"])["applied"]
    assert applied["ok"] and (applied["rows"], applied["inserted"], applied["updated"]) == (299, 299, 0)
    assert web.store.recipient_count() == before + 299
    # the result stays visible on the page afterwards
    page = admin.get("/recipients")
    assert "Daftar diterapkan" in page.text and "299 baru" in page.text and "data-job-url" not in page.text


def test_the_page_follows_a_job_and_shows_its_problems(admin, web, monkeypatch):
    web.app.state.web.inline_check_bytes = 0
    gate = Gate(uploads.stage_upload)
    monkeypatch.setattr(uploads, "stage_upload", gate)
    bad = GOOD + "3171012304900401,Ani,maybe,,,,,\n"
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", bad.encode(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/recipients?job=")
    assert gate.entered.wait(30)
    running = admin.get(r.headers["location"])
    assert "Memeriksa daftar.csv" in running.text and "halaman ini boleh ditutup" in running.text
    gate.open.set()
    assert web.app.state.web.jobs.wait_idle(30)
    done = admin.get(r.headers["location"])
    assert "Ada 1 masalah" in done.text and "<td>301</td>" in done.text and "tidak dikenal" in done.text
    assert _left(web) == []


def test_the_file_is_removed_when_the_check_fails(admin, web, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(uploads, "stage_upload", broken)
    before = web.store.recipient_count()
    r = _upload(admin, GOOD.encode())
    assert r.status_code == 503 and "tidak ada yang diubah" in r.json()["detail"]
    assert _left(web) == [] and web.store.recipient_count() == before
    r = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                   files={"file": ("daftar.csv", GOOD.encode(), "text/csv")})
    assert r.status_code == 503 and "kesalahan di server" in r.text and _left(web) == []


def test_a_checked_list_leaves_no_file_and_can_be_cancelled(admin, web):
    body = _upload(admin, GOOD.encode()).json()
    assert body["ok"] and _left(web) == []                   # its rows wait in the database, not on disk
    page = admin.post("/recipients/upload", data={"csrf_token": admin.headers["X-CSRF-Token"]},
                      files={"file": ("daftar.csv", GOOD.encode(), "text/csv")})
    token = page.text.split('name="token" value="')[1].split('"')[0]
    r = admin.post("/recipients/discard", data={"csrf_token": admin.headers["X-CSRF-Token"], "token": token},
                   follow_redirects=False)
    assert r.status_code == 303
    assert admin.post(f"/api/recipients/uploads/{token}/apply").status_code == 404
    assert admin.delete(f"/api/recipients/uploads/{body['token']}").status_code == 204
    assert admin.post(f"/api/recipients/uploads/{body['token']}/apply").status_code == 404


def test_a_client_that_leaves_mid_upload_leaves_no_file(admin, web):
    """The body stops half-way and the client disconnects: nothing is saved or stored."""
    cookie = "; ".join(f"{k}={v}" for k, v in admin.cookies.items())
    body = (b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="daftar.csv"\r\n'
            b"Content-Type: text/csv\r\n\r\n" + GOOD.encode()[:5000])
    messages = [{"type": "http.request", "body": body, "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/recipients/uploads", "raw_path": b"/api/recipients/uploads",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
             "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=zzz"),
                         (b"cookie", cookie.encode()), (b"x-csrf-token", admin.headers["X-CSRF-Token"].encode())]}
    before = web.store.recipient_count()
    asyncio.run(web.app(scope, receive, send))
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert all(m["status"] < 500 for m in starts), starts
    assert _left(web) == [] and web.store.recipient_count() == before
