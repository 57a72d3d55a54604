"""AgiServer + AgiChannel driven by the fake Asterisk over real sockets."""

from __future__ import annotations

import asyncio
import wave

import pytest

from ivr.errors import CallerHungUp, ChannelError
from ivr.ports import KeysResult, PlayResult
from ivr.telephony import agi
from ivr.telephony.channel import ChannelConfig
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, Silence

from .conftest import AST_SPOOL, PREFIX, Outcome, make_wav, place_call, serving

DIGITS = "0123456789"


def run(coro):
    return asyncio.run(coro)


def test_keys_interrupt_a_prompt_and_rest_is_skipped(dirs):
    async def body(ch):
        await ch.answer()
        played = await ch.play(["greeting", "ask_nik"], stop_keys=DIGITS)
        keys = await ch.collect_keys(16, 3000)
        await ch.hangup()
        return played, keys

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [Keys("3172010101800001", barge_in=True)])
        return handler, result

    handler, result = run(main())
    played, keys = handler.results[0]
    assert played == PlayResult(key="3")
    # The first key stopped the greeting; ask_nik was never sent.
    assert result.prompts == ("greeting", "silence/1")
    assert keys == KeysResult(keys="172010101800001", timed_out=True)
    assert result.keys == "3172010101800001"
    assert result.commands() == ["ANSWER", "STREAM FILE", "GET DATA", "HANGUP"]
    assert result.exchanges[1].args == (f"{PREFIX}/greeting", DIGITS)
    assert result.exchanges[1].reply == f"200 result={ord('3')} endpos=1000\n"
    assert result.ended_by == "service" and result.clean


def test_prompt_plays_fully_when_no_key(dirs):
    async def body(ch):
        return await ch.play(["greeting", "confirm"], stop_keys="12")

    async def main():
        async with serving(Outcome(body), dirs) as server:
            return await place_call(server, dirs, [Keys("9")])

    result = run(main())
    assert result.prompts == ("greeting", "confirm")
    assert [e.reply for e in result.exchanges] == ["200 result=0 endpos=2000\n"] * 2
    assert result.keys == ""  # 9 is not a stop key: it stays queued


def test_polite_keys_wait_for_the_prompts_to_finish(dirs):
    async def body(ch):
        played = await ch.play(["confirm", "bye"], stop_keys="12")
        return played, await ch.collect_keys(1, 3000)

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [Keys("1")])
        return handler, result

    handler, result = run(main())
    assert handler.results[0] == (PlayResult(None), KeysResult("1", False))
    assert result.prompts == ("confirm", "bye", "silence/1")


def test_get_data_timeout_hash_and_max(dirs):
    async def body(ch):
        a = await ch.collect_keys(4, 2000, prompt="ask_nik")
        b = await ch.collect_keys(16, 2000)
        c = await ch.collect_keys(2, 2000)
        d = await ch.collect_keys(4, 2000)
        await ch.hangup()
        return a, b, c, d

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [Silence(), Keys("12#"), Keys("0789")])
        return handler, result

    handler, result = run(main())
    a, b, c, d = handler.results[0]
    assert a == KeysResult("", True)
    assert b == KeysResult("12", False)      # '#' ends entry early
    assert c == KeysResult("07", False)      # max digits reached
    assert d == KeysResult("89", True)
    assert result.exchanges[0].reply == "200 result= (timeout)\n"
    assert result.exchanges[0].args == (f"{PREFIX}/ask_nik", "2000", "4")


def test_leading_zero_keys_survive(dirs):
    async def body(ch):
        return await ch.collect_keys(3, 1000)

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            await place_call(server, dirs, [Keys("007")])
        return handler

    assert run(main()).results[0] == KeysResult("007", False)


