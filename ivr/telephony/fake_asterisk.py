"""A fake Asterisk that places one call into our FastAGI server, byte for byte.

Asterisk is the TCP *client* of FastAGI: it connects, sends the ``agi_*`` block and
then answers each command line.  This fake does the same, and plays the caller
from a script of turns:

* ``Keys("3172...")`` -- keys the caller presses when the service next listens:
  GET DATA takes up to its maximum (``#`` ends it), RECORD FILE stopped by the key
  takes one and answers ``(dtmf)``, WAIT FOR DIGIT takes one; prompts play fully.
  ``Keys("1", barge_in=True)`` presses during a prompt instead: STREAM FILE with the
  key among its stop digits takes one and stops early.  Keys the command does not
  accept stay queued for a later question;
  Keys left over when GET DATA stops at its maximum (a NIK typed with a trailing
  ``#``) were already pressed: they reach the next command, as on a real line.  A
  key that command does not take as an escape digit is lost, as Asterisk drops it;
* ``Say(wav, after_s=3)`` -- spoken at the next RECORD FILE, ``after_s`` seconds
  after it starts (converted to 8 kHz mono 16-bit and written where Asterisk would
  write it); GET DATA / WAIT FOR DIGIT hear nothing and time out;
* ``Silence()`` -- the next input command times out (RECORD writes silence);
* ``HangUp()`` -- at the next command the caller hangs up: a ``HANGUP`` line and
  the reply Asterisk gives a dead channel (``result=-1`` or ``511``).

When the script is used up and the service asks for input, the caller hangs up.
Every prompt must exist under ``audio_dir`` as 8 kHz mono 16-bit WAV; a missing or
wrong one is answered ``200 result=-1 endpos=0`` (as Asterisk does) and reported.

RECORD FILE follows res_agi.c's ``handle_recordfile`` on a line that carries audio
all the time: ``BEEP`` streams the sound ``beep``, and without it (the andrius image
has no core sounds) the reply is ``200 result=-1 (randomerror) endpos=0``; the
``s=N`` silence detector counts from the start of the recording, leading silence
included (dsp.c: a 20 ms frame is silent when its mean magnitude is below 256), so
a caller who starts later than N seconds is cut off; when it fires the file is
rewound by N-1 seconds and the reply is ``(timeout)`` with the milliseconds that
were left as its result.  After ``EXEC Queue`` an operator call that was answered
and bridged leaves QUEUESTATUS unset and the reply is ``result=-1`` (app_queue.c).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import tomllib
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Union

import numpy as np

from ivr.telephony import agi, audio

log = logging.getLogger(__name__)


# --- the script ---------------------------------------------------------------------------

# A scripted caller waits for the question to finish unless told to barge in: that
# is how scenarios read ("press 1 to confirm" after the read-back, not during it).
BARGE_IN_DEFAULT = False

@dataclass(frozen=True)
class Keys:
    """Keys the caller presses.  ``barge_in``: pressed while a prompt that accepts
    them is still playing (STREAM FILE stops early); ``during``: pressed while that
    prompt id plays (lost if it does not accept them); otherwise the caller waits
    for the service to listen (GET DATA, RECORD FILE, WAIT FOR DIGIT)."""

    digits: str
    barge_in: bool = BARGE_IN_DEFAULT
    during: str | None = None


@dataclass(frozen=True)
class Say:
    """Speech.  ``after_s``: at a RECORD FILE, the caller starts this long after the
    line starts listening (elderly callers pause before sixteen digits); in an
    AudioSocket session, this long after the question's prompt ends, or this long
    into the prompt with ``barge_in`` (talking over it)."""

    wav: Path
    after_s: float = 0.0
    barge_in: bool = False


@dataclass(frozen=True)
class Silence:
    pass


@dataclass(frozen=True)
class HangUp:
    """``hangup_line_first``: send ``HANGUP`` before the reply to the command in
    flight (as the brief describes) or after it (as Asterisk often does);
    ``during``: hang up while that prompt id plays, not at the next command."""

    hangup_line_first: bool = True
    during: str | None = None
    after_s: float = 0.0       # > 0: at the next question, this far into its AudioSocket session


Turn = Union[Keys, Say, Silence, HangUp]


def load_scenario(path: Path) -> list[Turn]:
    """Turns from a JSON or TOML file: a list (or ``turns = [...]``) of tables such
    as ``{keys = "3172..."}``, ``{keys = "1", barge_in = true}``, ``{say = "nik.wav"}``,
    ``{say = "nik.wav", after_s = 3}`` (``barge_in = true``: over the prompt, AudioSocket),
    ``{silence = true}``, ``{hangup = true}``.  Relative ``say`` paths are relative
    to the file."""
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    items = data.get("turns") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of turns (or turns = [...])")
    return [_turn(item, path.parent, n) for n, item in enumerate(items, 1)]


def _turn(item: object, base: Path, n: int) -> Turn:
    if isinstance(item, dict) and "keys" in item and set(item) <= {"keys", "barge_in"}:
        digits, barge_in = str(item["keys"]), item.get("barge_in", BARGE_IN_DEFAULT)
        if digits and all(c in agi.DTMF_KEYS for c in digits) and isinstance(barge_in, bool):
            return Keys(digits, barge_in)
    elif isinstance(item, dict) and "say" in item and set(item) <= {"say", "after_s", "barge_in"}:
        value, after, barge = item["say"], item.get("after_s", 0.0), item.get("barge_in", False)
        if isinstance(value, str) and isinstance(after, (int, float)) and not isinstance(after, bool) \
                and 0 <= after <= 60 and isinstance(barge, bool):
            p = Path(value)
            return Say(p if p.is_absolute() else base / p, float(after), barge)
    elif isinstance(item, dict) and len(item) == 1:
        (kind, value), = item.items()
        if kind == "silence":
            return Silence()
        elif kind == "hangup":
            return HangUp()
    raise ValueError(f"turn {n}: expected one of keys/say/silence/hangup, got {item!r}")


# --- the result -------------------------------------------------------------------------

@dataclass(frozen=True)
class Exchange:
    command: str
    args: tuple[str, ...]
    reply: str


@dataclass(frozen=True)
class Event:
    """One step of the conversation as the caller lived it (for printing)."""

    kind: str          # prompt | keys | say | silence | record | transfer | hangup
    detail: str = ""


@dataclass(frozen=True)
class FakeCallResult:
    uniqueid: str
    exchanges: tuple[Exchange, ...]
    prompts: tuple[str, ...]
    keys: str
    events: tuple[Event, ...]
    recordings: tuple[Path, ...]
    problems: tuple[str, ...]
    ended_by: str                  # service | caller | service-closed | timeout | error
    clean: bool
    variables: tuple[tuple[str, str], ...] = ()
    step_latencies: tuple[float, ...] = ()   # seconds the service took before each command
    # What res_agi.c sets when the AGI ends: FAILURE when the service could not be
    # reached, HANGUP when the caller hung up, SUCCESS when the service closed.
    agi_status: str = "SUCCESS"

    @property
    def dialplan_continues(self) -> bool:
        """The caller is still on the line when the AGI ends: Asterisk goes on with
        the next priority of the dialplan (nobody hung up)."""
        return self.agi_status == "FAILURE" or self.ended_by in ("service-closed", "error")
    audiosocket_sessions: tuple = ()         # fake_audiosocket.SessionResult, one per EXEC AudioSocket
    walls: tuple[tuple[float, float], ...] = ()  # perf_counter: each command received, answered

    def commands(self) -> list[str]:
        return [e.command for e in self.exchanges]


# --- the call -----------------------------------------------------------------------------

_KNOWN = [("WAIT", "FOR", "DIGIT"), ("CHANNEL", "STATUS"), ("STREAM", "FILE"), ("GET", "DATA"),
          ("RECORD", "FILE"), ("SET", "VARIABLE"), ("GET", "VARIABLE"), ("SAY", "DIGITS"),
          ("ANSWER",), ("HANGUP",), ("EXEC",), ("NOOP",), ("VERBOSE",)]
_DEAD_SAFE = {"EXEC", "SET VARIABLE", "GET VARIABLE", "NOOP", "VERBOSE"}
_MEDIA = {"STREAM FILE", "GET DATA", "RECORD FILE", "WAIT FOR DIGIT", "SAY DIGITS"}
_INPUT = {"GET DATA", "RECORD FILE", "WAIT FOR DIGIT"}
_USAGE = {
    "STREAM FILE": "Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]",
    "GET DATA": "Usage: GET DATA <file to be streamed> [<timeout>] [<maxdigits>]",
    "RECORD FILE": "Usage: RECORD FILE <filename> <format> <escape_digits> <timeout> "
                   "[<offset samples>] [BEEP] [s=<silence>]",
    "WAIT FOR DIGIT": "Usage: WAIT FOR DIGIT <timeout>",
    "SET VARIABLE": "Usage: SET VARIABLE <variablename> <value>",
    "GET VARIABLE": "Usage: GET VARIABLE <variablename>",
    "EXEC": "Usage: EXEC <application> <options>",
    "SAY DIGITS": "Usage: SAY DIGITS <number> <escape_digits>",
}
DEFAULT_TRANSFER_STATUS = {"queue": "TIMEOUT", "dial": "NOANSWER"}
_STATUS_VAR = {"queue": "QUEUESTATUS", "dial": "DIALSTATUS"}
# The values app_queue.c and app_dial.c really set.  ``BRIDGED`` is not one of them:
# it tells the fake that an operator answered, talked and hung up, after which
# Queue leaves QUEUESTATUS unset and Dial sets DIALSTATUS=ANSWER, and both return -1
# to the AGI with the caller still on the line.
QUEUE_STATUSES = frozenset({"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL",
                            "LEAVEUNAVAIL", "CONTINUE", "WITHDRAW"})
DIAL_STATUSES = frozenset({"CHANUNAVAIL", "CONGESTION", "NOANSWER", "BUSY", "ANSWER", "CANCEL",
                           "DONTCALL", "TORTURE", "INVALIDARGS"})
BRIDGED = "BRIDGED"
_OTHER_APPS = {"playback", "wait", "noop", "set", "musiconhold", "background"}
# dsp.c's default silence threshold (dsp.conf silencethreshold) and Asterisk's
# 20 ms voice frames.
SILENCE_THRESHOLD = 256
FRAME = audio.RATE // 50
MAX_COMMANDS = 2000
_ids = itertools.count(1)


def _reply_520(usage: str) -> str:
    return (f"520-Invalid command syntax.  Proper usage follows:\n{usage}\n"
            "520 End of proper usage.\n")


R_510 = "510 Invalid or unknown command\n"
R_511 = "511 Command Not Permitted on a dead channel or intercept routine\n"


class _Call:
    """The state of one fake call; ``handle`` answers one command line."""

    def __init__(self, script: Iterable[Turn], *, sounds_prefix: str, audio_dir: Path,
                 asterisk_spool: str, spool_dir: Path, save_audio: bool,
                 transfer_status: Mapping[str, str], core_sounds: frozenset[str] = frozenset(),
                 audiosocket: bool = True, audiosocket_speed: float = 1.0, pace: bool = False):
        self.turns: deque[Turn] = deque(script)
        self.sounds_prefix = sounds_prefix.rstrip("/")
        self.audio_dir = audio_dir
        self.asterisk_spool = asterisk_spool.rstrip("/")
        self.spool_dir = spool_dir
        self.save_audio = save_audio
        self.transfer_status = _checked_statuses(transfer_status)
        # Asterisk's own sounds for the channel language ("beep"): none in the
        # andrius/asterisk image, which is built without core sounds.
        self.core_sounds = core_sounds
        self.live = True
        self.ended_by = ""
        self.close_after = False
        self.variables: dict[str, str] = {}
        self.exchanges: list[Exchange] = []
        self.step_latencies: list[float] = []
        self.prompts: list[str] = []
        self.keys: list[str] = []
        self.events: list[Event] = []
        self.recordings: list[Path] = []
        self.problems: list[str] = []
        self.heard: list[np.ndarray] = []
        self._prompt_cache: dict[Path, audio.PromptAudio] = {}
        self._in_flight = False          # the head Keys turn was already pressed
        self._stopped_by_flight = False
        self._say_waiting = False        # a Say at the head is already counting down
        self._silence_heard = False      # a Silence at the head has met a recording
        self._hangup_echo = False        # the second HANGUP line is still to come
        self.audiosocket = audiosocket            # app_audiosocket loaded
        self.audiosocket_speed = audiosocket_speed
        self.audiosocket_sessions: list = []
        self.pace = pace                          # media commands take their real time (benchmarks)
        self.walls: list[tuple[float, float]] = []  # perf_counter when each command came and was answered

    # --- dispatch ------------------------------------------------------------------------

    async def handle(self, line: str) -> str:
        received = time.perf_counter()
        reply = await self._handle(line)
        self.walls.append((received, time.perf_counter()))
        return reply

    async def _handle(self, line: str) -> str:
        words = agi.split_command(line)
        name, args = _match(words)
        if len(self.exchanges) >= MAX_COMMANDS and self.live:
            self.problems.append(f"service sent more than {MAX_COMMANDS} commands; caller hangs up")
            self.turns.appendleft(HangUp())
        if name is None:
            reply = R_510
        else:
            reply = await self._dispatch(name, args)
        self.exchanges.append(Exchange(name or line.strip(), tuple(args), reply))
        return reply

    async def _dispatch(self, name: str, args: list[str]) -> str:
        if self._silence_heard and name != "RECORD FILE":
            self._silence_heard = False
            if self.turns and isinstance(self.turns[0], Silence):
                self.turns.popleft()
        if self.live:
            head = self.turns[0] if self.turns else None
            # HangUp(after_s=...) waits for the next listening command: mid-session in an
            # AudioSocket one, at once in a RECORD FILE / GET DATA.
            if isinstance(head, HangUp) and (head.during is None or self._playing(name, args) == head.during) \
                    and (not head.after_s or name in _INPUT):
                self.turns.popleft()
                return await self._hang_up_at(name, args, head.hangup_line_first)
            if head is None and name in _INPUT:
                return await self._hang_up_at(name, args, True)
        else:
            # res_agi's loop sends HANGUP once more after the first reply on the dead
            # channel (hash.txt: "511 ...", then "HANGUP").
            echo, self._hangup_echo = ("HANGUP\n" if self._hangup_echo else ""), False
            if name not in _DEAD_SAFE:
                if name == "HANGUP":
                    self.close_after = True
                return R_511 + echo
            return await self._dispatch_live(name, args) + echo
        return await self._dispatch_live(name, args)

    async def _dispatch_live(self, name: str, args: list[str]) -> str:
        handler = getattr(self, "_cmd_" + name.lower().replace(" ", "_"))
        return await handler(args)

    def _playing(self, name: str, args: list[str]) -> str | None:
        """The prompt id a STREAM FILE plays, else None."""
        prefix = self.sounds_prefix + "/"
        if name == "STREAM FILE" and args and args[0].startswith(prefix):
            return args[0][len(prefix):]
        return None

    async def _hang_up_at(self, name: str, args: list[str], line_first: bool) -> str:
        self.live = False
        self._hangup_echo = True
        self.ended_by = self.ended_by or "caller"
        self.events.append(Event("hangup", "caller"))
        if name == "STREAM FILE":
            # ast_waitstream reports where the prompt stopped (hash.txt: endpos=74400).
            prompt = await self._prompt(args[0]) if args else None
            reply = f"200 result=-1 endpos={prompt.frames // 2 if prompt else 0}\n"
        elif name == "RECORD FILE":
            reply = "200 result=-1 (hangup) endpos=0\n"
        elif name in _MEDIA or name == "EXEC":
            reply = "200 result=-1\n"
        elif name in _DEAD_SAFE:
            reply = self._dead_safe_reply(name, args)
        else:
            reply = R_511
        if name == "HANGUP":
            self.close_after = True
        return "HANGUP\n" + reply if line_first else reply + "HANGUP\n"

    def _dead_safe_reply(self, name: str, args: list[str]) -> str:
        if name == "SET VARIABLE" and len(args) == 2:
            self.variables[args[0]] = args[1]
            return "200 result=1\n"
        if name == "GET VARIABLE" and len(args) == 1:
            return self._get_variable(args[0])
        return "200 result=0\n"

    # --- commands ---------------------------------------------------------------------------

    async def _cmd_answer(self, args: list[str]) -> str:
        return "200 result=0\n"

    async def _cmd_noop(self, args: list[str]) -> str:
        return "200 result=0\n"

    async def _cmd_verbose(self, args: list[str]) -> str:
        return "200 result=1\n"

    async def _cmd_channel_status(self, args: list[str]) -> str:
        return "200 result=6\n"  # AST_STATE_UP

    async def _cmd_hangup(self, args: list[str]) -> str:
        self.live = False
        self.ended_by = self.ended_by or "service"
        self.close_after = True
        self.events.append(Event("hangup", "service"))
        return "200 result=1\n"

    async def _cmd_set_variable(self, args: list[str]) -> str:
        if len(args) != 2:
            return _reply_520(_USAGE["SET VARIABLE"])
        return self._dead_safe_reply("SET VARIABLE", args)

    async def _cmd_get_variable(self, args: list[str]) -> str:
        if len(args) != 1:
            return _reply_520(_USAGE["GET VARIABLE"])
        return self._get_variable(args[0])

    def _get_variable(self, name: str) -> str:
        if name in self.variables:
            return f"200 result=1 ({self.variables[name]})\n"
        return "200 result=0\n"

    async def _cmd_exec(self, args: list[str]) -> str:
        if not args:
            return _reply_520(_USAGE["EXEC"])
        app = args[0].lower()
        if app in _STATUS_VAR:
            status = self.transfer_status.get(app, DEFAULT_TRANSFER_STATUS[app])
            self.events.append(Event("transfer", f"{args[0]} {' '.join(args[1:])}".strip()))
            if status == BRIDGED:
                # Answered and bridged; the operator has hung up, the caller is still here.
                if app == "dial":
                    self.variables["DIALSTATUS"] = "ANSWER"
                self.events.append(Event("transfer", "bridged to an operator, who then hung up"))
                return "200 result=-1\n"
            self.variables[_STATUS_VAR[app]] = status
            return "200 result=0\n"
        if app in _OTHER_APPS:
            return "200 result=0\n"
        if app == "audiosocket" and self.audiosocket:
            return await self._audiosocket(" ".join(args[1:]))
        return "200 result=-2\n"

    async def _audiosocket(self, target: str) -> str:
        from ivr.telephony import fake_audiosocket as fas

        if not self.live:
            return "200 result=-1\n"          # the channel is not up: Asterisk connects, then gives up
        head = self.turns.popleft() if self.turns else None
        plan = fas.CallerPlan()
        if isinstance(head, Say):
            try:
                plan.speech = await asyncio.to_thread(audio.to_telephone, head.wav)
            except (OSError, RuntimeError, ValueError) as exc:
                self.problems.append(f"cannot read the caller's audio {head.wav}: {exc}")
            plan.after_s, plan.barge_in = head.after_s, head.barge_in
        elif isinstance(head, Keys):
            plan.keys, plan.barge_in = head.digits, head.barge_in
        elif isinstance(head, HangUp):
            plan.hangup_after_s = head.after_s
        elif head is None:
            plan.hangup_after_s = 0.0      # script used up: the caller hangs up
        session = await fas.run_session(target, plan, speed=self.audiosocket_speed, keep_audio=self.save_audio,
                                        hangup_line_first=getattr(head, "hangup_line_first", True),
                                        seed=len(self.audiosocket_sessions))
        self.audiosocket_sessions.append(session)
        self.problems.extend(session.problems)
        self.events.append(Event("audiosocket", f"{session.prompt_ms / 1000:.1f} s of prompt audio"))
        if isinstance(head, Keys):
            self.keys.append(session.keys_sent)
            self._heard_keys(session.keys_sent)
            if head.digits[len(session.keys_sent):]:
                self.turns.appendleft(Keys(head.digits[len(session.keys_sent):], head.barge_in))
        elif isinstance(head, Say) and session.spoke:
            self.events.append(Event("say", str(head.wav)))
        elif isinstance(head, Say):
            self.turns.appendleft(head)       # never got to speak (session ended first)
        elif isinstance(head, Silence):
            self.events.append(Event("silence", "while listening"))
        if self.save_audio:
            self.heard.extend(session.heard)
        if session.caller_hung_up:
            self.live = False
            self._hangup_echo = True
            self.ended_by = self.ended_by or "caller"
            self.events.append(Event("hangup", "caller"))
        return session.reply

    async def _cmd_stream_file(self, args: list[str]) -> str:
        if not 2 <= len(args) <= 3:
            return _reply_520(_USAGE["STREAM FILE"])
        offset = int(args[2]) if len(args) == 3 and args[2].isdigit() else 0
        prompt = await self._prompt(args[0])
        if prompt is None:
            return "200 result=-1 endpos=0\n"
        offset = min(offset, prompt.frames)
        key = self._take_key(args[1], self._playing("STREAM FILE", args))
        if key is not None:
            # A key already on its way stops the prompt at once; a barge-in halfway.
            stop = min(offset + 2560, prompt.frames) if self._stopped_by_flight \
                else offset + (prompt.frames - offset) // 2
            self._heard_prompt(prompt, stop, offset)
            self._heard_keys(key)
            return f"200 result={ord(key)} endpos={stop}\n"
        self._heard_prompt(prompt, prompt.frames, offset)
        await self._paced(prompt.frames - offset)
        return f"200 result=0 endpos={prompt.frames}\n"

    async def _cmd_say_digits(self, args: list[str]) -> str:
        if len(args) != 2 or not args[0].isdigit():
            return _reply_520(_USAGE["SAY DIGITS"])
        self.events.append(Event("say_digits", f"{len(args[0])} digits"))
        key = self._take_key(args[1])
        if key is not None:
            self._heard_keys(key)
            return f"200 result={ord(key)}\n"
        return "200 result=0\n"

    async def _cmd_get_data(self, args: list[str]) -> str:
        if not args:
            return _reply_520(_USAGE["GET DATA"])
        try:
            timeout_ms = int(args[1]) if len(args) > 1 else 0
            max_digits = int(args[2]) if len(args) > 2 else 1024
        except ValueError:
            return _reply_520(_USAGE["GET DATA"])
        prompt = await self._prompt(args[0])
        if prompt is None:
            return "200 result=-1\n"
        head = self.turns[0] if self.turns else None
        if not isinstance(head, Keys) or head.during is not None and not self._in_flight:
            self._heard_prompt(prompt, prompt.frames)
            self._consume_quiet_turn(head, timeout_ms, prompt.frames)
            return "200 result= (timeout)\n"
        # ast_readstring: digits until the maximum, '#' ends the entry (and is not
        # returned); whatever the caller pressed after that is still on its way.
        taken, consumed, ended = [], 0, False
        for ch in head.digits:
            if len(taken) >= max_digits:
                break
            consumed += 1
            if ch == "#":
                ended = True
                break
            taken.append(ch)
        self._shift_keys(consumed)
        digits = "".join(taken)
        self._heard_prompt(prompt, prompt.frames // 2 if consumed else prompt.frames)
        self._heard_keys(head.digits[:consumed])
        timed_out = not ended and len(taken) < max_digits
        if timed_out and self.save_audio:
            self.heard.append(audio.silence(min(timeout_ms, 3000)))
        return f"200 result={digits}{' (timeout)' if timed_out else ''}\n"

    async def _cmd_wait_for_digit(self, args: list[str]) -> str:
        if len(args) != 1:
            return _reply_520(_USAGE["WAIT FOR DIGIT"])
        head = self.turns[0] if self.turns else None
        if isinstance(head, Keys):
            key = head.digits[0]
            self._shift_keys(1)
            self._heard_keys(key)
            return f"200 result={ord(key)}\n"
        self._consume_quiet_turn(head, 1000)
        return "200 result=0\n"

    async def _cmd_record_file(self, args: list[str]) -> str:
        """res_agi.c ``handle_recordfile``: argv[6..] may hold a sample offset, BEEP
        and ``s=N``; any word there that is neither a number nor holds '=' asks for
        the sound ``beep`` first."""
        if len(args) < 4:
            return _reply_520(_USAGE["RECORD FILE"])
        file, fmt, stop, max_text = args[:4]
        try:
            max_ms = int(max_text)
        except ValueError:
            return _reply_520(_USAGE["RECORD FILE"])
        extras = args[4:]
        silence_ms = _silence_option(extras)
        wants_beep = (len(extras) > 0 and not _is_int(extras[0]) and "=" not in extras[0]) or \
                     (len(extras) > 1 and "=" not in extras[1])
        if wants_beep and "beep" not in self.core_sounds:
            # ast_streamfile("beep") fails: res = -1, nothing is recorded, the channel
            # is still up.
            self.events.append(Event("record", "no 'beep' sound: (randomerror)"))
            return "200 result=-1 (randomerror) endpos=0\n"
        target = self._record_path(file, fmt)
        if target is None:
            return "200 result=-1 (writefile)\n"
        key = self._key_at_record(stop)
        if key is not None:
            await asyncio.to_thread(audio.write_wav, target, audio.silence(0))
            self._recorded(target)
            self._heard_keys(key)
            return f"200 result={ord(key)} (dtmf) endpos=0\n"
        head = self.turns[0] if self.turns else None
        limit_ms = max_ms if max_ms > 0 else 600_000
        lead_ms, speech = 0, audio.silence(0)
        if isinstance(head, Say):
            lead_ms = int(round(head.after_s * 1000))
            try:
                speech = await asyncio.to_thread(audio.to_telephone, head.wav)
            except (OSError, RuntimeError, ValueError) as exc:
                self.problems.append(f"cannot read the caller's audio {head.wav}: {exc}")
                speech = audio.silence(500)
        # The line carries audio all the time: quiet before the caller starts and
        # after they stop, for as long as the recording could last.
        line = np.concatenate([audio.silence(min(lead_ms, limit_ms + 20)), speech,
                               audio.silence(max(limit_ms + 20 - lead_ms - len(speech) // 8, 0))])
        written, got_silence = _record_frames(line, limit_ms, silence_ms)
        elapsed_ms = written * 20
        samples = line[: written * FRAME]
        if got_silence:
            samples = samples[: max(len(samples) - (silence_ms - 1000) * audio.RATE // 1000, 0)]
        if isinstance(head, Say):
            if lead_ms < elapsed_ms:
                self.turns.popleft()
                self._say_waiting = False
                self.events.append(Event("say", str(head.wav)))
            else:
                # The caller has not started yet; the line stopped listening first.
                # Their clock is running now: what the service does next takes time.
                self.turns[0] = Say(head.wav, (lead_ms - elapsed_ms) / 1000, head.barge_in)
                self._say_waiting = True
                self.events.append(Event("silence", "recording ended before the caller spoke"))
        else:
            # A Silence turn is the caller keeping quiet through the whole question,
            # however many times the line listens; it is used up once the service
            # moves on (see _dispatch).
            self._silence_heard = isinstance(head, Silence)
            self.events.append(Event("silence", "while recording"))
        await asyncio.to_thread(audio.write_wav, target, samples)
        await self._paced(elapsed_ms * audio.RATE // 1000)
        self._recorded(target)
        if self.save_audio:
            self.heard.append(samples)
        # ast_waitfor's last return: the milliseconds that were left.
        left = max(max_ms - elapsed_ms, 0) if max_ms > 0 else 0
        return f"200 result={left} (timeout) endpos={len(samples)}\n"

    # --- helpers ------------------------------------------------------------------------------

    async def _paced(self, samples: int) -> None:
        """With ``pace``, a media command lasts as long as its audio on the line."""
        if self.pace and samples > 0:
            await asyncio.sleep(samples / audio.RATE / self.audiosocket_speed)

    async def _prompt(self, file: str) -> audio.PromptAudio | None:
        """Map an Asterisk sound name back to the local audio folder and check it."""
        prefix = self.sounds_prefix + "/"
        if not file.startswith(prefix):
            self.problems.append(f"prompt {file!r} is outside the sounds folder {self.sounds_prefix}")
            log.warning("fake asterisk: prompt outside the sounds folder")
            return None
        prompt_id = file[len(prefix):]
        path = self.audio_dir / f"{prompt_id}.wav"
        found = self._prompt_cache.get(path)
        if found is None:
            found = await asyncio.to_thread(audio.load_prompt, path, self.save_audio)
            self._prompt_cache[path] = found
        if found.problem:
            self.problems.append(f"prompt {prompt_id}: {found.problem} ({path})")
            log.warning("fake asterisk: prompt %s is %s", prompt_id, found.problem)
            return None
        self.prompts.append(prompt_id)
        self.events.append(Event("prompt", prompt_id))
        return found

    def _record_path(self, file: str, fmt: str) -> Path | None:
        prefix = self.asterisk_spool + "/"
        if not file.startswith(prefix):
            self.problems.append(f"recording {file!r} is outside the spool {self.asterisk_spool}")
            return None
        if fmt != "wav":
            self.problems.append(f"recording format {fmt!r}: the service expects wav")
            return None
        target = self.spool_dir / f"{file[len(prefix):]}.wav"
        if not target.parent.is_dir():
            # Asterisk does not create folders: ast_writefile fails with (writefile).
            self.problems.append(f"recording folder {target.parent} does not exist")
            return None
        return target

    def _take_key(self, stop_digits: str, prompt_id: str | None = None) -> str | None:
        """The key that stops a prompt: one already on its way (``_in_flight``), one
        pressed during this prompt (``during``), or a scripted barge-in key the prompt
        accepts.  A key pressed now that the prompt does not accept is dropped, as
        ``ast_waitstream`` drops it."""
        self._stopped_by_flight = False
        while self.turns and isinstance(self.turns[0], Keys):
            head = self.turns[0]
            key = head.digits[0]
            if head.during is not None and not self._in_flight:
                if head.during != prompt_id:
                    return None
                self._in_flight = True     # pressed now: from here on like a key on its way
            if self._in_flight:
                self._shift_keys(1)
                if key in stop_digits:
                    self._stopped_by_flight = True
                    return key
                self.events.append(Event("keys_lost", key))
                continue
            if head.barge_in and key in stop_digits:
                self._shift_keys(1)
                return key
            return None
        return None

    def _key_at_record(self, stop_digits: str) -> str | None:
        """A key that stops RECORD FILE before anything is recorded.  Keys it does
        not take are dropped (a key on its way, or one the caller presses anyway)."""
        while self.turns and isinstance(self.turns[0], Keys):
            if self.turns[0].during is not None and not self._in_flight:
                return None                # the caller waits for that prompt
            key = self.turns[0].digits[0]
            self._shift_keys(1)
            if key in stop_digits:
                return key
            self.events.append(Event("keys_lost", key))
        return None

    def _shift_keys(self, n: int) -> None:
        """Use ``n`` keys of the head turn.  The rest were pressed in the same breath:
        they are on their way to whatever command comes next."""
        head = self.turns.popleft()
        assert isinstance(head, Keys)
        self.keys.append(head.digits[:n])
        if head.digits[n:]:
            self.turns.appendleft(Keys(head.digits[n:], head.barge_in, head.during))
            self._in_flight = True
        else:
            self._in_flight = False

    def _consume_quiet_turn(self, head: Turn | None, wait_ms: int, prompt_frames: int = 0) -> None:
        """A key-only question meets silence or speech: it times out, the turn is used."""
        if isinstance(head, (Silence, Say)):
            self.turns.popleft()
            self._say_waiting = False
            self.events.append(Event("silence" if isinstance(head, Silence) else "say",
                                     "no keys" if isinstance(head, Silence) else str(head.wav)))
        if self.save_audio:
            self.heard.append(audio.silence(min(wait_ms, 3000)))

    def _heard_prompt(self, prompt: audio.PromptAudio, frames: int, offset: int = 0) -> None:
        self._prompt_played(frames - offset)
        if self.save_audio and prompt.samples is not None:
            self.heard.append(prompt.samples[offset:frames])
            self.heard.append(audio.silence(150))

    def _prompt_played(self, frames: int) -> None:
        """Time passes while a prompt plays.  A caller due to start speaking in that
        time talks over the line, and the line does not listen: their words are lost."""
        head = self.turns[0] if self.turns else None
        if not isinstance(head, Say) or not self._say_waiting or frames <= 0:
            return
        played_s = frames / audio.RATE
        if head.after_s < played_s:
            self.turns.popleft()
            self._say_waiting = False
            self.problems.append("the service played a prompt over the caller while they spoke")
            self.events.append(Event("say", f"{head.wav} (over a prompt: lost)"))
        else:
            self.turns[0] = Say(head.wav, head.after_s - played_s)

    def _heard_keys(self, keys: str) -> None:
        if keys:
            self.events.append(Event("keys", keys))
            if self.save_audio:
                self.heard.append(audio.dtmf(keys))

    def _recorded(self, target: Path) -> None:
        self.recordings.append(target)
        self.events.append(Event("record", str(target)))


def _is_int(text: str) -> bool:
    return text.lstrip("+-").isdigit()


def _silence_option(extras: list[str]) -> int:
    """``s=N`` among argv[6..8] as res_agi.c reads it (first word holding an 's'),
    in milliseconds; 0 when absent."""
    for word in extras[:3]:
        at = word.find("s")
        if at >= 0:
            rest = word[at:]
            if len(rest) > 2 and rest.startswith("s=") and _is_int(rest[2:]):
                return max(int(rest[2:]), 0) * 1000
            return 0
    return 0


def _record_frames(line: np.ndarray, limit_ms: int, silence_ms: int) -> tuple[int, bool]:
    """How many 20 ms frames RECORD FILE writes before it stops, and whether the
    silence detector stopped it.  dsp.c counts a frame as silent when its mean
    magnitude is under the threshold; any louder frame resets the count; the
    recording ends once the count passes ``silence_ms``."""
    frames = len(line) // FRAME
    mags = np.abs(line[: frames * FRAME].astype(np.int32)).reshape(frames, FRAME).mean(axis=1)
    quiet = 0
    for n in range(frames):
        if (n + 1) * 20 > limit_ms:
            return n, False
        if silence_ms > 0:
            quiet = quiet + 20 if mags[n] < SILENCE_THRESHOLD else 0
            if quiet > silence_ms:
                return n + 1, True
    return frames, False


def _checked_statuses(statuses: Mapping[str, str]) -> dict[str, str]:
    """Refuse a transfer outcome Asterisk never reports (e.g. QUEUESTATUS=ANSWERED)."""
    out = {}
    for app, status in statuses.items():
        app, status = app.lower(), status.upper()
        allowed = QUEUE_STATUSES if app == "queue" else DIAL_STATUSES if app == "dial" else None
        if allowed is not None and status not in allowed | {BRIDGED}:
            raise ValueError(f"Asterisk never sets {_STATUS_VAR[app]}={status}; "
                             f"use one of {sorted(allowed)} or {BRIDGED!r}")
        out[app] = status
    return out
def _is_audiosocket(name: str, args: list[str]) -> bool:
    return name == "EXEC" and bool(args) and args[0].lower() == "audiosocket"


def _match(words: list[str]) -> tuple[str | None, list[str]]:
    upper = [w.upper() for w in words]
    for verb in _KNOWN:
        if tuple(upper[: len(verb)]) == verb:
            return " ".join(verb), words[len(verb):]
    return None, words


# --- running a call ----------------------------------------------------------------------

def agi_environment(host: str, port: int, *, caller: str, uniqueid: str,
                    extra_args: Iterable[str] = ()) -> list[tuple[str, str]]:
    """The header block Asterisk 20 sends for ``AGI(agi://host:port/hotline)``."""
    serial = zlib.crc32(uniqueid.encode()) & 0xFFFFFF
    env = [
        ("agi_network", "yes"), ("agi_network_script", "hotline"),
        ("agi_request", f"agi://{host}:{port}/hotline"),
        ("agi_channel", f"PJSIP/trunk-{serial:08x}"),
        ("agi_language", "id"), ("agi_type", "PJSIP"), ("agi_uniqueid", uniqueid),
        ("agi_version", "20.5.0"), ("agi_callerid", caller), ("agi_calleridname", "unknown"),
        ("agi_callingpres", "0"), ("agi_callingani2", "0"), ("agi_callington", "0"),
        ("agi_callingtns", "0"), ("agi_dnid", "1500123"), ("agi_rdnis", "unknown"),
        ("agi_context", "hotline"), ("agi_extension", "1500123"), ("agi_priority", "2"),
        ("agi_enhanced", "0.0"), ("agi_accountcode", ""),
        ("agi_threadid", str(140000000000000 + serial)),
    ]
    env += [(f"agi_arg_{n}", a) for n, a in enumerate(extra_args, 1)]
    return env


async def run_call(host: str, port: int, script: Iterable[Turn], *,
                   caller: str = "081234567890", uniqueid: str | None = None,
                   sounds_prefix: str, audio_dir: Path, asterisk_spool: str, spool_dir: Path,
                   timeout: float = 30.0, save_wav: Path | None = None,
                   transfer_status: Mapping[str, str] = DEFAULT_TRANSFER_STATUS,
                   agi_args: Iterable[str] = (),
                   env: list[tuple[str, str]] | None = None,
                   core_sounds: Iterable[str] = (),
                   audiosocket: bool = True, audiosocket_speed: float = 1.0,
                   pace: bool = False) -> FakeCallResult:
    """Place one call into the FastAGI server at ``host:port`` and play ``script``.

    ``agi_args`` become ``agi_arg_1``...; ``env`` replaces the whole header block;
    ``core_sounds`` names Asterisk's own sounds that exist (e.g. ``beep``);
    ``audiosocket``: app_audiosocket is loaded (else EXEC AudioSocket answers -2);
    ``audiosocket_speed``: stream the caller's line that many times faster than real time;
    ``pace``: STREAM FILE and RECORD FILE take as long as their audio (at that speed),
    as on a real line (benchmarks)."""
    uniqueid = uniqueid or f"{int(time.time())}.{next(_ids)}"
    call = _Call(script, sounds_prefix=sounds_prefix, audio_dir=Path(audio_dir),
                 asterisk_spool=asterisk_spool, spool_dir=Path(spool_dir),
                 save_audio=save_wav is not None, transfer_status=transfer_status,
                 core_sounds=frozenset(core_sounds),
                 audiosocket=audiosocket, audiosocket_speed=audiosocket_speed, pace=pace)
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        # launch_netscript could not connect: AGISTATUS=FAILURE, the dialplan goes on.
        return FakeCallResult(uniqueid=uniqueid, exchanges=(), prompts=(), keys="", events=(),
                              recordings=(), problems=(f"could not connect: {exc.strerror or exc}",),
                              ended_by="refused", clean=False, agi_status="FAILURE")
    try:
        async with asyncio.timeout(timeout):
            header = env if env is not None else agi_environment(
                host, port, caller=caller, uniqueid=uniqueid, extra_args=agi_args)
            writer.write(agi.format_env(header))
            await writer.drain()
            await _converse(call, reader, writer)
    except TimeoutError:
        call.problems.append(f"call still running after {timeout:.0f} s; the fake gave up")
        call.ended_by = "timeout"
    except (ConnectionError, OSError) as exc:
        call.problems.append(f"connection error: {exc}")
        call.ended_by = call.ended_by or "error"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    if save_wav is not None:
        heard = np.concatenate(call.heard) if call.heard else audio.silence(0)
        await asyncio.to_thread(audio.write_wav, Path(save_wav), heard)
    clean = not call.problems and call.ended_by in ("service", "caller")
    return FakeCallResult(
        uniqueid=uniqueid, exchanges=tuple(call.exchanges), prompts=tuple(call.prompts),
        keys="".join(call.keys), events=tuple(call.events), recordings=tuple(call.recordings),
        problems=tuple(call.problems), ended_by=call.ended_by or "unknown", clean=clean,
        variables=tuple(call.variables.items()), step_latencies=tuple(call.step_latencies),
        agi_status="HANGUP" if call.ended_by == "caller" else "SUCCESS",
        audiosocket_sessions=tuple(call.audiosocket_sessions), walls=tuple(call.walls))


async def _converse(call: _Call, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # How long the service took to send each command after our previous reply (or after
    # the header): its own per-step latency, as Asterisk would see it.
    sent = time.perf_counter()
    while True:
        raw = await reader.readline()
        if raw:
            call.step_latencies.append(time.perf_counter() - sent)
        if not raw:
            if call.live:
                call.ended_by = "service-closed"
                call.problems.append("service closed the connection without HANGUP")
            return
        if not raw.endswith(b"\n"):
            call.problems.append("service sent a partial command line and closed")
            call.ended_by = call.ended_by or "service-closed"
            return
        reply = await call.handle(raw.decode("utf-8", errors="replace"))
        writer.write(reply.encode())
        await writer.drain()
        sent = time.perf_counter()
        if call.close_after:
            return
