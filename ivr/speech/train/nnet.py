"""The acoustic network (a small factorised TDNN) and its flat-start training loss.

Layout, in input frames of 10 ms: a layer over offsets -2..2, a layer over -1..1
whose output is only needed every third frame, then factorised layers over
-3, 0, +3.  The network is evaluated every 30 ms (frame subsampling 3), one HMM
state per phone, which is what Vosk decodes fastest and times words correctly.

Training is CTC by default (``trainer.TrainConfig.objective``): the silence pdf
doubles as the blank, so the decoding graph needs only optional blanks between a
word's phones.  The older recipe, Viterbi training with frame cross-entropy, is
kept for comparison: alignments from a flat start (``trainer.uniform_alignment``),
redone with the network itself by :func:`viterbi_batch`.  Batch normalisation is
folded into the following affine layers at export.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class Tdnn(nn.Module):
    def __init__(self, feat_dim: int, num_pdfs: int, hidden: int = 256, bottleneck: int = 80,
                 layers: int = 4):
        super().__init__()
        self.feat_dim, self.num_pdfs, self.hidden, self.bottleneck, self.layers = (
            feat_dim, num_pdfs, hidden, bottleneck, layers)
        self.l1 = nn.Conv1d(feat_dim, hidden, 5)
        self.bn1 = nn.BatchNorm1d(hidden, affine=False)
        self.l2 = nn.Conv1d(hidden, bottleneck, 3, stride=3, bias=False)
        self.l2b = nn.Conv1d(bottleneck, hidden, 1)
        self.bn2 = nn.BatchNorm1d(hidden, affine=False)
        self.lin = nn.ModuleList(nn.Conv1d(hidden, bottleneck, 3, bias=False) for _ in range(layers))
        self.aff = nn.ModuleList(nn.Conv1d(bottleneck, hidden, 1) for _ in range(layers))
        self.bns = nn.ModuleList(nn.BatchNorm1d(hidden, affine=False) for _ in range(layers))
        self.out = nn.Conv1d(hidden, num_pdfs, 1)
        self.input_norm = nn.BatchNorm1d(feat_dim, affine=False)
        self.dropout = nn.Dropout(0.1)

    @property
    def context(self) -> int:
        return 3 + 3 * self.layers

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats: (B, T, F) -> log-posteriors (B, ceil(T/3), num_pdfs)."""
        t = feats.shape[1]
        c = self.context
        x = feats.transpose(1, 2)
        # Edge frames repeated, as Kaldi's online decoder does.
        x = torch.cat([x[:, :, :1].expand(-1, -1, c), x, x[:, :, -1:].expand(-1, -1, c)], dim=2)
        x = self.input_norm(x)
        x = self.bn1(F.relu(self.l1(x)))
        x = self.bn2(F.relu(self.l2b(self.l2(x))))
        for lin, aff, bn in zip(self.lin, self.aff, self.bns):
            x = bn(F.relu(aff(lin(self.dropout(x)))))
        x = self.out(x)
        n = (t + 2) // 3
        return F.log_softmax(x[:, :, :n].transpose(1, 2), dim=-1)


@torch.no_grad()
def viterbi_batch(scores: torch.Tensor, out_lens: torch.Tensor, labels: torch.Tensor,
                  skippable: torch.Tensor, label_lens: torch.Tensor) -> list:
    """Best state sequence of each utterance; returns, per utterance, the pdf id of
    every output frame.  ``labels`` (B, S) are the pdf ids of a left-to-right state
    sequence; ``skippable[b, s]`` marks an optional (silence) state."""
    import numpy as np

    bsz, nfr, _ = scores.shape
    s_max = labels.shape[1]
    emit = scores.gather(2, labels.unsqueeze(1).expand(bsz, nfr, s_max))
    neg = -1e30
    skip_in = torch.zeros_like(skippable)
    skip_in[:, 2:] = skippable[:, 1:-1]
    delta = torch.full((bsz, s_max), neg)
    delta[:, 0] = emit[:, 0, 0]
    start2 = skippable[:, 0] & (label_lens > 1)
    delta[:, 1] = torch.where(start2, emit[:, 0, 1], torch.full_like(emit[:, 0, 1], neg))
    back = torch.zeros((bsz, nfr, s_max), dtype=torch.int8)
    negcol, negcol2 = torch.full((bsz, 1), neg), torch.full((bsz, 2), neg)
    for t in range(1, nfr):
        prev1 = torch.cat([negcol, delta[:, :-1]], dim=1)
        prev2 = torch.where(skip_in, torch.cat([negcol2, delta[:, :-2]], dim=1), torch.full_like(delta, neg))
        best, arg = torch.stack([delta, prev1, prev2]).max(dim=0)
        live = (t < out_lens).unsqueeze(1)
        delta = torch.where(live, best + emit[:, t], delta)
        back[:, t] = torch.where(live, arg.to(torch.int8), torch.zeros_like(arg, dtype=torch.int8))
    back_np, delta_np = back.numpy(), delta.numpy()
    lab_np, skip_np = labels.numpy(), skippable.numpy()
    result = []
    for b in range(bsz):
        n, s_len = int(out_lens[b]), int(label_lens[b])
        s = s_len - 1
        if s_len > 1 and skip_np[b, s] and delta_np[b, s - 1] > delta_np[b, s]:
            s -= 1
        path = np.empty(n, np.int64)
        for t in range(n - 1, -1, -1):
            path[t] = lab_np[b, s]
            s -= int(back_np[b, t, s])
        result.append(path)
    return result
