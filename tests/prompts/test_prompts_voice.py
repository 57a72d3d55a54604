"""Human recordings of prompts below the web app: judging and shaping a clip, the voice
registry (versions, rollback, a text that changes), the renderer leaving recordings
alone, `ivr prompts check` on recorded prompts, and voice coverage of a typical call."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from ivr.prompts import audio, ingest, render
from ivr.prompts.catalog import is_generated, load_catalog, set_text
from ivr.prompts.check import check
from ivr.prompts.cli import main as cli_main
from ivr.prompts.coverage import coverage, typical_call
from ivr.prompts.voice import Voice, VoiceError, sha256_of
from tests.prompts import clips

REPO = Path(__file__).resolve().parents[2]
AT = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.timezone.utc)
# A worker that "speaks" any text as a tone of a plausible length (0.09 s a character).
TONE_WORKER = (
    sys.executable,
    "-c",
    "import json, math, struct, sys, wave\n"
    "for j in json.load(sys.stdin)['jobs']:\n"
    "    n = int(22050 * 0.09 * max(len(j['text']), 8))\n"
    "    with wave.open(j['out'], 'wb') as w:\n"
    "        w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)\n"
    "        w.writeframes(b''.join(struct.pack('<h', int(8000 * math.sin(i / 8))) for i in range(n)))\n"
    "    print(json.dumps({'key': j['key'], 'ok': True}), flush=True)",
)


@pytest.fixture
def prompts(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the catalog and its audio."""
    catalog, audio_dir = tmp_path / "prompts" / "prompts.toml", tmp_path / "prompts" / "audio"
    catalog.parent.mkdir()
    shutil.copy(REPO / "prompts" / "prompts.toml", catalog)
    shutil.copytree(REPO / "prompts" / "audio", audio_dir)
    return catalog, audio_dir


def shaped(prompt_id: str, text: str, **kw) -> np.ndarray:
    return ingest.ingest(clips.encode(clips.speech(prompt_id, **kw), "wav"), text).samples


# --- judging and shaping ---------------------------------------------------------------


def test_a_click_after_the_speech_is_trimmed_with_the_silence():
    x = clips.speech("digits/5", tail_s=2.0)
    click_at = len(x) - clips.MIC_RATE
    x[click_at:click_at + 96] = 0.9  # 2 ms: the mouse click on "stop"
    clip = ingest.shape(ingest.Decoded(x, clips.MIC_RATE, "wav", "pcm_s16le"), "lima")
    word = audio.inspect_wav(clips.AUDIO / "digits/5.wav").duration_s
    assert abs(clip.seconds - word) < 0.1


def test_lengths_expected_for_a_word_and_a_sentence():
    assert ingest.length_problem("tujuh", 0.6) is None
    assert "too long" in ingest.length_problem("tujuh", 5.0)
    assert "too short" in ingest.length_problem("tujuh", 0.05)
    sentence = "Terima kasih sudah menelepon Hotline Bantuan Sosial Tunai."  # 58 characters
    assert ingest.length_problem(sentence, 5.0) is None
    assert "too long" in ingest.length_problem(sentence, 14.0)
    assert "too short" in ingest.length_problem(sentence, 1.0)


def test_every_rendered_prompt_would_pass_as_a_recording_of_its_text():
    """The human limits are not tighter than what the rendered voice already does."""
    catalog = load_catalog(REPO / "prompts" / "prompts.toml")
    for pid in catalog.ids():
        if not is_generated(pid):
            seconds = audio.inspect_wav(REPO / "prompts" / "audio" / f"{pid}.wav").duration_s
            assert ingest.length_problem(catalog.text(pid), seconds - audio.LEAD_S - audio.TAIL_S) is None, pid


def test_only_the_listed_demuxers_may_open_an_upload(tmp_path):
    import soundfile as sf

    flac = tmp_path / "x.flac"
    sf.write(flac, clips.speech("digits/1"), clips.MIC_RATE)
    with pytest.raises(ingest.ClipRefused) as err:
        ingest.decode(flac.read_bytes())
    assert err.value.reason == "undecodable"


