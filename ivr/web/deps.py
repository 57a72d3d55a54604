"""Request dependencies: the app context, the signed-in user, roles and CSRF.

Pages and ``/api`` routes share them; how a refusal looks (401 JSON or a redirect to
the sign-in page) is decided once, in the app's exception handlers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from ivr.web.context import WebContext
from ivr.web.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, password_fingerprint, session_key

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotSignedIn(Exception):
    """No valid session: 401 for the API, a redirect to the sign-in page for pages."""


@dataclass(frozen=True)
class AuthUser:
    name: str
    role: str
    csrf: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def get_web(request: Request) -> WebContext:
    return request.app.state.web


Web = Annotated[WebContext, Depends(get_web)]


def get_store(web: Web):
    if web.store is None:
        raise HTTPException(503, "penyimpanan data belum siap")
    return web.store


Store = Annotated[object, Depends(get_store)]


def read_session(request: Request, web: WebContext) -> Session | None:
    return web.codec.loads(request.cookies.get(COOKIE))


def current_user(request: Request, web: Web, store: Store) -> AuthUser:
    session = read_session(request, web)
    if session is None or not session.user:
        raise NotSignedIn()
    # the session must still exist on the server: a copied cookie dies with sign-out
    user = store.session_user(session_key(session))
    if (user is None or user.name != session.user or user.disabled
            or password_fingerprint(user.password_hash) != session.fp):
        raise NotSignedIn()
    auth = AuthUser(user.name, user.role, web.codec.csrf_token(session))
    request.state.user = auth
    return auth


CurrentUser = Annotated[AuthUser, Depends(current_user)]


def require_admin(user: CurrentUser) -> AuthUser:
    if not user.is_admin:
        raise HTTPException(403, "halaman ini khusus administrator")
    return user


AdminUser = Annotated[AuthUser, Depends(require_admin)]


async def csrf_token_of(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    return token


async def csrf_protect(request: Request, web: Web, user: CurrentUser) -> None:
    """Every state-changing request of a signed-in user carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    if not web.codec.csrf_ok(read_session(request, web), await csrf_token_of(request)):
        raise HTTPException(403, "token keamanan (CSRF) tidak cocok; muat ulang halaman lalu coba lagi")


# Routers of signed-in pages and APIs carry this: sign-in first, then CSRF on writes.
PROTECTED = [Depends(csrf_protect)]
ADMIN_ONLY = [Depends(require_admin), Depends(csrf_protect)]
