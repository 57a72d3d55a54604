"""The dialogue core on its own: events in, steps out, no I/O and no clock."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr import nik as nikmod
from ivr.dialogue.flow import Dialogue, FlowConfig, answer_items
from ivr.dialogue.understand import (
    Answer, Kind, keys_answer, meaning_confidence, speech_answer, words_to_digits, yes_no_decision, yes_no_margin,
)
from ivr.dialogue.vocab import (
    Ask, CallStarted, End, FollowUp, HungUp, KeysEntered, Lookup, LookupDone, NikConfirmed, NoInput,
    Play, SpeechHeard, Spoken, State, Transfer,
)
from ivr.ports import RecipientInfo

AT = dt.datetime(2026, 11, 30, 9, 0)          # Monday morning
NIK = "3172014508850001"


def keys(k):
    return KeysEntered(AT, k)


def said(text, conf=0.9, alts=(), rec="r"):
    return SpeechHeard(AT, text, conf, alts, rec)


def run(dialogue, *events, at=AT, caller_known=True):
    step = dialogue.start(CallStarted(at, caller_known))
    for event in events:
        step = dialogue.handle(step.state, step.context, event)
    return step


def prompts(step):
    out = []
    for action in step.actions:
        if isinstance(action, (Play, Ask, End)):
            out += [p for p in action.items if isinstance(p, str)]
    return out


@pytest.mark.parametrize("text,digits", [
    ("tiga satu tujuh dua", "3172"),
    ("nol nol nol satu", "0001"),
    ("kosong kosong dua", "002"),
    ("dua dua dua", "222"),
    ("dobel satu", "11"),
    ("[unk] lima", "5"),
    ("ya", ""),
])
def test_words_to_digits_keeps_repeats(text, digits):
    assert words_to_digits(text) == digits


def test_answers_by_keys_and_by_words_mean_the_same():
    assert keys_answer("1", "yesno").kind is speech_answer("betul", "yesno").kind is Kind.YES
    assert keys_answer("2", "yesno").kind is speech_answer("tidak", "yesno").kind is Kind.NO
    assert keys_answer("9", "menu").kind is speech_answer("ulangi", "menu").kind is Kind.REPEAT
    assert keys_answer("2", "menu").kind is speech_answer("lapor", "menu").kind is Kind.REPORT
    assert keys_answer("0", "menu").kind is speech_answer("petugas", "menu").kind is Kind.OPERATOR
    assert speech_answer("ya tidak", "yesno").kind is Kind.NOTHING
    assert keys_answer("3", "group").value == speech_answer("tiga", "group").value == "3"


def test_call_opens_with_greeting_then_asks_for_the_nik_by_voice_or_keys():
    step = run(Dialogue())
    assert step.state is State.ASK_NIK
    assert prompts(step) == ["greeting", "nik/ask"]
    ask = step.actions[-1]
    assert ask.grammar == "digits" and ask.max_digits == 16 and ask.speech and ask.immediate == "0"


def test_keypad_only_when_speech_is_unavailable():
    step = run(Dialogue(FlowConfig(speech=False)))
    assert prompts(step) == ["greeting", "nik/ask_keys_only"]
    assert step.actions[-1].speech is False


def test_lone_zero_first_is_the_operator_but_later_zeros_are_digits():
    step = run(Dialogue(), keys("0"))
    assert any(isinstance(a, Transfer) for a in step.actions)
    step = run(Dialogue(), keys("31720"), NoInput(AT))
    assert step.context.digits == "31720"


def test_a_spoken_zero_before_the_first_digit_is_not_part_of_the_nik():
    # "nomor saya tiga satu ..." heard as "nol nol tiga satu ...": no NIK starts with 0
    step = run(Dialogue(), said("nol nol tiga satu tujuh dua"))
    assert step.state is State.ASK_NIK and step.context.digits == "3172"
    assert step.context.spans == (("r", 0, 4),)
    # the whole NIK after such a zero goes to the read-back as 16 digits
    spoken = " ".join("nol satu dua tiga empat lima enam tujuh delapan sembilan".split()[int(d)] for d in NIK)
    step = run(Dialogue(), said("kosong " + spoken))
    assert step.state is State.CONFIRM and step.context.nik == NIK
    # zeros only: not understood, asked again (a key 0 first is still the operator)
    step = run(Dialogue(), said("nol nol"))
    assert step.state is State.ASK_NIK and step.context.digits == ""
    assert "error/not_understood" in prompts(step) and not any(isinstance(a, Transfer) for a in step.actions)
    # later zeros, and zeros inside the first group, are digits
    step = run(Dialogue(), said("tiga satu nol dua"), said("nol nol satu empat"))
    assert step.context.digits == "31020014"


def _words(digits):
    return " ".join("nol satu dua tiga empat lima enam tujuh delapan sembilan".split()[int(d)] for d in digits)


def test_a_word_heard_as_a_digit_before_a_group_is_left_out_when_that_gives_the_one_possible_nik():
    # "ka te pe saya 3172", "anu 0145", "0885", "0001": heard "1 3172", "1 0145", "0885", "0001"
    answers = [("a", "satu " + _words(NIK[:4])), ("b", "satu " + _words(NIK[4:8])),
               ("c", _words(NIK[8:12])), ("d", _words(NIK[12:]))]
    step = run(Dialogue(), *(said(text, rec=rec) for rec, text in answers))
    assert step.state is State.CONFIRM and step.context.nik == NIK
    # each recording keeps the digits it really holds: the training pairs after a yes
    assert step.context.spans == (("a", 0, 4), ("b", 4, 8), ("c", 8, 12), ("d", 12, 16))
    done = run(Dialogue(), *(said(text, rec=rec) for rec, text in answers), said("ya"))
    confirmed = next(a for a in done.actions if isinstance(a, NikConfirmed))
    assert confirmed.nik == NIK
    assert set(confirmed.training) >= {("a", NIK[:4]), ("b", NIK[4:8]), ("c", NIK[8:12]), ("d", NIK[12:])}


def test_too_many_digits_with_no_single_way_out_start_over():
    # keyed digits are never left out
    step = run(Dialogue(), keys("1" + NIK))
    assert "nik/too_long" in prompts(step) and step.context.digits == ""
    # leaving out either spoken answer's first digit gives no possible NIK
    first, second = "9972", NIK[4:] + "1"
    assert not nikmod.check(first[1:] + second).ok and not nikmod.check(first + second[1:]).ok
    step = run(Dialogue(), said(_words(first)), said(_words(second)))
    assert "nik/too_long" in prompts(step) and step.context.digits == ""
    # either answer's first digit could go: the choice in the line's province is taken
    first, second = "1" + NIK[:4], NIK[4:]
    other = first + second[1:]
    assert nikmod.check(first[1:] + second).ok and nikmod.check(other).ok and not other.startswith("31")
    step = run(Dialogue(), said(_words(first)), said(_words(second)))
    assert step.state is State.CONFIRM and step.context.nik == NIK
    step = run(Dialogue(FlowConfig(home_province="13")), said(_words(first)), said(_words(second)))
    assert step.state is State.CONFIRM and step.context.nik == other
    step = run(Dialogue(FlowConfig(home_province="32")), said(_words(first)), said(_words(second)))
    assert "nik/too_long" in prompts(step) and step.context.digits == ""
    # two choices in the province: which one is not known, so the caller starts over
    # rather than hear a guess
    groups = [NIK[:4], NIK[4:8], "1" + NIK[8:12], NIK[12:]]
    digits = "".join(groups)
    assert nikmod.check(digits[:4] + digits[5:]).ok and nikmod.check(digits[:8] + digits[9:]).ok
    step = run(Dialogue(), *(said(_words(g)) for g in groups))
    assert "nik/too_long" in prompts(step) and step.context.digits == ""


def test_too_many_digits_start_over():
    step = run(Dialogue(), said("tiga satu tujuh dua " * 5))
    assert "nik/too_long" in prompts(step)
    assert step.context.digits == ""


@pytest.mark.parametrize("nik,prompt", [
    ("9972014508850001", "nik/bad_province"),
    ("3100014508850001", "nik/bad_city"),
    ("3172004508850001", "nik/bad_district"),
    ("3172013508850001", "nik/bad_day"),
    ("3172014513850001", "nik/bad_month"),
    ("3172014508850000", "nik/bad_serial"),
])
def test_impossible_nik_is_explained(nik, prompt):
    assert not nikmod.check(nik).ok
    step = run(Dialogue(), keys(nik))
    assert prompt in prompts(step) and "nik/check_card" in prompts(step)
    assert step.state is State.ASK_NIK and step.context.digits == ""


def test_three_rejected_niks_lead_to_the_fallback_not_a_loop():
    bad = "3172014513850001"
    step = run(Dialogue(), keys(bad), keys(bad), keys(bad))
    assert step.state is State.FALLBACK
    assert "fallback/offer" in prompts(step)


def test_confirm_yes_looks_up_and_keeps_training_pairs():
    step = run(Dialogue(), said("tiga satu tujuh dua nol satu empat lima", rec="a"),
               said("nol delapan delapan lima nol nol nol satu", rec="b"), said("ya"))
    assert step.state is State.LOOKUP
    confirmed = next(a for a in step.actions if isinstance(a, NikConfirmed))
    assert confirmed.training == (("a", NIK[:8]), ("b", NIK[8:]))
    assert any(isinstance(a, Lookup) and a.nik == NIK for a in step.actions)


def test_correcting_a_group_drops_training_pairs():
    wrong = NIK[:12] + "0002"
    step = run(Dialogue(), said(" ".join("nol satu dua tiga empat lima enam tujuh delapan sembilan".split()[int(d)]
                                     for d in wrong)), said("tidak"), said("empat"), keys(NIK[12:]), said("ya"))
    confirmed = next(a for a in step.actions if isinstance(a, NikConfirmed))
    # The NIK's spoken digits are dropped; the "tidak" that the correction proved stays.
    assert confirmed.nik == NIK and confirmed.training == (("r", "tidak"),)


def test_fix_all_starts_again():
    step = run(Dialogue(), keys(NIK), keys("2"), keys("5"))
    assert step.state is State.ASK_NIK and "nik/start_over" in prompts(step)


def test_silence_at_confirm_asks_more_simply():
    step = run(Dialogue(), keys(NIK), NoInput(AT))
    assert "error/not_heard" in prompts(step) and "confirm/ask_simple" in prompts(step)


def _scheduled():
    return RecipientInfo(status="scheduled", collection_date=dt.date(2026, 12, 3), time_start=dt.time(8),
                         time_end=dt.time(12), place="Kantor Kelurahan Cawang", address="Jl. Dewi Sartika 12",
                         documents=())


def test_answer_then_repeat_then_done():
    d = Dialogue()
    step = run(d, keys(NIK), keys("1"), LookupDone(AT, _scheduled()))
    first = prompts(step)
    assert first[0] == "status/scheduled" and first[-1] == "menu/after"
    spoken = [p.text for p in step.actions[-1].items if isinstance(p, Spoken)]
    assert spoken == ["Kantor Kelurahan Cawang", "Jl. Dewi Sartika 12"]
    step = d.handle(step.state, step.context, keys("9"))
    assert prompts(step) == first
    step = d.handle(step.state, step.context, said("selesai"))
    assert step.state is State.END and step.actions[-1] == End("answered", ("goodbye",))


def test_not_found_leaves_a_follow_up():
    step = run(Dialogue(), keys(NIK), keys("1"), LookupDone(AT, None))
    assert FollowUp("not_found", "NIK not in the recipient list") in step.actions
    assert "status/not_found" in prompts(step)


@pytest.mark.parametrize("status,prompt", [("not_scheduled", "status/not_scheduled"),
                                           ("in_review", "status/in_review"), ("rejected", "status/rejected")])
def test_status_variants(status, prompt):
    assert answer_items(RecipientInfo(status=status)) == (prompt,)


def test_collected_says_when():
    items = answer_items(RecipientInfo(status="collected", collected_on=dt.date(2026, 11, 20)))
    assert items[0] == "status/collected" and "months/november" in items


def test_custom_documents_are_spoken():
    r = RecipientInfo(status="scheduled", collection_date=dt.date(2026, 12, 3),
                      documents=("surat undangan", "buku tabungan"))
    assert Spoken("surat undangan, buku tabungan.") in answer_items(r)


def test_operator_outside_hours_offers_callback_and_unknown_caller_leaves_message():
    sunday = dt.datetime(2026, 11, 29, 20, 0)
    step = run(Dialogue(), KeysEntered(sunday, "0"), at=sunday)
    assert step.state is State.CALLBACK_OFFER and "operator/closed" in prompts(step)
    step = run(Dialogue(), KeysEntered(sunday, "0"), at=sunday, caller_known=False)
    assert step.state is State.MESSAGE


def test_hang_up_mid_report_keeps_a_complaint():
    d = Dialogue()
    step = run(d, keys(NIK), keys("1"), LookupDone(AT, _scheduled()), keys("2"))
    assert step.state is State.REPORT
    step = d.handle(step.state, step.context, HungUp(AT))
    assert step.actions[0].reason == "complaint" and step.actions[-1] == End("answered")


def test_unsure_yes_is_asked_again_not_acted_on():
    step = run(Dialogue(), keys(NIK), said("ya", conf=0.3))
    assert step.state is State.CONFIRM
    assert "error/not_understood" in prompts(step)
    step = run(Dialogue(), keys(NIK), said("ya", conf=0.8))
    assert step.state is State.LOOKUP


def test_saying_ulangi_after_wrong_digits_starts_over():
    step = run(Dialogue(), said("enam", rec="x"))
    assert step.context.digits == "6" and "nik/ask_rest" in prompts(step)
    step = Dialogue().handle(step.state, step.context, said("ulangi"))
    assert step.context.digits == "" and "nik/start_over" in prompts(step)
    step = run(Dialogue(), keys("3172"), NoInput(AT), keys("*"))
    assert step.context.digits == "" and "nik/start_over" in prompts(step)


# --- yes/no at the NIK read-back: safe by construction (issue 12) -----------------------

def heard(text, yes, no, conf=1.0):
    """A spoken answer with the recogniser's per-class evidence (best log scores)."""
    return SpeechHeard(AT, text, conf, (), "r", evidence=(("yes", yes), ("no", no)))


