"""The committed prompt audio, and the checker that guards it."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from ivr.dialogue.speak import ALL_WORD_IDS
from ivr.prompts import audio
from ivr.prompts.catalog import load_catalog, set_text
from ivr.prompts.check import check
from ivr.prompts.cli import main as cli_main
from ivr.prompts.cli import register

REPO = Path(__file__).resolve().parents[2]
CATALOG = REPO / "prompts" / "prompts.toml"
AUDIO = REPO / "prompts" / "audio"


def _write(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.to_pcm16(np.repeat(samples, channels)))


@pytest.fixture
def copy(tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the catalog and its audio, safe to damage."""
    catalog, audio_dir = tmp_path / "prompts.toml", tmp_path / "audio"
    shutil.copy(CATALOG, catalog)
    shutil.copytree(AUDIO, audio_dir)
    return catalog, audio_dir


def test_committed_audio_passes_check_for_every_catalog_id() -> None:
    catalog = load_catalog(CATALOG)
    problems = check(catalog, AUDIO, set(catalog.ids()) | ALL_WORD_IDS)
    assert problems == [], "\n".join(problems) + "\nrun: python -m ivr.prompts.cli build"


def test_committed_audio_is_8khz_mono_16bit_and_sized_like_it() -> None:
    catalog = load_catalog(CATALOG)
    for prompt_id in catalog.ids():
        path = AUDIO / f"{prompt_id}.wav"
        info = audio.inspect_wav(path)
        assert (info.rate, info.channels, info.sample_width) == (8000, 1, 2), prompt_id
        # 16 000 bytes per second of audio plus a 44-byte header: no stray chunks
        assert path.stat().st_size == 44 + info.frames * 2, prompt_id


def test_manifest_covers_catalog() -> None:
    manifest = json.loads((AUDIO / "manifest.json").read_text(encoding="utf-8"))
    assert set(load_catalog(CATALOG).ids()) <= set(manifest["prompts"])


def test_check_finds_missing_and_16khz_files(copy: tuple[Path, Path]) -> None:
    catalog_path, audio_dir = copy
    catalog = load_catalog(catalog_path)
    (audio_dir / "goodbye.wav").unlink()
    samples, _ = audio.read_wav(audio_dir / "digits/3.wav")
    _write(audio_dir / "digits/3.wav", audio.resample(samples, 8000, 16000), 16000)
    _write(audio_dir / "digits/4.wav", audio.read_wav(audio_dir / "digits/4.wav")[0], 8000, channels=2)
    problems = check(catalog, audio_dir, ["goodbye", "digits/3", "digits/4", "digits/5"])
    assert len(problems) == 3, problems
    assert any(p.startswith("goodbye: no audio file") for p in problems)
    assert any(p.startswith("digits/3:") and "16000 Hz" in p for p in problems)
    assert any(p.startswith("digits/4:") and "2 channel" in p for p in problems)


def test_check_finds_silent_clipped_garbage_and_unknown(copy: tuple[Path, Path]) -> None:
    catalog_path, audio_dir = copy
    catalog = load_catalog(catalog_path)
    _write(audio_dir / "goodbye.wav", np.zeros(40000, dtype=np.float32), 8000)
    _write(audio_dir / "greeting.wav", np.sign(np.sin(np.arange(160000) / 5.0)).astype(np.float32), 8000)
    (audio_dir / "digits/6.wav").write_bytes(b"not a wav at all")
    problems = check(catalog, audio_dir, ["goodbye", "greeting", "digits/6", "no/such"])
    assert any(p.startswith("goodbye: nearly silent") for p in problems), problems
    assert any(p.startswith("greeting: clipped") for p in problems), problems
    assert any(p.startswith("digits/6:") and "not a PCM WAV" in p for p in problems), problems
    assert "no/such: not in the catalog" in problems


def test_check_finds_empty_text_and_stale_audio(copy: tuple[Path, Path]) -> None:
    catalog_path, audio_dir = copy
    set_text(catalog_path, "goodbye", "")
    set_text(catalog_path, "menu/simple", "Tekan sembilan untuk mendengar lagi, atau tutup telepon.")
    problems = check(load_catalog(catalog_path), audio_dir, ["goodbye", "menu/simple", "silence/1"])
    assert problems == [
        "goodbye: empty text",
        "menu/simple: audio is older than its text; run `ivr prompts build`",
    ]


def test_cli_check_exit_codes(copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    catalog_path, audio_dir = copy
    args = ["check", "--catalog", str(catalog_path), "--audio-dir", str(audio_dir)]
    assert cli_main(args) == 0
    (audio_dir / "digits/9.wav").unlink()
    assert cli_main(args) == 1
    assert "digits/9: no audio file" in capsys.readouterr().err


def test_shaping_resamples_trims_and_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.signal", None)  # the service runs without scipy
    rate = 22050
    t = np.arange(int(rate * 1.0)) / rate
    tone = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    alias = (0.05 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)  # above 4 kHz: must not fold back
    padded = np.concatenate([np.zeros(rate), tone + alias, np.zeros(2 * rate)]).astype(np.float32)
    out = audio.shape_for_asterisk(padded, rate)
    assert 1.0 <= len(out) / audio.RATE <= 1.0 + audio.LEAD_S + audio.TAIL_S + 0.05  # 3 s of silence trimmed
    first_sound = int(np.nonzero(np.abs(out) > 0.01)[0][0])
    assert first_sound / audio.RATE == pytest.approx(audio.LEAD_S, abs=0.005)
    # speech from the very first sample still gets its lead of silence
    abrupt = audio.trim(np.concatenate([tone, np.zeros(rate)]).astype(np.float32), rate)
    assert np.all(abrupt[: int(audio.LEAD_S * rate) - 1] == 0) and abrupt[int(audio.LEAD_S * rate) + 5] != 0
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / audio.RATE)
    assert spectrum[np.argmin(abs(freqs - 2000))] < spectrum[np.argmin(abs(freqs - 440))] / 100  # 6 kHz would alias to 2 kHz
    rms_db = 20 * np.log10(np.sqrt(np.mean(out[int(0.1 * audio.RATE) : int(0.9 * audio.RATE)] ** 2)))
    assert rms_db == pytest.approx(audio.TARGET_ACTIVE_DBFS, abs=1.0)
    loud = audio.normalise(np.concatenate([np.full(800, 0.9), np.full(8000, 0.001)]).astype(np.float32), audio.RATE)
    assert float(np.abs(loud).max()) <= 10 ** (audio.PEAK_CEILING_DBFS / 20) + 1e-6  # peaks limited


def test_register_adds_prompts_commands(copy: tuple[Path, Path]) -> None:
    catalog_path, audio_dir = copy
    parser = argparse.ArgumentParser(prog="ivr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["prompts", "check", "--catalog", str(catalog_path), "--audio-dir", str(audio_dir)])
    assert args.func(args) == 0
    args = parser.parse_args(["prompts", "build", "--only", "goodbye", "greeting", "--force"])
    assert args.only == ["goodbye", "greeting"] and args.force
