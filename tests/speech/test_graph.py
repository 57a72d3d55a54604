"""The pure-Python HCLG writer produces graphs OpenFst-based tools accept."""

from __future__ import annotations

import struct

import pytest

from ivr.speech import graph as g
from ivr.speech.recognizer import default_model_dir
from tests.needs import TRAIN_EXTRA


def test_grammar_parsing_reports_unknown_words():
    spec = g.GraphSpec.load(default_model_dir())
    usable, unknown = g.parse_grammar(["satu", "Dua", "tiga ratus", "[unk]"], spec)
    assert usable == [["satu"], ["dua"], ["[unk]"]]
    assert unknown == ["ratus"]


def test_hclg_header_and_counts():
    spec = g.GraphSpec.load(default_model_dir())
    fst = g.build_hclg(spec, [["satu"], ["dua", "tiga"]])
    raw = g.fst_bytes(fst)
    assert struct.unpack("<i", raw[:4])[0] == 2125659606
    assert raw[8:14] == b"vector"
    words = {a.olabel for a in fst.arcs if a.olabel}
    assert words == {spec.words["satu"], spec.words["dua"], spec.words["tiga"]}
    assert fst.finals[fst.start] == 0.0


@pytest.mark.train
def test_hclg_reads_back_with_kaldifst(tmp_path):
    kaldifst = pytest.importorskip("kaldifst", reason=TRAIN_EXTRA)
    spec = g.GraphSpec.load(default_model_dir())
    fst = g.build_hclg(spec, [["ya"], ["tidak"]])
    path = tmp_path / "HCLG.fst"
    g.write_vector_fst(fst, path)
    back = kaldifst.StdVectorFst.read(str(path))
    assert back.num_states == fst.num_states
    assert sum(back.num_arcs(s) for s in range(back.num_states)) == len(fst.arcs)


def _accepts(fst: g.Fst, tids: list[int]) -> bool:
    """Does the graph accept this transition-id sequence (epsilons in between)?"""
    out: dict[int, list[g.Arc]] = {}
    for arc in fst.arcs:
        out.setdefault(arc.src, []).append(arc)

    def closure(states: set[int]) -> set[int]:
        todo, seen = list(states), set(states)
        while todo:
            for arc in out.get(todo.pop(), []):
                if arc.ilabel == 0 and arc.dst not in seen:
                    seen.add(arc.dst)
                    todo.append(arc.dst)
        return seen

    cur = closure({fst.start})
    for tid in tids:
        cur = closure({a.dst for s in cur for a in out.get(s, []) if a.ilabel == tid})
    return any(s in fst.finals for s in cur)


def _frames(spec: g.GraphSpec, phones: list[str]) -> list[int]:
    """One frame per phone: its exit transition."""
    return [spec.transitions[p][1] for p in phones]


def test_ctc_graph_allows_blanks_between_a_words_phones_only_when_asked():
    import dataclasses

    spec = g.GraphSpec.load(default_model_dir())
    plain = dataclasses.replace(spec, blank_phone=None)
    ctc = dataclasses.replace(spec, blank_phone=spec.silence_phone)
    with_blanks = _frames(spec, ["sil", "s", "sil", "a", "t", "sil", "u", "sil"])
    without = _frames(spec, ["s", "a", "t", "u"])
    assert _accepts(g.build_hclg(ctc, [["satu"]]), with_blanks)
    assert _accepts(g.build_hclg(ctc, [["satu"]]), without)
    assert not _accepts(g.build_hclg(plain, [["satu"]]), with_blanks)
    assert _accepts(g.build_hclg(plain, [["satu"]]), without)
    # A blank is never the whole word: the phones themselves stay mandatory.
    assert not _accepts(g.build_hclg(ctc, [["satu"]]), _frames(spec, ["s", "sil", "t", "u"]))


