"""Whole calls, end to end: the fake Asterisk speaks FastAGI over a real socket to the
hotline (call runner, dialogue, SQLite store, rendered prompts) and the call log is
checked afterwards.  Each scenario is a list of caller turns."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.store.recipients import DEMO_NIKS
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, Silence
from tests.conftest import CLOSED_HOURS, make_settings, run_line, voice_wav
from tests.fakes import DeadDatabase, FailingLookupStore, ScriptedRecognizer

SCHEDULED = DEMO_NIKS["scheduled"]


def spoken(nik: str) -> str:
    words = "nol satu dua tiga empat lima enam tujuh delapan sembilan".split()
    return " ".join(words[int(d)] for d in nik)


class LoggedCall:
    """A call as the operators' store shows it: summary fields plus its steps."""

    def __init__(self, detail):
        self.detail = detail
        self.events, self.recordings, self.follow_ups = detail.events, detail.recordings, detail.follow_ups

    def __getattr__(self, name):
        return getattr(self.detail.call, name)


def calls_of(line):
    store = line.hotline.store
    return [LoggedCall(store.get_call(c.id)) for c in store.list_calls(limit=1000)]


def only_call(line):
    calls = calls_of(line)
    assert len(calls) == 1, calls
    return calls[0]


def _kinds(call):
    return [e.kind for e in call.events]


def test_keypad_call_hears_schedule_and_documents(settings):
    async def scenario(line):
        result = await line.call(Keys(SCHEDULED), Keys("1"), Keys("9"), Silence(), Silence())
        return result

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert result.clean, result.problems
    p = result.prompts
    assert p[0] == "greeting"
    assert "confirm/intro" in p and "confirm/ask" in p
    # read back in four groups of four, with a pause between groups
    start = p.index("confirm/intro") + 1
    readback = p[start:p.index("confirm/ask")]
    assert [x for x in readback if x != "silence/short"] == [f"digits/{d}" for d in SCHEDULED]
    assert readback.count("silence/short") == 3
    assert p.count("status/scheduled") == 2           # said, then repeated on 9
    for expected in ("status/schedule_intro", "words/tanggal", "words/pukul", "status/place_intro",
                     "status/documents_intro", "docs/default", "status/free", "menu/after", "goodbye"):
        assert expected in p
    assert any(x.startswith("dyn/") for x in p), "the place name is spoken"
    assert call.outcome == "answered"
    assert call.input_mode == "keypad"
    assert call.nik == SCHEDULED[:4] + "********" + SCHEDULED[-4:]
    assert call.ended is not None
    assert "lookup" in _kinds(call)


