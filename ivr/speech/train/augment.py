"""Make clean recordings sound like callers on a telephone line.

Each augmented copy draws its own speaker warp (speed perturbation, which moves
formants and pitch like a different vocal tract), room (synthetic reverberation),
background (noise at 5..30 dB SNR), handset and line (band-pass, spectral tilt and
peaks), level (gain and drift) and codec (G.711 mu-law / A-law done here, GSM
through sox in one batch).  Everything ends at 8 kHz, 16-bit, as Asterisk records.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import signal

RATE = 8000


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return x
    frac = Fraction(rate_out, rate_in).limit_denominator(1000)
    return signal.resample_poly(x, frac.numerator, frac.denominator).astype(np.float32)


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (Kaldi-style speed perturbation)."""
    if abs(factor - 1.0) < 1e-3:
        return x
    frac = Fraction(1.0 / factor).limit_denominator(40)
    return signal.resample_poly(x, frac.numerator, frac.denominator).astype(np.float32)


def _coloured_noise(n: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    white = rng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.arange(len(spec), dtype=np.float64) + 1.0
    slope = {"pink": 0.5, "brown": 1.0, "blue": -0.5}[kind]
    out = np.fft.irfft(spec / f ** slope, n)
    return out.astype(np.float32)


def _hum(n: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / RATE
    base = rng.choice([50.0, 60.0])
    out = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * math.pi * base * k * t + rng.uniform(0, 6.3))
              for k in range(1, 8))
    return (out + 0.05 * rng.standard_normal(n)).astype(np.float32)


