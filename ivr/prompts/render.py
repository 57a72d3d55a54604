"""Render prompt texts to Asterisk audio (``<audio_dir>/<id>.wav``, 8 kHz mono 16-bit).

Two entry points:

* :func:`build` renders the catalog ahead of time.  ``<audio_dir>/manifest.json``
  records, per id, a hash of the text and the voice settings, so only changed
  prompts are rendered again.
* :func:`ensure_spoken` renders a dynamic text (a distribution place, an address)
  on first use, as ``dyn/<sha1 of the text>``.  It blocks: call it off the event loop.

Speech comes from pyttsx3 in a child process (:mod:`ivr.prompts.render_worker`):
the engine is not thread-safe and its espeak driver finishes asynchronously, so the
parent never trusts the child and checks that every file exists and is audio.
A failed text is tried once more in a fresh child, then reported as failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ivr.errors import IvrError
from ivr.prompts import audio
from ivr.prompts.catalog import Catalog, is_generated, is_tone, load_catalog, validate_id

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DYN_PREFIX = "dyn/"
# Bump when the audio shaping changes, so `build` re-renders everything once.
PIPELINE_VERSION = 2
WORKER_COMMAND: tuple[str, ...] = (sys.executable, "-m", "ivr.prompts.render_worker")
MIN_SECONDS_PER_CHAR = 0.045
MAX_SECONDS_PER_CHAR = 0.3  # numbers in addresses are long to say
STALL_S = 45.0  # a child silent this long is stuck (one prompt takes well under a second)
SILENCE_SECONDS = {"short": 0.4}  # plus silence/<N> = N seconds
# tone/<name>: (frequency Hz, seconds).  The beep before a recorded report is ours,
# not Asterisk's: images built without core sounds have no "beep".
TONES = {"beep": (1000.0, 0.35)}


class RenderError(IvrError):
    """A text could not be turned into audio (espeak-ng missing, worker crashed, no file)."""


@dataclass(frozen=True)
class VoiceSettings:
    """How prompts are spoken.  Part of every prompt's hash: change one, re-render all."""

    voice: str = "id"  # espeak-ng Indonesian
    rate: int = 130  # words per minute; espeak's default 175 is too fast for elderly callers
    volume: float = 1.0
    pipeline: int = PIPELINE_VERSION

    def digest(self, text: str) -> str:
        payload = json.dumps({"text": text, **asdict(self)}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


DEFAULT_VOICE = VoiceSettings()


@dataclass(frozen=True)
class BuildReport:
    rendered: tuple[str, ...] = ()
    generated: tuple[str, ...] = ()  # silences
    skipped: tuple[str, ...] = ()  # unchanged since the last build
    recorded: tuple[str, ...] = ()  # a human recording of the current text is live: never rendered over
    failed: tuple[tuple[str, str], ...] = ()  # (id, why)
    orphans: tuple[str, ...] = ()  # WAVs whose id left the catalog (kept, listed)
    seconds: float = 0.0
    audio_seconds: float = 0.0  # duration of what was rendered or generated now
    total_bytes: int = 0  # all catalog WAVs in audio_dir after the build

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Job:
    key: str
    text: str
    target: Path
    attempts: list[str] = field(default_factory=list)


def wav_path(audio_dir: Path, prompt_id: str) -> Path:
    return Path(audio_dir) / f"{validate_id(prompt_id)}.wav"


def silence_seconds(prompt_id: str) -> float:
    name = prompt_id.removeprefix("silence/")
    if name in SILENCE_SECONDS:
        return SILENCE_SECONDS[name]
    if re.fullmatch(r"[0-9]{1,2}", name):
        return float(name)
    raise RenderError(f"{prompt_id}: unknown silence; use silence/short or silence/<seconds>")


def tone_spec(prompt_id: str) -> tuple[float, float]:
    name = prompt_id.removeprefix("tone/")
    if name in TONES:
        return TONES[name]
    raise RenderError(f"{prompt_id}: unknown tone; known: {', '.join('tone/' + t for t in TONES)}")


def generated_samples(prompt_id: str) -> np.ndarray:
    """The audio of a silence or tone id."""
    if is_tone(prompt_id):
        hz, seconds = tone_spec(prompt_id)
        return audio.tone(hz, seconds)
    return audio.silence(silence_seconds(prompt_id))


def _generated_key(prompt_id: str) -> str:
    if is_tone(prompt_id):
        hz, seconds = tone_spec(prompt_id)
        return f"tone:{hz}:{seconds}"
    return f"silence:{silence_seconds(prompt_id)}"


def duration_problem(text: str, seconds: float) -> str | None:
    """Why ``seconds`` of audio cannot be ``text`` spoken at our slow rate, or None.

    The espeak driver has been seen to hand back a cut-off utterance now and then
    without any error; this is how the build notices (and retries) it.
    """
    if len(text) >= 20:  # sentences: at 130 wpm espeak takes 0.08-0.11 s per character
        if not MIN_SECONDS_PER_CHAR <= seconds / len(text) <= MAX_SECONDS_PER_CHAR:
            return f"{seconds:.1f} s is implausible for {len(text)} characters of text"
    elif not 0.15 <= seconds <= 6.0:  # single words and short names
        return f"{seconds:.2f} s is implausible for a word"
    return None


# --- the child process -----------------------------------------------------------------


def _run_worker(jobs: Sequence[_Job], voice: VoiceSettings, raw_dir: Path, on_done: Callable[[_Job, str | None], None]) -> None:
    """Render ``jobs`` in one child; call ``on_done(job, error_or_None)`` for each job."""
    batch = {
        "voice": voice.voice,
        "rate": voice.rate,
        "volume": voice.volume,
        "jobs": [{"key": j.key, "text": j.text, "out": str(raw_dir / f"{i}.wav")} for i, j in enumerate(jobs)],
    }
    by_key = {j.key: (j, raw_dir / f"{i}.wav") for i, j in enumerate(jobs)}
    reported: set[str] = set()
    err_path = raw_dir / "worker.stderr"
    with open(err_path, "w+", encoding="utf-8", errors="replace") as err_file:
        try:
            proc = subprocess.Popen(
                list(WORKER_COMMAND),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err_file,  # a file, not a pipe: a chatty child cannot block on it
                text=True,
                encoding="utf-8",
            )
        except OSError as exc:
            for job in jobs:
                on_done(job, f"cannot start the TTS worker: {exc}")
            return
        # espeak can hang inside pyttsx3's loop, where the child cannot time itself
        # out; the watchdog kills a child that reports nothing for STALL_S, so the
        # read below ends and the unreported jobs count as failed (and are retried).
        progress = threading.Event()
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if not progress.wait(STALL_S):
                    if not stop.is_set():
                        proc.kill()
                    return
                progress.clear()

        watchdog = threading.Thread(target=watch, name="tts-watchdog", daemon=True)
        watchdog.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps(batch, ensure_ascii=False))
                proc.stdin.close()
            except BrokenPipeError:
                pass
            for line in proc.stdout:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                key = record.get("key") if isinstance(record, dict) else None
                if key not in by_key or key in reported:
                    continue
                progress.set()
                reported.add(key)
                job, raw = by_key[key]
                on_done(job, _finish(job, raw, record))
            proc.wait()
        finally:
            stop.set()
            progress.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        err_file.seek(0)
        stderr = err_file.read().strip()
    why = f"TTS worker exited with status {proc.returncode} without a result"
    if proc.returncode is not None and proc.returncode < 0:
        why = f"TTS worker killed (signal {-proc.returncode}; stalled over {STALL_S:.0f} s?)"
    tail = [ln for ln in stderr.splitlines() if not ln.startswith("Audio saved to")]
    if tail:
        why += ": " + tail[-1][:300]
    for key, (job, _raw) in by_key.items():
        if key not in reported:
            on_done(job, why)