def test_yes_with_a_clear_margin_looks_up():
    step = run(Dialogue(), keys(NIK), heard("iya", yes=40.0, no=30.0))
    assert step.state is State.LOOKUP


@pytest.mark.parametrize("yes,no", [(31.0, 30.0), (30.0, 30.0), (33.9, 30.0)])
def test_yes_without_a_clear_margin_offers_the_keypad_and_never_looks_up(yes, no):
    # "tidak" heard as "iya" with full n-best confidence: the evidence decode still
    # shows the "no" reading close behind, so nothing is looked up.
    step = run(Dialogue(), keys(NIK), heard("iya", yes=yes, no=no))
    assert step.state is State.CONFIRM
    assert not any(isinstance(a, Lookup) for a in step.actions)
    assert prompts(step) == ["confirm/unsure"]
    assert step.actions[-1].grammar == "confirm"
    step = Dialogue().handle(step.state, step.context, keys("1"))
    assert step.state is State.LOOKUP


def test_no_against_the_evidence_is_unsure_but_a_clear_no_corrects():
    step = run(Dialogue(), keys(NIK), heard("tidak", yes=35.0, no=30.0))
    assert step.state is State.CONFIRM and prompts(step) == ["confirm/unsure"]
    step = run(Dialogue(), keys(NIK), heard("tidak", yes=25.0, no=30.0))
    assert step.state is State.FIX_WHICH


