"""The dialer against the fake AMI peer over TCP, with a SQLite or PostgreSQL store:
what each OriginateResponse does to an attempt, retries, the rules of decency, a
reconnect in the middle of a campaign, and two instances sharing one store."""

from __future__ import annotations

import asyncio
import collections
import datetime as dt

import pytest

from ivr.store.sql import SqlStore
from tests.conftest import make_settings
from tests.telephony.fake_ami import Dial, FakeAmi

from .helpers import MONDAY_9, ManualClock, ScaledClock, ami_client, dialer, load_campaign, phone

PLAN = {phone(1): "answer", phone(2): "busy", phone(3): "noanswer", phone(4): "unavailable",
        phone(5): "congestion"}


def number_of(channel: str) -> str:
    return channel.split("/", 1)[1].split("@", 1)[0]


def plan_by_number(plan, default="answer", **kw):
    return lambda channel, variables: Dial(plan.get(number_of(channel), default), **kw)


def record_on_answer(store, result="confirmed"):
    """Stands in for the AGI route of an answered call: it reports the dialogue's result."""
    async def on_answer(placed, uniqueid):
        await asyncio.to_thread(store.record_result, int(placed.var("HOTLINE_ATTEMPT")), result,
                                at=MONDAY_9)
    return on_answer


@pytest.fixture
def store(tmp_path):
    s = SqlStore.from_settings(make_settings(tmp_path))
    yield s
    s.engine.dispose()


def target_rows(store, cid):
    from sqlalchemy import select

    from ivr.store.models import OutboundCall
    with store.engine.connect() as conn:
        return conn.execute(select(OutboundCall).where(OutboundCall.campaign_id == cid)
                            .order_by(OutboundCall.id)).all()


def targets(store, cid):
    """By masked number (for campaigns whose numbers all differ)."""
    return {r.phone_masked: r for r in target_rows(store, cid)}


def by_index(store, cid):
    from ivr.store import protect
    rows = targets(store, cid)
    return {i: rows[protect.mask_phone(phone(i))] for i in range(1, 6)}


async def settle(d):
    """Let every call the dialer placed finish (bounded)."""
    async with asyncio.timeout(20):
        while d._tasks:
            await asyncio.gather(*list(d._tasks), return_exceptions=True)


def test_each_originate_outcome_and_the_retries(store, tmp_path):
    cid = load_campaign(store, tmp_path, 5, max_attempts=2, retry_minutes=30)
    clock = ManualClock()

    async def main():
        fake = FakeAmi(plan=plan_by_number(PLAN), time_scale=1000, on_answer=record_on_answer(store))
        ami = ami_client(await fake.start())
        ami.start()
        d = dialer(store, ami, clock)
        try:
            first = await d.tick()
            await settle(d)
            after_first = by_index(store, cid)
            early = await d.tick()                      # nothing is due before the retry interval
            clock.advance(minutes=31)
            second = await d.tick()
            await settle(d)
            third = await d.tick()
            return first, after_first, early, second, third, fake
        finally:
            await ami.close()
            await fake.close()

    first, after_first, early, second, third, fake = asyncio.run(main())
    assert first == 5 and early == 0 and second == 4 and third == 0
    # after one try: the answered one is done, the others wait 30 minutes
    assert (after_first[1].state, after_first[1].result) == ("done", "confirmed")
    for i in (2, 3, 4, 5):
        assert after_first[i].state == "retry"
        assert after_first[i].next_at == (MONDAY_9 + dt.timedelta(minutes=30)).astimezone(dt.timezone.utc)
    final = by_index(store, cid)
    assert {i: (t.state, t.result, t.attempts) for i, t in final.items()} == {
        1: ("done", "confirmed", 1), 2: ("done", "busy", 2), 3: ("done", "no_answer", 2),
        4: ("done", "failed", 2), 5: ("done", "congestion", 2)}
    outcomes = [store.attempts_of(final[i].id) for i in (2, 3, 4, 5)]
    assert outcomes == [[(1, "busy", "5", ""), (2, "busy", "5", "")],
                        [(1, "no_answer", "3", ""), (2, "no_answer", "3", "")],
                        [(1, "failed", "0", ""), (2, "failed", "0", "")],
                        [(1, "congestion", "8", ""), (2, "congestion", "8", "")]]
    # what was sent: one Originate per attempt, to the trunk, into the outbound context
    originates = [a for a in fake.actions if a.get("Action") == "Originate"]
    assert len(originates) == 9 == len(fake.placed)
    sent = next(a for a in originates if phone(1) in a.get("Channel"))
    assert sent.get("Channel") == f"PJSIP/{phone(1)}@trunk-endpoint"
    assert (sent.get("Context"), sent.get("Exten"), sent.get("Priority"), sent.get("Async")) == \
        ("hotline-outbound", "reminder", "1", "true")
    assert sent.get("Variable").startswith("HOTLINE_ATTEMPT=")
    assert len({p.var("HOTLINE_ATTEMPT") for p in fake.placed}) == 9