def test_other_words_are_heard_as_unk_only_where_the_grammar_allows_unk():
    spec = g.GraphSpec.load(default_model_dir())
    ya = _frames(spec, ["y", "a"])
    satu = _frames(spec, ["s", "a", "t", "u"])
    with_unk = g.build_hclg(spec, [["satu"], ["[unk]"]])
    assert _accepts(with_unk, ya)
    # "ya" can only come out as [unk], never as itself.
    assert spec.words["ya"] not in {a.olabel for a in with_unk.arcs}
    assert not _accepts(g.build_hclg(spec, [["satu"]]), ya)
    # Digits are never garbage: a yes/no question does not swallow answers into them.
    assert not _accepts(g.build_hclg(spec, [["ya"], ["[unk]"]]), satu)


def test_require_word_leaves_out_the_empty_reading_but_keeps_trailing_silence():
    spec = g.GraphSpec.load(default_model_dir())
    silence = _frames(spec, ["sil"])
    ya_then_pause = _frames(spec, ["sil", "y", "a", "sil"])
    free = g.build_hclg(spec, [["ya"], ["iya"]])
    forced = g.build_hclg(spec, [["ya"], ["iya"]], require_word=True)
    assert _accepts(free, silence) and not _accepts(forced, silence)
    assert _accepts(forced, ya_then_pause) and _accepts(forced, _frames(spec, ["y", "a"]))


def test_word_costs_ride_on_the_arc_into_the_word():
    spec = g.GraphSpec.load(default_model_dir())
    fst = g.build_hclg(spec, [["ya"], ["tidak"]], costs={"ya": 2.5})
    into = {a.olabel: a.weight for a in fst.arcs if a.olabel}
    assert into[spec.words["ya"]] == pytest.approx(spec.word_cost + 2.5)
    assert into[spec.words["tidak"]] == pytest.approx(spec.word_cost)


def test_g2p_spells_indonesian_with_the_models_phones():
    from ivr.speech.lexicon import LEXICON, PHONES, g2p, pronounce

    assert g2p("nggak") == LEXICON["nggak"]
    assert g2p("nyanyi") == ("n", "y", "a", "n", "y", "i")
    assert g2p("syarat") == ("s", "y", "a", "r", "a", "t")
    assert g2p("kagak") == LEXICON["kagak"] and g2p("ndak") == LEXICON["ndak"]
    assert pronounce("telepon") == LEXICON["telepon"]          # the table's /e/, not the rules' schwa
    assert set(g2p("penyelewengan-x'9")) <= set(PHONES)


def test_costs_reach_garbage_words_and_counted_graphs_hold_the_length():
    spec = g.GraphSpec.load(default_model_dir())
    fst = g.build_hclg(spec, [["satu"], ["[unk]"]], costs={"saya": -2.0})
    unk = spec.words["[unk]"]
    weights = sorted({round(a.weight, 3) for a in fst.arcs if a.olabel == unk})
    base = spec.word_cost + (spec.unk_cost if spec.reject_cost is None else spec.reject_cost)
    assert round(base - 2.0, 3) in weights and round(base, 3) in weights
    two = g.build_counted(spec, ["satu", "dua"], 2)
    satu, dua = _frames(spec, ["s", "a", "t", "u"]), _frames(spec, ["d", "u", "w", "a"])
    assert _accepts(two, satu + dua) and _accepts(two, satu + _frames(spec, ["sil"]) + satu)
    assert not _accepts(two, satu) and not _accepts(two, satu + dua + satu)


def test_a_second_lexicon_line_is_a_variant_the_graphs_accept():
    import dataclasses

    from ivr.speech.lexicon import LEXICON, VARIANTS, lexicon_text

    model = default_model_dir()
    # The bundled model decodes with exactly the table's words and variants.
    assert (model / "graph" / "lexicon.txt").read_text(encoding="utf-8") == lexicon_text()
    spec = g.GraphSpec.load(model)
    assert spec.variants == VARIANTS and spec.lexicon["ndak"] == LEXICON["ndak"]
    assert spec.prons("ndak") == (LEXICON["ndak"], ("@", "n", "d", "a", "k"))
    plain = dataclasses.replace(spec, variants={})
    opened = _frames(spec, ["@", "n", "d", "a", "k"])
    for grammar in ([["ndak"]], [["tidak"], ["ndak", "benar"]]):
        if len(grammar) > 1:
            opened = _frames(spec, ["t", "i", "d", "a", "k", "sil"]) + opened + _frames(spec, ["b", "@", "n", "a", "r"])
        assert _accepts(g.build_hclg(spec, grammar), opened)
        assert not _accepts(g.build_hclg(plain, grammar), opened)
    # as garbage around digits too (a variant never becomes a digit)
    counted = g.build_counted(spec, ["satu"], 1)
    assert _accepts(counted, _frames(spec, ["@", "n", "d", "a", "k", "sil", "s", "a", "t", "u"]))
    assert not _accepts(g.build_counted(plain, ["satu"], 1),
                        _frames(spec, ["@", "n", "d", "a", "k", "sil", "s", "a", "t", "u"]))