def test_a_no_barely_ahead_is_asked_again_not_sent_to_the_correction_turn():
    # A yes heard as a no just barely ("iye" as "tidak" by 0.2): a no needs a margin of 1
    # (FlowConfig.no_margin, MODEL_CARD.md "s6 beside the ensemble").
    step = run(Dialogue(), keys(NIK), heard("tidak", yes=29.8, no=30.0))
    assert step.state is State.CONFIRM and prompts(step) == ["confirm/unsure"]
    assert run(Dialogue(), keys(NIK), heard("tidak", yes=29.0, no=30.0)).state is State.FIX_WHICH
    assert run(Dialogue(FlowConfig(no_margin=0.0)), keys(NIK), heard("tidak", yes=29.8, no=30.0)).state \
        is State.FIX_WHICH


def test_unsure_answers_count_as_failed_tries():
    step = run(Dialogue(FlowConfig(max_tries=2)), keys(NIK), heard("ya", 30.5, 30.0), heard("ya", 30.5, 30.0))
    assert step.state is State.FALLBACK


def test_margins_are_configurable():
    step = run(Dialogue(FlowConfig(yes_margin=0.5)), keys(NIK), heard("iya", yes=31.0, no=30.0))
    assert step.state is State.LOOKUP


def test_spoken_satu_dua_answer_the_read_back():
    assert run(Dialogue(), keys(NIK), heard("satu", yes=40.0, no=20.0)).state is State.LOOKUP
    assert run(Dialogue(), keys(NIK), heard("dua", yes=20.0, no=40.0)).state is State.FIX_WHICH
    # ... but only there: at another yes/no question a digit is not an answer.
    assert speech_answer("satu", "yesno").kind is Kind.NOTHING
    assert speech_answer("satu", "confirm").kind is Kind.YES
    assert keys_answer("1", "confirm").kind is Kind.YES and keys_answer("2", "confirm").kind is Kind.NO


