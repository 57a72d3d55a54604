"""Vosk speech recogniser behind ``ivr.ports.Recognizer``.

One ``vosk.Model`` per grammar is loaded once, at construction; each call makes
its own ``KaldiRecognizer`` (cheap), so concurrent calls from a thread pool are
safe.  How a grammar is honoured depends on what the model directory offers:

* ``graph/graph.json`` (models built by ``ivr model build``): a real HCLG is
  compiled here for each grammar from the model's own lexicon (pure Python, see
  ``ivr.speech.graph``), so words outside a grammar cannot be recognised at all;
* ``graph/HCLr.fst`` + ``graph/Gr.fst`` (runtime-graph models): the grammar goes
  to Vosk;
* a static ``graph/HCLG.fst`` only: decode with it and keep the best n-best entry
  whose words all belong to the grammar.

Confidence is the posterior of the chosen text among the n-best readings (scores
turned into probabilities, readings that differ only by ``[unk]`` merged).

For a grammar whose phrases fall into classes (``grammars/<name>.meta.json``, e.g.
yes / no), each class also gets a graph of its own that must pass through one of
its phrases; decoding the same audio with each gives the score of the best "yes"
and of the best "no" reading (``Transcript.evidence``), however far apart they
are.  The n-best list cannot give that: the lattice beam usually leaves a single
reading.  This costs one extra decode per class (compiled models only).

A model may carry further networks (``am-<name>/``, ``ivr model attach``) that decode
some grammars instead of ``am/``, or beside it: then both decode the utterance, each
reading's posterior is the mean of the two networks' posteriors, and each class's
evidence the mean of their scores.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ivr.errors import RecognizerError
from ivr.ports import Hypothesis, Transcript
from ivr.speech import graph as g
from ivr.speech.ensemble import attached_networks
from ivr.speech.grammars import load_grammar_meta, load_grammars
from ivr.speech.lexicon import DIGIT_WORDS, UNK

log = logging.getLogger(__name__)

MAX_ALTERNATIVES = 8
# What the digits question's loop of phones writes, inside the recogniser only: told
# apart from the model's other words heard as [unk], and written as [unk] after.
LOOP = "[loop]"
FULL = ""            # grammar name meaning "the model's whole vocabulary"
_REQUIRED = ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/words.txt")
_vosk_lock = threading.Lock()


def default_model_dir() -> Path:
    """The model bundled with the package."""
    return Path(__file__).resolve().parent / "model"


def load_recognizer(model_dir: Path | None = None, grammars_dir: Path | None = None) -> "VoskRecognizer":
    return VoskRecognizer(model_dir if model_dir is not None else default_model_dir(), grammars_dir)


def _import_vosk():
    try:
        import vosk
    except ImportError as exc:                      # pragma: no cover - vosk is a dependency
        raise RecognizerError(f"the vosk package is not installed: {exc}") from exc
    with _vosk_lock:
        vosk.SetLogLevel(-1)
    return vosk


def _check_model_dir(model_dir: Path) -> None:
    if not model_dir.is_dir():
        raise RecognizerError(f"speech model directory {model_dir} does not exist")
    missing = [p for p in _REQUIRED if not (model_dir / p).is_file()]
    has_graph = (model_dir / "graph/HCLG.fst").is_file() or (model_dir / "graph/HCLr.fst").is_file()
    if missing or not has_graph:
        missing += [] if has_graph else ["graph/HCLG.fst (or HCLr.fst + Gr.fst)"]
        raise RecognizerError(f"speech model directory {model_dir} is incomplete: missing {', '.join(missing)}")


def _load_model(vosk, path: Path):
    try:
        return vosk.Model(str(path))
    except Exception as exc:                       # vosk raises a bare Exception
        raise RecognizerError(f"Vosk could not load the model in {path}: {exc}") from exc


def read_audio(wav_path: Path) -> tuple[np.ndarray, int]:
    """16-bit mono samples and the sample rate of any file libsndfile reads."""
    try:
        audio, rate = sf.read(str(wav_path), dtype="int16", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise RecognizerError(f"cannot read audio {wav_path}: {exc}") from exc
    if audio.shape[1] > 1:
        audio = audio.astype(np.int32).mean(axis=1).astype(np.int16)[:, None]
    return np.ascontiguousarray(audio[:, 0]), int(rate)


# Vosk does no level normalisation, and the bundled model's features carry the level
# (no CMVN).  Audio whose loudest 20 ms frames are quieter than -20 dBFS or louder
# than -6 dBFS is brought to the nearer edge of that window (by at most +40 dB); audio
# inside it is untouched.  On 40 held-out human utterances at 8 kHz (the level sweep
# of benchmarks/asr_bench.py) exact results at peak -50/-40/-30/-20/-10/-3 dB went
# from 0/0/7/28/37/39 to 36/38/38/39/39/39 of 40, and noise-only clips still give
# no words.
LOUD_WINDOW_DBFS = (-20.0, -6.0)
MAX_GAIN_DB = 40.0


def level(samples: np.ndarray, rate: int) -> np.ndarray:
    """16-bit samples with their loudest 20 ms frames (95th percentile) moved into
    ``LOUD_WINDOW_DBFS``; digital silence and audio already in the window unchanged."""
    frame = max(1, rate // 50)
    n = len(samples) // frame
    if n == 0:
        return samples
    x = samples[: n * frame].astype(np.float64).reshape(n, frame)
    loud = float(np.percentile(np.sqrt((x ** 2).mean(axis=1)), 95))
    if loud < 1.0:                                   # digital silence
        return samples
    loud_db = 20 * math.log10(loud / 32768.0)
    lo, hi = LOUD_WINDOW_DBFS
    gain_db = min(lo - loud_db, MAX_GAIN_DB) if loud_db < lo else (hi - loud_db if loud_db > hi else 0.0)
    if gain_db == 0.0:
        return samples
    y = samples.astype(np.float64) * 10 ** (gain_db / 20)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


class VoskRecognizer:
    """Implements ``ivr.ports.Recognizer`` with Vosk."""

    # The digits question: decode the plain graph too when the loop's best reading
    # holds only the model's own words as garbage (before: always when it held any).
    # ``benchmarks/decode_cost_bench.py`` sets it to compare.
    plain_when_words = False

    def __init__(self, model_dir: Path, grammars_dir: Path | None = None):
        self.model_dir = Path(model_dir)
        _check_model_dir(self.model_dir)
        self._vosk = _import_vosk()
        self.grammars = load_grammars(grammars_dir)
        self.meta = load_grammar_meta(grammars_dir)
        self._classes: dict[str, dict[str, list]] = {}     # grammar -> class -> models (am/, beside)
        self._beside: dict[str, object] = {}               # grammar -> model of a network beside am/
        self._counted: dict[tuple[str, int], object] = {}  # (grammar, digits) -> model
        self._looped: dict[str, object] = {}               # grammar -> model with a phone-loop garbage
        self._full = _load_model(self._vosk, self.model_dir)
        self._models: dict[str, object] = {FULL: self._full}
        self._runtime = (self.model_dir / "graph/HCLr.fst").is_file()
        self._words = set(g.read_symbols(self.model_dir / "graph/words.txt"))
        if (self.model_dir / "graph/graph.json").is_file():
            self.mode = "compiled"
            self._compile_all()
        else:
            self.mode = "runtime" if self._runtime else "filter"
            if self.mode == "filter":
                log.warning("model %s has only a static graph: grammars are applied to its n-best", self.model_dir)

    # --- loading ------------------------------------------------------------------------

    def _compile_all(self) -> None:
        try:
            spec = g.GraphSpec.load(self.model_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise RecognizerError(f"graph description in {self.model_dir}/graph is broken: {exc}") from exc
        try:
            networks = attached_networks(self.model_dir)
        except (OSError, ValueError) as exc:
            raise RecognizerError(f"attached networks in {self.model_dir} are broken: {exc}") from exc
        tmp = Path(tempfile.mkdtemp(prefix="ivr-graphs-"))
        try:
            for name, phrases in self.grammars.items():
                attached = networks.get(name)
                beside = attached is not None and attached.beside
                am = attached.folder if attached and not beside else "am"   # the network that decodes it
                usable, unknown = g.parse_grammar(phrases, spec)
                if unknown:
                    log.warning("grammar %s: the model cannot say %s; those phrases are ignored",
                                name, sorted(set(unknown)))
                if not usable:
                    raise RecognizerError(f"grammar {name!r} has no word the model knows")
                meta = self.meta.get(name)
                costs = meta.costs if meta else {}
                graph = g.build_hclg(spec, usable, costs=costs)
                self._models[name] = self._stage(tmp / name, graph, am=am)
                looped = meta and meta.phone_cost is not None and UNK in {w for p in usable for w in p}
                digits = [p[0] for p in usable if len(p) == 1 and p[0] in DIGIT_WORDS]
                counted = meta.lengths if meta and digits else ()
                if beside and (looped or counted):
                    raise RecognizerError(
                        f"grammar {name!r} has a phone loop or expected lengths; {attached.folder} can decode it "
                        "instead of am/ but not beside it")
                if beside:
                    self._beside[name] = self._stage(tmp / f"{name}.beside", graph, am=attached.folder)
                if looped:
                    words = {**spec.words, LOOP: max(spec.words.values()) + 1}
                    self._looped[name] = self._stage(
                        tmp / f"{name}.loop",
                        g.build_hclg(spec, usable, costs=costs, phone_cost=meta.phone_cost,
                                     phone_entry=meta.phone_entry, loop_label=words[LOOP]),
                        lattice_beam=meta.lattice_beam, am=am, words=words)
                for n in counted:
                    self._counted[(name, n)] = self._stage(tmp / f"{name}.{n}", g.build_counted(spec, digits, n),
                                                           am=am)
                for cls, members in (meta.classes if meta else {}).items():
                    inside = [p for p in usable if " ".join(p) in set(members)]
                    if inside:
                        fst = g.build_hclg(spec, inside, require_word=True)
                        self._classes.setdefault(name, {})[cls] = [self._stage(tmp / f"{name}.{cls}", fst, am=am)]
                        if beside:
                            self._classes[name][cls].append(
                                self._stage(tmp / f"{name}.{cls}.beside", fst, am=attached.folder))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _stage(self, staged: Path, fst: g.Fst, lattice_beam: float | None = None, am: str = "am",
               words: dict[str, int] | None = None):
        (staged / "graph").mkdir(parents=True)
        (staged / "am").symlink_to(self.model_dir.resolve() / am)
        if lattice_beam is None:
            (staged / "conf").symlink_to(self.model_dir.resolve() / "conf")
        else:
            # The grammar asks for a narrower lattice than the model's (a phone loop
            # makes many near-equal garbage paths); the rest of the settings stay.
            (staged / "conf").mkdir()
            for f in (self.model_dir / "conf").iterdir():
                if f.name != "model.conf":
                    (staged / "conf" / f.name).symlink_to(f.resolve())
            lines = [ln for ln in (self.model_dir / "conf/model.conf").read_text(encoding="utf-8").splitlines()
                     if not ln.strip().startswith("--lattice-beam")]
            (staged / "conf/model.conf").write_text("\n".join(lines + [f"--lattice-beam={lattice_beam}"]) + "\n",
                                                    encoding="utf-8")
        if words is None:
            shutil.copy(self.model_dir / "graph/words.txt", staged / "graph/words.txt")
        else:
            (staged / "graph/words.txt").write_text("".join(f"{w} {i}\n" for w, i in words.items()),
                                                    encoding="utf-8")
        g.write_vector_fst(fst, staged / "graph/HCLG.fst")
        # Vosk reads everything in its constructor, so the staging folder can go.
        return _load_model(self._vosk, staged)

    # --- decoding -----------------------------------------------------------------------

    def recognize(self, wav_path: Path, grammar: str) -> Transcript:
        if grammar != FULL and grammar not in self.grammars:
            raise RecognizerError(f"unknown grammar {grammar!r}; known: {sorted(self.grammars)}")
        samples, rate = read_audio(Path(wav_path))
        return self.recognize_samples(samples, rate, grammar)

    def recognize_samples(self, samples: np.ndarray, rate: int, grammar: str) -> Transcript:
        started = time.perf_counter()
        allowed: set[str] | None = None
        data = level(samples, rate).astype("<i2").tobytes()
        if grammar in self._looped:                  # compiled graphs only
            result = self._garbage_checked(grammar, data, rate)
        else:
            model = self._models.get(grammar, self._full)
            if self.mode == "runtime" and grammar != FULL:
                phrases = [p for p in self.grammars[grammar] if all(w in self._words for w in p.split())]
                rec = self._vosk.KaldiRecognizer(model, float(rate), json.dumps(phrases))
            else:
                rec = self._vosk.KaldiRecognizer(model, float(rate))
                if self.mode == "filter" and grammar != FULL:
                    allowed = {w for p in self.grammars[grammar] for w in p.split()}
            result = _decode(rec, data, rate)
        hyps = _hypotheses(result, allowed)
        held = self._held_to_length(grammar, hyps, result, data, rate)
        if held is not None:
            hyps = [held] + [h for h in hyps if h.text != held.text]
        if grammar in self._beside:
            second = self._vosk.KaldiRecognizer(self._beside[grammar], float(rate))
            hyps = _averaged(hyps, _hypotheses(_decode(second, data, rate), allowed))
        best = hyps[0] if hyps else Hypothesis("", 0.0)
        evidence = []
        for cls, class_models in self._classes.get(grammar, {}).items():
            scores = []
            for class_model in class_models:
                alts = _decode(self._vosk.KaldiRecognizer(class_model, float(rate)), data, rate).get("alternatives")
                if alts:
                    scores.append(max(float(a.get("confidence", 0.0)) for a in alts))
            # the mean of the networks' best scores (a network beside am/ counts as
            # much as am/ itself); one that reached no reading of the class has none
            if scores:
                evidence.append((cls, round(sum(scores) / len(scores), 3)))
        return Transcript(text=best.text, confidence=best.confidence, alternatives=tuple(hyps),
                          duration_s=len(samples) / rate if rate else 0.0,
                          decode_s=time.perf_counter() - started, evidence=tuple(evidence))

    def _garbage_checked(self, grammar: str, data: bytes, rate: int) -> dict:
        """Decode with the grammar's phone-loop garbage (``GrammarMeta.phone_cost``).

        When the loop's best reading holds no garbage it is also the best reading of
        the plain graph (the plain graph is the loop graph without the loop), and it
        is the answer.  When it does, the plain graph decodes too, and the loop's
        reading is kept only if it scores at least ``phone_gate`` better: a sentence
        around the digits ("tempat tinggal lebih dari satu juta") is explained far
        better by the loop than by forcing its words onto digits, while a poorly heard
        digit is explained only a little better by a few loop phones than by itself,
        and stays a digit.

        The loop writes ``LOOP``, not ``[unk]``, so a best reading whose garbage is
        only the model's own words ("NIK saya", "eh", heard as ``[unk]``) is told
        apart: it holds no loop phones, so it is a path of the plain graph too and its
        best there (the loop graph holds every plain path), and the gate, at 0 against
        itself, would keep the plain reading, the same words.  It is the answer
        without decoding the plain graph (``plain_when_words``: decode it anyway).
        """
        meta = self.meta[grammar]
        # twice the readings: the loop's and the model's words' garbage can be one
        # reading twice, which ``_loop_as_unk`` makes one
        raw = _decode(self._vosk.KaldiRecognizer(self._looped[grammar], float(rate)), data, rate,
                      2 * MAX_ALTERNATIVES)
        best = max(raw.get("alternatives") or [], key=lambda a: float(a.get("confidence", 0.0)), default=None)
        said = str(best.get("text", "")).split() if best is not None else []
        looped = _loop_as_unk(raw)
        if best is not None and LOOP not in said and (UNK not in said or not self.plain_when_words):
            return looped
        plain = _decode(self._vosk.KaldiRecognizer(self._models[grammar], float(rate)), data, rate)
        if best is None:
            return plain
        top = max((float(a.get("confidence", 0.0)) for a in plain.get("alternatives") or ()), default=None)
        if top is None or float(best.get("confidence", 0.0)) - top >= meta.phone_gate:
            return looped
        return plain

    def _held_to_length(self, grammar: str, hyps: list[Hypothesis], result: dict, data: bytes,
                        rate: int) -> Hypothesis | None:
        """The reading held to an expected digit count, when the free reading just
        misses it and the held one scores nearly as well (``GrammarMeta.lengths``)."""
        meta = self.meta.get(grammar)
        if not meta or not meta.lengths or not hyps:
            return None
        count = sum(1 for w in hyps[0].text.split() if w in DIGIT_WORDS)
        near = [n for n in meta.lengths if n != count and abs(n - count) <= meta.length_window
                and (grammar, n) in self._counted]
        if not near or count in meta.lengths:
            return None
        free = max((float(a.get("confidence", 0.0)) for a in result.get("alternatives", ())), default=None)
        if free is None:
            return None
        best: tuple[float, str] | None = None
        for n in near:
            alts = _decode(self._vosk.KaldiRecognizer(self._counted[(grammar, n)], float(rate)), data, rate)
            for a in alts.get("alternatives", ()):
                words = [w for w in str(a.get("text", "")).split() if w != UNK]
                if sum(1 for w in words if w in DIGIT_WORDS) == n:
                    score = float(a.get("confidence", 0.0))
                    if best is None or score > best[0]:
                        best = (score, " ".join(words))
        if best is None or free - best[0] > meta.length_margin:
            return None
        return Hypothesis(best[1], hyps[0].confidence)


def _averaged(first: list[Hypothesis], second: list[Hypothesis]) -> list[Hypothesis]:
    """Two networks' readings of one utterance, each reading's posterior the mean of
    its posteriors in the two n-best lists (0 where a list lacks it); best first, a
    tie going to the order of ``first``."""
    p1 = {h.text: h.confidence for h in first}
    p2 = {h.text: h.confidence for h in second}
    order = list(p1) + [t for t in p2 if t not in p1]
    hyps = [Hypothesis(t, round((p1.get(t, 0.0) + p2.get(t, 0.0)) / 2, 4)) for t in order]
    hyps.sort(key=lambda h: -h.confidence)
    return hyps


def _loop_as_unk(result: dict) -> dict:
    """A loop graph's decode with ``LOOP`` written as ``[unk]``, as the transcript has
    it: readings that become the same keep the best score, once, and the best
    ``MAX_ALTERNATIVES`` stay, as when the loop wrote ``[unk]`` in the graph itself."""
    if "alternatives" not in result:
        return result
    best: dict[str, dict] = {}
    for a in result.get("alternatives") or ():
        text = " ".join(UNK if w == LOOP else w for w in str(a.get("text", "")).split())
        if text not in best or float(a.get("confidence", 0.0)) > float(best[text].get("confidence", 0.0)):
            best[text] = {**a, "text": text}
    alts = sorted(best.values(), key=lambda a: -float(a.get("confidence", 0.0)))
    return {**result, "alternatives": alts[:MAX_ALTERNATIVES]}


def _decode(rec, data: bytes, rate: int, alternatives: int = MAX_ALTERNATIVES) -> dict:
    rec.SetMaxAlternatives(alternatives)
    step = rate * 2                             # feed 0.5 s at a time (2 bytes per sample)
    for i in range(0, len(data), step):
        rec.AcceptWaveform(data[i:i + step])
    return json.loads(rec.FinalResult())


def _hypotheses(result: dict, allowed: set[str] | None) -> list[Hypothesis]:
    """n-best scores -> posteriors; drop [unk]; merge readings that become equal."""
    alts = result.get("alternatives")
    if alts is None:                             # single result without n-best
        alts = [{"text": result.get("text", ""), "confidence": 0.0}]
    scored: dict[str, float] = {}
    order: list[str] = []
    if not alts:
        return [Hypothesis("", 1.0)]
    top = max(float(a.get("confidence", 0.0)) for a in alts)
    for a in alts:
        words = [w for w in str(a.get("text", "")).split() if w != UNK]
        if allowed is not None and any(w not in allowed for w in words):
            continue
        text = " ".join(words)
        p = math.exp(float(a.get("confidence", 0.0)) - top)
        if text not in scored:
            order.append(text)
            scored[text] = 0.0
        scored[text] += p
    total = sum(math.exp(float(a.get("confidence", 0.0)) - top) for a in alts)
    hyps = [Hypothesis(t, round(scored[t] / total, 4)) for t in order]
    hyps.sort(key=lambda h: -h.confidence)
    return hyps
