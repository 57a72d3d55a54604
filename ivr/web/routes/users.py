"""Accounts (administrators): list, create operators and administrators, disable or
enable them.  Passwords are hashed here (argon2); the page never shows a hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from ivr.errors import StoreError
from ivr.web.auth import hash_password
from ivr.web.deps import ADMIN_ONLY, AdminUser, Store
from ivr.web.pages import page
from ivr.web.schemas import UserCreate, UserPublic

pages = APIRouter(tags=["users"], dependencies=ADMIN_ONLY)
api = APIRouter(prefix="/api/users", tags=["users"], dependencies=ADMIN_ONLY)


def _public(u) -> UserPublic:
    return UserPublic(name=u.name, role=u.role, created=u.created, disabled=u.disabled)


def _create(store, body: UserCreate, by: str) -> UserPublic:
    if store.get_user(body.name) is not None:
        raise HTTPException(409, f"pengguna {body.name!r} sudah ada")
    try:
        store.create_user(body.name, body.role, hash_password(body.password), by=by)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    except StoreError:
        raise HTTPException(409, f"pengguna {body.name!r} sudah ada") from None
    return _public(store.get_user(body.name))


@pages.get("/users")
def users_page(request: Request, store: Store, user: AdminUser):
    return page(request, "users.html", {"users": store.list_users(), "error": None, "created": None})


@pages.post("/users")
def create_page(request: Request, store: Store, user: AdminUser, name: Annotated[str, Form(max_length=100)],
                role: Annotated[str, Form()], password: Annotated[str, Form(max_length=200)]):
    error = created = None
    try:
        created = _create(store, UserCreate(name=name.strip(), role=role, password=password), user.name)
    except ValidationError:
        error = "Isian tidak sah: nama 1-100 karakter, peran petugas/administrator, kata sandi minimal 8 karakter."
    except HTTPException as exc:
        error = exc.detail
    return page(request, "users.html", {"users": store.list_users(), "error": error, "created": created},
                status_code=200 if created else 422)


@pages.post("/users/state")
def set_state(store: Store, user: AdminUser, name: Annotated[str, Form(max_length=100)],
              disabled: Annotated[bool, Form()]):
    if store.get_user(name) is None:
        raise HTTPException(404, "pengguna tidak ditemukan")
    if name == user.name and disabled:
        raise HTTPException(422, "tidak bisa menonaktifkan akun sendiri")
    store.update_user(name, by=user.name, disabled=disabled)
    return RedirectResponse("/users", status_code=303)


@api.get("", response_model=list[UserPublic])
def list_users(store: Store, user: AdminUser) -> list[UserPublic]:
    return [_public(u) for u in store.list_users()]


@api.post("", response_model=UserPublic, status_code=201)
def create_user(store: Store, user: AdminUser, body: UserCreate) -> UserPublic:
    return _create(store, body, user.name)


def routers() -> list[APIRouter]:
    return [pages, api]
