"""The asyncio FastAGI server: one task per call, none of them able to sink the rest.

Asterisk connects once per call (``AGI(agi://host:4573/hotline)``).  Each
connection gets its header read under a time limit, an :class:`AgiChannel`, and a
run of the handler (the call runner).  A malformed header, a peer vanishing mid
command or an exception in the handler ends that one call and is logged; the
listening socket keeps serving.  ``close()`` stops accepting, lets calls in progress
finish for a while, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import errno
import logging
from typing import Awaitable, Callable

from ivr.errors import CallerHungUp, ChannelError, ConfigError
from ivr.telephony.channel import AgiChannel, ChannelConfig

log = logging.getLogger(__name__)

Handler = Callable[[AgiChannel], Awaitable[None]]


class AgiServer:
    def __init__(self, handler: Handler, host: str = "0.0.0.0", port: int = 4573, *,
                 config: ChannelConfig, header_timeout_s: float = 10.0,
                 shutdown_timeout_s: float = 30.0, max_calls: int = 1000):
        self.handler = handler
        self.host = host
        self.port = port
        self.config = config
        self.header_timeout_s = header_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        # Beyond this many live calls new connections are closed at once, so a flood
        # cannot starve the calls already in progress.
        self.max_calls = max_calls
        self._server: asyncio.Server | None = None
        self._calls: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self.calls_served = 0
        self.calls_failed = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._on_connect, self.host, self.port,
                                                      reuse_address=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {self.port} is already in use on {self.host or '*'}: "
                                  "is another `ivr serve` running? Set IVR_AGI_PORT to change it"
                                  ) from None
            if exc.errno == errno.EACCES:
                raise ConfigError(f"no permission to listen on port {self.port}: "
                                  "use a port above 1023 or run with the capability") from None
            raise ConfigError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        log.info("FastAGI listening on port %d", self.bound_port)

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
        return sum(1 for t in self._calls if not t.done())

    # --- one connection ------------------------------------------------------------------

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)
        try:
            if self._stopped.is_set() or self.active_calls > self.max_calls:
                log.warning("refusing a FastAGI connection (%s)",
                            "shutting down" if self._stopped.is_set() else "too many calls")
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
        try:
            info = await AgiChannel.read_env(reader, self.header_timeout_s)
        except TimeoutError:
            log.warning("FastAGI peer sent no complete header within %.0f s", self.header_timeout_s)
            self.calls_failed += 1
            return
        except ChannelError as exc:
            log.warning("bad FastAGI header: %s", exc)
            self.calls_failed += 1
            return
        channel = AgiChannel(reader, writer, info, self.config)
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
            await channel.close()
            log.debug("call %s: connection closed", info.uniqueid)
