"""Training loop: length-bucketed batches, Adam with a cosine schedule, priors."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from ivr.speech.train.data import Example
from ivr.speech.train.nnet import Tdnn, sequence_nll


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 8
    lr: float = 2e-3
    final_lr: float = 1e-4
    batch_frames: int = 24000      # input frames per batch
    hidden: int = 256
    bottleneck: int = 80
    layers: int = 4
    threads: int = 2
    seed: int = 1


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


def _collate(examples: Sequence[Example], idx: list[int]):
    exs = [examples[i] for i in idx]
    t_max = max(len(e.feats) for e in exs)
    s_max = max(len(e.labels) for e in exs)
    feats = np.zeros((len(exs), t_max, exs[0].feats.shape[1]), np.float32)
    labels = np.zeros((len(exs), s_max), np.int64)
    skip = np.zeros((len(exs), s_max), bool)
    for b, e in enumerate(exs):
        feats[b, : len(e.feats)] = e.feats
        feats[b, len(e.feats):] = e.feats[-1]           # repeat the last frame, like the decoder
        labels[b, : len(e.labels)] = e.labels
        skip[b, : len(e.labels)] = e.skippable
    out_lens = torch.tensor([(len(e.feats) + 2) // 3 for e in exs])
    label_lens = torch.tensor([len(e.labels) for e in exs])
    return torch.from_numpy(feats), out_lens, torch.from_numpy(labels), torch.from_numpy(skip), label_lens


def epoch_examples(examples: Sequence[Example], epoch: int, synth_share: int = 2) -> list[Example]:
    """What one epoch trains on: one augmented copy of each human utterance (a
    different copy each epoch), 1/``synth_share`` of the synthetic utterances (in
    turn) and every noise clip.  Keeps epochs short on a shared 2-core machine
    while the whole rendered set is still seen over the run."""
    groups = sorted({e.group for e in examples if e.group >= 0})
    pick = groups[epoch % len(groups)] if groups else None
    chosen = []
    for i, e in enumerate(examples):
        if e.group >= 0:
            if e.group == pick:
                chosen.append(e)
        elif e.uid.startswith("syn"):
            if i % synth_share == epoch % synth_share:
                chosen.append(e)
        else:
            chosen.append(e)
    return chosen


def train(examples: Sequence[Example], num_pdfs: int, cfg: TrainConfig, feat_dim: int,
          on_epoch: Callable[[Tdnn, int], None] | None = None) -> Tdnn:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    net = Tdnn(feat_dim, num_pdfs, cfg.hidden, cfg.bottleneck, cfg.layers)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    steps = sum(len(_batches(epoch_examples(examples, e), cfg.batch_frames, rng)) for e in range(cfg.epochs))
    step = 0
    for epoch in range(cfg.epochs):
        net.train()
        chosen = epoch_examples(examples, epoch)
        batches = _batches(chosen, cfg.batch_frames, rng)
        total, frames = 0.0, 0
        bar = tqdm(batches, desc=f"train epoch {epoch + 1}/{cfg.epochs}", unit="batch", leave=False)
        for idx in bar:
            lr = cfg.final_lr + 0.5 * (cfg.lr - cfg.final_lr) * (1 + math.cos(math.pi * step / max(1, steps)))
            for group in opt.param_groups:
                group["lr"] = lr
            feats, out_lens, labels, skip, label_lens = _collate(chosen, idx)
            logp = net(feats)
            loss = sequence_nll(logp, out_lens, labels, skip, label_lens)
            weight = out_lens.float()
            obj = (loss * weight).sum() / weight.sum()
            opt.zero_grad()
            obj.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            step += 1
            total += float((loss * weight).sum())
            frames += int(weight.sum())
            bar.set_postfix(loss=f"{total / frames:.3f}")
        print(f"epoch {epoch + 1}: loss per frame {total / max(frames, 1):.4f} "
              f"({len(chosen)} utterances)", flush=True)
        if on_epoch is not None and epoch + 1 < cfg.epochs:
            on_epoch(net.eval(), epoch + 1)
    return net.eval()


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
