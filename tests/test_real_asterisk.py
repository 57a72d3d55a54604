"""What broke behind a real Asterisk 20 (../shared/asterisk-captures), as whole calls.

The fake answers as Asterisk does in each case (tests/telephony/test_asterisk_captures.py
holds it to the transcripts); these check that the service now does right by the caller:
a report is recorded though Asterisk has no ``beep`` sound, a finished operator call
is not told "all operators are busy", a NIK keyed with a trailing ``#`` goes straight
to its read-back, and a caller who starts speaking seconds late is heard.
"""

from __future__ import annotations

from pathlib import Path

from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import BRIDGED, HangUp, Keys, Say, Silence
from tests.conftest import make_settings, run_line, voice_wav
from tests.fakes import ScriptedRecognizer
from tests.test_calls import only_call, spoken

AUDIO = Path(__file__).resolve().parent / "data" / "calls"
SCHEDULED = DEMO_NIKS["scheduled"]


def _records(result):
    return [e for e in result.exchanges if e.command == "RECORD FILE"]


def test_report_is_recorded_without_asterisks_beep_sound(tmp_path, settings):
    """report.txt: ``RECORD FILE ... BEEP`` gave ``(randomerror)`` and the call ended as a
    fault.  Our own tone now plays first and RECORD FILE asks Asterisk for nothing."""
    wav = voice_wav(tmp_path / "report.wav", seconds=4)

    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"), Keys("2", during="menu/after"), Say(wav),
                               Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert result.clean, result.problems
    assert not any("BEEP" in e.args for e in _records(result))
    p = list(result.prompts)
    assert p[p.index("report/intro") + 1] == "tone/beep"
    assert "report/thanks" in p
    assert call.outcome != "fault"
    assert [f.reason for f in call.follow_ups] == ["complaint"]
    complaint = next(r for r in call.recordings if r.purpose == "complaint")
    assert Path(complaint.path).stat().st_size > 4 * 8000       # the caller's words are in it


def test_finished_operator_call_is_thanked_not_offered_a_callback(settings):
    """operator.txt: Queue returns -1 and leaves QUEUESTATUS unset after a bridged call."""
    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"), Keys("0", during="menu/after"),
                               transfer_status={"queue": BRIDGED})

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert result.clean, result.problems
    after = list(result.prompts)[list(result.prompts).index("operator/connecting") + 1:]
    assert after == ["goodbye"]
    assert call.outcome == "operator" and list(call.follow_ups) == []


def test_operators_who_never_answer_time_out_into_a_callback_offer(settings):
    async def scenario(line):
        return await line.call(Keys("0"), Keys("1"), transfer_status={"queue": "TIMEOUT"})

    result, line = run_line(settings, scenario)
    exec_args = next(e.args for e in result.exchanges if e.command == "EXEC")
    assert exec_args == ("Queue", "operators,,,,300")
    assert "operator/busy" in result.prompts and "operator/callback_offer" in result.prompts
    assert only_call(line).outcome == "callback"


def test_nik_keyed_with_a_trailing_hash_goes_straight_to_the_read_back(settings):
    """hash.txt: the ``#`` left over after GET DATA's sixteenth digit interrupted the
    read-back and was taken as the answer ("not understood")."""
    async def scenario(line):
        return await line.call(Keys(SCHEDULED + "#"), Keys("1"), Silence(), Silence())

    result, line = run_line(settings, scenario)
    assert result.clean, result.problems
    p = list(result.prompts)
    assert "error/not_understood" not in p
    assert p.index("confirm/intro") < p.index("confirm/ask") < p.index("status/scheduled")
    assert ("keys_lost", "#") in [(e.kind, e.detail) for e in result.events]   # dropped by Asterisk
    assert only_call(line).outcome == "answered"


def test_hash_pressed_at_a_question_is_ignored_not_misread(settings):
    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("#1"), Silence(), Silence())

    result, _ = run_line(settings, scenario)
    assert "error/not_understood" not in result.prompts and "status/scheduled" in result.prompts


def _late_call(tmp_path, after_s):
    settings = make_settings(tmp_path, speech_enabled=True)
    wav = voice_wav(tmp_path / "nik.wav", seconds=6)
    recognizer = ScriptedRecognizer([spoken(SCHEDULED), "ya", "selesai"])

    async def scenario(line):
        return await line.call(Say(wav, after_s=after_s), Say(wav), Say(wav))

    return run_line(settings, scenario, recognizer=recognizer), recognizer


