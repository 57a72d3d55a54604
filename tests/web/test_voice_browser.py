"""Recording a prompt in the real headless Chromium: the browser's fake microphone plays
a WAV made at test time, the page records it with MediaRecorder, the service shapes it,
the administrator hears the result and saves it, and the next call plays the new file.
Uploads and a refusal go through the same page."""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import pytest

from ivr.prompts import audio
from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import Keys, Silence
from tests import needs
from tests.conftest import run_line
from tests.prompts import clips

from .conftest import ADMIN_PW
from .test_browser import ARGS, CHROMIUM, server, shot, sign_in  # noqa: F401 - server is a fixture

pytestmark = [pytest.mark.browser, needs.chromium]


@pytest.fixture(scope="module")
def mic_file(tmp_path_factory) -> Path:
    """What the fake microphone hears: a short word, then silence (played once, no loop)."""
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    clips.write_wav(path, clips.speech("digits/1", lead_s=0.3, tail_s=4.0))
    return path


@pytest.fixture(scope="module")
def mic_browser(mic_file):
    from playwright import sync_api

    args = ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                   f"--use-file-for-fake-audio-capture={mic_file}%noloop"]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def page(mic_browser, server):  # noqa: F811 - a page whose microphone is the fake one
    context = mic_browser.new_context(viewport={"width": 1280, "height": 900}, locale="id-ID")
    context.grant_permissions(["microphone"], origin=server)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    yield pg
    context.close()


def _pcm(path: Path) -> bytes:
    with wave.open(str(path), "rb") as w:
        return w.readframes(w.getnframes())


def test_record_hear_save_and_the_next_call_plays_it(page, server, env, tmp_path):
    live = env.settings.audio_dir / "digits/1.wav"
    before = _pcm(live)
    sign_in(page, server, "admin", ADMIN_PW, "/prompts/edit?id=digits/1")
    assert page.inner_text("#voice-live").startswith("Yang diputar sekarang: Suara sintetis")
    page.click("#rec-start")
    page.wait_for_selector("#rec-stop:not([disabled])")
    page.wait_for_timeout(2200)           # real time: the fake microphone speaks the word (~1 s)
    page.click("#rec-stop")
    page.wait_for_selector("#rec-draft:not([hidden])")
    # hear it back: the shaped draft loads and plays in the page
    page.wait_for_function("() => { const a = document.querySelector('#rec-playback');"
                           " return a && a.readyState >= 1 && a.duration > 0.3; }")
    duration = page.evaluate("document.querySelector('#rec-playback').duration")
    page.evaluate("document.querySelector('#rec-playback').play()")
    page.wait_for_function("() => document.querySelector('#rec-playback').currentTime > 0")
    shot(page, "20-voice-draft")
    page.click("#rec-save")
    page.wait_for_url("**done=saved")
    assert "Rekaman versi 2 oleh admin" in page.inner_text("#voice-live")
    shot(page, "21-voice-saved")
    recorded = _pcm(live)
    assert recorded != before
    info = audio.inspect_wav(live)
    assert info.rate == 8000 and abs(info.duration_s - duration) < 0.05
    # trimmed to the word: the 0.3 s lead and 4 s tail of silence are gone
    word = audio.inspect_wav(clips.AUDIO / "digits/1.wav").duration_s
    assert info.duration_s < word + 0.5

    # a call now reads the NIK back in the recorded voice
    async def scenario(line):
        return await line.call(Keys(DEMO_NIKS["scheduled"]), Keys("1"), Silence(), Silence(),
                               save_wav=tmp_path / "call.wav")

    # in a thread of its own: Playwright's sync API keeps an event loop in this one
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(out=run_line(env.settings, scenario)))
    thread.start()
    thread.join(timeout=120)
    result, _ = done["out"]
    assert result.clean, result.problems
    assert "digits/1" in result.prompts
    heard = _pcm(tmp_path / "call.wav")
    assert recorded in heard and before not in heard


def test_upload_in_the_page_and_a_refusal(page, server, env, tmp_path):
    sign_in(page, server, "admin", ADMIN_PW, "/prompts/edit?id=goodbye")
    bad = clips.write_wav(tmp_path / "pecah.wav", clips.clipped("goodbye"))
    page.set_input_files("#voice-file", str(bad))
    page.click("#voice-upload")
    page.wait_for_selector("[role=alert]")
    assert "Suara pecah" in page.inner_text("[role=alert]")
    shot(page, "22-voice-refused")
    good = tmp_path / "selamat.m4a"
    good.write_bytes(clips.encode(clips.speech("goodbye"), "m4a"))
    page.set_input_files("#voice-file", str(good))
    page.click("#voice-upload")
    page.wait_for_function("() => { const a = document.querySelector('#rec-playback');"
                           " return a && a.readyState >= 1 && a.duration > 0.5; }")
    page.click("#rec-save")
    page.wait_for_url("**done=saved")
    assert page.locator("#version-2 >> text=dipakai").count() == 1
    page.goto(server + "/prompts")
    assert "Rekaman" in page.inner_text("#p-goodbye")
    shot(page, "23-prompts-coverage")


def test_guided_walk_records_a_word_and_moves_on(page, server, env):
    sign_in(page, server, "admin", ADMIN_PW, "/prompts/guide?step=2")
    assert page.inner_text("#guide-word") == "satu"
    page.click("#rec-start")
    page.wait_for_selector("#rec-stop:not([disabled])")
    page.wait_for_timeout(2200)           # real time: the fake microphone speaks the word
    page.click("#rec-stop")
    page.wait_for_function("() => { const a = document.querySelector('#rec-playback');"
                           " return a && a.readyState >= 1 && a.duration > 0.3; }")
    page.click("#rec-save")
    page.wait_for_url("**/prompts/guide?step=3")
    assert page.inner_text("#guide-word") == "dua"
    assert "1 sudah direkam" in page.inner_text("#guide-progress")
    shot(page, "24-voice-guide")
