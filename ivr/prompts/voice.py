"""Which voice speaks each prompt: the rendered (synthetic) one or a human recording, and
every earlier version of it.

Asterisk (and the AudioSocket streamer) play ``<audio_dir>/<id>.wav`` and nothing else,
so the live version is always copied there.  Every version ever live is kept beside the
audio folder, in ``<prompts_dir>/voice/``:

* ``voice/<id>/<n>.wav``: version *n* of a prompt, recorded or synthetic;
* ``voice/voice.json``: per prompt, its versions (source, text, who, when, length,
  SHA-256) and which recorded version is live (``null``: the synthetic one).

A recording belongs to the text it was made for.  When the text changes, the recording
stops being live (the renderer speaks the new text) and the registry says why, until
someone records the new text.  A version can be restored only while its text is the
current one.  The folder sits outside ``audio/`` so Asterisk's sounds folder holds only
what it plays, and under ``prompts/`` so a deployment that keeps the prompts (the
compose file mounts ``./prompts`` into the service read-write) keeps the voice too.

Writers take an advisory lock on ``voice/.lock``: the web app saves from a thread pool,
and a CLI build may run beside it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ivr.errors import IvrError
from ivr.prompts import audio
from ivr.prompts.catalog import validate_id

VOICE_DIR = "voice"
REGISTRY = "voice.json"
RECORDED, SYNTHETIC = "recorded", "synthetic"


class VoiceError(IvrError):
    """A voice change that cannot be made (unknown version, a version for an old text)."""


@dataclass(frozen=True)
class Version:
    n: int
    source: str  # recorded | synthetic
    text: str  # the text it speaks
    at: str  # ISO 8601, when it was saved
    by: str  # who saved it ("" for a rendered one)
    seconds: float
    sha256: str
    origin: str = ""  # "browser webm/opus", "upload mp3/mp3float", "rendered"

    @property
    def file(self) -> str:
        return f"{self.n}.wav"


@dataclass(frozen=True)
class VoiceState:
    """One prompt's voice as a page or the check shows it."""

    prompt_id: str
    text: str  # the current text
    live: Version | None  # the recorded version that is live; None: the synthetic voice
    versions: tuple[Version, ...]  # newest first
    stale: Version | None  # a recording that was live for an earlier text

    @property
    def source(self) -> str:
        return RECORDED if self.live is not None else SYNTHETIC

    def restorable(self, version: Version) -> bool:
        return version.text == self.text


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def voice_dir(audio_dir: str | os.PathLike[str]) -> Path:
    return Path(audio_dir).parent / VOICE_DIR