def test_without_evidence_the_confidence_rule_still_applies():
    assert yes_no_margin(()) is None
    assert run(Dialogue(), keys(NIK), said("ya", conf=0.8)).state is State.LOOKUP


def test_readings_that_mean_the_same_add_up():
    """"benar" 0.45 beside "ya" 0.40: a yes heard at 0.85, not a doubtful word."""
    alts = (("benar", 0.45), ("ya", 0.40), ("tidak", 0.15))
    assert meaning_confidence("benar", 0.45, alts, "confirm") == pytest.approx(0.85)
    assert meaning_confidence("tidak", 0.15, alts, "confirm") == pytest.approx(0.15)
    assert meaning_confidence("ya", 0.7, (), "confirm") == 0.7     # no n-best: the reading's own
    # the read-back acts on it (still only with the evidence margin, when there is one)
    step = run(Dialogue(), keys(NIK), said("benar", conf=0.45, alts=alts))
    assert step.state is State.LOOKUP
    # two menu words for "done" make one sure answer; two meanings stay unsure
    menu = run(Dialogue(), keys(NIK), keys("1"), LookupDone(AT, _scheduled()))
    done = Dialogue().handle(menu.state, menu.context,
                             said("selesai", conf=0.3, alts=(("selesai", 0.3), ("sudah", 0.3), ("lapor", 0.4))))
    assert done.state is State.END
    unsure = Dialogue().handle(menu.state, menu.context,
                               said("selesai", conf=0.4, alts=(("selesai", 0.4), ("lapor", 0.3), ("ulangi", 0.3))))
    assert unsure.state is not State.END


