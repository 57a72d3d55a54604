"""Audio shaping and inspection for Asterisk prompts (numpy, no TTS).

Asterisk plays ``.wav`` prompts as 8 kHz mono 16-bit PCM without transcoding.
espeak-ng speaks at 22 050 Hz, so every rendered file is resampled with an
anti-alias filter, trimmed, and brought to one loudness so prompts played back to
back do not jump in volume.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.resample import resample as _resample

RATE = 8000
SAMPLE_WIDTH = 2
TARGET_ACTIVE_DBFS = -20.0  # speech level: a little hotter than ITU P.56's -26 dBov, as IVRs usually are
PEAK_CEILING_DBFS = -1.0  # headroom for the u-law/A-law encoder after us
LEAD_S = 0.05  # silence kept before the first sound
TAIL_S = 0.12  # and after the last, so a prompt does not end abruptly
TRIM_GATE_DB = -35.0  # frames this far below the loudest frame count as silence when trimming


@dataclass(frozen=True)
class WavInfo:
    rate: int
    channels: int
    sample_width: int
    frames: int
    peak_dbfs: float  # -inf for digital silence
    clipped_fraction: float

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate if self.rate else 0.0

    def format_problem(self) -> str | None:
        """What is wrong with this file for Asterisk, or None."""
        if (self.rate, self.channels, self.sample_width) != (RATE, 1, SAMPLE_WIDTH):
            return (
                f"is {self.rate} Hz, {self.channels} channel(s), {self.sample_width * 8}-bit; "
                f"Asterisk needs {RATE} Hz mono 16-bit"
            )
        if self.frames == 0:
            return "has no audio frames"
        return None


def _dbfs(value: float) -> float:
    return 20.0 * math.log10(value) if value > 0 else float("-inf")


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32 mono in [-1, 1] and its sample rate."""
    with wave.open(os.fspath(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: {w.getsampwidth() * 8}-bit audio, expected 16-bit")
        rate, channels = w.getframerate(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def inspect_wav(path: str | os.PathLike[str]) -> WavInfo:
    """Header and level facts of a WAV file; raises ValueError when it is not PCM WAV."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            raw = w.readframes(frames)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a PCM WAV file ({exc})") from None
    if width == 2 and raw:
        data = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
        peak = int(np.abs(data.astype(np.int32)).max())
        clipped = float(np.count_nonzero(np.abs(data.astype(np.int32)) >= 32767)) / data.size
        peak_db = _dbfs(peak / 32768.0)
    else:
        peak_db, clipped = float("-inf"), 0.0
    return WavInfo(rate, channels, width, frames, peak_db, clipped)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int = RATE) -> np.ndarray:
    """Band-limited resampling: what would alias above the new Nyquist is filtered out
    (the numpy polyphase filter in ``ivr.resample``; scipy is not a dependency of the service)."""
    return _resample(samples, src_rate, dst_rate)


def _frame_levels(samples: np.ndarray, rate: int, frame_s: float = 0.01) -> np.ndarray:
    n = max(1, int(rate * frame_s))
    usable = len(samples) // n * n
    if usable == 0:
        return np.zeros(0, dtype=np.float32)
    frames = samples[:usable].reshape(-1, n)
    return np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))


def trim(samples: np.ndarray, rate: int) -> np.ndarray:
    """Cut leading and trailing silence to exactly LEAD_S / TAIL_S.

    espeak often starts speaking at the very first sample; the lead is padded back
    so a prompt never starts mid-sound (a click, and Asterisk may clip the start).
    """
    levels = _frame_levels(samples, rate)
    if levels.size == 0 or levels.max() <= 0:
        return samples
    gate = levels.max() * 10 ** (TRIM_GATE_DB / 20)
    loud = np.nonzero(levels > gate)[0]
    n = len(samples) // len(levels)
    # The first/last sample above a fixed floor inside the loud frames' span: frame
    # boundaries alone would keep up to 10 ms of extra silence.
    start, end = loud[0] * n, min(len(samples), (loud[-1] + 1) * n)
    floor = gate / 4
    above = np.nonzero(np.abs(samples[start:end]) > floor)[0]
    if above.size:
        start, end = start + above[0], start + above[-1] + 1
    lead, tail = int(LEAD_S * rate), int(TAIL_S * rate)
    head = samples[max(0, start - lead) : start]
    rear = samples[end : end + tail]
    return np.concatenate(
        [np.zeros(lead - len(head), dtype=np.float32), head, samples[start:end], rear, np.zeros(tail - len(rear), dtype=np.float32)]
    ).astype(np.float32)


def normalise(samples: np.ndarray, rate: int) -> np.ndarray:
    """Scale so active speech sits at TARGET_ACTIVE_DBFS without peaks above the ceiling."""
    levels = _frame_levels(samples, rate, 0.02)
    if levels.size == 0 or levels.max() <= 0:
        return samples
    active = levels[levels > levels.max() * 10 ** (-30 / 20)]  # frames within 30 dB of the loudest
    active_rms = float(np.sqrt(np.mean(active**2)))
    gain = 10 ** (TARGET_ACTIVE_DBFS / 20) / active_rms
    peak = float(np.abs(samples).max())
    ceiling = 10 ** (PEAK_CEILING_DBFS / 20)
    if peak * gain > ceiling:
        gain = ceiling / peak
    return (samples * gain).astype(np.float32)


def shape_for_asterisk(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample to 8 kHz, trim, normalise: the whole path from TTS output to a prompt."""
    # Trim at the source rate: resampling keeps the timing, and the filter's
    # ringing stays inside the kept lead and tail.
    return normalise(resample(trim(samples, rate), rate, RATE), RATE)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")).tobytes()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * RATE)), dtype=np.float32)


def tone(hz: float, seconds: float, dbfs: float = -9.0, fade_s: float = 0.01) -> np.ndarray:
    """A sine tone with short fades (no click at either end), at ``dbfs`` peak."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    wave_ = np.sin(2 * np.pi * hz * t) * 10 ** (dbfs / 20)
    ramp = min(int(fade_s * RATE), len(t) // 2)
    if ramp:
        envelope = np.linspace(0.0, 1.0, ramp)
        wave_[:ramp] *= envelope
        wave_[-ramp:] *= envelope[::-1]
    return wave_.astype(np.float32)


def write_json_atomic(path: Path, payload: dict) -> None:
    """Write a JSON file (the prompts manifest, the voice registry) via a temp file
    and rename, so a reader never sees half of it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    done = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        done = True
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)


def write_wav_atomic(path: Path, samples: np.ndarray, rate: int = RATE) -> int:
    """Write 16-bit mono PCM via a temp file and rename; returns the file size.

    The rename makes a half-written prompt impossible to play and lets two
    processes render the same prompt at once (the last complete file wins).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".wav.tmp", dir=path.parent)
    done = False
    try:
        with os.fdopen(fd, "wb") as fh, wave.open(fh, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(SAMPLE_WIDTH)
            w.setframerate(rate)
            w.writeframes(to_pcm16(samples))
        os.chmod(tmp, 0o644)  # Asterisk runs as another user and must read it
        os.replace(tmp, path)
        done = True
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
    return path.stat().st_size
