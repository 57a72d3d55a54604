"""End to end in a real headless Chromium against uvicorn on a free port: sign in, open
a call, play its recording, reveal a NIK (audited), resolve a follow-up, upload a
recipient list.  Screenshots of the main pages go to test-artifacts/screenshots/."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from tests import needs

from .conftest import ADMIN_PW, GOOD_CSV, NIK, OPERATOR_PW, make_call

pytestmark = [pytest.mark.browser, needs.chromium]

CHROMIUM = needs.CHROMIUM
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    from playwright import sync_api     # in the test extra; Debian's Chromium, no browser download
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def server(env):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(env.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:                 # readiness, not timing: the loop ends when uvicorn says so
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="id-ID")
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page, base: str, name: str, password: str, next_path: str = "/") -> None:
    page.goto(base + next_path)
    assert "/login" in page.url                       # signed out: sent to the sign-in page
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + next_path)


def test_call_recording_and_reveal(page, server, env):
    cid = make_call(env.store, env.settings.spool, mode="mixed", follow_up="complaint", complaint=True)
    make_call(env.store, env.settings.spool, outcome="not_found", mode="keypad", follow_up="not_found",
              recording=False, uniqueid="1700000000.2")
    page.goto(server + "/login")
    shot(page, "01-login")
    sign_in(page, server, "siti", OPERATOR_PW)
    shot(page, "02-overview")
    page.click("nav >> text=Panggilan")
    page.wait_for_url(server + "/calls")
    shot(page, "03-calls")
    page.click(f"a[href='/calls/{cid}']")
    page.wait_for_url(server + f"/calls/{cid}")
    assert page.inner_text("#nik") == "3172********0001"
    # the recording loads and plays in the browser
    page.wait_for_function("() => { const a = document.querySelector('audio');"
                           " return a && a.readyState >= 1 && a.duration > 0; }")
    duration = page.evaluate("document.querySelector('audio').duration")
    assert 0.9 < duration < 1.1
    page.evaluate("document.querySelector('audio').play()")
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0")
    shot(page, "04-call")
    page.click("#reveal")
    page.wait_for_selector("text=Data asli ditampilkan")
    assert page.inner_text("#nik") == NIK
    shot(page, "05-call-revealed")
    assert [(e.user, e.action, e.target) for e in env.store.list_audit() if e.action == "reveal_call"] == \
        [("siti", "reveal_call", cid)]


def test_resolve_a_follow_up(page, server, env):
    make_call(env.store, env.settings.spool, follow_up="complaint", complaint=True)
    fid = env.store.list_follow_ups()[0].id
    sign_in(page, server, "siti", OPERATOR_PW, "/follow-ups")
    item = page.locator(f"#fu-{fid}")
    item.locator("audio").wait_for()
    item.locator("text=Ambil (tugaskan ke saya)").click()
    page.wait_for_selector(f"#fu-{fid} >> text=ditangani siti")
    page.fill(f"#note-{fid}", "Penelepon sudah dihubungi kembali")
    page.locator(f"#fu-{fid} >> text=Tambah catatan").click()
    page.wait_for_selector("text=Penelepon sudah dihubungi kembali")
    shot(page, "06-follow-ups")
    page.locator(f"#fu-{fid} >> text=Tandai selesai").click()
    page.wait_for_load_state()
    f = env.store.get_follow_up(fid)
    assert f.state == "done" and f.done_by == "siti" and f.done_at is not None
    assert [n.text for n in f.notes] == ["Penelepon sudah dihubungi kembali"]


def test_upload_a_recipient_list(page, server, env, tmp_path):
    good = tmp_path / "daftar.csv"
    good.write_text(GOOD_CSV)
    bad = tmp_path / "daftar-rusak.csv"
    bad.write_text(GOOD_CSV.replace("Ani Wijaya", '"=HYPERLINK(""http://evil.example"",""klik"")"')
                   .replace("3171012304900022", "3.17101E+15"))
    before = env.store.recipient_count()
    sign_in(page, server, "admin", ADMIN_PW, "/recipients")
    page.set_input_files("#file", str(bad))
    page.click("text=Periksa berkas")
    page.wait_for_selector("text=Tidak ada yang diubah")
    shot(page, "07-recipients-rejected")
    page.set_input_files("#file", str(good))
    page.click("text=Periksa berkas")
    page.wait_for_selector("#apply")
    assert env.store.recipient_count() == before
    shot(page, "08-recipients-preview")
    page.click("#apply")
    page.wait_for_selector("text=Daftar diterapkan")
    assert env.store.recipient_count() == before + 2
    page.fill("#nik", NIK)
    page.click("form[action='/recipients/search'] button")
    page.wait_for_selector("text=Yang didengar penelepon")
    shot(page, "09-recipient-search")
    page.goto(server + "/prompts")
    shot(page, "10-prompts")
    page.goto(server + "/prompts/edit?id=status/scheduled")
    page.click("button[value=preview]")
    page.wait_for_function("() => { const a = document.querySelector('#preview');"
                           " return a && a.readyState >= 1 && a.duration > 0; }")
    shot(page, "11-prompt-edit-preview")
    page.goto(server + "/audit")
    assert page.locator("#audit >> text=Mencari penerima").count() == 1
    shot(page, "12-audit")
    page.goto(server + "/users")
    shot(page, "13-users")


def test_a_large_list_shows_its_progress_then_its_result(page, server, env, tmp_path, monkeypatch):
    from ivr.web import uploads

    from .test_upload_jobs import Gate

    env.app.state.web.inline_check_bytes = 0          # the job path, with a small file
    gate = Gate(uploads.stage_upload)
    monkeypatch.setattr(uploads, "stage_upload", gate)
    good = tmp_path / "daftar.csv"
    good.write_text(GOOD_CSV)
    before = env.store.recipient_count()
    sign_in(page, server, "admin", ADMIN_PW, "/recipients")
    page.set_input_files("#file", str(good))
    page.click("text=Periksa berkas")
    page.wait_for_selector("#job progress")           # the request came back while the check runs
    assert "/recipients?job=" in page.url and gate.entered.wait(10)
    shot(page, "08b-recipients-job-running")
    gate.open.set()
    page.wait_for_selector("#apply")                  # the page follows the job to its result by itself
    assert "Semua 2 baris sah" in page.content() and env.store.recipient_count() == before
    page.click("#apply")
    page.wait_for_selector("text=Daftar diterapkan")
    assert env.store.recipient_count() == before + 2
