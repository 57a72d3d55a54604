"""Answered outbound calls through the fake Asterisk over a real FastAGI socket: the
route table sends ``reminder`` and ``callback`` to the outbound dialogue, which reads
the schedule with the inbound prompts, takes 1 / 9 / 0 / 8, and reports back to the
attempt; a callback reaches the operators' queue or, when nobody is free, the
resident's status from the NIK of their own call."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from ivr.app import agi_routes, build_hotline
from ivr.store.recipients import DEMO_NIKS
from ivr.store.sql import SqlStore
from ivr.telephony.channel import ChannelConfig
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, Silence, agi_environment, run_call
from ivr.telephony.server import AgiServer
from tests.conftest import CLOSED_HOURS, OFFICE_HOURS, make_settings, voice_wav

from .helpers import load_campaign, phone

HOTLINE_NUMBER = "1500123"


def outbound_env(port: int, kind: str, attempt_id: int, uniqueid: str) -> list[tuple[str, str]]:
    """What Asterisk sends for an originated channel entering ``[hotline-outbound]``:
    the script and extension are the kind, the caller id is the one Originate set (ours),
    there is no dialled number, and the attempt id is the AGI's first argument."""
    env = dict(agi_environment("127.0.0.1", port, caller=HOTLINE_NUMBER, uniqueid=uniqueid))
    env.update({"agi_network_script": kind, "agi_request": f"agi://127.0.0.1:{port}/{kind}",
                "agi_context": "hotline-outbound", "agi_extension": kind, "agi_priority": "3",
                "agi_dnid": "unknown"})
    return list(env.items()) + [("agi_arg_1", str(attempt_id))]


def serve(settings, scenario, *, clock_at=OFFICE_HOURS):
    hotline = build_hotline(settings, clock=lambda: clock_at)

    async def main():
        server = AgiServer(agi_routes(hotline), "127.0.0.1", 0, config=ChannelConfig.from_settings(settings))
        await server.start()
        try:
            return await scenario(server.bound_port, settings)
        finally:
            await server.close()

    try:
        return asyncio.run(main())
    finally:
        hotline.close()


async def call(port, settings, kind, attempt_id, *turns, transfer_status=None, caller="081234567890",
               env=None):
    extra = {"transfer_status": transfer_status} if transfer_status else {}
    header = env if env is not None else outbound_env(port, kind, attempt_id, f"1700000100.{attempt_id}")
    return await run_call("127.0.0.1", port, list(turns), caller=caller, env=header,
                          sounds_prefix=settings.asterisk_sounds, audio_dir=settings.audio_dir,
                          asterisk_spool=settings.asterisk_spool_dir, spool_dir=settings.spool, timeout=60, **extra)


@pytest.fixture
def reminder(tmp_path):
    """A running campaign of one resident (scheduled tomorrow) and a claimed first attempt."""
    settings = make_settings(tmp_path)
    store = SqlStore.from_settings(settings)
    cid = load_campaign(store, tmp_path, 1)
    claim, = store.claim("test", OFFICE_HOURS, campaign_id=cid, limit=1)
    store.finish_attempt(claim.attempt_id, "answered", at=OFFICE_HOURS, reason_code="4")
    yield settings, store, cid, claim
    store.engine.dispose()


def target(store, cid):
    from sqlalchemy import select

    from ivr.store.models import OutboundCall
    with store.engine.connect() as conn:
        return conn.execute(select(OutboundCall).where(OutboundCall.campaign_id == cid)).one()


def the_call(store):
    calls = store.list_calls(limit=10)
    assert len(calls) == 1
    return store.get_call(calls[0].id)


def test_reminder_read_and_confirmed(reminder):
    settings, store, cid, claim = reminder

    async def scenario(port, settings):
        return await call(port, settings, "reminder", claim.attempt_id, Silence(), Keys("1"))

    result = serve(settings, scenario)
    assert result.clean, result.problems
    p = list(result.prompts)
    assert p[0] == "outbound/reminder_intro", p    # who is calling and why, first
    intro = p.index("outbound/reminder_intro")
    read = p[intro:p.index("outbound/reminder_menu")]
    # the same words as the inbound line: status, day and date, time, place, documents
    for pid in ("status/scheduled", "status/schedule_intro", "days/selasa", "months/desember",
                "status/place_intro", "status/documents_intro", "docs/default", "status/free"):
        assert pid in read, pid
    assert p[-2:] == ["outbound/reminder_thanks", "goodbye"]
    exchanges = [e.command for e in result.exchanges]
    assert exchanges.index("RECORD FILE") < exchanges.index("STREAM FILE")   # listen first, then speak
    t = target(store, cid)
    assert (t.state, t.result, t.attempts) == ("done", "confirmed", 1)
    detail = the_call(store)
    assert detail.call.outcome == "confirmed"
    # the log names the resident's number (masked), not the caller id we sent out with
    from ivr.store.protect import mask_phone
    assert detail.call.caller == mask_phone(phone(1)) != mask_phone(HOTLINE_NUMBER)
    kinds = [e.kind for e in detail.events]
    assert kinds[0] == "outbound" and "listened" in kinds
    assert store.attempts_of(t.id) == [(1, "answered", "4", "confirmed")]


