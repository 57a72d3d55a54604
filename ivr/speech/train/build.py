"""``ivr model build``: the whole pipeline from recordings to a Vosk model directory.

Stages: collect utterances (human set, synthetic espeak-ng speech, noise-only
clips, extra manifests) -> render clean and augmented telephone audio and
features -> CTC training (warm-up on the clean copies) -> damped state priors ->
export (final.mdl, confs, lexicon, graph) -> self-check (Vosk loads the directory
and decodes a known utterance).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.train import augment, corpus
from ivr.speech.train.data import CLEAN, SENTENCE_PREFIX, SYNTH_PREFIX, Example, Job, render
from ivr.speech.train.features import Masking


@dataclass(frozen=True)
class BuildOptions:
    out: Path
    human_dir: Path | None = None          # None: build without the licensed human set
    extra_manifests: tuple[Path, ...] = ()
    news_dir: Path | None = None           # the one-speaker news subset (human yes/no words)
    holdout: bool = True                   # keep corpus.HELDOUT_HUMAN out of training
    mini: bool = False
    human_copies: int = 4
    synth_count: int = 4000
    synth_sentences: int = 0               # training voices reading the news subset's words (needs news_dir)
    sentence_share: int = 1                # each epoch trains on 1/N of those sentences (1: all, as s3)
    noise_count: int = 240
    epochs: int = 50
    hidden: int = 256
    bottleneck: int = 64
    layers: int = 5
    workers: int = 2
    seed: int = 1
    unk_cost: float = 2.0
    objective: str = "ctc"                 # "ctc" or "viterbi" (see trainer.TrainConfig)
    clean_copy: bool = True                # also render each human/extra utterance clean
    warmup: int = 8                        # first epochs on the clean copies only
    prior_scale: float = 0.6               # decode with posterior / prior**scale (0: plain posteriors)
    spec_augment: str = "off"              # SpecAugment after the warm-up: off, bands, or bands+frames
    cache: Path | None = None              # keep rendered features here (experiments)
    checkpoints: bool = True               # export the model after every epoch
    command: str = field(default="")


# What ``--spec-augment`` hides of each training utterance (features.Masking).
MASKINGS: dict[str, Masking | None] = {
    "off": None,
    "bands": Masking(time_masks=0),        # mel bands only: a handset or codec that loses a band
    "bands+frames": Masking(),             # and short stretches of time
}


def collect(opts: BuildOptions, rng: np.random.Generator) -> tuple[list[Job], dict[str, int]]:
    jobs: list[Job] = []
    counts: dict[str, int] = {}
    if opts.human_dir is not None:
        human = [u for u in corpus.load_human(opts.human_dir)
                 if not (opts.holdout and u.speaker in corpus.HELDOUT_HUMAN)]
        if opts.mini:
            speakers = sorted({u.speaker for u in human})[:2]
            human = [u for u in human if u.speaker in speakers][:24]
        jobs += [Job(u, c) for u in human for c in range(opts.human_copies)]
        if opts.clean_copy:
            jobs += [Job(u, CLEAN) for u in human]
        counts["human_utterances"] = len(human)
        counts["human_speakers"] = len({u.speaker for u in human})
    if opts.news_dir is not None:
        # One voice, but the only human "tidak", "ya", "bukan", "salah" we have, and
        # many phone contexts for the garbage paths; rendered like the human set.
        news = corpus.load_news(opts.news_dir)
        if opts.mini:
            news = news[:8]
        jobs += [Job(u, c) for u in news for c in range(opts.human_copies)]
        if opts.clean_copy:
            jobs += [Job(u, CLEAN) for u in news]
        counts["news_utterances"] = len(news)
    extra = [u for m in opts.extra_manifests for u in corpus.load_manifest(m)]
    jobs += [Job(u, c) for u in extra for c in range(max(1, opts.human_copies // 2))]
    if opts.clean_copy:
        jobs += [Job(u, CLEAN) for u in extra]
    counts["extra_utterances"] = len(extra)
    synth = corpus.synth_plan(rng, corpus.TRAIN_VOICES, opts.synth_count, SYNTH_PREFIX)
    jobs += [Job(u, 0) for u in synth]
    counts["synth_utterances"] = len(synth)
    if opts.synth_sentences and opts.news_dir is not None:
        # Drawn after the other synthetic speech, so a build without them is unchanged.
        sentences = corpus.sentence_plan(rng, corpus.TRAIN_VOICES, opts.synth_sentences, opts.news_dir,
                                           SENTENCE_PREFIX)
        jobs += [Job(u, 0) for u in sentences]
        counts["synth_sentences"] = len(sentences)
    noise = [corpus.Utt(uid=f"noise{i:04d}", speaker="noise", text="", source="noise")
             for i in range(opts.noise_count)]
    jobs += [Job(u, 0) for u in noise]
    counts["noise_clips"] = len(noise)
    return jobs, counts


def self_check(model_dir: Path, strict: bool) -> str:
    """Decode a held-out synthetic voice saying three digits with the new model."""
    import soundfile as sf

    from ivr.speech.recognizer import VoskRecognizer

    audio, rate = corpus.espeak("satu dua tiga", corpus.HELDOUT_VOICES[0], 150, 50)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "check.wav"
        sf.write(wav, augment.resample(audio, rate, 8000), 8000, subtype="PCM_16")
        rec = VoskRecognizer(model_dir, grammars_dir=None)
        got = rec.recognize(wav, "digits")
    print(f"self-check: expected 'satu dua tiga', decoded {got.text!r} (confidence {got.confidence:.2f})")
    if strict and got.text != "satu dua tiga":
        raise RuntimeError(f"self-check failed: decoded {got.text!r}")
    return got.text


def _export(net, examples: list[Example], opts: BuildOptions, limit: int) -> None:
    from ivr.speech.train.export import write_model
    from ivr.speech.train.trainer import estimate_priors

    if opts.prior_scale > 0:
        # A CTC network puts most frames on the blank (about 0.84 of them here), so
        # plain posteriors make every word pay for leaving it and digits go missing.
        # Dividing by a damped prior fixes most deletions: on the held-out speakers,
        # scales 0, 0.3, 0.6, 0.8 and 1.0 gave 69, 81, 83, 79 and 77% word accuracy on
        # telephone strings (MODEL_CARD.md).
        priors = estimate_priors(net, examples, len(PHONES), limit=limit)
        priors = np.maximum(priors, 1e-4) ** opts.prior_scale
        priors = priors / priors.sum()
    else:
        priors = np.full(len(PHONES), 1.0 / len(PHONES))
    # Write beside the target, then swap the parts in: the target (perhaps the
    # bundled model, with its MODEL_CARD.md) is never left half written for long.
    staging = opts.out.parent / f".{opts.out.name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    write_model(net, priors, staging, unk_cost=opts.unk_cost,
                blank_phone=SILENCE if opts.objective == "ctc" else None)
    opts.out.mkdir(parents=True, exist_ok=True)
    for sub in ("am", "conf", "graph"):
        shutil.rmtree(opts.out / sub, ignore_errors=True)
        shutil.move(str(staging / sub), str(opts.out / sub))
    shutil.rmtree(staging, ignore_errors=True)


def build(opts: BuildOptions) -> Path:
    from ivr.speech.train.features import FEAT_DIM
    from ivr.speech.train.trainer import TrainConfig, train

    t0 = time.time()
    rng = np.random.default_rng(opts.seed)
    print("[1/5] collecting utterances", flush=True)
    jobs, counts = collect(opts, rng)
    print("      " + ", ".join(f"{k}={v}" for k, v in counts.items()), flush=True)
    print("[2/5] rendering telephone audio and features", flush=True)
    examples = load_or_render(jobs, opts.seed, opts.workers, opts.cache)
    hours = sum(len(e.feats) for e in examples) / 360000
    print(f"      {len(examples)} examples, {hours:.2f} h of audio", flush=True)
    print("[3/5] training", flush=True)
    cfg = TrainConfig(epochs=opts.epochs, hidden=opts.hidden, bottleneck=opts.bottleneck,
                      layers=opts.layers, threads=max(1, min(2, os.cpu_count() or 1)), seed=opts.seed,
                      objective=opts.objective, blank=PHONES.index(SILENCE), warmup=opts.warmup,
                      masking=MASKINGS[opts.spec_augment], sentence_share=opts.sentence_share)

    def checkpoint(net, epoch: int) -> None:
        if opts.checkpoints and not opts.mini:
            _export(net, examples, opts, limit=300)
            print(f"      checkpoint after epoch {epoch} written to {opts.out}", flush=True)

    net = train(examples, len(PHONES), cfg, FEAT_DIM, on_epoch=checkpoint)
    print("[4/5] priors and export", flush=True)
    _export(net, examples, opts, limit=200 if opts.mini else 1500)
    info = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()}
    info["extra_manifests"] = [str(p) for p in opts.extra_manifests]
    info.update(counts=counts, examples=len(examples), audio_hours=round(hours, 2),
                build_minutes=round((time.time() - t0) / 60, 1), with_human=opts.human_dir is not None,
                heldout_human=list(corpus.HELDOUT_HUMAN) if opts.holdout else [],
                heldout_voices=list(corpus.HELDOUT_VOICES))
    (opts.out / "build_info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    print("[5/5] self-check", flush=True)
    self_check(opts.out, strict=not opts.mini)
    print(f"model written to {opts.out} in {(time.time() - t0) / 60:.1f} min", file=sys.stderr)
    return opts.out


def render_key(jobs: list[Job], seed: int) -> str:
    """What a render cache was made from: the seed and every job (utterance and copy)."""
    h = hashlib.sha256(repr(seed).encode())
    for job in jobs:
        h.update(repr((job.utt, job.copy)).encode())
    return h.hexdigest()


def load_or_render(jobs: list[Job], seed: int, workers: int, cache: Path | None) -> list[Example]:
    """Render the jobs' audio and features, or load them from ``cache`` when it was made
    from the same jobs and seed (another collection, e.g. ``--no-holdout``, renders anew
    and replaces it)."""
    key = render_key(jobs, seed)
    if cache is not None and cache.is_file():
        with cache.open("rb") as f:
            kept = pickle.load(f)
        if isinstance(kept, dict) and kept.get("key") == key:
            print(f"      loaded {len(kept['examples'])} rendered examples from {cache}", flush=True)
            return kept["examples"]
        print(f"      {cache} was rendered from other utterances or another seed: rendering anew", flush=True)
    examples: list[Example] = []
    with tqdm(total=len(jobs), desc="render", unit="utt") as bar:
        for chunk in render(jobs, seed, workers, augment.Telephone()):
            examples.extend(chunk)
            bar.update(64)
    if cache is not None:
        tmp = cache.with_name(cache.name + ".part")
        with tmp.open("wb") as f:
            pickle.dump({"key": key, "examples": examples}, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    return examples


def mini_options(out: Path, human_dir: Path | None) -> BuildOptions:
    """The CI miniature: a few dozen utterances, one epoch, a tiny network."""
    return BuildOptions(out=out, human_dir=human_dir, mini=True, human_copies=1, synth_count=60,
                        noise_count=10, epochs=2, warmup=1, hidden=32, bottleneck=16, layers=1, workers=1)
