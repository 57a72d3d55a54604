"""Training loop: length-bucketed batches, Adam with a cosine schedule, priors."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.train.data import CLEAN, SENTENCE_PREFIX, SYNTH_PREFIX, Example
from ivr.speech.train.features import Masking, spec_augment
from ivr.speech.train.nnet import Tdnn, viterbi_batch


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    lr: float = 2e-3
    final_lr: float = 1e-4
    batch_frames: int = 6000       # input frames per batch (small: more updates per CPU second)
    hidden: int = 256
    bottleneck: int = 80
    layers: int = 4
    threads: int = 2
    seed: int = 1
    objective: str = "viterbi"     # "viterbi" (frame cross-entropy on realigned states) or "ctc"
    warmup: int = 0                # epochs on clean copies only (see epoch_examples)
    blank: int = 0                 # CTC blank = the silence pdf
    masking: Masking | None = None  # SpecAugment on the cepstra after the warm-up (None: off)
    sentence_share: int = 1        # each epoch trains on 1/N of the synthetic sentences


def _batches(examples: Sequence[Example], batch_frames: int, rng: random.Random) -> list[list[int]]:
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].feats))
    batches, cur, cur_max = [], [], 0
    for i in order:
        n = len(examples[i].feats)
        if cur and max(cur_max, n) * (len(cur) + 1) > batch_frames:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(i)
        cur_max = max(cur_max, n)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches


def _collate(examples: Sequence[Example], idx: list[int], masking: Masking | None = None,
             rng: np.random.Generator | None = None):
    """Pad a batch; with ``masking``, each utterance gets its own SpecAugment masks."""
    exs = [examples[i] for i in idx]
    t_max = max(len(e.feats) for e in exs)
    s_max = max(len(e.labels) for e in exs)
    feats = np.zeros((len(exs), t_max, exs[0].feats.shape[1]), np.float32)
    labels = np.zeros((len(exs), s_max), np.int64)
    skip = np.zeros((len(exs), s_max), bool)
    for b, e in enumerate(exs):
        x = e.feats if masking is None or rng is None else spec_augment(e.feats, rng, masking)
        feats[b, : len(x)] = x
        feats[b, len(x):] = x[-1]           # repeat the last frame, like the decoder
        labels[b, : len(e.labels)] = e.labels
        skip[b, : len(e.labels)] = e.skippable
    out_lens = torch.tensor([(len(e.feats) + 2) // 3 for e in exs])
    label_lens = torch.tensor([len(e.labels) for e in exs])
    return torch.from_numpy(feats), out_lens, torch.from_numpy(labels), torch.from_numpy(skip), label_lens


def epoch_examples(examples: Sequence[Example], epoch: int, synth_share: int = 2,
                   warmup: int = 0, sentence_share: int = 1) -> list[Example]:
    """What one epoch trains on: one augmented copy of each human utterance (a
    different copy each epoch), its clean copy if there is one, 1/``synth_share``
    of the synthetic utterances (in turn), 1/``sentence_share`` of the synthetic
    sentences (in turn; 1, every epoch, is how s3 was built) and every noise clip.
    Keeps epochs short on a shared 2-core machine while the whole rendered set is
    still seen over the run.  The first ``warmup`` epochs use the clean copies only: a CTC network
    started on telephone-degraded audio stays stuck emitting blanks for many
    epochs, one started on clean speech learns the digits in a few."""
    if epoch < warmup:
        clean = [e for e in examples if e.group == CLEAN]
        if clean:
            return clean
    groups = sorted({e.group for e in examples if e.group >= 0})
    pick = groups[epoch % len(groups)] if groups else None
    chosen = []
    for i, e in enumerate(examples):
        if e.group >= 0:
            if e.group == pick:
                chosen.append(e)
        elif e.uid.startswith(SYNTH_PREFIX):
            if i % synth_share == epoch % synth_share:
                chosen.append(e)
        elif e.uid.startswith(SENTENCE_PREFIX):
            if i % sentence_share == epoch % sentence_share:
                chosen.append(e)
        else:
            chosen.append(e)
    return chosen


def uniform_alignment(e: Example) -> np.ndarray:
    """Flat start: silence outside the loud part of the utterance (from c0, the
    log-energy-like cepstrum), the phones spread evenly over the loud part."""
    n = (len(e.feats) + 2) // 3
    sil = int(e.labels[0]) if e.skippable[0] else 0
    phones = e.labels[~e.skippable]
    out = np.full(n, sil, np.int64)
    if len(phones) == 0:
        return out
    c0 = e.feats[::3, 0].astype(np.float32)[:n]
    lo, hi = np.percentile(c0, 5), np.percentile(c0, 95)
    active = np.nonzero(c0 > lo + 0.4 * (hi - lo))[0]
    a, b = (int(active[0]), int(active[-1]) + 1) if len(active) else (0, n)
    if b - a < len(phones):
        a, b = 0, n
    edges = np.linspace(a, b, len(phones) + 1).round().astype(int)
    for k, p in enumerate(phones):
        out[edges[k]:max(edges[k + 1], edges[k] + 1)] = p
    return out


@torch.no_grad()
def realign(net: Tdnn, examples: Sequence[Example], log_priors: torch.Tensor, batch_frames: int,
            rng: random.Random) -> dict[str, np.ndarray]:
    net.eval()
    out: dict[str, np.ndarray] = {}
    for idx in tqdm(_batches(examples, batch_frames, rng), desc="align", unit="batch", leave=False):
        feats, out_lens, labels, skip, label_lens = _collate(examples, idx)
        scores = net(feats) - log_priors
        for i, path in zip(idx, viterbi_batch(scores, out_lens, labels, skip, label_lens)):
            out[examples[i].uid] = path
    return out


def train(examples: Sequence[Example], num_pdfs: int, cfg: TrainConfig, feat_dim: int,
          on_epoch: Callable[[Tdnn, int], None] | None = None) -> Tdnn:
    """Viterbi training: epoch 1 on a flat-start (uniform) alignment, then every
    epoch realigns its utterances with the current network before training."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    net = Tdnn(feat_dim, num_pdfs, cfg.hidden, cfg.bottleneck, cfg.layers)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    steps = sum(len(_batches(epoch_examples(examples, e, warmup=cfg.warmup, sentence_share=cfg.sentence_share),
                             cfg.batch_frames, rng)) for e in range(cfg.epochs))
    step = 0
    counts = np.ones(num_pdfs)
    ctc = cfg.objective == "ctc"
    mask_rng = np.random.default_rng(cfg.seed)
    for epoch in range(cfg.epochs):
        chosen = epoch_examples(examples, epoch, warmup=cfg.warmup, sentence_share=cfg.sentence_share)
        if ctc:
            align = {}
        elif epoch == 0:
            align = {e.uid: uniform_alignment(e) for e in chosen}
        else:
            # Scaled likelihoods (posterior / prior), as the decoder uses them: plain
            # posteriors let the frequent classes (silence, "a") take every frame
            # they can and the alignments collapse.
            log_priors = torch.from_numpy(np.log(counts / counts.sum())).float()
            align = realign(net, chosen, log_priors, cfg.batch_frames, rng)
        counts = np.ones(num_pdfs)
        for path in align.values():
            counts += np.bincount(path, minlength=num_pdfs)
        net.train()
        batches = _batches(chosen, cfg.batch_frames, rng)
        total, frames, correct = 0.0, 0, 0
        bar = tqdm(batches, desc=f"train epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for idx in bar:
            lr = cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * step / max(1, steps)))
            for group in opt.param_groups:
                group["lr"] = lr
            # Masks only once the network has learned from the clean warm-up copies.
            masking = cfg.masking if epoch >= cfg.warmup else None
            feats, out_lens, _, _, _ = _collate(chosen, idx, masking, mask_rng)
            logp = net(feats)
            if ctc:
                loss, n, hits = _ctc_loss(logp, out_lens, [chosen[i] for i in idx], cfg.blank)
            else:
                target = torch.full((len(idx), int(out_lens.max())), -100, dtype=torch.long)
                for b, i in enumerate(idx):
                    path = align[chosen[i].uid]
                    target[b, : len(path)] = torch.from_numpy(path)
                loss = torch.nn.functional.nll_loss(logp.reshape(-1, num_pdfs), target.reshape(-1),
                                                    ignore_index=-100, reduction="sum")
                n = int((target >= 0).sum())
                hits = int(((logp.argmax(-1) == target) & (target >= 0)).sum())
            opt.zero_grad()
            (loss / n).backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            step += 1
            total += float(loss.detach())
            frames += n
            correct += hits
            bar.set_postfix(loss=f"{total / frames:.3f}")
        what = ("CTC loss per frame", "greedy phone-sequence accuracy") if ctc else ("cross-entropy", "frame accuracy")
        print(f"epoch {epoch + 1}: {what[0]} {total / max(frames, 1):.4f}, {what[1]} "
              f"{correct / max(frames if not ctc else len(chosen), 1):.3f} ({len(chosen)} utterances)", flush=True)
        if on_epoch is not None and epoch + 1 < cfg.epochs:
            on_epoch(net.eval(), epoch + 1)
    return net.eval()


