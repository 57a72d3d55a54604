"""Telephone-format audio helpers for the fake Asterisk (blocking: run off the loop).

Asterisk plays and records 8 kHz mono 16-bit WAV for us; these helpers check a
prompt file is exactly that, convert a caller's test utterance to it, and build
the tones and silences that make a saved call sound like a call.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.resample import resample

RATE = 8000

# Row and column frequencies of the DTMF keypad.
_DTMF = {
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


@dataclass(frozen=True)
class PromptAudio:
    """A prompt file as the fake found it: ``problem`` is "" when it is playable."""

    path: Path
    frames: int
    samples: np.ndarray | None
    problem: str = ""


def load_prompt(path: Path, keep_samples: bool) -> PromptAudio:
    """Read a prompt and check it is 8 kHz mono 16-bit PCM WAV."""
    if not path.is_file():
        return PromptAudio(path, 0, None, "missing")
    try:
        with wave.open(str(path), "rb") as w:
            params = w.getparams()
            if (params.nchannels, params.sampwidth, params.framerate) != (1, 2, RATE):
                return PromptAudio(path, 0, None,
                                   f"wrong format ({params.framerate} Hz, {params.nchannels} ch, "
                                   f"{8 * params.sampwidth} bit; need 8000 Hz mono 16 bit)")
            frames = params.nframes
            samples = np.frombuffer(w.readframes(frames), dtype="<i2").copy() if keep_samples else None
    except (wave.Error, EOFError, OSError) as exc:
        return PromptAudio(path, 0, None, f"unreadable WAV ({exc})")
    if frames == 0:
        return PromptAudio(path, 0, samples, "empty (no audio)")
    return PromptAudio(path, frames, samples)


def to_telephone(path: Path) -> np.ndarray:
    """Any WAV/FLAC/OGG file -> 8 kHz mono int16 samples (what a phone line carries)."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = resample(data.mean(axis=1), int(rate), RATE)
    return np.clip(np.round(mono * 32767), -32768, 32767).astype("<i2")


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())


def silence(ms: int) -> np.ndarray:
    return np.zeros(max(ms, 0) * RATE // 1000, dtype="<i2")


def dtmf(keys: str, tone_ms: int = 120, gap_ms: int = 80) -> np.ndarray:
    """The tones a keypad sends for ``keys`` (unknown characters are skipped)."""
    t = np.arange(tone_ms * RATE // 1000) / RATE
    parts = []
    for key in keys:
        if key in _DTMF:
            lo, hi = _DTMF[key]
            tone = 0.25 * (np.sin(2 * np.pi * lo * t) + np.sin(2 * np.pi * hi * t))
            parts.append((tone * 32767).astype("<i2"))
            parts.append(silence(gap_ms))
    return np.concatenate(parts) if parts else silence(0)