def test_record_speech_and_dtmf(dirs):
    speech = make_wav(dirs.tmp / "caller.wav", 0.5, rate=16000, channels=2)

    async def body(ch):
        first = await ch.record("c1/nik-1", 20000, 2, DIGITS + "#")
        second = await ch.record("c1/nik-2", 20000, 2, DIGITS + "#")
        third = await ch.record("c1/nik-3", 20000, 2, DIGITS + "#")
        await ch.hangup()
        return first, second, third

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [Say(speech), Keys("5"), Silence()])
        return handler, result

    handler, result = run(main())
    first, second, third = handler.results[0]
    assert first.path == dirs.spool / "c1" / "nik-1.wav" and first.key is None
    with wave.open(str(first.path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.getnframes()
    # 0.5 s of speech; the silence detector fires one 20 ms frame after 2 s of quiet
    # and res_agi rewinds 1 s of it: 1.02 s of trailing silence (as in late.txt).
    assert frames == 4000 + 8160
    assert first.duration_ms == frames // 8
    assert second.key == "5" and second.path == dirs.spool / "c1" / "nik-2.wav"
    assert third.key is None and third.path is not None and third.duration_ms == 1020
    assert result.exchanges[0].args == (f"{AST_SPOOL}/c1/nik-1", "wav", DIGITS + "#", "20000", "s=2")
    assert result.exchanges[1].reply == f"200 result={ord('5')} (dtmf) endpos=0\n"
    assert result.clean


def test_record_with_unwritable_spool_is_a_channel_error(dirs):
    async def body(ch):
        return await ch.record("x", 1000, 1, "#")

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [Silence()], asterisk_spool="/elsewhere")
        return handler, result

    handler, result = run(main())
    assert isinstance(handler.errors[0], ChannelError)
    assert result.exchanges[0].reply == "200 result=-1 (writefile)\n"


ACTIONS = {
    "answer": lambda ch: ch.answer(),
    "play": lambda ch: ch.play(["greeting"], DIGITS),
    "play_nokeys": lambda ch: ch.play(["greeting"]),
    "collect": lambda ch: ch.collect_keys(4, 1000, "ask_nik"),
    "record": lambda ch: ch.record("rec", 5000, 2, "#"),
    "transfer": lambda ch: ch.transfer("Queue", "operators,t"),
    "set_variable": lambda ch: ch.set_variable("HOTLINE_STEP", "nik"),
}


@pytest.mark.parametrize("line_first", [True, False], ids=["hangup-line-first", "reply-first"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_hangup_at_each_command(dirs, action, line_first):
    async def body(ch):
        await ACTIONS[action](ch)
        # set_variable is allowed on a dead channel; the next media command is not.
        await ch.play(["bye"])

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [HangUp(hangup_line_first=line_first)])
            follow = await place_call(server, dirs, [])
        return handler, result, follow

    handler, result, follow = run(main())
    assert isinstance(handler.errors[0], CallerHungUp)
    assert result.ended_by == "caller"
    assert "bye" not in result.prompts
    # The server still serves the next call (whose caller has nothing to say).
    assert follow.ended_by != "timeout" and follow.exchanges


def test_script_exhausted_caller_hangs_up_at_next_input(dirs):
    async def body(ch):
        await ch.play(["greeting"])
        await ch.collect_keys(4, 1000)

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [])
        return handler, result

    handler, result = run(main())
    assert isinstance(handler.errors[0], CallerHungUp)
    assert result.prompts == ("greeting",)
    assert result.exchanges[-1].reply == "HANGUP\n200 result=-1\n"


def test_hangup_after_caller_gone_is_quiet_and_ends_cleanly(dirs):
    async def body(ch):
        try:
            await ch.collect_keys(4, 1000)
        except CallerHungUp:
            await ch.set_variable("HOTLINE_END", "caller")
            await ch.hangup()
            return "ended"

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [HangUp()])
        return handler, result

    handler, result = run(main())
    assert handler.results == ["ended"]
    assert dict(result.variables)["HOTLINE_END"] == "caller"
    assert result.commands() == ["GET DATA", "SET VARIABLE"]  # no HANGUP sent to a dead channel
    assert result.clean


def test_transfer_reads_back_status(dirs):
    async def body(ch):
        queue = await ch.transfer("Queue", "operators,t,,,300")
        dial = await ch.transfer("Dial", "PJSIP/operator,30")
        try:
            await ch.transfer("NoSuchApp", "x")
        except ChannelError:
            return queue, dial, "missing app refused"

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [], transfer_status={"queue": "FULL"})
        return handler, result

    handler, result = run(main())
    assert handler.results[0] == ("FULL", "NOANSWER", "missing app refused")
    assert result.exchanges[0].args == ("Queue", "operators,t,,,300")