def _finish(job: _Job, raw: Path, record: dict) -> str | None:
    """Shape one raw TTS file into the final prompt; return why it failed, or None."""
    if not record.get("ok"):
        return str(record.get("error") or "worker reported a failure")
    if not raw.is_file():
        return "worker reported success but wrote no file"
    try:
        samples, rate = audio.read_wav(raw)
    except (ValueError, OSError, EOFError) as exc:
        return f"worker wrote an unreadable file: {exc}"
    if samples.size == 0 or float(abs(samples).max()) < 1e-3:
        return "worker wrote silence"
    shaped = audio.shape_for_asterisk(samples, rate)
    odd = duration_problem(job.text, len(shaped) / audio.RATE)
    if odd:
        return f"cut-off speech? {odd}"
    audio.write_wav_atomic(job.target, shaped)
    info = audio.inspect_wav(job.target)
    problem = info.format_problem()
    return f"final file {problem}" if problem else None


def _render(jobs: Sequence[_Job], voice: VoiceSettings, on_done: Callable[[_Job, str | None], None]) -> None:
    """Render with one retry of the failed jobs in a fresh child process."""
    failed: list[_Job] = []

    def first(job: _Job, error: str | None) -> None:
        if error is None:
            on_done(job, None)
        else:
            job.attempts.append(error)
            failed.append(job)

    with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
        _run_worker(jobs, voice, Path(tmp), first)
    if failed:
        log.warning("retrying %d prompt(s) that failed to render", len(failed))
        with tempfile.TemporaryDirectory(prefix="ivr-tts-") as tmp:
            _run_worker(failed, voice, Path(tmp), lambda job, err: on_done(job, err and f"{job.attempts[0]}; retry: {err}"))


