"""Rendering with espeak-ng through the worker process, and how failures are caught."""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import pytest

from ivr.prompts import audio, render
from tests import needs
from ivr.prompts.catalog import load_catalog, set_text
from ivr.prompts.cli import main as cli_main
from ivr.prompts.render import RenderError, build, dyn_id, ensure_spoken, spoken_form

needs_espeak = needs.espeak

SMALL = """\
[prompts]
"hello" = "Selamat pagi, apa kabar?"
"silence/short" = ""

[words]
"digits/1" = "satu"
"""

# A worker that reads its batch and writes nothing at all.
SILENT_WORKER = (sys.executable, "-c", "import sys; sys.stdin.read()")
# A worker that claims success for every job but writes no file.
LYING_WORKER = (
    sys.executable,
    "-c",
    "import json, sys\n"
    "for j in json.load(sys.stdin)['jobs']: print(json.dumps({'key': j['key'], 'ok': True}), flush=True)",
)
# A worker that returns a real but cut-off utterance (0.3 s of tone for any text).
CUT_OFF_WORKER = (
    sys.executable,
    "-c",
    "import json, math, struct, sys, wave\n"
    "for j in json.load(sys.stdin)['jobs']:\n"
    "    with wave.open(j['out'], 'wb') as w:\n"
    "        w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)\n"
    "        w.writeframes(b''.join(struct.pack('<h', int(8000 * math.sin(i / 8))) for i in range(6615)))\n"
    "    print(json.dumps({'key': j['key'], 'ok': True}), flush=True)",
)
# A worker that hangs without a word.
STUCK_WORKER = (sys.executable, "-c", "import sys, threading; sys.stdin.read(); threading.Event().wait()")


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    catalog = tmp_path / "prompts.toml"
    catalog.write_text(SMALL, encoding="utf-8")
    return catalog, tmp_path / "audio"


@needs_espeak
def test_build_renders_valid_8khz_wavs_then_skips_unchanged(small: tuple[Path, Path]) -> None:
    catalog, audio_dir = small
    report = build(catalog, audio_dir, progress=False)
    assert report.ok, report.failed
    assert sorted(report.rendered) == ["digits/1", "hello"]
    assert report.generated == ("silence/short",)
    hello = audio.inspect_wav(audio_dir / "hello.wav")
    assert (hello.rate, hello.channels, hello.sample_width) == (8000, 1, 2)
    assert 1.0 < hello.duration_s < 4.0  # 24 characters at a slow pace
    assert -6.0 < hello.peak_dbfs <= -0.9  # levelled, with headroom
    assert audio.inspect_wav(audio_dir / "silence/short.wav").duration_s == pytest.approx(0.4)

    again = build(catalog, audio_dir, progress=False)
    assert again.rendered == () and sorted(again.skipped) == ["digits/1", "hello", "silence/short"]

    set_text(catalog, "hello", "Selamat siang.")
    third = build(catalog, audio_dir, progress=False)
    assert third.rendered == ("hello",)
    assert audio.inspect_wav(audio_dir / "hello.wav").duration_s < hello.duration_s


@needs_espeak
def test_ensure_spoken_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Kantor Kelurahan Kramat Jati, Jl. Raya Bogor No. 12"
    first = ensure_spoken(text, tmp_path)
    assert first == dyn_id(text) and first.startswith("dyn/") and len(first) == 4 + 16
    path = tmp_path / f"{first}.wav"
    info = audio.inspect_wav(path)
    assert info.format_problem() is None and info.duration_s > 2.0
    # A second call must not render again: with a broken worker it still succeeds.
    monkeypatch.setattr(render, "WORKER_COMMAND", SILENT_WORKER)
    before = path.stat().st_mtime_ns
    assert ensure_spoken("  Kantor Kelurahan  Kramat Jati,\nJl. Raya Bogor No. 12 ", tmp_path) == first
    assert path.stat().st_mtime_ns == before


