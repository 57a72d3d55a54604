"""Human yes/no words for the benchmark, cut from the news subset's sentences.

The one-speaker news subset (``../shared/data/indsp-news-tts-subset``, CC BY-NC-SA
4.0, never copied into the repository) has the only human "tidak", "ya", "bukan",
"salah", "benar", "betul" we have, inside read sentences.  Each sentence is
force-aligned with the bundled acoustic model (its network run here in numpy from
``am/final.mdl``; CTC Viterbi over the sentence's phones, from the subset's own
lexicon) and the wanted word is cut out, with its boundaries set halfway into the
gaps to its neighbours.  The clips are written to a temporary folder only.

One voice: a figure from it is never a speaker-held-out result, and a model built
with the subset (``ivr model build`` takes it by default) has heard this speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.train import augment, corpus
from ivr.speech.train.features import mfcc

RATE = 8000
SUBSAMPLE = 3


@dataclass(frozen=True)
class _Layer:
    offsets: tuple[int, ...]       # frame offsets spliced into the input
    weight: np.ndarray
    bias: np.ndarray
    relu: bool


class Network:
    """The nnet3 text network of a bundled model (factorised TDNN: spliced linear
    and affine layers, ReLU, log-softmax), run on whole utterances. An ensemble model
    (members prefixed ``m0.``, ``m1.`` ..., see ``ivr.speech.ensemble``) gives the mean
    of its members' log-posteriors, as the decoder does."""

    def __init__(self, mdl: Path):
        text = mdl.read_text(encoding="ascii")
        nodes = re.findall(r"component-node name=(\S+) component=\S+ input=(.*)", text)
        comps = {}
        for m in re.finditer(r"<ComponentName> (\S+) <AffineComponent>.*?<LinearParams>\s*\[(.*?)\]\s*"
                             r"<BiasParams>\s*\[(.*?)\]", text, re.S):
            w = np.array([r.split() for r in m.group(2).strip().splitlines() if r.strip()], np.float32)
            comps[m.group(1)] = (w, np.array(m.group(3).split(), np.float32))
        members: dict[str, list[tuple[str, str]]] = {}
        for name, source in nodes:
            member = re.match(r"(m\d+)\.", name)
            members.setdefault(member.group(1) if member else "", []).append((name, source))
        self.members: list[list[_Layer]] = []
        for key, member_nodes in members.items():
            layers: list[_Layer] = []
            offsets: tuple[int, ...] = (0,)
            for name, source in member_nodes:
                if name not in comps:
                    continue
                found = tuple(int(o) for o in re.findall(r"Offset\([^,]+,\s*(-?\d+)\)", source))
                if "Append" in source:
                    offsets = tuple(sorted(set(found) | {0}))
                w, b = comps[name]
                base = name[len(key) + 1:] if key else name
                relu = not base.endswith(".linear") and not base.startswith("output")
                layers.append(_Layer(offsets, w, b, relu))
                offsets = (0,)
            self.members.append(layers)
        priors = re.search(r"<Priors>\s*\[(.*?)\]", text, re.S)
        self.priors = np.array(priors.group(1).split(), np.float32) if priors else None

    @staticmethod
    def _run(layers: list[_Layer], feats: np.ndarray) -> np.ndarray:
        x = feats.astype(np.float32)
        for layer in layers:
            if layer.offsets != (0,):
                n = len(x)
                idx = np.arange(n)
                x = np.concatenate([x[np.clip(idx + o, 0, n - 1)] for o in layer.offsets], axis=1)
            x = x @ layer.weight.T + layer.bias
            if layer.relu:
                x = np.maximum(x, 0.0)
        x = x - x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))

    def log_posteriors(self, feats: np.ndarray) -> np.ndarray:
        x = np.mean([self._run(layers, feats) for layers in self.members], axis=0)
        x = x - x.max(axis=1, keepdims=True)
        return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def ctc_align(logp: np.ndarray, labels: list[int], blank: int) -> list[tuple[int, int]]:
    """Viterbi CTC alignment: (first, last) output frame of each label."""
    ext = [blank]
    for lab in labels:
        ext += [lab, blank]
    t_max, s_max = len(logp), len(ext)
    score = np.full((t_max, s_max), -np.inf)
    back = np.zeros((t_max, s_max), np.int32)
    score[0, 0] = logp[0, ext[0]]
    if s_max > 1:
        score[0, 1] = logp[0, ext[1]]
    for t in range(1, t_max):
        prev = score[t - 1]
        for s in range(s_max):
            cands = [(prev[s], s)]
            if s >= 1:
                cands.append((prev[s - 1], s - 1))
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                cands.append((prev[s - 2], s - 2))
            best, arg = max(cands)
            score[t, s] = best + logp[t, ext[s]]
            back[t, s] = arg
    s = s_max - 1 if score[-1, s_max - 1] >= score[-1, s_max - 2] else s_max - 2
    path = [s]
    for t in range(t_max - 1, 0, -1):
        s = back[t, s]
        path.append(s)
    path.reverse()
    spans: list[list[int]] = [[-1, -1] for _ in labels]
    for t, s in enumerate(path):
        if s % 2 == 1:
            k = s // 2
            if spans[k][0] < 0:
                spans[k][0] = t
            spans[k][1] = t
    return [(a, b) for a, b in spans]