@pytest.mark.parametrize("fmt", sorted(clips.FORMATS))
def test_damaged_files_are_refused_or_accepted_never_crash(fmt):
    """Cut short, bytes flipped, blocks overwritten: the decoder answers ClipRefused or a clip."""
    rng = np.random.default_rng(11)
    data = clips.encode(clips.speech("digits/4"), fmt)
    outcomes = set()
    for trial in range(24):
        b = bytearray(data)
        if trial % 3 == 0:
            b = b[: int(rng.integers(1, len(b)))]
        elif trial % 3 == 1:
            for _ in range(int(rng.integers(1, 50))):
                b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        else:
            at = int(rng.integers(0, len(b)))
            b[at:at + 1000] = rng.bytes(1000)
        try:
            clip = ingest.ingest(bytes(b), "empat")
        except ingest.ClipRefused as exc:
            outcomes.add(exc.reason)
        else:
            assert audio.RATE * 0.15 <= len(clip.samples) and np.isfinite(clip.samples).all()
            outcomes.add("ok")
    assert outcomes - {"ok"}, "some damage must be noticed"


# --- the registry ----------------------------------------------------------------------


def test_record_keeps_the_synthetic_voice_and_rolls_back(prompts):
    catalog_path, audio_dir = prompts
    text = load_catalog(catalog_path).text("greeting")
    voice = Voice(audio_dir)
    live = audio_dir / "greeting.wav"
    synthetic = sha256_of(live)
    v = voice.record("greeting", text, shaped("greeting", text), by="ani", at=AT, origin="browser webm/opus")
    assert (v.n, v.source, v.by, v.at) == (2, "recorded", "ani", "2026-11-29T10:00:00+00:00")
    assert sha256_of(live) == v.sha256 == sha256_of(voice.version_path("greeting", 2))
    state = voice.state("greeting", text)
    assert state.source == "recorded" and [x.source for x in state.versions] == ["recorded", "synthetic"]
    assert state.versions[1].sha256 == synthetic
    voice.restore("greeting", 1, text, at=AT)
    assert sha256_of(live) == synthetic and voice.state("greeting", text).source == "synthetic"
    voice.restore("greeting", 2, text, at=AT)
    assert voice.state("greeting", text).live.n == 2
    with pytest.raises(VoiceError):
        voice.restore("greeting", 9, text, at=AT)


def test_a_hand_edited_text_makes_the_recording_stale(prompts):
    catalog_path, audio_dir = prompts
    text = load_catalog(catalog_path).text("goodbye")
    voice = Voice(audio_dir)
    voice.record("goodbye", text, shaped("goodbye", text), by="ani", at=AT, origin="upload")
    state = voice.state("goodbye", "Sampai jumpa.")
    assert state.source == "synthetic" and state.stale.n == 2
    with pytest.raises(VoiceError, match="earlier text"):
        voice.restore("goodbye", 2, "Sampai jumpa.", at=AT)


