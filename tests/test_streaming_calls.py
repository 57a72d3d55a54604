"""Whole calls with spoken answers streamed over AudioSocket: the fake Asterisk speaks
FastAGI and, on ``EXEC AudioSocket``, connects to the service's AudioSocket server
and streams the caller's line (20 ms frames, faster than real time), as Asterisk 20
does.  The real recogniser hears the committed test recordings."""

from __future__ import annotations

import asyncio
import dataclasses
import wave
from pathlib import Path

import numpy as np
import pytest

from ivr.speech.recognizer import load_recognizer
from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, Silence, run_call
from tests.conftest import OFFICE_HOURS, REPO, make_settings

ASR = REPO / "tests" / "data" / "asr"
SPEED = 8.0                     # line time runs this many times faster than real time
SCHEDULED = DEMO_NIKS["scheduled"]


@pytest.fixture(scope="module")
def recognizer():
    return load_recognizer(None, REPO / "grammars")


def stream_settings(tmp_path, **overrides):
    return make_settings(tmp_path, speech_enabled=True, speech_transport="audiosocket", audiosocket_port=0,
                         audiosocket_bind="127.0.0.1", **overrides)


def run_stream_line(settings, scenario, recognizer, *, speed=SPEED):
    from ivr.app import build_hotline
    from ivr.telephony.channel import ChannelConfig
    from ivr.telephony.server import AgiServer

    hotline = build_hotline(settings, clock=lambda: OFFICE_HOURS, recognizer=recognizer)
    if hotline.stream_config is not None:
        hotline.stream_config = dataclasses.replace(hotline.stream_config, speed=speed)

    async def main():
        if hotline.audiosocket is not None:
            await hotline.audiosocket.start()
        server = AgiServer(hotline.handler, "127.0.0.1", 0, config=ChannelConfig.from_settings(settings))
        await server.start()

        async def call(*turns, audiosocket=True):
            return await run_call("127.0.0.1", server.bound_port, list(turns),
                                  sounds_prefix=settings.asterisk_sounds, audio_dir=settings.audio_dir,
                                  asterisk_spool=settings.asterisk_spool_dir, spool_dir=settings.spool,
                                  timeout=120, audiosocket=audiosocket, audiosocket_speed=speed)
        try:
            return await scenario(call)
        finally:
            await server.close()
            if hotline.audiosocket is not None:
                await hotline.audiosocket.close()

    try:
        return asyncio.run(main()), hotline
    finally:
        hotline.close()


def only_call(hotline):
    store = hotline.store
    calls = store.list_calls(limit=10)
    assert len(calls) == 1, calls
    return store.get_call(calls[0].id)


def speech_events(detail):
    return [e for e in detail.events if e.kind == "speech"]


