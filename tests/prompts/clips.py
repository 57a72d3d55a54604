"""Test clips made at test time (no audio binaries in the repository): real speech taken
from the rendered prompts, resampled to a microphone's 48 kHz and encoded in each format
an administrator may upload, plus the faulty clips the service must refuse."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ivr.prompts import audio

REPO = Path(__file__).resolve().parents[2]
AUDIO = REPO / "prompts" / "audio"
MIC_RATE = 48_000
# (container, codec, file suffix) as browsers and phones produce them
FORMATS = {
    "wav": ("wav", "pcm_s16le", ".wav"),
    "mp3": ("mp3", "libmp3lame", ".mp3"),
    "ogg": ("ogg", "libopus", ".ogg"),
    "m4a": ("ipod", "aac", ".m4a"),
    "webm": ("webm", "libopus", ".webm"),
}


def speech(prompt_id: str = "greeting", rate: int = MIC_RATE, *, lead_s: float = 0.6, tail_s: float = 0.8,
           noise_dbfs: float = -65.0, seed: int = 1) -> np.ndarray:
    """A rendered prompt as if said into a microphone: 48 kHz, room noise, silence around it."""
    samples, src = audio.read_wav(AUDIO / f"{prompt_id}.wav")
    x = audio.resample(samples, src, rate) * 0.5
    x = np.concatenate([np.zeros(int(lead_s * rate)), x, np.zeros(int(tail_s * rate))]).astype(np.float32)
    rng = np.random.default_rng(seed)
    return (x + rng.normal(0, 10 ** (noise_dbfs / 20), x.size)).astype(np.float32)


def encode(samples: np.ndarray, fmt: str, rate: int = MIC_RATE, bit_rate: int | None = None) -> bytes:
    """Encode float mono samples as ``fmt`` (a key of FORMATS) with PyAV."""
    import av

    container, codec, _ = FORMATS[fmt]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if bit_rate:
            stream.bit_rate = bit_rate
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=rate)
        frame_len = 960
        pts = 0
        for start in range(0, len(samples), frame_len):
            block = np.ascontiguousarray(samples[start:start + frame_len], dtype=np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = pts
            pts += block.shape[1]
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    out.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def clipped(prompt_id: str = "greeting") -> np.ndarray:
    """Speech recorded far too hot: the waveform flattens at full scale."""
    return np.clip(speech(prompt_id) * 12.0, -1.0, 1.0).astype(np.float32)


def silent(seconds: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(2)
    return rng.normal(0, 10 ** (-75 / 20), int(seconds * MIC_RATE)).astype(np.float32)


def quiet(prompt_id: str = "greeting") -> np.ndarray:
    """Speech from across the room: audible peaks, but far below a usable level."""
    return (speech(prompt_id, noise_dbfs=-90) * 0.012).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = MIC_RATE) -> Path:
    path.write_bytes(encode(samples, "wav", rate))
    return path
