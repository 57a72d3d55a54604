"""``GET /health``: the only route besides sign-in that answers without a session."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ivr.web.deps import Web

router = APIRouter(tags=["health"])


@router.get("/health")
def health(web: Web) -> JSONResponse:
    ok = False
    if web.store is not None:
        try:
            with web.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            ok = True
        except SQLAlchemyError:
            ok = False
    # 200 while the app serves; the body says whether the database answers
    return JSONResponse({"status": "ok", "database": "ok" if ok else "unavailable"})


def routers() -> list[APIRouter]:
    return [router]