def test_rules_of_decency(store, tmp_path):
    phones = {2: "", 3: "+6512345678", 4: phone(1)}     # none, not Indonesian, a duplicate number
    cid = load_campaign(store, tmp_path, 5, phones=phones)
    store.opt_out(phone(5), source="test")
    cid2 = load_campaign(store, tmp_path, 5, phones=phones)     # made after the opt-out
    skipped = sorted(r.reason for r in target_rows(store, cid2) if r.state == "skipped")
    assert skipped == ["nomor disembunyikan atau tidak ada", "nomor ini minta tidak ditelepon lagi",
                       "nomor tidak sah", "nomor yang sama sudah ada di kampanye ini"]
    store.set_campaign_state(cid2, "paused", by="admin")

    async def main():
        fake = FakeAmi(time_scale=1000, on_answer=record_on_answer(store))
        ami = ami_client(await fake.start())
        ami.start()
        clock = ManualClock(MONDAY_9.replace(hour=7, minute=59))
        d = dialer(store, ami, clock)
        try:
            seen = [(await d.tick(), d.stats.refused)]
            clock.now = MONDAY_9.replace(hour=20, minute=0)
            seen.append((await d.tick(), d.stats.refused))
            clock.now = MONDAY_9
            store.block_day(MONDAY_9.date(), note="libur", by="admin")
            seen.append((await d.tick(), d.stats.refused))
            store.unblock_day(MONDAY_9.date(), by="admin")
            seen.append((await d.tick(), d.stats.refused))
            await settle(d)
            return seen, fake
        finally:
            await ami.close()
            await fake.close()

    seen, fake = asyncio.run(main())
    assert seen[:3] == [(0, "di luar jam 08.00-20.00"), (0, "di luar jam 08.00-20.00"),
                        (0, "hari diblokir administrator")]
    # the first campaign's only callable people: 1 (and not 4, same number), and 5 who
    # opted out after that campaign was made -- the claim skips them
    assert seen[3][0] == 1
    assert [number_of(p.channel) for p in fake.placed] == [phone(1)]
    assert sorted((r.state, r.result) for r in target_rows(store, cid)) == [
        ("done", "confirmed"), ("skipped", "opted_out"), ("skipped", "skipped"), ("skipped", "skipped"),
        ("skipped", "skipped")]


def run_campaign(store_factory, tmp_path, count, *, instances=1, drop_after=None, rates=None, max_lines=10):
    """Run a campaign to the end on ``instances`` dialers (each with its own AMI
    connection), optionally dropping every AMI connection after ``drop_after``
    originates.  Returns (fake, stores)."""
    stores = [store_factory() for _ in range(instances)]
    cid = load_campaign(stores[0], tmp_path, count, max_concurrent=max_lines, per_minute=1000,
                        max_attempts=3, retry_minutes=1)
    rates = rates or {}

    def plan(channel, variables):
        n = int(number_of(channel)[4:])
        return Dial(rates.get(n % 10, "answer"), ring_s=0.5, talk_s=1.0)

    async def main():
        fake = FakeAmi(plan=plan, time_scale=50, on_answer=record_on_answer(stores[0]))
        port = await fake.start()
        clients = [ami_client(port) for _ in stores]
        clock = ScaledClock(MONDAY_9, 50)       # the dialer's time runs at the fake's pace
        dialers = [dialer(s, a, clock, instance=f"inst-{k}", max_lines=max_lines, sleep=clock.sleep, tick_s=2.0,
                          lost_hold_s=120.0)
                   for k, (s, a) in enumerate(zip(stores, clients))]
        for a in clients:
            a.start()
        runs = [asyncio.create_task(d.run()) for d in dialers]
        dropped = False
        try:
            async with asyncio.timeout(90):
                while True:
                    await asyncio.sleep(0.02)
                    if drop_after is not None and not dropped and len(fake.placed) >= drop_after:
                        fake.drop_all()
                        dropped = True
                    if stores[0].campaign_progress(cid).done:
                        break
                    for r in runs:
                        if r.done():
                            r.result()      # a dialer loop must never die: show why it did
        finally:
            for r in runs:
                r.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            for d in dialers:
                await settle(d)
            for a in clients:
                await a.close()
            await fake.close()
        return fake, dialers

    fake, dialers = asyncio.run(main())
    return cid, fake, dialers, stores


