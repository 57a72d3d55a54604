"""Band-limited resampling in numpy: a polyphase windowed-sinc filter.

The service converts audio to the telephone's 8 kHz in three places (rendered prompts,
a caller's test utterance in the fake Asterisk, recordings of other rates), and none of
them may need scipy, which only the ``train`` extra installs.  This is the one
resampler they share, so a fresh install and a development machine produce the same
samples.

The kernel is a Blackman-windowed sinc with 24 zero crossings, cut off a little below
the lower Nyquist frequency: the passband is flat to well past 3.4 kHz (the telephone
band) and what would alias is attenuated by more than 100 dB, better than scipy's
``resample_poly`` default.  For a rational ratio ``up/down`` the output positions fall
on only ``up`` distinct fractional offsets, so the kernel is tabulated once per offset
(the polyphase trick); the outputs of one offset are a strided view of the input times
one row of that table, so no trigonometry runs per sample and nothing is copied.  ``benchmarks/resample_bench.py`` prints its speed and stopband beside scipy's.
"""

from __future__ import annotations

from math import gcd

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ZERO_CROSSINGS = 24
CUTOFF = 0.92           # of the lower Nyquist frequency: room for the filter's transition band
BLOCK = 4096            # output samples per step on the odd-rate path: bounds its memory
MAX_TABLE = 2_000_000   # taps x phases; beyond it (odd rates) the kernel is computed per block


def _kernel(d: np.ndarray, cutoff: float, half: int) -> np.ndarray:
    """The windowed sinc at offsets ``d`` (in input samples) from an output position."""
    window = 0.42 + 0.5 * np.cos(np.pi * d / half) + 0.08 * np.cos(2 * np.pi * d / half)
    return 2 * cutoff * np.sinc(2 * cutoff * d) * np.where(np.abs(d) <= half, window, 0.0)


def resample(samples: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """``samples`` (1-D) at ``src_rate`` -> float32 at ``dst_rate``, ``floor(len * dst/src)`` long.

    Raises ValueError for a rate that is not a positive integer.
    """
    src_rate, dst_rate = int(src_rate), int(dst_rate)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive (got {src_rate} -> {dst_rate})")
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {samples.shape}")
    if src_rate == dst_rate:
        return samples.astype(np.float32)
    g = gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    ratio = dst_rate / src_rate
    scale = min(1.0, ratio)                     # downsampling: lower the cutoff, widen the kernel
    cutoff = 0.5 * scale * CUTOFF               # cycles per input sample
    half = int(np.ceil(ZERO_CROSSINGS / scale))
    taps = np.arange(-half + 1, half + 1)
    x = np.concatenate([np.zeros(half), samples.astype(np.float64), np.zeros(half + 1)])
    n_out = len(samples) * up // down
    out = np.empty(n_out, dtype=np.float32)
    if up * len(taps) <= MAX_TABLE:
        # Output n sits at input position n*down/up = base + phase/up, and the outputs
        # r, r+up, r+2*up, ... share one phase while their base advances by ``down``: each
        # such set is one strided view of the input's sliding windows times one kernel.
        table = _kernel(np.arange(up)[:, None] / up - taps[None, :], cutoff, half)
        windows = sliding_window_view(x, len(taps))      # windows[i] = x[i : i + taps]; no copy
        for r in range(min(up, n_out)):
            base, phase = divmod(r * down, up)
            count = (n_out - r + up - 1) // up
            out[r::up] = windows[base + 1: base + 2 + (count - 1) * down: down] @ table[phase]
        return out
    # odd rates (no small common divisor): the kernel is computed for each block of outputs
    for start in range(0, n_out, BLOCK):
        n = np.arange(start, min(n_out, start + BLOCK), dtype=np.int64)
        base, phase = np.divmod(n * down, up)
        idx = base[:, None] + taps[None, :]
        kernel = _kernel((phase / up)[:, None] - taps[None, :], cutoff, half)
        out[start:start + len(n)] = np.einsum("ij,ij->i", x[idx + half], kernel)
    return out
