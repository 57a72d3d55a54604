"""The numpy resampler the service uses instead of scipy: a tone keeps its frequency
and level, nothing above the new Nyquist folds back, and a caller's test utterance of
any rate and layout becomes 8 kHz mono without scipy installed."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pytest
import soundfile as sf

from ivr.resample import resample
from ivr.telephony import audio
from tests.needs import TRAIN_EXTRA

RATES = (11025, 16000, 22050, 44100, 48000)


def tone(freq: float, rate: int, seconds: float = 1.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def level_db(x: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude (dBFS of a sine) at ``freq``, measured with a Hann window away from the edges."""
    x = np.asarray(x, dtype=np.float64)[rate // 10: -rate // 10]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) * 4 / len(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    near = np.abs(freqs - freq) <= 8
    return 20 * np.log10(max(spectrum[near].max(), 1e-12))


@pytest.mark.parametrize("src", RATES)
def test_tones_in_the_telephone_band_survive(src):
    # flat across the telephone band (300-3400 Hz): the filter only starts to roll off at its top edge
    for freq, tolerance in ((300.0, 0.05), (1000.0, 0.05), (3000.0, 0.05), (3400.0, 0.3)):
        out = resample(tone(freq, src), src, 8000)
        assert len(out) == 8000
        assert level_db(out, 8000, freq) == pytest.approx(20 * np.log10(0.3), abs=tolerance), freq


@pytest.mark.parametrize("src", [r for r in RATES if r > 8000 * 1.2])
def test_nothing_above_4_khz_folds_back(src):
    # 6 kHz would alias to 2 kHz, 5 kHz to 3 kHz, 4.4 kHz to 3.6 kHz (scipy's resample_poly
    # lets that one through at -23 dB; see benchmarks/resample_bench.py)
    for freq, alias in ((6000.0, 2000.0), (5000.0, 3000.0), (4400.0, 3600.0)):
        out = resample(tone(1000, src) + tone(freq, src), src, 8000)
        assert level_db(out, 8000, alias) - level_db(out, 8000, 1000) < -75, (freq, alias)


def test_upsampling_and_identity():
    up = resample(tone(1000, 8000), 8000, 16000)
    assert len(up) == 16000 and level_db(up, 16000, 1000) == pytest.approx(20 * np.log10(0.3), abs=0.1)
    assert level_db(up, 16000, 7000) - level_db(up, 16000, 1000) < -80       # no image of 1 kHz at 7 kHz
    same = resample(np.arange(5, dtype=np.int16), 8000, 8000)
    assert same.dtype == np.float32 and same.tolist() == [0, 1, 2, 3, 4]


def test_odd_rates_without_a_small_common_divisor():
    out = resample(tone(1000, 44101, 0.5) + tone(6000, 44101, 0.5), 44101, 8000)
    assert len(out) == 44101 // 2 * 8000 // 44101
    assert level_db(out, 8000, 2000) - level_db(out, 8000, 1000) < -80


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="positive"):
        resample(np.zeros(10), 0, 8000)
    with pytest.raises(ValueError, match="mono"):
        resample(np.zeros((10, 2)), 16000, 8000)
    assert len(resample(np.zeros(0), 16000, 8000)) == 0


@pytest.mark.train
def test_matches_scipy_resample_poly_when_the_train_extra_is_installed():
    signal = pytest.importorskip("scipy.signal", reason=TRAIN_EXTRA)
    rng = np.random.default_rng(7)
    for src in (16000, 22050, 44100):
        x = tone(440, src) + tone(2500, src, amp=0.2) + 0.01 * rng.standard_normal(src).astype(np.float32)
        from fractions import Fraction

        f = Fraction(8000, src)
        ref = signal.resample_poly(x, f.numerator, f.denominator)
        ours = resample(x, src, 8000)
        assert len(ours) == len(ref)
        inner = slice(200, -200)     # the two filters differ most at the edges (different padding)
        err = np.sqrt(np.mean((ours[inner] - ref[inner]) ** 2)) / np.sqrt(np.mean(ref[inner] ** 2))
        assert err < 0.01, (src, err)    # within -40 dB of each other in the passband


def test_caller_audio_of_any_rate_and_layout_becomes_8_khz_mono_without_scipy(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.signal", None)
    stereo = np.stack([tone(1000, 44100) + tone(6000, 44100), tone(1000, 44100) + tone(6000, 44100)], axis=1)
    sf.write(tmp_path / "a.flac", stereo, 44100, subtype="PCM_16")
    with wave.open(str(tmp_path / "b.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((tone(1000, 16000) * 32767).astype("<i2").tobytes())
    for name in ("a.flac", "b.wav"):
        out = audio.to_telephone(tmp_path / name)
        assert out.dtype == np.dtype("<i2") and len(out) == 8000, name
        x = out.astype(np.float64) / 32767
        assert level_db(x, 8000, 1000) == pytest.approx(20 * np.log10(0.3), abs=0.2), name
        assert level_db(x, 8000, 2000) - level_db(x, 8000, 1000) < -60, name    # 6 kHz did not fold to 2 kHz