# --- manifest --------------------------------------------------------------------------


def _load_manifest(audio_dir: Path) -> dict[str, dict]:
    try:
        data = json.loads((audio_dir / MANIFEST).read_text(encoding="utf-8"))
        prompts = data.get("prompts", {})
        return prompts if isinstance(prompts, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_manifest(audio_dir: Path, entries: dict[str, dict], voice: VoiceSettings) -> None:
    payload = {
        "about": "written by `ivr prompts build`: hash of text + voice per prompt; do not edit",
        "voice": asdict(voice),
        "prompts": dict(sorted(entries.items())),
    }
    audio.write_json_atomic(audio_dir / MANIFEST, payload)


def manifest_hashes(audio_dir: str | os.PathLike[str]) -> dict[str, str]:
    """id -> text hash recorded by the last build (used by the checker to spot stale audio)."""
    return {k: v.get("hash", "") for k, v in _load_manifest(Path(audio_dir)).items() if isinstance(v, dict)}


def expected_hash(catalog: Catalog, prompt_id: str, voice: VoiceSettings = DEFAULT_VOICE) -> str:
    if is_generated(prompt_id):
        return voice.digest(_generated_key(prompt_id))
    return voice.digest(catalog.text(prompt_id))


def _usable(path: Path) -> bool:
    try:
        return audio.inspect_wav(path).format_problem() is None
    except (OSError, ValueError):
        return False


# --- build -----------------------------------------------------------------------------


def build(
    catalog_path: str | os.PathLike[str],
    audio_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    only: Iterable[str] | None = None,
    progress: bool = True,
    voice: VoiceSettings = DEFAULT_VOICE,
) -> BuildReport:
    """Render every catalog prompt whose text (or voice) changed since the last build."""
    started = time.monotonic()
    catalog = load_catalog(catalog_path)
    audio_dir = Path(audio_dir)
    audio_dir.mkdir(parents=True, exist_ok=True)
    wanted = list(catalog.ids())
    failed: list[tuple[str, str]] = []
    if only:
        only = list(dict.fromkeys(only))
        for prompt_id in only:
            if prompt_id not in catalog:
                failed.append((prompt_id, "not in the catalog"))
        wanted = [i for i in only if i in catalog]

    manifest = {k: v for k, v in _load_manifest(audio_dir).items() if k in catalog}
    from ivr.prompts.voice import Voice

    recorded = Voice(audio_dir).live_recordings({i: catalog.text(i) for i in wanted})
    skipped: list[str] = []
    generated: list[str] = []
    rendered: list[str] = []
    audio_seconds = 0.0
    jobs: list[_Job] = []
    for prompt_id in wanted:
        if prompt_id in recorded:  # even with force: a person's recording is not the renderer's to replace
            continue
        target = wav_path(audio_dir, prompt_id)
        try:
            digest = expected_hash(catalog, prompt_id, voice)
        except RenderError as exc:
            failed.append((prompt_id, str(exc)))
            continue
        if not force and manifest.get(prompt_id, {}).get("hash") == digest and _usable(target):
            skipped.append(prompt_id)
            continue
        if is_generated(prompt_id):
            samples = generated_samples(prompt_id)
            seconds = len(samples) / audio.RATE
            size = audio.write_wav_atomic(target, samples)
            manifest[prompt_id] = {"hash": digest, "seconds": round(seconds, 3), "bytes": size}
            generated.append(prompt_id)
            audio_seconds += seconds
            continue
        text = catalog.text(prompt_id)
        if not text:
            failed.append((prompt_id, "empty text"))
            continue
        jobs.append(_Job(prompt_id, text, target))

    bar = None
    if jobs and progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="prompt", desc="rendering", file=sys.stderr, dynamic_ncols=True)

    def done(job: _Job, error: str | None) -> None:
        nonlocal audio_seconds
        if error is None:
            info = audio.inspect_wav(job.target)
            manifest[job.key] = {
                "hash": voice.digest(job.text),
                "seconds": round(info.duration_s, 3),
                "bytes": job.target.stat().st_size,
            }
            rendered.append(job.key)
            audio_seconds += info.duration_s
            # Save as we go: an interrupted build keeps what it already finished.
            _save_manifest(audio_dir, manifest, voice)
        else:
            failed.append((job.key, error))
            log.error("prompt %s failed to render: %s", job.key, error)
        if bar is not None:
            bar.update(1)

    try:
        if jobs:
            _render(jobs, voice, done)
    finally:
        if bar is not None:
            bar.close()
    _save_manifest(audio_dir, manifest, voice)

    on_disk = {
        p.relative_to(audio_dir).with_suffix("").as_posix()
        for p in audio_dir.rglob("*.wav")
        if not p.relative_to(audio_dir).as_posix().startswith(DYN_PREFIX)
    }
    orphans = tuple(sorted(on_disk - set(catalog.ids())))
    total = sum(wav_path(audio_dir, i).stat().st_size for i in catalog.ids() if wav_path(audio_dir, i).is_file())
    return BuildReport(
        rendered=tuple(rendered),
        generated=tuple(generated),
        skipped=tuple(skipped),
        recorded=tuple(i for i in wanted if i in recorded),
        failed=tuple(failed),
        orphans=orphans,
        seconds=time.monotonic() - started,
        audio_seconds=audio_seconds,
        total_bytes=total,
    )