def test_a_repeated_identical_lexicon_line_is_not_a_variant(tmp_path):
    import shutil

    shutil.copytree(default_model_dir() / "graph", tmp_path / "graph")
    with (tmp_path / "graph" / "lexicon.txt").open("a", encoding="utf-8") as f:
        f.write("satu s a t u\n\ndua d u a\n")
    spec = g.GraphSpec.load(tmp_path)
    assert "satu" not in spec.variants and spec.variants["dua"] == (("d", "u", "a"),)
    assert spec.prons("dua") == (("d", "u", "w", "a"), ("d", "u", "a"))


def test_phone_loop_takes_any_phones_as_garbage_but_never_one_phone_twice_in_a_row():
    import dataclasses

    spec = dataclasses.replace(g.GraphSpec.load(default_model_dir()), blank_phone="sil")
    assert "tempat" not in spec.lexicon
    tempat = _frames(spec, ["t", "@", "m", "p", "a", "t"])
    plain = g.build_hclg(spec, [["satu"], ["[unk]"]])
    loop = g.build_hclg(spec, [["satu"], ["[unk]"]], phone_cost=0.75, phone_entry=2.5)
    assert not _accepts(plain, tempat)
    assert _accepts(loop, tempat)
    assert _accepts(loop, tempat + _frames(spec, ["sil", "s", "a", "t", "u"]))
    # One pass through the loop alone: a long "a" is one phone, not "a a" (two
    # garbage words in a row, each paying to enter, remain possible in a grammar).
    b = g._Builder()
    src, dst = b.state(), b.state()
    b.phone_loop(src, dst, spec, spec.words["[unk]"], 2.5, 0.75)
    alone = g.Fst(num_states=b.num_states, start=src, finals={dst: 0.0}, arcs=tuple(b.arcs))
    assert _accepts(alone, tempat)
    assert _accepts(alone, _frames(spec, ["t", "a", "sil", "a"]))      # a blank between: two phones
    assert not _accepts(alone, _frames(spec, ["t", "a", "a"]))
    assert not _accepts(alone, [])                                     # at least one phone
    unk = spec.words["[unk]"]
    entries = [a for a in loop.arcs if a.olabel == unk and a.weight == 2.5]
    assert len(entries) == 1
    per_phone = [a for a in loop.arcs if a.ilabel == 0 and a.olabel == 0 and a.weight == 0.75]
    phones = len(spec.transitions) - 2                                    # no silence, no garbage phone
    assert len(per_phone) == phones + phones * (phones - 1)             # into the loop, then from phone to phone
    # Without [unk] in the grammar there is no garbage, and so no loop.
    assert len(g.build_hclg(spec, [["satu"]], phone_cost=0.75).arcs) == len(g.build_hclg(spec, [["satu"]]).arcs)


def test_every_carrier_word_is_garbage_around_digits_and_never_a_digit():
    from ivr.speech.lexicon import CARRIER, LEXICON

    spec = g.GraphSpec.load(default_model_dir())
    one = g.build_counted(spec, ["satu"], 1)
    free = g.build_hclg(spec, [["satu"], ["[unk]"]])
    satu = _frames(spec, ["s", "a", "t", "u"])
    for word in CARRIER:
        said = _frames(spec, list(LEXICON[word]) + ["sil"])
        assert _accepts(one, said + satu) and _accepts(one, satu + said), word
        assert _accepts(free, said + satu), word
        # only as [unk]: no arc labelled with the word itself
        assert not any(a.olabel == spec.words[word] for a in free.arcs), word
