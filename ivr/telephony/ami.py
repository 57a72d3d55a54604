"""A small asyncio client for the Asterisk Manager Interface (AMI).

Used for callbacks (``Originate``), health and monitoring events.  Why not the
``asterisk-ami`` package: it runs a blocking socket in its own thread whose 3 s
read timeout ends an idle connection, swallows errors with a bare ``except``, and
has no reconnect or outbox -- all of which we would have to wrap from another
thread.  The protocol is simple enough to speak directly:

* on connect the server sends one line, ``Asterisk Call Manager/<version>``;
* then both sides exchange blocks of ``Key: value`` lines ended by a blank line:
  ``Action:`` blocks from us, ``Response:`` blocks (matched by ``ActionID``) and
  ``Event:`` blocks from Asterisk.

The client keeps one connection alive: it logs in, pings when the line is idle,
and reconnects with back-off.  Actions wait in an outbox until a connection can
take them, so none is lost while Asterisk restarts; an action that was already
sent when the connection dropped is sent again only if it is harmless to repeat
(``Ping``, status queries) -- an ``Originate`` fails with :class:`AmiConnectionLost`
instead, because it may already have placed the call.  (panoramisk does the
opposite: it re-sends every in-flight action but Ping and Login after a reconnect.)

Asterisk sends every event to every manager session, so ActionIDs carry a random
per-client prefix: two service instances on one Asterisk never take each other's
OriginateResponse.  At most ``max_originates`` Originates wait for their verdict at
once, and ``wait_hangup`` matches an answered call's Hangup by its Uniqueid.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from ivr.errors import IvrError

if TYPE_CHECKING:
    from ivr.config import Settings

log = logging.getLogger(__name__)

BANNER = "Asterisk Call Manager/"
REPEATABLE = frozenset({"ping", "corestatus", "status", "queuestatus", "queuesummary", "getvar",
                        "coreshowchannels"})


class AmiError(IvrError):
    retryable = True


class AmiConnectionLost(AmiError):
    """The connection dropped after the action was sent; its outcome is unknown."""


class AmiNotSent(AmiError):
    """The action never left the outbox (no connection in time): safe to try again."""


class AmiActionFailed(AmiError):
    """Asterisk answered ``Response: Error``."""

    retryable = False


class AmiAuthError(AmiError):
    retryable = False


@dataclass(frozen=True)
class AmiMessage:
    """One block from Asterisk; keys keep their order and repeats (``Variable``)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str = "") -> str:
        low = key.lower()
        for k, v in self.fields:
            if k.lower() == low:
                return v
        return default

    @property
    def is_event(self) -> bool:
        return bool(self.fields) and self.fields[0][0].lower() == "event"

    @property
    def is_response(self) -> bool:
        return bool(self.fields) and self.fields[0][0].lower() == "response"

    @property
    def name(self) -> str:
        return self.fields[0][1] if self.fields else ""


def parse_block(lines: Iterable[str]) -> AmiMessage:
    fields = []
    for line in lines:
        key, sep, value = line.partition(":")
        if sep:
            fields.append((key.strip(), value.strip()))
        else:  # "Response: Follows" output lines: keep them, unnamed
            fields.append(("", line))
    return AmiMessage(tuple(fields))


def format_action(action: str, fields: Mapping[str, str],
                  variables: Mapping[str, str] | None = None) -> bytes:
    """An action block; CR/LF in any part would let a value inject more headers."""
    parts = [("Action", action), *fields.items()]
    parts += [("Variable", f"{k}={v}") for k, v in (variables or {}).items()]
    out = []
    for key, value in parts:
        value = str(value)
        if any(c in key + value for c in "\r\n") or ":" in key:
            raise ValueError(f"AMI field {key!r} may not contain line breaks")
        out.append(f"{key}: {value}\r\n")
    return ("".join(out) + "\r\n").encode()


