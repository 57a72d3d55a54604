"""The web app factory: ``create_app(settings, store=...)``.

The lifespan opens the store when none is given and creates the first administrator
on a fresh install (printing a generated password once).  Middleware caps request
bodies, sets security headers and compresses responses for slow connections.  Refusals
look the same everywhere: 401 JSON / a redirect to sign-in when signed out, a JSON or
page error otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Callable
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ivr.config import Settings
from ivr.errors import StoreError
from ivr.web.auth import LoginThrottle, ThrottlePolicy, ensure_first_admin
from ivr.web.context import Previewer, Renderer, WebContext, default_previewer, default_renderer
from ivr.web.deps import NotSignedIn
from ivr.web.pages import TEMPLATES, make_templates, page
from ivr.web.sessions import SessionCodec

log = logging.getLogger(__name__)

STATIC = TEMPLATES.parent / "static"
BODY_MARGIN = 64 * 1024           # multipart framing and the other form fields
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "content-security-policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "media-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI):
    web: WebContext = app.state.web
    if web.store is None:
        from ivr.store.sql import SqlStore

        web.store = await asyncio.to_thread(SqlStore.from_settings, web.settings)
    await asyncio.to_thread(_prepare_uploads, web)
    try:
        password = await asyncio.to_thread(ensure_first_admin, web.store, web.settings)
    except StoreError as exc:
        # the pages answer 503 until the database is back; the calls go on meanwhile
        log.error("cannot check for a first administrator: %s", exc)
        password = None
    if password is not None:
        web.first_admin_password = password
        # printed once, on purpose: the only way an operator learns a generated password
        print("Administrator pertama dibuat. Nama: admin  Kata sandi: " + password
              + "  (catat sekarang; tidak akan ditampilkan lagi)", flush=True)
    yield


def _prepare_uploads(web: WebContext) -> None:
    """The uploads folder owner-only and empty (a file there outlived a crashed check);
    checked lists never applied within the hour forgotten."""
    from ivr.store.files import private_dir
    from ivr.web import uploads

    private_dir(web.uploads_dir)
    removed = uploads.clear_folder(web.uploads_dir)
    if removed:
        log.info("removed %d upload(s) left by an earlier run", removed)
    try:
        uploads.sweep(web.store)
    except StoreError as exc:
        log.error("cannot sweep old uploads: %s", exc)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes before anything parses them."""

    def __init__(self, app, limit: Callable[[], int]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit()
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._refuse(scope, receive, send, limit)
        seen = 0
        exceeded = False

        async def counted():
            # a body streamed without a length: once past the limit the app sees a disconnect
            nonlocal seen, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def answer(message):
            if not exceeded:            # after a cut-off the app's own reply is dropped for ours
                await send(message)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope, receive, send, limit):
        text = _too_large(limit)
        if scope["path"].startswith("/api"):
            response = JSONResponse({"detail": text}, status_code=413)
        else:
            from starlette.responses import HTMLResponse

            response = HTMLResponse(f"<!doctype html><meta charset=utf-8><title>Terlalu besar</title>"
                                    f"<p>{text}</p><p><a href=\"/recipients\">Kembali</a></p>", status_code=413)
        await response(scope, receive, send)


class Compress(GZipMiddleware):
    """Gzip pages and JSON for slow lines; audio (already dense, and fetched in ranges) is left alone."""

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith("/media/"):
            return await self.app(scope, receive, send)
        return await super().__call__(scope, receive, send)


def _too_large(limit: int) -> str:
    return (f"Berkas terlalu besar: batasnya {limit // (1024 * 1024)} MB. Tidak ada yang diubah. "
            "Pecah daftar menjadi beberapa berkas, atau impor lewat perintah 'ivr recipients import'.")


def create_app(settings: Settings, store=None, *, clock: Callable[[], float] = time.monotonic,
               now: Callable[[], dt.datetime] | None = None, renderer: Renderer | None = None,
               previewer: Previewer | None = None, max_upload_bytes: int | None = None,
               throttle: ThrottlePolicy | None = None) -> FastAPI:
    """Build the app.  ``clock`` (monotonic seconds) drives login throttling and the overview's
    cache, ``now`` is the wall clock (the overview's "today"); ``renderer``/``previewer``
    render prompt audio (tests pass fakes: the real TTS takes seconds).

    The client address (the sign-in throttle's key, the audit log's address) is the TCP
    peer's; X-Forwarded-For and X-Forwarded-Proto are believed only from the proxies in
    ``IVR_TRUSTED_PROXIES``, and then only up to the first address that is not one of
    them.  This is done here, not by the server, so it holds however the app is served
    (``ivr serve`` turns uvicorn's own handling off)."""
    if throttle is None:
        throttle = ThrottlePolicy(global_max_failures=settings.login_failures_per_minute)
    try:
        tz = ZoneInfo(settings.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("Asia/Jakarta")
    web = WebContext(
        settings=settings, store=store, codec=SessionCodec(settings.secret()),
        throttle=LoginThrottle(throttle, clock), templates=make_templates(tz), tz=tz, clock=clock,
        now=now or (lambda: dt.datetime.now(tz)), renderer=renderer or default_renderer,
        previewer=previewer or default_previewer,
        max_upload_bytes=max_upload_bytes or settings.max_upload_mb * 1024 * 1024)
    # the schema is served behind sign-in (/api/openapi.json); no docs UI (it would load from a CDN)
    app = FastAPI(title="Hotline BST", version="1", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.web = web

    from ivr.web.routes import (audit, calls, campaigns, follow_ups, health, media, overview, prompts, recipients,
                                session, users, voice)

    for module in (health, session, overview, calls, follow_ups, recipients, prompts, voice, audit, users, media,
                   campaigns):
        for router in module.routers():
            app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    _handlers(app)

    @app.middleware("http")
    async def headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=86400"
        return response

    app.add_middleware(Compress, minimum_size=800)
    app.add_middleware(BodyLimit, limit=lambda: web.max_upload_bytes + BODY_MARGIN)
    if settings.proxies:
        # outermost, so everything inside sees the real client (uvicorn's well-tested parser:
        # the right-most address in the chain that is not a trusted proxy)
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.proxies)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if is_api(request):
            return JSONResponse({"detail": "belum masuk"}, status_code=401,
                                headers={"WWW-Authenticate": 'Cookie realm="ivr"'})
        target = "/login"
        if request.method == "GET" and request.url.path not in ("/", "/login"):
            from urllib.parse import quote

            here = request.url.path + (("?" + request.url.query) if request.url.query else "")
            target += "?next=" + quote(here, safe="")
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if is_api(request):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return page(request, "error.html", {"status": exc.status_code, "message": exc.detail},
                    status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        if is_api(request):
            errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
            return JSONResponse({"detail": errors}, status_code=422)
        message = "Isian tidak sah: periksa lagi lalu kirim ulang."
        return page(request, "error.html", {"status": 422, "message": message}, status_code=422)

    @app.exception_handler(StoreError)
    async def store_down(request: Request, exc: StoreError):
        log.error("store error in %s: %s", request.url.path, exc)
        text = "Basis data sedang tidak bisa dipakai. Coba lagi sebentar lagi."
        if is_api(request):
            return JSONResponse({"detail": text}, status_code=503)
        return page(request, "error.html", {"status": 503, "message": text}, status_code=503)
