"""``ivr model ensemble``: one nnet3 model decoding with its members' mean log-posterior."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ivr.speech import cli
from ivr.speech.ensemble import ensemble_info, ensemble_text, select_networks, write_ensemble
from ivr.speech.lexicon import PHONES, SILENCE
from ivr.speech.recognizer import VoskRecognizer, default_model_dir

BUNDLED = default_model_dir()


def _first_network(text: str) -> str:
    """The bundled ensemble's first network as a plain one-network model (its nodes and
    components without the ``m0.`` prefix, its own output node; the ensemble's priors)."""
    head, _, rest = text.partition("<Nnet3> \n")
    cfg, _, rest = rest.partition("\n\n<NumComponents> ")
    comps, _, tail = rest.partition("</Nnet3> ")
    lines = [ln for ln in cfg.splitlines() if ln.startswith("input-node")]
    lines += [ln.replace("m0.", "") for ln in cfg.splitlines() if ln.startswith("component-node name=m0.")]
    lines.append("output-node name=output input=output.log-softmax objective=linear")
    entries = ["<ComponentName> " + e[len("m0."):] for e in comps.split("\n", 1)[1].split("<ComponentName> ")[1:]
               if e.startswith("m0.")]
    return (head + "<Nnet3> \n" + "\n".join(lines) + "\n\n" + f"<NumComponents> {len(entries)} \n" +
            "".join(entries) + "</Nnet3> " + tail)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> Path:
    """A one-network model: the bundled model's graph with its first network alone
    (and no network attached to it)."""
    out = tmp_path_factory.mktemp("single") / "model"
    shutil.copytree(BUNDLED, out, ignore=shutil.ignore_patterns("am-*"))
    mdl = out / "am" / "final.mdl"
    mdl.write_text(_first_network(mdl.read_text(encoding="ascii")), encoding="ascii")
    return out


def _member(base: Path, tmp_path: Path, name: str, shift=None, info: dict | None = None) -> Path:
    """A copy of ``base``, its output bias moved by ``shift`` (one value per pdf)."""
    out = tmp_path / name
    shutil.copytree(base, out)
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


def test_members_are_renamed_and_the_output_averages_them(single):
    text = (single / "am" / "final.mdl").read_text(encoding="ascii")
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


def _priors(text: str) -> np.ndarray:
    return np.array(text.rpartition("<Priors>")[2].strip().strip("[]").split(), float)


def test_equal_priors_stay_and_different_ones_meet_in_the_geometric_mean(single):
    text = (single / "am" / "final.mdl").read_text(encoding="ascii")
    p = _priors(text)
    assert np.allclose(_priors(ensemble_text([text, text])), p / p.sum(), rtol=1e-6)
    q = np.roll(p, 1)
    other = text.rpartition("<Priors>")[0] + "<Priors> [ " + " ".join(f"{v:.7g}" for v in q) + " ]\n"
    want = np.sqrt(p * q)
    assert np.allclose(_priors(ensemble_text([text, other])), want / want.sum(), rtol=1e-5)


def test_a_constant_shift_changes_nothing_and_a_member_that_hears_only_silence_pulls_the_ensemble(
        single, tmp_path, data_dir):
    wav = data_dir / "digits_andy.wav"
    alone = _text(single, wav)
    assert alone                                                # the network hears the digits
    # log-softmax ignores a constant added to every output: the ensemble decodes as the model
    same = write_ensemble([single, _member(single, tmp_path, "shifted", np.full(len(PHONES), 3.0))],
                          tmp_path / "e1")
    assert _text(same, wav) == alone
    # a member sure of silence everywhere: it hears nothing, and (weight 1/2) it drowns the other
    blank = np.zeros(len(PHONES))
    blank[PHONES.index(SILENCE)] = 80.0
    deaf = _member(single, tmp_path, "deaf", blank)
    assert _text(deaf, wav) == ""
    assert _text(write_ensemble([single, deaf], tmp_path / "e2"), wav) == ""


