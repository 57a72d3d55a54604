"""A broken AGI conversation in the middle of a real call: the call runner ends the
call cleanly, the log is closed and a person is asked to look."""

from __future__ import annotations

import asyncio

from ivr.telephony import agi
from ivr.telephony.fake_asterisk import agi_environment
from tests.conftest import run_line
from tests.test_calls import calls_of, only_call


async def raw_peer(port: int, replies: list[bytes | None], source: str = "127.0.0.1") -> list[str]:
    """Send the header (from the address ``source``), then answer each command with
    the next scripted reply; ``None`` closes the socket in the middle of the conversation."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(agi.format_env(agi_environment("127.0.0.1", port, caller="081234567890", uniqueid="9.1")))
    await writer.drain()
    commands = []
    try:
        for reply in replies:
            line = await asyncio.wait_for(reader.readline(), 10)
            if not line:
                break
            commands.append(line.decode().strip())
            if reply is None:
                break
            writer.write(reply)
            await writer.drain()
        else:
            # keep reading until the service closes (it should hang up)
            while line := await asyncio.wait_for(reader.readline(), 10):
                commands.append(line.decode().strip())
                writer.write(b"200 result=1\n" if line.startswith(b"HANGUP") else b"200 result=0 endpos=100\n")
                await writer.drain()
    finally:
        writer.close()
    return commands


def test_peer_vanishing_mid_command_closes_the_call_with_a_follow_up(settings):
    async def scenario(line):
        return await raw_peer(line.port, [b"200 result=0\n", None])   # ANSWER ok, then gone

    commands, line = run_line(settings, scenario)
    assert commands[0] == "ANSWER" and commands[1].startswith("STREAM FILE")
    call = only_call(line)
    assert call.ended is not None and call.outcome == "fault"
    assert [f.reason for f in call.follow_ups] == ["system_fault"]


def test_dead_channel_511_is_a_hang_up_not_a_fault(settings):
    async def scenario(line):
        return await raw_peer(line.port, [b"200 result=0\n", b"511 Command Not Permitted on a dead channel\n"])

    commands, line = run_line(settings, scenario)
    call = only_call(line)
    assert call.ended is not None and call.outcome == "abandoned"
    assert call.follow_ups == ()


def test_garbage_reply_mid_call_is_a_logged_fault(settings):
    async def scenario(line):
        return await raw_peer(line.port, [b"200 result=0\n", b"this is not AGI\n"])

    commands, line = run_line(settings, scenario)
    call = only_call(line)
    assert call.outcome == "fault"
    assert any(e.kind == "fault" for e in call.events)


def test_invalid_command_510_mid_call_is_a_logged_fault(settings):
    async def scenario(line):
        return await raw_peer(line.port, [b"200 result=0\n", b"510 Invalid or unknown command\n"])

    commands, line = run_line(settings, scenario)
    call = only_call(line)
    assert call.outcome == "fault"
    assert [f.reason for f in call.follow_ups] == ["system_fault"]


def test_a_connection_dropped_before_it_was_answered_files_no_follow_up(settings):
    async def scenario(line):
        return await raw_peer(line.port, [None])        # header, then gone at ANSWER

    commands, line = run_line(settings, scenario)
    assert commands == ["ANSWER"]
    call = only_call(line)
    assert call.outcome == "fault" and call.follow_ups == ()
    assert [e.detail["follow_up"] for e in call.events if e.kind == "fault"] == ["none: never answered"]


def test_broken_calls_from_one_peer_are_merged_into_one_follow_up_per_window(settings):
    """20 answered calls dropped from one address give one follow-up; another address
    gets its own; after the window the next one counts the merged calls."""
    now = [0.0]

    async def scenario(line):
        line.hotline.runner.fault_follow_ups.clock = lambda: now[0]
        for _ in range(20):
            await raw_peer(line.port, [b"200 result=0\n", None])
        await raw_peer(line.port, [b"200 result=0\n", None], source="127.0.0.2")
        now[0] += line.hotline.runner.fault_follow_ups.window_s
        await raw_peer(line.port, [b"200 result=0\n", None])

    _, line = run_line(settings, scenario)
    calls = calls_of(line)
    assert len(calls) == 22 and all(c.outcome == "fault" for c in calls)
    follow_ups = line.hotline.store.list_follow_ups(reason="system_fault")
    details = sorted(f.detail for f in follow_ups)
    assert len(follow_ups) == 3
    assert details.count("the telephone connection to the service broke") == 2
    assert any("19 more broken call(s)" in d for d in details)
    merged = [c for c in calls if c.follow_ups == ()]
    assert len(merged) == 19