@needs_espeak
def test_ensure_spoken_concurrent_same_text(tmp_path: Path) -> None:
    results: list[str] = []
    errors: list[Exception] = []

    def speak() -> None:
        try:
            results.append(ensure_spoken("Balai Warga RW 03", tmp_path))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=speak) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(results)) == 1
    assert audio.inspect_wav(tmp_path / f"{results[0]}.wav").format_problem() is None
    assert [p.name for p in (tmp_path / "dyn").iterdir()] == [results[0].split("/")[1] + ".wav"]  # no temp files left


def test_dyn_id_is_stable_and_text_sensitive() -> None:
    assert dyn_id("Balai  Warga\tRW 03") == dyn_id("Balai Warga RW 03")
    assert dyn_id("Balai Warga RW 03") != dyn_id("Balai Warga RW 04")
    with pytest.raises(ValueError):
        dyn_id("   ")


def test_spoken_form_expands_address_abbreviations() -> None:
    assert spoken_form("Jl. Raya Bogor No. 12, RT 05/RW 03, Kel. Kramat Jati") == (
        "Jalan Raya Bogor Nomor 12, R T 05, R W 03, Kelurahan Kramat Jati"
    )


@pytest.mark.parametrize("worker", [SILENT_WORKER, LYING_WORKER], ids=["writes-nothing", "claims-ok-writes-nothing"])
def test_renderer_that_writes_nothing_is_detected(
    worker: tuple[str, ...], small: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", worker)
    catalog, audio_dir = small
    report = build(catalog, audio_dir, progress=False)
    assert not report.ok
    assert sorted(i for i, _ in report.failed) == ["digits/1", "hello"]
    assert all("retry:" in why for _, why in report.failed)  # tried twice
    assert not (audio_dir / "hello.wav").exists()
    with pytest.raises(RenderError):
        ensure_spoken("Balai Warga", tmp_path / "dyn-audio")
    assert not list((tmp_path / "dyn-audio").rglob("*.wav"))


def test_cut_off_speech_is_detected(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", CUT_OFF_WORKER)
    report = build(small[0], small[1], progress=False)
    assert dict(report.failed).keys() == {"hello"}  # 0.3 s cannot be a 24-character sentence
    assert "cut-off" in dict(report.failed)["hello"]
    assert report.rendered == ("digits/1",)  # ...but can be one short word


def test_stuck_renderer_is_killed(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", STUCK_WORKER)
    monkeypatch.setattr(render, "STALL_S", 0.3)
    report = build(small[0], small[1], only=["hello"], progress=False)
    assert [i for i, _ in report.failed] == ["hello"]
    assert "killed" in report.failed[0][1]


def test_missing_worker_program_is_reported(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", ("/nonexistent/tts-worker",))
    report = build(small[0], small[1], only=["hello", "nope"], progress=False)
    assert dict(report.failed)["nope"] == "not in the catalog"
    assert "cannot start the TTS worker" in dict(report.failed)["hello"]


def test_cli_build_fails_loudly(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", SILENT_WORKER)
    catalog, audio_dir = small
    code = cli_main(["build", "--quiet", "--catalog", str(catalog), "--audio-dir", str(audio_dir)])
    assert code == 1
    err = capsys.readouterr().err
    assert "FAILED hello" in err and "hello: no audio file" in err


def test_silences_need_no_tts(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "WORKER_COMMAND", SILENT_WORKER)
    report = build(small[0], small[1], only=["silence/short"], progress=False)
    assert report.ok and report.generated == ("silence/short",)
    info = audio.inspect_wav(small[1] / "silence/short.wav")
    assert info.frames == 3200 and info.peak_dbfs == float("-inf")
    assert load_catalog(small[0]).text("silence/short") == ""


def test_build_keeps_files_of_ids_still_in_catalog(small: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Failing renders must not delete the audio a prompt already had."""
    catalog, audio_dir = small
    audio.write_wav_atomic(audio_dir / "hello.wav", audio.silence(0.5) + 0.1)
    (audio_dir / "old").mkdir()
    shutil.copy(audio_dir / "hello.wav", audio_dir / "old" / "gone.wav")
    monkeypatch.setattr(render, "WORKER_COMMAND", SILENT_WORKER)
    report = build(catalog, audio_dir, force=True, progress=False)
    assert (audio_dir / "hello.wav").exists()
    assert report.orphans == ("old/gone",)
    assert (audio_dir / "old" / "gone.wav").exists()
