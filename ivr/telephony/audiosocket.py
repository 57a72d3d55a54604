"""AudioSocket: Asterisk's streaming audio transport, as a pure codec and a server.

From inside our FastAGI session, ``EXEC AudioSocket "<uuid>,<host>:<port>"`` makes
Asterisk (app_audiosocket, res_audiosocket) connect to this server and exchange
messages until one side ends it.  Facts taken from Asterisk 20's source:

* a message is 1 byte kind, 2 bytes big-endian payload length, the payload;
* Asterisk first sends kind 0x01 with the 16 bytes of the UUID, then the caller's
  audio as kind 0x10 (8 kHz 16-bit signed linear, little-endian; 320 bytes per 20 ms
  frame on an ordinary line) and each key as kind 0x03 with one ASCII byte;
* Asterisk plays what we send as kind 0x10 at once, without pacing it, so we pace;
  it accepts only audio (0x10 and the higher-rate 0x11-0x18) and hang-up (0x00)
  from us, and ends the application on anything else or on an empty audio payload;
* our hang-up message ``00 00 00`` or closing the socket ends the application
  normally: ``EXEC`` answers ``200 result=0`` and the AGI session goes on.  A caller
  who hangs up ends it with ``result=-1`` (and the AGI ``HANGUP`` line); Asterisk
  just closes the socket.  Nothing at all on either side for 2 s also ends it (-1);
* when the connection cannot be made (2 s connect limit, refused, bad address) or
  the UUID does not parse, ``EXEC`` answers ``result=-1`` without our server seeing
  a UUID; when app_audiosocket is not loaded, ``result=-2`` (res_agi ``handle_exec``).

The server matches each connection to the call that expects it by UUID.  Unknown
UUIDs, connections that send no UUID in time, more waiting connections than the cap
and oversized messages are closed, so a stranger on the port cannot hold memory.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import struct
import uuid as uuidmod
from dataclasses import dataclass

from ivr.errors import ChannelError, ConfigError

log = logging.getLogger(__name__)

KIND_HANGUP = 0x00
KIND_UUID = 0x01
KIND_DTMF = 0x03
KIND_AUDIO = 0x10          # 8 kHz slin; the only audio kind we accept or send
KIND_ERROR = 0xFF
KINDS_FROM_ASTERISK = frozenset({KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR})

RATE = 8000
FRAME_SAMPLES = 160        # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
HEADER = struct.Struct(">BH")
MAX_PAYLOAD = 65535
# Asterisk sends one channel frame per message: 20 ms (320 bytes) usually, up to a
# few hundred ms on odd channels.  Anything bigger than 1 s of audio is not Asterisk.
DEFAULT_MAX_PAYLOAD = RATE * 2
DTMF_KEYS = frozenset("0123456789*#ABCD")


class AudioSocketError(ChannelError):
    """The AudioSocket peer broke the protocol or vanished."""


class AudioSocketProtocolError(AudioSocketError):
    """A message that Asterisk would never send (unknown kind, bad length, garbage)."""


@dataclass(frozen=True)
class Message:
    kind: int
    payload: bytes = b""


# --- the codec (pure) ---------------------------------------------------------------------

def encode(kind: int, payload: bytes = b"") -> bytes:
    if not 0 <= kind <= 0xFF:
        raise ValueError(f"bad AudioSocket kind {kind}")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"AudioSocket payload of {len(payload)} bytes is over {MAX_PAYLOAD}")
    return HEADER.pack(kind, len(payload)) + payload


def encode_hangup() -> bytes:
    return encode(KIND_HANGUP)


def encode_audio(pcm: bytes) -> bytes:
    """One audio message.  Asterisk drops the session on an empty or odd-sized one."""
    if not pcm or len(pcm) % 2:
        raise ValueError("audio payload must be a non-empty whole number of 16-bit samples")
    return encode(KIND_AUDIO, pcm)


def encode_uuid(value: uuidmod.UUID | str) -> bytes:
    return encode(KIND_UUID, uuidmod.UUID(str(value)).bytes)


def encode_dtmf(key: str) -> bytes:
    if key not in DTMF_KEYS:
        raise ValueError(f"not a DTMF key: {key!r}")
    return encode(KIND_DTMF, key.encode("ascii"))


def parse_header(header: bytes, max_payload: int = DEFAULT_MAX_PAYLOAD) -> tuple[int, int]:
    """(kind, length) of a 3-byte header; raises on what Asterisk never sends."""
    if len(header) != HEADER.size:
        raise AudioSocketProtocolError("truncated AudioSocket header")
    kind, length = HEADER.unpack(header)
    if kind not in KINDS_FROM_ASTERISK:
        raise AudioSocketProtocolError(f"unknown AudioSocket message kind 0x{kind:02x}")
    if length > max_payload:
        raise AudioSocketProtocolError(f"AudioSocket message of {length} bytes is over the {max_payload} cap")
    if kind == KIND_UUID and length != 16:
        raise AudioSocketProtocolError(f"UUID message with {length} bytes (need 16)")
    if kind == KIND_DTMF and length != 1:
        raise AudioSocketProtocolError(f"DTMF message with {length} bytes (need 1)")
    if kind == KIND_AUDIO and (length == 0 or length % 2):
        raise AudioSocketProtocolError(f"audio message with {length} bytes (need whole 16-bit samples)")
    return kind, length


def decode_dtmf(payload: bytes) -> str:
    key = payload.decode("ascii", errors="replace")
    if key not in DTMF_KEYS:
        raise AudioSocketProtocolError("DTMF message that is not a keypad key")
    return key


async def read_message(reader: asyncio.StreamReader, max_payload: int = DEFAULT_MAX_PAYLOAD) -> Message | None:
    """The next message, or None when the peer closed cleanly between messages."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise AudioSocketProtocolError("connection closed inside an AudioSocket header") from None
    except (ConnectionError, OSError) as exc:
        raise AudioSocketError(f"AudioSocket connection lost: {exc}") from exc
    kind, length = parse_header(header, max_payload)
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise AudioSocketProtocolError("connection closed inside an AudioSocket payload") from None
    except (ConnectionError, OSError) as exc:
        raise AudioSocketError(f"AudioSocket connection lost: {exc}") from exc
    return Message(kind, payload)


