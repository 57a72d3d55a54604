"""Speech from real calls, kept to teach the model Jakarta's callers.

When a caller confirms a NIK they spoke, each utterance and the digits it stood for
are kept (the audio in ``<data>/training/``, the digits encrypted in the store).
Administrators export them as a manifest for ``ivr model build --extra-manifest`` or
delete them.  An export holds NIK digits in clear text: it is personal data, written
with owner-only permissions, and every export and deletion is audited.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

WORDS = "nol satu dua tiga empat lima enam tujuh delapan sembilan".split()

NOTICE = """Hotline BST: speech from real calls, for training the speech model.

PERSONAL DATA. Each recording is a caller's voice; most transcripts are part of a
caller's NIK (UU 27/2022), the others a yes/no answer they confirmed. Keep this folder
on the build machine only, use it for `ivr model build --extra-manifest manifest.tsv`,
and delete it afterwards. Do not copy it elsewhere or publish it.
"""


def digits_to_words(digits: str) -> str:
    return " ".join(WORDS[int(d)] for d in digits if d.isdigit())


def label_words(label: str) -> str:
    """A kept utterance's label as words: NIK digits are spelt out; a yes/no
    answer's label is already its words ("iya", "nggak")."""
    return digits_to_words(label) if label.isdigit() else " ".join(label.lower().split())


@dataclass(frozen=True)
class ExportReport:
    folder: Path
    exported: int
    missing: int          # utterances whose audio file is gone


def export_training(store, folder: Path, *, since: dt.datetime | None = None, by: str = "cli") -> ExportReport:
    folder = Path(folder)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    lines, missing = [], 0
    for n, (path, digits, _created) in enumerate(store.training_utterances(since), start=1):
        source = Path(path)
        if not source.exists():
            missing += 1
            continue
        target = folder / "audio" / f"{n:06d}.wav"
        shutil.copyfile(source, target)
        os.chmod(target, 0o600)
        lines.append(f"audio/{target.name}\t{label_words(digits)}\n")
    manifest = folder / "manifest.tsv"
    manifest.write_text("".join(lines), encoding="utf-8")
    os.chmod(manifest, 0o600)
    (folder / "README.txt").write_text(NOTICE, encoding="utf-8")
    store.audit(by, "training_export", str(folder), f"{len(lines)} utterances")
    return ExportReport(folder, len(lines), missing)


def delete_training(store, *, before: dt.datetime | None = None, by: str = "cli") -> int:
    paths = store.delete_training_utterances(before)
    for path in paths:
        try:
            Path(path).unlink()
        except FileNotFoundError:
            pass
    store.audit(by, "training_delete", "", f"{len(paths)} utterances"
                + (f" before {before.isoformat()}" if before else ""))
    return len(paths)
