"""Write a trained network as a Vosk model directory.

``am/final.mdl`` is Kaldi text format: a TransitionModel (kaldi-hmm-gmm has no
writer for it, so it is written here) followed by an nnet3 AmNnetSimple.  A
malformed TransitionModel crashes Vosk without a message, so :func:`check_model`
re-reads the file's structure before anything loads it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ivr.speech import graph as g
from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.train.features import FEAT_DIM, mfcc_conf_text
from ivr.speech.train.nnet import Tdnn

SELF_LOOP_PROB = 0.5

# Decoder settings (see MODEL_CARD.md for why these values).
MODEL_CONF = {
    "min-active": 50,
    "max-active": 1000,
    "beam": 13.0,
    "lattice-beam": 4.0,
    "acoustic-scale": 1.0,
    "frame-subsampling-factor": 3,
    "endpoint.rule2.min-trailing-silence": 0.5,
    "endpoint.rule3.min-trailing-silence": 1.0,
    "endpoint.rule4.min-trailing-silence": 2.0,
}


def phone_ids() -> dict[str, int]:
    return {p: i + 1 for i, p in enumerate(PHONES)}


def transitions() -> dict[str, tuple[int, int]]:
    """Transition-ids of each phone: one transition-state per phone (the phone's
    only HMM state, pdf = phone id - 1) with the self-loop listed first."""
    return {p: (2 * i - 1, 2 * i) for p, i in phone_ids().items()}


def transition_model_text() -> str:
    ids = phone_ids()
    n = len(ids)
    lines = ["<TransitionModel> ", "<Topology> ", "<TopologyEntry> ", "<ForPhones> ",
             " ".join(str(i) for i in ids.values()) + " ", "</ForPhones> ",
             f"<State> 0 <PdfClass> 0 <Transition> 0 {SELF_LOOP_PROB} <Transition> 1 {1 - SELF_LOOP_PROB} </State> ",
             "<State> 1 </State> ", "</TopologyEntry> ", "</Topology> ", f"<Triples> {n} "]
    lines += [f"{pid} 0 {pid - 1} " for pid in ids.values()]
    lines.append("</Triples> ")
    logp = [0.0] + [math.log(SELF_LOOP_PROB), math.log(1 - SELF_LOOP_PROB)] * n
    lines += ["<LogProbs> ", " [ " + " ".join(f"{v:.6g}" for v in logp) + " ]", "</LogProbs> ",
              "</TransitionModel> "]
    return "\n".join(lines) + "\n"


def _mat(m: np.ndarray) -> str:
    rows = "\n".join("  " + " ".join(f"{v:.7g}" for v in row) for row in m)
    return " [\n" + rows + " ]\n"


def _vec(v: np.ndarray) -> str:
    return " [ " + " ".join(f"{x:.7g}" for x in v) + " ]\n"


def _affine(name: str, w: np.ndarray, b: np.ndarray) -> str:
    return (f"<ComponentName> {name} <AffineComponent> <MaxChange> 0.75 <LearningRate> 0.001 "
            f"<LinearParams>{_mat(w)}<BiasParams>{_vec(b)}<IsGradient> F </AffineComponent> \n")


def _nonlin(name: str, kind: str, dim: int) -> str:
    z = _vec(np.zeros(dim))
    return (f"<ComponentName> {name} <{kind}> <Dim> {dim} <ValueAvg>{z}<DerivAvg>{z}"
            f"<Count> 0 <NumDimsSelfRepaired> 0 <NumDimsProcessed> 0 </{kind}> \n")


def _bn_scale_shift(bn: torch.nn.BatchNorm1d) -> tuple[np.ndarray, np.ndarray]:
    """y = a * x + c for a BatchNorm in inference mode."""
    a = 1.0 / torch.sqrt(bn.running_var + bn.eps)
    c = -bn.running_mean * a
    return a.double().numpy(), c.double().numpy()


def _fold(conv: torch.nn.Conv1d, a: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold a per-channel affine on the conv's input into the conv; return Kaldi
    (out, k*in) linear params, offsets ascending, and bias."""
    w = conv.weight.detach().double().numpy()                 # (out, in, k)
    bias = conv.bias.detach().double().numpy() if conv.bias is not None else np.zeros(w.shape[0])
    bias = bias + np.einsum("oik,i->o", w, c)
    w = w * a[None, :, None]
    return w.transpose(0, 2, 1).reshape(w.shape[0], -1), bias