# --- one connection ------------------------------------------------------------------------

class AudioSocketConnection:
    """One Asterisk connection, after its UUID was matched to a call."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, call_uuid: uuidmod.UUID,
                 max_payload: int = DEFAULT_MAX_PAYLOAD):
        self.uuid = call_uuid
        self._reader = reader
        self._writer = writer
        self.max_payload = max_payload
        self.closed = False
        self.hung_up_sent = False

    async def read(self) -> Message | None:
        return await read_message(self._reader, self.max_payload)

    async def send_audio(self, pcm: bytes) -> None:
        if self.hung_up_sent or self.closed:
            return
        try:
            self._writer.write(encode_audio(pcm))
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise AudioSocketError(f"could not send audio: {exc}") from exc

    async def hangup(self) -> None:
        """Ask Asterisk to end the application (it answers EXEC with result=0)."""
        if self.hung_up_sent or self.closed:
            return
        self.hung_up_sent = True
        try:
            self._writer.write(encode_hangup())
            await self._writer.drain()
        except (ConnectionError, OSError):
            pass   # closing does the same job

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(2):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            pass


# --- the server ---------------------------------------------------------------------------

class Expectation:
    """A call waiting for Asterisk to connect with its UUID."""

    def __init__(self, server: "AudioSocketServer", call_uuid: uuidmod.UUID):
        self.uuid = call_uuid
        self._server = server
        self._future: asyncio.Future[AudioSocketConnection] = asyncio.get_running_loop().create_future()

    @property
    def connected(self) -> bool:
        return self._future.done() and not self._future.cancelled()

    async def wait(self) -> AudioSocketConnection:
        return await asyncio.shield(self._future)

    def _deliver(self, conn: AudioSocketConnection) -> bool:
        if self._future.done():
            return False
        self._future.set_result(conn)
        return True

    def cancel(self) -> None:
        """Stop expecting; a connection that was delivered but not taken is closed."""
        self._server._expected.pop(self.uuid, None)
        if not self._future.done():
            self._future.cancel()
        elif not self._future.cancelled():
            asyncio.ensure_future(self._future.result().close())


class AudioSocketServer:
    """Accepts Asterisk's AudioSocket connections and hands each to the call that
    registered its UUID (``expect``)."""

    def __init__(self, host: str = "0.0.0.0", port: int = 4574, *, uuid_timeout_s: float = 5.0,
                 max_pending: int = 64, max_payload: int = DEFAULT_MAX_PAYLOAD):
        self.host = host
        self.port = port
        self.uuid_timeout_s = uuid_timeout_s
        self.max_pending = max_pending
        self.max_payload = max_payload
        self._server: asyncio.Server | None = None
        self._expected: dict[uuidmod.UUID, Expectation] = {}
        self._pending = 0
        self._tasks: set[asyncio.Task] = set()
        self.rejected = 0

    async def start(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._on_connect, self.host, self.port, reuse_address=True)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"IVR_AUDIOSOCKET_PORT: port {self.port} is already in use") from None
            raise ConfigError(f"IVR_AUDIOSOCKET_PORT: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror}") from None
        log.info("AudioSocket listening on port %d", self.bound_port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AudioSocket server not started")
        return self._server.sockets[0].getsockname()[1]

    def expect(self, call_uuid: uuidmod.UUID) -> Expectation:
        expectation = Expectation(self, call_uuid)
        self._expected[call_uuid] = expectation
        return expectation

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self._pending >= self.max_pending:
            self.rejected += 1
            log.warning("AudioSocket: too many connections without a UUID; closing one")
            writer.close()
            return
        self._pending += 1
        delivered = False
        try:
            try:
                async with asyncio.timeout(self.uuid_timeout_s):
                    first = await read_message(reader, self.max_payload)
            except TimeoutError:
                log.warning("AudioSocket peer sent no UUID within %.0f s", self.uuid_timeout_s)
                return
            except AudioSocketError as exc:
                log.warning("AudioSocket peer before its UUID: %s", exc)
                return
            if first is None:
                return   # Asterisk connects, then closes when the channel is not answered
            if first.kind != KIND_UUID:
                log.warning("AudioSocket peer sent kind 0x%02x before its UUID", first.kind)
                return
            call_uuid = uuidmod.UUID(bytes=first.payload)
            expectation = self._expected.pop(call_uuid, None)
            if expectation is None:
                self.rejected += 1
                log.warning("AudioSocket connection for a UUID no call expects; closed")
                return
            delivered = expectation._deliver(AudioSocketConnection(reader, writer, call_uuid, self.max_payload))
        finally:
            self._pending -= 1
            if not delivered:
                writer.close()
