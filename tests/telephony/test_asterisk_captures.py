"""The fake Asterisk held to a real one.

``tests/data/asterisk-captures`` holds AGI transcripts of calls through a real
Asterisk 20 (every line each way; see its README).  Each test here plays the caller
of one transcript against the fake and sends the fake exactly the commands the
service sent then; the fake must answer as Asterisk answered: the same status code,
the same result where it is a key, digits or a state, the same ``(data)``, the same
``endpos`` wherever it does not depend on the caller's recorded voice, and a
``HANGUP`` line wherever Asterisk sent one.
"""

from __future__ import annotations

import asyncio
import re
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from ivr.telephony import agi
from ivr.telephony.fake_asterisk import BRIDGED, HangUp, Keys, Say, Silence, _Call

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "data" / "asterisk-captures"
SOUNDS = "/var/lib/asterisk/sounds/id/hotline"
SPOOL = "/var/spool/hotline"
LINE = re.compile(r"^\s*(\d+)\s+(asterisk>>|service<<|caller|dialplan)\s?(.*)$")


@dataclass
class Exchange:
    command: str
    replies: list[str] = field(default_factory=list)


def exchanges(name: str) -> list[Exchange]:
    """The service's commands and, for each, the lines Asterisk sent before the next."""
    out: list[Exchange] = []
    in_header = True
    for raw in (CAPTURES / name).read_text().splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        _, who, text = m.groups()
        text = text.strip() if who == "service<<" else text.rstrip()
        if who == "service<<":
            in_header = False
            out.append(Exchange(text))
        elif who == "asterisk>>" and not in_header and out:
            out[-1].replies.append(text)
    return out


def voice(path: Path, seconds: float) -> Path:
    """A voiced stand-in for the recorded human caller (well above dsp.c's threshold)."""
    t = np.arange(int(seconds * 8000)) / 8000
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes((tone * 32767).astype("<i2").tobytes())
    return path


def replay(name: str, turns, tmp_path: Path, **call_options) -> tuple[_Call, list[tuple[Exchange, str]]]:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    call = _Call(turns, sounds_prefix=SOUNDS, audio_dir=REPO / "prompts" / "audio", asterisk_spool=SPOOL,
                 spool_dir=spool, save_audio=False, transfer_status=call_options.pop("transfer_status", {}),
                 **call_options)

    async def run():
        return [(ex, await call.handle(ex.command)) for ex in exchanges(name)]

    return call, asyncio.run(run())


def _reply_line(lines: list[str]) -> str:
    return next(line for line in lines if line.strip() != agi.HANGUP_LINE)


def same_as_asterisk(real_lines: list[str], fake_text: str, command: str, *, voice_endpos: bool,
                     call_ends_here: bool = False) -> None:
    """Compare one exchange.  ``voice_endpos``: this recording held the caller's
    voice, whose length differs between the real caller and ours.
    ``call_ends_here``: the transcript's last exchange, after which the real call
    was torn down (its closing HANGUP is not an answer to the command)."""
    fake_lines = [line for line in fake_text.splitlines() if line]
    if not call_ends_here:
        assert (agi.HANGUP_LINE in real_lines) == (agi.HANGUP_LINE in fake_lines), (command, real_lines, fake_lines)
    real_line, fake_line = _reply_line(real_lines), _reply_line(fake_lines)
    if real_line.startswith("511"):
        assert fake_line == real_line
        return
    real, fake = agi.parse_reply_line(real_line), agi.parse_reply_line(fake_line)
    assert (real.code, real.data) == (fake.code, fake.data), (command, real_line, fake_line)
    if real.data == "timeout" and command.startswith("RECORD FILE"):
        # The result is whatever ast_waitfor last returned: milliseconds left.
        assert fake.result is not None and fake.result >= 0
    else:
        assert real.value == fake.value, (command, real_line, fake_line)
    if real.endpos is None or (voice_endpos and real.data == "timeout"):
        assert (fake.endpos is None) == (real.endpos is None)
    elif command.startswith("STREAM FILE") and (real.key is not None or real.result == -1):
        # Stopped part-way by a key or a hang-up: somewhere inside the prompt.
        assert fake.endpos is not None and 0 < fake.endpos
    else:
        assert fake.endpos == real.endpos, (command, real_line, fake_line)


