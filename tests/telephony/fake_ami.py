"""A fake Asterisk Manager on a real TCP socket, speaking the AMI text protocol.

Replies follow Asterisk's own code (main/manager.c, main/channel.c, include/asterisk/frame.h):

* Login: ``Response: Success`` / ``Message: Authentication accepted`` (then FullyBooted),
  or ``Response: Error`` / ``Message: Authentication failed``; any other action before
  login: ``Permission denied``; an unknown action: ``Invalid/unknown command``.
* Originate with ``Async: true``: ``Response: Success`` / ``Message: Originate successfully
  queued`` at once (action_originate), then, from the fast_originate thread, an
  ``OriginateResponse`` event sent to *every* logged-in manager session: ``Response:
  Success`` and ``Reason: 4`` (AST_CONTROL_ANSWER) with the new channel's name and
  Uniqueid when answered; otherwise ``Response: Failure``, the requested ``tech/data``
  as Channel, ``Uniqueid: <null>`` and the last control state as Reason: 5 busy,
  8 congestion, 3 rang until the Timeout, 0 no channel at all.
* An answered channel later ends with a ``Hangup`` event (Cause 16, Normal Clearing).

Events are broadcast to the sessions connected at that moment: one fired while the
client is reconnecting is lost, as it is with a real Asterisk.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from typing import Awaitable, Callable

from ivr.telephony.ami import AmiMessage, _read_block


def block(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


@dataclass(frozen=True)
class Dial:
    """What the far end does with one Originate."""

    outcome: str = "answer"      # answer | busy | noanswer | congestion | unavailable
    ring_s: float = 0.0          # until answered / busy (noanswer waits for the Originate's Timeout)
    talk_s: float = 0.0          # answered: the Hangup comes after this; then on_answer runs


# outcome -> (Response, Reason) as fast_originate reports it
VERDICTS = {"answer": ("Success", "4"), "busy": ("Failure", "5"), "noanswer": ("Failure", "3"),
            "congestion": ("Failure", "8"), "unavailable": ("Failure", "0")}


@dataclass(frozen=True)
class Placed:
    action_id: str
    channel: str
    variables: tuple[tuple[str, str], ...]
    outcome: str

    def var(self, name: str) -> str:
        return dict(self.variables).get(name, "")


class FakeAmi:
    def __init__(self, username: str = "ivr", secret: str = "s3cret-s3cret",
                 originate_response: str = "Success", reason: str = "4", *,
                 plan: Callable[[str, dict], Dial] | None = None, time_scale: float = 1.0,
                 on_answer: Callable[[Placed, str], Awaitable[None]] | None = None):
        self.username, self.secret = username, secret
        default = {v: k for k, v in VERDICTS.items()}.get((originate_response, reason), "answer")
        self.plan = plan or (lambda channel, variables: Dial(default))
        self.time_scale = time_scale          # simulated seconds per real second
        self.on_answer = on_answer
        self.actions: list[AmiMessage] = []
        self.placed: list[Placed] = []
        self.connections = 0
        self.drop_on: set[str] = set()    # drop the connection when this action arrives
        self.mute = False                 # stop answering (a half-dead connection)
        self.pinged = asyncio.Event()
        self.live_calls = 0               # answered and not yet hung up
        self.max_live_calls = 0
        self.in_progress = 0              # from Originate to its failure or Hangup
        self.max_in_progress = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._authed: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self._chan_ids = itertools.count(1)
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()
        for task in list(self._tasks):
            if task is not asyncio.current_task() and task.get_name().startswith("fake-call"):
                task.cancel()
        # Python 3.11's Server.close() leaves connection tasks running: end them here.
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            await asyncio.wait(pending, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    def drop_all(self) -> None:
        for w in self._writers:
            w.close()
        self._writers.clear()
        self._authed.clear()

    def emit(self, *pairs: tuple[str, str]) -> None:
        """An event to every logged-in session (manager_event)."""
        for w in list(self._authed):
            if not w.is_closing():
                w.write(block(*pairs))

    async def _sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(simulated_s / self.time_scale)

    async def _call(self, msg: AmiMessage) -> None:
        """What fast_originate does after "successfully queued"."""
        aid, channel = msg.get("ActionID"), msg.get("Channel")
        variables = tuple(tuple(v.split("=", 1)) for k, v in msg.fields if k.lower() == "variable" and "=" in v)
        dial = self.plan(channel, dict(variables))
        placed = Placed(aid, channel, variables, dial.outcome)
        self.placed.append(placed)
        self.in_progress += 1
        self.max_in_progress = max(self.max_in_progress, self.in_progress)
        await self._progress(msg, aid, channel, dial, placed)

    async def _progress(self, msg: AmiMessage, aid: str, channel: str, dial: Dial, placed: Placed) -> None:
        timeout_s = int(msg.get("Timeout") or "30000") / 1000
        await self._sleep(timeout_s if dial.outcome == "noanswer" else min(dial.ring_s, timeout_s))
        response, reason = VERDICTS[dial.outcome]
        cid = msg.get("CallerID") or "<unknown>"
        common = [("Context", msg.get("Context")), ("Exten", msg.get("Exten")), ("Reason", reason)]
        if dial.outcome != "answer":
            self.in_progress -= 1
            self.emit(("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", aid),
                      ("Response", response), ("Channel", channel), *common, ("Uniqueid", "<null>"),
                      ("CallerIDNum", cid), ("CallerIDName", "<unknown>"))
            return
        n = next(self._chan_ids)
        name, uniqueid = f"PJSIP/trunk-endpoint-{n:08x}", f"1700000000.{n}"
        self.live_calls += 1
        self.max_live_calls = max(self.max_live_calls, self.live_calls)
        try:
            self.emit(("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", aid),
                      ("Response", response), ("Channel", name), *common, ("Uniqueid", uniqueid),
                      ("CallerIDNum", cid), ("CallerIDName", "<unknown>"))
            await self._sleep(dial.talk_s)
        finally:
            self.live_calls -= 1
            self.in_progress -= 1
            self.emit(("Event", "Hangup"), ("Privilege", "call,all"), ("Channel", name), ("Uniqueid", uniqueid),
                      ("CallerIDNum", cid), ("CallerIDName", "<unknown>"), ("Cause", "16"),
                      ("Cause-txt", "Normal Clearing"))
        if self.on_answer is not None:
            # the AGI side of the call: its route reports the result as the call ends
            await self.on_answer(placed, uniqueid)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        self.connections += 1
        self._writers.append(writer)
        writer.write(b"Asterisk Call Manager/7.0.3\r\n")
        authed = False
        try:
            while True:
                msg = await _read_block(reader)
                self.actions.append(msg)
                action, aid = msg.get("Action").lower(), msg.get("ActionID")
                if action in self.drop_on:
                    self.drop_on.discard(action)
                    writer.close()
                    return
                if action == "ping":
                    self.pinged.set()
                if self.mute:
                    continue
                if action == "login":
                    authed = (msg.get("Username"), msg.get("Secret")) == (self.username, self.secret)
                    if authed:
                        writer.write(block(("Response", "Success"), ("ActionID", aid),
                                           ("Message", "Authentication accepted")))
                        self._authed.add(writer)
                        writer.write(block(("Event", "FullyBooted"), ("Privilege", "system,all"),
                                           ("Status", "Fully Booted")))
                    else:
                        writer.write(block(("Response", "Error"), ("ActionID", aid),
                                           ("Message", "Authentication failed")))
                        await writer.drain()
                        writer.close()
                        return
                elif not authed:
                    writer.write(block(("Response", "Error"), ("ActionID", aid),
                                       ("Message", "Permission denied")))
                elif action == "ping":
                    writer.write(block(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"),
                                       ("Timestamp", "1700000000.000000")))
                elif action == "originate":
                    writer.write(block(("Response", "Success"), ("ActionID", aid),
                                       ("Message", "Originate successfully queued")))
                    task = asyncio.create_task(self._call(msg), name=f"fake-call-{aid}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                else:
                    writer.write(block(("Response", "Error"), ("ActionID", aid),
                                       ("Message", "Invalid/unknown command")))
                await writer.drain()
        except (EOFError, ConnectionError):
            return
        finally:
            self._authed.discard(writer)
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
