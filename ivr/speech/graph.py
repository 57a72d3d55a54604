"""Decoding graphs (HCLG) for small grammars, written without any FST library.

The acoustic model is monophone with one HMM state per phone (a self-loop and an
exit transition), so the full HCLG for "any sequence of these phrases" is small and
can be laid out directly:

* a start state, a "ready for a word" state and a "word done" state, with
  optional silence (never two in a row) from start and from done to ready;
* every word is a chain of phone states; the arc into a word carries the word as
  its output label, each phone state loops on its self-loop transition-id and
  leaves on its exit transition-id (one frame at least per phone);
* for a CTC-trained model (``blank_phone`` in ``graph.json``) an optional blank
  state may sit between two phones of a word: the network marks each phone with a
  short spike and fills the frames between with blanks.  Between words the
  optional silence plays that part, since the silence phone's pdf is the blank;
* a phrase of several words passes through private boundary states, so that
  only the phrase's own next word may follow, with optional silence between.

Because the graph is built here in pure Python, the recogniser can compile one
graph per grammar file when it loads (no Kaldi tools at run time), and a grammar
is honoured for real: words outside it are not in the search space at all.

The OpenFst "vector" binary format written by :func:`write_vector_fst` is the
one ``fstprint``/Vosk read (magic, type strings, version 2, then per state the
final weight, the arc count and the arcs).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ivr.speech.lexicon import DIGIT_WORDS, LEXICON, PHONES, UNK, lexicon_text

_FST_MAGIC = 2125659606
_K_EXPANDED = 0x1
_K_MUTABLE = 0x2
INF = math.inf


@dataclass(frozen=True)
class Arc:
    src: int
    ilabel: int
    olabel: int
    weight: float
    dst: int


@dataclass(frozen=True)
class Fst:
    num_states: int
    start: int
    finals: dict[int, float]
    arcs: tuple[Arc, ...]


def _write_string(out: bytearray, s: str) -> None:
    raw = s.encode("ascii")
    out += struct.pack("<i", len(raw)) + raw


def fst_bytes(fst: Fst) -> bytes:
    """Serialise as an OpenFst VectorFst over the standard (tropical) arc."""
    by_state: list[list[Arc]] = [[] for _ in range(fst.num_states)]
    for arc in fst.arcs:
        by_state[arc.src].append(arc)
    out = bytearray()
    out += struct.pack("<i", _FST_MAGIC)
    _write_string(out, "vector")
    _write_string(out, "standard")
    out += struct.pack("<ii", 2, 0)                       # version, flags (no symbol tables)
    out += struct.pack("<Q", _K_EXPANDED | _K_MUTABLE)    # claim nothing we have not checked
    out += struct.pack("<qqq", fst.start, fst.num_states, len(fst.arcs))
    for state, arcs in enumerate(by_state):
        out += struct.pack("<f", fst.finals.get(state, INF))
        out += struct.pack("<q", len(arcs))
        for arc in sorted(arcs, key=lambda a: (a.ilabel, a.olabel)):
            out += struct.pack("<iifi", arc.ilabel, arc.olabel, arc.weight, arc.dst)
    return bytes(out)


def write_vector_fst(fst: Fst, path: Path) -> None:
    path.write_bytes(fst_bytes(fst))


# --- the model's graph description ----------------------------------------------------

@dataclass(frozen=True)
class GraphSpec:
    """What a model directory says about its vocabulary (``graph/graph.json``)."""

    words: dict[str, int]                        # word -> id (words.txt)
    lexicon: dict[str, tuple[str, ...]]          # word -> phones
    transitions: dict[str, tuple[int, int]]      # phone -> (self-loop tid, exit tid)
    silence_phone: str
    word_cost: float = 0.0       # added on entering any word
    unk_cost: float = 0.0        # extra cost of the garbage word
    silence_cost: float = 0.0    # cost of an optional silence
    blank_phone: str | None = None   # CTC models: optional blank between a word's phones
    reject_cost: float | None = None  # another word of the model heard as [unk] (None: unk_cost)
    variants: dict[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)  # further lines of a word

    def prons(self, word: str) -> tuple[tuple[str, ...], ...]:
        """The word's pronunciations: its first lexicon line, then any variants."""
        return (self.lexicon[word],) + self.variants.get(word, ())

    @staticmethod
    def load(model_dir: Path) -> "GraphSpec":
        graph_dir = model_dir / "graph"
        meta = json.loads((graph_dir / "graph.json").read_text(encoding="utf-8"))
        words = read_symbols(graph_dir / "words.txt")
        lexicon: dict[str, tuple[str, ...]] = {}
        variants: dict[str, tuple[tuple[str, ...], ...]] = {}
        for line in (graph_dir / "lexicon.txt").read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if not parts:
                continue
            if parts[0] in lexicon:              # Kaldi's way: a word's further pronunciations
                if tuple(parts[1:]) != lexicon[parts[0]]:
                    variants[parts[0]] = variants.get(parts[0], ()) + (tuple(parts[1:]),)
            else:
                lexicon[parts[0]] = tuple(parts[1:])
        return GraphSpec(
            words=words,
            lexicon=lexicon,
            transitions={p: (int(t[0]), int(t[1])) for p, t in meta["transitions"].items()},
            silence_phone=meta["silence_phone"],
            word_cost=float(meta.get("word_cost", 0.0)),
            unk_cost=float(meta.get("unk_cost", 0.0)),
            silence_cost=float(meta.get("silence_cost", 0.0)),
            blank_phone=meta.get("blank_phone"),
            reject_cost=meta.get("reject_cost"),
            variants=variants,
        )