def check_all(pairs, voice_records: int = 0, *, torn_down: bool = False) -> int:
    """``torn_down``: the real call ended after the last command (not the caller)."""
    records = 0
    for n, (ex, reply) in enumerate(pairs, 1):
        voiced = False
        if ex.command.startswith("RECORD FILE"):
            records += 1
            voiced = records <= voice_records
        same_as_asterisk(ex.replies, reply, ex.command, voice_endpos=voiced,
                         call_ends_here=torn_down and n == len(pairs))
    return len(pairs)


NIK = "3172014508850001"


def test_hash_left_after_get_data_reaches_the_next_prompt(tmp_path):
    call, pairs = replay("hash.txt", [Keys(NIK + "#"), Keys("1"), HangUp(False, during="menu/after")], tmp_path)
    assert check_all(pairs) > 40
    stopped = [reply for ex, reply in pairs if ex.command.startswith("STREAM FILE") and "result=35" in reply]
    assert stopped == ["200 result=35 endpos=2560\n"]     # the '#' stops confirm/intro at once


def test_report_beep_without_the_sound_is_a_randomerror_on_a_live_channel(tmp_path):
    call, pairs = replay("report.txt", [Keys(NIK), Keys("1"), Keys("2", during="menu/after"), Silence()],
                         tmp_path)
    check_all(pairs, torn_down=True)     # the service gave up there and the dialplan hung up
    record = [reply for ex, reply in pairs if "BEEP" in ex.command]
    assert record == ["200 result=-1 (randomerror) endpos=0\n"]
    assert call.live


def test_report_beep_plays_when_asterisk_has_the_sound(tmp_path):
    call, pairs = replay("report.txt", [Keys(NIK), Keys("1"), Keys("2", during="menu/after"), Silence()],
                         tmp_path, core_sounds=frozenset({"beep"}))
    beep = [reply for ex, reply in pairs if "BEEP" in ex.command]
    assert len(beep) == 1 and "(timeout)" in beep[0]


def test_bridged_queue_call_leaves_no_status_and_returns_minus_one(tmp_path):
    # The script ends: the caller hangs up while the line records (as they did).
    turns = [Keys(NIK), Keys("1"), Keys("0", during="menu/after")]
    call, pairs = replay("operator.txt", turns, tmp_path, transfer_status={"queue": BRIDGED})
    check_all(pairs)
    queue = next(i for i, (ex, _) in enumerate(pairs) if ex.command.startswith("EXEC Queue"))
    assert [reply for _, reply in pairs[queue:queue + 3]] == ["200 result=-1\n", "200 result=0\n", "200 result=6\n"]


def test_late_caller_finds_the_recording_over(tmp_path):
    speech = voice(tmp_path / "nik.wav", 10.0)
    call, pairs = replay("late.txt", [Say(speech, after_s=3.0)], tmp_path)
    check_all(pairs)
    first = next(reply for ex, reply in pairs if ex.command.startswith("RECORD FILE"))
    assert first.endswith("(timeout) endpos=8160\n")      # 2 s of silence, rewound by 1 s
    # They spoke while the service played its next prompts: lost, as on the real line.
    assert call.problems == ["the service played a prompt over the caller while they spoke"]


def test_prompt_caller_is_recorded(tmp_path):
    speech = voice(tmp_path / "nik.wav", 11.0)
    call, pairs = replay("spoken.txt", [Say(speech, after_s=1.0)], tmp_path)
    check_all(pairs, voice_records=1)
    recorded = next(reply for ex, reply in pairs if ex.command.startswith("RECORD FILE"))
    endpos = agi.parse_reply_line(recorded.strip()).endpos
    assert endpos == (1000 + 11_000 + 1020) * 8           # lead, voice, 1.02 s of tail


def test_hangup_while_listening(tmp_path):
    call, pairs = replay("hangup_while_listening.txt", [], tmp_path)
    check_all(pairs)
    assert call.ended_by == "caller"


@pytest.mark.parametrize("name", sorted(p.name for p in CAPTURES.glob("*.txt")))
def test_every_capture_parses(name):
    got = exchanges(name)
    assert got and got[0].command == "ANSWER" and got[0].replies == ["200 result=0"]