def test_reminder_repeat_then_opt_out(reminder, tmp_path):
    settings, store, cid, claim = reminder
    halo = voice_wav(tmp_path / "halo.wav", 1.0)

    async def scenario(port, settings):
        return await call(port, settings, "reminder", claim.attempt_id, Say(halo), Keys("9"), Keys("8"))

    result = serve(settings, scenario)
    assert result.clean, result.problems
    p = list(result.prompts)
    assert p.count("outbound/reminder_menu") == 2 and p.count("status/scheduled") == 2
    assert p[-2:] == ["outbound/opted_out", "goodbye"]
    t = target(store, cid)
    assert (t.state, t.result) == ("done", "opted_out")
    assert store.is_opted_out(phone(1))
    listened = next(e for e in the_call(store).events if e.kind == "listened")
    assert listened.detail["heard"] is True
    # the next campaign leaves the number out, with the reason
    cid2 = load_campaign(store, tmp_path, 1)
    assert (target(store, cid2).state, target(store, cid2).reason) == ("skipped", "nomor ini minta tidak ditelepon lagi")


@pytest.mark.parametrize("turns", [(Silence(), Silence(), Silence()), (HangUp(),)], ids=["silent", "hung-up"])
def test_nobody_answers_the_reminder_so_it_is_tried_again(reminder, turns):
    settings, store, cid, claim = reminder

    async def scenario(port, settings):
        return await call(port, settings, "reminder", claim.attempt_id, *turns)

    result = serve(settings, scenario)
    assert not result.problems, result.problems
    t = target(store, cid)
    assert (t.state, t.result, t.attempts) == ("retry", "", 1)
    assert t.next_at is not None
    assert the_call(store).call.outcome in ("no_response", "abandoned")


def test_reminder_to_an_operator(reminder):
    settings, store, cid, claim = reminder

    async def scenario(port, settings):
        return await call(port, settings, "reminder", claim.attempt_id, Silence(), Keys("0"), Keys("2"),
                          transfer_status={"queue": "TIMEOUT"})

    result = serve(settings, scenario)
    assert not result.problems, result.problems
    p = list(result.prompts)
    assert "operator/connecting" in p and "operator/busy" in p and "operator/callback_offer" in p
    assert [e.command for e in result.exchanges if e.command == "EXEC"]
    assert (target(store, cid).state, target(store, cid).result) == ("done", "operator")


def test_a_stray_outbound_call_is_ended_politely(reminder):
    settings, store, cid, claim = reminder

    async def scenario(port, settings):
        return await call(port, settings, "reminder", 99999, Silence())

    result = serve(settings, scenario)
    assert "error/system" in result.prompts
    assert target(store, cid).state == "dialing"          # the real attempt is untouched


def test_callback_when_no_operator_is_free_reads_the_status_from_the_callers_nik(tmp_path):
    settings = make_settings(tmp_path)
    nik = DEMO_NIKS["scheduled"]

    async def inbound(port, settings):     # Sunday evening: closed, so a callback is offered
        env = agi_environment("127.0.0.1", port, caller="081299990000", uniqueid="1700000200.1")
        return await call(port, settings, "hotline", 0, Keys(nik), Keys("1"), Keys("0"), Keys("1"), env=env)

    first = serve(settings, inbound, clock_at=CLOSED_HOURS)
    assert "operator/callback_noted" in first.prompts, first.prompts
    store = SqlStore.from_settings(settings)
    try:
        assert store.enqueue_callbacks(OFFICE_HOURS) == 1
        claim, = store.claim("test", OFFICE_HOURS, campaign_id=None, limit=1)
        assert (claim.kind, claim.phone) == ("callback", "081299990000")
        store.finish_attempt(claim.attempt_id, "answered", at=OFFICE_HOURS, reason_code="4")

        async def callback(port, settings):
            return await call(port, settings, "callback", claim.attempt_id, Silence(), Keys("9"),
                              transfer_status={"queue": "TIMEOUT"})

        result = serve(settings, callback)
        assert not result.problems, result.problems
        p = list(result.prompts)
        order = ["outbound/callback_intro", "operator/connecting", "outbound/callback_busy",
                 "outbound/callback_status", "status/scheduled", "menu/after"]
        assert [x for x in p if x in order][:len(order)] == order
        follow_up = store.list_follow_ups(state=None, reason="callback")[0]
        notes = [n.text for n in store.get_follow_up(follow_up.id).notes]
        assert any("percobaan 1: diangkat" in n for n in notes), notes
        assert any("percobaan 1: tersambung" in n for n in notes), notes
        assert store.get_follow_up(follow_up.id).state == "done"
        progress = store.campaign_progress(None)
        assert (progress.total, progress.reached) == (1, 1)
    finally:
        store.engine.dispose()


def test_callback_answered_by_an_operator(tmp_path):
    settings = make_settings(tmp_path)
    store = SqlStore.from_settings(settings)
    try:
        from ivr.ports import CallInfo
        cid = store.start_call(CallInfo(uniqueid="1.1", caller="081277776666"), OFFICE_HOURS - dt.timedelta(hours=1))
        store.add_follow_up(cid, "callback", "caller asked to be called back")
        fid = store.list_follow_ups(reason="callback")[0].id
        assert store.request_callback(fid, by="siti", due=OFFICE_HOURS) == "pending"
        claim, = store.claim("test", OFFICE_HOURS, campaign_id=None, limit=1)
        store.finish_attempt(claim.attempt_id, "answered", at=OFFICE_HOURS, reason_code="4")

        async def callback(port, settings):
            return await call(port, settings, "callback", claim.attempt_id, Silence(),
                              transfer_status={"queue": "BRIDGED"})   # answered and bridged (no QUEUESTATUS)

        result = serve(settings, callback)
        assert "outbound/callback_busy" not in result.prompts
        f = store.get_follow_up(fid)
        assert f.state == "done" and f.done_by == "telepon balik"
        assert any("disambungkan ke petugas" in n.text for n in f.notes)
    finally:
        store.engine.dispose()