def test_decision_rule():
    yes, no = Answer(Kind.YES), Answer(Kind.NO)
    assert yes_no_decision(yes, 4.0, 4.0, 0.0) == yes
    assert yes_no_decision(yes, 3.99, 4.0, 0.0).kind is Kind.UNSURE
    assert yes_no_decision(no, -0.1, 4.0, 0.0) == no
    assert yes_no_decision(no, 0.1, 4.0, 0.0).kind is Kind.UNSURE
    assert yes_no_decision(yes, None, 4.0, 0.0) == yes
    assert yes_no_margin((("yes", 10.0),)) == float("inf")
    assert yes_no_margin((("no", 10.0),)) == float("-inf")


@pytest.mark.parametrize("text,grammar,kind", [
    ("nggak", "yesno", Kind.NO), ("enggak", "yesno", Kind.NO), ("gak", "yesno", Kind.NO),
    ("ga", "yesno", Kind.NO), ("kagak", "yesno", Kind.NO), ("ndak", "yesno", Kind.NO),
    ("iye", "yesno", Kind.YES), ("he'eh", "yesno", Kind.YES), ("yoi", "yesno", Kind.YES),
    ("bener", "yesno", Kind.YES), ("oke", "yesno", Kind.YES),
    ("tidak benar", "yesno", Kind.NO), ("nggak bener", "confirm", Kind.NO),
    ("ulang", "menu", Kind.REPEAT), ("sekali lagi", "menu", Kind.REPEAT), ("sekali lagi", "yesno", Kind.REPEAT),
    ("operator", "menu", Kind.OPERATOR), ("cs", "menu", Kind.OPERATOR),
    ("udah", "menu", Kind.DONE), ("cukup", "menu", Kind.DONE),
    ("jangan telepon lagi", "reminder", Kind.OPT_OUT), ("nggak", "reminder", Kind.NO),
])
def test_jakartas_own_words(text, grammar, kind):
    assert speech_answer(text, grammar).kind is kind


