"""MFCC features computed exactly as Vosk will compute them from ``conf/mfcc.conf``.

One table of options feeds both the training features (kaldi-native-fbank) and the
``mfcc.conf`` written into the model, and every option is spelt out: the library's
defaults differ from Kaldi's (dither, energy, high frequency), and a silent
mismatch would cost accuracy without any error.
"""

from __future__ import annotations

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