def read_symbols(path: Path) -> dict[str, int]:
    table: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            table[parts[0]] = int(parts[1])
    return table


def write_symbols(table: Iterable[str], path: Path) -> dict[str, int]:
    """Write ``<eps> 0`` then the symbols numbered from 1; return the mapping."""
    mapping = {"<eps>": 0}
    for sym in table:
        if sym not in mapping:
            mapping[sym] = len(mapping)
    path.write_text("".join(f"{s} {i}\n" for s, i in mapping.items()), encoding="utf-8")
    return mapping


def write_vocabulary(model_dir: Path) -> dict[str, int]:
    """Write the lexicon table's words into a model: ``graph/words.txt``,
    ``graph/lexicon.txt`` and the all-words ``graph/HCLG.fst``; return the word ids.

    The network is left as it is (it scores phones, not words), so a model trained
    before a word was added hears it from its phones.  ``graph/graph.json`` must be
    there already, and ``graph/phones.txt`` must hold the table's phone set: a model of
    another phone set cannot say the table's words.
    """
    gd = Path(model_dir) / "graph"
    phones = gd / "phones.txt"
    if not phones.is_file() or read_symbols(phones) != {"<eps>": 0, **{p: i + 1 for i, p in enumerate(PHONES)}}:
        raise ValueError(f"{phones}: the model's phone set is not the lexicon's")
    words = write_symbols(LEXICON, gd / "words.txt")
    (gd / "lexicon.txt").write_text(lexicon_text(), encoding="utf-8")
    spec = GraphSpec.load(Path(model_dir))
    write_vector_fst(build_hclg(spec, [[w] for w in words if w != "<eps>"]), gd / "HCLG.fst")
    return words


# --- building HCLG ------------------------------------------------------------------------

