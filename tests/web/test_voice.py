"""Human voices through the web app's API and forms: upload each format, hear the shaped
draft, save, see it on the prompts page with who and when, roll back, a text edit that
sends a prompt back to synthetic, refusals with their reasons, hostile uploads, places."""

from __future__ import annotations

import json
import wave

import numpy as np
import pytest

from ivr.prompts import audio
from ivr.prompts.voice import Voice, sha256_of
from tests.prompts import clips



def _draft(admin, prompt_id: str, data: bytes, name: str = "clip.wav"):
    return admin.post("/api/voice/drafts", params={"id": prompt_id}, files={"file": (name, data)},
                      data={"origin": "upload"})


def _text(env, prompt_id: str) -> str:
    from ivr.prompts.catalog import load_catalog

    return load_catalog(env.settings.prompts_dir / "prompts.toml").text(prompt_id)


@pytest.mark.parametrize("fmt", sorted(clips.FORMATS))
def test_each_format_becomes_an_8khz_prompt_at_the_rendered_level(admin, env, fmt):
    data = clips.encode(clips.speech("greeting"), fmt)
    r = _draft(admin, "greeting", data, "rekaman" + clips.FORMATS[fmt][2])
    assert r.status_code == 200, r.text
    draft = r.json()
    # what the administrator hears before saving is the shaped 8 kHz file
    wav = admin.get(draft["url"])
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    live = env.settings.audio_dir / "greeting.wav"
    before = sha256_of(live)
    saved = admin.post(f"/api/voice/drafts/{draft['token']}/save")
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 2          # version 1 is the synthetic voice it replaced
    info = audio.inspect_wav(live)
    assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2)
    assert sha256_of(live) != before
    # trimmed: the 0.6 s lead and 0.8 s tail of silence are cut back to the renderer's
    # margins, which the rendered speech used here already has
    rendered = audio.inspect_wav(clips.AUDIO / "greeting.wav").duration_s
    assert abs(info.duration_s - rendered) < 0.1
    # the same loudness as the rendered prompts: active speech at the renderer's target
    samples, _ = audio.read_wav(live)
    from ivr.prompts.ingest import _active_rms

    level = 20 * np.log10(_active_rms(samples, 8000))
    synthetic, _ = audio.read_wav(clips.AUDIO / "greeting.wav")
    assert abs(level - audio.TARGET_ACTIVE_DBFS) < 1.0
    assert abs(level - 20 * np.log10(_active_rms(synthetic, 8000))) < 1.0
    # the drafts folder is empty again
    assert not list((env.settings.data_dir / "voice-drafts").glob(f"{draft['token']}*"))


def test_saved_recording_shows_who_and_when_and_coverage_rises(admin, env):
    before = admin.get("/api/voice").json()["coverage"]
    assert before["percent"] == 0
    r = _draft(admin, "greeting", clips.encode(clips.speech("greeting"), "ogg"), "a.ogg")
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    summary = admin.get("/api/voice").json()
    greeting = next(p for p in summary["prompts"] if p["id"] == "greeting")
    assert greeting["source"] == "recorded" and greeting["by"] == "admin" and greeting["version"] == 2
    assert greeting["at"].startswith("2026-11-28T12:00")       # the app's injected clock
    assert summary["coverage"]["percent"] > before["percent"]
    assert summary["coverage"]["human_s"] == pytest.approx(20.1, abs=0.3)
    page = admin.get("/prompts")
    assert page.status_code == 200
    row = page.text.split('id="p-greeting"')[1].split("</tr>")[0]
    assert "Rekaman" in row and "admin" in row and "28 Nov 2026" in row
    assert f"{summary['coverage']['percent']}%" in page.text
    audit = [(e.user, e.action, e.target) for e in env.store.list_audit()]
    assert ("admin", "record_prompt", "greeting") in audit


@pytest.mark.parametrize("make,fmt,reason,words", [
    (clips.clipped, "wav", "clipped", "pecah"),
    (clips.clipped, "mp3", "clipped", "pecah"),
    (clips.silent, "wav", "silent", "sunyi"),
    (clips.silent, "webm", "silent", "sunyi"),
    (clips.quiet, "m4a", "too_quiet", "terlalu pelan"),
])
def test_faulty_clips_are_refused_with_a_reason_and_change_nothing(admin, env, make, fmt, reason, words):
    live = env.settings.audio_dir / "greeting.wav"
    before = sha256_of(live)
    r = _draft(admin, "greeting", clips.encode(make(), fmt), "x" + clips.FORMATS[fmt][2])
    assert r.status_code == 422
    assert r.json()["reason"] == reason and words in r.json()["detail"]
    assert sha256_of(live) == before
    assert not (env.settings.prompts_dir / "voice" / "voice.json").exists()
    assert not list((env.settings.data_dir / "voice-drafts").glob("*"))   # a refused clip leaves no file


