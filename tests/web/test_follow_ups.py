"""The follow-up queue: take an item, add a note, mark it done (who and when kept);
a complaint's recording plays on its item."""

from __future__ import annotations

from .conftest import make_call


def test_queue_assign_note_done(operator, env):
    cid = make_call(env.store, env.settings.spool, follow_up="complaint", complaint=True)
    make_call(env.store, env.settings.spool, follow_up="not_found")
    items = operator.get("/api/follow-ups").json()
    assert {i["reason"] for i in items} == {"complaint", "not_found"}
    item = next(i for i in items if i["reason"] == "complaint")
    assert item["call_id"] == cid and item["state"] == "open"
    assert [r["purpose"] for r in item["recordings"]] == ["complaint"]
    assert operator.get(item["recordings"][0]["url"]).content[:4] == b"RIFF"

    fid = item["id"]
    got = operator.patch(f"/api/follow-ups/{fid}", json={"assign_to_me": True}).json()
    assert got["state"] == "assigned" and got["assignee"] == "siti"
    got = operator.patch(f"/api/follow-ups/{fid}", json={"note": "ditelepon balik, tidak diangkat"}).json()
    assert [(n["author"], n["text"]) for n in got["notes"]] == [("siti", "ditelepon balik, tidak diangkat")]
    got = operator.patch(f"/api/follow-ups/{fid}", json={"state": "done"}).json()
    assert got["state"] == "done" and got["done_by"] == "siti" and got["done_at"]
    assert [i["id"] for i in operator.get("/api/follow-ups").json() if i["reason"] == "complaint"] == []
    assert [i["id"] for i in operator.get("/api/follow-ups", params={"state": "done"}).json()] == [fid]
    assert operator.patch("/api/follow-ups/99999", json={"note": "x"}).status_code == 404
    assert operator.patch(f"/api/follow-ups/{fid}", json={"state": "bogus"}).status_code == 422
    assert operator.get("/api/follow-ups", params={"state": "bogus"}).status_code == 422


def test_forms_on_the_queue_page(operator, env):
    make_call(env.store, env.settings.spool, follow_up="callback")
    fid = env.store.list_follow_ups()[0].id
    token = operator.headers["X-CSRF-Token"]
    page = operator.get("/follow-ups")
    assert f'id="fu-{fid}"' in page.text and "Permintaan telepon balik" in page.text
    assert "Penelepon menutup telepon" in page.text          # the flow's English detail, in Indonesian
    form = lambda extra: {"csrf_token": token, "back": "/follow-ups?state=all", **extra}  # noqa: E731
    r = operator.post(f"/follow-ups/{fid}/assign", data=form({}), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/follow-ups?state=all#fu-{fid}"
    operator.post(f"/follow-ups/{fid}/note", data=form({"note": "sudah dihubungi"}))
    operator.post(f"/follow-ups/{fid}/done", data=form({}))
    f = env.store.get_follow_up(fid)
    assert f.state == "done" and f.assignee == "siti" and f.done_by == "siti"
    assert [n.text for n in f.notes] == ["sudah dihubungi"]
    html = operator.get("/follow-ups", params={"state": "done"}).text
    assert "selesai" in html and "oleh siti" in html and "sudah dihubungi" in html
    r = operator.post(f"/follow-ups/{fid}/reopen", data={"csrf_token": token, "back": "//evil.example"},
                      follow_redirects=False)
    assert r.headers["location"].startswith("/follow-ups#")
    assert env.store.get_follow_up(fid).state == "open"


def test_mine_filter(operator, admin, env):
    make_call(env.store, env.settings.spool, follow_up="callback")
    make_call(env.store, env.settings.spool, follow_up="not_found")
    a, b = [f.id for f in env.store.list_follow_ups()]
    operator.patch(f"/api/follow-ups/{a}", json={"assign_to_me": True})
    admin.patch(f"/api/follow-ups/{b}", json={"assign_to_me": True})
    assert [i["id"] for i in operator.get("/api/follow-ups", params={"mine": True}).json()] == [a]


def test_text_from_users_is_escaped(operator, env):
    make_call(env.store, env.settings.spool, follow_up="callback")
    fid = env.store.list_follow_ups()[0].id
    operator.patch(f"/api/follow-ups/{fid}", json={"note": "<script>alert(1)</script>"})
    html = operator.get("/follow-ups").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
