"""How often the call mends a spoken NIK heard with one digit too many.

    python benchmarks/nik_mend_bench.py [--count 500] [--seed 1]

The words a caller says before a group of their NIK ("ka te pe saya", "anu") are the
recogniser's likeliest extra digit, heard at the start of that answer
(``benchmarks/asr_bench.py``'s spliced row).  This drives the dialogue alone, no audio:
random possible Jakarta NIKs said in four answers of four digits, one random digit put
before one group, and counts how often the read-back gets the caller's own NIK (mended
right), someone else's (mended wrong: the caller says no and corrects a group), or the
caller is asked for the NIK again.  Side by side: with the line's province as the
tie-break (``FlowConfig.home_province``, 31) and without it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ivr import nik as nikmod  # noqa: E402
from ivr.dialogue.flow import Dialogue, FlowConfig  # noqa: E402
from ivr.dialogue.vocab import CallStarted, SpeechHeard, State  # noqa: E402

AT = dt.datetime(2026, 12, 1, 9, 0)
WORDS = "nol satu dua tiga empat lima enam tujuh delapan sembilan".split()


def random_nik(rng: random.Random) -> str:
    while True:
        city = rng.choice(["01", "71", "72", "73", "74", "75"])
        day = rng.randint(1, 28) + (40 if rng.random() < 0.5 else 0)
        nik = (f"31{city}{rng.randint(1, 10):02d}{day:02d}{rng.randint(1, 12):02d}"
               f"{rng.randint(40, 99):02d}{rng.randint(1, 9999):04d}")
        if nikmod.check(nik).ok:
            return nik


def read_back(cfg: FlowConfig, answers: list[str]) -> str | None:
    """The NIK the call reads back after these spoken answers, or None (asked again)."""
    dialogue = Dialogue(cfg)
    step = dialogue.start(CallStarted(AT, True))
    for i, digits in enumerate(answers):
        step = dialogue.handle(step.state, step.context,
                               SpeechHeard(AT, " ".join(WORDS[int(d)] for d in digits), 0.9, (), f"r{i}"))
    return step.context.nik if step.state is State.CONFIRM else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    setups = {"province 31 as tie-break": FlowConfig(), "no tie-break": FlowConfig(home_province="")}
    print(f"{'extra digit before':<20}" + "".join(f"{name:>42}" for name in setups))
    print(f"{'':<20}" + "".join(f"{'right / wrong / asked again':>42}" for _ in setups))
    for group in range(4):
        cells = []
        for cfg in setups.values():
            rng = random.Random(args.seed * 10 + group)
            right = wrong = again = 0
            for _ in range(args.count):
                nik = random_nik(rng)
                answers = [nik[i:i + 4] for i in range(0, 16, 4)]
                answers[group] = rng.choice("0123456789") + answers[group]
                got = read_back(cfg, answers)
                right += got == nik
                wrong += got is not None and got != nik
                again += got is None
            cells.append(f"{right:>22} / {wrong:>5} / {again:>6}")
        print(f"{'group ' + str(group + 1):<20}" + "".join(f"{c:>42}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
