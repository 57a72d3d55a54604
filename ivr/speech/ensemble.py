"""Ensembles of trained acoustic models (``ivr model ensemble``).

Two networks trained apart (another seed, another augmentation) err on different
frames; decoding with the mean of their log-posteriors (a product of experts) errs less
than either. Vosk runs one nnet3 model, so the members go into one: each member's nodes
and components get a prefix, they share the input, and the output node is the scaled
sum of their log-softmax outputs, which nnet3's ``Sum``/``Scale`` descriptors express.
The decoding graph does not depend on the network, so the members must share it (and
the features and decoder settings) byte for byte; the ensemble keeps that graph.

Needs numpy only: works on finished models, not on the training code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

SHARED = ("conf/mfcc.conf", "conf/model.conf", "graph/HCLG.fst", "graph/words.txt", "graph/phones.txt",
          "graph/lexicon.txt", "graph/graph.json")


def _nnet3_parts(text: str) -> tuple[str, list[str], str, str, np.ndarray]:
    """(transition model, config lines, component entries, context tag, priors) of a final.mdl."""
    head, sep, rest = text.partition("<Nnet3> \n")
    if not sep or "</TransitionModel>" not in head:
        raise ValueError("not a text nnet3 acoustic model (no <Nnet3> after the transition model)")
    cfg, sep, rest = rest.partition("\n\n<NumComponents> ")
    if not sep:
        raise ValueError("nnet3 model without <NumComponents>")
    comps, sep, tail = rest.partition("</Nnet3> ")
    if not sep:
        raise ValueError("nnet3 model without </Nnet3>")
    comps = comps.split("\n", 1)[1]                       # drop the count line
    context, _, priors = tail.partition("<Priors>")
    vec = np.array([float(v) for v in priors.replace("[", " ").replace("]", " ").split()])
    return head, cfg.splitlines(), comps, context.strip(), vec


def ensemble_text(members: list[str]) -> str:
    """One nnet3 model holding several trained networks of the same shape of output,
    decoding with the mean of their log-posteriors over the mean of their log-priors
    (a product of experts: the score every member would give, averaged).

    Each member's nodes and components get a prefix (``m0.``, ``m1.`` ...); they share the
    input node, and the output node sums the members' log-softmax outputs, each scaled by
    1/N. The transition model, contexts and number of outputs must agree.
    """
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two models")
    parts = [_nnet3_parts(t) for t in members]
    head, _, _, context, _ = parts[0]
    n = len(parts)
    cfg_out: list[str] = []
    comps_out: list[str] = []
    outputs: list[str] = []
    count = 0
    for k, (h, cfg, comps, ctx, priors) in enumerate(parts):
        if h != head:
            raise ValueError(f"member {k}: its transition model differs from member 0's")
        if ctx != context:
            raise ValueError(f"member {k}: context {ctx!r} differs from member 0's {context!r}")
        if len(priors) != len(parts[0][4]):
            raise ValueError(f"member {k}: {len(priors)} outputs, member 0 has {len(parts[0][4])}")
        pre = f"m{k}."
        names = set()
        for line in cfg:
            if line.startswith("input-node "):
                if k == 0:
                    cfg_out.append(line)
                elif line != cfg_out[0]:
                    raise ValueError(f"member {k}: input node {line!r} differs from member 0's")
                continue
            m = re.fullmatch(r"component-node name=(\S+) component=(\S+) input=(.*)", line)
            if m:
                names.add(m.group(1))
                continue
            m = re.fullmatch(r"output-node name=output input=(\S+) objective=linear", line)
            if not m:
                raise ValueError(f"member {k}: config line not understood: {line!r}")
            outputs.append(pre + m.group(1))
        for line in cfg:
            m = re.fullmatch(r"component-node name=(\S+) component=(\S+) input=(.*)", line)
            if m:
                desc = re.sub(r"[A-Za-z_][\w.-]*", lambda t: pre + t.group(0) if t.group(0) in names else t.group(0),
                              m.group(3))
                cfg_out.append(f"component-node name={pre}{m.group(1)} component={pre}{m.group(2)} input={desc}")
        entries = comps.split("<ComponentName> ")[1:]
        for e in entries:
            comps_out.append("<ComponentName> " + pre + e)
        count += len(entries)
    if len(outputs) != n:
        raise ValueError("every member needs exactly one output node named output")
    cfg_out.append("output-node name=output input=Sum(" +
                   ", ".join(f"Scale({1 / n:.8g}, {o})" for o in outputs) + ") objective=linear")
    log_priors = np.mean([np.log(np.maximum(p[4], 1e-30)) for p in parts], axis=0)
    priors = np.exp(log_priors)
    priors /= priors.sum()
    return (head + "<Nnet3> \n" + "\n".join(cfg_out) + "\n\n" + f"<NumComponents> {count} \n" +
            "".join(comps_out) + f"</Nnet3> {context} <Priors>" + " [ " + " ".join(f"{x:.7g}" for x in priors) + " ]\n")


def _info(model: Path) -> dict:
    try:
        return json.loads((model / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def ensemble_info(members: list[Path], command: str) -> dict:
    """``build_info.json`` of an ensemble: the members' own, and what holds for the whole
    (trained on the human set if any member was; held out only what every member held out)."""
    infos = [_info(m) for m in members]
    held = [set(i.get("heldout_human") or ()) for i in infos]
    voices = [set(i.get("heldout_voices") or ()) for i in infos]
    return {
        "ensemble": True,
        "command": command,
        "members": [{"path": str(m), **i} for m, i in zip(members, infos)],
        "with_human": any(i.get("with_human") for i in infos),
        "news_dir": next((i["news_dir"] for i in infos if i.get("news_dir")), None),
        "heldout_human": sorted(set.intersection(*held)) if held else [],
        "heldout_voices": sorted(set.intersection(*voices)) if voices else [],
    }


def write_ensemble(members: list[Path], out: Path, command: str = "") -> Path:
    """Write the ensemble of ``members`` (model directories) to ``out``.

    The directory is assembled beside ``out`` and moved into place whole, so a failure
    leaves ``out`` as it was.
    """
    members = [Path(m) for m in members]
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two models")
    for m in members:
        if not (m / "am" / "final.mdl").is_file():
            raise ValueError(f"{m}: not a model directory (no am/final.mdl)")
    for rel in SHARED:
        first = members[0] / rel
        for m in members[1:]:
            if first.is_file() != (m / rel).is_file() or (
                    first.is_file() and first.read_bytes() != (m / rel).read_bytes()):
                raise ValueError(f"{m}: {rel} differs from {members[0]}'s; members must share "
                                 "features, decoder settings and graph")
    text = ensemble_text([(m / "am" / "final.mdl").read_text(encoding="ascii") for m in members])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".ensemble-", dir=out.parent))
    try:
        for rel in SHARED:
            if (members[0] / rel).is_file():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(members[0] / rel, stage / rel)
        (stage / "am").mkdir(exist_ok=True)
        (stage / "am" / "final.mdl").write_text(text, encoding="ascii")
        (stage / "build_info.json").write_text(json.dumps(ensemble_info(members, command), indent=1) + "\n",
                                               encoding="utf-8")
        os.chmod(stage, 0o755)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=".ensemble-old-", dir=out.parent))
            os.replace(out, old / "model")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
