"""Whole calls where the caller speaks, decoded by the bundled Indonesian model.

The audio is committed (tests/make_call_audio.py): espeak-ng voices that model
training never uses, through a telephone channel at 8 kHz."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import Say, Silence
from tests.conftest import make_settings, run_line
from tests.test_calls import only_call

AUDIO = Path(__file__).resolve().parent / "data" / "calls"
NIK = DEMO_NIKS["scheduled"]


def spoken_settings(tmp_path):
    return make_settings(tmp_path, speech_enabled=True)


def two_halves_call(tmp_path, voice):
    settings = spoken_settings(tmp_path)

    async def scenario(line):
        return await line.call(Say(AUDIO / f"nik_first_half_{voice}.wav"), Say(AUDIO / f"nik_second_half_{voice}.wav"),
                               Say(AUDIO / "ya_andy.wav"), Say(AUDIO / "selesai_storm.wav"))

    return run_line(settings, scenario)


def test_nik_spoken_in_two_halves_reaches_the_schedule(tmp_path):
    result, line = two_halves_call(tmp_path, "mike")

    assert line.hotline.speech, "the bundled model loads"
    p = result.prompts
    assert "nik/heard_so_far" in p, "after eight digits the line reads back and asks for the rest"
    assert "status/scheduled" in p, p
    assert p[-1] == "goodbye"
    call = only_call(line)
    assert call.input_mode == "speech" and call.outcome == "answered"
    assert call.nik.endswith(NIK[-4:])


def test_whole_nik_in_one_breath_is_read_back_in_groups(tmp_path):
    """Sixteen digits in one utterance go straight to the read-back (which digits the
    model heard is benchmarks/asr_bench.py's business; this caller always says ya)."""
    settings = spoken_settings(tmp_path)

    async def scenario(line):
        return await line.call(Say(AUDIO / "nik_whole_mike.wav"), Say(AUDIO / "ya_andy.wav"), Silence(), Silence())

    result, line = run_line(settings, scenario)
    p = list(result.prompts)
    assert "nik/heard_so_far" not in p, "all sixteen digits were taken from one utterance"
    readback = p[p.index("confirm/intro") + 1:p.index("confirm/ask")]
    assert sum(x.startswith("digits/") for x in readback) == 16 and readback.count("silence/short") == 3
    call = only_call(line)
    assert call.input_mode == "speech" and call.lookup_status is not None


def test_slow_female_voice_in_two_halves(tmp_path):
    result, line = two_halves_call(tmp_path, "annie")
    assert "status/scheduled" in result.prompts


def test_yes_asked_for_digits_is_not_heard_as_digits(tmp_path):
    """The digits question's grammar has no 'ya': the caller is asked again, not misread."""
    settings = spoken_settings(tmp_path)

    async def scenario(line):
        return await line.call(Say(AUDIO / "ya_andy.wav"), Silence())

    result, line = run_line(settings, scenario)
    assert "confirm/intro" not in result.prompts
    assert "nik/ask_simple" in result.prompts