def test_yes_no_words_proven_by_a_key_are_kept_for_training():
    step = run(Dialogue(), keys(NIK), SpeechHeard(AT, "iya", 1.0, (), "y1", evidence=(("yes", 31.0), ("no", 30.0))),
               keys("1"))
    confirmed = next(a for a in step.actions if isinstance(a, NikConfirmed))
    assert confirmed.training == (("y1", "iya"),)


def test_words_the_key_contradicts_are_not_kept():
    # Heard "iya" but the caller pressed 2: what they said is unknown, so nothing is kept.
    step = run(Dialogue(), keys(NIK), SpeechHeard(AT, "iya", 1.0, (), "y1", evidence=(("yes", 31.0), ("no", 30.0))),
               keys("2"), keys("4"), keys("0002"), keys("1"))
    confirmed = next(a for a in step.actions if isinstance(a, NikConfirmed))
    assert confirmed.training == ()


def test_a_spoken_no_proven_by_the_correction_is_kept():
    wrong = NIK[:12] + "0002"
    step = run(Dialogue(), keys(wrong), SpeechHeard(AT, "nggak", 1.0, (), "n1", evidence=(("yes", 20.0), ("no", 30.0))),
               keys("4"), keys(NIK[12:]), keys("1"))
    confirmed = next(a for a in step.actions if isinstance(a, NikConfirmed))
    assert confirmed.nik == NIK and confirmed.training == (("n1", "nggak"),)
    # A "no" followed by a "correction" that changes nothing proves nothing.
    step = run(Dialogue(), keys(NIK), SpeechHeard(AT, "tidak", 1.0, (), "n1", evidence=(("yes", 20.0), ("no", 30.0))),
               keys("4"), keys(NIK[12:]), keys("1"))
    assert next(a for a in step.actions if isinstance(a, NikConfirmed)).training == ()


def test_an_accepted_spoken_yes_alone_is_not_kept():
    step = run(Dialogue(), keys(NIK), heard("iya", yes=40.0, no=20.0))
    assert next(a for a in step.actions if isinstance(a, NikConfirmed)).training == ()