def assert_never_twice(fake, store, cid):
    from sqlalchemy import func, select

    from ivr.store.models import OutboundAttempt, OutboundCall
    attempts = [p.var("HOTLINE_ATTEMPT") for p in fake.placed]
    assert len(attempts) == len(set(attempts)), "an attempt was dialled twice"
    with store.engine.connect() as conn:
        claimed = conn.execute(select(func.count()).select_from(OutboundAttempt)
                               .join(OutboundCall, OutboundCall.id == OutboundAttempt.target_id)
                               .where(OutboundCall.campaign_id == cid)).scalar_one()
    assert claimed == len(fake.placed)
    # nobody is dialled again once an answered call reported a result
    reached_at: dict[str, int] = {}
    for k, p in enumerate(fake.placed):
        number = number_of(p.channel)
        assert number not in reached_at, f"{number} dialled again after being reached"
        if p.outcome == "answer":
            reached_at[number] = k


RATES = {1: "busy", 2: "noanswer", 3: "unavailable"}     # 7 in 10 answer the first time


def test_reconnect_in_the_middle_of_a_campaign(store, tmp_path):
    cid, fake, dialers, stores = run_campaign(lambda: store, tmp_path, 40, drop_after=15, rates=RATES)
    assert fake.connections >= 2
    progress = store.campaign_progress(cid)
    assert progress.done and progress.total == 40
    assert_never_twice(fake, store, cid)
    assert fake.max_in_progress <= 10
    # every busy/no-answer/failed number got its three tries
    for t in targets(store, cid).values():
        assert t.result in ("confirmed", "busy", "no_answer", "failed"), t.result
        if t.result != "confirmed":
            assert t.attempts == 3


def test_two_instances_on_one_sqlite_store(tmp_path):
    settings = make_settings(tmp_path)

    def factory():
        return SqlStore.from_settings(settings)

    cid, fake, dialers, stores = run_campaign(factory, tmp_path, 30, instances=2, rates=RATES, max_lines=5)
    try:
        assert_never_twice(fake, stores[0], cid)
        assert all(d.stats.placed > 0 for d in dialers), [d.stats.placed for d in dialers]
        assert stores[0].campaign_progress(cid).done
        assert fake.max_in_progress <= 5        # the campaign's limit holds over both instances
    finally:
        for s in stores:
            s.engine.dispose()


def test_two_instances_on_one_postgresql_store(tmp_path, pg_database_url):
    settings = make_settings(tmp_path, database_url=pg_database_url)

    def factory():
        return SqlStore.from_settings(settings)

    cid, fake, dialers, stores = run_campaign(factory, tmp_path, 30, instances=2, rates=RATES, max_lines=5)
    try:
        assert_never_twice(fake, stores[0], cid)
        assert all(d.stats.placed > 0 for d in dialers), [d.stats.placed for d in dialers]
        assert fake.max_in_progress <= 5
    finally:
        for s in stores:
            s.engine.dispose()


def test_concurrent_claims_on_postgresql_never_overlap(tmp_path, pg_database_url):
    """Eight threads, each with its own engine, claim from one campaign at once."""
    from concurrent.futures import ThreadPoolExecutor

    settings = make_settings(tmp_path, database_url=pg_database_url)
    stores = [SqlStore.from_settings(settings) for _ in range(8)]
    try:
        cid = load_campaign(stores[0], tmp_path, 200)

        def grab(k):
            got = []
            while True:
                claims = stores[k].claim(f"t{k}", MONDAY_9, campaign_id=cid, limit=7)
                if not claims:
                    return got
                got += [c.target_id for c in claims]

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(grab, range(8)))
        claimed = [t for r in results for t in r]
        assert len(claimed) == len(set(claimed)) == 200
        assert sum(1 for r in results if r) >= 2          # the work really was shared
        assert collections.Counter(t.state for t in targets(stores[0], cid).values()) == {"dialing": 200}
    finally:
        for s in stores:
            s.engine.dispose()


def test_callback_requests_are_dialled_only_while_the_office_is_open(store):
    from ivr.ports import CallInfo

    cid = store.start_call(CallInfo(uniqueid="1.1", caller="081277776666"), MONDAY_9 - dt.timedelta(days=1))
    store.add_follow_up(cid, "callback", "caller asked to be called back")

    async def main():
        fake = FakeAmi(time_scale=1000, on_answer=record_on_answer(store, "operator"))
        ami = ami_client(await fake.start())
        ami.start()
        clock = ManualClock(MONDAY_9.replace(hour=17))       # operators have gone home
        d = dialer(store, ami, clock, callbacks=True)
        try:
            evening = await d.tick()
            clock.now = MONDAY_9.replace(day=1, month=12)    # Tuesday 09:00
            morning = await d.tick()
            await settle(d)
            return evening, morning, fake
        finally:
            await ami.close()
            await fake.close()

    evening, morning, fake = asyncio.run(main())
    assert (evening, morning) == (0, 1)
    placed, = fake.placed
    assert placed.channel == "PJSIP/081277776666@trunk-endpoint"
    originate = next(a for a in fake.actions if a.get("Action") == "Originate")
    assert originate.get("Exten") == "callback"
    f = store.list_follow_ups(reason="callback", state=None)[0]
    assert store.get_follow_up(f.id).state == "done"
