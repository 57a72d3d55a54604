"""``AudioSocketChannel``: the streaming speech transport behind the ``Channel`` port.

It wraps the call's :class:`~ivr.telephony.channel.AgiChannel` and changes one thing,
``ask``: each spoken question becomes an AudioSocket session.  What leads up to the
question (a read-back, a status read-out) Asterisk plays with STREAM FILE as before;
then we ``EXEC AudioSocket`` (which blocks in Asterisk until we hang up the socket),
play the question's own prompt ourselves over the socket, paced in real time, so the caller's voice can stop it
(barge-in), feed the caller's frames to the endpointer, check at each pause whether
the answer is already whole (16 digits, a clear yes), take keys exactly as keys, write
the caller's side of the answer as a WAV in our spool, hang up the socket and read
EXEC's reply.  Everything else (greetings and read-outs, keypad entry, transfers) goes
through FastAGI as before: those prompts need no voice barge-in and cost Asterisk,
not us, to play.

If Asterisk cannot run the application (``result=-2``: app_audiosocket not loaded;
``result=-1`` with no connection: it could not reach us) the call falls back to the
RECORD FILE transport for the rest of the call.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid as uuidmod
import wave
from collections import OrderedDict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ivr.errors import ChannelError, RecognizerError
from ivr.ports import Answer, Hearing, Recognizer, Transcript
from ivr.speech.endpoint import (
    EndpointConfig, Endpointer, NoSpeech, Paused, SpeechEnded, SpeechStarted, TooLong,
)
from ivr.telephony import audiosocket as asock
from ivr.telephony.channel import ANY_KEY, AgiChannel

log = logging.getLogger(__name__)

BYTES_PER_MS = 16            # 8 kHz, 16-bit


@dataclass(frozen=True)
class StreamConfig:
    """``address`` is where Asterisk reaches our AudioSocket server (host, or
    host:port); ``speed`` > 1 plays prompts faster than real time (tests only)."""

    address: str
    audio_dir: Path
    spool_dir: Path
    connect_timeout_s: float = 5.0      # EXEC to connection; Asterisk itself gives up after 2 s
    read_timeout_s: float = 5.0         # Asterisk ends a session after 2 s with nothing either way
    drain_timeout_s: float = 3.0        # after our hang-up message, until Asterisk closes
    speed: float = 1.0
    lead_frames: int = 3                # frames sent ahead of real time (network jitter)
    preroll_ms: int = 300               # kept before the first word in the recording
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)


class PromptAudio:
    """Prompt WAVs as raw 8 kHz 16-bit bytes, loaded once per process (bounded)."""

    def __init__(self, audio_dir: Path, max_items: int = 1024):
        self.audio_dir = Path(audio_dir)
        self.max_items = max_items
        self._cache: OrderedDict[str, bytes | None] = OrderedDict()

    def _read(self, prompt_id: str) -> bytes | None:
        path = self.audio_dir / f"{prompt_id}.wav"
        try:
            with wave.open(str(path), "rb") as w:
                if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, asock.RATE):
                    return None
                return w.readframes(w.getnframes()) or None
        except (OSError, wave.Error, EOFError):
            return None

    async def load(self, prompt_id: str) -> bytes | None:
        if prompt_id in self._cache:
            self._cache.move_to_end(prompt_id)
            return self._cache[prompt_id]
        data = await asyncio.to_thread(self._read, prompt_id)
        self._cache[prompt_id] = data
        while len(self._cache) > self.max_items:
            self._cache.popitem(last=False)
        return data


class _NotConnected(Exception):
    """The AudioSocket session could not start; use RECORD FILE instead."""


@dataclass
class _Heard:
    audio: bytearray = field(default_factory=bytearray)
    keys: list[str] = field(default_factory=list)
    transcript: Transcript | None = None
    barged_in: bool = False
    ended: str = ""
    speech_start_ms: int | None = None


class AudioSocketChannel:
    """A call whose spoken answers stream over AudioSocket.  Every other method of
    the Channel port is the wrapped AgiChannel's."""

    def __init__(self, agi: AgiChannel, server: asock.AudioSocketServer, recognizer: Recognizer | None,
                 config: StreamConfig, *, prompts: PromptAudio | None = None, decode_pool: Executor | None = None):
        self.agi = agi
        self.info = agi.info
        self.server = server
        self.recognizer = recognizer
        self.cfg = config
        self.prompts = prompts or PromptAudio(config.audio_dir)
        self.decode_pool = decode_pool
        self.streaming = True
        self.sessions = 0

    def __getattr__(self, name):
        return getattr(self.agi, name)

    async def answer(self) -> None:
        await self.agi.answer()

    async def play(self, prompts, stop_keys=""):
        return await self.agi.play(prompts, stop_keys)

    async def collect_keys(self, max_digits, timeout_ms, prompt=None):
        return await self.agi.collect_keys(max_digits, timeout_ms, prompt)

    async def record(self, name, max_ms, silence_s, stop_keys, beep=False, start_window_ms=0):
        return await self.agi.record(name, max_ms, silence_s, stop_keys, beep=beep,
                                     start_window_ms=start_window_ms)

    async def transfer(self, app, args):
        return await self.agi.transfer(app, args)

    async def set_variable(self, name, value):
        await self.agi.set_variable(name, value)

    async def hangup(self) -> None:
        await self.agi.hangup()

    async def close(self) -> None:
        await self.agi.close()

    # --- the question ------------------------------------------------------------------

    async def ask(self, prompts: Sequence[str], listen: Hearing | None) -> Answer:
        if listen is None or not self.streaming:
            return await self.agi.ask(prompts, listen)
        # What leads up to the question (a read-back, the status read-out) Asterisk
        # plays, as today, keys stopping it: it is cheaper than pacing it ourselves
        # (DESIGN.md section 6).  The question itself streams, so a voice can cut it.
        lead, question = list(prompts[:-1]), list(prompts[-1:])
        if lead:
            key = (await self.agi.play(lead, ANY_KEY)).key
            if key is not None:
                return Answer(key=key)
        try:
            return await self._session(question, listen)
        except _NotConnected as exc:
            self.streaming = False
            log.warning("call %s: AudioSocket unavailable (%s); recording answers with RECORD FILE "
                        "for the rest of the call", self.info.uniqueid, exc)
            return await self.agi.ask(question, listen)

    def _address(self) -> str:
        address = self.cfg.address
        if address.count(":") == 1 or address.startswith("["):
            return address
        host = f"[{address}]" if ":" in address else address
        return f"{host}:{self.server.bound_port}"

    async def _session(self, prompts: Sequence[str], listen: Hearing) -> Answer:
        call_uuid = uuidmod.uuid4()
        expectation = self.server.expect(call_uuid)
        budget = (listen.start_ms + listen.max_ms) / 1000 + 120
        exec_task = asyncio.create_task(self.agi.run_app("AudioSocket", f"{call_uuid},{self._address()}", budget))
        wait_task = asyncio.create_task(expectation.wait())
        try:
            done, _ = await asyncio.wait({exec_task, wait_task}, timeout=self.cfg.connect_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            expectation.cancel()
            wait_task.cancel()
            exec_task.cancel()
            raise
        if wait_task not in done:
            expectation.cancel()
            wait_task.cancel()
            if not exec_task.done():
                # Asterisk is still inside EXEC yet nothing connected: wait for it to give
                # up (its connect limit is 2 s), since no other AGI command can go first.
                done, _ = await asyncio.wait({exec_task}, timeout=10)
                if not done:
                    exec_task.cancel()
                    raise ChannelError("EXEC AudioSocket neither connected nor returned")
            result = exec_task.result()          # CallerHungUp / ChannelError propagate
            raise _NotConnected("application not loaded in Asterisk" if result == -2
                                else f"Asterisk could not connect (EXEC result {result})")
        conn = wait_task.result()
        self.sessions += 1
        heard = _Heard()
        try:
            try:
                await self._converse(conn, prompts, listen, heard)
            except asock.AudioSocketError as exc:
                log.warning("call %s: AudioSocket session broke (%s); RECORD FILE from now on",
                            self.info.uniqueid, exc)
                self.streaming = False
                heard.ended = "error"
            finally:
                await conn.hangup()
                await self._drain(conn, heard)
                await conn.close()
            result = await exec_task             # CallerHungUp when the caller hung up mid-session
        except BaseException:
            exec_task.cancel()                   # cancelled (shutdown) or failed: leave no task behind
            raise
        if result not in (0, -1):
            log.warning("call %s: EXEC AudioSocket answered %s", self.info.uniqueid, result)
        return await self._answer(heard, listen)

    async def _drain(self, conn: asock.AudioSocketConnection, heard: _Heard) -> None:
        """After our hang-up message, keys already pressed still arrive; keep them."""
        try:
            async with asyncio.timeout(self.cfg.drain_timeout_s):
                while True:
                    msg = await conn.read()
                    if msg is None:
                        return
                    if msg.kind == asock.KIND_DTMF:
                        heard.keys.append(asock.decode_dtmf(msg.payload))
        except (TimeoutError, asock.AudioSocketError):
            return

    async def _converse(self, conn: asock.AudioSocketConnection, prompts: Sequence[str], listen: Hearing,
                        heard: _Heard) -> None:
        pcm = bytearray()
        for prompt_id in prompts:
            data = await self.prompts.load(prompt_id)
            if data is None:
                self.agi._prompt_missing(prompt_id)
                continue
            pcm += data
        cfg = self.cfg.endpoint
        ep = Endpointer(EndpointConfig(start_ms=listen.start_ms, end_ms=listen.end_ms, max_ms=listen.max_ms,
                                       pause_ms=cfg.pause_ms, min_speech_ms=cfg.min_speech_ms, ratio=cfg.ratio,
                                       min_rms=cfg.min_rms, floor_window_ms=cfg.floor_window_ms))
        stop = asyncio.Event()
        sender = asyncio.create_task(self._play(conn, bytes(pcm), stop, ep))
        check: asyncio.Future | None = None
        check_voice_ms: int | None = None
        can_check = listen.complete is not None and hasattr(self.recognizer, "recognize_samples")
        loop = asyncio.get_running_loop()
        try:
            while not heard.ended:
                try:
                    async with asyncio.timeout(self.cfg.read_timeout_s):
                        msg = await conn.read()
                except TimeoutError:
                    heard.ended = "quiet socket"
                    break
                if msg is None:
                    heard.ended = "closed"
                    break
                if msg.kind == asock.KIND_DTMF:
                    key = asock.decode_dtmf(msg.payload)
                    if key == "#" and not heard.keys:
                        # As with FastAGI prompts, "#" is not a key that answers a
                        # question; it only ends keyed entry (a NIK's trailing "#").
                        continue
                    heard.keys.append(key)
                    heard.ended = "key"
                    break
                if msg.kind == asock.KIND_ERROR:
                    log.warning("call %s: AudioSocket error message from Asterisk", self.info.uniqueid)
                    heard.ended = "error"
                    break
                if msg.kind != asock.KIND_AUDIO:
                    raise asock.AudioSocketProtocolError(f"unexpected message kind 0x{msg.kind:02x} mid-session")
                heard.audio += msg.payload
                for event in ep.feed(np.frombuffer(msg.payload, dtype="<i2")):
                    if isinstance(event, SpeechStarted) and not sender.done():
                        heard.barged_in = True
                        stop.set()
                    elif isinstance(event, Paused) and can_check and check is None:
                        check_voice_ms = event.at_ms
                        # From just before the first word, as the kept recording: the
                        # recogniser levels by the loudest frames, and seconds of line
                        # hiss before a short answer would be levelled up with it.
                        begin = max(0, (ep.speech_start_ms or 0) - self.cfg.preroll_ms) * BYTES_PER_MS
                        audio = np.frombuffer(bytes(heard.audio[begin:]), dtype="<i2")
                        check = loop.run_in_executor(self.decode_pool, self.recognizer.recognize_samples,
                                                     audio, asock.RATE, listen.grammar)
                    elif isinstance(event, (SpeechEnded, TooLong)):
                        heard.ended = "speech ended" if isinstance(event, SpeechEnded) else "too long"
                    elif isinstance(event, NoSpeech):
                        heard.ended = "no speech"
                if check is not None and check.done():
                    transcript = _result(check)
                    # Only if the caller has not spoken again since the audio it decoded.
                    if (transcript is not None and ep.last_voice_ms == check_voice_ms
                            and listen.complete(transcript)):
                        heard.transcript = transcript
                        heard.ended = "complete"
                    check = None
        finally:
            stop.set()
            if not sender.done():
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
            if check is not None and not check.done():
                check.cancel()
        if heard.ended != "complete":
            heard.transcript = None
        heard.speech_start_ms = ep.speech_start_ms

    async def _play(self, conn: asock.AudioSocketConnection, pcm: bytes, stop: asyncio.Event,
                    ep: Endpointer) -> None:
        """Send the prompt paced in real time, a few frames ahead; stop when told."""
        loop = asyncio.get_running_loop()
        frame_s = 0.020 / self.cfg.speed
        started = loop.time()
        sent = 0
        try:
            for offset in range(0, len(pcm), asock.FRAME_BYTES):
                if stop.is_set():
                    return
                delay = started + (sent - self.cfg.lead_frames) * frame_s - loop.time()
                if delay > 0:
                    try:
                        async with asyncio.timeout(delay):
                            await stop.wait()
                        return
                    except TimeoutError:
                        pass
                await conn.send_audio(pcm[offset:offset + asock.FRAME_BYTES])
                sent += 1
            delay = started + sent * frame_s - loop.time()      # until the caller has heard it all
            if delay > 0:
                try:
                    async with asyncio.timeout(delay):
                        await stop.wait()
                except TimeoutError:
                    pass
        finally:
            ep.prompt_done()

    async def _answer(self, heard: _Heard, listen: Hearing) -> Answer:
        if heard.keys:
            return Answer(key=heard.keys[0], more_keys="".join(heard.keys[1:]), listened=True,
                          barged_in=heard.barged_in)
        start_ms = heard.speech_start_ms
        if start_ms is None:
            return Answer(listened=True)
        begin = max(0, start_ms - self.cfg.preroll_ms) * BYTES_PER_MS
        audio = bytes(heard.audio[begin:])
        path = self.cfg.spool_dir / f"{listen.name}.wav"
        await asyncio.to_thread(_write_private_wav, path, audio)
        duration_ms = len(audio) // BYTES_PER_MS
        transcript = heard.transcript
        if transcript is None and self.recognizer is not None:
            try:
                # The same decode as the RECORD FILE path, on the file we just kept.
                transcript = await asyncio.get_running_loop().run_in_executor(
                    self.decode_pool, self.recognizer.recognize, path, listen.grammar)
            except RecognizerError:
                transcript = None      # the call runner decodes again and handles it
        return Answer(recording=path, duration_ms=duration_ms, transcript=transcript, listened=True,
                      barged_in=heard.barged_in)


def _result(future: asyncio.Future) -> Transcript | None:
    if future.cancelled() or future.exception() is not None:
        return None
    return future.result()


def _write_private_wav(path: Path, pcm: bytes) -> None:
    """The caller's voice (it may speak a NIK): readable by the service only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "wb") as raw, wave.open(raw, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(asock.RATE)
        w.writeframes(pcm)
