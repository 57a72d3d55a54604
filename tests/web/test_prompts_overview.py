"""Prompts (edit, re-render, preview) and the overview's figures and charts."""

from __future__ import annotations

import datetime as dt
import tomllib

import pytest

from tests import needs

from .conftest import NOW, make_call


def test_prompt_list_has_every_prompt_with_audio(admin, env):
    items = admin.get("/api/prompts").json()
    catalog = env.app.state.web.catalog()
    assert [i["id"] for i in items] == list(catalog.ids())
    greeting = next(i for i in items if i["id"] == "greeting")
    assert greeting["has_audio"] and admin.get(greeting["audio_url"]).content[:4] == b"RIFF"
    html = admin.get("/prompts").text
    assert html.count("<audio") == sum(i["has_audio"] for i in items)
    assert 'preload="none"' in html            # a slow line loads no audio until asked


def test_edit_saves_text_and_rerenders_only_that_prompt(admin, env):
    token = admin.headers["X-CSRF-Token"]
    new = "Selamat datang di layanan Bantuan Sosial Tunai Jakarta."
    r = admin.post("/prompts/edit", data={"csrf_token": token, "prompt_id": "greeting", "text": new,
                                          "action": "save"})
    assert r.status_code == 200 and "suara dibuat ulang" in r.text
    assert env.renderer.calls == [["greeting"]]
    on_disk = tomllib.loads((env.settings.prompts_dir / "prompts.toml").read_text())
    assert on_disk["prompts"]["greeting"] == new
    assert on_disk["prompts"]["nik/ask"].startswith("Sebutkan enam belas")       # others untouched
    assert "# --- NIK entry" in (env.settings.prompts_dir / "prompts.toml").read_text()   # comments kept
    assert any(e["action"] == "edit_prompt" and e["target"] == "greeting" for e in admin.get("/api/audit").json())
    # the call page's timeline now shows the new text
    cid = make_call(env.store, env.settings.spool)
    assert new in admin.get(f"/calls/{cid}").text


def test_edit_through_the_api(admin, env):
    r = admin.put("/api/prompts/nik/ask", json={"text": "Sebutkan N I K Anda."})
    assert r.status_code == 200 and r.json()["rendered"] and r.json()["prompt"]["text"] == "Sebutkan N I K Anda."
    assert env.renderer.calls == [["nik/ask"]]
    assert admin.put("/api/prompts/no/such", json={"text": "x"}).status_code == 404
    assert admin.put("/api/prompts/greeting", json={"text": "bad \x07 bell"}).status_code == 422


def test_render_failure_keeps_the_text_and_says_so(admin, env):
    from ivr.prompts.render import BuildReport

    env.app.state.web.renderer = lambda c, a, ids: BuildReport(failed=((ids[0], "espeak-ng not found"),))
    body = admin.put("/api/prompts/goodbye", json={"text": "Sampai jumpa."}).json()
    assert body["rendered"] is False and "espeak-ng not found" in body["error"]
    assert env.app.state.web.catalog().text("goodbye") == "Sampai jumpa."


def test_preview_renders_without_saving(admin, env):
    before = (env.settings.prompts_dir / "prompts.toml").read_text()
    r = admin.post("/prompts/edit", data={"csrf_token": admin.headers["X-CSRF-Token"], "prompt_id": "goodbye",
                                          "text": "Coba dengar ini.", "action": "preview"})
    assert r.status_code == 200
    url = r.text.split('id="preview" controls src="')[1].split('"')[0]
    assert admin.get(url).content[:4] == b"RIFF"
    assert (env.settings.prompts_dir / "prompts.toml").read_text() == before
    assert env.renderer.calls == []


@pytest.mark.slow
@needs.espeak
def test_real_render_of_one_prompt(admin, env):
    """The real TTS worker (espeak-ng through pyttsx3), for one prompt: a few seconds."""
    from ivr.web.context import default_renderer

    env.app.state.web.renderer = default_renderer
    body = admin.put("/api/prompts/goodbye", json={"text": "Terima kasih, sampai jumpa."}).json()
    assert body["rendered"], body
    wav = env.settings.audio_dir / "goodbye.wav"
    assert not wav.is_symlink() and wav.read_bytes()[:4] == b"RIFF"


def test_overview_figures(operator, env):
    day = dt.timedelta(days=1)
    make_call(env.store, env.settings.spool, started=NOW - dt.timedelta(hours=2), mode="speech")
    make_call(env.store, env.settings.spool, started=NOW - dt.timedelta(hours=3), mode="keypad",
              outcome="not_found", follow_up="not_found")
    make_call(env.store, env.settings.spool, started=NOW - 2 * day, mode="mixed", follow_up="complaint")
    make_call(env.store, env.settings.spool, started=NOW - 40 * day, mode="keypad")        # outside 14 days
    o = operator.get("/api/overview").json()
    assert o["total_calls"] == 3 and len(o["per_day"]) == 14
    assert o["per_day"][-1]["calls"] == 2 and o["per_day"][-3]["calls"] == 1
    assert {c["key"]: c["count"] for c in o["outcomes"]} == {"answered": 2, "not_found": 1}
    assert {c["key"]: c["count"] for c in o["input_modes"]} == {"speech": 1, "keypad": 1, "mixed": 1}
    # speech and mixed calls each log one empty no_input and one heard utterance
    assert (o["speech_heard"], o["speech_missed"], o["recognition_rate"]) == (2, 2, 0.5)
    assert o["median_to_status_s"] == 20.0
    assert {c["key"]: c["count"] for c in o["open_follow_ups"]} == {"not_found": 1, "complaint": 1}
    assert operator.get("/api/overview", params={"days": 60}).json()["total_calls"] == 4
    assert operator.get("/api/overview", params={"days": 0}).status_code == 422


def test_overview_page_draws_svg_charts(operator, env):
    make_call(env.store, env.settings.spool, follow_up="complaint")
    html = operator.get("/").text
    assert html.count("<svg") == 5 and "<script" not in html
    assert "Panggilan per hari" in html and "Status disampaikan" in html and "Pengaduan" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")   # nothing from the internet


def test_overview_figures_are_reused_for_a_minute(operator, env):
    make_call(env.store, env.settings.spool)
    assert operator.get("/api/overview").json()["total_calls"] == 1
    make_call(env.store, env.settings.spool)
    assert operator.get("/api/overview").json()["total_calls"] == 1         # the same figures ...
    env.clock.advance(61)
    assert operator.get("/api/overview").json()["total_calls"] == 2         # ... until they are a minute old
