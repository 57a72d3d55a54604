"""A fake Asterisk Manager on a real TCP socket, speaking the AMI text protocol."""

from __future__ import annotations

import asyncio

from ivr.telephony.ami import AmiMessage, _read_block


def block(*pairs: tuple[str, str]) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


class FakeAmi:
    def __init__(self, username: str = "ivr", secret: str = "s3cret-s3cret",
                 originate_response: str = "Success", reason: str = "4"):
        self.username, self.secret = username, secret
        self.originate_response, self.reason = originate_response, reason
        self.actions: list[AmiMessage] = []
        self.connections = 0
        self.drop_on: set[str] = set()    # drop the connection when this action arrives
        self.mute = False                 # stop answering (a half-dead connection)
        self.pinged = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self.drop_all()
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

    def emit(self, *pairs: tuple[str, str]) -> None:
        for w in self._writers:
            w.write(block(*pairs))

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
                    writer.write(block(("Event", "OriginateResponse"), ("Privilege", "call,all"),
                                       ("ActionID", aid), ("Response", self.originate_response),
                                       ("Channel", msg.get("Channel")), ("Context", msg.get("Context")),
                                       ("Exten", msg.get("Exten")), ("Reason", self.reason),
                                       ("Uniqueid", "1700000000.99")))
                else:
                    writer.write(block(("Response", "Error"), ("ActionID", aid),
                                       ("Message", "Invalid/unknown command")))
                await writer.drain()
        except (EOFError, ConnectionError):
            return
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