@pytest.mark.parametrize("status,expected", [
    ("not_scheduled", "status/not_scheduled"),
    ("collected", "status/collected"),
    ("in_review", "status/in_review"),
    ("rejected", "status/rejected"),
    ("not_registered", "status/not_found"),
])
def test_every_status_is_told(settings, status, expected):
    async def scenario(line):
        return await line.call(Keys(DEMO_NIKS[status]), Keys("1"), Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert result.clean, result.problems
    assert expected in result.prompts
    assert "status/scheduled" not in result.prompts
    if status == "not_registered":
        assert call.outcome == "not_found"
        assert [f.reason for f in call.follow_ups] == ["not_found"]
    else:
        assert call.outcome == "answered"
        assert call.follow_ups == ()


def test_spoken_nik_in_two_parts_is_read_back_and_confirmed(tmp_path):
    settings = make_settings(tmp_path, speech_enabled=True)
    nik = SCHEDULED
    recognizer = ScriptedRecognizer([spoken(nik[:10]), spoken(nik[10:]), "ya", "selesai"])
    wav = voice_wav(tmp_path / "caller.wav")

    async def scenario(line):
        result = await line.call(Say(wav), Say(wav), Say(wav), Say(wav))
        return result

    result, line = run_line(settings, scenario, recognizer=recognizer)
    call = only_call(line)
    assert result.clean, result.problems
    p = result.prompts
    # after ten digits: read back what was heard and ask for the rest
    assert "nik/heard_so_far" in p and "nik/only" in p and "words/sepuluh" in p and "nik/ask_rest" in p
    assert "status/scheduled" in p and p[-1] == "goodbye"
    assert [g for _, g in recognizer.calls] == ["digits", "digits", "confirm", "menu"]
    assert call.input_mode == "speech"
    assert call.outcome == "answered"
    speech = [e for e in call.events if e.kind == "speech"]
    assert speech and all(nik not in (e.transcript or "") for e in speech), "NIK digits are masked in the log"
    # both NIK utterances are kept as labelled training data
    training = line_training(settings)
    assert sorted(d for _, d in training) == sorted([nik[:10], nik[10:]])


def line_training(settings):
    from ivr.store.sql import SqlStore

    store = SqlStore.from_settings(settings)
    return [(path, digits) for path, digits, _ in store.training_utterances()]


def test_repeated_digits_and_alternatives_prefer_a_valid_nik(tmp_path):
    settings = make_settings(tmp_path, speech_enabled=True)
    nik = DEMO_NIKS["in_review"]     # 3174040102680004: many repeated zeros
    wrong = spoken(nik[:8] + "14" + nik[10:])          # month 14: impossible
    recognizer = ScriptedRecognizer([(wrong, 0.6, ((spoken(nik), 0.5),)), "ya", "selesai"])
    wav = voice_wav(tmp_path / "caller.wav")

    async def scenario(line):
        return await line.call(Say(wav), Say(wav), Say(wav))

    result, line = run_line(settings, scenario, recognizer=recognizer)
    call = only_call(line)
    assert "nik/bad_month" not in result.prompts
    assert "status/in_review" in result.prompts
    assert call.nik.endswith(nik[-4:])


def test_impossible_month_is_explained_then_keypad_retry_works(settings):
    bad = SCHEDULED[:8] + "14" + SCHEDULED[10:]

    async def scenario(line):
        return await line.call(Keys(bad), Keys(SCHEDULED), Keys("1"), Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    p = result.prompts
    i = p.index("nik/bad_month")
    assert list(p[i + 1:i + 3]) == ["digits/4", "words/belas"]      # "empat belas"
    assert "nik/check_card" in p
    assert "status/scheduled" in p
    assert call.outcome == "answered"


def test_short_keypad_entry_asks_for_the_rest(settings):
    async def scenario(line):
        return await line.call(Keys(SCHEDULED[:10]), Silence(), Keys(SCHEDULED[10:]), Keys("1"),
                               Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    p = result.prompts
    assert "nik/only" in p and "words/sepuluh" in p and "nik/ask_rest" in p
    assert "status/scheduled" in p


def test_wrong_group_is_corrected(settings):
    typo = SCHEDULED[:12] + "0002"          # plausible, so only the caller can catch it

    async def scenario(line):
        return await line.call(Keys(typo), Keys("2"), Keys("4"), Keys(SCHEDULED[12:]), Keys("1"),
                               Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    p = result.prompts
    assert "fix/which" in p and "fix/group_ask" in p
    assert p.count("confirm/intro") == 2
    assert "status/scheduled" in p
    assert call.nik.endswith(SCHEDULED[-4:])


def test_report_a_problem_is_recorded_and_queued(tmp_path, settings):
    wav = voice_wav(tmp_path / "complaint.wav", seconds=4)

    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"), Keys("2"), Say(wav), Silence(), Silence())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert "report/intro" in result.prompts and "report/thanks" in result.prompts
    assert [f.reason for f in call.follow_ups] == ["complaint"]
    purposes = [r.purpose for r in call.recordings]
    assert "complaint" in purposes
    recording = next(r for r in call.recordings if r.purpose == "complaint")
    assert Path(recording.path).exists()


def test_operator_in_office_hours_goes_to_the_queue(settings):
    # An operator answers, talks and hangs up; the caller is still on the line.
    # Queue then leaves QUEUESTATUS unset and EXEC answers result=-1 (operator.txt).
    async def scenario(line):
        return await line.call(Keys("0"), transfer_status={"queue": "BRIDGED"})

    result, line = run_line(settings, scenario)
    call = only_call(line)
    exchange = next(e for e in result.exchanges if e.command == "EXEC")
    assert exchange.args == ("Queue", "operators,,,,300")     # never an endless wait
    assert exchange.reply == "200 result=-1\n"
    assert "QUEUESTATUS" not in dict(result.variables)
    assert "operator/busy" not in result.prompts and "operator/callback_offer" not in result.prompts
    assert result.prompts[-1] == "goodbye"
    assert call.outcome == "operator"
    assert list(call.follow_ups) == []
    assert result.clean, result.problems


def test_the_fake_refuses_a_queue_status_asterisk_never_sets(settings):
    async def scenario(line):
        return await line.call(Keys("0"), transfer_status={"queue": "ANSWERED"})

    with pytest.raises(ValueError, match="never sets QUEUESTATUS=ANSWERED"):
        run_line(settings, scenario)


def test_busy_operators_offer_a_callback(settings):
    async def scenario(line):
        return await line.call(Keys("0"), Keys("1"))   # the queue times out (the fake's default)

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert "operator/busy" in result.prompts and "operator/callback_offer" in result.prompts
    assert "operator/callback_noted" in result.prompts
    assert call.outcome == "callback"
    assert [f.reason for f in call.follow_ups] == ["callback"]


def test_outside_office_hours_no_transfer_but_callback(settings):
    async def scenario(line):
        return await line.call(Keys("0"), Keys("1"))

    result, line = run_line(settings, scenario, clock_at=CLOSED_HOURS)
    call = only_call(line)
    assert "EXEC" not in result.commands()
    assert "operator/closed" in result.prompts
    assert call.outcome == "callback"


def test_withheld_number_leaves_a_message(tmp_path, settings):
    wav = voice_wav(tmp_path / "msg.wav", seconds=4)

    async def scenario(line):
        return await line.call(Keys("0"), Say(wav), caller="")

    result, line = run_line(settings, scenario, clock_at=CLOSED_HOURS)
    call = only_call(line)
    assert "operator/no_number" in result.prompts and "operator/message_thanks" in result.prompts
    assert call.outcome == "message"
    assert [f.reason for f in call.follow_ups] == ["callback"]


def test_three_silences_reach_the_fallback_and_a_callback(tmp_path):
    settings = make_settings(tmp_path, speech_enabled=True)

    async def scenario(line):
        return await line.call(Silence(), Silence(), Silence(), Keys("1"))

    result, line = run_line(settings, scenario, recognizer=ScriptedRecognizer([]))
    call = only_call(line)
    p = result.prompts
    assert "nik/ask_simple" in p and "nik/ask_keypad" in p     # simpler each time
    assert "error/giveup" in p and "fallback/offer" in p
    assert call.outcome == "callback"
    assert [f.reason for f in call.follow_ups] == ["callback"]


def test_database_dies_mid_call_apology_and_follow_up_kept(settings):
    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"))

    result, line = run_line(settings, scenario, store_wrapper=FailingLookupStore)
    call = only_call(line)
    assert result.prompts[-1] == "error/system"
    assert result.clean, result.problems
    assert call.outcome == "fault"
    assert [f.reason for f in call.follow_ups] == ["system_fault"]


def test_database_down_for_the_whole_call_loses_nothing(settings):
    dead = []

    def wrapper(store):
        dead.append(DeadDatabase(store))
        return dead[0]

    async def scenario(line):
        return await line.call(Keys(SCHEDULED), Keys("1"))

    result, line = run_line(settings, scenario, db_wrapper=wrapper)
    assert result.prompts[-1] == "error/system", "the caller hears an apology, not silence"
    assert line.hotline.store.count_calls() == 0
    journal = line.hotline.call_log
    assert journal.pending() > 0
    assert SCHEDULED not in journal.path.read_text(), "the journal holds no plain NIK"
    dead[0].dead = False
    assert journal.replay() > 0 and journal.pending() == 0
    call = only_call(line)
    assert call.outcome == "fault" and call.ended is not None
    assert [f.reason for f in call.follow_ups] == ["system_fault"]
    assert "prompt" in _kinds(call)


# A hang-up at every point a caller can leave: after each command that waits on them.
HANGUP_SCRIPTS = {
    "greeting": [],
    "nik_entry": [Keys(SCHEDULED[:6]), Silence()],
    "confirm": [Keys(SCHEDULED)],
    "fix_which": [Keys(SCHEDULED), Keys("2")],
    "fix_group": [Keys(SCHEDULED), Keys("2"), Keys("3")],
    "menu": [Keys(SCHEDULED), Keys("1")],
    "report": [Keys(SCHEDULED), Keys("1"), Keys("2")],
    "operator_queue": [Keys("0")],
    "fallback": [Silence(), Silence(), Silence()],
}
END_STATES = {"greeting": "start", "nik_entry": "ask_nik", "confirm": "confirm", "fix_which": "fix_which",
              "fix_group": "fix_group", "menu": "menu", "report": "report", "operator_queue": "operator",
              "fallback": "fallback"}


@pytest.mark.parametrize("where", list(HANGUP_SCRIPTS))
def test_hang_up_at_every_step_leaves_a_complete_log(settings, where):
    async def scenario(line):
        return await line.call(*HANGUP_SCRIPTS[where], HangUp())

    result, line = run_line(settings, scenario)
    call = only_call(line)
    assert result.ended_by == "caller"
    assert call.ended is not None, "the call is closed in the log"
    assert call.end_state == END_STATES[where]
    assert "hangup" in _kinds(call)
    expected_outcome = "answered" if where in ("menu", "report") else "abandoned"
    assert call.outcome == expected_outcome
    if where == "report":
        assert [f.reason for f in call.follow_ups] == ["complaint"]
    if where == "fallback":
        assert [f.reason for f in call.follow_ups] == ["repeated_failure"]
    if where == "operator_queue":
        assert [f.reason for f in call.follow_ups] == ["callback"]


def test_hundred_concurrent_calls_no_cross_talk(settings):
    statuses = ["scheduled", "not_scheduled", "collected", "in_review", "rejected", "not_registered"]
    expected = {"scheduled": "status/scheduled", "not_scheduled": "status/not_scheduled",
                "collected": "status/collected", "in_review": "status/in_review",
                "rejected": "status/rejected", "not_registered": "status/not_found"}

    async def scenario(line):
        plan = [statuses[i % len(statuses)] for i in range(100)]
        results = await asyncio.gather(*[
            line.call(Keys(DEMO_NIKS[s]), Keys("1"), Keys("3"), HangUp(), caller=f"0812000{i:05d}")
            for i, s in enumerate(plan)])
        return plan, results

    (plan, results), line = run_line(settings, scenario)
    calls = calls_of(line)
    assert len(calls) == 100
    for status, result in zip(plan, results):
        assert result.clean, result.problems
        heard = {p for p in result.prompts if p.startswith("status/") and p in expected.values()}
        assert heard == {expected[status]}, (status, heard)
    # each logged call carries its own caller and NIK
    by_caller = {c.caller: c for c in calls}
    assert len(by_caller) == 100
    masks = sorted(c.nik for c in calls)
    assert masks == sorted(DEMO_NIKS[s][:4] + "********" + DEMO_NIKS[s][-4:] for s in plan)


def test_keys_pressed_during_the_greeting_are_kept(settings):
    async def scenario(line):
        return await line.call(Keys(SCHEDULED, barge_in=True), Keys("1", barge_in=True), Silence(), Silence())

    result, line = run_line(settings, scenario)
    p = result.prompts
    assert p[0] == "greeting" and "nik/ask" not in p, "the caller was not made to wait for the question"
    assert "status/scheduled" in p
    assert only_call(line).nik.endswith(SCHEDULED[-4:])


def test_kept_speech_can_be_exported_for_training_and_deleted(tmp_path):
    from ivr.store.training import delete_training, export_training

    settings = make_settings(tmp_path, speech_enabled=True)
    nik = SCHEDULED
    recognizer = ScriptedRecognizer([spoken(nik), "ya", "selesai"])
    wav = voice_wav(tmp_path / "caller.wav")

    async def scenario(line):
        return await line.call(Say(wav), Say(wav), Say(wav))

    result, line = run_line(settings, scenario, recognizer=recognizer)
    store = line.hotline.store
    kept = store.training_utterances()
    assert len(kept) == 1 and Path(kept[0][0]).parent == (settings.data_dir / "training").resolve()
    report = export_training(store, tmp_path / "export")
    manifest = (tmp_path / "export" / "manifest.tsv").read_text().splitlines()
    assert report.exported == 1 and manifest == [f"audio/000001.wav\t{spoken(nik)}"]
    assert (tmp_path / "export" / "audio" / "000001.wav").stat().st_size > 44
    assert delete_training(store) == 1
    assert store.training_utterances() == [] and not Path(kept[0][0]).exists()
    actions = [a.action for a in store.list_audit()]
    assert "training_export" in actions and "training_delete" in actions


def test_a_yes_proven_by_a_key_is_kept_and_exported_as_words(tmp_path):
    from ivr.store.training import export_training

    settings = make_settings(tmp_path, speech_enabled=True)
    # "iya" with the best "no" reading close behind: asked again, the caller presses 1.
    unsure = ("iya", 1.0, (), (("yes", 31.0), ("no", 30.0)))
    recognizer = ScriptedRecognizer([spoken(SCHEDULED), unsure, "selesai"])
    wav = voice_wav(tmp_path / "caller.wav")

    async def scenario(line):
        return await line.call(Say(wav), Say(wav), Keys("1"), Say(wav))

    result, line = run_line(settings, scenario, recognizer=recognizer)
    assert [g for _, g in recognizer.calls] == ["digits", "confirm", "menu"]
    store = line.hotline.store
    assert only_call(line).nik.endswith(SCHEDULED[-4:])
    labels = sorted(label for _, label, _ in store.training_utterances())
    assert labels == sorted([SCHEDULED, "iya"])
    export_training(store, tmp_path / "export")
    manifest = (tmp_path / "export" / "manifest.tsv").read_text().splitlines()
    assert sorted(line.split("\t")[1] for line in manifest) == sorted([spoken(SCHEDULED), "iya"])


@pytest.mark.postgres
def test_calls_on_postgresql_store(tmp_path, pg_database_url):
    """Several service instances share one PostgreSQL store: the same calls work on it."""
    settings = make_settings(tmp_path, database_url=pg_database_url)

    async def scenario(line):
        return await asyncio.gather(
            line.call(Keys(SCHEDULED), Keys("1"), Silence(), Silence()),
            *[line.call(Keys(DEMO_NIKS["not_registered"]), Keys("1"), HangUp(), caller=f"08129999{i:04d}")
              for i in range(20)])

    results, line = run_line(settings, scenario)
    assert all(r.clean for r in results), [r.problems for r in results]
    assert "status/scheduled" in results[0].prompts
    calls = calls_of(line)
    assert len(calls) == 21
    assert sum(1 for c in calls if c.outcome == "not_found") == 20
    assert all([f.reason for f in c.follow_ups] == ["not_found"] for c in calls if c.outcome == "not_found")
    line.hotline.store.engine.dispose()
