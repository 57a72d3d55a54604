"""``AgiChannel``: the :class:`ivr.ports.Channel` port over one FastAGI connection.

One command at a time goes out, and its reply (see :mod:`ivr.telephony.agi`) comes
back before the next.  Asterisk facts this module leans on:

* after the caller hangs up, Asterisk sends a bare ``HANGUP`` line -- before or after
  the reply to the command in flight -- and still answers every later command
  (``511`` for those not allowed on a dead channel);
* ``result=-1`` on STREAM FILE / GET DATA / RECORD FILE means "hung up" *or* "file
  missing"; a ``CHANNEL STATUS`` probe (refused with ``511`` on a dead channel) tells
  the two apart, so a missing prompt is not mistaken for the end of the call;
* RECORD FILE's ``BEEP`` plays Asterisk's own sound ``beep``, which images built
  without core sounds lack (the reply is then ``(randomerror)`` and nothing is
  recorded): we play our own beep prompt instead;
* RECORD FILE's ``s=N`` counts silence from the start of the recording on a line
  that carries audio all the time, so a caller who starts after N seconds finds
  the recording over.  When a recording ends with nothing heard, the line listens
  again at once (no prompt, nothing said over the caller) until the question's
  start window has passed;
* after ``EXEC Queue`` an operator call that was answered and bridged leaves
  QUEUESTATUS unset and EXEC answers ``result=-1`` with the caller still on the line
  (app_queue.c): that is reported as :data:`BRIDGED`, not as a failure.

Nothing personal is logged: no caller number, no digits, no channel name.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ivr.errors import CallerHungUp, ChannelError
from ivr.ports import Answer, CallInfo, KeysResult, Hearing, PlayResult, RecordResult
from ivr.store.files import spool_file, spool_folder
from ivr.telephony import agi

if TYPE_CHECKING:
    from ivr.config import Settings

log = logging.getLogger(__name__)

SILENT_PROMPT = "silence/1"
BEEP_PROMPT = "tone/beep"
# Keys that stop a question (as the call runner's): not "#", which ends keyed entry.
ANY_KEY = "0123456789*"
RECORD_FORMAT = "wav"
SAMPLES_PER_MS = 8  # Asterisk's endpos counts 8 kHz samples for our WAV recordings
# When RECORD FILE's silence detector fires it rewinds the file by (N - 1) s, so a
# recording in which nothing broke the silence is 1 s and one 20 ms frame long.
QUIET_RECORDING_MS = 1000 + 60

# What :meth:`AgiChannel.transfer` reports when the caller was bridged to an operator
# (Queue sets no status for it; Dial sets DIALSTATUS=ANSWER).
BRIDGED = "BRIDGED"

# Which variable holds the outcome of a dialplan application run through EXEC.
STATUS_VARIABLES = {"queue": "QUEUESTATUS", "dial": "DIALSTATUS"}


@dataclass(frozen=True)
class ChannelConfig:
    """Where prompts and recordings live, and how long a reply may take.

    ``sounds_prefix`` is the folder Asterisk sees the rendered prompts in;
    ``asterisk_spool`` and ``spool_dir`` are the same recording folder as Asterisk
    and as this service see it (a shared volume)."""

    sounds_prefix: str
    asterisk_spool: str
    spool_dir: Path
    reply_timeout_s: float = 120.0      # ANSWER, SET VARIABLE, one STREAM FILE ...
    slack_s: float = 30.0               # added to GET DATA / RECORD's own time limits
    transfer_timeout_s: float = 4 * 3600.0  # a queue call can last as long as the talk
    hangup_grace_s: float = 5.0         # after a HANGUP line, how long the pending reply may take

    @classmethod
    def from_settings(cls, settings: Settings) -> ChannelConfig:
        return cls(sounds_prefix=settings.asterisk_sounds.rstrip("/"),
                   asterisk_spool=settings.asterisk_spool_dir.rstrip("/"),
                   spool_dir=settings.spool)


class AgiChannel:
    """A live call.  Methods raise :class:`ivr.errors.CallerHungUp` once the caller
    is gone and :class:`ivr.errors.ChannelError` when the conversation breaks; after
    a ChannelError the connection is out of step and every later call raises too."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 info: CallInfo, config: ChannelConfig):
        self.info = info
        self.config = config
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()
        self._broken: str | None = None
        self.hung_up = False
        self.closed = False
        self.missing_prompts: list[str] = []

    # --- setup -------------------------------------------------------------------------

    @staticmethod
    async def read_env(reader: asyncio.StreamReader, timeout_s: float) -> CallInfo:
        """Read the ``agi_*`` header block that opens every FastAGI connection."""
        lines: list[str] = []
        size = 0
        async with asyncio.timeout(timeout_s):
            while True:
                raw = await _readline(reader)
                if not raw.endswith(b"\n"):
                    raise agi.AgiConnectionLost("connection closed inside the AGI header")
                line = _decode(raw)
                if not line.strip():
                    break
                lines.append(line)
                size += len(raw)
                if len(lines) > agi.MAX_HEADER_LINES or size > agi.MAX_HEADER_BYTES:
                    raise agi.AgiProtocolError("AGI header block too long")
        return agi.parse_env(lines)

    # --- the port ------------------------------------------------------------------------

    async def answer(self) -> None:
        reply = await self._interactive(agi.format_answer())
        if reply.result == -1:
            await self._raise_if_dead("ANSWER")
            raise ChannelError("ANSWER failed")

    async def play(self, prompts: Sequence[str], stop_keys: str = "") -> PlayResult:
        for prompt in prompts:
            reply = await self._interactive(
                agi.format_stream_file(self._prompt_file(prompt), stop_keys))
            if reply.result == -1:
                await self._raise_if_dead("STREAM FILE")
                self._prompt_missing(prompt)
                continue
            key = reply.key
            if key is not None:
                return PlayResult(key=key)
        return PlayResult(key=None)

    async def collect_keys(self, max_digits: int, timeout_ms: int,
                           prompt: str | None = None) -> KeysResult:
        file = self._prompt_file(prompt if prompt is not None else SILENT_PROMPT)
        # GET DATA waits timeout_ms after the prompt and again after every key.
        budget = self.config.reply_timeout_s + timeout_ms * (max_digits + 1) / 1000
        reply = await self._interactive(agi.format_get_data(file, timeout_ms, max_digits),
                                        timeout_s=budget)
        if reply.result == -1:
            await self._raise_if_dead("GET DATA")
            self._prompt_missing(prompt or SILENT_PROMPT)
            raise ChannelError("GET DATA failed: its prompt could not be played")
        keys = reply.value
        if any(c not in agi.DTMF_KEYS for c in keys):
            raise agi.AgiProtocolError("GET DATA returned something other than keys")
        return KeysResult(keys=keys, timed_out=reply.timed_out)

    async def record(self, name: str, max_ms: int, silence_s: int,
                     stop_keys: str, beep: bool = False, start_window_ms: int = 0) -> RecordResult:
        if beep:
            # Our own tone: Asterisk's "beep" may not exist (see the module notes).
            played = await self.play([BEEP_PROMPT], stop_keys)
            if played.key is not None:
                return RecordResult(path=None, key=played.key, duration_ms=0)
        waited_ms, part = 0, 0
        while True:
            segment = name if part == 0 else f"{name}-{part + 1}"
            result, quiet = await self._record_once(segment, max_ms, silence_s, stop_keys)
            if not quiet or result.key is not None:
                return result
            waited_ms += silence_s * 1000 + 20
            if waited_ms >= start_window_ms:
                return result
            # Nothing yet: listen again straight away, and drop the silent file.
            if result.path is not None:
                await asyncio.to_thread(result.path.unlink, True)
            part += 1

    async def _record_once(self, name: str, max_ms: int, silence_s: int,
                           stop_keys: str) -> tuple[RecordResult, bool]:
        """One RECORD FILE; the flag says it ended on silence with nothing heard."""
        local = self._spool_path(name)
        # Asterisk does not create folders; the spool is shared, so make it here (no access
        # for anyone but the service and Asterisk: recordings hold voices and spoken NIKs).
        await asyncio.to_thread(spool_folder, local.parent)
        command = agi.format_record_file(f"{self.config.asterisk_spool}/{name}", RECORD_FORMAT,
                                         stop_keys, max_ms, silence_s=silence_s)
        budget = self.config.slack_s + max(max_ms, 0) / 1000
        try:
            reply = await self._interactive(command, timeout_s=budget)
            if reply.data == "hangup":
                raise self._gone("caller hung up while recording")
        except CallerHungUp as exc:
            # Asterisk keeps what it recorded before the hang-up: a report cut short is
            # still worth an operator's ear.
            exc.recording = local if await asyncio.to_thread(local.exists) else None
            if exc.recording is not None:
                await asyncio.to_thread(spool_file, local)
            raise
        if reply.data == "writefile":
            raise ChannelError("Asterisk could not write the recording (check the spool volume)")
        key = None
        if reply.data in ("dtmf", "randomerror") and reply.key is not None:
            key = reply.key
        elif reply.result == -1 or reply.data == "randomerror":
            await self._raise_if_dead("RECORD FILE")
            # The channel is up, so the recording itself failed (randomerror: a sound
            # Asterisk was asked to play first is missing).  Nothing was recorded;
            # the caller is still there and the dialogue can ask again.
            log.warning("call %s: RECORD FILE recorded nothing (%s)", self.info.uniqueid,
                        reply.data or "no reason given")
            return RecordResult(path=None, key=None, duration_ms=0), False
        duration = max(reply.endpos or 0, 0) // SAMPLES_PER_MS
        path = local if await asyncio.to_thread(local.exists) else None
        if path is not None:
            await asyncio.to_thread(spool_file, path)      # Asterisk writes it with its own umask
        quiet = (key is None and reply.data == "timeout" and silence_s > 0
                 and duration <= QUIET_RECORDING_MS)
        return RecordResult(path=path, key=key, duration_ms=duration), quiet

    async def ask(self, prompts: Sequence[str], listen: Hearing | None) -> Answer:
        """The RECORD FILE transport: play the question (a key stops it), then record
        into the shared spool until Asterisk hears silence; decoding is the caller's."""
        key = (await self.play(prompts, ANY_KEY)).key
        if key is not None or listen is None:
            return Answer(key=key)
        rec = await self.record(listen.name, listen.max_ms, listen.silence_s, ANY_KEY,
                                start_window_ms=listen.start_ms)
        if rec.key:
            return Answer(key=rec.key, listened=True)
        return Answer(recording=rec.path, duration_ms=rec.duration_ms, listened=True)

    async def run_app(self, app: str, args: str, timeout_s: float) -> int:
        """EXEC a dialplan application and return its result (-2: not loaded).
        Raises CallerHungUp when the caller hung up during it."""
        reply = await self._command(agi.format_exec(app, args), timeout_s=timeout_s)
        if self.hung_up:
            raise agi.AgiHangup(f"caller hung up during {app}")
        return reply.result

    async def transfer(self, app: str, args: str) -> str:
        reply = await self._command(agi.format_exec(app, args),
                                    timeout_s=self.config.transfer_timeout_s)
        if reply.result == -2:
            raise ChannelError(f"dialplan application {app} is not available in Asterisk")
        variable = STATUS_VARIABLES.get(app.lower())
        status = await self.get_variable(variable) if variable else ""
        if self.hung_up or reply.result == -1 and await self._is_dead():
            raise agi.AgiHangup("caller hung up during transfer", status=status or "")
        if reply.result == -1 and (not status or status.upper() == "ANSWER"):
            # The bridge ended and the caller is still here: they talked to someone.
            return BRIDGED
        return status or ""

    async def set_variable(self, name: str, value: str) -> None:
        # Allowed on a dead channel, so this works after the caller has gone.
        await self._command(agi.format_set_variable(name, value))

    async def get_variable(self, name: str) -> str | None:
        reply = await self._command(agi.format_get_variable(name))
        return reply.data if reply.result == 1 else None

    async def hangup(self) -> None:
        """Hang up and close the connection.  Quiet when the caller is already gone
        or the connection already broken: hanging up is the goal either way."""
        try:
            if not self.hung_up and not self._broken and not self.closed:
                await self._command(agi.format_hangup())
        except (CallerHungUp, ChannelError):
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        try:
            async with asyncio.timeout(5):
                await self._writer.wait_closed()
        except (OSError, TimeoutError):
            pass

    # --- internals ---------------------------------------------------------------------

    def _prompt_file(self, prompt_id: str) -> str:
        return f"{self.config.sounds_prefix}/{prompt_id}"

    def _spool_path(self, name: str) -> Path:
        agi.check_file_name(name)
        if name.startswith("/"):
            raise ValueError("recording name must be relative to the spool")
        return self.config.spool_dir / f"{name}.{RECORD_FORMAT}"

    def _prompt_missing(self, prompt_id: str) -> None:
        self.missing_prompts.append(prompt_id)
        log.warning("call %s: prompt %s could not be played (missing or unreadable)",
                    self.info.uniqueid, prompt_id)

    def _gone(self, message: str = "caller hung up") -> CallerHungUp:
        self.hung_up = True
        return agi.AgiHangup(message)

    async def _interactive(self, command: str, timeout_s: float | None = None) -> agi.AgiResponse:
        """A command that needs the caller on the line: refuse it once they are gone."""
        if self.hung_up:
            raise agi.AgiHangup("caller already hung up")
        reply = await self._command(command, timeout_s)
        if self.hung_up:
            raise agi.AgiHangup("caller hung up")
        return reply

    async def _is_dead(self) -> bool:
        """Probe with CHANNEL STATUS, which Asterisk refuses (511) on a dead channel."""
        if self.hung_up:
            return True
        try:
            await self._command(agi.format_channel_status())
        except CallerHungUp:
            return True
        return self.hung_up

    async def _raise_if_dead(self, what: str) -> None:
        if await self._is_dead():
            raise self._gone(f"caller hung up during {what}")

    async def _command(self, command: str, timeout_s: float | None = None) -> agi.AgiResponse:
        if self._broken:
            raise ChannelError(f"AGI connection unusable: {self._broken}")
        if self.closed:
            raise agi.AgiConnectionLost("AGI connection already closed")
        verb = " ".join(command.split()[:2])
        async with self._lock:
            try:
                reply = await self._exchange(command, timeout_s or self.config.reply_timeout_s)
            except agi.AgiDeadChannel:
                self.hung_up = True
                raise
            except agi.AgiCommandError:
                raise  # 510/520: the conversation itself is still in step
            except ChannelError as exc:
                self._broken = type(exc).__name__
                if self.hung_up and isinstance(exc, agi.AgiConnectionLost):
                    raise agi.AgiHangup("connection closed after the caller hung up") from exc
                raise
        log.debug("call %s: %s -> %d", self.info.uniqueid, verb, reply.code)
        return reply

    async def _exchange(self, command: str, timeout_s: float) -> agi.AgiResponse:
        try:
            self._writer.write(command.encode() + b"\n")
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise agi.AgiConnectionLost(f"could not send AGI command: {exc}") from exc
        assembler = agi.ReplyAssembler()
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                while True:
                    raw = await _readline(self._reader)
                    if not raw.endswith(b"\n"):
                        raise agi.AgiConnectionLost(
                            "connection closed before the reply" if not raw
                            else "connection closed in the middle of a reply")
                    reply = assembler.feed(_decode(raw))
                    if assembler.hangup_seen and not self.hung_up:
                        self.hung_up = True
                        # Asterisk still answers the pending command, and quickly; do not
                        # let a peer that doesn't hold the call open for the full timeout.
                        grace = asyncio.get_running_loop().time() + self.config.hangup_grace_s
                        if deadline.when() is None or deadline.when() > grace:
                            deadline.reschedule(grace)
                    if reply is not None:
                        return reply
        except TimeoutError as exc:
            if self.hung_up:
                raise agi.AgiConnectionLost("no reply after the caller hung up") from exc
            raise agi.AgiConnectionLost(f"no AGI reply within {timeout_s:.0f} s") from exc


async def _readline(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readline()
    except ValueError as exc:  # LimitOverrunError surfaces as ValueError from readline
        raise agi.AgiProtocolError("AGI line too long") from exc
    except (ConnectionError, OSError) as exc:
        raise agi.AgiConnectionLost(f"connection lost: {exc}") from exc


def _decode(raw: bytes) -> str:
    # Asterisk sends UTF-8 (caller names may hold anything); never fail on bytes.
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")
