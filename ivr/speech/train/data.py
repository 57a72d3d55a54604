"""Turn the utterance list into training examples: augmented audio -> features + labels.

Rendering runs in a small process pool; each worker takes a chunk of utterances,
so that GSM round trips can go through sox once per chunk and babble noise can be
mixed from the chunk's own clean audio.  Seeds are derived from the build seed
and the chunk number, so a build is reproducible for a given worker count.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from ivr.speech.lexicon import LEXICON, PHONES, SILENCE
from ivr.speech.train import augment
from ivr.speech.train.corpus import Utt, load_audio
from ivr.speech.train.features import mfcc

PDF = {p: i for i, p in enumerate(PHONES)}


@dataclass(frozen=True)
class Example:
    uid: str
    speaker: str
    feats: np.ndarray          # (T, F) float16
    labels: np.ndarray         # pdf ids of the state sequence
    skippable: np.ndarray      # optional (silence) states
    group: int = -1            # augmented copy number (human/extra); -1: used every epoch;
                               # CLEAN: the studio recording, only band-limited (CTC warm-up)


CLEAN = -2

# How synthetic speech is named (``corpus.Utt.uid``, then ``Example.uid``), by kind:
# the hotline's words and phrases (``corpus.synth_plan``) and the training voices
# reading the news subset's sentences (``corpus.sentence_plan``).  An epoch takes a
# share of each kind in turn (``trainer.epoch_examples``).
SYNTH_PREFIX = "syn"
SENTENCE_PREFIX = "sen"


@dataclass(frozen=True)
class Job:
    utt: Utt
    copy: int                  # 0 = first rendering; >0 adds speed perturbation; CLEAN: no channel


def label_sequence(text: str, phones: tuple[tuple[str, ...], ...] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Optional silence, then each word's phones with optional silence between.
    ``phones`` (one entry per word) spells words outside LEXICON."""
    words = text.split()
    if not words:
        return np.array([PDF[SILENCE]]), np.array([False])
    spelled = phones if len(phones) == len(words) else tuple(LEXICON[w] for w in words)
    labels, skip = [PDF[SILENCE]], [True]
    for pron in spelled:
        for p in pron:
            labels.append(PDF[p])
            skip.append(False)
        labels.append(PDF[SILENCE])
        skip.append(True)
    return np.array(labels), np.array(skip)


def _noise_only(rng: np.random.Generator, cfg: augment.Telephone) -> np.ndarray:
    n = int(rng.uniform(0.5, 3.0) * augment.RATE)
    if rng.random() < 0.1:
        return np.zeros(n, np.float32)
    x = augment._channel_filter(augment.make_noise(n, rng), rng)
    x *= 10 ** (rng.uniform(-65, -25) / 20) / (np.sqrt(np.mean(x ** 2)) + 1e-9)
    if rng.random() < 0.3:      # clicks and line pops
        for _ in range(int(rng.integers(1, 4))):
            i = int(rng.integers(n - 40))
            x[i:i + 40] += rng.uniform(-0.3, 0.3) * np.hanning(40)
    return np.clip(x, -1, 1).astype(np.float32)


def _clean(x: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """The recording as it is, at 8 kHz and a plausible level, with a little
    silence around it: what the network learns the digits from before it meets
    telephone channels."""
    y = augment.resample(x.astype(np.float32), rate, augment.RATE)
    y = y * (10 ** (rng.uniform(-30, -15) / 20) / (np.sqrt(np.mean(y ** 2)) + 1e-9))
    pad = [np.zeros(int(rng.uniform(0.05, 0.4) * augment.RATE), np.float32) for _ in range(2)]
    return np.clip(np.concatenate([pad[0], y, pad[1]]), -1, 1).astype(np.float32)


def _render_chunk(args: tuple[int, int, Sequence[Job], augment.Telephone]) -> list[Example]:
    seed, chunk_no, jobs, cfg = args
    rng = np.random.default_rng([seed, chunk_no])
    clean: list[tuple[np.ndarray, int] | None] = []
    for job in jobs:
        clean.append(None if job.utt.source == "noise" else load_audio(job.utt))
    babble = [augment.resample(a, r, augment.RATE) for a, r in (c for c in clean if c is not None)][:20]
    rendered: list[np.ndarray] = []
    want_gsm: list[int] = []
    for i, (job, audio) in enumerate(zip(jobs, clean)):
        if audio is None:
            y, gsm = _noise_only(rng, cfg), rng.random() < 0.3
        elif job.copy == CLEAN:
            y, gsm = _clean(*audio, rng), False
        else:
            x, rate = audio
            if job.copy > 0 or (job.utt.source == "synth" and rng.random() < 0.5):
                x = augment.speed(x, float(rng.uniform(0.85, 1.15)))
            y, gsm = augment.telephone(x, rate, rng, cfg, babble)
        rendered.append(y)
        if gsm:
            want_gsm.append(i)
    for i, y in zip(want_gsm, augment.gsm_batch([rendered[i] for i in want_gsm])):
        rendered[i] = y
    out = []
    for job, y in zip(jobs, rendered):
        feats = mfcc(y)
        labels, skip = label_sequence(job.utt.text, job.utt.phones)
        if (len(feats) + 2) // 3 < len(labels) - int(skip.sum()):
            continue                       # too short to hold its phones: a bad transcript
        out.append(Example(uid=f"{job.utt.uid}-{job.copy}", speaker=job.utt.speaker,
                           feats=feats.astype(np.float16), labels=labels, skippable=skip,
                           group=job.copy if job.utt.source in ("human", "extra") else -1))
    return out


def render(jobs: Sequence[Job], seed: int, workers: int, cfg: augment.Telephone,
           chunk: int = 64) -> Iterator[list[Example]]:
    """Yield rendered chunks (for a progress bar) in a stable order."""
    chunks = [(seed, n, list(jobs[i:i + chunk]), cfg) for n, i in enumerate(range(0, len(jobs), chunk))]
    if workers <= 1:
        for c in chunks:
            yield _render_chunk(c)
        return
    ctx = mp.get_context("fork")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(_render_chunk, chunks)
