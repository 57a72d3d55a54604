"""Scoring recognition results: word accuracy, exact strings, real-time factor."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ivr.errors import RecognizerError


def word_errors(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance in words (substitutions + deletions + insertions)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


@dataclass(frozen=True)
class Score:
    utterances: int
    words: int
    errors: int
    exact: int
    audio_s: float
    decode_s: float

    @property
    def word_accuracy(self) -> float:
        return 1.0 - self.errors / self.words if self.words else 0.0

    @property
    def exact_accuracy(self) -> float:
        return self.exact / self.utterances if self.utterances else 0.0

    @property
    def rtf(self) -> float:
        return self.decode_s / self.audio_s if self.audio_s else 0.0

    def line(self, name: str) -> str:
        return (f"{name:<34} n={self.utterances:<5d} word_acc={100 * self.word_accuracy:6.2f}%  "
                f"exact={100 * self.exact_accuracy:6.2f}%  rtf={self.rtf:.4f}")


def read_manifest(path: Path) -> list[tuple[Path, str]]:
    """``wav_path<TAB>transcript`` lines; relative paths resolve against the manifest."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        wav, sep, text = line.partition("\t")
        if not sep:
            raise RecognizerError(f"{path}: line without a TAB: {line!r}")
        p = Path(wav)
        rows.append((p if p.is_absolute() else path.parent / p, " ".join(text.lower().split())))
    return rows


def score(recognizer, rows: Iterable[tuple[Path, str]], grammar: str,
          on_result=None) -> Score:
    n = words = errors = exact = 0
    audio_s = decode_s = 0.0
    for wav, ref in rows:
        started = time.perf_counter()
        got = recognizer.recognize(wav, grammar)
        decode_s += time.perf_counter() - started
        audio_s += got.duration_s
        r, h = ref.split(), got.text.split()
        n += 1
        words += len(r)
        errors += word_errors(r, h)
        exact += int(r == h)
        if on_result is not None:
            on_result(wav, ref, got)
    return Score(n, words, errors, exact, audio_s, decode_s)