def make_noise(n: int, rng: np.random.Generator, babble: list[np.ndarray] | None = None) -> np.ndarray:
    """One background: coloured noise, mains hum or babble (other utterances mixed)."""
    kinds = ["white", "pink", "brown", "blue", "hum"] + (["babble"] * 2 if babble else [])
    kind = str(rng.choice(kinds))
    if kind == "hum":
        return _hum(n, rng)
    if kind == "babble" and babble:
        out = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(3, 7))):
            src = babble[int(rng.integers(len(babble)))]
            if len(src) == 0:
                continue
            reps = np.tile(src, n // len(src) + 2)
            off = int(rng.integers(len(src)))
            out += reps[off:off + n] / (np.std(src) + 1e-6)
        return out
    noise = _coloured_noise(n, rng, kind)
    if rng.random() < 0.3:           # fluctuating level: passing traffic, wind
        env = signal.resample(rng.uniform(0.3, 1.0, 8), n)
        noise *= np.clip(env, 0.1, None).astype(np.float32)
    return noise


def _rir(rng: np.random.Generator) -> np.ndarray:
    rt60 = rng.uniform(0.15, 0.6)
    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[0] = 0.0
    rir = np.concatenate([[1.0], np.zeros(int(rng.integers(0, 40))), tail * rng.uniform(0.1, 0.5)])
    return (rir / np.sqrt(np.sum(rir ** 2))).astype(np.float32)


def _channel_filter(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo = rng.uniform(150, 450)
    hi = rng.uniform(2800, 3700)
    sos = signal.butter(int(rng.integers(2, 6)), [lo, hi], btype="band", fs=RATE, output="sos")
    y = signal.sosfilt(sos, x)
    for _ in range(int(rng.integers(0, 3))):   # handset resonances and dips
        f0 = rng.uniform(400, 3000)
        b, a = signal.iirpeak(f0, rng.uniform(1.0, 4.0), fs=RATE)
        y = y + rng.uniform(-0.5, 0.8) * signal.lfilter(b, a, y)
    if rng.random() < 0.5:                     # spectral tilt: first-order pre/de-emphasis
        c = rng.uniform(-0.6, 0.6)
        y = signal.lfilter([1.0, -c], [1.0], y) if c > 0 else signal.lfilter([1.0], [1.0, c], y)
    return y.astype(np.float32)


def mulaw(x: np.ndarray) -> np.ndarray:
    """G.711 mu-law round trip (8-bit companding) on a float signal in [-1, 1]."""
    mu = 255.0
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def alaw(x: np.ndarray) -> np.ndarray:
    a = 87.6
    ax = np.abs(x)
    y = np.where(ax < 1 / a, a * ax / (1 + math.log(a)), (1 + np.log(np.maximum(a * ax, 1e-12))) / (1 + math.log(a)))
    y = np.round(y * 127) / 127
    out = np.where(y < 1 / (1 + math.log(a)), y * (1 + math.log(a)) / a, np.exp(y * (1 + math.log(a)) - 1) / a)
    return (np.sign(x) * out).astype(np.float32)


@dataclass(frozen=True)
class Telephone:
    """Augmentation strengths; ``clean`` keeps only band-limiting and level."""

    snr_db: tuple[float, float] = (5.0, 30.0)
    noise_prob: float = 0.85
    reverb_prob: float = 0.25
    codec_probs: tuple[float, float, float, float] = (0.2, 0.3, 0.2, 0.3)   # none, mu, A, gsm


def telephone(x: np.ndarray, rate: int, rng: np.random.Generator, cfg: Telephone,
              babble: list[np.ndarray] | None = None, lead_s: tuple[float, float] = (0.1, 0.6)) -> tuple[np.ndarray, bool]:
    """Return (8 kHz float signal in [-1, 1], wants_gsm).  GSM is applied later in a batch."""
    y = resample(x.astype(np.float32), rate, RATE)
    y = y / (np.max(np.abs(y)) + 1e-9)
    # Pad with a little "nothing" so silence before and after speech is modelled.
    pad = [np.zeros(int(rng.uniform(*lead_s) * RATE), np.float32) for _ in range(2)]
    y = np.concatenate([pad[0], y, pad[1]])
    if rng.random() < cfg.reverb_prob:
        y = signal.fftconvolve(y, _rir(rng))[: len(y)].astype(np.float32)
    y = _channel_filter(y, rng)
    speech_rms = np.sqrt(np.mean(y ** 2)) + 1e-9
    if rng.random() < cfg.noise_prob:
        noise = _channel_filter(make_noise(len(y), rng, babble), rng)
        snr = rng.uniform(*cfg.snr_db)
        noise *= speech_rms / (np.sqrt(np.mean(noise ** 2)) + 1e-9) / (10 ** (snr / 20))
        y = y + noise
    level_db = rng.uniform(-38, -12)
    y = y * (10 ** (level_db / 20) / (np.sqrt(np.mean(y ** 2)) + 1e-9))
    if rng.random() < 0.3:                                 # slow level drift (AGC, moving handset)
        y = y * np.linspace(1.0, 10 ** (rng.uniform(-6, 6) / 20), len(y), dtype=np.float32)
    if rng.random() < 0.05:                                # overdriven line
        y = np.clip(y * rng.uniform(2, 6), -0.5, 0.5)
    y = np.clip(y, -1.0, 1.0)
    codec = int(rng.choice(4, p=np.asarray(cfg.codec_probs) / sum(cfg.codec_probs)))
    if codec == 1:
        y = mulaw(y)
    elif codec == 2:
        y = alaw(y)
    return y.astype(np.float32), codec == 3


def gsm_batch(signals: list[np.ndarray]) -> list[np.ndarray]:
    """GSM 06.10 round trip of many 8 kHz signals through one sox pair.

    Each signal is padded to whole 160-sample GSM frames so that the pieces can be cut
    apart again exactly after the round trip.
    """
    if not signals:
        return []
    frame = 160
    pieces, lengths = [], []
    for s in signals:
        n = int(math.ceil(len(s) / frame)) * frame + frame
        buf = np.zeros(n, np.float32)
        buf[: len(s)] = s
        pieces.append(buf)
        lengths.append(len(s))
    raw = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2").tobytes()
    with tempfile.TemporaryDirectory() as tmp:
        src, gsm, dst = (Path(tmp) / n for n in ("in.raw", "mid.gsm", "out.raw"))
        src.write_bytes(raw)
        fmt = ["-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1"]
        subprocess.run(["sox", *fmt, str(src), "-t", "gsm", str(gsm)], check=True, capture_output=True)
        subprocess.run(["sox", "-t", "gsm", str(gsm), *fmt, str(dst)], check=True, capture_output=True)
        out = np.frombuffer(dst.read_bytes(), "<i2").astype(np.float32) / 32768
    result, pos = [], 0
    for piece, n in zip(pieces, lengths):
        result.append(out[pos:pos + n] if pos + n <= len(out) else np.pad(out[pos:], (0, max(0, pos + n - len(out)))))
        pos += len(piece)
    return result
