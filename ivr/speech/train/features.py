"""MFCC features computed exactly as Vosk will compute them from ``conf/mfcc.conf``.

One table of options feeds both the training features (kaldi-native-fbank) and the
``mfcc.conf`` written into the model, and every option is spelt out: the library's
defaults differ from Kaldi's (dither, energy, high frequency), and a silent
mismatch would cost accuracy without any error.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# Kaldi option name -> value.  8 kHz telephone band.
MFCC_OPTIONS: dict[str, float | int | bool | str] = {
    "sample-frequency": 8000,
    "frame-length": 25,
    "frame-shift": 10,
    "dither": 1.0,
    "preemphasis-coefficient": 0.97,
    "remove-dc-offset": True,
    "window-type": "povey",
    "round-to-power-of-two": True,
    "snip-edges": True,
    "num-mel-bins": 30,
    "low-freq": 60,
    "high-freq": 3700,
    "num-ceps": 30,
    "use-energy": False,
    "energy-floor": 0.0,
    "raw-energy": True,
    "cepstral-lifter": 22,
    "htk-compat": False,
}

FEAT_DIM = int(MFCC_OPTIONS["num-ceps"])


def mfcc_conf_text() -> str:
    def fmt(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v)
    return "".join(f"--{k}={fmt(v)}\n" for k, v in MFCC_OPTIONS.items())


def _options():
    import kaldi_native_fbank as knf

    o = MFCC_OPTIONS
    opts = knf.MfccOptions()
    fo = opts.frame_opts
    fo.samp_freq = float(o["sample-frequency"])
    fo.frame_length_ms = float(o["frame-length"])
    fo.frame_shift_ms = float(o["frame-shift"])
    fo.dither = float(o["dither"])
    fo.preemph_coeff = float(o["preemphasis-coefficient"])
    fo.remove_dc_offset = bool(o["remove-dc-offset"])
    fo.window_type = str(o["window-type"])
    fo.round_to_power_of_two = bool(o["round-to-power-of-two"])
    fo.snip_edges = bool(o["snip-edges"])
    mo = opts.mel_opts
    mo.num_bins = int(o["num-mel-bins"])
    mo.low_freq = float(o["low-freq"])
    mo.high_freq = float(o["high-freq"])
    opts.num_ceps = int(o["num-ceps"])
    opts.use_energy = bool(o["use-energy"])
    opts.energy_floor = float(o["energy-floor"])
    opts.raw_energy = bool(o["raw-energy"])
    opts.cepstral_lifter = float(o["cepstral-lifter"])
    opts.htk_compat = bool(o["htk-compat"])
    return opts


_OPTS = None


def mfcc(samples: np.ndarray) -> np.ndarray:
    """Features (frames x FEAT_DIM, float32) of an 8 kHz signal scaled to [-1, 1]."""
    import kaldi_native_fbank as knf

    global _OPTS
    if _OPTS is None:
        _OPTS = _options()
    comp = knf.OnlineMfcc(_OPTS)
    # Kaldi works on 16-bit sample values, not on [-1, 1] floats.
    comp.accept_waveform(float(MFCC_OPTIONS["sample-frequency"]), (samples * 32768.0).astype(np.float32).tolist())
    comp.input_finished()
    n = comp.num_frames_ready
    if n == 0:
        return np.zeros((0, FEAT_DIM), np.float32)
    return np.stack([np.asarray(comp.get_frame(i), np.float32) for i in range(n)])


# --- SpecAugment-style masking on the cepstra --------------------------------------------
# The cepstra are an invertible transform of the log mel energies here (as many cepstra
# as mel bins, no energy term): c = lifter * DCT(log mel).  So a band of mel bins can be
# masked exactly, in the domain where masking means "this part of the spectrum is gone"
# (a narrow handset, a notch, a codec's dropped band), and turned back into cepstra.

@lru_cache(maxsize=4)
def _dct_matrix(n: int) -> np.ndarray:
    """Kaldi's DCT-II (orthonormal): rows are cepstra, columns mel bins."""
    k = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    m = np.sqrt(2.0 / n) * np.cos(np.pi / n * (j + 0.5) * k)
    m[0] *= np.sqrt(0.5)
    return m


@lru_cache(maxsize=4)
def _lifter(n: int, q: float) -> np.ndarray:
    return 1.0 + 0.5 * q * np.sin(np.pi * np.arange(n) / q) if q else np.ones(n)


def to_log_mel(cep: np.ndarray) -> np.ndarray:
    """Log mel energies (frames x bins) behind cepstra (frames x cepstra); c = lift * (dct @ logmel)."""
    dim = cep.shape[1]
    return (cep / _lifter(dim, float(MFCC_OPTIONS["cepstral-lifter"]))) @ _dct_matrix(dim)


def from_log_mel(logmel: np.ndarray) -> np.ndarray:
    """The inverse of ``to_log_mel``."""
    dim = logmel.shape[1]
    return (logmel @ _dct_matrix(dim).T) * _lifter(dim, float(MFCC_OPTIONS["cepstral-lifter"]))


@dataclass(frozen=True)
class Masking:
    """How much of each training utterance SpecAugment hides (Park et al., 2019)."""

    freq_masks: int = 2
    freq_width: int = 4            # mel bins, at most, per mask (of 30)
    time_masks: int = 2
    time_width: int = 8            # frames (10 ms), at most, per mask...
    time_share: float = 0.1        # ...and never more than this share of the utterance


def spec_augment(feats: np.ndarray, rng: np.random.Generator, m: Masking = Masking()) -> np.ndarray:
    """A masked copy of ``feats`` (frames x cepstra).  Masked mel bands and frames take
    the utterance's own mean, so the mask adds no level the audio did not have."""
    n_frames, dim = feats.shape
    if n_frames == 0:
        return feats.copy()
    logmel = to_log_mel(feats.astype(np.float64))
    mean = logmel.mean(axis=0)
    for _ in range(m.freq_masks):
        w = int(rng.integers(0, m.freq_width + 1))
        if w:
            f0 = int(rng.integers(0, dim - w + 1))
            logmel[:, f0:f0 + w] = mean[f0:f0 + w]
    longest = min(m.time_width, int(m.time_share * n_frames))
    for _ in range(m.time_masks):
        w = int(rng.integers(0, longest + 1)) if longest > 0 else 0
        if w:
            t0 = int(rng.integers(0, n_frames - w + 1))
            logmel[t0:t0 + w] = mean
    return from_log_mel(logmel).astype(np.float32)