def test_caller_who_starts_three_seconds_late_is_heard(tmp_path):
    """late.txt: with ``s=2`` the recording ended before the caller began, three times."""
    (result, line), recognizer = _late_call(tmp_path, 3.0)
    assert result.clean, result.problems
    p = list(result.prompts)
    assert "error/not_heard" not in p and "confirm/intro" in p and "status/scheduled" in p
    # The line listened again at once, with no prompt in between.
    commands = result.commands()
    first = commands.index("RECORD FILE")
    assert commands[first:first + 2] == ["RECORD FILE", "RECORD FILE"]
    # Only the recording with the voice was decoded and kept; the silent one is gone.
    assert len(recognizer.calls) == 3
    kept = [r.path for r in only_call(line).recordings]
    assert all(Path(k).exists() for k in kept) and len(kept) == 3


def test_caller_who_starts_five_seconds_late_is_heard(tmp_path):
    (result, _), _ = _late_call(tmp_path, 5.0)
    assert result.clean, result.problems
    assert "error/not_heard" not in result.prompts and "status/scheduled" in result.prompts


def test_silence_through_the_whole_start_window_is_not_heard_then_asked_again(tmp_path):
    settings = make_settings(tmp_path, speech_enabled=True, listen_start_s=6)

    async def scenario(line):
        return await line.call(Silence(), Keys(SCHEDULED), Keys("1"), HangUp())

    result, _ = run_line(settings, scenario, recognizer=ScriptedRecognizer([]))
    commands = result.commands()
    first = commands.index("RECORD FILE")
    # 6 s of start window = three 2-second silence windows, then "not heard".
    assert commands[first:first + 4] == ["RECORD FILE"] * 3 + ["STREAM FILE"]
    assert "error/not_heard" in result.prompts
    assert all(r.exists() is False for r in result.recordings[:2])   # silent parts removed


def test_real_voice_three_seconds_late_is_decoded_by_the_bundled_model(tmp_path):
    settings = make_settings(tmp_path, speech_enabled=True)

    async def scenario(line):
        return await line.call(Say(AUDIO / "nik_whole_mike.wav", after_s=3.0), Say(AUDIO / "ya_andy.wav"),
                               Silence(), Silence())

    result, line = run_line(settings, scenario)
    p = list(result.prompts)
    assert "error/not_heard" not in p
    readback = p[p.index("confirm/intro") + 1:p.index("confirm/ask")]
    assert sum(x.startswith("digits/") for x in readback) == 16


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_service_down_sets_agistatus_failure_and_the_dialplan_goes_on(settings):
    """res_agi.c: an AGI server that cannot be reached sets AGISTATUS=FAILURE and the
    dialplan continues; ours then apologises and queues (tests/test_deployment.py)."""
    import asyncio

    from ivr.telephony.fake_asterisk import run_call

    result = asyncio.run(run_call("127.0.0.1", _free_port(), [Keys(SCHEDULED)], sounds_prefix=settings.asterisk_sounds,
                                  audio_dir=settings.audio_dir, asterisk_spool=settings.asterisk_spool_dir,
                                  spool_dir=settings.spool, timeout=10))
    assert result.agi_status == "FAILURE" and result.dialplan_continues
    assert result.exchanges == ()


def test_call_refused_over_the_limit_goes_back_to_the_dialplan(settings):
    import asyncio

    from ivr.app import build_hotline
    from ivr.telephony.channel import ChannelConfig
    from ivr.telephony.fake_asterisk import run_call
    from ivr.telephony.server import AgiServer

    hotline = build_hotline(settings)

    async def main():
        server = AgiServer(hotline.runner, "127.0.0.1", 0, config=ChannelConfig.from_settings(settings), max_calls=0)
        await server.start()
        try:
            return await run_call("127.0.0.1", server.bound_port, [Keys(SCHEDULED)],
                                  sounds_prefix=settings.asterisk_sounds, audio_dir=settings.audio_dir,
                                  asterisk_spool=settings.asterisk_spool_dir, spool_dir=settings.spool, timeout=10)
        finally:
            await server.close()

    try:
        result = asyncio.run(main())
    finally:
        hotline.close()
    assert result.exchanges == () and result.dialplan_continues and result.agi_status == "SUCCESS"


def test_a_call_the_service_finishes_does_not_fall_through_the_dialplan(settings):
    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"), Silence(), Silence())

    result, _ = run_line(settings, scenario)
    assert result.ended_by == "service" and not result.dialplan_continues