def nnet3_text(net: Tdnn, priors: np.ndarray) -> str:
    net = net.eval()
    h, layers = net.hidden, net.layers
    cfg = [f"input-node name=input dim={net.feat_dim}",
           "component-node name=l1.affine component=l1.affine input=Append(Offset(input, -2), "
           "Offset(input, -1), input, Offset(input, 1), Offset(input, 2))",
           "component-node name=l1.relu component=l1.relu input=l1.affine",
           "component-node name=l2.linear component=l2.linear input=Append(Offset(l1.relu, -1), "
           "l1.relu, Offset(l1.relu, 1))",
           "component-node name=l2.affine component=l2.affine input=l2.linear",
           "component-node name=l2.relu component=l2.relu input=l2.affine"]
    comps: list[str] = []
    w, b = _fold(net.l1, *_bn_scale_shift(net.input_norm))
    comps += [_affine("l1.affine", w, b), _nonlin("l1.relu", "RectifiedLinearComponent", h)]
    w, b = _fold(net.l2, *_bn_scale_shift(net.bn1))
    w2, b2 = _fold(net.l2b, np.ones(net.bottleneck), np.zeros(net.bottleneck))
    comps += [_affine("l2.linear", w, b), _affine("l2.affine", w2, b2),
              _nonlin("l2.relu", "RectifiedLinearComponent", h)]
    prev, prev_bn = "l2.relu", net.bn2
    for i in range(layers):
        n = f"l{i + 3}"
        cfg += [f"component-node name={n}.linear component={n}.linear input=Append(Offset({prev}, -3), "
                f"{prev}, Offset({prev}, 3))",
                f"component-node name={n}.affine component={n}.affine input={n}.linear",
                f"component-node name={n}.relu component={n}.relu input={n}.affine"]
        w, b = _fold(net.lin[i], *_bn_scale_shift(prev_bn))
        w2, b2 = _fold(net.aff[i], np.ones(net.bottleneck), np.zeros(net.bottleneck))
        comps += [_affine(f"{n}.linear", w, b), _affine(f"{n}.affine", w2, b2),
                  _nonlin(f"{n}.relu", "RectifiedLinearComponent", h)]
        prev, prev_bn = f"{n}.relu", net.bns[i]
    w, b = _fold(net.out, *_bn_scale_shift(prev_bn))
    cfg += [f"component-node name=output.affine component=output.affine input={prev}",
            "component-node name=output.log-softmax component=output.log-softmax input=output.affine",
            "output-node name=output input=output.log-softmax objective=linear"]
    comps += [_affine("output.affine", w, b), _nonlin("output.log-softmax", "LogSoftmaxComponent", net.num_pdfs)]
    ctx = net.context
    text = "<Nnet3> \n" + "\n".join(cfg) + "\n\n" + f"<NumComponents> {len(comps)} \n" + "".join(comps)
    text += f"</Nnet3> <LeftContext> {ctx} <RightContext> {ctx} <Priors>" + _vec(priors)
    return text


def check_model(path: Path, num_pdfs: int) -> None:
    """Cheap structural validation of final.mdl before Vosk (which segfaults) sees it."""
    text = path.read_text(encoding="ascii")
    head, _, rest = text.partition("</TransitionModel>")
    if "<Nnet3>" not in rest or "<Priors>" not in rest:
        raise ValueError(f"{path}: nnet3 part missing")
    triples = head.split("<Triples>")[1].split("</Triples>")[0].split()
    n = int(triples[0])
    if len(triples) != 1 + 3 * n:
        raise ValueError(f"{path}: {len(triples)} triple tokens for {n} triples")
    logp = head.split("<LogProbs>")[1].split("]")[0].replace("[", "").split()
    if len(logp) != 2 * n + 1:
        raise ValueError(f"{path}: LogProbs length {len(logp)} != {2 * n + 1}")
    pdfs = {int(triples[1 + 3 * i + 2]) for i in range(n)}
    if pdfs != set(range(num_pdfs)):
        raise ValueError(f"{path}: pdf ids do not cover 0..{num_pdfs - 1}")


def write_model(net: Tdnn, priors: np.ndarray, out: Path, word_cost: float = 0.0,
                unk_cost: float = 2.0, silence_cost: float = 0.0, blank_phone: str | None = None) -> None:
    (out / "am").mkdir(parents=True, exist_ok=True)
    (out / "conf").mkdir(exist_ok=True)
    (out / "graph").mkdir(exist_ok=True)
    mdl = out / "am" / "final.mdl"
    mdl.write_text(transition_model_text() + nnet3_text(net, priors), encoding="ascii")
    check_model(mdl, net.num_pdfs)
    (out / "conf" / "mfcc.conf").write_text(mfcc_conf_text(), encoding="ascii")
    sil = ":".join(str(phone_ids()[p]) for p in (SILENCE,))
    conf = "".join(f"--{k}={v}\n" for k, v in MODEL_CONF.items()) + f"--endpoint.silence-phones={sil}\n"
    (out / "conf" / "model.conf").write_text(conf, encoding="ascii")
    gd = out / "graph"
    g.write_symbols(PHONES, gd / "phones.txt")
    meta = {"silence_phone": SILENCE, "transitions": transitions(), "word_cost": word_cost,
            "unk_cost": unk_cost, "silence_cost": silence_cost, "feat_dim": FEAT_DIM}
    if blank_phone is not None:
        meta["blank_phone"] = blank_phone
    (gd / "graph.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    g.write_vocabulary(out)