class Voice:
    """The voice registry of one prompts folder (its ``audio/`` and ``voice/``)."""

    def __init__(self, audio_dir: str | os.PathLike[str]):
        self.audio_dir = Path(audio_dir)
        self.dir = voice_dir(self.audio_dir)

    # --- reading ------------------------------------------------------------------------

    def _load(self) -> dict[str, dict]:
        try:
            data = json.loads((self.dir / REGISTRY).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise VoiceError(f"cannot read {self.dir / REGISTRY}: {exc}") from None
        prompts = data.get("prompts", {}) if isinstance(data, dict) else {}
        return prompts if isinstance(prompts, dict) else {}

    @staticmethod
    def _versions(entry: Mapping) -> list[Version]:
        out = []
        for v in entry.get("versions", ()):
            try:
                out.append(Version(**v))
            except TypeError:
                continue  # a hand-edited line that does not parse is skipped, not fatal
        return out

    def state(self, prompt_id: str, text: str, _data: dict | None = None) -> VoiceState:
        entry = (self._load() if _data is None else _data).get(prompt_id, {})
        versions = sorted(self._versions(entry), key=lambda v: v.n, reverse=True)
        live_n = entry.get("live")
        live = next((v for v in versions if v.n == live_n and v.source == RECORDED), None)
        stale = None
        if live is not None and live.text != text:
            live, stale = None, live  # recorded for an earlier text: the synthetic voice speaks now
        elif live is None and entry.get("stale") is not None:
            stale = next((v for v in versions if v.n == entry["stale"]), None)
        return VoiceState(prompt_id, text, live, tuple(versions), stale)

    def states(self, texts: Mapping[str, str]) -> dict[str, VoiceState]:
        data = self._load()
        return {pid: self.state(pid, text, data) for pid, text in texts.items()}

    def live_recordings(self, texts: Mapping[str, str]) -> dict[str, Version]:
        """id -> live recorded version, for the ids of ``texts`` whose recording matches the text."""
        return {pid: s.live for pid, s in self.states(texts).items() if s.live is not None}

    def dynamic_texts(self) -> dict[str, str]:
        """``dyn/...`` id -> the place or address text recorded for it (dynamic texts have no catalog)."""
        out = {}
        for pid, entry in self._load().items():
            versions = self._versions(entry)
            if pid.startswith("dyn/") and versions:
                out[pid] = max(versions, key=lambda v: v.n).text
        return out

    def version_path(self, prompt_id: str, n: int) -> Path:
        return self.dir / validate_id(prompt_id) / f"{int(n)}.wav"

    def live_path(self, prompt_id: str) -> Path:
        return self.audio_dir / f"{validate_id(prompt_id)}.wav"

    # --- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, dict]]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                data = self._load()
                yield data
                self._save(data)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _save(self, data: dict[str, dict]) -> None:
        payload = {"about": "prompt voices: versions and which recording is live; written by the prompts page",
                   "prompts": dict(sorted(data.items()))}
        audio.write_json_atomic(self.dir / REGISTRY, payload)

    def _add(self, data: dict, prompt_id: str, source: str, text: str, at: dt.datetime, by: str,
             origin: str, file_from: Path | None = None, samples: np.ndarray | None = None) -> Version:
        entry = data.setdefault(prompt_id, {"live": None, "versions": []})
        n = 1 + max((v.get("n", 0) for v in entry["versions"]), default=0)
        target = self.version_path(prompt_id, n)
        target.parent.mkdir(parents=True, exist_ok=True)
        if samples is not None:
            audio.write_wav_atomic(target, samples)
        else:
            assert file_from is not None
            copy_atomic(file_from, target)
        info = audio.inspect_wav(target)
        version = Version(n, source, text, at.isoformat(timespec="seconds"), by, round(info.duration_s, 3),
                          sha256_of(target), origin)
        entry["versions"].append(asdict(version))
        return version

    def _archive_synthetic(self, data: dict, prompt_id: str, text: str, at: dt.datetime) -> None:
        """Keep the synthetic file that is about to be replaced, unless it is already kept."""
        live_file = self.live_path(prompt_id)
        current = self.state(prompt_id, text, data)
        if current.live is not None or not live_file.is_file():
            return
        try:
            if audio.inspect_wav(live_file).format_problem():
                return
        except (OSError, ValueError):
            return
        digest = sha256_of(live_file)
        if any(v.sha256 == digest for v in current.versions):
            return
        self._add(data, prompt_id, SYNTHETIC, text, at, "", "rendered", file_from=live_file)

    def record(self, prompt_id: str, text: str, samples: np.ndarray, *, by: str, at: dt.datetime,
               origin: str) -> Version:
        """Make ``samples`` (8 kHz, shaped) the live voice of ``prompt_id`` for ``text``."""
        validate_id(prompt_id)
        with self._locked() as data:
            self._archive_synthetic(data, prompt_id, text, at)
            version = self._add(data, prompt_id, RECORDED, text, at, by, origin, samples=samples)
            copy_atomic(self.version_path(prompt_id, version.n), self.live_path(prompt_id))
            data[prompt_id]["live"] = version.n
            data[prompt_id].pop("stale", None)
        return version

    def restore(self, prompt_id: str, n: int, text: str, *, at: dt.datetime) -> Version:
        """Make version ``n`` live again; it must speak the current ``text``."""
        with self._locked() as data:
            state = self.state(prompt_id, text, data)
            version = next((v for v in state.versions if v.n == n), None)
            if version is None:
                raise VoiceError(f"{prompt_id} has no version {n}")
            if not state.restorable(version):
                raise VoiceError(f"version {n} of {prompt_id} speaks an earlier text; record the current text instead")
            path = self.version_path(prompt_id, n)
            if not path.is_file() or sha256_of(path) != version.sha256:
                raise VoiceError(f"the file of version {n} of {prompt_id} is missing or changed")
            self._archive_synthetic(data, prompt_id, text, at)
            copy_atomic(path, self.live_path(prompt_id))
            data[prompt_id]["live"] = n if version.source == RECORDED else None
            data[prompt_id].pop("stale", None)
        return version

    def synthetic_for(self, prompt_id: str, text: str) -> Version | None:
        """The newest kept synthetic version of the current text, if any."""
        state = self.state(prompt_id, text)
        return next((v for v in state.versions if v.source == SYNTHETIC and v.text == text), None)

    def unset_live(self, prompt_id: str, *, stale: bool) -> None:
        """The synthetic voice is live again (after a re-render); ``stale``: because the text changed."""
        with self._locked() as data:
            entry = data.get(prompt_id)
            if entry is None:
                return
            if stale and entry.get("live") is not None:
                entry["stale"] = entry["live"]
            entry["live"] = None

    def mark_live(self, prompt_id: str, n: int) -> None:
        """Record that version ``n``'s file is (still) the one playing."""
        with self._locked() as data:
            if prompt_id in data:
                data[prompt_id]["live"] = n

    def text_changed(self, prompt_id: str) -> Version | None:
        """The text of ``prompt_id`` was edited: its recording is no longer live.  Returns it."""
        with self._locked() as data:
            entry = data.get(prompt_id)
            if entry is None or entry.get("live") is None:
                return None
            n = entry["live"]
            entry["stale"], entry["live"] = n, None
            return next((v for v in self._versions(entry) if v.n == n), None)


def copy_atomic(source: Path, target: Path) -> None:
    """Copy via a temp file and rename, so a player never opens half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".wav.tmp", dir=target.parent)
    done = False
    try:
        with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out)
        os.chmod(tmp, 0o644)  # Asterisk runs as another user and must read it
        os.replace(tmp, target)
        done = True
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