def test_an_ensemble_member_brings_its_networks_weighted_like_the_others(single):
    bundled = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    one = (single / "am" / "final.mdl").read_text(encoding="ascii")
    assert "Scale(0.33333333, m2.output.log-softmax)" in bundled      # the bundled model holds three
    joined = ensemble_text([one, bundled])
    lines = joined.splitlines()
    assert ("output-node name=output input=Sum(Scale(0.25, m0.output.log-softmax), "
            "Scale(0.25, m1.output.log-softmax), Scale(0.25, m2.output.log-softmax), "
            "Scale(0.25, m3.output.log-softmax)) objective=linear") in lines
    # the bundled model's second network (its m1.) is now m2., and reads its own layers
    node = next(ln for ln in lines if ln.startswith("component-node name=m2.l3.linear "))
    assert "Offset(m2.l2.relu, -3)" in node
    assert bundled.split("<ComponentName> m1.l1.affine ")[1].split("<ComponentName>")[0] == \
        joined.split("<ComponentName> m2.l1.affine ")[1].split("<ComponentName>")[0]
    # the bundled priors (already the geometric mean of three) count three times
    p = _priors(bundled)
    q = np.roll(p, 1)
    other = one.rpartition("<Priors>")[0] + "<Priors> [ " + " ".join(f"{v:.7g}" for v in q) + " ]\n"
    want = (q * p ** 3) ** 0.25
    assert np.allclose(_priors(ensemble_text([other, bundled])), want / want.sum(), rtol=1e-5)


def test_an_output_that_is_not_a_mean_of_networks_is_refused(single):
    text = (single / "am" / "final.mdl").read_text(encoding="ascii")
    ens = ensemble_text([text, text])
    skewed = ens.replace("Scale(0.5, m1.output.log-softmax)", "Scale(0.7, m1.output.log-softmax)")
    with pytest.raises(ValueError, match="neither one network's nor an ensemble's"):
        ensemble_text([text, skewed])


