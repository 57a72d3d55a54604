"""Ensembles of trained acoustic models (``ivr model ensemble``).

Networks trained apart (another seed, another augmentation) tend to err on different
frames; decoding with the mean of their log-posteriors (a product of experts) keeps what
they agree on (the model card measures what that buys for the bundled model). Vosk runs one nnet3 model, so the members go into one: each member's nodes
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
from typing import Callable, NamedTuple

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


_NODE = re.compile(r"component-node name=(\S+) component=(\S+) input=(.*)")
_OUTPUT = re.compile(r"output-node name=output input=(.*) objective=linear")
_MEMBER = re.compile(r"m(\d+)\.")


def _networks(k: int, cfg: list[str]) -> list[str]:
    """The output node of each network in one member's config: one for a plain model,
    several for an ensemble (its members' ``mJ.`` log-softmax nodes, equally weighted)."""
    outputs = [m.group(1) for m in map(_OUTPUT.fullmatch, cfg) if m]
    if len(outputs) != 1:
        raise ValueError(f"member {k}: needs exactly one output node named output")
    source = outputs[0]
    if re.fullmatch(r"[\w.-]+", source):
        return [source]
    inner = re.fullmatch(r"Sum\((.*)\)", source)
    terms = re.findall(r"Scale\(([\d.e+-]+), (m\d+\.[\w.-]+)\)", inner.group(1)) if inner else []
    if not terms or len({float(w) for w, _ in terms}) != 1 or \
            inner.group(1) != ", ".join(f"Scale({w}, {n})" for w, n in terms):
        raise ValueError(f"member {k}: output {source!r} is neither one network's nor an ensemble's")
    return [n for _, n in terms]


def ensemble_text(members: list[str]) -> str:
    """One nnet3 model holding several trained networks with the same outputs, decoding
    with the mean of their log-posteriors over the mean of their log-priors (a product of
    experts: the score every network would give, averaged).

    Each network's nodes and components get a prefix (``m0.``, ``m1.`` ...); they share
    the input node, and the output node sums the networks' log-softmax outputs, each
    scaled by 1/N. A member that is itself an ensemble brings its networks (renumbered),
    so adding a network to the bundled ensemble weighs every network alike. The
    transition model, contexts and number of outputs must agree.
    """
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two models")
    parts = [_nnet3_parts(t) for t in members]
    head, _, _, context, first_priors = parts[0]
    cfg_out: list[str] = []
    comps_out: list[str] = []
    outputs: list[str] = []
    log_priors: list[np.ndarray] = []
    count = 0
    for k, (h, cfg, comps, ctx, priors) in enumerate(parts):
        if h != head:
            raise ValueError(f"member {k}: its transition model differs from member 0's")
        if ctx != context:
            raise ValueError(f"member {k}: context {ctx!r} differs from member 0's {context!r}")
        if len(priors) != len(first_priors):
            raise ValueError(f"member {k}: {len(priors)} outputs, member 0 has {len(first_priors)}")
        nets = _networks(k, cfg)
        base = len(outputs)
        if len(nets) == 1 and not _MEMBER.match(nets[0]):
            def rename(name: str, base=base) -> str:
                return f"m{base}.{name}"
        else:
            def rename(name: str, base=base, k=k) -> str:
                m = _MEMBER.match(name)
                if not m:
                    raise ValueError(f"member {k}: node {name!r} belongs to none of its networks")
                return f"m{base + int(m.group(1))}.{name[m.end():]}"
        names = set()
        for line in cfg:
            if line.startswith("input-node "):
                if k == 0:
                    cfg_out.append(line)
                elif line != cfg_out[0]:
                    raise ValueError(f"member {k}: input node {line!r} differs from member 0's")
            elif (m := _NODE.fullmatch(line)):
                names.add(m.group(1))
            elif not _OUTPUT.fullmatch(line):
                raise ValueError(f"member {k}: config line not understood: {line!r}")
        for line in cfg:
            if (m := _NODE.fullmatch(line)):
                desc = re.sub(r"[A-Za-z_][\w.-]*",
                              lambda t: rename(t.group(0)) if t.group(0) in names else t.group(0), m.group(3))
                cfg_out.append(f"component-node name={rename(m.group(1))} component={rename(m.group(2))} "
                               f"input={desc}")
        entries = comps.split("<ComponentName> ")[1:]
        for e in entries:
            name, _, rest = e.partition(" ")
            comps_out.append(f"<ComponentName> {rename(name)} {rest}")
        count += len(entries)
        outputs += [rename(n) for n in nets]
        # an ensemble's priors are already its networks' geometric mean: weigh by their number
        log_priors += [np.log(np.maximum(priors, 1e-30))] * len(nets)
    n = len(outputs)
    if len(set(outputs)) != n:
        raise ValueError("two networks ended up with the same name")
    cfg_out.append("output-node name=output input=Sum(" +
                   ", ".join(f"Scale({1 / n:.8g}, {o})" for o in outputs) + ") objective=linear")
    priors = np.exp(np.mean(log_priors, axis=0))
    priors /= priors.sum()
    return (head + "<Nnet3> \n" + "\n".join(cfg_out) + "\n\n" + f"<NumComponents> {count} \n" +
            "".join(comps_out) + f"</Nnet3> {context} <Priors>" + " [ " + " ".join(f"{x:.7g}" for x in priors)
            + " ]\n")


def select_networks(text: str, keep: list[int]) -> str:
    """The networks ``keep`` (their ``mK.`` numbers) of an ensemble, as a model of their own.

    One network comes back as a plain model (prefix dropped); several as an ensemble,
    renumbered from ``m0.`` and equally weighted. An ensemble keeps only its networks'
    geometric mean of priors, not each network's, so the result keeps the source's
    priors: each network's own would differ a little (they were trained on the same
    material and damped alike)."""
    head, cfg, comps, context, priors = _nnet3_parts(text)
    nets = _networks(0, cfg)
    numbers = [int(m.group(1)) for n in nets if (m := _MEMBER.match(n))]
    if len(numbers) != len(nets) or len(nets) < 2:
        raise ValueError("not an ensemble: it holds one network")
    if not keep or len(set(keep)) != len(keep) or not set(keep) <= set(numbers):
        raise ValueError(f"networks {keep} are not distinct networks of this ensemble (it has {numbers})")
    order = {k: i for i, k in enumerate(keep)}

    def rename(name: str) -> str | None:
        m = _MEMBER.match(name)
        if not m or int(m.group(1)) not in order:
            return None
        return name[m.end():] if len(keep) == 1 else f"m{order[int(m.group(1))]}.{name[m.end():]}"

    cfg_out = [line for line in cfg if line.startswith("input-node ")]
    for line in cfg:
        if (m := _NODE.fullmatch(line)) and rename(m.group(1)) is not None:
            desc = re.sub(r"m\d+\.[\w.-]+", lambda t: rename(t.group(0)) or t.group(0), m.group(3))
            cfg_out.append(f"component-node name={rename(m.group(1))} component={rename(m.group(2))} input={desc}")
    outputs = [rename(n) for n in nets if rename(n) is not None]
    outputs.sort(key=lambda o: int(_MEMBER.match(o).group(1)) if _MEMBER.match(o) else 0)
    if len(outputs) == 1:
        cfg_out.append(f"output-node name=output input={outputs[0]} objective=linear")
    else:
        cfg_out.append("output-node name=output input=Sum(" +
                       ", ".join(f"Scale({1 / len(outputs):.8g}, {o})" for o in outputs) + ") objective=linear")
    comps_out = []
    for e in comps.split("<ComponentName> ")[1:]:
        name, _, rest = e.partition(" ")
        if (new := rename(name)) is not None:
            comps_out.append(f"<ComponentName> {new} {rest}")
    return (head + "<Nnet3> \n" + "\n".join(cfg_out) + "\n\n" + f"<NumComponents> {len(comps_out)} \n" +
            "".join(comps_out) + f"</Nnet3> {context} <Priors>" + " [ " + " ".join(f"{x:.7g}" for x in priors)
            + " ]\n")


def write_selected(model: Path, keep: list[int], out: Path, command: str = "",
                   check: Callable[[Path], None] | None = None) -> Path:
    """Write the networks ``keep`` of the ensemble in ``model`` to the model directory ``out``
    (the shared graph, features and decoder settings copied), checked before it replaces ``out``."""
    model = Path(model)
    if not (model / "am" / "final.mdl").is_file():
        raise ValueError(f"{model}: not a model directory (no am/final.mdl)")
    source = (model / "am" / "final.mdl").read_text(encoding="ascii")
    text = select_networks(source, keep)
    info = _info(model)
    kept = {"selected_from": str(model.resolve()), "networks": keep, "command": command,
            "priors": "the source ensemble's geometric mean (its networks' own are not kept)",
            "with_human": info.get("with_human"), "news_dir": info.get("news_dir"),
            "heldout_human": info.get("heldout_human", []), "heldout_voices": info.get("heldout_voices", [])}
    members = info.get("members") or []
    if len(members) == len(_networks(0, _nnet3_parts(source)[1])):     # one build record per network
        kept["members"] = [members[k] for k in keep]
    if info.get("vocabulary"):            # the graph copied is the one these records made
        kept["vocabulary"] = info["vocabulary"]
    return _install(model, text, kept, Path(out), check)


def _info(model: Path) -> dict:
    try:
        return json.loads((model / "build_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def ensemble_info(members: list[Path], command: str, networks: list[int] | None = None) -> dict:
    """``build_info.json`` of an ensemble: its networks' build records, and what holds for the whole
    (trained on the human set if any member was; held out only what every member held out).
    ``networks`` (how many each member holds) lets a member of several bring one record
    per network, when it has exactly that many."""
    infos = [_info(m) for m in members]
    counts = networks or [1] * len(members)

    def records(m: Path, i: dict, n: int) -> list[dict]:
        inner = i.get("members") or []
        return inner if n > 1 and len(inner) == n else [{"path": str(m), **i}]

    held = [set(i.get("heldout_human") or ()) for i in infos]
    voices = [set(i.get("heldout_voices") or ()) for i in infos]
    return {
        "ensemble": True,
        "command": command,
        # one build record per network: a member holding several brings theirs
        "members": [r for m, i, n in zip(members, infos, counts) for r in records(m, i, n)],
        "with_human": any(i.get("with_human") for i in infos),
        "news_dir": next((i["news_dir"] for i in infos if i.get("news_dir")), None),
        "heldout_human": sorted(set.intersection(*held)) if held else [],
        "heldout_voices": sorted(set.intersection(*voices)) if voices else [],
    }


def write_ensemble(members: list[Path], out: Path, command: str = "",
                   check: Callable[[Path], None] | None = None) -> Path:
    """Write the ensemble of ``members`` (model directories) to ``out``.

    The directory is assembled beside ``out``, given to ``check`` (which raises if the
    model will not do), and only then moved into place whole, so a failure leaves ``out``
    as it was.
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
    texts = [(m / "am" / "final.mdl").read_text(encoding="ascii") for m in members]
    text = ensemble_text(texts)
    counts = [len(_networks(k, _nnet3_parts(t)[1])) for k, t in enumerate(texts)]
    return _install(members[0], text, ensemble_info(members, command, counts), Path(out), check)


def _install(shared_from: Path, text: str, info: dict, out: Path, check: Callable[[Path], None] | None) -> Path:
    """Assemble a model directory beside ``out`` (``shared_from``'s shared files, the given
    final.mdl and build_info.json), give it to ``check`` (which raises if the model will not
    do), and only then move it into place whole: a failure leaves ``out`` as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".ensemble-", dir=out.parent))
    try:
        for rel in SHARED:
            if (shared_from / rel).is_file():
                (stage / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(shared_from / rel, stage / rel)
        (stage / "am").mkdir(exist_ok=True)
        (stage / "am" / "final.mdl").write_text(text, encoding="ascii")
        _put_in_place(stage, info, check, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _put_in_place(stage: Path, info: dict, check: Callable[[Path], None] | None, out: Path) -> None:
    """Give the assembled ``stage`` its ``build_info.json``, let ``check`` raise if the model
    will not do, and only then move it to ``out``."""
    (stage / "build_info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    os.chmod(stage, 0o755)
    if check is not None:
        check(stage)
    _replace(stage, out)


def _replace(stage: Path, out: Path) -> None:
    """Move the assembled ``stage`` to ``out``, the old ``out`` (if any) out of the way first."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=".ensemble-old-", dir=out.parent))
        os.replace(out, old / "model")
        os.replace(stage, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(stage, out)


def _edited_copy(model: Path, out: Path, edit: Callable[[Path], dict], check: Callable[[Path], None] | None,
                 prefix: str) -> None:
    """Copy ``model`` beside ``out``, let ``edit`` change the copy (it returns entries to
    merge into the copy's ``build_info.json``), give it to ``check``, and only then move
    it into place whole: a failure leaves ``out`` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(prefix=prefix, dir=out.parent))
    try:
        stage = holder / "model"
        shutil.copytree(model, stage)
        info = _info(stage)
        info.update(edit(stage))
        _put_in_place(stage, info, check, out)
    finally:
        shutil.rmtree(holder, ignore_errors=True)


def write_vocabulary_copy(model: Path, out: Path, command: str = "",
                          check: Callable[[Path], None] | None = None) -> tuple[list[str], list[str]]:
    """Write ``model`` to ``out`` (which may be ``model`` itself) with the lexicon table's
    words (:func:`ivr.speech.graph.write_vocabulary`); the networks are unchanged.

    The copy is assembled beside ``out`` and checked first, as an ensemble is.  Its
    ``build_info.json`` records the command and the words added and removed.  Returns
    (added, removed).
    """
    from ivr.speech import graph as g

    model, out = Path(model), Path(out)
    if not (model / "am" / "final.mdl").is_file():
        raise ValueError(f"{model}: not a model directory (no am/final.mdl)")
    before = set(g.read_symbols(model / "graph" / "words.txt")) - {"<eps>"}
    changed: dict[str, list[str]] = {}

    def edit(stage: Path) -> dict:
        after = set(g.write_vocabulary(stage)) - {"<eps>"}
        changed.update(added=sorted(after - before), removed=sorted(before - after))
        return {"vocabulary": _info(stage).get("vocabulary", []) + [{"command": command, **changed}]}

    _edited_copy(model, out, edit, check, ".lexicon-")
    return changed["added"], changed["removed"]


_NUMBER = re.compile(r"-?\d+\.\d*(?:[eE][-+]?\d+)?|-?\d+[eE][-+]?\d+")


def round_numbers(text: str, digits: int) -> str:
    """``text`` (a Kaldi text final.mdl) with every real number inside ``[ ... ]`` (the
    vectors and matrices) written with ``digits`` significant digits; integers, names
    and the network's configuration lines are left as they are."""
    if not 1 <= digits <= 9:
        raise ValueError(f"significant digits must be 1 to 9, not {digits}")
    out, pos = [], 0
    for m in re.finditer(r"\[[^\[\]]*\]", text):
        out.append(text[pos:m.start()])
        out.append(_NUMBER.sub(lambda n: f"{float(n.group()):.{digits}g}", m.group()))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out)


# A model directory may hold further networks for some grammars: ``am-<name>/final.mdl``
# beside ``am-<name>/grammars.json``.  That file is a list of grammar names, which the
# network decodes instead of ``am/``, or ``{"grammars": [...], "beside": true}``: then
# ``am/`` and the network both decode those grammars and the recogniser averages their
# readings (``ivr.speech.recognizer``).  An ensemble of m1, sa2 and s6 failed (probably
# because networks trained apart put CTC's spikes on different frames; MODEL_CARD.md);
# what each network makes of the whole utterance can be averaged instead.
ATTACHED_PREFIX = "am-"


class Attached(NamedTuple):
    folder: str          # am-<name>
    beside: bool         # decodes beside am/ (readings averaged), not instead of it


def attached_networks(model: Path) -> dict[str, Attached]:
    """grammar name -> the attached network that decodes it, and how."""
    found: dict[str, Attached] = {}
    for folder in sorted(Path(model).glob(ATTACHED_PREFIX + "*")):
        listing = folder / "grammars.json"
        if not (folder / "final.mdl").is_file() or not listing.is_file():
            continue
        raw = json.loads(listing.read_text(encoding="utf-8"))
        beside = False
        if isinstance(raw, dict) and set(raw) <= {"grammars", "beside"} and isinstance(raw.get("beside"), bool):
            raw, beside = raw.get("grammars"), raw["beside"]
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise ValueError(f'{listing} must be a JSON list of grammar names, or {{"grammars": [...], '
                             '"beside": true|false}')
        for name in raw:
            if name in found:
                raise ValueError(f"grammar {name!r} is given to both {found[name].folder} and {folder.name}")
            found[name] = Attached(folder.name, beside)
    return found


def attach_network(model: Path, network: Path, name: str, grammars: list[str], out: Path,
                   digits: int | None = None, command: str = "",
                   check: Callable[[Path], None] | None = None, beside: bool = False) -> Path:
    """Write ``model`` to ``out`` with ``network``'s acoustic model as ``am-<name>/``, the
    network that decodes ``grammars`` instead of ``am/`` (``beside``: as well as ``am/``,
    the readings averaged), its numbers written with ``digits`` significant digits when
    given.  Both must share features, decoder settings and graph; the
    copy is checked before it replaces ``out``; ``build_info.json`` keeps the attached
    network's build record."""
    model, network, out = Path(model), Path(network), Path(out)
    for m in (model, network):
        if not (m / "am" / "final.mdl").is_file():
            raise ValueError(f"{m}: not a model directory (no am/final.mdl)")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", name):
        raise ValueError(f"network name {name!r}: lower-case letters, digits and _ only")
    if not grammars:
        raise ValueError("name at least one grammar for the attached network")
    for rel in SHARED:
        if (model / rel).is_file() != (network / rel).is_file() or (
                (model / rel).is_file() and (model / rel).read_bytes() != (network / rel).read_bytes()):
            raise ValueError(f"{network}: {rel} differs from {model}'s; the networks must share "
                             "features, decoder settings and graph")
    text = (network / "am" / "final.mdl").read_text(encoding="ascii")
    _nnet3_parts(text)                                   # a text nnet3 model, or a clear error
    if digits is not None:
        text = round_numbers(text, digits)

    def edit(stage: Path) -> dict:
        folder = stage / (ATTACHED_PREFIX + name)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        (folder / "final.mdl").write_text(text, encoding="ascii")
        listing = {"grammars": sorted(set(grammars)), "beside": True} if beside else sorted(set(grammars))
        (folder / "grammars.json").write_text(json.dumps(listing) + "\n", encoding="utf-8")
        attached_networks(stage)                          # no grammar given to two networks
        attached = _info(stage).get("attached", {})
        attached[name] = {"grammars": sorted(set(grammars)), "beside": beside, "digits": digits,
                          "command": command, "build": _info(network)}
        return {"attached": attached}

    _edited_copy(model, out, edit, check, ".attach-")
    return out
