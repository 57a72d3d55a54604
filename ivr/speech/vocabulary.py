"""Teach a built model new words without retraining it.

A word is a chain of phones in the decoding graph, so any word whose phones the
acoustic model has learnt can be added to a model directory's vocabulary
(``graph/words.txt``, ``graph/lexicon.txt`` and the static ``graph/HCLG.fst``); the
recogniser compiles its grammar graphs from those files when it loads.

A phone the network never had as a training target (its output is untrained) is
replaced by its nearest trained phone (``SUBSTITUTES``): the first bundled model
learnt no word with /e/, so "oke" is decoded as "ok@" by it until a build that
includes the new words (``ivr model build``) learns the real /e/.  Words that still
need an untrained phone are left out and reported.
"""

from __future__ import annotations

from pathlib import Path

from ivr.speech import graph as g
from ivr.speech.lexicon import GARBAGE, LEXICON, SILENCE

SUBSTITUTES = {"e": "@"}


def model_lexicon(model_dir: Path) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for line in (model_dir / "graph" / "lexicon.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts:
            table[parts[0]] = tuple(parts[1:])
    return table


def add_words(model_dir: Path, lexicon: dict[str, tuple[str, ...]] | None = None,
              trained: set[str] | None = None) -> tuple[list[str], list[str]]:
    """Add the lexicon's words the model lacks; return (added, left out).

    ``trained``: the phones the network learnt; by default those its own lexicon
    uses (every training label came from that lexicon or was silence/garbage).
    Existing words keep their ids and pronunciations.
    """
    lexicon = LEXICON if lexicon is None else lexicon
    have = model_lexicon(model_dir)
    if trained is None:
        trained = {p for pron in have.values() for p in pron} | {SILENCE, GARBAGE}
    added, left_out = [], []
    for word, pron in lexicon.items():
        if word in have:
            continue
        spelled = tuple(p if p in trained else SUBSTITUTES.get(p, p) for p in pron)
        if not spelled or any(p not in trained for p in spelled):
            left_out.append(word)
            continue
        have[word] = spelled
        added.append(word)
    if added:
        gd = model_dir / "graph"
        words = g.read_symbols(gd / "words.txt")
        for word in added:
            words[word] = max(words.values()) + 1
        (gd / "words.txt").write_text("".join(f"{w} {i}\n" for w, i in words.items()), encoding="utf-8")
        (gd / "lexicon.txt").write_text("".join(f"{w} {' '.join(p)}\n" for w, p in have.items()),
                                        encoding="utf-8")
        spec = g.GraphSpec.load(model_dir)
        g.write_vector_fst(g.build_hclg(spec, [[w] for w in words if w != "<eps>"]), gd / "HCLG.fst")
    return added, left_out