@dataclass(frozen=True)
class OriginateResult:
    success: bool
    reason: str          # Asterisk's cause code: 4 answered, 3 no answer, 5 busy, 0/1 failure
    uniqueid: str = ""


@dataclass
class _Pending:
    action_id: str
    action: str
    block: bytes
    future: asyncio.Future


class AmiClient:
    def __init__(self, host: str, port: int, username: str, secret: str, *,
                 ping_interval_s: float = 20.0, reply_timeout_s: float = 10.0,
                 reconnect_max_s: float = 30.0, reconnect_min_s: float = 0.5,
                 max_originates: int = 50):
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self.ping_interval_s = ping_interval_s
        self.reply_timeout_s = reply_timeout_s
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self._outbox: deque[_Pending] = deque()
        self._inflight: dict[str, _Pending] = {}
        self._listeners: list[tuple[frozenset[str] | None, Callable[[AmiMessage], None]]] = []
        self._waiters: list[tuple[Callable[[AmiMessage], bool], asyncio.Future]] = []
        self._wakeup = asyncio.Event()
        self._connected = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._ids = itertools.count(1)
        # Asterisk sends every event (OriginateResponse included) to every manager
        # session, so ActionIDs must be unique across instances, not just per client.
        self._id_prefix = f"ivr-{secrets.token_hex(4)}-"
        # Originates sent and not yet answered by an OriginateResponse: each holds a
        # thread in Asterisk (fast_originate) until the call is answered or fails.
        self.max_originates = max_originates
        self._originates = asyncio.Semaphore(max_originates)
        self.outstanding_originates = 0
        self._hungup: OrderedDict[str, str] = OrderedDict()      # uniqueid -> cause, recent ones
        self._hangup_waiters: dict[str, asyncio.Future] = {}
        self._last_read = 0.0
        self.connections = 0
        self.last_error = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> AmiClient:
        from ivr.errors import ConfigError

        if not settings.ami_user or not settings.ami_secret:
            raise ConfigError("IVR_AMI_USER and IVR_AMI_SECRET must be set to use the Asterisk manager")
        return cls(settings.ami_host, settings.ami_port, settings.ami_user, settings.ami_secret)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ami-client")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for pending in [*self._outbox, *self._inflight.values()]:
            if not pending.future.done():
                pending.future.set_exception(AmiError("AMI client closed"))
        self._outbox.clear()
        self._inflight.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout_s: float) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                await self._connected.wait()
        except TimeoutError:
            raise AmiError(f"AMI not connected within {timeout_s:.0f} s ({self.last_error})") from None

    # --- actions and events ------------------------------------------------------------------

    async def send(self, action: str, fields: Mapping[str, str] | None = None, *,
                   variables: Mapping[str, str] | None = None, timeout_s: float | None = None,
                   action_id: str | None = None) -> AmiMessage:
        """Queue an action and wait for its response (``timeout_s`` covers the time
        waiting for a connection too); ``Response: Error`` raises AmiActionFailed."""
        action_id = action_id or self.new_action_id()
        block = format_action(action, {**(fields or {}), "ActionID": action_id}, variables)
        pending = _Pending(action_id, action, block, asyncio.get_running_loop().create_future())
        self._outbox.append(pending)
        self._wakeup.set()
        try:
            async with asyncio.timeout(timeout_s or self.reply_timeout_s):
                reply = await pending.future
        except TimeoutError:
            if pending in self._outbox:     # never written to a socket
                self._outbox.remove(pending)
                raise AmiNotSent(f"{action}: not sent, no connection to Asterisk in time") from None
            raise AmiError(f"{action}: no response from Asterisk in time "
                           f"({'connected' if self.connected else 'not connected'})") from None
        finally:
            if pending in self._outbox:
                self._outbox.remove(pending)
            self._inflight.pop(action_id, None)
        if reply.get("Response").lower() == "error":
            raise AmiActionFailed(f"{action}: {reply.get('Message') or 'error'}")
        return reply

    def new_action_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids)}"

    def add_listener(self, callback: Callable[[AmiMessage], None],
                     events: Iterable[str] | None = None) -> None:
        """Call ``callback`` for every event (or only the named ones).  It runs on the
        event loop and must not block."""
        names = frozenset(e.lower() for e in events) if events is not None else None
        self._listeners.append((names, callback))

    def expect(self, predicate: Callable[[AmiMessage], bool]) -> asyncio.Future:
        """A future for the next event that satisfies ``predicate`` (register before
        sending the action that causes it)."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future

    async def originate(self, channel: str, context: str, exten: str, priority: int = 1, *,
                        caller_id: str = "", timeout_ms: int = 30000,
                        variables: Mapping[str, str] | None = None) -> OriginateResult:
        """Place a call (a callback to a resident) and wait for Asterisk's verdict.

        At most ``max_originates`` wait for their OriginateResponse at once; more wait
        here, before anything is sent."""
        async with self._originates:
            self.outstanding_originates += 1
            try:
                return await self._originate(channel, context, exten, priority, caller_id, timeout_ms, variables)
            finally:
                self.outstanding_originates -= 1

    async def _originate(self, channel, context, exten, priority, caller_id, timeout_ms, variables):
        action_id = self.new_action_id()
        done = self.expect(lambda m: m.is_event and m.name == "OriginateResponse"
                           and m.get("ActionID") == action_id)
        fields = {"Channel": channel, "Context": context, "Exten": exten, "Priority": str(priority),
                  "Timeout": str(timeout_ms), "Async": "true"}
        if caller_id:
            fields["CallerID"] = caller_id
        try:
            await self.send("Originate", fields, variables=variables, action_id=action_id)
            async with asyncio.timeout(timeout_ms / 1000 + self.reply_timeout_s):
                event = await done
        except TimeoutError:
            raise AmiError("Originate: no OriginateResponse in time") from None
        finally:
            done.cancel()
        # Asterisk's fast_originate: Reason is the last AST_CONTROL_* state of the dial
        # (4 answer, 5 busy, 8 congestion, 3 rang until the timeout, 1 hung up, 0 none);
        # Uniqueid is "<null>" when no channel survived.
        uniqueid = event.get("Uniqueid")
        return OriginateResult(success=event.get("Response").lower() == "success",
                               reason=event.get("Reason"), uniqueid="" if uniqueid == "<null>" else uniqueid)

    async def wait_hangup(self, uniqueid: str, timeout_s: float | None = None) -> str | None:
        """Wait for the Hangup event of the channel ``uniqueid``; its Cause, or None on
        timeout.  A Hangup seen shortly before the call is also found."""
        if uniqueid in self._hungup:
            return self._hungup[uniqueid]
        future = self._hangup_waiters.get(uniqueid)
        if future is None:
            future = self._hangup_waiters[uniqueid] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(future)
        except TimeoutError:
            return None
        finally:
            if not future.done():
                self._hangup_waiters.pop(uniqueid, None)

    # --- the connection ------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.reconnect_min_s
        while True:
            writer = None
            sessions_before = self.connections
            try:
                async with asyncio.timeout(self.reply_timeout_s):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                await self._session(reader, writer)
            except AmiAuthError as exc:
                self.last_error = str(exc)
                log.error("AMI login refused: check IVR_AMI_USER / IVR_AMI_SECRET")
                delay = self.reconnect_max_s
            except (OSError, TimeoutError, AmiError, EOFError) as exc:
                self.last_error = str(exc) or type(exc).__name__
                log.warning("AMI connection to port %d lost: %s", self.port, self.last_error)
            finally:
                self._connected.clear()
                self._after_drop()
                if writer is not None:
                    writer.close()
            if self.connections > sessions_before:
                delay = self.reconnect_min_s  # it worked for a while: retry soon
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.reconnect_max_s)

    def _after_drop(self) -> None:
        # Harmless actions go back to the head of the outbox; the others fail, since
        # Asterisk may have acted on them already.
        for pending in reversed(list(self._inflight.values())):
            if pending.future.done():
                continue
            if pending.action.lower() in REPEATABLE:
                self._outbox.appendleft(pending)
            else:
                pending.future.set_exception(AmiConnectionLost(
                    f"{pending.action}: connection lost after sending; outcome unknown"))
        self._inflight.clear()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.reply_timeout_s):
            banner = (await reader.readline()).decode("utf-8", "replace")
            if not banner.startswith(BANNER):
                raise AmiError("peer is not an Asterisk manager")
            login_id = self.new_action_id()
            writer.write(format_action("Login", {"Username": self._username, "Secret": self._secret,
                                                 "ActionID": login_id}))
            await writer.drain()
            while True:
                msg = await _read_block(reader)
                if msg.is_response and msg.get("ActionID") == login_id:
                    break
                self._dispatch(msg)
        if msg.get("Response").lower() != "success":
            raise AmiAuthError(msg.get("Message") or "authentication failed")
        self.connections += 1
        self._last_read = loop.time()
        self._connected.set()
        log.info("AMI connected (%s)", banner.strip())
        reading = asyncio.create_task(self._read_loop(reader))
        try:
            while True:
                while self._outbox:
                    pending = self._outbox.popleft()
                    if pending.future.done():
                        continue
                    self._inflight[pending.action_id] = pending
                    writer.write(pending.block)
                await writer.drain()
                self._wakeup.clear()
                waking = asyncio.create_task(self._wakeup.wait())
                await asyncio.wait({reading, waking}, timeout=self.ping_interval_s,
                                   return_when=asyncio.FIRST_COMPLETED)
                waking.cancel()
                if reading.done():
                    reading.result()  # re-raise why reading stopped
                    raise EOFError("AMI connection closed")
                idle = loop.time() - self._last_read
                if idle > self.ping_interval_s + self.reply_timeout_s:
                    raise AmiError(f"no AMI traffic for {idle:.0f} s")
                if idle >= self.ping_interval_s:
                    self._keepalive()
        finally:
            reading.cancel()

    def _keepalive(self) -> None:
        if any(p.action == "Ping" for p in [*self._outbox, *self._inflight.values()]):
            return
        action_id = self.new_action_id()
        future = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        self._outbox.append(_Pending(action_id, "Ping",
                                     format_action("Ping", {"ActionID": action_id}), future))

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            msg = await _read_block(reader)
            self._last_read = loop.time()
            if msg.is_response:
                pending = self._inflight.pop(msg.get("ActionID"), None)
                if pending is not None and not pending.future.done():
                    pending.future.set_result(msg)
            self._dispatch(msg)

    def _dispatch(self, msg: AmiMessage) -> None:
        if not msg.is_event:
            return
        name = msg.name.lower()
        if name == "hangup":
            self._note_hangup(msg.get("Uniqueid"), msg.get("Cause"))
        for names, callback in list(self._listeners):
            if names is None or name in names:
                try:
                    callback(msg)
                except Exception:  # one faulty listener must not stop the reader
                    log.exception("AMI event listener failed on %s", msg.name)
        still = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            if predicate(msg):
                future.set_result(msg)
            else:
                still.append((predicate, future))
        self._waiters = still


    def _note_hangup(self, uniqueid: str, cause: str) -> None:
        if not uniqueid:
            return
        self._hungup[uniqueid] = cause
        while len(self._hungup) > 4096:
            self._hungup.popitem(last=False)
        future = self._hangup_waiters.pop(uniqueid, None)
        if future is not None and not future.done():
            future.set_result(cause)


async def _read_block(reader: asyncio.StreamReader) -> AmiMessage:
    lines: list[str] = []
    while True:
        raw = await reader.readline()
        if not raw.endswith(b"\n"):
            raise EOFError("AMI connection closed")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if lines:
                return parse_block(lines)
            continue
        lines.append(line)
