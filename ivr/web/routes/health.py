"""``GET /health``: the only route besides sign-in that answers without a session.

It says whether the database would serve a caller now: a probe that reads and takes
a call-log write lock under the call limit (``IVR_DB_TIMEOUT_S``).  A hung database
(a lock held, a server not answering) shows as ``"slow"`` and the status as
``"degraded"`` within about that limit, instead of the route hanging with it.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from ivr.web.deps import Web

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(web: Web) -> JSONResponse:
    limit = web.settings.db_timeout_s
    database, ms = "unavailable", None
    if web.store is not None:
        try:
            # the database-side timeouts end the probe; this bounds what they cannot
            # (a server that stopped answering mid-connection)
            result = await asyncio.wait_for(run_in_threadpool(web.store.probe, limit), limit + 1.0)
            database, ms = result.database, result.ms
        except TimeoutError:
            database, ms = "slow", int((limit + 1.0) * 1000)
    # 200 while the app serves; the body says whether the database answers in time
    return JSONResponse({"status": "ok" if database == "ok" else "degraded", "database": database,
                         "database_ms": ms})


def routers() -> list[APIRouter]:
    return [router]
