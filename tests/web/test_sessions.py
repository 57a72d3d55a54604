"""Sessions end on the server, and the client address cannot be forged.

Attacks tried through the real app: a copied cookie replayed after sign-out (API and
form), after a password change, after the account is disabled and after it is enabled
again, after signing in anew, after the session's server-side expiry, and a correctly
signed cookie the server never issued; a cross-site sign-in form (bad CSRF token) against
a signed-in user; X-Forwarded-For made up by the client to dodge the per-address throttle
and to write a false address into the audit log; guesses spread over many addresses
and names."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from sqlalchemy import update

from ivr.store.models import WebSession
from ivr.web.app import create_app
from ivr.web.auth import hash_password
from ivr.web.sessions import COOKIE, CSRF_COOKIE, session_key

from .conftest import ADMIN_PW, NOW, OPERATOR_PW, TestClient, fake_preview, sign_in

# What a signed-in operator can reach; every one must refuse a dead session.
OPERATOR_GETS = ("/api/session", "/api/calls", "/api/follow-ups", "/api/overview", "/", "/calls", "/follow-ups")


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _cookies(client: TestClient) -> dict[str, str]:
    return {COOKIE: client.cookies.get(COOKIE), CSRF_COOKIE: client.cookies.get(CSRF_COOKIE)}


def _replays(env, cookies: dict[str, str], paths=OPERATOR_GETS) -> list[str]:
    """Replay a copied cookie from a fresh client on every path; the paths that let it in."""
    let_in = []
    with TestClient(env.app) as thief:
        for name, value in cookies.items():
            thief.cookies.set(name, value)
        for path in paths:
            r = thief.get(path, follow_redirects=False)
            if r.status_code == 200:
                let_in.append(path)
            else:
                assert r.status_code in (401, 303), (path, r.status_code)
        fid = env.store.create_follow_up("callback", "telepon balik", by="test")
        r = thief.patch(f"/api/follow-ups/{fid}", json={"note": "dibaca orang lain"},
                        headers={"X-CSRF-Token": cookies[CSRF_COOKIE]})
        if r.status_code < 400:
            let_in.append("PATCH /api/follow-ups")
    return let_in


def test_the_copied_cookie_works_while_signed_in(operator, env):
    # the control for every replay below: the same replay does get in while the session lives
    assert _replays(env, _cookies(operator), ("/api/session", "/api/calls")) == [
        "/api/session", "/api/calls", "PATCH /api/follow-ups"]


def test_api_sign_out_ends_the_session_for_every_copy(operator, env):
    copied = _cookies(operator)
    assert env.store.count_sessions("siti") == 1
    assert operator.delete("/api/session").status_code == 204
    assert env.store.count_sessions("siti") == 0
    assert _replays(env, copied) == []
    assert env.store.list_audit(user="siti", limit=1)[0].action == "sign_out"


def test_form_sign_out_ends_the_session_for_every_copy(client, env):
    page = client.get("/login")
    client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": _form_token(page.text)})
    home = client.get("/")
    assert home.status_code == 200
    copied = _cookies(client)
    r = client.post("/logout", data={"csrf_token": _form_token(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    assert _replays(env, copied) == []


def test_signing_out_one_browser_leaves_the_others_signed_in(env):
    with TestClient(env.app) as desk, TestClient(env.app) as laptop:
        desk.headers["X-CSRF-Token"] = sign_in(desk, "siti", OPERATOR_PW)
        laptop.headers["X-CSRF-Token"] = sign_in(laptop, "siti", OPERATOR_PW)
        assert env.store.count_sessions("siti") == 2
        assert desk.delete("/api/session").status_code == 204
        assert desk.get("/api/session").status_code == 401
        assert laptop.get("/api/session").status_code == 200


def test_password_change_ends_every_session(env):
    with TestClient(env.app) as a, TestClient(env.app) as b:
        sign_in(a, "siti", OPERATOR_PW)
        sign_in(b, "siti", OPERATOR_PW)
        copies = [_cookies(a), _cookies(b)]
        env.store.update_user("siti", by="admin", password_hash=hash_password("a-new-password-1"))
        assert env.store.count_sessions("siti") == 0
        assert [_replays(env, c) for c in copies] == [[], []]
        sign_in(a, "siti", "a-new-password-1")          # the new password works
        assert a.get("/api/session").status_code == 200


def test_password_change_from_the_command_line_ends_sessions(operator, env, monkeypatch):
    import argparse
    import io

    from ivr.web import cli

    copied = _cookies(operator)
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    monkeypatch.setattr(cli, "_store", lambda: env.store)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-brand-new-pass\n"))
    args = parser.parse_args(["users", "passwd", "siti", "--password-stdin"])
    assert args.func(args) == 0
    assert _replays(env, copied) == []


def test_disable_ends_sessions_and_enable_does_not_bring_them_back(admin, operator, env):
    copied = _cookies(operator)
    token = admin.headers["X-CSRF-Token"]
    r = admin.post("/users/state", data={"csrf_token": token, "name": "siti", "disabled": "true"},
                   follow_redirects=False)
    assert r.status_code == 303 and env.store.get_user("siti").disabled
    assert _replays(env, copied) == []
    admin.post("/users/state", data={"csrf_token": token, "name": "siti", "disabled": "false"})
    assert not env.store.get_user("siti").disabled
    assert _replays(env, copied) == []                 # still ended after re-enabling
    assert operator.get("/api/session").status_code == 401
    assert sign_in(operator, "siti", OPERATOR_PW)       # a fresh sign-in works again


def test_signing_in_again_ends_the_session_it_replaces(operator, env):
    old = _cookies(operator)
    sign_in(operator, "admin", ADMIN_PW)
    assert operator.get("/api/session").json()["name"] == "admin"
    assert _replays(env, old) == []
    assert env.store.count_sessions("siti") == 0


def test_a_session_past_its_server_side_expiry_is_refused(operator, env):
    copied = _cookies(operator)
    with env.store.engine.begin() as conn:
        conn.execute(update(WebSession).values(expires=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    assert _replays(env, copied) == []


def test_a_signed_cookie_the_server_never_issued_is_refused(env):
    # Someone holding the signing key (a leaked .env, a backup) can make a cookie for any
    # user with the right password fingerprint; without the server's row it opens nothing.
    from ivr.web.sessions import password_fingerprint

    codec = env.app.state.web.codec
    with TestClient(env.app):               # the first administrator is made at start-up
        user = env.store.get_user("admin")
    forged = codec.new("admin", password_fingerprint(user.password_hash))
    cookies = {COOKIE: codec.dumps(forged), CSRF_COOKIE: codec.csrf_token(forged)}
    assert _replays(env, cookies, OPERATOR_GETS + ("/api/users", "/users")) == []


def test_the_store_keeps_only_a_hash_of_the_session_id(operator, env):
    session = env.app.state.web.codec.loads(operator.cookies.get(COOKIE))
    with env.store.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT id_hash, user FROM web_sessions").all()
    assert rows == [(session_key(session), "siti")] and session.sid not in rows[0][0]


@pytest.mark.parametrize("token", ["x", "", None])
def test_a_cross_site_sign_in_form_does_not_sign_anyone_out(operator, env, token):
    before = _cookies(operator)
    data = {"name": "mallory", "password": "whatever-123"}
    if token is not None:
        data["csrf_token"] = token
    r = operator.post("/login", data=data, headers={"X-CSRF-Token": "", "Origin": "https://evil.example"})
    assert r.status_code == 403
    assert not [h for h in r.headers.get_list("set-cookie") if h.startswith((COOKIE + "=", CSRF_COOKIE + "="))]
    assert _cookies(operator) == before
    assert operator.get("/api/session").json()["name"] == "siti"
    assert env.store.count_sessions("siti") == 1


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"])
def test_a_cross_site_form_cannot_post_to_the_json_sign_in(operator, env, ctype):
    # what an HTML form on another site can send without a CORS preflight: refused, no cookie set
    body = '{"name": "admin", "password": "%s"}' % ADMIN_PW
    r = operator.post("/api/session", content=body, headers={"content-type": ctype})
    assert r.status_code == 422 and not r.headers.get_list("set-cookie")
    assert operator.get("/api/session").json()["name"] == "siti"


def test_a_wrong_password_on_the_form_does_not_sign_the_user_out(operator, env):
    page = operator.get("/login")
    r = operator.post("/login", data={"name": "siti", "password": "not-it-at-all",
                                      "csrf_token": _form_token(page.text)})
    assert r.status_code == 401
    assert operator.get("/api/session").status_code == 200


def test_a_visitor_without_a_cookie_still_gets_a_working_form_after_a_bad_token(client):
    r = client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": "x"})
    assert r.status_code == 403
    r = client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": _form_token(r.text)},
                    follow_redirects=False)
    assert r.status_code == 303


# --- the client address -------------------------------------------------------------

def _proxied_app(env, proxies: str):
    settings = env.settings.model_copy(update={"trusted_proxies": proxies})
    return create_app(settings, store=env.store, clock=env.clock, now=lambda: NOW, renderer=env.renderer,
                      previewer=fake_preview)


def _sign_in_address(env) -> str:
    return next(a for a in env.store.list_audit(limit=20) if a.action == "sign_in").detail


def test_forwarded_for_from_an_untrusted_peer_is_ignored_by_the_throttle(env):
    # no proxies configured (the default): 30 guesses, each claiming a different address
    with TestClient(env.app, client=("127.0.0.1", 40000)) as c:
        codes = [c.post("/api/session", json={"name": f"guess{i % 6}", "password": "bad-password"},
                        headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(30)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}      # throttled after 5, on the real address


def test_forwarded_for_cannot_write_a_false_address_into_the_audit_log(env):
    with TestClient(env.app, client=("192.0.2.10", 40000)) as c:
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW},
                   headers={"X-Forwarded-For": "203.0.113.77", "X-Real-IP": "203.0.113.78",
                            "Forwarded": "for=203.0.113.79"})
        assert r.status_code == 200
    assert _sign_in_address(env) == "192.0.2.10"


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(env):
    app = _proxied_app(env, "127.0.0.1, 10.1.0.0/16")
    with TestClient(app, client=("10.1.2.3", 40000)) as via_proxy:
        r = via_proxy.post("/api/session", json={"name": "siti", "password": OPERATOR_PW},
                           headers={"X-Forwarded-For": "203.0.113.5"})
        assert r.status_code == 200
    assert _sign_in_address(env) == "203.0.113.5"
    with TestClient(app, client=("192.0.2.44", 40000)) as direct:       # not a proxy: header ignored
        direct.post("/api/session", json={"name": "siti", "password": OPERATOR_PW},
                    headers={"X-Forwarded-For": "203.0.113.6"})
    assert _sign_in_address(env) == "192.0.2.44"


def test_a_client_cannot_prepend_addresses_through_a_trusted_proxy(env):
    # the proxy appends the real peer; whatever the client wrote before it is not believed
    app = _proxied_app(env, "127.0.0.1")
    with TestClient(app, client=("127.0.0.1", 40000)) as c:
        codes = [c.post("/api/session", json={"name": "siti", "password": "bad-password"},
                        headers={"X-Forwarded-For": f"198.51.100.{i}, 203.0.113.9"}).status_code for i in range(7)]
        assert codes[5:] == [429, 429]
        # another real client behind the same proxy is not held up by the per-address count
        codes = c.post("/api/session", json={"name": "admin", "password": ADMIN_PW},
                       headers={"X-Forwarded-For": "203.0.113.10"}).status_code
    assert codes == 200 and _sign_in_address(env) == "203.0.113.10"


def test_forwarded_proto_from_a_trusted_proxy_makes_cookies_secure(env):
    app = _proxied_app(env, "127.0.0.1")
    with TestClient(app, client=("127.0.0.1", 40000)) as c:
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW},
                   headers={"X-Forwarded-For": "203.0.113.5", "X-Forwarded-Proto": "https"})
        assert all("Secure" in h for h in r.headers.get_list("set-cookie"))
    with TestClient(env.app, client=("127.0.0.1", 40000)) as c:          # no proxy configured
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW},
                   headers={"X-Forwarded-Proto": "https"})
        assert not any("Secure" in h for h in r.headers.get_list("set-cookie"))


@pytest.mark.parametrize("value", ["*", "proxy.example", "10.0.0.0/33", "127.0.0.1,*"])
def test_a_bad_trusted_proxies_setting_names_the_variable(value, monkeypatch):
    from ivr.config import get_settings
    from ivr.errors import ConfigError

    monkeypatch.setenv("IVR_TRUSTED_PROXIES", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="IVR_TRUSTED_PROXIES"):
            get_settings()
    finally:
        get_settings.cache_clear()


# --- failed sign-ins from everywhere together ----------------------------------------

def test_guesses_spread_over_many_addresses_and_names_are_paused(env, caplog):
    """30 guesses across 6 accounts from 30 addresses: the 21st is refused, for everyone,
    with a message that says why and for how long; a minute later sign-in works again."""
    users = ["admin", "siti", "budi", "ani", "rina", "joko"]
    codes = []
    with caplog.at_level(logging.WARNING, logger="ivr.web.auth"):
        for i in range(30):
            with TestClient(env.app, client=(f"198.51.100.{i}", 40000)) as c:
                r = c.post("/api/session", json={"name": users[i % 6], "password": f"guess-{i}-password"})
                codes.append(r.status_code)
                if r.status_code == 429:
                    detail, retry = r.json()["detail"], int(r.headers["retry-after"])
    assert codes[:20] == [401] * 20 and set(codes[20:]) == {429}
    assert "semua alamat" in detail and "detik" in detail and 0 < retry <= 61
    assert sum("sign-in paused for everyone" in m for m in caplog.messages) == 1
    assert not any("198.51.100" in m or "siti" in m for m in caplog.messages)
    with TestClient(env.app, client=("192.0.2.200", 40000)) as office:
        # the right password from a clean address waits too, until the burst ages out
        assert office.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 429
        env.clock.advance(61)
        assert office.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 200


def test_the_global_cap_can_be_turned_off(env):
    settings = env.settings.model_copy(update={"login_failures_per_minute": 0})
    app = create_app(settings, store=env.store, clock=env.clock, now=lambda: NOW)
    codes = []
    for i in range(25):
        with TestClient(app, client=(f"198.51.100.{i}", 40000)) as c:
            codes.append(c.post("/api/session", json={"name": f"u{i}", "password": "guess-password"}).status_code)
    assert set(codes) == {401}


def test_signed_in_users_stay_signed_in_during_a_pause(operator, env):
    for i in range(20):
        with TestClient(env.app, client=(f"198.51.100.{i}", 40000)) as c:
            c.post("/api/session", json={"name": f"u{i}", "password": "guess-password"})
    assert operator.get("/api/calls").status_code == 200
