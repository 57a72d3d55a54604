"""The fake Asterisk's side of an AudioSocket session (app_audiosocket, as a caller).

When the service sends ``EXEC AudioSocket "<uuid>,<host>:<port>"``, the fake Asterisk
calls :func:`run_session`, which does what Asterisk 20 does (apps/app_audiosocket.c,
res/res_audiosocket.c):

* connects to ``host:port`` (a failure, or a UUID that does not parse, makes EXEC
  answer ``200 result=-1`` with no session);
* sends the UUID message (kind 0x01, 16 bytes), then the caller's line as 20 ms
  frames of 8 kHz 16-bit audio (kind 0x10, 320 bytes) without a break, in real time
  or ``speed`` times faster, and each key as kind 0x03 with one ASCII byte;
* takes the service's audio (what the caller hears) and ends when the service sends
  the hang-up message (0x00) or closes: EXEC then answers ``200 result=0``; anything
  else from the service (another kind, an empty or odd-sized audio payload) ends it
  with ``result=-1``, as Asterisk does;
* a caller who hangs up closes the socket; EXEC answers ``result=-1`` and the AGI
  session gets its ``HANGUP`` line.

The caller's behaviour is one scripted turn (see ``fake_asterisk``): ``Say`` speaks a
WAV ``after_s`` seconds after the question's prompt ends (or, with ``barge_in``,
``after_s`` seconds into the prompt); ``Keys`` presses keys one by one; ``Silence``
stays quiet; ``HangUp(after_s=...)`` hangs up mid-session.  The prompt is taken to have
ended when the service's audio has stopped for half a second of line time (or never
started within 2 s).
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidmod
from dataclasses import dataclass, field

import numpy as np

from ivr.telephony import audiosocket as asock

PROMPT_GAP_S = 0.5          # the service's audio stopped this long: its prompt is over
NO_PROMPT_S = 2.0           # no audio at all from the service this long: there is no prompt
KEY_SPACING_S = 0.25        # between key presses
KEY_DELAY_S = 0.3           # from the end of the prompt to the first key
NOISE_RMS = 8.0             # line hiss on the caller's side (about -72 dBFS)
MAX_SESSION_S = 120.0       # line time; a service that never ends the session is a bug


@dataclass
class SessionResult:
    reply: str                          # the AGI reply to EXEC (with HANGUP line if any)
    caller_hung_up: bool = False
    keys_sent: str = ""
    spoke: bool = False
    prompt_ms: int = 0                  # service audio received (what the caller heard)
    prompt_cut: bool = False            # the caller spoke during the prompt and it stopped
    heard: list[np.ndarray] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    line_s: float = 0.0                 # line time the session lasted
    speech_end_s: float | None = None   # line time the caller's speech ended
    first_audio_after_speech_s: float | None = None
    first_audio_wall: float | None = None   # perf_counter of the service's first audio
    speech_end_wall: float | None = None    # perf_counter when the caller's last speech frame went out


@dataclass
class CallerPlan:
    """What the caller does in one session; times in seconds of line time."""

    speech: np.ndarray | None = None
    after_s: float = 0.0
    barge_in: bool = False
    keys: str = ""
    hangup_after_s: float | None = None


def _parse_target(args: str) -> tuple[str, str, int] | None:
    """``uuid,host:port`` -> parts, or None where Asterisk would fail."""
    id_str, _, server = args.partition(",")
    try:
        uuidmod.UUID(id_str.strip())
    except ValueError:
        return None
    host, sep, port = server.strip().rpartition(":")
    if not sep or not port.isdigit():
        return None
    return id_str.strip(), host.strip("[]"), int(port)


async def run_session(args: str, plan: CallerPlan, *, speed: float = 1.0, keep_audio: bool = False,
                      hangup_line_first: bool = True, seed: int = 0) -> SessionResult:
    target = _parse_target(args)
    if target is None:
        return SessionResult(reply="200 result=-1\n")
    id_str, host, port = target
    try:
        async with asyncio.timeout(2.0):       # MAX_CONNECT_TIMEOUT_MSEC
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return SessionResult(reply="200 result=-1\n")
    result = SessionResult(reply="")
    try:
        writer.write(asock.encode_uuid(id_str))
        await writer.drain()
        ended = await _stream(reader, writer, plan, result, speed=speed, keep_audio=keep_audio, seed=seed)
    except (ConnectionError, OSError):
        ended = "closed"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    if ended == "caller":
        result.caller_hung_up = True
        result.reply = "HANGUP\n200 result=-1\n" if hangup_line_first else "200 result=-1\nHANGUP\n"
    elif ended == "bad message":
        result.reply = "200 result=-1\n"
    else:
        result.reply = "200 result=0\n"
    return result


async def _stream(reader, writer, plan: CallerPlan, result: SessionResult, *, speed: float,
                  keep_audio: bool, seed: int) -> str:
    loop = asyncio.get_running_loop()
    rng = np.random.default_rng(seed)
    frame_s = 0.020
    state = {"last_audio": None, "ended": None}
    received: list[bytes] = []

    async def read_service() -> None:
        while True:
            try:
                header = await reader.readexactly(3)
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                state["ended"] = state["ended"] or "service"
                return
            kind, length = asock.HEADER.unpack(header)
            try:
                payload = await reader.readexactly(length) if length else b""
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                state["ended"] = state["ended"] or "service"
                return
            if kind == asock.KIND_HANGUP:
                state["ended"] = state["ended"] or "service"
                return
            if kind != asock.KIND_AUDIO or length == 0 or length % 2:
                result.problems.append(f"service sent AudioSocket kind 0x{kind:02x} with {length} bytes: "
                                       "Asterisk ends the application on that")
                state["ended"] = "bad message"
                return
            now = clock()
            if result.first_audio_wall is None:
                result.first_audio_wall = time.perf_counter()
            if result.speech_end_s is not None and result.first_audio_after_speech_s is None:
                result.first_audio_after_speech_s = now
            state["last_audio"] = now
            result.prompt_ms += length // 16
            if keep_audio:
                received.append(payload)

    started = loop.time()
    sent = 0

    def clock() -> float:                        # line time, in seconds
        return sent * frame_s

    reader_task = asyncio.create_task(read_service())
    speech = plan.speech
    speech_at: float | None = plan.after_s if (speech is not None and plan.barge_in) else None
    keys = list(plan.keys)
    key_at: float | None = 0.5 if (keys and plan.barge_in) else None
    pos = 0
    try:
        while state["ended"] is None:
            now = clock()
            if now > MAX_SESSION_S:
                result.problems.append("the service never ended the AudioSocket session")
                return "service"
            if plan.hangup_after_s is not None and now >= plan.hangup_after_s:
                return "caller"
            last = state["last_audio"]
            prompt_over = (last is not None and now - last >= PROMPT_GAP_S) or (last is None and now >= NO_PROMPT_S)
            prompt_end = last if last is not None else 0.0
            if speech is not None and speech_at is None and prompt_over:
                speech_at = max(prompt_end + plan.after_s, now)
            if keys and key_at is None and prompt_over:
                key_at = max(prompt_end + KEY_DELAY_S, now)
            frame = np.round(rng.normal(0.0, NOISE_RMS, asock.FRAME_SAMPLES)).astype("<i2")
            if speech is not None and speech_at is not None and now >= speech_at and pos < len(speech):
                if pos == 0:
                    result.spoke = True
                    if last is not None and now - last < PROMPT_GAP_S:
                        result.prompt_cut = True       # checked again below once it stops
                chunk = speech[pos:pos + asock.FRAME_SAMPLES]
                frame[:len(chunk)] = np.clip(frame[:len(chunk)].astype(np.int32) + chunk, -32768, 32767)
                pos += len(chunk)
                if pos >= len(speech):
                    result.speech_end_s = now + len(chunk) / 8000
                    result.speech_end_wall = time.perf_counter()
            writer.write(asock.encode_audio(frame.tobytes()))
            if keys and key_at is not None and now >= key_at:
                key = keys.pop(0)
                writer.write(asock.encode_dtmf(key))
                result.keys_sent += key
                key_at = now + KEY_SPACING_S
            await writer.drain()
            sent += 1
            delay = started + sent * frame_s / speed - loop.time()
            await asyncio.sleep(max(delay, 0))
        return state["ended"]
    finally:
        result.line_s = clock()
        reader_task.cancel()
        await asyncio.gather(reader_task, return_exceptions=True)
        if keep_audio:
            if received:
                result.heard.append(np.frombuffer(b"".join(received), dtype="<i2"))
            if speech is not None and pos:
                result.heard.append(speech[:pos])