def test_missing_and_wrong_format_prompts_are_reported_and_skipped(dirs):
    async def body(ch):
        played = await ch.play(["no_such_prompt", "wide", "greeting"], DIGITS)
        return played, list(ch.missing_prompts)

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            result = await place_call(server, dirs, [])
        return handler, result

    handler, result = run(main())
    played, missing = handler.results[0]
    assert played == PlayResult(None)
    assert missing == ["no_such_prompt", "wide"]
    assert result.prompts == ("greeting",)
    assert result.exchanges[0].reply == "200 result=-1 endpos=0\n"
    assert any("no_such_prompt: missing" in p for p in result.problems)
    assert any("wide: wrong format" in p for p in result.problems)
    # The channel told a missing file from a hang-up with CHANNEL STATUS.
    assert result.commands().count("CHANNEL STATUS") == 2
    assert not result.clean


def test_prompt_outside_sounds_folder_is_a_problem(dirs):
    async def body(ch):
        await ch.play(["greeting"])

    async def main():
        config = ChannelConfig(sounds_prefix="/other/sounds", asterisk_spool=AST_SPOOL,
                               spool_dir=dirs.spool)
        async with serving(Outcome(body), dirs, config=config) as server:
            return await place_call(server, dirs, [])

    result = run(main())
    assert any("outside the sounds folder" in p for p in result.problems)


