"""The pure-Python HCLG writer produces graphs OpenFst-based tools accept."""

from __future__ import annotations

import struct

import pytest

from ivr.speech import graph as g
from ivr.speech.recognizer import default_model_dir


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


def test_hclg_reads_back_with_kaldifst(tmp_path):
    kaldifst = pytest.importorskip("kaldifst")
    spec = g.GraphSpec.load(default_model_dir())
    fst = g.build_hclg(spec, [["ya"], ["tidak"]])
    path = tmp_path / "HCLG.fst"
    g.write_vector_fst(fst, path)
    back = kaldifst.StdVectorFst.read(str(path))
    assert back.num_states == fst.num_states
    assert sum(back.num_arcs(s) for s in range(back.num_states)) == len(fst.arcs)
