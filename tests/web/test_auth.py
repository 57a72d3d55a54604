"""Signing in and out, session cookies, throttling, the first administrator, ``ivr users add``."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ivr.store.sql import SqlStore
from ivr.web.auth import ensure_first_admin, hash_password, verify_password

from .conftest import ADMIN_PW, OPERATOR_PW, TestClient, sign_in


def _form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_form_sign_in_and_out(client):
    page = client.get("/login?next=/follow-ups")
    r = client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": _form_token(page.text),
                                    "next": "/follow-ups"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/follow-ups"
    home = client.get("/")
    assert home.status_code == 200 and "siti" in home.text
    r = client.post("/logout", data={"csrf_token": _form_token(home.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_sign_in_form_needs_its_csrf_token(client):
    client.get("/login")
    r = client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": "x"})
    assert r.status_code == 403
    assert client.get("/api/session").status_code == 401


def test_sign_in_never_redirects_off_site(client):
    page = client.get("/login")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client.cookies.clear()
        page = client.get("/login")
        r = client.post("/login", data={"name": "siti", "password": OPERATOR_PW, "next": target,
                                        "csrf_token": _form_token(page.text)}, follow_redirects=False)
        assert r.headers["location"] == "/", target


def test_signing_in_issues_a_new_session(client, env):
    client.get("/login")
    before = client.cookies.get("ivr_session")
    sign_in(client, "siti", OPERATOR_PW)
    after = client.cookies.get("ivr_session")
    assert before and after and env.app.state.web.codec.loads(before).sid != env.app.state.web.codec.loads(after).sid


def test_cookie_flags(env):
    with TestClient(env.app) as c:
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW})
        cookies = r.headers.get_list("set-cookie")
        session = next(h for h in cookies if h.startswith("ivr_session="))
        assert "HttpOnly" in session and "SameSite=lax" in session and "Secure" not in session
        csrf = next(h for h in cookies if h.startswith("ivr_csrf="))
        assert "HttpOnly" not in csrf and "SameSite=strict" in csrf
    with TestClient(env.app, base_url="https://hotline.example") as c:
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW})
        assert all("Secure" in h for h in r.headers.get_list("set-cookie"))


def test_api_session_round_trip(client):
    r = client.post("/api/session", json={"name": "siti", "password": "wrong-password"})
    assert r.status_code == 401
    token = sign_in(client, "siti", OPERATOR_PW)
    me = client.get("/api/session").json()
    assert me == {"name": "siti", "role": "operator", "csrf_token": token}
    assert client.delete("/api/session").status_code == 403           # no CSRF header
    assert client.delete("/api/session", headers={"X-CSRF-Token": token}).status_code == 204
    assert client.get("/api/session").status_code == 401


def test_unknown_user_and_disabled_user_cannot_sign_in(client, env):
    assert client.post("/api/session", json={"name": "nobody", "password": "whatever123"}).status_code == 401
    env.store.update_user("siti", by="admin", disabled=True)
    assert client.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 401


def test_password_change_or_disabling_ends_sessions(operator, env):
    assert operator.get("/api/calls").status_code == 200
    env.store.update_user("siti", by="admin", password_hash=hash_password("a-new-password-1"))
    assert operator.get("/api/calls").status_code == 401


def test_throttled_per_user_after_repeated_failures(env):
    with TestClient(env.app) as c:
        for _ in range(5):
            assert c.post("/api/session", json={"name": "siti", "password": "bad-password"}).status_code == 401
        r = c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # the right password is refused while throttled, from any address
    with TestClient(env.app, client=("10.0.0.9", 5000)) as other:
        assert other.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 429
        env.clock.advance(15 * 60 + 1)
        assert other.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 200


def test_throttled_per_address_across_names(env):
    with TestClient(env.app, client=("10.0.0.7", 5000)) as c:
        for i in range(5):
            assert c.post("/api/session", json={"name": f"guess{i}", "password": "bad-password"}).status_code == 401
        assert c.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 429
        page = c.get("/login")
        r = c.post("/login", data={"name": "siti", "password": OPERATOR_PW, "csrf_token": _form_token(page.text)})
        assert r.status_code == 429 and "Terlalu banyak percobaan" in r.text
    with TestClient(env.app, client=("10.0.0.8", 5000)) as elsewhere:
        assert elsewhere.post("/api/session", json={"name": "siti", "password": OPERATOR_PW}).status_code == 200


def test_a_success_clears_the_users_failures(env):
    with TestClient(env.app) as c:
        for _ in range(4):
            c.post("/api/session", json={"name": "admin", "password": "bad-password"})
        sign_in(c, "admin", ADMIN_PW)
    with TestClient(env.app, client=("10.0.0.3", 1)) as c:
        for _ in range(4):
            assert c.post("/api/session", json={"name": "admin", "password": "bad-password"}).status_code == 401
        sign_in(c, "admin", ADMIN_PW)


def test_first_admin_from_environment(client, env):
    user = env.store.get_user("admin")
    assert user.role == "admin" and verify_password(user.password_hash, ADMIN_PW)
    assert not verify_password(user.password_hash, "admin")
    assert env.app.state.web.first_admin_password is None      # nothing generated, nothing printed


def test_first_admin_generated_once(settings, monkeypatch, capsys):
    monkeypatch.delenv("IVR_ADMIN_PASSWORD", raising=False)
    store = SqlStore.from_settings(settings)
    password = ensure_first_admin(store, settings)
    assert password and len(password) >= 12
    assert verify_password(store.get_user("admin").password_hash, password)
    assert ensure_first_admin(store, settings) is None           # never again
    from ivr.web.app import create_app

    second = SqlStore.from_settings(settings.model_copy(update={"data_dir": settings.data_dir / "fresh"}))
    with TestClient(create_app(settings, store=second)):
        pass
    out = capsys.readouterr().out
    assert out.count("Kata sandi:") == 1
    printed = re.search(r"Kata sandi: (\S+)", out).group(1)
    assert verify_password(second.get_user("admin").password_hash, printed)


def test_password_hashes_are_argon2():
    h = hash_password("correct horse battery")
    assert h.startswith("$argon2id$") and verify_password(h, "correct horse battery")
    with pytest.raises(ValueError):
        hash_password("short")


def _ivr(settings, *args, stdin: str = "") -> subprocess.CompletedProcess:
    env = {"IVR_DATA_DIR": str(settings.data_dir), "IVR_SECRET_KEY": settings.secret_key, "IVR_ENV": "test",
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "ivr", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_users_add(settings, env):
    r = _ivr(settings, "users", "add", "budi", "--role", "operator", "--password-stdin", stdin="budi-password-1\n")
    assert r.returncode == 0, r.stderr
    user = env.store.get_user("budi")
    assert user.role == "operator" and verify_password(user.password_hash, "budi-password-1")
    assert "budi-password-1" not in r.stdout + r.stderr
    with TestClient(env.app) as c:
        assert sign_in(c, "budi", "budi-password-1")


def test_cli_users_refusals(env, monkeypatch, capsys):
    import argparse
    import io

    from ivr.web import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    monkeypatch.setattr(cli, "_store", lambda: env.store)

    def run(*argv: str, stdin: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert run("users", "add", "siti", "--role", "admin", "--password-stdin", stdin="another-pass-1\n") == 1
    assert "already exists" in capsys.readouterr().err
    assert run("users", "add", "ani", "--role", "admin", "--password-stdin", stdin="short\n") == 2
    assert env.store.get_user("ani") is None
    assert run("users", "passwd", "siti", "--password-stdin", stdin="a-brand-new-pass\n") == 0
    assert verify_password(env.store.get_user("siti").password_hash, "a-brand-new-pass")
    assert run("users", "disable", "siti", stdin="") == 0 and env.store.get_user("siti").disabled
    with pytest.raises(SystemExit):
        parser.parse_args(["users", "add", "x", "--role", "root"])


def test_administrators_manage_accounts(admin, env):
    r = admin.post("/api/users", json={"name": "rina", "role": "operator", "password": "rina-password-1"})
    assert r.status_code == 201 and r.json()["role"] == "operator"
    assert admin.post("/api/users", json={"name": "rina", "role": "admin", "password": "rina-password-1"}).status_code == 409
    assert admin.post("/api/users", json={"name": "x", "role": "root", "password": "rina-password-1"}).status_code == 422
    assert admin.post("/api/users", json={"name": "y", "role": "admin", "password": "short"}).status_code == 422
    assert "password" not in str(admin.get("/api/users").json())
    token = admin.headers["X-CSRF-Token"]
    r = admin.post("/users", data={"csrf_token": token, "name": "joko", "role": "admin", "password": "joko-password-1"})
    assert r.status_code == 200 and "Akun joko" in r.text
    admin.post("/users/state", data={"csrf_token": token, "name": "rina", "disabled": "true"})
    assert env.store.get_user("rina").disabled
    with TestClient(env.app) as c:
        assert c.post("/api/session", json={"name": "rina", "password": "rina-password-1"}).status_code == 401
        assert sign_in(c, "joko", "joko-password-1")
    assert admin.post("/users/state", data={"csrf_token": token, "name": "admin", "disabled": "true"}).status_code == 422


def test_throttle_forgets_aged_out_names(monkeypatch):
    from ivr.web import auth

    monkeypatch.setattr(auth, "MAX_TRACKED", 50)
    clock = [0.0]
    throttle = auth.LoginThrottle(clock=lambda: clock[0])
    for i in range(40):
        throttle.failed(f"user{i}", "10.0.0.1")
    clock[0] += 16 * 60
    for i in range(40, 80):
        throttle.failed(f"user{i}", "10.0.0.2")
    assert len(throttle._failures) <= 50 + 2
    assert throttle.retry_after("user79", "10.0.0.3") == 0
