"""Reminder campaigns in the web app (administrators) and "call back now" on a follow-up."""

from __future__ import annotations

import datetime as dt

from ivr.store.recipients import import_csv

from .conftest import NOW, make_call

DAY = (NOW + dt.timedelta(days=20)).date()     # no demo recipient is scheduled then
CSV = ("nik,name,status,collection_date,collection_time,place,address,phone\n"
       f"3171012304900031,Rina,scheduled,{DAY},08:00-12:00,Kantor Kelurahan Tebet,Jl. Tebet Raya 1,081311110001\n"
       f"3171012304900032,Joko,scheduled,{DAY},08:00-12:00,Kantor Kelurahan Tebet,Jl. Tebet Raya 2,\n"
       f"3171012304900033,Tono,scheduled,{DAY},08:00-12:00,Kantor Kelurahan Tebet,Jl. Tebet Raya 3,081311110003\n")


def _recipients(env, tmp_path):
    path = tmp_path / "tomorrow.csv"
    path.write_text(CSV)
    import_csv(env.store, path, progress=False)


def _form(**over):
    form = {"name": "Pengingat Tebet", "collection_date": DAY.isoformat(), "day_start": "08:00",
            "day_end": "20:00", "max_concurrent": "5", "per_minute": "20", "max_attempts": "3",
            "retry_minutes": "30"}
    form.update(over)
    return form


def test_admin_creates_runs_and_exports_a_campaign(admin, env, tmp_path):
    _recipients(env, tmp_path)
    r = admin.post("/campaigns", data=_form(), follow_redirects=False)
    assert r.status_code == 303
    url = r.headers["location"]
    cid = int(url.rsplit("/", 1)[1])
    page = admin.get(url)
    assert page.status_code == 200
    assert "Pengingat Tebet" in page.text and 'src="/static/campaign.js"' in page.text
    assert 'data-field="reached"' in page.text
    assert "3171012304900031" not in page.text and "081311110001" not in page.text   # masked only
    p = admin.get(f"/api/campaigns/{cid}").json()
    assert (p["state"], p["total"], p["pending"], p["skipped"]) == ("draft", 3, 2, 1)
    assert admin.post(f"/campaigns/{cid}/state", data={"state": "running"}, follow_redirects=False).status_code == 303
    assert env.store.get_campaign(cid).state == "running"
    csv = admin.get(f"/campaigns/{cid}/results.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("nik,nama,telepon,status,hasil") and len(lines) == 4
    assert "3171********0031" in csv.text and "3171012304900031" not in csv.text
    assert "081311110001" not in csv.text and "nomor disembunyikan atau tidak ada" in csv.text
    assert any(a.action == "export_campaign" for a in env.store.list_audit(limit=10))


def test_a_bad_campaign_is_refused_with_the_reason(admin, env, tmp_path):
    _recipients(env, tmp_path)
    r = admin.post("/campaigns", data=_form(day_start="07:00"))
    assert r.status_code == 422 and "08.00 dan 20.00" in r.text
    r = admin.post("/campaigns", data=_form(collection_date=""))
    assert r.status_code == 422 and "pilih tanggal pengambilan" in r.text
    assert env.store.list_campaigns() == []
    r = admin.post("/api/campaigns", json={"name": "x", "collection_date": DAY.isoformat(), "day_end": "21:00"})
    assert r.status_code == 422


def test_blocked_days(admin, env):
    day = (NOW + dt.timedelta(days=3)).date()
    assert admin.post("/campaigns/blocked-days", data={"day": day.isoformat(), "note": "Hari raya"},
                      follow_redirects=False).status_code == 303
    assert env.store.blocked_days() == [(day, "Hari raya")]
    assert "Hari raya" in admin.get("/campaigns").text
    assert admin.post("/campaigns/blocked-days", data={"day": "besok"}).status_code == 422
    admin.post("/campaigns/blocked-days/delete", data={"day": day.isoformat()})
    assert env.store.blocked_days() == []


def test_operators_cannot_run_campaigns(operator):
    assert operator.get("/campaigns").status_code == 403
    assert operator.get("/api/campaigns").status_code == 403


def test_call_back_now_on_a_callback_follow_up(operator, env):
    cid = make_call(env.store, env.settings.spool, follow_up="callback")
    fid = env.store.list_follow_ups(reason="callback")[0].id
    page = operator.get("/follow-ups")
    assert f'action="/follow-ups/{fid}/call-back"' in page.text
    r = operator.post(f"/follow-ups/{fid}/call-back", data={"back": "/follow-ups"}, follow_redirects=False)
    assert r.status_code == 303
    claims = env.store.claim("t", NOW, campaign_id=None, limit=5)
    assert [(c.kind, c.phone) for c in claims] == [("callback", "081234567890")]
    assert any("Telepon balik dijadwalkan" in n.text for n in env.store.get_follow_up(fid).notes)
    # a second press while the call is under way does not queue a second call
    operator.post(f"/follow-ups/{fid}/call-back", data={"back": "/follow-ups"})
    assert env.store.claim("t", NOW, campaign_id=None, limit=5) == []
    other = make_call(env.store, env.settings.spool, follow_up="complaint", uniqueid="1700000000.2")
    assert other != cid
    complaint = env.store.list_follow_ups(reason="complaint")[0].id
    assert operator.post(f"/follow-ups/{complaint}/call-back", data={}).status_code == 422
