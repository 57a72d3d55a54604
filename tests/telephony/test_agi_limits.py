"""Hostile FastAGI peers: idle sockets that never send a header, and a reply that never
ends.  Neither may keep real calls out or make the server buffer without bound.

The flooding peers here are attackers, not Asterisk: what they send is the attack.
The real call beside them is the fake Asterisk.
"""

from __future__ import annotations

import asyncio

import pytest

from ivr.telephony import agi
from ivr.telephony.server import AgiServer

from .conftest import Outcome, place_call, serving

HEADER = agi.format_env([("agi_network", "yes"), ("agi_uniqueid", "7.1"), ("agi_callerid", "0811")])


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def greet(ch):
    await ch.play(["greeting"])
    await ch.hangup()


async def open_idle(port: int, count: int, source: str = "127.0.0.1",
                    say: bytes = b"") -> list[asyncio.StreamWriter]:
    """``count`` connections from ``source`` that say ``say`` (nothing, or the start
    of a header that never ends) and then nothing more."""
    writers = []
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        if say:
            writer.write(say)
        writers.append(writer)
    return writers


async def settled(server: AgiServer, count: int) -> None:
    """Wait until the server has seen every one of ``count`` connections."""
    async with asyncio.timeout(20):
        while server.waiting_headers + sum(server.refused.totals.values()) < count:
            await asyncio.sleep(0.01)


def close_all(writers) -> None:
    for w in writers:
        w.close()


def test_1010_idle_sockets_do_not_keep_a_real_call_out(dirs):
    """The issue's attack, with the default limits: 1,010 silent sockets from the
    address Asterisk uses, then a real call."""
    clock = FakeClock()

    async def main():
        handler = Outcome(greet)
        async with serving(handler, dirs, clock=clock) as server:
            idle = await open_idle(server.bound_port, 1010)
            await settled(server, 1010)
            held = server.waiting_headers
            clock.now += server.knock_grace_s      # the idle ones have had their chance
            call = await place_call(server, dirs, [])
            close_all(idle)
            return held, server.max_knocks_per_peer, call, dict(server.refused.totals)

    held, cap, call, refused = asyncio.run(main())
    assert held == cap                      # one peer holds at most its share
    # the rest were refused at once; the real call took the place of the oldest
    assert refused == {"refused: too many connections without a header": 1010 - cap,
                       "dropped for a newer connection": 1}
    assert call.prompts == ("greeting",) and call.clean


@pytest.mark.parametrize("say", [b"", b"agi_network: yes\nagi_request: agi://127.0.0.1/hot"],
                         ids=["silent", "header-trickling"])
def test_idle_flood_from_another_address_leaves_room_for_calls(dirs, say):
    async def main():
        handler = Outcome(greet)
        async with serving(handler, dirs, max_knocks=50, max_knocks_per_peer=20) as server:
            idle = await open_idle(server.bound_port, 300, source="127.0.0.2", say=say)
            await settled(server, 300)
            held = server.waiting_headers
            calls = await asyncio.gather(*(place_call(server, dirs, [], uniqueid=f"8.{n}") for n in range(5)))
            close_all(idle)
            return held, calls

    held, calls = asyncio.run(main())
    assert held == 20
    assert all(c.prompts == ("greeting",) and c.clean for c in calls)


def test_a_new_connection_takes_the_place_of_the_oldest_silent_one(dirs):
    """Total full: the busiest peer's oldest knock, once past the grace, makes room;
    before the grace, the newcomer is refused (a burst of real calls is never cut)."""
    clock = FakeClock()

    async def main():
        async with serving(Outcome(greet), dirs, max_knocks=10, max_knocks_per_peer=10, clock=clock) as server:
            idle = await open_idle(server.bound_port, 10, source="127.0.0.3")
            await settled(server, 10)
            too_soon = await place_call(server, dirs, [], timeout=5)
            clock.now += server.knock_grace_s
            in_time = await place_call(server, dirs, [], timeout=5)
            close_all(idle)
            return too_soon, in_time, dict(server.refused.totals)

    too_soon, in_time, refused = asyncio.run(main())
    assert too_soon.prompts == () and not too_soon.clean      # closed unanswered
    assert in_time.prompts == ("greeting",) and in_time.clean
    assert refused == {"refused: too many connections without a header": 1, "dropped for a newer connection": 1}


def test_a_burst_beyond_the_per_peer_cap_keeps_the_first_and_refuses_the_rest(dirs):
    """50 calls connect at once from one address with room for 20: none of the first
    20 has been silent past the grace, so none of them is dropped for a later one;
    the other 30 are closed at once rather than left waiting."""
    async def main():
        async with serving(Outcome(greet), dirs, max_knocks_per_peer=20) as server:
            calls = await asyncio.gather(*(place_call(server, dirs, [], uniqueid=f"9.{n}") for n in range(50)))
            return calls, dict(server.refused.totals)

    calls, refused = asyncio.run(main())
    served = [c for c in calls if c.prompts == ("greeting",) and c.clean]
    assert len(served) == 20
    assert all(c.prompts == () for c in calls if c not in served)
    assert refused == {"refused: too many connections without a header": 30}


async def _flood(port: int, line: bytes) -> tuple[str, int]:
    """Answer the first command with a ``520-`` block that never ends: ``line`` over
    and over until the server closes the connection.  Returns the command and the
    bytes sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(HEADER)
    await writer.drain()
    command = (await reader.readline()).decode().strip()
    writer.write(b"520-Invalid command syntax.  Proper usage follows:\n")
    sent = 0
    try:
        async with asyncio.timeout(20):
            while True:
                writer.write(line)
                await writer.drain()
                sent += len(line)
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return command, sent


@pytest.mark.parametrize("line", [b"u" * (64 * 1024 - 1) + b"\n",     # each line far too long
                                  b"u" * 4000 + b"\n"])                # short lines, no end
def test_endless_520_block_is_a_fault_of_that_call_only(dirs, line):
    async def body(ch):
        await ch.answer()

    async def main():
        handler = Outcome(body)
        async with serving(handler, dirs) as server:
            command, sent = await _flood(server.bound_port, line)
            follow = await place_call(server, dirs, [])
        return handler, command, sent, follow

    handler, command, sent, follow = asyncio.run(main())
    assert command == "ANSWER"
    assert isinstance(handler.errors[0], agi.AgiProtocolError)
    assert sent < 4 * 1024 * 1024          # cut off long before megabytes piled up
    assert follow.commands() == ["ANSWER"]  # the next call is served as usual


def test_header_block_has_a_size_limit(dirs):
    big = agi.format_env([("agi_uniqueid", "1.1")] + [(f"agi_arg_{n}", "x" * 4000) for n in range(1, 12)])

    async def main():
        handler = Outcome(greet)
        async with serving(handler, dirs) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(big)
            await writer.drain()
            closed = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return handler, closed, dict(server.refused.totals)

    handler, closed, refused = asyncio.run(main())
    assert closed == b"" and handler.results == [] and handler.errors == []
    assert refused == {"bad header (AgiProtocolError)": 1}
