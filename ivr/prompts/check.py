"""Is every prompt the call flow needs present, spoken and playable by Asterisk?

Run before deploying (``ivr prompts check``) and in the test suite against the
committed audio, so a missing, wrongly encoded or out-of-date file is found here
rather than as silence on a caller's line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ivr.prompts import audio
from ivr.prompts.catalog import Catalog, is_generated, is_silence, is_tone
from ivr.prompts.ingest import length_problem
from ivr.prompts.voice import Version, Voice, VoiceError, sha256_of
from ivr.prompts.render import RenderError, duration_problem, expected_hash, manifest_hashes, wav_path

MAX_CLIPPED_FRACTION = 0.001  # a few clipped samples are inaudible; more means distortion
MIN_PEAK_DBFS = -30.0  # quieter than this, a spoken prompt is effectively silent


def check(catalog: Catalog, audio_dir: str | os.PathLike[str], required_ids: Iterable[str]) -> list[str]:
    """One line per problem; an empty list means every required prompt is usable."""
    audio_dir = Path(audio_dir)
    recorded = manifest_hashes(audio_dir)
    wanted = sorted(set(required_ids))
    try:
        human = Voice(audio_dir).live_recordings({i: catalog.text(i) for i in wanted if i in catalog})
    except VoiceError as exc:
        human = {}
        problems_head = [f"voice registry: {exc}"]
    else:
        problems_head = []
    problems: list[str] = problems_head
    for prompt_id in wanted:
        if prompt_id not in catalog:
            problems.append(f"{prompt_id}: not in the catalog")
            continue
        text = catalog.text(prompt_id)
        if not is_generated(prompt_id) and not text:
            problems.append(f"{prompt_id}: empty text")
            continue
        path = wav_path(audio_dir, prompt_id)
        if not path.is_file():
            problems.append(f"{prompt_id}: no audio file {path}; run `ivr prompts build`")
            continue
        try:
            info = audio.inspect_wav(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{prompt_id}: {path.name} {exc}")
            continue
        bad_format = info.format_problem()
        if bad_format:
            problems.append(f"{prompt_id}: {path.name} {bad_format}")
            continue
        live = human.get(prompt_id)
        if live is not None:
            problems += [f"{prompt_id}: {p}" for p in _recorded_problems(path, text, info, live)]
            continue
        problems += [f"{prompt_id}: {p}" for p in _content_problems(prompt_id, text, info)]
        try:
            if recorded.get(prompt_id) != expected_hash(catalog, prompt_id):
                problems.append(f"{prompt_id}: audio is older than its text; run `ivr prompts build`")
        except RenderError as exc:
            problems.append(str(exc))
    return problems


def _recorded_problems(path: Path, text: str, info: audio.WavInfo, live: Version) -> list[str]:
    """A human recording: the file is the version the registry says is live, and its length fits."""
    out = []
    if sha256_of(path) != live.sha256:
        out.append(f"{path.name} is not recorded version {live.n} that the voice registry says is live")
    if info.peak_dbfs < MIN_PEAK_DBFS:
        out.append(f"recording nearly silent (peak {info.peak_dbfs:.1f} dBFS)")
    if info.clipped_fraction > MAX_CLIPPED_FRACTION:
        out.append(f"recording clipped ({info.clipped_fraction:.2%} of samples at full scale)")
    # the file holds the kept lead and tail around the speech
    odd = length_problem(text, max(0.0, info.duration_s - audio.LEAD_S - audio.TAIL_S))
    if odd:
        out.append(f"recording {odd}")
    return out


def _content_problems(prompt_id: str, text: str, info: audio.WavInfo) -> list[str]:
    if is_silence(prompt_id):
        return [] if info.peak_dbfs < -60 else ["a silence file that is not silent"]
    if is_tone(prompt_id):
        return [] if MIN_PEAK_DBFS <= info.peak_dbfs < -1 else [f"a tone at {info.peak_dbfs:.1f} dBFS peak"]
    out = []
    if info.peak_dbfs < MIN_PEAK_DBFS:
        out.append(f"nearly silent (peak {info.peak_dbfs:.1f} dBFS)")
    if info.clipped_fraction > MAX_CLIPPED_FRACTION:
        out.append(f"clipped ({info.clipped_fraction:.2%} of samples at full scale)")
    odd = duration_problem(text, info.duration_s)
    if odd:
        out.append(odd)
    return out