# --- dynamic texts ---------------------------------------------------------------------

# Abbreviations common in Jakarta addresses, spelled out so espeak says the words.
_ABBREVIATIONS = {
    "jl": "Jalan",
    "jln": "Jalan",
    "gg": "Gang",
    "no": "Nomor",
    "kel": "Kelurahan",
    "kec": "Kecamatan",
    "kab": "Kabupaten",
    "kav": "Kaveling",
    "blk": "Blok",
    "prov": "Provinsi",
}
_ABBR_RE = re.compile(r"\b(" + "|".join(_ABBREVIATIONS) + r")\.", re.IGNORECASE)
_LETTERS_RE = re.compile(r"\b(RT|RW|DKI|KTP|NIK|SD|SMP|SMA|SDN|SMPN|SMAN|RPTRA|RSUD|PT|BRI|BNI|BST)\b")


def normalize_text(text: str) -> str:
    """The canonical form a dynamic text is cached under: NFC, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def spoken_form(text: str) -> str:
    """Rewrite address-style text for espeak: expand abbreviations, spell acronyms."""
    text = _ABBR_RE.sub(lambda m: _ABBREVIATIONS[m.group(1).lower()], text)
    text = _LETTERS_RE.sub(lambda m: " ".join(m.group(1)), text)
    # "RT 05/RW 03": a slash between parts is a pause, not "garis miring".
    text = re.sub(r"\s*/\s*", ", ", text)
    return normalize_text(text)


def dyn_id(text: str) -> str:
    """The prompt id of a dynamic text: same text (up to spacing) -> same id."""
    norm = normalize_text(text)
    if not norm:
        raise ValueError("cannot speak an empty text")
    return DYN_PREFIX + hashlib.sha1(norm.encode("utf-8")).hexdigest()[:16]


def ensure_spoken(text: str, audio_dir: str | os.PathLike[str], *, voice: VoiceSettings = DEFAULT_VOICE) -> str:
    """Return the prompt id for ``text``, rendering ``<audio_dir>/dyn/<hash>.wav`` if missing.

    Blocking (spawns the TTS worker on a cache miss).  Safe when several processes
    ask for the same text at once: each renders to a temp file and renames it.
    Raises RenderError when the text cannot be rendered after one retry.
    """
    prompt_id = dyn_id(text)
    target = wav_path(Path(audio_dir), prompt_id)
    if _usable(target):
        return prompt_id
    errors: list[str] = []
    _render([_Job(prompt_id, spoken_form(normalize_text(text)), target)], voice, lambda job, err: err and errors.append(err))
    if errors or not _usable(target):
        raise RenderError(f"could not render {prompt_id}: {errors[0] if errors else 'no usable file'}")
    return prompt_id
