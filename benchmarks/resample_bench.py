"""The service's numpy resampler beside scipy's ``resample_poly``: speed, passband and stopband.

    python benchmarks/resample_bench.py

For each source rate a caller's file or a TTS voice may have, to the telephone's 8 kHz:
milliseconds per second of audio (10 s of a tone mix, best of 5), the level of a
3.4 kHz tone (the top of the telephone band; 0 dB is untouched), and how loud tones at
4.4, 5 and 6 kHz come back as aliases (at 3.6, 3 and 2 kHz; the worst is shown).  scipy
comes with the ``train`` extra; without it only our figures are printed.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr.resample import resample  # noqa: E402

RATES = (11025, 16000, 22050, 44100, 48000)


def tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def level_db(x: np.ndarray, freq: float, rate: int = 8000) -> float:
    x = np.asarray(x, dtype=np.float64)[rate // 10: -rate // 10]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) * 4 / len(x)
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return 20 * np.log10(max(spectrum[np.abs(freqs - freq) <= 8].max(), 1e-12))


def figures(fn, src: int) -> tuple[float, float, float]:
    mix = tone(440, src, 10) + tone(2500, src, 10)
    best = min(_timed(fn, mix, src) for _ in range(5))
    passband = level_db(fn(tone(3400, src, 1), src), 3400) - 20 * np.log10(0.3)
    aliases = []
    if src > 8800:
        for freq, alias in ((4400, 3600), (5000, 3000), (6000, 2000)):
            aliases.append(level_db(fn(tone(freq, src, 1), src), alias) - 20 * np.log10(0.3))
    return best * 100, passband, max(aliases) if aliases else float("nan")   # ms per second of audio


def _timed(fn, x, src) -> float:
    t = time.perf_counter()
    fn(x, src)
    return time.perf_counter() - t


def ours(x, src):
    return resample(x, src, 8000)


def main() -> int:
    try:
        from scipy.signal import resample_poly
    except ImportError:
        resample_poly = None

    def theirs(x, src):
        f = Fraction(8000, src)
        return resample_poly(x, f.numerator, f.denominator)

    print(f"{'source Hz':>9} | {'ours ms/s':>9} {'3.4k dB':>8} {'alias dB':>9} | "
          f"{'scipy ms/s':>10} {'3.4k dB':>8} {'alias dB':>9}")
    for src in RATES:
        a = figures(ours, src)
        row = f"{src:>9} | {a[0]:>9.2f} {a[1]:>8.2f} {a[2]:>9.1f} | "
        if resample_poly is not None:
            b = figures(theirs, src)
            row += f"{b[0]:>10.2f} {b[1]:>8.2f} {b[2]:>9.1f}"
        else:
            row += "scipy not installed (pip install -e '.[train]')"
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
