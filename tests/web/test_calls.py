"""Calls through the API and pages: filters, keyset paging, the timeline, recordings,
masked personal data and the audited reveal."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.ports import CallInfo
from ivr.web import queries

from .conftest import CALLER, NIK, NOW, make_call


def _ids(client, **params) -> list[str]:
    r = client.get("/api/calls", params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["items"]]


@pytest.mark.parametrize("in_limit", [2000, -1], ids=["from-follow-ups", "walk-calls"])
def test_filters(operator, env, monkeypatch, in_limit):
    monkeypatch.setattr(queries, "IN_LIMIT", in_limit)
    spool = env.settings.spool
    day = dt.timedelta(days=1)
    a = make_call(env.store, spool, started=NOW - 3 * day, outcome="answered", mode="speech")
    b = make_call(env.store, spool, started=NOW - 2 * day, outcome="not_found", mode="keypad",
                  follow_up="not_found", recording=False)
    c = make_call(env.store, spool, started=NOW - day, outcome="answered", mode="mixed", follow_up="complaint",
                  complaint=True)
    assert _ids(operator) == [c, b, a]
    assert _ids(operator, outcome="not_found") == [b]
    assert _ids(operator, mode="keypad") == [b]
    assert _ids(operator, mode="mixed") == [c]
    assert _ids(operator, follow_up="none") == [a]
    assert _ids(operator, follow_up="any") == [c, b]
    assert _ids(operator, follow_up="open") == [c, b]
    assert _ids(operator, recording="no") == [b]
    assert _ids(operator, recording="yes") == [c, a]
    local = lambda t: t.astimezone(env.app.state.web.tz).date().isoformat()  # noqa: E731
    assert _ids(operator, since=local(NOW - 2 * day), until=local(NOW - 2 * day)) == [b]
    assert _ids(operator, since=local(NOW - 2 * day)) == [c, b]
    env.store.update_follow_up(env.store.list_follow_ups(reason="complaint")[0].id, by="siti", state="done")
    assert _ids(operator, follow_up="done") == [c]
    assert _ids(operator, follow_up="not_done") == [b]
    for bad in ({"since": "28-11-2026"}, {"outcome": "nope"}, {"mode": "telepathy"}, {"cursor": "!!"},
                {"since": "2026-11-28", "until": "2026-11-01"}):
        assert operator.get("/api/calls", params=bad).status_code == 422, bad
    page = operator.get("/calls", params={"mode": "telepathy"})
    assert page.status_code == 200 and "cara input tidak dikenal" in page.text


def test_keyset_paging_walks_every_call_once(operator, env):
    start = NOW - dt.timedelta(hours=5)
    made = []
    for i in range(23):
        # pairs with the same start time: the id breaks the tie
        made.append(env.store.start_call(CallInfo(uniqueid=f"u{i}", caller=CALLER), start + dt.timedelta(minutes=i // 2)))
    seen, cursor, pages = [], "", 0
    while True:
        body = operator.get("/api/calls", params={"limit": 5, "cursor": cursor}).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        if not body["next_cursor"]:
            break
        cursor = body["next_cursor"]
    assert pages == 5 and len(seen) == 23 and set(seen) == set(made)
    started = [operator.get(f"/api/calls/{i}").json()["call"]["started"] for i in seen]
    assert started == sorted(started, reverse=True)
    html = operator.get("/calls").text
    assert "Berikutnya" not in html          # 23 < one page of 50
    html = operator.get("/calls", params={"cursor": queries.encode_cursor(NOW, "zzzz")}).text
    assert "Halaman pertama" in html


def test_call_list_queries_use_indexes(env, monkeypatch):
    """No page of the call list scans the calls table or sorts it (benchmarks/web_calls_paging.py
    times the same queries on a million calls)."""
    engine = env.store.engine
    cursor = queries.encode_cursor(NOW, "ffffffff")
    plan = queries.explain_calls(engine, queries.CallFilter(), cursor=cursor)
    assert "ix_calls_started" in plan and "TEMP B-TREE" not in plan.upper(), plan
    plan = queries.explain_calls(engine, queries.CallFilter(has_recording=True, follow_up="none"), cursor=cursor)
    assert "ix_calls_started" in plan and "TEMP B-TREE" not in plan.upper(), plan
    assert "ix_recordings_call_id" in plan and "ix_follow_ups_call_id" in plan, plan
    plan = queries.explain_calls(engine, queries.CallFilter(outcome="answered"), cursor=cursor)
    assert "ix_calls_outcome_started" in plan, plan
    # a rare follow-up state: start from the follow-ups ...
    plan = queries.explain_calls(engine, queries.CallFilter(follow_up="open"), cursor=cursor)
    assert "ix_follow_ups_state_created" in plan and "SCAN calls" not in plan, plan
    # ... a common one: walk the calls newest first
    monkeypatch.setattr(queries, "IN_LIMIT", -1)
    plan = queries.explain_calls(engine, queries.CallFilter(follow_up="open"), cursor=cursor)
    assert "ix_calls_started" in plan and "SCAN calls" not in plan, plan


def test_call_page_shows_the_timeline_with_prompt_texts_and_masks(operator, env):
    cid = make_call(env.store, env.settings.spool, mode="mixed", follow_up="complaint", complaint=True)
    html = operator.get(f"/calls/{cid}").text
    assert "Selamat datang di layanan telepon Bantuan Sosial Tunai" in html       # greeting's text
    assert "<code>nik/ask</code>" in html
    assert "keyakinan 87%" in html and "Tombol: <code>1</code>" in html
    assert "Hasil: Terjadwal" in html and "Pengaduan" in html
    assert "3172********0001" in html and "0812*****890" in html
    assert NIK not in html and CALLER not in html
    body = operator.get(f"/api/calls/{cid}").json()
    assert body["revealed"] is False and body["call"]["nik"] == "3172********0001"
    assert [s["kind"] for s in body["timeline"]] == ["prompt", "no_input", "speech", "keys", "lookup", "end"]
    assert body["timeline"][0]["prompts"][1] == {"id": "nik/ask", "text": env.app.state.web.catalog().text("nik/ask")}
    assert operator.get("/api/calls/not-a-call").status_code == 404
    assert operator.get("/calls/not-a-call").status_code == 404


def test_reveal_is_one_post_and_is_audited(operator, admin, env):
    cid = make_call(env.store, env.settings.spool)
    r = operator.post(f"/calls/{cid}/reveal", data={"csrf_token": operator.headers["X-CSRF-Token"]})
    assert r.status_code == 200
    assert NIK in r.text and CALLER in r.text and "dicatat di log audit" in r.text
    assert NIK not in operator.get(f"/calls/{cid}").text          # a reveal does not stick
    body = operator.post(f"/api/calls/{cid}/reveal").json()
    assert body["revealed"] and body["call"]["nik"] == NIK and body["call"]["caller"] == CALLER
    speech = next(s for s in body["timeline"] if s["kind"] == "speech")
    assert speech["heard"] == NIK
    entries = [e for e in admin.get("/api/audit").json() if e["action"] == "reveal_call"]
    assert [(e["user"], e["target"]) for e in entries] == [("siti", cid), ("siti", cid)]
    assert cid[:8] in admin.get("/audit").text


def test_recording_streams_from_the_spool(operator, env):
    cid = make_call(env.store, env.settings.spool)
    rec = operator.get(f"/api/calls/{cid}").json()["recordings"][0]
    r = operator.get(rec["url"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    part = operator.get(rec["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert operator.get("/media/recordings/nope").status_code == 404


def test_recording_paths_outside_the_spool_are_refused(operator, env, tmp_path):
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF....WAVE")
    cid = make_call(env.store, env.settings.spool, recording=False)
    outside = env.store.add_recording(cid, str(env.settings.spool / ".." / "secret.wav"), "other", 1)
    link = env.settings.spool / "link.wav"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret)
    linked = env.store.add_recording(cid, str(link), "other", 1)
    not_wav = env.store.add_recording(cid, "/etc/passwd", "other", 1)
    for rid in (outside, linked, not_wav):
        assert operator.get(f"/media/recordings/{rid}").status_code == 404
    for path in ("/media/recordings/..%2F..%2Fetc%2Fpasswd", "/media/prompts/..%2F..%2Fpyproject.toml",
                 "/media/prompts/../../pyproject.toml", "/media/prompts/%2Fetc%2Fpasswd"):
        assert operator.get(path).status_code == 404, path


def test_prompt_audio_is_served_to_signed_in_users(operator, client):
    r = operator.get("/media/prompts/greeting.wav")
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert client.get("/media/prompts/greeting.wav").status_code == 401 or \
        client.get("/media/prompts/greeting.wav", follow_redirects=False).status_code == 303


def test_pages_are_compressed_but_audio_is_not(operator, env):
    cid = make_call(env.store, env.settings.spool)
    page = operator.get(f"/calls/{cid}", headers={"Accept-Encoding": "gzip"})
    assert page.headers.get("content-encoding") == "gzip"
    rec = operator.get(f"/api/calls/{cid}").json()["recordings"][0]["url"]
    audio = operator.get(rec, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in audio.headers and audio.headers["accept-ranges"] == "bytes"
