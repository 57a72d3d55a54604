"""Signing in and out: the sign-in page and ``/api/session`` for JSON clients.

Failed attempts are throttled per user name, per client address and all together; a
throttled attempt is refused even with the right password.  Signing in issues a new
session id and records it in the store; signing out deletes it there, so the cookie is
dead even if someone kept a copy.  A sign-in form that fails its CSRF check never
touches the visitor's session: a form on another site cannot sign anyone out.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from ivr.web.auth import verify_password
from ivr.web.context import WebContext
from ivr.web.deps import PROTECTED, AuthUser, CurrentUser, Web, read_session
from ivr.web.pages import page
from ivr.web.schemas import SessionCreate, SessionPublic
from ivr.web.sessions import (MAX_AGE_S, Session, clear_cookies, password_fingerprint, session_key,
                              set_cookies)

pages = APIRouter(tags=["session"])
api = APIRouter(prefix="/api/session", tags=["session"])
signed_in = APIRouter(tags=["session"], dependencies=PROTECTED)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: float = 0):
        self.status, self.message, self.retry_after = status, message, retry_after


def _sign_in(web: WebContext, name: str, password: str, address: str) -> Session:
    """Check a name and password; raise Refused (401 or 429) or return the new session,
    already recorded in the store."""
    name = name.strip()
    wait = web.throttle.global_retry_after()
    if wait > 0:
        raise Refused(429, "Terlalu banyak percobaan masuk yang gagal dalam satu menit terakhir, dari semua "
                           f"alamat. Demi keamanan, masuk ditahan sebentar: coba lagi dalam {int(wait) + 1} detik.",
                      wait)
    wait = web.throttle.retry_after(name, address)
    if wait > 0:
        minutes = max(1, int(wait // 60) + (1 if wait % 60 else 0))
        raise Refused(429, f"Terlalu banyak percobaan gagal. Coba lagi dalam {minutes} menit.", wait)
    user = web.store.get_user(name) if name else None
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or user.disabled:
        web.throttle.failed(name, address)
        raise Refused(401, "Nama atau kata sandi salah.")
    web.throttle.succeeded(name, address)
    new = web.codec.new(user.name, password_fingerprint(user.password_hash))
    web.store.create_session(user.name, session_key(new), lifetime_s=MAX_AGE_S)
    web.store.audit(user.name, "sign_in", "", address)
    return new


def _end_previous(request: Request, web: WebContext) -> None:
    # signing in again from the same browser: the session it replaces ends on the server too
    old = read_session(request, web)
    if old is not None and old.user:
        web.store.end_session(session_key(old))


def _sign_out(request: Request, web: WebContext, user: AuthUser) -> None:
    session = read_session(request, web)
    if session is not None:
        web.store.end_session(session_key(session))
    web.store.audit(user.name, "sign_out", "", _address(request))


def _safe_next(target: str | None) -> str:
    # only a path on this site: never "//evil.example" or "https://..."
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@pages.get("/login")
def login_page(request: Request, web: Web, next: str = "/"):
    session = read_session(request, web)
    if session is None:
        session = web.codec.new()
    response = page(request, "login.html", {"csrf": web.codec.csrf_token(session), "next": _safe_next(next),
                                            "error": None, "name": ""})
    set_cookies(response, web.codec, session, secure=_secure(request))
    return response


@pages.post("/login")
def login_submit(request: Request, web: Web, name: Annotated[str, Form(max_length=100)] = "",
                 password: Annotated[str, Form(max_length=200)] = "",
                 csrf_token: Annotated[str, Form(max_length=200)] = "", next: Annotated[str, Form()] = "/"):
    session = read_session(request, web)
    if not web.codec.csrf_ok(session, csrf_token):
        # The visitor's own session, signed in or not, is left exactly as it is: only a
        # visitor with no valid cookie at all gets a fresh (anonymous) one for the form.
        fresh = session is None
        if fresh:
            session = web.codec.new()
        response = page(request, "login.html", {"csrf": web.codec.csrf_token(session), "next": _safe_next(next),
                                                "name": name, "error": "Sesi formulir kedaluwarsa. Silakan coba lagi."},
                        status_code=403)
        if fresh:
            set_cookies(response, web.codec, session, secure=_secure(request))
        return response
    try:
        new = _sign_in(web, name, password, _address(request))
    except Refused as exc:
        response = page(request, "login.html", {"csrf": csrf_token, "next": _safe_next(next), "name": name,
                                                "error": exc.message}, status_code=exc.status)
        if exc.retry_after:
            response.headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return response
    _end_previous(request, web)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookies(response, web.codec, new, secure=_secure(request))
    return response


@signed_in.post("/logout")
def logout(request: Request, web: Web, user: CurrentUser):
    _sign_out(request, web, user)
    response = RedirectResponse("/login", status_code=303)
    clear_cookies(response, secure=_secure(request))
    return response


@api.post("", response_model=SessionPublic, responses={401: {}, 429: {}})
def create_session(body: SessionCreate, request: Request, web: Web):
    """Sign in with a JSON body; the session cookie is set and the CSRF token returned
    (send it back as ``X-CSRF-Token`` on every write)."""
    try:
        new = _sign_in(web, body.name, body.password, _address(request))
    except Refused as exc:
        headers = {"Retry-After": str(int(exc.retry_after) + 1)} if exc.retry_after else None
        raise HTTPException(exc.status, exc.message, headers=headers) from None
    _end_previous(request, web)
    user = web.store.get_user(new.user)
    response = JSONResponse(SessionPublic(name=user.name, role=user.role,
                                          csrf_token=web.codec.csrf_token(new)).model_dump())
    set_cookies(response, web.codec, new, secure=_secure(request))
    return response


api_signed_in = APIRouter(prefix="/api/session", tags=["session"], dependencies=PROTECTED)


@api_signed_in.get("", response_model=SessionPublic)
def get_session(user: CurrentUser) -> SessionPublic:
    return SessionPublic(name=user.name, role=user.role, csrf_token=user.csrf)


@api_signed_in.delete("", status_code=204)
def delete_session(request: Request, web: Web, user: CurrentUser):
    _sign_out(request, web, user)
    response = Response(status_code=204)
    clear_cookies(response, secure=_secure(request))
    return response


def routers() -> list[APIRouter]:
    return [pages, signed_in, api, api_signed_in]