def voiced_part(name: str) -> np.ndarray:
    """A test recording without the silence around its words (20 ms frames louder
    than -47 dBFS, plus 60 ms either side)."""
    with wave.open(str(ASR / f"{name}.wav"), "rb") as w:
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    frames = x[: len(x) // 160 * 160].astype(np.float64).reshape(-1, 160)
    loud = np.flatnonzero(np.sqrt((frames ** 2).mean(axis=1)) > 150)
    return x[max(loud[0] - 3, 0) * 160:(loud[-1] + 4) * 160]


def joined(tmp_path: Path, parts: list[str], gap_s: float) -> Path:
    """Test recordings joined with pauses of exactly ``gap_s`` between their words,
    as a caller saying a NIK in groups."""
    chunks = []
    for n, name in enumerate(parts):
        chunks.append(voiced_part(name))
        if n < len(parts) - 1:
            chunks.append(np.zeros(int(gap_s * 8000), dtype="<i2"))
    path = tmp_path / "groups.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(np.concatenate(chunks).astype("<i2").tobytes())
    return path


def test_late_caller_is_heard(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(Say(ASR / "digits_annie.wav", after_s=5.0), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    session = result.audiosocket_sessions[0]
    assert session.spoke and not session.prompt_cut
    heard = speech_events(only_call(hotline))
    assert len(heard) == 1
    assert heard[0].detail["words"] == 4 and heard[0].detail["grammar"] == "digits"



def test_pauses_between_nik_groups_do_not_cut_the_caller(tmp_path, recognizer):
    settings = stream_settings(tmp_path)
    wav = joined(tmp_path, ["digits_annie", "digits_female3", "digits_annie", "digits_female3"], 1.0)

    async def scenario(call):
        return await call(Say(wav), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    heard = speech_events(only_call(hotline))
    assert len(heard) == 1
    # all four groups in one answer, read as the 16 digits spoken
    assert heard[0].detail["words"] == 16
    assert heard[0].transcript == "7890********0205"
    recording = only_call(hotline).recordings[0]
    with wave.open(recording.path, "rb") as w:
        kept_s = w.getnframes() / 8000
    assert kept_s >= 4 * 1.0 + 3 * 1.0             # every group (over 1 s each) and every pause
    assert oct(Path(recording.path).stat().st_mode & 0o777) == "0o640"


def test_voice_barge_in_stops_the_prompt(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(Say(ASR / "digits_andy.wav", after_s=1.5, barge_in=True), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    session = result.audiosocket_sessions[0]
    full_ms = _wav_ms(settings.audio_dir / "nik/ask.wav")
    assert full_ms > 5000
    assert session.prompt_cut
    assert session.prompt_ms < 3500 < full_ms          # stopped soon after the caller spoke at 1.5 s
    heard = speech_events(only_call(hotline))
    assert heard[0].detail.get("barged_in") is True and heard[0].detail["words"] == 3


def _wav_ms(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        return w.getnframes() * 1000 // w.getframerate()


def test_keys_during_the_session_work_as_keys(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        # eight digits ended by #, then * (start over) at the "rest of the NIK" question
        return await call(Keys("31720145#"), Keys("*", barge_in=True), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    detail = only_call(hotline)
    keys = [e for e in detail.events if e.kind == "keys"]
    assert keys[0].detail["count"] == 8 and not keys[0].detail["timed_out"]
    assert keys[1].keys == "*"
    prompts = [p for e in detail.events if e.kind == "prompt" for p in e.prompts]
    assert "nik/ask_rest" in prompts and "nik/start_over" in prompts
    assert result.audiosocket_sessions[0].keys_sent.startswith("3")


def test_keyed_nik_with_trailing_hash_in_the_session(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(Keys(SCHEDULED + "#"), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    detail = only_call(hotline)
    keys = [e for e in detail.events if e.kind == "keys"]
    assert keys[0].detail["count"] == 16
    prompts = [p for e in detail.events if e.kind == "prompt" for p in e.prompts]
    assert "confirm/intro" in prompts                   # the NIK is read back, the # ignored


def test_hang_up_mid_stream_leaves_a_closed_call_log(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(HangUp(after_s=2.0))

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert result.ended_by == "caller" and not result.problems, result.problems
    assert result.audiosocket_sessions[0].caller_hung_up
    detail = only_call(hotline)
    assert detail.call.ended is not None and detail.call.outcome == "abandoned"
    assert detail.events[-1].kind == "hangup"


def test_asterisk_without_the_app_falls_back_to_record_file(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(Say(ASR / "digits_andy.wav"), Say(ASR / "digits_mike.wav"), HangUp(), audiosocket=False)

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    commands = result.commands()
    assert commands.count("EXEC") == 1                  # tried once, answered -2
    assert [e.reply for e in result.exchanges if e.command == "EXEC"] == ["200 result=-2\n"]
    assert commands.count("RECORD FILE") == 2           # both answers recorded the old way
    heard = speech_events(only_call(hotline))
    assert [e.detail["words"] for e in heard] == [3, 3]


def test_a_socket_that_never_connects_falls_back_to_record_file(tmp_path, recognizer):
    import socket

    with socket.socket() as probe:               # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings = stream_settings(tmp_path, audiosocket_host=f"127.0.0.1:{dead_port}")

    async def scenario(call):
        return await call(Say(ASR / "digits_andy.wav"), Say(ASR / "digits_mike.wav"), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    assert not result.problems, result.problems
    assert [e.reply for e in result.exchanges if e.command == "EXEC"] == ["200 result=-1\n"]
    assert result.commands().count("RECORD FILE") == 2
    assert [e.detail["words"] for e in speech_events(only_call(hotline))] == [3, 3]


def test_a_hash_alone_does_not_answer_a_question(tmp_path, recognizer):
    settings = stream_settings(tmp_path)

    async def scenario(call):
        return await call(Keys("#", barge_in=True), Keys(SCHEDULED), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    keys = [e for e in only_call(hotline).events if e.kind == "keys"]
    assert keys[0].detail["count"] == 16                 # the "#" was passed over, the NIK taken
    assert result.audiosocket_sessions[0].keys_sent.startswith("#")


def test_report_over_the_streaming_transport(tmp_path, recognizer):
    """A report (our beep, then RECORD FILE with its start window) goes through the
    AGI channel underneath the streaming one: it is recorded and queued, no fault."""
    from tests.conftest import voice_wav

    settings = stream_settings(tmp_path)
    wav = voice_wav(tmp_path / "report.wav", seconds=4)

    async def scenario(call):
        return await call(Keys(SCHEDULED), Keys("1"), Keys("2"), Say(wav), HangUp())

    result, hotline = run_stream_line(settings, scenario, recognizer)
    detail = only_call(hotline)
    assert detail.call.outcome != "fault", [e.detail for e in detail.events if e.kind == "fault"]
    assert [f.reason for f in detail.follow_ups] == ["complaint"]
    assert "tone/beep" in result.prompts
    assert any(r.purpose == "complaint" for r in detail.recordings)


def test_the_streaming_channel_takes_every_argument_the_agi_channel_takes():
    """The call runner talks to either transport through the same port: a wrapper
    method that drops an argument breaks calls only on that transport."""
    import inspect

    from ivr.telephony.channel import AgiChannel
    from ivr.telephony.streaming import AudioSocketChannel

    for name in ("answer", "play", "collect_keys", "record", "transfer", "set_variable", "hangup", "ask"):
        agi_params = list(inspect.signature(getattr(AgiChannel, name)).parameters)
        stream_params = list(inspect.signature(getattr(AudioSocketChannel, name)).parameters)
        assert stream_params == agi_params, name