class _Builder:
    def __init__(self) -> None:
        self.num_states = 0
        self.arcs: list[Arc] = []

    def state(self) -> int:
        self.num_states += 1
        return self.num_states - 1

    def arc(self, src: int, ilabel: int, olabel: int, weight: float, dst: int) -> None:
        self.arcs.append(Arc(src, ilabel, olabel, weight, dst))

    def phones(self, src: int, phones: Sequence[str], spec: GraphSpec, olabel: int,
               weight: float, dst: int) -> None:
        """A chain of one-state phones from ``src`` to ``dst``; the word label rides on
        the epsilon arc into the first phone."""
        prev = self.state()
        self.arc(src, 0, olabel, weight, prev)
        for i, phone in enumerate(phones):
            self_tid, exit_tid = spec.transitions[phone]
            last = i == len(phones) - 1
            nxt = dst if last else self.state()
            self.arc(prev, self_tid, 0, 0.0, prev)
            self.arc(prev, exit_tid, 0, 0.0, nxt)
            if spec.blank_phone and not last:
                # CTC: the network may emit blanks between two phones of a word.
                blank_self, blank_exit = spec.transitions[spec.blank_phone]
                blank = self.state()
                self.arc(prev, exit_tid, 0, 0.0, blank)
                self.arc(blank, blank_self, 0, 0.0, blank)
                self.arc(blank, blank_exit, 0, 0.0, nxt)
            prev = nxt

    def phone_loop(self, src: int, dst: int, spec: GraphSpec, olabel: int, weight: float,
                   per_phone: float) -> None:
        """Garbage as any sequence of one or more phones, each costing ``per_phone``;
        the label rides on the arc in, like a word's.

        The network is a phone recogniser trained on running speech, so a word the
        grammar does not hold ("tempat", "puluh", "halo") comes out as its phones; with
        only words to choose from, the decoder has to call it the closest digit.  The
        loop gives it somewhere else to go.  A digit's own phones cost nothing extra
        on the digit's path and ``per_phone`` each on the loop, so a clear digit stays
        a digit.

        The same phone never follows itself: a long vowel could otherwise be split
        into "a a a" in as many ways as the lattice beam allows, and on noisy audio
        the lattice (and the decoding time) exploded.  Blanks may sit between phones,
        as inside words.
        """
        phones = [(p, t) for p, t in spec.transitions.items()
                  if p not in (spec.silence_phone, spec.blank_phone) and spec.lexicon.get(UNK) != (p,)]
        hub = self.state()
        self.arc(src, 0, olabel, weight, hub)
        blank = None
        if spec.blank_phone:
            blank_self, blank_exit = spec.transitions[spec.blank_phone]
            blank = self.state()
            self.arc(blank, blank_self, 0, 0.0, blank)
            self.arc(blank, blank_exit, 0, 0.0, hub)
        inside = {p: self.state() for p, _ in phones}
        for p, (self_tid, exit_tid) in phones:
            after = self.state()
            self.arc(hub, 0, 0, per_phone, inside[p])
            self.arc(inside[p], self_tid, 0, 0.0, inside[p])
            self.arc(inside[p], exit_tid, 0, 0.0, after)
            for q, _ in phones:
                if q != p:
                    self.arc(after, 0, 0, per_phone, inside[q])
            if blank is not None:
                self.arc(after, 0, 0, 0.0, blank)
            self.arc(after, 0, 0, 0.0, dst)

    def silence(self, src: int, dst: int, spec: GraphSpec) -> None:
        """Optional silence from ``src`` to ``dst``: nothing, or one silence phone.

        Silence never follows silence directly; otherwise a pause could be split
        into pieces in exponentially many equal-scoring ways, which blows up the
        lattice that Vosk determinises.
        """
        self.arc(src, 0, 0, 0.0, dst)
        self_tid, exit_tid = spec.transitions[spec.silence_phone]
        mid = self.state()
        self.arc(src, 0, 0, spec.silence_cost, mid)
        self.arc(mid, self_tid, 0, 0.0, mid)
        self.arc(mid, exit_tid, 0, 0.0, dst)


