"""The AMI client against a fake manager over TCP: login, keepalive, reconnect, outbox."""

from __future__ import annotations

import asyncio

import pytest

from ivr.telephony.ami import (AmiActionFailed, AmiClient, AmiConnectionLost, AmiError,
                               format_action, parse_block)

from .fake_ami import FakeAmi


def client_for(port: int, **kw) -> AmiClient:
    opts = dict(reply_timeout_s=5.0, ping_interval_s=30.0, reconnect_min_s=0.01, reconnect_max_s=0.05)
    opts.update(kw)
    return AmiClient("127.0.0.1", port, "ivr", kw.pop("secret", "s3cret-s3cret"), **opts)


async def until(condition, limit_s: float = 10.0) -> None:
    """Poll a condition (a bounded wait, not a timing assertion)."""
    async with asyncio.timeout(limit_s):
        while not condition():
            await asyncio.sleep(0.005)


async def _with(fake: FakeAmi, client: AmiClient, body):
    try:
        return await body()
    finally:
        await client.close()
        await fake.close()


def test_login_ping_and_unknown_action():
    async def main():
        fake = FakeAmi()
        client = client_for(await fake.start())

        async def body():
            client.start()
            await client.wait_connected(5)
            pong = await client.send("Ping")
            with pytest.raises(AmiActionFailed, match="Invalid/unknown"):
                await client.send("NoSuchAction")
            return pong
        return await _with(fake, client, body), fake

    pong, fake = asyncio.run(main())
    assert pong.get("ping") == "Pong"
    assert [a.get("Action") for a in fake.actions] == ["Login", "Ping", "NoSuchAction"]


def test_bad_secret_never_connects():
    async def main():
        fake = FakeAmi(secret="another-secret-x")
        client = client_for(await fake.start())

        async def body():
            client.start()
            with pytest.raises(AmiError, match="Authentication failed"):
                await client.wait_connected(0.5)
        await _with(fake, client, body)

    asyncio.run(main())


def test_actions_wait_in_the_outbox_until_asterisk_is_up():
    async def main():
        fake = FakeAmi()
        port = await fake.start()
        await fake.close()  # nothing listens there now
        client = client_for(port)
        client.start()
        ping = asyncio.create_task(client.send("Ping", timeout_s=10))
        await until(lambda: "refused" in client.last_error.lower() or "errno" in client.last_error.lower())
        assert not ping.done() and not client.connected
        fake2 = FakeAmi()
        await fake2.start(port)
        return await _with(fake2, client, lambda: ping), fake2

    pong, fake = asyncio.run(main())
    assert pong.get("Ping") == "Pong"
    assert fake.connections == 1


def test_reconnects_after_a_drop_and_keeps_serving():
    async def main():
        fake = FakeAmi()
        client = client_for(await fake.start())

        async def body():
            client.start()
            await client.wait_connected(5)
            fake.drop_all()
            return await client.send("Ping", timeout_s=10)
        return await _with(fake, client, body), fake

    pong, fake = asyncio.run(main())
    assert pong.get("Ping") == "Pong"
    assert fake.connections == 2


def test_inflight_originate_fails_but_inflight_ping_is_resent():
    async def main():
        fake = FakeAmi()
        client = client_for(await fake.start())

        async def body():
            client.start()
            await client.wait_connected(5)
            fake.drop_on = {"originate"}
            with pytest.raises(AmiConnectionLost, match="outcome unknown"):
                await client.originate("PJSIP/0812@trunk", "callback", "s")
            fake.drop_on = {"ping"}
            return await client.send("Ping", timeout_s=10)
        return await _with(fake, client, body), fake

    pong, fake = asyncio.run(main())
    assert pong.get("Ping") == "Pong"
    assert [a.get("Action") for a in fake.actions].count("Originate") == 1  # never repeated
    assert [a.get("Action") for a in fake.actions].count("Ping") == 2


def test_originate_waits_for_the_verdict():
    async def main():
        fake = FakeAmi(originate_response="Failure", reason="5")
        client = client_for(await fake.start())

        async def body():
            client.start()
            return await client.originate("PJSIP/0812@trunk", "callback", "s", caller_id="1500123",
                                          variables={"HOTLINE_CALLBACK": "7"}, timeout_ms=1000)
        return await _with(fake, client, body), fake

    result, fake = asyncio.run(main())
    # a failed originate has no channel left: Asterisk reports Uniqueid "<null>"
    assert (result.success, result.reason, result.uniqueid) == (False, "5", "")
    sent = fake.actions[-1]
    assert sent.get("Async") == "true" and sent.get("Variable") == "HOTLINE_CALLBACK=7"


