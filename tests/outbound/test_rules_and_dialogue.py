"""Pure parts of outbound calling: the rules of decency, what an OriginateResponse
means, which numbers may be dialled, the reminder menu, the outbound dialogue states
and the FastAGI route table."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from ivr.dialogue.outbound import OutboundDialogue
from ivr.dialogue.understand import Kind, keys_answer, speech_answer
from ivr.dialogue.vocab import (
    Ask, End, HungUp, KeysEntered, Listen, Lookup, NoInput, OutboundStarted, Play, Recorded, SpeechHeard, State,
    Transfer, TransferDone,
)
from ivr.outbound.rules import Window, outcome_of, refusal
from ivr.ports import CallInfo, RecipientInfo
from ivr.store.outbound import dialable
from ivr.telephony.routes import AgiRoutes, agi_args, script_of

from .helpers import JAKARTA

MON = dt.datetime(2026, 11, 30, 9, 0, tzinfo=JAKARTA)
SUN = dt.datetime(2026, 11, 29, 10, 0, tzinfo=JAKARTA)
RECIPIENT = RecipientInfo(status="scheduled", collection_date=dt.date(2026, 12, 1), time_start=dt.time(8),
                          time_end=dt.time(12), place="Kantor Kelurahan Tebet", address="Jl. Tebet Raya 1")


def at(h, m=0, day=MON):
    return day.replace(hour=h, minute=m)


def test_calling_hours_and_blocked_days():
    w = Window()
    assert refusal(at(7, 59), w, set()) == "di luar jam 08.00-20.00"
    assert refusal(at(8, 0), w, set()) == ""
    assert refusal(at(19, 59), w, set()) == ""
    assert refusal(at(20, 0), w, set()) == "di luar jam 08.00-20.00"
    # a campaign cannot widen the hours, only narrow them
    assert refusal(at(7, 30), Window(dt.time(6, 0), dt.time(22, 0)), set()) == "di luar jam 08.00-20.00"
    assert refusal(at(17, 0), Window(dt.time(9, 0), dt.time(17, 0)), set()) == "di luar jam kampanye"
    assert refusal(at(10), w, {MON.date()}) == "hari diblokir administrator"
    assert refusal(at(10), Window(first_day=dt.date(2026, 12, 1)), set()) == "kampanye belum mulai"
    assert refusal(at(10), Window(last_day=dt.date(2026, 11, 29)), set()) == "kampanye sudah lewat"
    office = Window(dt.time(8), dt.time(16), weekdays=frozenset(range(5)))
    assert refusal(SUN, office, set()) == "hari libur kantor"


def test_originate_reasons_are_asterisks_control_states():
    assert outcome_of(True, "4") == "answered"
    assert [outcome_of(False, r) for r in ("5", "8", "3", "1", "0", "")] == \
        ["busy", "congestion", "no_answer", "no_answer", "failed", "failed"]


@pytest.mark.parametrize("number,ok", [
    ("081234567890", "081234567890"), ("+62 812-3456-7890", "081234567890"), ("6281234567890", "081234567890"),
    ("0215551234", "0215551234"), ("", ""), ("anonymous", ""), ("unknown", ""), ("12345", ""),
    ("+6512345678", ""), ("0081234567", ""), ("08abc", "")])
def test_dialable_numbers(number, ok):
    got, why = dialable(number)
    assert got == ok and (bool(why) == (not ok))


def test_reminder_menu_keys_and_words():
    assert [keys_answer(k, "reminder").kind for k in "19086"] == \
        [Kind.YES, Kind.REPEAT, Kind.OPERATOR, Kind.OPT_OUT, Kind.NOTHING]
    assert speech_answer("jangan telepon lagi", "reminder").kind is Kind.OPT_OUT
    assert speech_answer("ya", "reminder").kind is Kind.YES
    assert speech_answer("ulangi", "reminder").kind is Kind.REPEAT
    assert speech_answer("lagi", "reminder").kind is Kind.NOTHING


def _started(kind="reminder", nik=""):
    return OutboundStarted(MON, kind, RECIPIENT if kind == "reminder" else None, nik)


def test_reminder_dialogue_listens_first_then_reads_the_schedule():
    d = OutboundDialogue()
    step = d.start(_started())
    assert step.state is State.HELLO and step.actions == (Listen(),)
    step = d.handle(step.state, step.context, Recorded(MON, 600, heard=True))
    ask, = step.actions
    assert step.state is State.REMINDER and isinstance(ask, Ask) and ask.grammar == "reminder"
    assert ask.items[0] == "outbound/reminder_intro" and ask.items[-1] == "outbound/reminder_menu"
    assert "status/scheduled" in ask.items and "docs/default" in ask.items
    again = d.handle(step.state, step.context, KeysEntered(MON, "9"))
    assert again.actions[0].items[0] == "status/scheduled"
    done = d.handle(again.state, again.context, SpeechHeard(MON, "ya", 0.9))
    assert done.context.outbound_result == "confirmed" and isinstance(done.actions[0], End)


def test_silence_twice_is_no_response_and_a_hang_up_at_hello_too():
    d = OutboundDialogue()
    step = d.start(_started())
    step = d.handle(step.state, step.context, Recorded(MON, 2000, heard=False))
    step = d.handle(step.state, step.context, NoInput(MON))
    assert step.state is State.REMINDER
    step = d.handle(step.state, step.context, NoInput(MON))
    assert step.context.outbound_result == "no_response" and step.actions[0].outcome == "no_response"
    hello = d.start(_started())
    gone = d.handle(hello.state, hello.context, HungUp(MON))
    assert gone.context.outbound_result == "no_response"


def test_callback_dialogue():
    d = OutboundDialogue()
    step = d.start(_started("callback", nik="3172014508850001"))
    step = d.handle(step.state, step.context, Recorded(MON, 500, heard=True))
    assert step.state is State.CALLBACK_TRANSFER
    assert isinstance(step.actions[0], Play) and isinstance(step.actions[1], Transfer)
    busy = d.handle(step.state, step.context, TransferDone(MON, "TIMEOUT"))
    assert busy.state is State.LOOKUP and busy.actions[1] == Lookup("3172014508850001")
    ok = d.handle(step.state, step.context, TransferDone(MON, "BRIDGED"))
    assert ok.context.outbound_result == "operator"
    # outside office hours (an operator's "call back now" late in the day) and no NIK known
    late = d.start(OutboundStarted(MON.replace(hour=17), "callback", None, ""))
    late = d.handle(late.state, late.context, Recorded(MON.replace(hour=17), 500, heard=True))
    assert late.state is State.ASK_NIK and "outbound/callback_ask_nik" in late.actions[0].items


def test_route_table_dispatches_on_the_script():
    seen = []

    def handler(name):
        async def run(channel):
            seen.append(name)
        return run

    class Chan:
        def __init__(self, script):
            env = (("agi_network_script", script), ("agi_arg_1", "42"))
            self.info = CallInfo("1", "x", request=f"agi://ivr:4573/{script}", env=env)

    routes = AgiRoutes({"hotline": handler("hotline"), "reminder": handler("reminder")})
    for script in ("reminder", "hotline", "nonsense", ""):
        asyncio.run(routes(Chan(script)))
    assert seen == ["reminder", "hotline", "hotline", "hotline"]
    assert agi_args(Chan("reminder").info) == ["42"]
    assert script_of(CallInfo("1", "x", request="agi://ivr:4573/callback?x=1")) == "callback"
    with pytest.raises(ValueError):
        AgiRoutes({"reminder": handler("reminder")})


def test_every_prompt_the_outbound_dialogue_names_is_required_and_rendered():
    import re
    from pathlib import Path

    from ivr.dialogue.prompts import OUTBOUND_PROMPTS, REQUIRED_PROMPTS

    source = (Path(__file__).resolve().parents[2] / "ivr" / "dialogue" / "outbound.py").read_text()
    named = set(re.findall(r'"(outbound/[a-z_]+)"', source))
    assert named and named <= OUTBOUND_PROMPTS <= REQUIRED_PROMPTS
    audio = Path(__file__).resolve().parents[2] / "prompts" / "audio"
    assert all((audio / f"{pid}.wav").exists() for pid in OUTBOUND_PROMPTS)