def test_save_wav_writes_what_the_caller_heard(dirs):
    speech = make_wav(dirs.tmp / "caller.wav", 0.3)
    out = dirs.tmp / "call.wav"

    async def body(ch):
        await ch.play(["greeting"], DIGITS)
        await ch.record("r", 5000, 2, "#")
        await ch.hangup()

    async def main():
        async with serving(Outcome(body), dirs) as server:
            return await place_call(server, dirs, [Keys("1", barge_in=True), Say(speech)], save_wav=out)

    run(main())
    with wave.open(str(out)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        # half the greeting + a pause + one DTMF tone + speech and its silence tail
        assert w.getnframes() > 1000 + 2400 + 8000


def test_hundred_concurrent_calls_do_not_cross(dirs):
    async def body(ch):
        await ch.answer()
        keys = await ch.collect_keys(6, 2000, "ask_nik")
        await ch.set_variable("ECHO", f"{ch.info.uniqueid}:{keys.keys}")
        await ch.play(["bye"])
        await ch.hangup()

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            calls = [place_call(server, dirs, [Keys(f"{n:06d}")], uniqueid=f"1700000000.{n}")
                     for n in range(100)]
            results = await asyncio.gather(*calls)
        return handler, results, server

    handler, results, server = run(main())
    assert not handler.errors
    for n, result in enumerate(results):
        assert dict(result.variables)["ECHO"] == f"1700000000.{n}:{n:06d}"
        assert result.clean, result.problems
    assert server.calls_served == 100


# --- a misbehaving peer, written by hand -------------------------------------------------

HEADER = agi.format_env([("agi_network", "yes"), ("agi_uniqueid", "1.1"), ("agi_callerid", "0811")])


async def raw_peer(port: int, replies, header: bytes = HEADER):
    """Connect like Asterisk, then answer each command with the next item of
    ``replies`` (bytes to send; None = close the socket; bytes without a final
    newline are sent and the socket closed).  Returns the commands seen."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    seen = []
    try:
        writer.write(header)
        await writer.drain()
        for reply in replies:
            line = await reader.readline()
            if not line:
                break
            seen.append(line.decode().strip())
            if reply is None:
                return seen
            writer.write(reply)
            await writer.drain()
            if not reply.endswith(b"\n"):
                return seen
        await reader.read()  # until the server closes
    finally:
        writer.close()
    return seen


def _two_step_handler():
    async def body(ch):
        first = None
        try:
            await ch.answer()
        except ChannelError as exc:
            first = exc
        try:
            return first, await ch.play(["greeting"])
        except (ChannelError, CallerHungUp) as exc:
            return first, exc
    return Outcome(body)


@pytest.mark.parametrize("replies, first_type, second", [
    # peer disconnects mid-command: a truncated reply, then nothing
    ([b"200 res", None], agi.AgiConnectionLost, ChannelError),
    ([None], agi.AgiConnectionLost, ChannelError),
    # garbage breaks the conversation for good
    ([b"hello there\n", b"200 result=0 endpos=1\n"], agi.AgiProtocolError, ChannelError),
    # a stray end-of-usage line without its start
    ([b"520 End of proper usage.\n", b"200 result=0 endpos=1\n"], agi.AgiUsageError, PlayResult(None)),
    # 510 is a refusal, not a broken line: the next command still works
    ([b"510 Invalid or unknown command\n", b"200 result=0 endpos=1\n"], agi.AgiInvalidCommand,
     PlayResult(None)),
    ([b"520-Invalid command syntax.  Proper usage follows:\nUsage: ANSWER\n520 End of proper usage.\n",
      b"200 result=0 endpos=1\n"], agi.AgiUsageError, PlayResult(None)),
    # interim lines are skipped
    ([b"100 result=0 Trying...\n200 result=0\n", b"200 result=0 endpos=1\n"], None, PlayResult(None)),
    # 511: the caller is gone; nothing more is sent
    ([b"511 Command Not Permitted on a dead channel or intercept routine\n"],
     "hangup", CallerHungUp),
])
def test_misbehaving_peer(dirs, replies, first_type, second):
    async def main():
        handler = _two_step_handler()
        async with serving(handler, dirs) as server:
            await raw_peer(server.bound_port, replies)
            follow = await place_call(server, dirs, [])
        return handler, follow

    handler, follow = run(main())
    if handler.errors:  # 511 on ANSWER surfaces from the handler itself
        assert first_type == "hangup" and isinstance(handler.errors[0], CallerHungUp)
    else:
        first, got = handler.results[0]
        assert (first is None) if first_type is None else isinstance(first, first_type)
        assert got == second if isinstance(second, PlayResult) else isinstance(got, second)
    assert follow.prompts == ("greeting",)


def test_malformed_header_and_silent_peer_do_not_stop_the_server(dirs):
    async def body(ch):
        await ch.play(["greeting"])

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs, header_timeout_s=0.2) as server:
            await raw_peer(server.bound_port, [], header=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await raw_peer(server.bound_port, [], header=b"")  # says nothing: header timeout
            await raw_peer(server.bound_port, [], header=b"agi_uniqueid: 1.1\nagi_chan")  # cut off
            follow = await place_call(server, dirs, [])
            failed = server.calls_failed
        return handler, follow, failed

    handler, follow, failed = run(main())
    assert failed == 3 and len(handler.results) == 1
    assert follow.prompts == ("greeting",)


def test_stuck_peer_hits_the_reply_timeout(dirs):
    async def body(ch):
        await ch.answer()

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs, config=dirs.config(reply_timeout_s=0.2)) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(HEADER)
            await writer.drain()
            assert (await reader.readline()) == b"ANSWER\n"
            assert (await reader.read()) == b""  # never answered: the server gives up and closes
            writer.close()
        return handler

    handler = run(main())
    assert isinstance(handler.errors[0], agi.AgiConnectionLost)


def test_handler_exception_does_not_stop_the_server(dirs):
    async def body(ch):
        if ch.info.uniqueid.endswith(".1"):
            raise RuntimeError("bug in the call runner")
        await ch.play(["greeting"])

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            first = await place_call(server, dirs, [], uniqueid="9.1")
            second = await place_call(server, dirs, [], uniqueid="9.2")
        return handler, first, second

    handler, first, second = run(main())
    assert isinstance(handler.errors[0], RuntimeError)
    assert first.ended_by == "service-closed" and not first.clean
    assert second.prompts == ("greeting",)


def test_hangup_line_without_reply_does_not_hold_the_call(dirs):
    async def body(ch):
        await ch.play(["greeting"])

    async def main():
        handler = Outcome(body)
        config = dirs.config(hangup_grace_s=0.1, reply_timeout_s=60)
        async with serving(handler, dirs, config=config) as server:
            seen = await raw_peer(server.bound_port, [b"HANGUP\n"])
        return handler, seen

    handler, seen = run(main())
    assert seen == [f'STREAM FILE {PREFIX}/greeting ""']
    assert isinstance(handler.errors[0], CallerHungUp)