def test_event_listeners_get_named_events():
    async def main():
        fake = FakeAmi()
        client = client_for(await fake.start())
        seen, all_events = [], []
        got = asyncio.Event()

        def on_hangup(msg):
            seen.append(msg.get("Uniqueid"))
            got.set()

        client.add_listener(on_hangup, events=["Hangup"])
        client.add_listener(lambda m: all_events.append(m.name))
        client.add_listener(lambda m: 1 / 0, events=["Newchannel"])  # a broken listener

        async def body():
            client.start()
            await client.wait_connected(5)
            fake.emit(("Event", "Newchannel"), ("Uniqueid", "1.1"))
            fake.emit(("Event", "Hangup"), ("Uniqueid", "1.1"), ("Cause", "16"))
            await asyncio.wait_for(got.wait(), 5)
        await _with(fake, client, body)
        return seen, all_events

    seen, all_events = asyncio.run(main())
    assert seen == ["1.1"]
    assert all_events == ["FullyBooted", "Newchannel", "Hangup"]


def test_idle_connection_is_pinged_and_a_mute_peer_is_replaced():
    async def main():
        fake = FakeAmi()
        client = client_for(await fake.start(), ping_interval_s=0.05, reply_timeout_s=0.2)

        async def body():
            client.start()
            await client.wait_connected(5)
            await asyncio.wait_for(fake.pinged.wait(), 5)
            fake.mute = True  # pings go unanswered from now on
            await until(lambda: fake.connections >= 2)
            fake.mute = False
            await client.wait_connected(5)
        await _with(fake, client, body)
        return fake

    fake = asyncio.run(main())
    assert fake.connections >= 2


def test_codec():
    assert format_action("Originate", {"Channel": "PJSIP/x"}, {"A": "1"}) == \
        b"Action: Originate\r\nChannel: PJSIP/x\r\nVariable: A=1\r\n\r\n"
    with pytest.raises(ValueError):
        format_action("Originate", {"Channel": "x\r\nAction: Hangup"})
    msg = parse_block(["Response: Success", "ActionID: 3", "Message: ok: fine"])
    assert msg.is_response and msg.get("actionid") == "3" and msg.get("Message") == "ok: fine"


def test_two_clients_on_one_asterisk_each_get_their_own_originate_verdict():
    """Asterisk sends OriginateResponse to every manager session: ActionIDs must differ."""
    from .fake_ami import Dial

    async def main():
        fake = FakeAmi(plan=lambda channel, v: Dial("busy" if "0811" in channel else "answer", ring_s=0.01),
                       time_scale=1000)
        port = await fake.start()
        a, b = client_for(port), client_for(port)

        async def body():
            a.start()
            b.start()
            await a.wait_connected(5)
            await b.wait_connected(5)
            return await asyncio.gather(a.originate("PJSIP/0811@trunk", "c", "s", timeout_ms=1000),
                                        b.originate("PJSIP/0822@trunk", "c", "s", timeout_ms=1000))
        try:
            return await body(), fake
        finally:
            await a.close()
            await b.close()
            await fake.close()

    (busy, answered), fake = asyncio.run(main())
    assert (busy.success, busy.reason, busy.uniqueid) == (False, "5", "")
    assert (answered.success, answered.reason) == (True, "4") and answered.uniqueid.startswith("1700000000.")
    ids = [a.get("ActionID") for a in fake.actions if a.get("Action") == "Originate"]
    assert len(set(ids)) == 2


def test_outstanding_originates_are_capped_and_hangups_matched_by_uniqueid():
    from .fake_ami import Dial

    async def main():
        fake = FakeAmi(plan=lambda channel, v: Dial("answer", ring_s=0.2, talk_s=0.2), time_scale=1)
        client = client_for(await fake.start(), max_originates=2)

        async def body():
            client.start()
            await client.wait_connected(5)
            seen = []

            async def watch():
                while True:
                    seen.append(client.outstanding_originates)
                    await asyncio.sleep(0.01)

            watcher = asyncio.create_task(watch())
            results = await asyncio.gather(*(client.originate(f"PJSIP/08{n}@trunk", "c", "s", timeout_ms=2000)
                                             for n in range(5)))
            causes = await asyncio.gather(*(client.wait_hangup(r.uniqueid, 5) for r in results))
            watcher.cancel()
            return seen, results, causes
        try:
            return await body(), fake
        finally:
            await client.close()
            await fake.close()

    (seen, results, causes), fake = asyncio.run(main())
    assert max(seen) == 2          # never more than two waiting for their verdict
    assert all(r.success for r in results) and causes == ["16"] * 5
    assert len({r.uniqueid for r in results}) == 5
