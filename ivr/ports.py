"""The small interfaces between the call runner and the outside world.

The dialogue core never imports an adapter; the call runner (``ivr.call``) is the
only module that knows both the core and these ports.  Adapters implement them:
``ivr.telephony`` (Channel), ``ivr.speech`` (Recognizer), ``ivr.store`` (Store).
Everything that crosses a port is a frozen dataclass defined here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence


# --- speech -------------------------------------------------------------------------

@dataclass(frozen=True)
class Hypothesis:
    """One reading of an utterance: lower-case words separated by spaces."""

    text: str
    confidence: float  # 0.0 .. 1.0


@dataclass(frozen=True)
class Transcript:
    """What a recogniser made of one recorded utterance.

    ``text`` is "" when nothing was recognised (silence, noise).  ``alternatives``
    holds the n-best list, best first, and includes the best reading.
    ``evidence`` holds, for a grammar whose answers fall into classes (yes / no),
    the log score of the best reading inside each class (natural-log units: a
    difference of 3 means e^3 = 20 times more likely); a class with no reading at
    all is left out.
    """

    text: str
    confidence: float
    alternatives: tuple[Hypothesis, ...] = ()
    duration_s: float = 0.0
    decode_s: float = 0.0
    evidence: tuple[tuple[str, float], ...] = ()


class Recognizer(Protocol):
    """Decodes one finished recording.  Blocking: call it off the event loop.

    A streaming transport may also call ``recognize_samples(samples, rate, grammar)``
    (8 kHz int16 numpy samples) on the audio heard so far, when the recogniser has it,
    to end a question as soon as the answer is complete."""

    def recognize(self, wav_path: Path, grammar: str) -> Transcript: ...


# --- telephony ----------------------------------------------------------------------

@dataclass(frozen=True)
class CallInfo:
    """What Asterisk tells us about a call when it hands it over."""

    uniqueid: str
    caller: str          # caller id number, may be "" or "unknown"
    channel: str = ""
    language: str = ""
    extension: str = ""
    request: str = ""
    env: tuple[tuple[str, str], ...] = ()
    peer: str = ""       # the address the FastAGI connection came from (the Asterisk box)


@dataclass(frozen=True)
class PlayResult:
    """Result of playing a sequence of prompts; ``key`` is the key that stopped it."""

    key: str | None = None


@dataclass(frozen=True)
class KeysResult:
    keys: str
    timed_out: bool


@dataclass(frozen=True)
class RecordResult:
    """A finished RECORD FILE.  ``key`` is set when a keypress stopped it."""

    path: Path | None          # service-side path of the WAV file (None when absent)
    key: str | None = None
    duration_ms: int = 0


@dataclass(frozen=True)
class Hearing:
    """How to take one spoken answer after a question's prompts.

    ``name`` names the recording (relative to the spool); ``silence_s`` is RECORD
    FILE's silence window; ``start_ms``/``end_ms``/``max_ms`` are a streaming
    transport's endpointing (first word within, pause that ends, longest answer);
    ``complete`` says whether a transcript of what was heard so far is already a
    whole answer (16 digits, a clear yes), so the question can end early."""

    name: str
    grammar: str
    max_ms: int
    silence_s: int
    start_ms: int = 8_000
    end_ms: int = 1_200
    complete: Callable[[Transcript], bool] | None = None


@dataclass(frozen=True)
class Answer:
    """What one question got: a key (``key``, plus any keys pressed right after it in
    the same listening session, ``more_keys``), or speech (``recording``, and the
    ``transcript`` when the transport decoded it already), or nothing."""

    key: str | None = None
    more_keys: str = ""
    recording: Path | None = None
    duration_ms: int = 0
    transcript: Transcript | None = None
    listened: bool = False       # speech was listened for (so no recording means silence)
    barged_in: bool = False      # the caller's voice stopped the prompt


class Channel(Protocol):
    """One live call.  Every method raises ``ivr.errors.CallerHungUp`` when the
    caller has gone, and ``ivr.errors.ChannelError`` on a protocol failure."""

    info: CallInfo

    async def answer(self) -> None: ...

    async def play(self, prompts: Sequence[str], stop_keys: str = "") -> PlayResult:
        """Play prompt ids in order; stop at the first key in ``stop_keys``."""

    async def collect_keys(self, max_digits: int, timeout_ms: int, prompt: str | None = None) -> KeysResult:
        """Collect keypad digits (``#`` ends entry early)."""

    async def record(self, name: str, max_ms: int, silence_s: int, stop_keys: str,
                     beep: bool = False, start_window_ms: int = 0) -> RecordResult:
        """Record the caller into the spool under ``name``; a key in ``stop_keys`` stops it.
        ``start_window_ms``: how long to keep listening for a caller who has not
        started yet (``silence_s`` then only ends speech that has begun).
        A ``CallerHungUp`` raised here carries ``recording``: the partial file, or None."""

    async def ask(self, prompts: Sequence[str], listen: Hearing | None) -> Answer:
        """Play a question and take its answer: any key stops the prompt; with
        ``listen``, speech is taken too (how depends on the transport)."""

    async def transfer(self, app: str, args: str) -> str:
        """Run a dialplan application (Queue, Dial); returns its status text, or
        ``"BRIDGED"`` when the caller was put through and the other side hung up."""

    async def set_variable(self, name: str, value: str) -> None: ...

    async def hangup(self) -> None: ...


# --- store --------------------------------------------------------------------------

# What to bring when the recipient list names nothing else (DESIGN.md section 1).
DEFAULT_DOCUMENTS = ("surat undangan", "KTP asli dan fotokopi", "Kartu Keluarga asli dan fotokopi")


@dataclass(frozen=True)
class RecipientInfo:
    """What the hotline may tell a caller about one NIK."""

    status: str                       # scheduled | not_scheduled | collected | in_review | rejected
    name: str = ""
    phase: str = ""
    collection_date: dt.date | None = None
    time_start: dt.time | None = None
    time_end: dt.time | None = None
    place: str = ""
    address: str = ""
    documents: tuple[str, ...] = ()
    collected_on: dt.date | None = None


@dataclass(frozen=True)
class CallEventRecord:
    """One step of a call as written to the call log."""

    at: dt.datetime
    kind: str                                 # e.g. "prompt", "keys", "speech", "lookup", "state", "fault"
    state: str = ""
    prompts: tuple[str, ...] = ()
    keys: str = ""
    transcript: str = ""
    confidence: float | None = None
    detail: dict = field(default_factory=dict)


class Store(Protocol):
    """The data layer as the call runner sees it.  Blocking: call off the event loop.
    Raises ``ivr.errors.StoreError`` when the database cannot be used."""

    def lookup(self, nik: str) -> RecipientInfo | None: ...

    def start_call(self, info: CallInfo, started: dt.datetime, *, call_id: str | None = None) -> str:
        """Open a call in the log; ``call_id`` lets the caller choose the id up front."""

    def add_events(self, call_id: str, events: Sequence[CallEventRecord]) -> None:
        """Append steps to a call's log, in order, in one write."""

    def add_recording(self, call_id: str, path: str, purpose: str, duration_ms: int) -> str: ...

    def set_call_nik(self, call_id: str, nik: str) -> None: ...

    def finish_call(self, call_id: str, ended: dt.datetime, outcome: str, end_state: str,
                    input_mode: str) -> None: ...

    def add_follow_up(self, call_id: str, reason: str, detail: str = "") -> None: ...
