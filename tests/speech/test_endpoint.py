"""The endpointer on synthetic frames: when an answer starts, pauses and ends."""

from __future__ import annotations

import numpy as np

from ivr.speech.endpoint import EndpointConfig, Endpointer, NoSpeech, Paused, SpeechEnded, SpeechStarted, TooLong

RNG = np.random.default_rng(7)


def noise(ms: int, rms: float = 8.0) -> list[np.ndarray]:
    return [np.round(RNG.normal(0, rms, 160)).astype(np.int16) for _ in range(ms // 20)]


def voice(ms: int, amplitude: float = 3000.0) -> list[np.ndarray]:
    """Syllables: 180 ms of a voiced tone, then a 60 ms dip to the line's hiss."""
    t = np.arange(160) / 8000
    tone = (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.int16)
    return [tone if n % 12 < 9 else noise(20)[0] for n in range(ms // 20)]


def run(ep: Endpointer, frames) -> list:
    events = []
    for f in frames:
        events += ep.feed(f)
    return events


def test_late_start_within_the_window_is_heard():
    ep = Endpointer(EndpointConfig(start_ms=8000, end_ms=1200))
    assert run(ep, noise(2000)) == []              # the prompt is playing: no start window yet
    ep.prompt_done()
    events = run(ep, noise(5000) + voice(960) + noise(1500))
    kinds = [type(e) for e in events]
    assert kinds == [SpeechStarted, Paused, SpeechEnded]
    assert events[0].at_ms == 7000                 # 2 s prompt + 5 s wait
    assert events[-1].at_ms == 7960 - 60 and ep.done   # the end of the last syllable


def test_no_speech_after_the_start_window():
    ep = Endpointer(EndpointConfig(start_ms=3000))
    ep.prompt_done()
    events = run(ep, noise(4000))
    assert [type(e) for e in events] == [NoSpeech] and events[0].at_ms == 3000


def test_pauses_shorter_than_the_end_window_do_not_end_the_answer():
    ep = Endpointer(EndpointConfig(end_ms=2000, pause_ms=300))
    ep.prompt_done()
    frames = noise(200)
    for _ in range(4):
        frames += voice(1200) + noise(1000)        # four groups, 1 s apart
    events = run(ep, frames + noise(1200))
    kinds = [type(e) for e in events]
    assert kinds.count(SpeechStarted) == 1 and kinds.count(Paused) == 4
    assert kinds[-1] is SpeechEnded and events[-1].at_ms == 200 + 4 * 2200 - 1000 - 60


def test_barge_in_is_reported_before_the_prompt_ends():
    ep = Endpointer()
    events = run(ep, noise(500) + voice(200))
    assert [type(e) for e in events] == [SpeechStarted] and not ep.done


def test_a_click_is_not_speech():
    ep = Endpointer(EndpointConfig(start_ms=1000))
    ep.prompt_done()
    events = run(ep, voice(40) + noise(1200))
    assert [type(e) for e in events] == [NoSpeech]


def test_quiet_caller_on_a_quiet_line_is_heard_and_hiss_is_not():
    ep = Endpointer(EndpointConfig(start_ms=3000))
    ep.prompt_done()
    # -50 dBFS peak speech over -72 dBFS hiss
    events = run(ep, noise(1000) + voice(600, amplitude=100) + noise(1500))
    assert [type(e) for e in events][0] is SpeechStarted
    hiss = Endpointer(EndpointConfig(start_ms=3000))
    hiss.prompt_done()
    assert [type(e) for e in run(hiss, noise(4000, rms=300))] == [NoSpeech]


def test_too_long():
    ep = Endpointer(EndpointConfig(max_ms=2000))
    ep.prompt_done()
    events = run(ep, noise(300) + voice(3000))
    assert [type(e) for e in events] == [SpeechStarted, TooLong] and ep.done
    assert ep.feed(voice(20)[0]) == []


def test_the_endpointer_is_pure():
    """No I/O, no clock, no adapter: time is the audio fed to it."""
    from tests.test_architecture import PKG, imports_of

    assert imports_of(PKG / "speech" / "endpoint.py") <= {"__future__", "math", "collections", "dataclasses", "numpy"}
