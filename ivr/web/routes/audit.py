"""The audit log (administrators): who revealed, searched or changed what, and when."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ivr.web.deps import ADMIN_ONLY, AdminUser, Store
from ivr.web.pages import page
from ivr.web.schemas import AuditPublic

PageNo = Annotated[int, Query(alias="page", ge=1, le=100000)]
pages = APIRouter(tags=["audit"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=ADMIN_ONLY)
PAGE_SIZE = 100
Page = Annotated[int, Query(ge=1, le=100000)]


@pages.get("/audit")
def audit_page(request: Request, store: Store, user: AdminUser, page_no: PageNo = 1,
               who: Annotated[str, Query(max_length=100)] = ""):
    entries = store.list_audit(limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE, user=who or None)
    return page(request, "audit.html", {"entries": entries, "page_no": page_no, "who": who,
                                        "more": len(entries) == PAGE_SIZE})


@api.get("", response_model=list[AuditPublic])
def list_audit(store: Store, user: AdminUser, page: Page = 1,
               who: Annotated[str, Query(max_length=100)] = "") -> list[AuditPublic]:
    entries = store.list_audit(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, user=who or None)
    return [AuditPublic(at=e.at, user=e.user, action=e.action, target=e.target, detail=e.detail) for e in entries]


def routers() -> list[APIRouter]:
    return [pages, api]