def cut_words(data_dir: Path, model_dir: Path, wanted: set[str], out: Path,
              limit_per_word: int | None = None) -> list[tuple[Path, str]]:
    """Clips of every ``wanted`` word in the subset, as (wav, word)."""
    net = Network(model_dir / "am" / "final.mdl")
    pdf = {p: i for i, p in enumerate(PHONES)}
    blank = pdf[SILENCE]
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[Path, str]] = []
    counts: dict[str, int] = {}
    for utt in corpus.load_news(data_dir):
        words = utt.text.split()
        if not set(words) & wanted:
            continue
        prons = utt.phones or tuple(corpus.LEXICON[w] for w in words)
        x, rate = corpus.load_audio(utt)
        y = augment.resample(x, rate, RATE)
        y = 0.3 * y / (np.max(np.abs(y)) + 1e-9)
        logp = net.log_posteriors(mfcc(y))[::SUBSAMPLE]
        labels = [pdf[p] for pron in prons for p in pron]
        if len(labels) * 2 + 1 > len(logp) * 2:
            continue
        spans = ctc_align(logp, labels, blank)
        starts, ends, k = [], [], 0
        for pron in prons:
            starts.append(spans[k][0])
            ends.append(spans[k + len(pron) - 1][1])
            k += len(pron)
        for i, w in enumerate(words):
            if w not in wanted or (limit_per_word and counts.get(w, 0) >= limit_per_word):
                continue
            lo = (ends[i - 1] + starts[i]) / 2 if i else max(0, starts[i] - 5)
            hi = (ends[i] + starts[i + 1]) / 2 if i + 1 < len(words) else min(len(logp), ends[i] + 5)
            a, b = int(lo * SUBSAMPLE * 80), int((hi + 1) * SUBSAMPLE * 80)
            clip = np.concatenate([np.zeros(int(0.25 * RATE)), y[a:b], np.zeros(int(0.25 * RATE))])
            path = out / f"{utt.uid}-{i:02d}-{w}.wav"
            sf.write(path, clip, RATE, subtype="PCM_16")
            rows.append((path, w))
            counts[w] = counts.get(w, 0) + 1
    return rows


def news_speaker_seen(model_dir: Path) -> bool:
    """Did this model's build include the news subset (``build_info.json``)?"""
    import json

    info = model_dir / "build_info.json"
    try:
        return bool(json.loads(info.read_text(encoding="utf-8")).get("news_dir"))
    except (OSError, ValueError):
        return False
