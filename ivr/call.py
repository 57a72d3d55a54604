"""The call runner: the one place that knows both the dialogue core and the adapters.

For each call it runs action -> adapter -> event -> core until the core ends the
call, and writes the call log as it goes, so a crash mid-call keeps what happened
so far.  Blocking work (database, speech decoding, rendering a place name) runs in
bounded thread pools, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
import shutil
import time
import uuid
import wave
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ivr import nik as nikmod
from ivr.dialogue.flow import Dialogue
from ivr.dialogue.understand import Kind, meaning_confidence, speech_answer, words_to_digits
from ivr.dialogue.vocab import (
    Action, Ask, CallStarted, Context, End, Event, Fault, FollowUp, HungUp, KeysEntered, Listen, Lookup,
    LookupDone, NikConfirmed, NoInput, Play, PromptItem, Record, Recorded, SpeechHeard, Spoken, State,
    Step, Transfer, TransferDone,
)
from ivr.errors import CallerHungUp, ChannelError, RecognizerError, StoreError
from ivr.ports import Answer, CallEventRecord, Channel, Hearing, Recognizer, Store, Transcript

log = logging.getLogger(__name__)

# Keys that interrupt a prompt or a recording.  Not "#": callers end a keyed NIK with
# it (our prompts ask them to), and a "#" that arrives after GET DATA already has all
# its digits reaches the next command; left out, Asterisk drops it there.
ALL_KEYS = "0123456789*"
ENTRY_END_KEYS = "*"           # end keypad entry at once when pressed first


@dataclass(frozen=True)
class RunnerConfig:
    record_max_ms: int = 20_000
    record_silence_s: int = 2
    listen_start_ms: int = 8_000         # a caller may take this long to start speaking
    complaint_max_ms: int = 90_000
    complaint_silence_s: int = 6
    keys_timeout_ms: int = 6_000
    keep_training_audio: bool = True
    training_dir: Path | None = None     # where kept utterances are copied (own lifecycle)
    min_message_ms: int = 1_500
    db_timeout_s: float = 3.0            # a lookup slower than this gets the apology
    fault_follow_up_window_s: float = 300.0
    # Streaming transports only (AudioSocket): endpointing per question.
    speech_end_ms: int = 1_200            # a pause this long ends a yes/no or menu answer
    speech_end_digits_ms: int = 2_000     # ... a NIK answer (callers pause between groups)
    complete_confidence: float = 0.5      # a short answer this sure ends the question early


class FaultFollowUps:
    """At most one "the connection broke" follow-up per peer per window.

    Anyone who can reach the FastAGI port can open a call and drop it; and one fault
    that breaks every call would otherwise file one item per call.  The first broken
    call from a peer in a window asks a person to look; later ones are merged into
    the next follow-up that gets through (as a count), and every call keeps its own
    log entry with outcome ``fault``.  Thread-unsafe by design: used on the event loop.
    """

    def __init__(self, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._merged: dict[str, int] = {}

    def admit(self, peer: str) -> int | None:
        """None: merge this one (a follow-up for this peer is recent); otherwise file
        one, noting the returned number of broken calls merged since the last."""
        now = self.clock()
        last = self._last.get(peer)
        if last is not None and now - last < self.window_s:
            self._merged[peer] = self._merged.get(peer, 0) + 1
            return None
        if len(self._last) > 10_000:         # forget peers whose window is long over
            self._last = {p: t for p, t in self._last.items() if now - t < self.window_s}
        self._last[peer] = now
        return self._merged.pop(peer, 0)


def recording_has_voice(path: Path | None, min_ms: int) -> bool:
    """True when a recording is long enough and not just line hiss."""
    if path is None or not path.exists():
        return False
    try:
        with wave.open(str(path), "rb") as w:
            rate, frames = w.getframerate(), w.readframes(w.getnframes())
            width = w.getsampwidth()
    except (wave.Error, EOFError, OSError):
        return False
    if width != 2 or not frames:
        return False
    audio = np.frombuffer(frames, dtype="<i2").astype(np.float32)
    if len(audio) * 1000 // rate < min_ms:
        return False
    # 20 ms frames; "voice" = a handful of frames well above the quietest ones.
    size = max(rate // 50, 1)
    usable = len(audio) // size * size
    energy = np.sqrt(np.mean(audio[:usable].reshape(-1, size) ** 2, axis=1) + 1e-9)
    floor = max(float(np.percentile(energy, 10)), 30.0)
    return int(np.sum(energy > floor * 4)) >= 10


def _copy(source: Path, target: Path) -> None:
    # a spoken NIK: owner-only folder and file from the start
    from ivr.store.files import create_private, private_dir

    private_dir(target.parent)
    with open(source, "rb") as src, os.fdopen(create_private(target, exclusive=False), "wb") as dst:
        shutil.copyfileobj(src, dst)


@dataclass(frozen=True)
class CallEnd:
    """How a call ended, for a caller of the runner that needs more than the call log
    (an outbound route records what a reminder call achieved)."""

    call_id: str
    outcome: str
    context: Context


class CallRunner:
    """Runs one call per ``await runner(channel)``; shared by all calls of a process."""

    def __init__(self, dialogue: Dialogue, store: Store, recognizer: Recognizer | None, *,
                 config: RunnerConfig | None = None,
                 speak_text: Callable[[str], str] | None = None,
                 db_pool: Executor | None = None, decode_pool: Executor | None = None,
                 write_pool: Executor | None = None,
                 clock: Callable[[], dt.datetime] | None = None,
                 fault_follow_ups: FaultFollowUps | None = None):
        self.dialogue = dialogue
        self.store = store
        self.recognizer = recognizer
        self.cfg = config or RunnerConfig()
        self.speak_text = speak_text
        self.db_pool = db_pool
        # Call-log writes go through one thread, in order, without the call waiting for
        # them step by step (a database has one writer anyway); a call drains its own
        # writes before it ends.
        self.write_pool = write_pool or db_pool
        self.decode_pool = decode_pool
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self._spoken: dict[str, str] = {}
        self.fault_follow_ups = fault_follow_ups or FaultFollowUps(self.cfg.fault_follow_up_window_s)

    async def __call__(self, channel: Channel, *, opening: Callable[[dt.datetime], Event] | None = None,
                       note: dict | None = None) -> CallEnd:
        """Run one call.  ``opening`` builds the first event from the start time (an
        outbound call enters the dialogue differently); ``note`` is logged as its first step."""
        call = _Call(self, channel, opening, note)
        await call.run()
        return CallEnd(call.call_id, call.outcome, call.ctx)

    def with_dialogue(self, dialogue: Dialogue) -> CallRunner:
        """The same runner (store, pools, recogniser, clock) driving another dialogue."""
        twin = CallRunner(dialogue, self.store, self.recognizer, config=self.cfg, speak_text=self.speak_text,
                          db_pool=self.db_pool, decode_pool=self.decode_pool, write_pool=self.write_pool,
                          clock=self.clock)
        twin._spoken = self._spoken
        return twin


class _Call:
    """The state of one call while it runs."""

    def __init__(self, runner: CallRunner, channel: Channel,
                 opening: Callable[[dt.datetime], Event] | None = None, note: dict | None = None):
        self.r = runner
        self.ch = channel
        self.opening = opening
        self.note = note
        # The id is ours, so the call need not wait for the database to open its log.
        self.call_id = str(uuid.uuid4())
        self.state = State.START
        self.ctx = Context()
        self.pending_key: str | None = None
        self.modes: set[str] = set()
        self.seq = 0
        self.speech_ok = runner.recognizer is not None
        self.outcome = "abandoned"
        self.answered = False
        self.ended = False
        self.writes: list[asyncio.Future] = []
        self.events: list[CallEventRecord] = []

    # --- plumbing -------------------------------------------------------------------------
    async def _db(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.r.db_pool, fn, *args)

    async def _log(self, kind: str, **fields) -> None:
        """Note a step; steps are written together each time the call waits (``_flush``)."""
        self.events.append(CallEventRecord(at=self.r.clock(), kind=kind, state=self.state.value, **fields))

    async def _flush(self) -> None:
        """Queue the steps noted so far as one write, before the call waits on anyone:
        a crash then loses at most the step being taken."""
        if self.events:
            events, self.events = tuple(self.events), []
            await self._store_quietly(self.r.store.add_events, self.call_id, events, flush=False)

    async def _store_quietly(self, fn, *args, flush: bool = True) -> None:
        """Queue a call-log write; failures are logged (the journal has kept the data)."""
        if flush and self.events:
            await self._flush()     # keep the log in the order things happened
        future = asyncio.get_running_loop().run_in_executor(self.r.write_pool, fn, *args)
        future.add_done_callback(self._write_done)
        self.writes.append(future)

    def _write_done(self, future: asyncio.Future) -> None:
        if not future.cancelled() and isinstance(future.exception(), StoreError):
            log.warning("call %s: a call-log write failed: %s", self.call_id, future.exception())

    async def _drain(self) -> None:
        writes, self.writes = self.writes, []
        if writes:
            await asyncio.gather(*writes, return_exceptions=True)

    # --- the call -------------------------------------------------------------------------
    async def run(self) -> None:
        started = self.r.clock()
        await self._store_quietly(functools.partial(self.r.store.start_call, call_id=self.call_id),
                                  self.ch.info, started)
        try:
            await self.ch.answer()
            self.answered = True
            known = bool(self.ch.info.caller) and self.ch.info.caller.lower() not in ("unknown", "anonymous")
            if self.note:
                await self._log("outbound", detail=self.note)
            first = self.opening(started) if self.opening else CallStarted(started, caller_known=known)
            step = self.r.dialogue.start(first)
            while True:
                event = await self._execute(step)
                if event is None:
                    return
                step = self.r.dialogue.handle(self.state, self.ctx, event)
        except CallerHungUp:
            await self._after_hangup()
        except ChannelError as exc:
            log.warning("call %s: AGI conversation broke: %s", self.call_id, type(exc).__name__)
            await self._fault("channel", type(exc).__name__, "the telephone connection to the service broke")
            self.outcome = "fault"
        except Exception as exc:  # a bug must not leave the caller in silence or the log open
            log.exception("call %s: unexpected error", self.call_id)
            await self._fault("internal", type(exc).__name__, "internal error during the call")
            self.outcome = "fault"
            try:
                await self.ch.play(["error/system"])
                await self.ch.hangup()
            except (CallerHungUp, ChannelError):
                pass
        finally:
            await self._finish()

    async def _fault(self, kind: str, error: str, reason: str) -> None:
        """Log a broken call; ask a person to look only when a caller was really on the
        line (the call was answered), and then through the per-peer gate."""
        merged = self.r.fault_follow_ups.admit(self.ch.info.peer) if self.answered else None
        follow_up = "kept" if merged is not None else "merged" if self.answered else "none: never answered"
        await self._log("fault", detail={"kind": kind, "error": error, "follow_up": follow_up})
        if merged is not None:
            if merged:
                reason += f" ({merged} more broken call(s) from the same exchange since the last follow-up)"
            await self._store_quietly(self.r.store.add_follow_up, self.call_id, "system_fault", reason)

    async def _after_hangup(self) -> None:
        """The caller hung up: let the core say what follow-up that needs, then close."""
        await self._log("hangup")
        step = self.r.dialogue.handle(self.state, self.ctx, HungUp(self.r.clock()))
        self.ctx = step.context
        for action in step.actions:
            if isinstance(action, FollowUp):
                await self._store_quietly(self.r.store.add_follow_up, self.call_id, action.reason, action.detail)
            elif isinstance(action, End):
                self.outcome = action.outcome

    async def _finish(self) -> None:
        if self.ended:
            return
        self.ended = True
        await self._flush()
        mode = {frozenset(): "none", frozenset({"keypad"}): "keypad",
                frozenset({"speech"}): "speech"}.get(frozenset(self.modes), "mixed")
        await self._store_quietly(self.r.store.finish_call, self.call_id, self.r.clock(), self.outcome,
                                  self.state.value, mode)
        # The line is released before the log is waited on: a hung database must not
        # hold the caller's channel (or Asterisk's AGI connection) open.
        try:
            await self.ch.hangup()
        except (CallerHungUp, ChannelError):
            pass
        await self._drain()

    async def _execute(self, step: Step) -> Event | None:
        """Run a step's actions; return the event its waiting action produced."""
        if step.state is not self.state:
            await self._log("state", detail={"from": self.state.value, "to": step.state.value})
        self.state, self.ctx = step.state, step.context
        event: Event | None = None
        for action in step.actions:
            event = await self._do(action)
            if self.ended:
                return None
        return event

    async def _do(self, action: Action) -> Event | None:
        if isinstance(action, Listen):
            return await self._listen(action)
        if isinstance(action, Play):
            await self._play(action.items)
            return None
        if isinstance(action, Ask):
            return await self._ask(action)
        if isinstance(action, Lookup):
            return await self._lookup(action)
        if isinstance(action, Record):
            return await self._record(action)
        if isinstance(action, Transfer):
            await self._log("transfer", detail={"app": action.app})
            await self._flush()
            status = await self.ch.transfer(action.app, action.target)
            await self._log("transfer_done", detail={"status": status})
            return TransferDone(self.r.clock(), status)
        if isinstance(action, FollowUp):
            await self._store_quietly(self.r.store.add_follow_up, self.call_id, action.reason, action.detail)
            await self._log("follow_up", detail={"reason": action.reason})
            return None
        if isinstance(action, NikConfirmed):
            await self._confirmed(action)
            return None
        if isinstance(action, End):
            self.outcome = action.outcome
            if action.items:
                await self._play(action.items, stop_keys="")
            await self._log("end", detail={"outcome": action.outcome})
            await self.ch.hangup()
            await self._finish()
            return None
        raise TypeError(f"unknown action {action!r}")

    # --- prompts -------------------------------------------------------------------------
    async def _resolve(self, items: tuple[PromptItem, ...]) -> list[str]:
        ids: list[str] = []
        for item in items:
            if isinstance(item, Spoken):
                pid = await self._spoken_id(item.text)
                if pid:
                    ids.append(pid)
            else:
                ids.append(item)
        return ids

    async def _spoken_id(self, text: str) -> str | None:
        cached = self.r._spoken.get(text)
        if cached or self.r.speak_text is None:
            return cached
        try:
            pid = await asyncio.get_running_loop().run_in_executor(self.r.decode_pool, self.r.speak_text, text)
        except Exception as exc:  # rendering is best effort: the rest of the answer still plays
            log.warning("could not render a place/address prompt: %s", type(exc).__name__)
            await self._log("fault", detail={"kind": "prompt", "error": type(exc).__name__})
            return None
        self.r._spoken[text] = pid
        return pid

    async def _play(self, items: tuple[PromptItem, ...], stop_keys: str = ALL_KEYS) -> None:
        if self.pending_key is not None and stop_keys:
            return  # the caller is already answering; don't talk over them
        ids = await self._resolve(items)
        await self._log("prompt", prompts=tuple(ids))
        await self._flush()
        result = await self.ch.play(ids, stop_keys)
        if result.key:
            self.pending_key = result.key

    # --- input ---------------------------------------------------------------------------
    async def _ask(self, ask: Ask) -> Event:
        first = self.pending_key
        self.pending_key = None
        more = ""
        if first is None:
            ids = await self._resolve(ask.items)
            await self._log("prompt", prompts=tuple(ids), detail={"grammar": ask.grammar})
            await self._flush()
            listen = None
            if ask.speech and self.speech_ok:
                self.seq += 1
                listen = self._hearing(ask)
            got = await self.ch.ask(ids, listen)
            first, more = got.key, got.more_keys
            if first is None and got.listened:
                return await self._decode(got, ask.grammar)
        if first is None:
            got_keys = await self.ch.collect_keys(1, self.r.cfg.keys_timeout_ms)
            if not got_keys.keys:
                await self._log("no_input", detail={"reason": "timeout"})
                return NoInput(self.r.clock(), "timeout")
            first = got_keys.keys[0]
        keys, timed_out = first, False
        if ask.max_digits > 1 and first not in ask.immediate and first not in ENTRY_END_KEYS:
            # Keys pressed right after the first in a listening session count as
            # typed; "#" ends entry (a trailing "#" after a full NIK is ignored).
            typed = first + more
            if "#" in typed:
                keys = typed[:typed.index("#")]
            elif len(typed) >= ask.max_digits:
                keys = typed[:ask.max_digits]
            else:
                rest = await self.ch.collect_keys(ask.max_digits - len(typed), self.r.cfg.keys_timeout_ms)
                keys, timed_out = typed + rest.keys, rest.timed_out
        self.modes.add("keypad")
        shown = nikmod.mask(keys) if ask.grammar == "digits" else keys
        await self._log("keys", keys=shown, detail={"count": len(keys), "timed_out": timed_out})
        return KeysEntered(self.r.clock(), keys, timed_out)

    def _hearing(self, ask: Ask) -> Hearing:
        """The spoken side of a question: its recording name, endpointing, and when
        an answer heard so far is already whole (so the caller need not wait)."""
        cfg = self.r.cfg
        if ask.grammar == "digits":
            need = ask.max_digits

            def complete(t: Transcript) -> bool:
                return len(words_to_digits(t.text)) >= need
            end_ms = cfg.speech_end_digits_ms      # callers pause between NIK groups
        else:
            grammar = ask.grammar

            def complete(t: Transcript) -> bool:
                # A short answer whose meaning is already sure: readings that mean the
                # same ("benar" beside "ya") add up, as the dialogue counts them.
                if len(t.text.split()) > 2 or speech_answer(t.text, grammar).kind is Kind.NOTHING:
                    return False
                alts = tuple((h.text, h.confidence) for h in t.alternatives)
                return meaning_confidence(t.text, t.confidence, alts, grammar) >= cfg.complete_confidence
            end_ms = cfg.speech_end_ms
        return Hearing(name=f"{self.call_id}-{self.seq:02d}", grammar=ask.grammar, max_ms=cfg.record_max_ms,
                      silence_s=cfg.record_silence_s, start_ms=cfg.listen_start_ms, end_ms=end_ms,
                      complete=complete)

    async def _decode(self, got: Answer, grammar: str) -> Event:
        path, duration_ms = got.recording, got.duration_ms
        if path is None or not path.exists():
            await self._log("no_input", detail={"reason": "no recording"})
            return NoInput(self.r.clock(), "silence")
        await self._store_quietly(self.r.store.add_recording, self.call_id, str(path), f"speech:{grammar}",
                                  duration_ms)
        transcript = got.transcript
        if transcript is None:
            try:
                transcript = await asyncio.get_running_loop().run_in_executor(
                    self.r.decode_pool, self.r.recognizer.recognize, path, grammar)
            except RecognizerError as exc:
                # Speech is gone for this call; the flow goes on by keypad.
                self.speech_ok = False
                log.error("speech recognition failed; continuing this call by keypad: %s", exc)
                await self._log("fault", detail={"kind": "recognizer"})
                return NoInput(self.r.clock(), "silence")
        if not transcript.text.strip():
            await self._log("no_input", detail={"reason": "silence", "decode_s": round(transcript.decode_s, 3)})
            return NoInput(self.r.clock(), "silence")
        self.modes.add("speech")
        shown = transcript.text
        if grammar == "digits":
            digits = words_to_digits(transcript.text)
            shown = nikmod.mask(digits) if digits else "[no digits]"
        detail = {"grammar": grammar, "words": len(transcript.text.split()),
                  "alternatives": len(transcript.alternatives), "decode_s": round(transcript.decode_s, 3)}
        if got.barged_in:
            detail["barged_in"] = True
        await self._log("speech", transcript=shown, confidence=round(transcript.confidence, 3), detail=detail)
        alts = tuple((h.text, h.confidence) for h in transcript.alternatives)
        return SpeechHeard(self.r.clock(), transcript.text, transcript.confidence, alts, str(path),
                           evidence=tuple(getattr(transcript, "evidence", ())))

    async def _listen(self, action: Listen) -> Event:
        """Just after an outbound call is answered: hear whether someone says "halo"
        (the recording stops after the silence that follows) or wait the time out.
        The clip itself is not kept: it only answers "was anyone there?"."""
        self.seq += 1
        await self._flush()
        rec = await self.ch.record(f"{self.call_id}-hello-{self.seq:02d}", action.max_ms, action.silence_s,
                                   ALL_KEYS)
        # a key pressed now is not an answer to a question not yet asked: it only says "someone is there"
        heard = rec.key is not None or recording_has_voice(rec.path, 200)
        if rec.path is not None:
            rec.path.unlink(missing_ok=True)
        await self._log("listened", detail={"heard": heard, "duration_ms": rec.duration_ms})
        return Recorded(self.r.clock(), rec.duration_ms, heard)

    # --- the rest ------------------------------------------------------------------------
    async def _lookup(self, action: Lookup) -> Event:
        # The caller is waiting in silence: past the limit they hear the apology, whatever
        # the database is doing (a lock held, a hung server, every db thread busy).  A
        # lookup still queued for a thread is cancelled; one already running ends at the
        # store's own lock timeout.
        try:
            async with asyncio.timeout(self.r.cfg.db_timeout_s):
                recipient = await self._db(self.r.store.lookup, action.nik)
        except (StoreError, TimeoutError) as exc:
            why = "timeout" if isinstance(exc, TimeoutError) else "error"
            log.error("lookup failed (%s): %s", why, type(exc).__name__)
            await self._log("fault", detail={"kind": "store", "during": "lookup", "error": why})
            return Fault(self.r.clock(), "store")
        await self._log("lookup", detail={"status": recipient.status if recipient else "not_found"})
        return LookupDone(self.r.clock(), recipient)

    async def _record(self, action: Record) -> Event:
        ids = await self._resolve(action.items)
        await self._log("prompt", prompts=tuple(ids))
        await self._flush()
        self.pending_key = None
        await self.ch.play(ids, "")
        self.seq += 1
        name = f"{self.call_id}-{action.purpose}-{self.seq:02d}"
        try:
            rec = await self.ch.record(name, self.r.cfg.complaint_max_ms, self.r.cfg.complaint_silence_s, "#",
                                       beep=True, start_window_ms=self.r.cfg.listen_start_ms)
        except CallerHungUp as exc:
            partial = getattr(exc, "recording", None)
            if partial is not None:
                await self._store_quietly(self.r.store.add_recording, self.call_id, str(partial), action.purpose, 0)
            raise
        heard = recording_has_voice(rec.path, self.r.cfg.min_message_ms)
        if rec.path is not None and rec.path.exists():
            await self._store_quietly(self.r.store.add_recording, self.call_id, str(rec.path), action.purpose,
                                      rec.duration_ms)
        await self._log("recorded", detail={"purpose": action.purpose, "duration_ms": rec.duration_ms,
                                            "heard": heard})
        return Recorded(self.r.clock(), rec.duration_ms, heard)

    async def _confirmed(self, action: NikConfirmed) -> None:
        await self._store_quietly(self.r.store.set_call_nik, self.call_id, action.nik)
        await self._log("nik_confirmed", detail={"nik": nikmod.mask(action.nik)})
        save = getattr(self.r.store, "save_training_utterance", None)
        if not (self.r.cfg.keep_training_audio and save is not None):
            return
        for n, (path, digits) in enumerate(action.training, start=1):
            kept = path
            if self.r.cfg.training_dir is not None:
                kept = str(self.r.cfg.training_dir / f"{self.call_id}-{n}.wav")
                try:
                    await asyncio.get_running_loop().run_in_executor(self.r.db_pool, _copy, Path(path), Path(kept))
                except OSError as exc:
                    log.warning("could not keep a training utterance: %s", exc.strerror)
                    continue
            await self._store_quietly(save, self.call_id, kept, digits)
