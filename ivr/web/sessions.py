"""Signed session cookies and CSRF tokens.

The cookie holds ``{sid, user, fp}`` signed (and timestamped) with a key derived from
the settings' secret; nothing secret is in it.  A signed cookie alone does not sign
anyone in: a signed-in session also has a row in the store (``web_sessions``, keyed by
:func:`session_key`), and the row is deleted at sign-out, at a password change and when
the account is disabled, so a copied cookie stops working at once.  ``fp`` is a
fingerprint of the user's password hash, a second check that a password change ends
old sessions.  Every visitor gets a ``sid`` (the sign-in form needs a CSRF token too);
signing in issues a new one, so a planted cookie cannot be promoted to a signed-in
session.

The CSRF token is an HMAC of the ``sid``: forms carry it in a hidden field, JSON
clients send it in the ``X-CSRF-Token`` header (it is also in the readable
``ivr_csrf`` cookie: double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "ivr_session"
CSRF_COOKIE = "ivr_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
MAX_AGE_S = 12 * 3600   # one working shift


@dataclass(frozen=True)
class Session:
    sid: str
    user: str | None = None
    fp: str = ""


def session_key(session: Session) -> str:
    """What the store keeps of a session id: its SHA-256, never the id itself."""
    return hashlib.sha256(session.sid.encode()).hexdigest()


def password_fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class SessionCodec:
    def __init__(self, secret: bytes):
        key = hmac.new(secret, b"web-session", hashlib.sha256).digest()
        self._serializer = URLSafeTimedSerializer(key, salt="ivr-session")
        self._csrf_key = hmac.new(secret, b"web-csrf", hashlib.sha256).digest()

    def new(self, user: str | None = None, fp: str = "") -> Session:
        return Session(sid=secrets.token_urlsafe(18), user=user, fp=fp)

    def dumps(self, session: Session) -> str:
        return self._serializer.dumps({"sid": session.sid, "user": session.user, "fp": session.fp})

    def loads(self, value: str | None) -> Session | None:
        if not value:
            return None
        try:
            data = self._serializer.loads(value, max_age=MAX_AGE_S)
        except BadSignature:            # also covers SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            return None
        user = data.get("user")
        return Session(sid=data["sid"], user=user if isinstance(user, str) else None, fp=str(data.get("fp", "")))

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._csrf_key, session.sid.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return bool(session and token) and hmac.compare_digest(self.csrf_token(session), token)


def set_cookies(response, codec: SessionCodec, session: Session, *, secure: bool) -> None:
    response.set_cookie(COOKIE, codec.dumps(session), max_age=MAX_AGE_S, httponly=True, samesite="lax",
                        secure=secure, path="/")
    # readable by scripts on purpose: the double-submit half for JSON clients
    response.set_cookie(CSRF_COOKIE, codec.csrf_token(session), max_age=MAX_AGE_S, httponly=False,
                        samesite="strict", secure=secure, path="/")


def clear_cookies(response, *, secure: bool) -> None:
    for name in (COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=name == COOKIE,
                               samesite="lax" if name == COOKIE else "strict")
