"""``ivr model ensemble``: one nnet3 model decoding with its members' mean log-posterior."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ivr.speech import cli
from ivr.speech.ensemble import ensemble_info, ensemble_text, write_ensemble
from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.recognizer import VoskRecognizer, default_model_dir

BUNDLED = default_model_dir()


def _member(tmp_path: Path, name: str, shift=None, info: dict | None = None) -> Path:
    """A copy of the bundled model, its output bias moved by ``shift`` (one value per pdf)."""
    out = tmp_path / name
    shutil.copytree(BUNDLED, out)
    mdl = out / "am" / "final.mdl"
    if shift is not None:
        text = mdl.read_text(encoding="ascii")
        m = re.search(r"(<ComponentName> output\.affine <AffineComponent>.*?<BiasParams>\s*\[)(.*?)(\])",
                      text, re.S)
        bias = np.array(m.group(2).split(), float) + np.asarray(shift, float)
        text = text[:m.start(2)] + " " + " ".join(f"{v:.7g}" for v in bias) + " " + text[m.end(2):]
        mdl.write_text(text, encoding="ascii")
    if info is not None:
        (out / "build_info.json").write_text(json.dumps(info), encoding="utf-8")
    return out


def _text(model: Path, wav: Path) -> str:
    return VoskRecognizer(model).recognize(wav, "digits").text


def test_members_are_renamed_and_the_output_averages_them():
    text = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    joined = ensemble_text([text, text, text])
    lines = joined.splitlines()
    assert lines.count("input-node name=input dim=30") == 1
    assert ("output-node name=output input=Sum(Scale(0.33333333, m0.output.log-softmax), "
            "Scale(0.33333333, m1.output.log-softmax), Scale(0.33333333, m2.output.log-softmax)) "
            "objective=linear") in lines
    # every member's spliced inputs point at its own layers, never at another member's
    for k in range(3):
        node = next(ln for ln in lines if ln.startswith(f"component-node name=m{k}.l3.linear "))
        assert f"Offset(m{k}.l2.relu, -3)" in node and f"m{k}.l2.relu, Offset(m{k}.l2.relu, 3)" in node
    components = int(re.search(r"<NumComponents> (\d+)", text).group(1))
    assert f"<NumComponents> {3 * components} " in joined
    assert joined.count("<ComponentName> m2.output.log-softmax <LogSoftmaxComponent>") == 1
    assert joined.rstrip().endswith("]") and "<LeftContext> 18 <RightContext> 18 <Priors>" in joined


def test_equal_priors_stay_and_different_ones_meet_in_the_geometric_mean():
    text = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")

    def priors(t: str) -> np.ndarray:
        return np.array(t.rpartition("<Priors>")[2].strip().strip("[]").split(), float)

    p = priors(text)
    assert np.allclose(priors(ensemble_text([text, text])), p / p.sum(), rtol=1e-6)
    q = np.roll(p, 1)
    other = text.rpartition("<Priors>")[0] + "<Priors> [ " + " ".join(f"{v:.7g}" for v in q) + " ]\n"
    want = np.sqrt(p * q)
    assert np.allclose(priors(ensemble_text([text, other])), want / want.sum(), rtol=1e-5)


def test_a_constant_shift_changes_nothing_and_a_member_that_hears_only_silence_pulls_the_ensemble(
        tmp_path, data_dir):
    wav = data_dir / "digits_andy.wav"
    alone = _text(BUNDLED, wav)
    assert alone                                                # the bundled model hears the digits
    # log-softmax ignores a constant added to every output: the ensemble decodes as the model
    same = write_ensemble([BUNDLED, _member(tmp_path, "shifted", np.full(len(PHONES), 3.0))], tmp_path / "e1")
    assert _text(same, wav) == alone
    # a member sure of silence everywhere: it hears nothing, and (weight 1/2) it drowns the other
    blank = np.zeros(len(PHONES))
    blank[PHONES.index(SILENCE)] = 80.0
    deaf = _member(tmp_path, "deaf", blank)
    assert _text(deaf, wav) == ""
    assert _text(write_ensemble([BUNDLED, deaf], tmp_path / "e2"), wav) == ""


def test_members_must_share_graph_and_context(tmp_path):
    other_graph = _member(tmp_path, "graph")
    (other_graph / "graph" / "HCLG.fst").write_bytes(b"\0" + (BUNDLED / "graph" / "HCLG.fst").read_bytes())
    with pytest.raises(ValueError, match="graph/HCLG.fst differs"):
        write_ensemble([BUNDLED, other_graph], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    text = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    wider = text.replace("<LeftContext> 18 <RightContext> 18", "<LeftContext> 21 <RightContext> 21")
    with pytest.raises(ValueError, match="context"):
        ensemble_text([text, wider])
    with pytest.raises(ValueError, match="at least two"):
        ensemble_text([text])
    with pytest.raises(ValueError, match="no <Nnet3>"):
        ensemble_text([text, "<TransitionModel> </TransitionModel> nothing"])


def test_cli_error_leaves_the_old_model_in_place(tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep").write_text("old", encoding="utf-8")
    assert cli.main(["model", "ensemble", "--out", str(out), str(BUNDLED), str(tmp_path / "missing")]) == 1
    assert "not a model directory" in capsys.readouterr().err
    assert (out / "keep").read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".ensemble")] == []


def test_cli_writes_a_loadable_ensemble_and_its_build_info(tmp_path, capsys):
    a = _member(tmp_path, "a", info={"with_human": True, "heldout_human": ["FOC", "FWP", "MDS", "MRS"],
                                     "heldout_voices": ["Andy", "Mike"], "news_dir": "/n", "seed": 1})
    b = _member(tmp_path, "b", info={"with_human": True, "heldout_human": [], "heldout_voices": ["Andy"],
                                     "news_dir": "/n", "seed": 2})
    out = tmp_path / "ens"
    assert cli.main(["model", "ensemble", "--out", str(out), str(a), str(b)]) == 0
    assert "ensemble of 2 models" in capsys.readouterr().out
    info = json.loads((out / "build_info.json").read_text(encoding="utf-8"))
    # a member that trained on the test speakers makes the whole ensemble one that did
    assert info["ensemble"] is True and info["heldout_human"] == [] and info["heldout_voices"] == ["Andy"]
    assert [m["seed"] for m in info["members"]] == [1, 2]
    assert info["command"].startswith("ivr model ensemble --out")
    assert (out / "graph" / "HCLG.fst").read_bytes() == (BUNDLED / "graph" / "HCLG.fst").read_bytes()


def test_info_without_build_info_holds_nothing_out(tmp_path):
    a = _member(tmp_path, "a")
    (a / "build_info.json").unlink()
    info = ensemble_info([a, BUNDLED], "x")
    assert info["heldout_human"] == [] and info["members"][0] == {"path": str(a)}
