"""Operator-side queries mixed into ``SqlStore``: recipients, follow-ups, users and audit.

Revealing personal data (a recipient's NIK or phone) always writes an audit entry.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Connection, delete, func, insert, select, update

from ivr.errors import StoreError
from ivr.store.guard import guarded, now
from ivr.store.models import (
    DEFAULT_DOCUMENTS, FOLLOW_UP_REASONS, FOLLOW_UP_STATES, USER_ROLES, AuditEntry, FollowUp,
    FollowUpNote, Recipient, User, WebSession,
)
from ivr.store.views import AuditView, FollowUpView, NoteView, RecipientView, UserView


class OperatorQueries:
    """Needs ``self.engine``, ``self._p`` (a Protector) and ``self._tx()`` from SqlStore."""

    # --- recipients -----------------------------------------------------------------
    @guarded
    def recipient_count(self, *, include_demo: bool = True) -> int:
        q = select(func.count()).select_from(Recipient)
        if not include_demo:
            q = q.where(Recipient.is_demo.is_(False))
        with self._read() as conn:
            return conn.execute(q).scalar_one()

    @guarded
    def find_recipient(self, nik: str, *, by: str, reveal: bool = False) -> RecipientView | None:
        """An operator looks a NIK up; the search (and any reveal) is audited."""
        with self._tx() as conn:
            row = conn.execute(select(Recipient).where(Recipient.nik_hash == self._p.nik_hash(nik))).first()
            self._audit(conn, by, "reveal_recipient" if reveal else "find_recipient",
                        row.nik_masked if row else "not_found", "")
        if row is None:
            return None
        docs = tuple(d for d in (row.documents or "").split(";") if d) or DEFAULT_DOCUMENTS
        return RecipientView(
            id=row.id, nik=self._p.decrypt(row.nik_enc) if reveal else row.nik_masked, name=row.name,
            phone=(self._p.decrypt_opt(row.phone_enc) if reveal else row.phone_masked),
            status=row.status, phase=row.phase, collection_date=row.collection_date,
            time_start=row.time_start, time_end=row.time_end, place=row.place, address=row.address,
            documents=docs, collected_on=row.collected_on, updated_at=row.updated_at, is_demo=row.is_demo)

    @guarded
    def delete_demo_recipients(self) -> int:
        with self._tx() as conn:
            return conn.execute(delete(Recipient).where(Recipient.is_demo.is_(True))).rowcount

    # --- follow-ups -----------------------------------------------------------------
    def _follow_up(self, conn: Connection, fid: int, *, reveal: bool = False) -> FollowUpView:
        f = conn.execute(select(FollowUp).where(FollowUp.id == fid)).one()
        notes = conn.execute(select(FollowUpNote).where(FollowUpNote.follow_up_id == fid)
                             .order_by(FollowUpNote.id)).all()
        detail = self._p.decrypt(f.detail_enc) if reveal and f.detail_enc else f.detail
        return FollowUpView(
            id=f.id, call_id=f.call_id, reason=f.reason, state=f.state, assignee=f.assignee,
            detail=detail, created=f.created, updated=f.updated, done_at=f.done_at, done_by=f.done_by,
            notes=tuple(NoteView(author=n.author, at=n.at, text=n.text) for n in notes))

    @guarded
    def list_follow_ups(self, *, state: str | None = None, reason: str | None = None,
                        assignee: str | None = None, limit: int = 50, offset: int = 0) -> list[FollowUpView]:
        q = select(FollowUp.id)
        if state:
            q = q.where(FollowUp.state == state)
        if reason:
            q = q.where(FollowUp.reason == reason)
        if assignee:
            q = q.where(FollowUp.assignee == assignee)
        with self._read() as conn:
            ids = conn.execute(q.order_by(FollowUp.created.desc(), FollowUp.id.desc())
                               .limit(limit).offset(offset)).scalars().all()
            return [self._follow_up(conn, fid) for fid in ids]

    @guarded
    def get_follow_up(self, follow_up_id: int) -> FollowUpView | None:
        with self._read() as conn:
            exists = conn.execute(select(FollowUp.id).where(FollowUp.id == follow_up_id)).first()
            return self._follow_up(conn, follow_up_id) if exists else None

    @guarded
    def create_follow_up(self, reason: str, detail: str, *, by: str, call_id: str | None = None) -> int:
        """A follow-up an operator opens by hand (the call runner uses ``add_follow_up``)."""
        _check(reason, FOLLOW_UP_REASONS, "reason")
        t = now()
        with self._tx() as conn:
            fid = conn.execute(insert(FollowUp).values(
                call_id=call_id, reason=reason, state="open", detail=detail, created=t, updated=t)
            ).inserted_primary_key[0]
            self._audit(conn, by, "create_follow_up", str(fid), reason)
        return fid

    @guarded
    def update_follow_up(self, follow_up_id: int, *, by: str, state: str | None = None,
                         assignee: str | None = None, note: str | None = None) -> None:
        """Assign, add a note, or move between open/assigned/done (done records who and when)."""
        changes: dict = {"updated": now()}
        if state is not None:
            _check(state, FOLLOW_UP_STATES, "state")
            changes["state"] = state
            changes["done_at"] = changes["updated"] if state == "done" else None
            changes["done_by"] = by if state == "done" else None
        if assignee is not None:
            changes["assignee"] = assignee or None
            if state is None and assignee:
                changes["state"] = "assigned"
        with self._tx() as conn:
            n = conn.execute(update(FollowUp).where(FollowUp.id == follow_up_id).values(**changes)).rowcount
            if n == 0:
                raise StoreError(f"no follow-up {follow_up_id}")
            if note:
                conn.execute(insert(FollowUpNote).values(follow_up_id=follow_up_id, author=by,
                                                         at=changes["updated"], text=note))
            self._audit(conn, by, "update_follow_up", str(follow_up_id),
                        json.dumps({k: v for k, v in (("state", state), ("assignee", assignee)) if v is not None}))

    @guarded
    def count_follow_ups(self, *, state: str | None = None) -> int:
        q = select(func.count()).select_from(FollowUp)
        if state:
            q = q.where(FollowUp.state == state)
        with self._read() as conn:
            return conn.execute(q).scalar_one()

    # --- users ------------------------------------------------------------------------
    @guarded
    def create_user(self, name: str, role: str, password_hash: str, *, by: str = "") -> int:
        """``password_hash`` is made by the caller (argon2); the store never sees a password."""
        _check(role, USER_ROLES, "role")
        with self._tx() as conn:
            uid = conn.execute(insert(User).values(name=name, role=role, password_hash=password_hash,
                                                   created=now(), disabled=False)).inserted_primary_key[0]
            self._audit(conn, by or name, "create_user", name, role)
        return uid

    @guarded
    def get_user(self, name: str) -> UserView | None:
        with self._read() as conn:
            r = conn.execute(select(User).where(User.name == name)).first()
        return _user(r) if r else None

    @guarded
    def list_users(self) -> list[UserView]:
        with self._read() as conn:
            return [_user(r) for r in conn.execute(select(User).order_by(User.name)).all()]

    @guarded
    def update_user(self, name: str, *, by: str, role: str | None = None, password_hash: str | None = None,
                    disabled: bool | None = None) -> None:
        changes: dict = {}
        if role is not None:
            _check(role, USER_ROLES, "role")
            changes["role"] = role
        if password_hash is not None:
            changes["password_hash"] = password_hash
        if disabled is not None:
            changes["disabled"] = disabled
        if not changes:
            return
        with self._tx() as conn:
            if conn.execute(update(User).where(User.name == name).values(**changes)).rowcount == 0:
                raise StoreError(f"no user {name!r}")
            if password_hash is not None or disabled:
                # in the same transaction: no request can slip in between with an old session
                conn.execute(delete(WebSession).where(WebSession.user == name))
            self._audit(conn, by, "update_user", name, ",".join(k for k in changes if k != "password_hash")
                        + (",password" if password_hash is not None else ""))

    # --- web sessions -----------------------------------------------------------------
    @guarded
    def create_session(self, user: str, id_hash: str, *, lifetime_s: float) -> None:
        """Record a new signed-in session (and forget everyone's expired ones)."""
        t = now()
        with self._tx() as conn:
            conn.execute(delete(WebSession).where(WebSession.expires <= t))
            conn.execute(insert(WebSession).values(id_hash=id_hash, user=user, created=t,
                                                   expires=t + dt.timedelta(seconds=lifetime_s)))

    @guarded
    def session_user(self, id_hash: str) -> UserView | None:
        """The account of a live session; None when it ended, expired or never existed."""
        q = (select(User).join(WebSession, WebSession.user == User.name)
             .where(WebSession.id_hash == id_hash, WebSession.expires > now()))
        with self._read() as conn:
            r = conn.execute(q).first()
        return _user(r) if r else None

    @guarded
    def end_session(self, id_hash: str) -> bool:
        with self._tx() as conn:
            return conn.execute(delete(WebSession).where(WebSession.id_hash == id_hash)).rowcount > 0

    @guarded
    def count_sessions(self, user: str) -> int:
        """Live sessions of one account."""
        with self._read() as conn:
            return conn.execute(select(func.count()).select_from(WebSession)
                                .where(WebSession.user == user, WebSession.expires > now())).scalar_one()

    # --- audit ------------------------------------------------------------------------
    def _audit(self, conn: Connection, user: str, action: str, target: str, detail: str) -> None:
        conn.execute(insert(AuditEntry).values(at=now(), user=user, action=action[:40],
                                               target=target[:100], detail=detail))

    @guarded
    def audit(self, user: str, action: str, target: str = "", detail: str = "") -> None:
        with self._tx() as conn:
            self._audit(conn, user, action, target, detail)

    @guarded
    def list_audit(self, *, limit: int = 100, offset: int = 0, user: str | None = None,
                   since: dt.datetime | None = None) -> list[AuditView]:
        q = select(AuditEntry)
        if user:
            q = q.where(AuditEntry.user == user)
        if since is not None:
            q = q.where(AuditEntry.at >= since)
        with self._read() as conn:
            rows = conn.execute(q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)).all()
        return [AuditView(at=r.at, user=r.user, action=r.action, target=r.target, detail=r.detail) for r in rows]


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def _user(r) -> UserView:
    return UserView(id=r.id, name=r.name, role=r.role, password_hash=r.password_hash,
                    created=r.created, disabled=r.disabled)