def test_over_long_clips_are_refused(admin, env):
    # a sentence read two and a half times over, and a whole sentence for one number
    greeting = clips.speech("greeting")
    thrice = np.concatenate([greeting, greeting, greeting[: len(greeting) // 2]])
    r = _draft(admin, "greeting", clips.encode(thrice, "mp3"), "x.mp3")
    assert r.status_code == 422 and r.json()["reason"] == "too_long"
    assert "terlalu panjang untuk teksnya" in r.json()["detail"]
    r = _draft(admin, "digits/7", clips.encode(clips.speech("status/scheduled"), "ogg"), "x.ogg")
    assert r.status_code == 422 and r.json()["reason"] == "too_long"


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt " + b"\xff" * 200, "undecodable"),
    (b"\x00" * 5000, "undecodable"),
    (b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n", "undecodable"),
])
def test_hostile_or_broken_uploads_get_a_message_never_a_500(admin, env, data, reason):
    r = _draft(admin, "greeting", data, "x.wav")
    assert r.status_code == 422, r.text
    assert r.json()["reason"] == reason


def test_truncated_and_oversized_uploads(admin, env, monkeypatch):
    good = clips.encode(clips.speech("greeting"), "mp3")
    r = _draft(admin, "greeting", good[: len(good) // 10], "cut.mp3")
    assert r.status_code == 422 and r.json()["reason"] in ("too_short", "undecodable")
    from ivr.prompts import ingest

    monkeypatch.setattr(ingest, "MAX_UPLOAD_BYTES", 50_000)
    r = _draft(admin, "greeting", good, "big.mp3")
    assert r.status_code == 413 and r.json()["reason"] == "too_big"
    monkeypatch.undo()
    # a small file that holds ten minutes of audio: decoding stops at the two-minute cap
    long = clips.encode(np.tile(clips.speech("greeting"), 30), "ogg", bit_rate=6000)
    assert len(long) < ingest.MAX_UPLOAD_BYTES
    r = _draft(admin, "greeting", long, "long.ogg")
    assert r.status_code == 422 and r.json()["reason"] == "too_long"
    assert "lebih dari 120 detik" in r.json()["detail"]


def test_form_upload_then_save_then_roll_back_and_back_to_synthetic(admin, env):
    live = env.settings.audio_dir / "nik/ask.wav"
    synthetic = sha256_of(live)
    token = admin.headers["X-CSRF-Token"]
    page = admin.post("/prompts/voice/upload", data={"csrf_token": token, "prompt_id": "nik/ask"},
                      files={"file": ("nik.m4a", clips.encode(clips.speech("nik/ask"), "m4a"))})
    assert page.status_code == 200 and 'id="rec-playback"' in page.text and "/media/voice-draft/" in page.text
    draft = page.text.split('id="rec-token" value="')[1].split('"')[0]
    r = admin.post("/prompts/voice/save", data={"csrf_token": token, "token": draft, "prompt_id": "nik/ask"},
                   follow_redirects=False)
    assert r.status_code == 303 and "done=saved" in r.headers["location"]
    first = sha256_of(live)
    # a second recording; the first stays kept
    r = _draft(admin, "nik/ask", clips.encode(clips.speech("nik/ask", noise_dbfs=-55, seed=7), "wav"))
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    assert sha256_of(live) not in (first, synthetic)
    versions = Voice(env.settings.audio_dir).state("nik/ask", _text(env, "nik/ask")).versions
    assert [(v.n, v.source) for v in versions] == [(3, "recorded"), (2, "recorded"), (1, "synthetic")]
    r = admin.post("/prompts/voice/restore", data={"csrf_token": token, "prompt_id": "nik/ask", "version": "2"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert sha256_of(live) == first
    edit = admin.get("/prompts/edit", params={"id": "nik/ask"})
    assert "Rekaman</strong> versi 2 oleh admin" in edit.text
    r = admin.post("/prompts/voice/synthetic", data={"csrf_token": token, "prompt_id": "nik/ask"},
                   follow_redirects=False)
    assert r.status_code == 303
    assert sha256_of(live) == synthetic            # the kept synthetic file, no render needed
    assert env.renderer.calls == []
    assert Voice(env.settings.audio_dir).state("nik/ask", _text(env, "nik/ask")).live is None


def test_editing_the_text_sends_a_recording_back_to_synthetic_and_says_so(admin, env):
    r = _draft(admin, "goodbye", clips.encode(clips.speech("goodbye"), "ogg"), "g.ogg")
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    recorded = sha256_of(env.settings.audio_dir / "goodbye.wav")
    r = admin.put("/api/prompts/goodbye", json={"text": "Terima kasih sudah menelepon. Sampai jumpa."})
    assert r.status_code == 200 and r.json()["rendered"]
    assert env.renderer.calls == [["goodbye"]]     # the renderer speaks the new text
    assert sha256_of(env.settings.audio_dir / "goodbye.wav") != recorded
    summary = {p["id"]: p for p in admin.get("/api/voice").json()["prompts"]}
    assert summary["goodbye"]["source"] == "synthetic" and summary["goodbye"]["stale_version"] == 2
    page = admin.get("/prompts/edit", params={"id": "goodbye"})
    assert 'id="voice-stale"' in page.text and "Teksnya sudah diubah" in page.text
    row = admin.get("/prompts").text.split('id="p-goodbye"')[1].split("</tr>")[0]
    assert "teks diubah sejak direkam" in row
    # the old recording cannot be put back for the new text
    r = admin.post("/api/voice/restore", json={"id": "goodbye", "version": 2})
    assert r.status_code == 422 and "earlier text" in r.json()["detail"]


def test_a_draft_for_an_old_text_cannot_be_saved(admin, env):
    r = _draft(admin, "goodbye", clips.encode(clips.speech("goodbye"), "wav"))
    admin.put("/api/prompts/goodbye", json={"text": "Sampai jumpa lagi, terima kasih."})
    r = admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    assert r.status_code == 422 and r.json()["reason"] == "text_changed"


def test_guided_walk_goes_through_every_number_day_and_month(admin, env):
    page = admin.get("/prompts/guide")
    assert "Langkah 1 dari 44" in page.text and 'id="guide-word">nol<' in page.text
    r = _draft(admin, "digits/0", clips.encode(clips.speech("digits/0"), "webm"), "0.webm")
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    page = admin.get("/prompts/guide")                 # starts at the first word not yet recorded
    assert "Langkah 2 dari 44" in page.text and "1 sudah direkam" in page.text
    assert 'data-next="/prompts/guide?step=3"' in page.text
    last = admin.get("/prompts/guide", params={"step": 44})
    assert 'id="guide-word">Desember<' in last.text


def test_a_place_name_recorded_per_place_is_what_the_call_says(admin, env, tmp_path):
    from ivr.prompts.render import dyn_id
    from ivr.store.recipients import DEMO_NIKS
    from ivr.telephony.fake_asterisk import Keys, Silence
    from tests.conftest import run_line

    nik = DEMO_NIKS["scheduled"]
    place = env.store.lookup(nik).place
    page = admin.get("/prompts/places")
    assert page.status_code == 200 and place in page.text
    pid = dyn_id(place)
    r = _draft(admin, pid, clips.encode(clips.speech("status/place_intro"), "wav"))
    assert r.status_code == 200, r.text
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    recorded = env.settings.audio_dir / f"{pid}.wav"
    assert audio.inspect_wav(recorded).rate == 8000
    page = admin.get("/prompts/places")
    assert "Rekaman</span> oleh admin" in page.text
    assert "Sintetis" in page.text                 # the other places and addresses stay synthetic

    async def scenario(line):
        return await line.call(Keys(nik), Keys("1"), Silence(), Silence(), save_wav=tmp_path / "call.wav")

    result, _ = run_line(env.settings, scenario)
    assert result.clean, result.problems
    assert pid in result.prompts
    with wave.open(str(recorded), "rb") as w:
        pcm = w.readframes(w.getnframes())
    with wave.open(str(tmp_path / "call.wav"), "rb") as w:
        assert pcm in w.readframes(w.getnframes())
    # back to the synthetic voice: the kept rendering of this place (the repository has one)
    state = Voice(env.settings.audio_dir).state(pid, place)
    r = admin.post("/api/voice/synthetic", json={"id": pid})
    assert r.status_code == 200 and r.json()["how"] == "kept"
    assert sha256_of(recorded) == state.versions[-1].sha256 and state.versions[-1].source == "synthetic"
    assert Voice(env.settings.audio_dir).state(pid, place).source == "synthetic"
    # without a kept rendering it is rendered aside and swapped in, so the file is never missing
    r = _draft(admin, pid, clips.encode(clips.speech("status/place_intro", seed=5), "ogg"), "p.ogg")
    admin.post(f"/api/voice/drafts/{r.json()['token']}/save")
    voice_dir = env.settings.prompts_dir / "voice"
    registry = json.loads((voice_dir / "voice.json").read_text())
    registry["prompts"][pid]["versions"] = [v for v in registry["prompts"][pid]["versions"]
                                            if v["source"] == "recorded"]
    (voice_dir / "voice.json").write_text(json.dumps(registry))
    r = admin.post("/api/voice/synthetic", json={"id": pid})
    assert r.status_code == 200 and r.json()["how"] == "rendered"
    assert audio.inspect_wav(recorded).duration_s == pytest.approx(0.5)    # the test previewer's file


def test_voice_pages_are_for_administrators_only(operator, env):
    assert operator.get("/prompts/guide").status_code == 403
    assert operator.get("/api/voice").status_code == 403
    r = operator.post("/api/voice/drafts", params={"id": "greeting"}, files={"file": ("a.wav", b"x")})
    assert r.status_code == 403
