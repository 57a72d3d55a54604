"""What flows through a call: events the caller and the world produce, actions the
dialogue asks for, and the immutable per-call context.  All frozen dataclasses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

from ivr.ports import RecipientInfo


class State(str, Enum):
    START = "start"
    ASK_NIK = "ask_nik"
    CONFIRM = "confirm"
    FIX_WHICH = "fix_which"
    FIX_GROUP = "fix_group"
    LOOKUP = "lookup"
    MENU = "menu"
    REPORT = "report"
    OPERATOR = "operator"
    CALLBACK_OFFER = "callback_offer"
    MESSAGE = "message"
    FALLBACK = "fallback"
    # outbound calls (ivr.dialogue.outbound)
    HELLO = "hello"                      # just answered: wait for "halo" or 2 s
    REMINDER = "reminder"                # the schedule was read; 1 / 9 / 0 / 8
    CALLBACK_TRANSFER = "callback_transfer"
    END = "end"


# --- what can be spoken --------------------------------------------------------------

@dataclass(frozen=True)
class Spoken:
    """Text known only at call time (a place name, an address), rendered on demand."""

    text: str


PromptItem = str | Spoken


# --- events --------------------------------------------------------------------------

@dataclass(frozen=True)
class CallStarted:
    at: dt.datetime
    caller_known: bool


@dataclass(frozen=True)
class KeysEntered:
    at: dt.datetime
    keys: str
    timed_out: bool = False


@dataclass(frozen=True)
class SpeechHeard:
    at: dt.datetime
    text: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()
    recording: str = ""          # the recording it came from (for training data)
    evidence: tuple[tuple[str, float], ...] = ()   # best log score per answer class (yes / no)


@dataclass(frozen=True)
class NoInput:
    at: dt.datetime
    reason: str = "timeout"      # timeout (keypad) | silence (nothing recognised)


@dataclass(frozen=True)
class LookupDone:
    at: dt.datetime
    recipient: RecipientInfo | None


@dataclass(frozen=True)
class Recorded:
    at: dt.datetime
    duration_ms: int
    heard: bool                  # the recording holds something worth a person's time


@dataclass(frozen=True)
class TransferDone:
    at: dt.datetime
    status: str                  # QUEUESTATUS / DIALSTATUS as Asterisk set it


@dataclass(frozen=True)
class Fault:
    at: dt.datetime
    kind: str                    # store | recognizer | prompt


@dataclass(frozen=True)
class HungUp:
    at: dt.datetime


@dataclass(frozen=True)
class OutboundStarted:
    """An outbound call was answered: ``kind`` is reminder or callback; the recipient
    (and, for a callback, the NIK from the resident's own call) is known beforehand."""

    at: dt.datetime
    kind: str
    recipient: RecipientInfo | None = None
    nik: str = ""
    caller_known: bool = True


Event = (CallStarted | OutboundStarted | KeysEntered | SpeechHeard | NoInput | LookupDone | Recorded
         | TransferDone | Fault | HungUp)


# --- actions -------------------------------------------------------------------------

@dataclass(frozen=True)
class Play:
    """Play prompts; a key pressed meanwhile stops them and is kept for the next Ask."""

    items: tuple[PromptItem, ...]


@dataclass(frozen=True)
class Ask:
    """Play a question, then take speech (grammar-restricted) or keys.

    ``immediate`` keys end keypad entry at once when pressed first (0 = operator).
    Produces KeysEntered, SpeechHeard or NoInput.
    """

    items: tuple[PromptItem, ...]
    grammar: str
    max_digits: int = 1
    speech: bool = True
    immediate: str = ""


@dataclass(frozen=True)
class Lookup:
    nik: str


@dataclass(frozen=True)
class Record:
    items: tuple[PromptItem, ...]
    purpose: str                 # complaint | message


@dataclass(frozen=True)
class Transfer:
    app: str
    target: str


@dataclass(frozen=True)
class FollowUp:
    reason: str                  # not_found | complaint | callback | repeated_failure | system_fault | rejected
    detail: str = ""


@dataclass(frozen=True)
class NikConfirmed:
    """The caller confirmed this NIK; ``training`` pairs recordings with what they said:
    the digits of a spoken NIK, or the words of a yes/no answer whose meaning a key or
    the next step proved."""

    nik: str
    training: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class End:
    outcome: str                 # answered | not_found | operator | callback | message | abandoned | failed | fault
    items: tuple[PromptItem, ...] = ()


@dataclass(frozen=True)
class Listen:
    """Listen without a prompt (just after an outbound call is answered) for up to
    ``max_ms``; produces Recorded (``heard``: a voice was there), KeysEntered or NoInput."""

    max_ms: int = 2500
    silence_s: int = 2


Action = Listen | Play | Ask | Lookup | Record | Transfer | FollowUp | NikConfirmed | End
WAITING_ACTIONS = (Ask, Lookup, Record, Transfer)


# --- the call so far -----------------------------------------------------------------

@dataclass(frozen=True)
class Context:
    digits: str = ""                                 # NIK digits collected so far
    spans: tuple[tuple[str, int, int], ...] = ()     # (recording, start, end) of spoken digits
    nik: str = ""                                    # the NIK being confirmed / confirmed
    corrected: bool = False
    tries: int = 0                                   # failures at the current question
    nik_rounds: int = 0                              # NIK attempts rejected by the checks
    fix_group: int = 0
    answer: tuple[PromptItem, ...] = ()              # what to repeat on "ulangi"
    recipient_status: str = ""
    caller_known: bool = True
    started: dt.datetime | None = None
    after_answer: bool = False                       # where to go back to after a detour
    # Spoken yes/no answers at the read-back, (recording, words): pending until a key
    # or the next step proves what they meant, then kept as training data.
    yesno_pending: tuple[tuple[str, str], ...] = ()
    yesno_proven: tuple[tuple[str, str], ...] = ()
    report_tries: int = 0
    outbound: str = ""                               # reminder | callback ("" for inbound calls)
    outbound_result: str = ""                        # confirmed | heard | opted_out | operator | no_response
    heard_voice: bool = False                        # a voice or key came back on an outbound call


@dataclass(frozen=True)
class Step:
    state: State
    actions: tuple[Action, ...]
    context: Context
