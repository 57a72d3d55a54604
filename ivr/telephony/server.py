"""The asyncio FastAGI server: one task per call, none of them able to sink the rest.

Asterisk connects once per call (``AGI(agi://host:4573/hotline)``) and sends its
``agi_*`` header at once.  Each connection gets its header read under a short time
limit, an :class:`AgiChannel`, and a run of the handler (the call runner).  A
malformed header, a peer vanishing mid command or an exception in the handler ends
that one call and is logged; the listening socket keeps serving.  ``close()`` stops
accepting, lets calls in progress finish for a while, then cancels what is left.

Anyone who can reach the port is not necessarily Asterisk, so what a peer can hold
is bounded:

* connections that have not sent their header yet ("knocks") are counted apart from
  live calls, in total and per peer address, and get ``header_timeout_s`` (a few
  seconds) to send it.  When a count is full, a new connection takes the place of
  the oldest knock that has already had ``knock_grace_s`` to speak -- of the same
  peer, or, when the total is full, of the peer holding the most.  Asterisk's
  header follows its connect within milliseconds, so a socket still silent after
  the grace is almost surely not a call, while a burst of real calls (all younger
  than the grace) is never cut; a peer flooding the port pushes out only its own
  idle sockets.  Only when no knock is old enough is the new connection refused;
* live calls (header received) have their own cap;
* lines, replies and the header have size limits (:mod:`ivr.telephony.agi`).

What is refused or dropped is tallied and logged as a summary, not once per socket,
so a flood cannot flood the log either.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import logging
import time
from collections import OrderedDict
from typing import Awaitable, Callable

from ivr.errors import CallerHungUp, ChannelError, ConfigError
from ivr.telephony import agi
from ivr.telephony.channel import AgiChannel, ChannelConfig

log = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]


@dataclasses.dataclass(eq=False)
class _Knock:
    """A connection that has not sent its header yet."""

    peer: str
    writer: asyncio.StreamWriter
    since: float
    evicted: str = ""        # why it was closed before its header, if it was


class _Tally:
    """Counts refusals by kind and logs them as one line at most every ``every_s``."""

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.every_s = every_s
        self.clock = clock
        self.counts: dict[str, int] = {}
        self.totals: dict[str, int] = {}
        self._last: float | None = None

    def note(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.totals[kind] = self.totals.get(kind, 0) + 1
        now = self.clock()
        if self._last is None or now - self._last >= self.every_s:
            self._last = now
            summary = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
            self.counts = {}
            log.warning("FastAGI connections not served (since the last report): %s", summary)


class AgiServer:
    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 4573, *,
                 config: ChannelConfig, header_timeout_s: float = 5.0,
                 shutdown_timeout_s: float = 30.0, max_calls: int = 1000,
                 max_knocks: int = 1024, max_knocks_per_peer: int = 512, knock_grace_s: float = 1.0,
                 max_line_bytes: int = agi.MAX_LINE_BYTES, clock: Callable[[], float] = time.monotonic):
        self.handler = handler
        self.host = host
        self.port = port
        self.config = config
        self.header_timeout_s = header_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        # Beyond this many live calls new calls are closed at once, so a flood cannot
        # starve the calls already in progress.
        self.max_calls = max_calls
        self.max_knocks = max_knocks
        self.max_knocks_per_peer = max_knocks_per_peer
        self.knock_grace_s = knock_grace_s
        self.clock = clock
        self.max_line_bytes = max_line_bytes
        self._server: asyncio.Server | None = None
        self._calls: set[asyncio.Task] = set()
        self._live: set[AgiChannel] = set()
        self._knocks: dict[str, OrderedDict[_Knock, None]] = {}
        self._knock_count = 0
        self._stopped = asyncio.Event()
        self.refused = _Tally()
        self.calls_served = 0
        self.calls_failed = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            # ``limit`` bounds one line (longer is a protocol error) and how much the
            # reader buffers before it stops reading the socket.
            self._server = await asyncio.start_server(self._on_connect, self.host, self.port,
                                                      reuse_address=True, limit=self.max_line_bytes)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {self.port} is already in use on {self.host or '*'}: "
                                  "is another `ivr serve` running? Set IVR_AGI_PORT to change it"
                                  ) from None
            if exc.errno == errno.EACCES:
                raise ConfigError(f"no permission to listen on port {self.port}: "
                                  "use a port above 1023 or run with the capability") from None
            if exc.errno == errno.EADDRNOTAVAIL:
                raise ConfigError(f"IVR_AGI_HOST: {self.host} is not an address of this machine") from None
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        log.info("FastAGI listening on %s port %d", self.host or "*", self.bound_port)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop accepting; wait up to ``shutdown_timeout_s`` for calls, then cancel them."""
        self._stopped.set()
        if self._server is not None:
            self._server.close()
        for knocks in list(self._knocks.values()):
            for knock in list(knocks):
                self._evict(knock, "closed while shutting down")
        pending = {t for t in self._calls if not t.done()}
        if pending:
            log.info("waiting for %d call(s) to finish", len(pending))
            _, still = await asyncio.wait(pending, timeout=self.shutdown_timeout_s)
            for task in still:
                task.cancel()
            if still:
                log.warning("cancelled %d call(s) still running at shutdown", len(still))
                await asyncio.wait(still, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def sockets(self):
        return tuple(self._server.sockets) if self._server else ()

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        for sock in self.sockets:
            return sock.getsockname()[1]
        raise RuntimeError("server not started")

    @property
    def active_calls(self) -> int:
        """Calls whose connection is open (a call writing its log after the hang-up is not)."""
        return sum(1 for ch in self._live if not ch.closed)

    @property
    def waiting_headers(self) -> int:
        """Connections that have not sent their header yet."""
        return self._knock_count

    # --- connections before their header -------------------------------------------------

    def _admit(self, knock: _Knock) -> bool:
        """Count a new connection in, making room if a count is full; False: refuse it."""
        mine = self._knocks.get(knock.peer, OrderedDict())
        if len(mine) >= self.max_knocks_per_peer:
            if not self._evict_stale(mine, knock.since):
                return False
        elif self._knock_count >= self.max_knocks:
            busiest = max(self._knocks.values(), key=len)
            if not self._evict_stale(busiest, knock.since):
                return False
        self._knocks.setdefault(knock.peer, mine)[knock] = None
        self._knock_count += 1
        return True

    def _evict_stale(self, knocks: OrderedDict[_Knock, None], now: float) -> bool:
        oldest = next(iter(knocks), None)
        if oldest is None or now - oldest.since < self.knock_grace_s:
            return False
        self._evict(oldest)
        return True

    def _forget(self, knock: _Knock) -> None:
        mine = self._knocks.get(knock.peer)
        if mine is not None and knock in mine:
            del mine[knock]
            self._knock_count -= 1
            if not mine:
                del self._knocks[knock.peer]

    def _evict(self, knock: _Knock, why: str = "dropped for a newer connection") -> None:
        self._forget(knock)
        knock.evicted = why
        knock.writer.transport.abort()   # its header read ends at once with "connection lost"

    # --- one connection ------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        try:
            if self._stopped.is_set():
                self.refused.note("refused while shutting down")
                return
            await self._serve_call(reader, writer)
        finally:
            writer.close()
            try:
                async with asyncio.timeout(5):
                    await writer.wait_closed()
            except (OSError, TimeoutError):
                pass

    async def _serve_call(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer(writer)
        knock = _Knock(peer, writer, self.clock())
        if not self._admit(knock):
            self.refused.note("refused: too many connections without a header")
            self.calls_failed += 1
            return
        try:
            info = await AgiChannel.read_env(reader, self.header_timeout_s)
        except TimeoutError:
            self.refused.note(f"sent no header within {self.header_timeout_s:g} s")
            self.calls_failed += 1
            return
        except ChannelError as exc:
            self.refused.note(knock.evicted or f"bad header ({type(exc).__name__})")
            self.calls_failed += 1
            return
        finally:
            self._forget(knock)
        if self.active_calls >= self.max_calls:
            self.refused.note(f"refused: {self.max_calls} calls already live")
            self.calls_failed += 1
            return
        channel = AgiChannel(reader, writer, dataclasses.replace(info, peer=peer), self.config)
        self._live.add(channel)
        log.debug("call %s: started", info.uniqueid)
        try:
            await self.handler(channel)
            self.calls_served += 1
        except CallerHungUp:
            self.calls_served += 1
            log.debug("call %s: caller hung up", info.uniqueid)
        except ChannelError as exc:
            self.calls_failed += 1
            log.warning("call %s: AGI conversation failed: %s", info.uniqueid, exc)
        except Exception:  # the handler's bug ends this call only; cancellation passes
            self.calls_failed += 1
            log.exception("call %s: handler failed", info.uniqueid)
        finally:
            self._live.discard(channel)
            await channel.close()
            log.debug("call %s: connection closed", info.uniqueid)


def _peer(writer: asyncio.StreamWriter) -> str:
    """The peer's address (without its port): the unit the per-peer limits count."""
    name = writer.get_extra_info("peername")
    if isinstance(name, tuple) and name:
        return str(name[0])
    return str(name or "")