def build_hclg(spec: GraphSpec, phrases: Sequence[Sequence[str]], *,
               costs: Mapping[str, float] | None = None, require_word: bool = False,
               phone_cost: float | None = None, phone_entry: float | None = None,
               loop_label: int | None = None) -> Fst:
    """HCLG accepting any sequence (including none) of ``phrases``.

    ``costs`` adds a cost (in the decoder's log units) on entering a word: a prior
    against it, so that it wins only with that much more acoustic evidence.
    ``require_word`` leaves out the empty reading: only "done" is final, so the
    decoder must find the best path through at least one phrase (the evidence
    decodes of ``ivr.speech.recognizer`` use it to score one class of answers).

    States: ``start`` -(optional silence)-> ``ready`` -(a phrase)-> ``done``
    -(optional silence)-> ``ready`` ...; all three are final.  Words missing from
    the model's lexicon raise ``KeyError``: the caller filters them first.

    When the grammar allows the garbage word ``[unk]``, every other word the model
    knows is also accepted, but comes out as ``[unk]``: a caller who says "ya" to
    the digits question is heard as "something else" (and asked again), not forced
    onto the closest-sounding digit.  Digits are the exception: their models learnt
    from human speech are much sharper than those of the words only synthetic
    voices said, so as garbage in the yes/no question they swallowed real answers
    (synthetic yes/no fell from 87% to 58% correct).

    ``phone_cost`` adds garbage as a loop of phones (:meth:`_Builder.phone_loop`), at
    that cost a phone and ``phone_entry`` to enter (default: the reject cost), for
    words the model has no word for at all.  It comes out as ``loop_label`` when one is
    given (a word id of the caller's own), otherwise as ``[unk]``.
    """
    b = _Builder()
    start, ready, done = b.state(), b.state(), b.state()
    b.silence(start, ready, spec)
    b.silence(done, ready, spec)
    seen: set[tuple[str, ...]] = set()
    for phrase in phrases:
        phrase = tuple(phrase)
        if not phrase or phrase in seen:
            continue
        seen.add(phrase)
        src = ready
        for i, word in enumerate(phrase):
            cost = spec.word_cost + (spec.unk_cost if word == UNK else 0.0) + (costs or {}).get(word, 0.0)
            last = i == len(phrase) - 1
            end = done if last else b.state()
            for pron in spec.prons(word):
                b.phones(src, pron, spec, spec.words[word], cost, end)
            if not last:
                src = b.state()
                b.silence(end, src, spec)
    if (UNK,) in seen and UNK in spec.words:
        allowed = {w for phrase in seen for w in phrase}
        cost = spec.word_cost + (spec.unk_cost if spec.reject_cost is None else spec.reject_cost)
        for word, pron in spec.lexicon.items():
            if word not in allowed and word not in DIGIT_WORDS and word in spec.words and pron:
                # ``costs`` also reaches garbage words: a grammar can make its
                # expected carrier words ("NIK saya") cheaper to reject than others.
                for each in spec.prons(word):
                    b.phones(ready, each, spec, spec.words[UNK], cost + (costs or {}).get(word, 0.0), done)
        if phone_cost is not None:
            b.phone_loop(ready, done, spec, spec.words[UNK] if loop_label is None else loop_label,
                         cost if phone_entry is None else phone_entry,
                         phone_cost)
    finals = {start: 0.0, ready: 0.0, done: 0.0}
    if require_word:
        # Trailing silence may not lead back to "ready" (final there would let the
        # empty reading in again): it gets a final state of its own.
        tail = b.state()
        b.silence(done, tail, spec)
        finals = {done: 0.0, tail: 0.0}
    return Fst(num_states=b.num_states, start=start, finals=finals, arcs=tuple(b.arcs))


def build_counted(spec: GraphSpec, words: Sequence[str], count: int) -> Fst:
    """HCLG for exactly ``count`` of ``words`` (digits), with optional silence and
    garbage (``[unk]``: other words of the model, e.g. "NIK saya", "eh") around them.

    Decoding a digit string with it as well as with the free graph tells how much
    worse the best reading of the expected length scores than the best reading of
    any length; a NIK whose free reading is one digit short usually loses little by
    getting its missing digit back (``ivr.speech.recognizer``).
    """
    b = _Builder()
    start = b.state()
    garbage = [(w, each) for w, pron in spec.lexicon.items()
               if w not in words and w not in DIGIT_WORDS and w in spec.words and pron
               for each in spec.prons(w)]
    unk_cost = spec.word_cost + (spec.unk_cost if spec.reject_cost is None else spec.reject_cost)

    def boundary(src: int) -> int:
        """Silence, then any garbage words each followed by silence."""
        ready = b.state()
        b.silence(src, ready, spec)
        if UNK in spec.words:
            back = b.state()
            for _, pron in garbage:
                b.phones(ready, pron, spec, spec.words[UNK], unk_cost, back)
            b.silence(back, ready, spec)
        return ready

    here = boundary(start)
    for _ in range(count):
        nxt = b.state()
        for w in words:
            for pron in spec.prons(w):
                b.phones(here, pron, spec, spec.words[w], spec.word_cost, nxt)
        here = boundary(nxt)
    return Fst(num_states=b.num_states, start=start, finals={here: 0.0}, arcs=tuple(b.arcs))


def parse_grammar(phrases: Sequence[str], spec: GraphSpec) -> tuple[list[list[str]], list[str]]:
    """Split grammar phrases into words; return (usable phrases, unknown words).

    A phrase containing a word the model cannot say is dropped whole, as Vosk does
    with words missing from a runtime graph's vocabulary.
    """
    usable: list[list[str]] = []
    unknown: list[str] = []
    for phrase in phrases:
        words = phrase.lower().split()
        missing = [w for w in words if w not in spec.lexicon or w not in spec.words]
        if missing:
            unknown.extend(missing)
            continue
        if words:
            usable.append(words)
    return usable, unknown