def test_members_must_share_graph_and_context(single, tmp_path):
    other_graph = _member(single, tmp_path, "graph")
    (other_graph / "graph" / "HCLG.fst").write_bytes(b"\0" + (BUNDLED / "graph" / "HCLG.fst").read_bytes())
    with pytest.raises(ValueError, match="graph/HCLG.fst differs"):
        write_ensemble([single, other_graph], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    text = (single / "am" / "final.mdl").read_text(encoding="ascii")
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


def test_a_model_that_fails_its_check_is_not_put_in_place(single, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep").write_text("old", encoding="utf-8")
    seen = []

    def refuse(stage: Path) -> None:
        seen.append((stage / "am" / "final.mdl").is_file())
        raise ValueError("Vosk would not load it")

    with pytest.raises(ValueError, match="would not load"):
        write_ensemble([single, single], out, check=refuse)
    assert seen == [True] and (out / "keep").read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_cli_writes_a_loadable_ensemble_and_its_build_info(single, tmp_path, capsys):
    a = _member(single, tmp_path, "a", info={"with_human": True, "heldout_human": ["FOC", "FWP", "MDS", "MRS"],
                                     "heldout_voices": ["Andy", "Mike"], "news_dir": "/n", "seed": 1})
    b = _member(single, tmp_path, "b", info={"with_human": True, "heldout_human": [], "heldout_voices": ["Andy"],
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


def test_info_without_build_info_holds_nothing_out(single, tmp_path):
    a = _member(single, tmp_path, "a")
    (a / "build_info.json").unlink()
    info = ensemble_info([a, BUNDLED], "x")
    assert info["heldout_human"] == [] and info["members"][0] == {"path": str(a)}


def test_one_network_taken_out_of_the_ensemble_is_that_network_alone():
    bundled = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    assert select_networks(bundled, [0]) == _first_network(bundled)
    second = select_networks(bundled, [1])
    assert "m1." not in second and "output-node name=output input=output.log-softmax objective=linear" in second
    assert bundled.split("<ComponentName> m1.l3.linear ")[1].split("<ComponentName>")[0] == \
        second.split("<ComponentName> l3.linear ")[1].split("<ComponentName>")[0]


def test_networks_taken_out_and_joined_again_give_the_ensemble_back():
    bundled = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    two = select_networks(bundled, [0, 1])
    assert ("output-node name=output input=Sum(Scale(0.5, m0.output.log-softmax), "
            "Scale(0.5, m1.output.log-softmax)) objective=linear") in two.splitlines()
    assert "m2." not in two and _priors(two).tolist() == _priors(bundled).tolist()
    again = ensemble_text([two, select_networks(bundled, [2])])
    assert again.partition("<Priors>")[0] == bundled.partition("<Priors>")[0]
    assert np.allclose(_priors(again), _priors(bundled), rtol=1e-6)
    # kept in another order: renumbered in that order
    swapped = select_networks(bundled, [2, 0])
    assert bundled.split("<ComponentName> m2.l1.affine ")[1].split("<ComponentName>")[0] == \
        swapped.split("<ComponentName> m0.l1.affine ")[1].split("<ComponentName>")[0]


@pytest.mark.parametrize("keep", [[], [3], [0, 0], [-1]])
def test_networks_the_ensemble_lacks_are_refused(keep):
    bundled = (BUNDLED / "am" / "final.mdl").read_text(encoding="ascii")
    with pytest.raises(ValueError, match="not distinct networks"):
        select_networks(bundled, keep)


def test_a_single_network_has_nothing_to_take_out(single):
    with pytest.raises(ValueError, match="holds one network"):
        select_networks((single / "am" / "final.mdl").read_text(encoding="ascii"), [0])


def test_cli_extract_writes_a_loadable_model_and_says_where_it_came_from(single, tmp_path, capsys):
    out = tmp_path / "two"
    assert cli.main(["model", "extract", "--out", str(out), "--networks", "0,2", str(BUNDLED)]) == 0
    assert "networks 0 2 of" in capsys.readouterr().out
    info = json.loads((out / "build_info.json").read_text(encoding="utf-8"))
    bundled_info = json.loads((BUNDLED / "build_info.json").read_text(encoding="utf-8"))
    assert info["networks"] == [0, 2] and "geometric mean" in info["priors"]
    assert info["members"] == [bundled_info["members"][0], bundled_info["members"][2]]
    assert info["heldout_human"] == bundled_info["heldout_human"]
    assert (out / "graph" / "HCLG.fst").read_bytes() == (BUNDLED / "graph" / "HCLG.fst").read_bytes()
    # a bad choice is a clear error and leaves what was there
    assert cli.main(["model", "extract", "--out", str(out), "--networks", "0,7", str(BUNDLED)]) == 1
    assert "not distinct networks" in capsys.readouterr().err
    assert json.loads((out / "build_info.json").read_text(encoding="utf-8"))["networks"] == [0, 2]
    # joined with another model: one build record per network, the taken-out ones' first
    again = tmp_path / "three"
    assert cli.main(["model", "ensemble", "--out", str(again), str(out), str(single)]) == 0
    records = json.loads((again / "build_info.json").read_text(encoding="utf-8"))["members"]
    assert records[:2] == info["members"] and records[2]["path"] == str(single) and len(records) == 3


def test_cli_lexicon_gives_a_model_the_tables_words_and_keeps_its_networks(tmp_path, capsys):
    from ivr.speech import graph as g
    from ivr.speech.lexicon import CARRIER, LEXICON

    old = tmp_path / "old"
    shutil.copytree(BUNDLED, old)
    # a model from before the table's last two carrier words were in it
    gone = sorted(CARRIER[-2:])
    words = [w for w in g.read_symbols(old / "graph" / "words.txt") if w != "<eps>" and w not in gone]
    g.write_symbols(words, old / "graph" / "words.txt")
    (old / "graph" / "lexicon.txt").write_text(
        "".join(ln + "\n" for ln in (old / "graph" / "lexicon.txt").read_text(encoding="utf-8").splitlines()
                if ln.split()[0] not in gone), encoding="utf-8")
    assert set(gone).isdisjoint(g.GraphSpec.load(old).lexicon)
    out = tmp_path / "new"
    assert cli.main(["model", "lexicon", "--out", str(out), str(old)]) == 0
    assert f"words added: {' '.join(gone)}; removed: none" in capsys.readouterr().out
    assert list(g.read_symbols(out / "graph" / "words.txt"))[1:] == list(LEXICON)
    assert {w: p for w, p in g.GraphSpec.load(out).lexicon.items()} == LEXICON
    assert (out / "am" / "final.mdl").read_bytes() == (old / "am" / "final.mdl").read_bytes()
    info = json.loads((out / "build_info.json").read_text(encoding="utf-8"))
    assert info["vocabulary"][-1]["added"] == gone and info["vocabulary"][-1]["removed"] == []
    assert "model lexicon --out" in info["vocabulary"][-1]["command"] and info["members"]
    # every graph file is the one a build of the table writes (the bundled model's)
    for name in ("words.txt", "lexicon.txt", "HCLG.fst", "phones.txt", "graph.json"):
        assert (out / "graph" / name).read_bytes() == (BUNDLED / "graph" / name).read_bytes(), name
    # taken out of the ensemble again, the networks keep the record of their words
    two = tmp_path / "two"
    assert cli.main(["model", "extract", "--out", str(two), "--networks", "0,1", str(out)]) == 0
    assert json.loads((two / "build_info.json").read_text(encoding="utf-8"))["vocabulary"] == info["vocabulary"]


def test_cli_lexicon_refuses_a_model_of_another_phone_set_and_leaves_it_as_it_was(tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(BUNDLED, other)
    phones = other / "graph" / "phones.txt"
    phones.write_text(phones.read_text(encoding="utf-8").replace("ng ", "nx "), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in (other / "graph").iterdir()}
    assert cli.main(["model", "lexicon", str(other)]) == 1
    assert "phone set is not the lexicon's" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (other / "graph").iterdir()} == before
    assert cli.main(["model", "lexicon", str(tmp_path / "nowhere")]) == 1
    assert "not a model directory" in capsys.readouterr().err


def test_numbers_are_rounded_inside_vectors_and_matrices_only():
    from ivr.speech.ensemble import round_numbers

    text = ("<Nnet3> \ncomponent-node name=m0.l1 input=Sum(Scale(0.33333333, m0.out)) dim=256\n"
            "<Dim> 16405 <LinearParams> [\n  0.0060709161 -1.234567e-05 12\n  3.14159265 2 ]\n"
            "<Priors> [ 0.123456789 1e-07 ]\n")
    out = round_numbers(text, 4)
    assert "Scale(0.33333333, m0.out)) dim=256" in out and "<Dim> 16405 " in out   # config and integers kept
    assert "[\n  0.006071 -1.235e-05 12\n  3.142 2 ]" in out and "[ 0.1235 1e-07 ]" in out
    with pytest.raises(ValueError, match="1 to 9"):
        round_numbers(text, 0)


def _unattached(tmp_path: Path) -> Path:
    """The bundled model without the networks attached to it (only its ensemble)."""
    out = tmp_path / "base"
    shutil.copytree(BUNDLED, out, ignore=shutil.ignore_patterns("am-*"))
    return out


def test_cli_attach_gives_some_grammars_a_network_of_their_own(single, tmp_path, data_dir, capsys):
    from ivr.speech.ensemble import attached_networks

    base = _unattached(tmp_path)
    blank = np.zeros(len(PHONES))
    blank[PHONES.index(SILENCE)] = 80.0
    deaf = _member(single, tmp_path, "deaf", blank, info={"command": "a network that hears only silence"})
    out = tmp_path / "pair"
    assert cli.main(["model", "attach", "--name", "deaf", "--grammars", "yesno,menu", "--digits", "6",
                     "--out", str(out), str(base), str(deaf)]) == 0
    assert "decodes yesno, menu instead of am/ (am-deaf/)" in capsys.readouterr().out
    assert attached_networks(out) == {"yesno": ("am-deaf", False), "menu": ("am-deaf", False)}
    info = json.loads((out / "build_info.json").read_text(encoding="utf-8"))
    assert info["attached"]["deaf"]["grammars"] == ["menu", "yesno"] and info["attached"]["deaf"]["digits"] == 6
    assert info["attached"]["deaf"]["beside"] is False
    assert info["attached"]["deaf"]["build"]["command"] == "a network that hears only silence"
    assert info["members"] == json.loads((BUNDLED / "build_info.json").read_text(encoding="utf-8"))["members"]
    assert (out / "am" / "final.mdl").read_bytes() == (BUNDLED / "am" / "final.mdl").read_bytes()
    # the attached network decodes its grammars, every other grammar keeps the model's own
    rec = VoskRecognizer(out)
    assert rec.recognize(data_dir / "yes_annie.wav", "yesno").text == ""
    assert rec.recognize(data_dir / "menu_andy.wav", "menu").text == ""
    assert rec.recognize(data_dir / "yes_annie.wav", "confirm").text == \
        VoskRecognizer(base).recognize(data_dir / "yes_annie.wav", "confirm").text != ""
    assert rec.recognize(data_dir / "digits_andy.wav", "digits").text == "satu dua tiga"


def test_cli_attach_refuses_what_cannot_work_and_leaves_the_model_as_it_was(single, tmp_path, capsys):
    out = tmp_path / "pair"
    assert cli.main(["model", "attach", "--name", "one", "--grammars", "yesno", "--out", str(out),
                     str(_unattached(tmp_path)), str(single)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    cases = [
        (["--name", "two", "--grammars", "yesno"], "given to both"),
        (["--name", "Bad/name", "--grammars", "menu"], "lower-case letters"),
        (["--name", "two", "--grammars", ","], "at least one grammar"),
        (["--name", "two", "--grammars", "menu", "--digits", "0"], "1 to 9"),
        (["--name", "two", "--grammars", "digits", "--beside"], "instead of am/ but not beside it"),
    ]
    for flags, message in cases:
        assert cli.main(["model", "attach", *flags, "--out", str(out), str(out), str(single)]) == 1
        assert message in capsys.readouterr().err
    other = tmp_path / "other"
    shutil.copytree(single, other)
    (other / "conf" / "model.conf").write_text("--beam=20\n", encoding="ascii")
    assert cli.main(["model", "attach", "--name", "two", "--grammars", "menu", "--out", str(out),
                     str(out), str(other)]) == 1
    assert "conf/model.conf differs" in capsys.readouterr().err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_broken_list_of_attached_grammars_is_a_clear_error(tmp_path):
    from ivr.errors import RecognizerError

    model = tmp_path / "model"
    shutil.copytree(BUNDLED, model)
    shutil.copytree(model / "am", model / "am-words")
    for broken in ('{"yesno": 1}', '{"grammars": ["yesno"], "beside": "yes"}', '{"grammars": "yesno", "beside": true}'):
        (model / "am-words" / "grammars.json").write_text(broken, encoding="utf-8")
        with pytest.raises(RecognizerError, match="attached networks .* are broken: .*list of grammar names"):
            VoskRecognizer(model)


def _without_dither(model: Path) -> Path:
    """``model`` decoding the same audio the same way every time (Kaldi draws the dither
    from one random state per process, so a decode depends on those before it)."""
    mfcc = model / "conf" / "mfcc.conf"
    mfcc.write_text(mfcc.read_text(encoding="utf-8").replace("--dither=1.0", "--dither=0"), encoding="utf-8")
    return model


def test_a_network_beside_am_averages_each_readings_posterior_and_each_class_score(single, tmp_path, data_dir,
                                                                                   capsys):
    from ivr.speech.ensemble import attached_networks

    base = _without_dither(_unattached(tmp_path))
    blank = np.zeros(len(PHONES))
    blank[PHONES.index(SILENCE)] = 80.0
    deaf = _without_dither(_member(single, tmp_path, "deaf", blank))
    pair, twin = tmp_path / "pair", tmp_path / "twin"
    assert cli.main(["model", "attach", "--name", "deaf", "--grammars", "yesno", "--beside",
                     "--out", str(pair), str(base), str(deaf)]) == 0
    assert "decodes yesno beside am/ (readings averaged) (am-deaf/)" in capsys.readouterr().out
    assert attached_networks(pair) == {"yesno": ("am-deaf", True)}
    assert json.loads((pair / "build_info.json").read_text(encoding="utf-8"))["attached"]["deaf"]["beside"] is True
    # the model's own network beside itself: every figure as the model alone
    assert cli.main(["model", "attach", "--name", "twin", "--grammars", "yesno", "--beside",
                     "--out", str(twin), str(base), str(base)]) == 0
    alone, both, with_twin = VoskRecognizer(base), VoskRecognizer(pair), VoskRecognizer(twin)
    for name in ("yes_annie.wav", "no_mike.wav"):
        own = alone.recognize(data_dir / name, "yesno")
        assert own.text != "" and dict(own.evidence).keys() == {"yes", "no"}
        same = with_twin.recognize(data_dir / name, "yesno")
        assert (same.text, same.alternatives, same.evidence) == (own.text, own.alternatives, own.evidence)
        # beside a network that hears only silence, each reading's posterior is the mean
        # of its two posteriors (0 where a network lacks it) and each class's score too
        silent = VoskRecognizer(deaf).recognize(data_dir / name, "yesno")
        expected: dict[str, float] = {}
        for h in own.alternatives + silent.alternatives:
            expected[h.text] = expected.get(h.text, 0.0) + h.confidence / 2
        got = both.recognize(data_dir / name, "yesno")
        assert {h.text: h.confidence for h in got.alternatives} == pytest.approx(expected, abs=1e-4)
        assert got.confidence == pytest.approx(max(expected.values()), abs=1e-4)
        assert expected[got.text] == pytest.approx(max(expected.values()), abs=1e-4)
        assert got.alternatives != own.alternatives
        deaf_scores = dict(silent.evidence)
        for cls, score in own.evidence:
            assert dict(got.evidence)[cls] == pytest.approx((score + deaf_scores[cls]) / 2, abs=1e-3)
        assert dict(got.evidence) != dict(own.evidence)
        # a grammar not attached keeps the model's own network alone
        assert both.recognize(data_dir / name, "confirm").alternatives == \
            alone.recognize(data_dir / name, "confirm").alternatives
