"""The AGI wire format as pure functions: no sockets, no clock.

Asterisk opens a FastAGI connection with a block of ``agi_name: value`` lines ended
by a blank line, then answers each command line we send with one reply:

* ``200 result=N [(data)] [endpos=N]``  -- the command ran;
* ``100 result=0 Trying...``              -- an interim line, the real reply follows;
* ``510 Invalid or unknown command``
* ``511 Command Not Permitted on a dead channel or intercept routine``
* ``520-Invalid command syntax.  Proper usage follows:`` ... ``520 End of proper usage.``
* ``HANGUP``                              -- unsolicited: the caller has gone; the
  reply to the pending command still follows.

A peer is not trusted to be Asterisk: lines, one reply and the header block have
size limits (:data:`MAX_LINE_BYTES`, :data:`MAX_REPLY_BYTES`, :data:`MAX_HEADER_BYTES`),
so a peer streaming an endless ``520-`` usage text breaks its own call, not the
server's memory.

:class:`ReplyAssembler` turns lines into one :class:`AgiResponse` or a typed error;
the ``format_*`` functions build command lines and refuse arguments that could
smuggle a second command onto the wire (newlines) or break Asterisk's quoting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from ivr.errors import CallerHungUp, ChannelError
from ivr.ports import CallInfo

# --- errors ---------------------------------------------------------------------------


class AgiProtocolError(ChannelError):
    """A line that is not AGI: garbage, a truncated reply, a bad header line."""


class AgiConnectionLost(ChannelError):
    """The socket closed (or stalled) while a reply was expected."""


class AgiCommandError(ChannelError):
    """Asterisk refused a command (510, 520, or an unknown status code)."""

    def __init__(self, code: int, line: str, usage: str = ""):
        self.code = code
        self.line = line
        self.usage = usage
        super().__init__(f"AGI {code}: {line}")


class AgiInvalidCommand(AgiCommandError):
    """510: Asterisk does not know the command."""


class AgiUsageError(AgiCommandError):
    """520: bad syntax; ``usage`` holds the usage text Asterisk sent back."""


class AgiHangup(CallerHungUp):
    """The caller hung up (a ``HANGUP`` line, or ``result=-1`` on a media command).

    ``status`` carries what is still known after a transfer (e.g. ``DIALSTATUS``)."""

    def __init__(self, message: str = "caller hung up", status: str = ""):
        self.status = status
        super().__init__(message)


class AgiDeadChannel(AgiHangup):
    """511: the command is not permitted because the channel is already dead."""


# --- replies ----------------------------------------------------------------------------

HANGUP_LINE = "HANGUP"
USAGE_START = "520-"
USAGE_END = "520 End of proper usage."

# Asterisk's own lines are short: GET VARIABLE, our longest reply, carries at most
# the 1 KB of res_agi.c's handle_getvariable buffer; its usage texts are a few
# lines; the header's values are channel fields.  Anything far longer is not Asterisk.
MAX_LINE_BYTES = 8 * 1024
MAX_REPLY_BYTES = 64 * 1024      # every line of one reply together (520 usage text, 100 lines)

_STATUS = re.compile(r"^(\d{3})(?:([ -])(.*))?$")
_RESULT = re.compile(r"^result=(\S*)(.*)$")
_ENDPOS = re.compile(r"(?:^|\s)endpos=(-?\d+)\s*$")
_INT = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class AgiResponse:
    """One ``200``/``100`` reply.

    ``value`` is the text after ``result=`` exactly as sent (GET DATA digits keep
    their leading zeros, ``*`` and ``#``); ``result`` is that text as an integer when
    it is one (``None`` otherwise, e.g. ``result=`` with no digits or ``result=12*3``).
    ``data`` is the text inside the parentheses (``timeout``, ``dtmf``, ``hangup``, a
    variable's value), ``endpos`` the sample offset, ``extra`` any other trailing text.
    """

    code: int
    value: str
    result: int | None
    data: str = ""
    endpos: int | None = None
    extra: str = ""
    line: str = ""

    @property
    def timed_out(self) -> bool:
        return self.data == "timeout"

    @property
    def key(self) -> str | None:
        """The key encoded as an ASCII code in ``result`` (STREAM FILE, WAIT FOR DIGIT,
        RECORD FILE ``(dtmf)``), or ``None`` when the result is not a key."""
        if self.result is None or not 0 < self.result < 128:
            return None
        ch = chr(self.result)
        return ch if ch in DTMF_KEYS else None


def parse_reply_line(line: str) -> AgiResponse:
    """Parse one complete reply line (without its newline).

    Returns ``100`` and ``200`` replies; raises :class:`AgiHangup` for ``HANGUP``,
    :class:`AgiDeadChannel` for 511, :class:`AgiInvalidCommand` for 510,
    :class:`AgiUsageError` for a one-line 520, :class:`AgiCommandError` for other
    codes and :class:`AgiProtocolError` for anything that is not an AGI reply.
    (Multi-line ``520-`` replies need :class:`ReplyAssembler`.)
    """
    line = line.rstrip("\r\n")
    if line.strip() == HANGUP_LINE:
        raise AgiHangup("HANGUP line received")
    m = _STATUS.match(line)
    if not m:
        raise AgiProtocolError(f"not an AGI reply: {_clip(line)!r}")
    code, sep, rest = int(m.group(1)), m.group(2) or " ", m.group(3) or ""
    if sep == "-":
        raise AgiProtocolError(f"unexpected continuation line: {_clip(line)!r}")
    if code in (100, 200):
        return _parse_result(code, rest, line)
    if code == 510:
        raise AgiInvalidCommand(code, line)
    if code == 511:
        raise AgiDeadChannel("command refused: channel is dead (511)")
    if code == 520:
        raise AgiUsageError(code, line)
    raise AgiCommandError(code, line)


def _parse_result(code: int, rest: str, line: str) -> AgiResponse:
    m = _RESULT.match(rest)
    if not m:
        if code == 100:  # "100 Trying..." without result= is still an interim line
            return AgiResponse(code=100, value="", result=None, extra=rest, line=line)
        raise AgiProtocolError(f"reply without result=: {_clip(line)!r}")
    value, tail = m.group(1), m.group(2).strip()
    endpos = None
    em = _ENDPOS.search(tail)
    if em:
        endpos = int(em.group(1))
        tail = tail[: em.start()].strip()
    data = ""
    if tail.startswith("(") and ")" in tail:
        # The last ")" closes it: variable values may themselves hold parentheses.
        close = tail.rindex(")")
        data, tail = tail[1:close], tail[close + 1:].strip()
    result = int(value) if _INT.match(value) else None
    return AgiResponse(code=code, value=value, result=result, data=data, endpos=endpos,
                       extra=tail, line=line)


class ReplyAssembler:
    """Feeds reply lines in, one at a time, until one reply is complete.

    ``feed`` returns the :class:`AgiResponse` once it has one and ``None`` while it
    needs more lines (after ``100 Trying``, inside a ``520-`` block, after ``HANGUP``).
    A ``HANGUP`` line does not end the exchange -- Asterisk still answers the pending
    command -- so it only sets :attr:`hangup_seen`; the caller of ``feed`` decides.
    """

    def __init__(self, max_bytes: int = MAX_REPLY_BYTES) -> None:
        self.hangup_seen = False
        self.max_bytes = max_bytes
        self.size = 0
        self._usage: list[str] | None = None

    def feed(self, line: str) -> AgiResponse | None:
        """Raises :class:`AgiProtocolError` once the reply's lines together pass
        ``max_bytes``: a usage block or a run of interim lines that never ends."""
        self.size += len(line) + 1
        if self.size > self.max_bytes:
            self._usage = None
            raise AgiProtocolError(f"AGI reply longer than {self.max_bytes} bytes without ending")
        line = line.rstrip("\r\n")
        if self._usage is not None:
            if line.startswith("520 "):
                usage = "\n".join(self._usage)
                self._usage = None
                raise AgiUsageError(520, line, usage=usage)
            self._usage.append(line)
            return None
        if line.strip() == HANGUP_LINE:
            self.hangup_seen = True
            return None
        if line.startswith(USAGE_START):
            self._usage = []
            return None
        reply = parse_reply_line(line)
        if reply.code == 100:
            return None
        return reply

    @property
    def in_usage_block(self) -> bool:
        return self._usage is not None


def parse_reply(lines: Iterable[str]) -> AgiResponse:
    """Parse the first complete reply out of ``lines`` (for tests and tools).

    A ``HANGUP`` line followed by no reply raises :class:`AgiHangup`; lines that end
    before a reply is complete raise :class:`AgiConnectionLost`."""
    assembler = ReplyAssembler()
    for line in lines:
        reply = assembler.feed(line)
        if reply is not None:
            return reply
    if assembler.hangup_seen:
        raise AgiHangup("HANGUP line received")
    raise AgiConnectionLost("reply ended before it was complete")


# --- the header block ------------------------------------------------------------------

MAX_HEADER_LINES = 256
MAX_HEADER_BYTES = 32 * 1024     # Asterisk 20 sends about 1 KB
_HEADER_KEY = re.compile(r"^agi_[A-Za-z0-9_]+$")


def parse_header_line(line: str) -> tuple[str, str]:
    """``agi_name: value`` -> ``("agi_name", "value")``; anything else is an error."""
    line = line.rstrip("\r\n")
    key, sep, value = line.partition(":")
    if not sep or not _HEADER_KEY.match(key):
        raise AgiProtocolError("bad AGI header line (expected 'agi_name: value')")
    # Asterisk writes "key: value"; an empty value may lose its space.
    return key, value[1:] if value.startswith(" ") else value


def parse_env(lines: Iterable[str]) -> CallInfo:
    """Build a :class:`CallInfo` from the header lines (the blank line excluded)."""
    env: list[tuple[str, str]] = []
    size = 0
    for line in lines:
        if not line.strip():
            break
        size += len(line) + 1
        env.append(parse_header_line(line))
        if len(env) > MAX_HEADER_LINES or size > MAX_HEADER_BYTES:
            raise AgiProtocolError("AGI header block too long")
    return call_info_from_env(env)


def call_info_from_env(env: Iterable[tuple[str, str]]) -> CallInfo:
    pairs = tuple(env)
    values = dict(pairs)
    if "agi_uniqueid" not in values and "agi_request" not in values:
        raise AgiProtocolError("AGI header block has neither agi_uniqueid nor agi_request")
    return CallInfo(
        uniqueid=values.get("agi_uniqueid", ""),
        caller=values.get("agi_callerid", "unknown") or "unknown",
        channel=values.get("agi_channel", ""),
        language=values.get("agi_language", ""),
        extension=values.get("agi_extension", ""),
        request=values.get("agi_request", ""),
        env=pairs,
    )


def format_env(env: Mapping[str, str] | Iterable[tuple[str, str]]) -> bytes:
    """The header block as Asterisk sends it, blank line included."""
    items = env.items() if isinstance(env, Mapping) else env
    out = []
    for key, value in items:
        if not _HEADER_KEY.match(key):
            raise ValueError(f"bad AGI header name: {key!r}")
        _check_text(value, "header value")
        out.append(f"{key}: {value}\n")
    return ("".join(out) + "\n").encode()


# --- commands ------------------------------------------------------------------------------

DTMF_KEYS = "0123456789*#ABCD"
_FILE = re.compile(r"^[A-Za-z0-9_./@:+-]+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\([A-Za-z0-9_,]*\))?$")
_APP = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_FORMAT = re.compile(r"^[a-z0-9]+$")


def _clip(text: str, n: int = 60) -> str:
    """Shorten a line for an error message, hiding digit runs (a NIK, a number)."""
    text = re.sub(r"\d{4,}", "<digits>", text)
    return text if len(text) <= n else text[:n] + "..."


def _check_text(value: str, what: str) -> str:
    if any(c in value for c in '"\\\r\n\0'):
        raise ValueError(f"{what} may not contain quotes, backslashes or line breaks")
    return value


def check_file_name(name: str) -> str:
    """A sound or recording name safe to put on an AGI command line."""
    if not _FILE.match(name) or ".." in name.split("/"):
        raise ValueError(f"bad file name for AGI: {_clip(name)!r}")
    return name


def _check_digits(digits: str) -> str:
    if any(c not in DTMF_KEYS for c in digits):
        raise ValueError(f"escape digits must be among {DTMF_KEYS!r}")
    return digits


def _check_int(value: int, what: str, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}")
    return value


def format_answer() -> str:
    return "ANSWER"


def format_hangup() -> str:
    return "HANGUP"


def format_channel_status() -> str:
    return "CHANNEL STATUS"


def format_stream_file(file: str, escape_digits: str = "") -> str:
    return f'STREAM FILE {check_file_name(file)} "{_check_digits(escape_digits)}"'


def format_get_data(file: str, timeout_ms: int, max_digits: int) -> str:
    return (f"GET DATA {check_file_name(file)} {_check_int(timeout_ms, 'timeout', 0)} "
            f"{_check_int(max_digits, 'max digits', 1)}")


def format_record_file(file: str, fmt: str, escape_digits: str, max_ms: int, *,
                       beep: bool = False, silence_s: int | None = None) -> str:
    if not _FORMAT.match(fmt):
        raise ValueError(f"bad recording format: {fmt!r}")
    if max_ms != -1:
        _check_int(max_ms, "max record time", 1)
    parts = [f'RECORD FILE {check_file_name(file)} {fmt} "{_check_digits(escape_digits)}" {max_ms}']
    if beep:
        parts.append("BEEP")
    if silence_s:
        parts.append(f"s={_check_int(silence_s, 'silence', 1)}")
    return " ".join(parts)


def format_wait_for_digit(timeout_ms: int) -> str:
    if timeout_ms != -1:
        _check_int(timeout_ms, "timeout", 0)
    return f"WAIT FOR DIGIT {timeout_ms}"


def format_exec(app: str, args: str = "") -> str:
    if not _APP.match(app):
        raise ValueError(f"bad application name: {_clip(app)!r}")
    return f'EXEC {app} "{_check_text(args, "application arguments")}"' if args else f"EXEC {app}"


def format_set_variable(name: str, value: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad variable name: {_clip(name)!r}")
    return f'SET VARIABLE {name} "{_check_text(value, "variable value")}"'


def format_get_variable(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"bad variable name: {_clip(name)!r}")
    return f"GET VARIABLE {name}"


def split_command(line: str) -> list[str]:
    """Split a command line the way Asterisk's ``parse_args`` does: whitespace
    separates words, double quotes group, a backslash escapes the next character."""
    words: list[str] = []
    cur: list[str] = []
    quoted = escaped = in_word = False
    for ch in line.rstrip("\r\n"):
        if escaped:
            cur.append(ch)
            escaped = False
            in_word = True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            cur.append(ch)
            in_word = True
    if in_word:
        words.append("".join(cur))
    return words