def test_concurrent_saves_each_get_their_own_version(prompts):
    catalog_path, audio_dir = prompts
    text = load_catalog(catalog_path).text("digits/3")
    samples = [shaped("digits/3", text, seed=i) for i in range(4)]
    voice = Voice(audio_dir)
    threads = [threading.Thread(target=voice.record, args=("digits/3", text, s),
                                kwargs={"by": f"u{i}", "at": AT, "origin": "upload"}) for i, s in enumerate(samples)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = voice.state("digits/3", text)
    assert sorted(v.n for v in state.versions) == [1, 2, 3, 4, 5]
    assert sha256_of(audio_dir / "digits/3.wav") == state.live.sha256


# --- the renderer and the check --------------------------------------------------------


def test_build_never_renders_over_a_live_recording_but_does_after_a_text_edit(prompts, monkeypatch):
    catalog_path, audio_dir = prompts
    monkeypatch.setattr(render, "WORKER_COMMAND", TONE_WORKER)
    text = load_catalog(catalog_path).text("goodbye")
    v = Voice(audio_dir).record("goodbye", text, shaped("goodbye", text), by="ani", at=AT, origin="upload")
    report = render.build(catalog_path, audio_dir, force=True, only=["goodbye", "digits/2"], progress=False)
    assert report.recorded == ("goodbye",) and report.rendered == ("digits/2",)
    assert sha256_of(audio_dir / "goodbye.wav") == v.sha256
    set_text(catalog_path, "goodbye", "Terima kasih, sampai jumpa lagi.")
    report = render.build(catalog_path, audio_dir, only=["goodbye"], progress=False)
    assert report.rendered == ("goodbye",)
    assert sha256_of(audio_dir / "goodbye.wav") != v.sha256


def test_check_accepts_a_recording_and_finds_a_swapped_or_over_long_file(prompts, capsys):
    catalog_path, audio_dir = prompts
    catalog = load_catalog(catalog_path)
    text = catalog.text("greeting")
    Voice(audio_dir).record("greeting", text, shaped("greeting", text), by="ani", at=AT, origin="upload")
    assert check(catalog, audio_dir, catalog.ids()) == []
    args = ["check", "--catalog", str(catalog_path), "--audio-dir", str(audio_dir)]
    assert cli_main(args) == 0
    cov = coverage(audio_dir, {"greeting"})
    spoken = len([i for i in catalog.ids() if not is_generated(i)])
    assert cov.human_s == pytest.approx(audio.inspect_wav(audio_dir / "greeting.wav").duration_s)
    assert (f"voice coverage: {cov.percent}% of a typical call's audio is a human voice "
            f"({cov.human_s:.1f} of {cov.total_s:.1f} s); 1 of {spoken} prompts recorded") in capsys.readouterr().out
    # a different file put in place by hand: the greeting three times over
    audio.write_wav_atomic(audio_dir / "greeting.wav", np.tile(shaped("greeting", text), 3))
    problems = check(catalog, audio_dir, ["greeting"])
    assert any("is not recorded version 2" in p for p in problems)
    assert any("recording" in p and "too long for its text" in p for p in problems)
    assert cli_main(args) == 1
    out = capsys.readouterr()
    assert "greeting: greeting.wav is not recorded version 2" in out.err


def test_cli_check_reports_coverage_and_what_to_record_next(prompts, capsys):
    catalog_path, audio_dir = prompts
    args = ["check", "--catalog", str(catalog_path), "--audio-dir", str(audio_dir)]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    total = coverage(audio_dir, set()).total_s
    assert f"voice coverage: 0% of a typical call's audio is a human voice (0.0 of {total:.1f} s)" in out
    longest = coverage(audio_dir, set()).missing()[0]
    assert f"record next: {longest[0]} ({longest[1]:.1f} s)" in out


# --- coverage --------------------------------------------------------------------------


def test_typical_call_is_what_the_flow_says_in_a_scheduled_answer():
    items = typical_call()
    ids = [i for i in items if isinstance(i, str)]
    assert ids[:3] == ["greeting", "nik/ask", "confirm/intro"]
    assert sum(i.startswith("digits/") for i in ids[:ids.index("confirm/ask")]) == 16  # the NIK read back
    assert "days/kamis" in ids and "months/desember" in ids and ids[-1] == "menu/after"
    assert len([i for i in items if not isinstance(i, str)]) == 2       # the place and the address


def test_coverage_weights_each_prompt_by_how_long_it_is_heard(prompts):
    _, audio_dir = prompts
    seconds = {pid: s for pid, s, _ in coverage(audio_dir, set()).items}
    none = coverage(audio_dir, set())
    digits = coverage(audio_dir, {f"digits/{d}" for d in range(10)})
    expected = sum(s for pid, s, _ in none.items if pid.startswith("digits/"))
    assert digits.human_s == pytest.approx(expected)
    assert digits.share == pytest.approx(expected / none.total_s)
    assert coverage(audio_dir, {"greeting"}).human_s == pytest.approx(seconds["greeting"])
    assert none.percent == 0
