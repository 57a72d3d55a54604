"""Every route, found by walking ``app.routes``: signed out it answers 401 (API) or a
redirect to sign-in (pages); an operator cannot reach administrator routes; every write
needs the CSRF token.  A route added later is covered without editing this file."""

from __future__ import annotations

import re

import pytest

from .conftest import ADMIN_PW, OPERATOR_PW, TestClient, sign_in

PUBLIC = {("GET", "/health"), ("GET", "/login"), ("POST", "/login"), ("POST", "/api/session")}
ADMIN_PREFIXES = ("/recipients", "/prompts", "/audit", "/users", "/api/recipients", "/api/prompts", "/api/audit",
                  "/api/users", "/media/preview", "/api/voice", "/media/voice", "/campaigns", "/api/campaigns")
SAMPLE = {"call_id": "00000000-0000-0000-0000-000000000000", "follow_up_id": "1", "recording_id": "x",
          "token": "A" * 32, "prompt_id": "greeting", "name": "0123456789abcdef", "n": "1", "job_id": "0" * 32,
          "campaign_id": "1"}


def _walk(routes):
    for r in routes:
        inner = getattr(r, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)
        else:
            yield r


def all_routes(app) -> list[tuple[str, str]]:
    out = []
    for r in _walk(app.routes):
        methods = getattr(r, "methods", None)
        if not methods:       # the static files mount
            continue
        for m in sorted(methods - {"HEAD"}):
            out.append((m, r.path))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLE[m.group(1)], path)


def test_the_route_list_is_complete(env):
    routes = all_routes(env.app)
    assert len(routes) > 35
    assert ("GET", "/api/calls") in routes and ("POST", "/calls/{call_id}/reveal") in routes
    assert PUBLIC <= set(routes)


def test_signed_out_reaches_nothing_but_sign_in_and_health(client, env):
    for method, path in all_routes(env.app):
        if (method, path) in PUBLIC:
            continue
        r = client.request(method, concrete(path), follow_redirects=False)
        if path.startswith("/api"):
            assert r.status_code == 401, (method, path, r.status_code)
        else:
            assert r.status_code == 303, (method, path, r.status_code)
            assert r.headers["location"].startswith("/login"), (method, path)
    assert client.get("/health").status_code == 200
    assert client.get("/login").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_signed_out_api_answers_401_for_a_garbage_cookie(env):
    with TestClient(env.app, cookies={"ivr_session": "forged.value.sig"}) as c:
        assert c.get("/api/calls").status_code == 401
        assert c.get("/calls", follow_redirects=False).status_code == 303


def test_operator_cannot_reach_administrator_routes(operator, env):
    checked = 0
    for method, path in all_routes(env.app):
        if not path.startswith(ADMIN_PREFIXES):
            continue
        r = operator.request(method, concrete(path), follow_redirects=False)
        assert r.status_code == 403, (method, path, r.status_code)
        checked += 1
    assert checked >= 12
    # ... and the administrator does get past the role check
    with TestClient(env.app) as admin:
        admin.headers["X-CSRF-Token"] = sign_in(admin, "admin", ADMIN_PW)
        assert admin.get("/recipients").status_code == 200
        assert admin.get("/api/audit").status_code == 200


def test_operator_pages_do_not_link_to_administrator_pages(operator):
    html = operator.get("/calls").text
    assert 'href="/recipients"' not in html and 'href="/calls"' in html


def test_every_write_needs_the_csrf_token(env):
    with TestClient(env.app) as c:
        sign_in(c, "admin", ADMIN_PW)            # signed in, but no token sent
        writes = [(m, p) for m, p in all_routes(env.app) if m in ("POST", "PUT", "PATCH", "DELETE")
                  and (m, p) not in PUBLIC]
        assert len(writes) >= 15
        for method, path in writes:
            r = c.request(method, concrete(path), follow_redirects=False)
            assert r.status_code == 403, (method, path, r.status_code)
            r = c.request(method, concrete(path), headers={"X-CSRF-Token": "0" * 64}, follow_redirects=False)
            assert r.status_code == 403, (method, path, r.status_code)


def test_a_token_from_another_session_is_refused(env, operator):
    with TestClient(env.app) as other:
        token = sign_in(other, "siti", OPERATOR_PW)
    assert token != operator.headers["X-CSRF-Token"]
    r = operator.post("/api/follow-ups/1", headers={"X-CSRF-Token": token})
    assert r.status_code in (403, 405)
    r = operator.patch("/api/follow-ups/1", json={"note": "x"}, headers={"X-CSRF-Token": token})
    assert r.status_code == 403


def test_openapi_schema_is_generated_and_behind_sign_in(client, operator):
    assert client.get("/api/openapi.json").status_code == 401
    schema = operator.get("/api/openapi.json").json()
    assert "/api/calls" in schema["paths"] and "/api/session" in schema["paths"]
    assert "CallPublic" in schema["components"]["schemas"]


@pytest.mark.parametrize("path", ["/", "/calls", "/follow-ups"])
def test_pages_are_not_cached_and_carry_security_headers(operator, path):
    r = operator.get(path)
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<html lang="id">' in r.text


def test_health_says_when_the_database_is_down(env, tmp_path):
    from ivr.store.db import make_engine
    from ivr.store.sql import SqlStore
    from ivr.web.app import create_app

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    dead = SqlStore(make_engine(f"sqlite:///{blocker / 'x.db'}", check=False), b"test-secret-key-0123456789")
    with TestClient(create_app(env.settings, store=dead)) as c:   # starts even so
        r = c.get("/health")
        assert r.status_code == 200
        assert r.json()["status"] == "degraded" and r.json()["database"] == "unavailable"
        assert c.post("/api/session", json={"name": "siti", "password": "x" * 10}).status_code == 503
        page = c.get("/login")
        assert page.status_code == 200