def ctc_targets(e: Example) -> np.ndarray:
    """The phones of an utterance without its silences (CTC blanks cover them; a
    noise-only clip has none at all)."""
    return e.labels[~e.skippable & (e.labels != PHONES.index(SILENCE))]


def _ctc_loss(logp: torch.Tensor, out_lens: torch.Tensor, exs: Sequence[Example], blank: int):
    """Summed CTC loss of a batch, its frame count, and how many utterances the
    greedy (best-path) decoding already gets exactly right."""
    targets = [torch.from_numpy(ctc_targets(e)) for e in exs]
    loss = torch.nn.functional.ctc_loss(
        logp.transpose(0, 1), torch.cat(targets), out_lens, torch.tensor([len(t) for t in targets]),
        blank=blank, reduction="sum", zero_infinity=True)
    best = logp.detach().argmax(-1)
    hits = 0
    for b, t in enumerate(targets):
        seq = torch.unique_consecutive(best[b, : int(out_lens[b])])
        hits += int(torch.equal(seq[seq != blank], t))
    return loss, int(out_lens.sum()), hits


@torch.no_grad()
def estimate_priors(net: Tdnn, examples: Sequence[Example], num_pdfs: int, limit: int = 1500) -> np.ndarray:
    """State priors: the network's posteriors averaged over (a sample of) the
    training frames, which is what the decoder divides by."""
    rng = random.Random(0)
    sample = rng.sample(range(len(examples)), min(limit, len(examples)))
    chosen = [examples[i] for i in sample]
    total = torch.zeros(num_pdfs, dtype=torch.float64)
    net.eval()
    for idx in tqdm(_batches(chosen, 24000, rng), desc="priors", unit="batch", leave=False):
        feats, out_lens, _, _, _ = _collate(chosen, idx)
        post = net(feats).exp()
        mask = torch.arange(post.shape[1])[None, :] < out_lens[:, None]
        total += (post * mask[:, :, None]).sum(dim=(0, 1)).double()
    priors = (total + 1.0) / (total.sum() + num_pdfs)
    return priors.numpy()
