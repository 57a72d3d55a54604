"""Outbound calls in the store: campaigns, callback requests, attempts, opt-outs, blocked days.

Mixed into ``SqlStore``.  Each person to reach is one ``outbound_calls`` row (a
*target*).  Placing a call starts with :meth:`claim`: in one transaction the row moves
from pending/retry to dialing only if nobody changed it meanwhile (a compare-and-set on
its state and attempt count), and an ``outbound_attempts`` row with the unique pair
(target, attempt number) is inserted.  On PostgreSQL the candidate rows are also read
``FOR UPDATE SKIP LOCKED``, so instances sharing the store take different people
instead of queueing on the same rows.  Two instances can therefore never dial attempt
N of the same person; a retry is a new number, after the retry interval.

A claim carries a lease (``claimed_until``): an instance that dies mid-call leaves a
row in dialing, and :meth:`expire_claims` hands it back for a later retry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from ivr.errors import StoreError
from ivr.ports import RecipientInfo
from ivr.store import protect
from ivr.store.guard import guarded, now
from ivr.store.models import (
    BlockedDay, Call, Campaign, FollowUp, FollowUpNote, OptOut, OutboundAttempt, OutboundCall, Recipient,
)

OPEN_STATES = ("pending", "retry")
ANSWERED = "answered"
# outcomes of one dialling that mean "try again later" (if attempts are left)
RETRY_OUTCOMES = frozenset({"busy", "no_answer", "congestion", "failed", "lost", "not_sent", "no_response"})
RESULT_LABELS_DONE = frozenset({"confirmed", "heard", "opted_out", "operator"})
WITHHELD = frozenset({"", "unknown", "anonymous", "restricted", "private", "withheld"})


def dialable(number: str | None) -> tuple[str, str]:
    """``(normalised number, "")`` or ``("", reason)`` for a number we must not dial.

    Indonesian numbers only: a leading 0 (``+62``/``62`` folded to 0) then 8-13 digits,
    which covers mobiles (08..) and land lines with an area code (021 ...)."""
    raw = (number or "").strip()
    if raw.lower() in WITHHELD:
        return "", "nomor disembunyikan atau tidak ada"
    if any(c.isalpha() for c in raw):
        return "", "nomor tidak sah"
    digits = protect.normalize_phone(raw)
    if not (digits.startswith("0") and not digits.startswith("00") and 9 <= len(digits) <= 14):
        return "", "nomor tidak sah"
    return digits, ""


@dataclass(frozen=True)
class CampaignSpec:
    name: str
    collection_date: dt.date | None = None
    phase: str = ""
    status: str = ""
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    day_start: dt.time = dt.time(8, 0)
    day_end: dt.time = dt.time(20, 0)
    max_concurrent: int = 10
    per_minute: int = 30
    max_attempts: int = 3
    retry_minutes: int = 30


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    state: str
    created: dt.datetime
    created_by: str
    collection_date: dt.date | None
    phase: str
    status: str
    first_day: dt.date | None
    last_day: dt.date | None
    day_start: dt.time
    day_end: dt.time
    max_concurrent: int
    per_minute: int
    max_attempts: int
    retry_minutes: int


@dataclass(frozen=True)
class Progress:
    """Where a campaign stands: targets by state and by result."""

    total: int
    pending: int          # not yet tried, or waiting for a retry
    dialing: int
    reached: int          # answered by a person (confirmed, heard, operator, opted out)
    confirmed: int
    not_reached: int      # every attempt used: busy, no answer, failed, silent line
    opted_out: int
    skipped: int          # never dialled: withheld/invalid number, opted out earlier
    attempts: int

    @property
    def done(self) -> bool:
        return self.pending == 0 and self.dialing == 0


@dataclass(frozen=True)
class Claim:
    """One attempt this instance may place now."""

    target_id: int
    attempt_id: int
    number: int           # attempt number, 1..max
    kind: str             # reminder | callback
    campaign_id: int | None
    phone: str


@dataclass(frozen=True)
class OutboundTarget:
    """What an answered outbound call needs to know (for the AGI route)."""

    target_id: int
    attempt_id: int
    kind: str
    phone: str
    nik: str
    recipient: RecipientInfo | None


@dataclass(frozen=True)
class ResultRow:
    nik_masked: str
    phone_masked: str
    name: str
    state: str
    result: str
    attempts: int
    last_attempt: dt.datetime | None
    reason: str


class OutboundQueries:
    """Needs ``self.engine``, ``self._p``, ``self._tx()``, ``self._read()``, ``self._audit()``."""

    # --- campaigns --------------------------------------------------------------------
    @guarded
    def create_campaign(self, spec: CampaignSpec, *, by: str) -> tuple[int, dict[str, int]]:
        """Create a campaign (draft) with its recipients as targets.  Recipients without a
        usable number, or whose number opted out, are kept as skipped with the reason, so
        the campaign page can say who will not be called and why."""
        t = now()
        q = select(Recipient.id, Recipient.phone_enc, Recipient.phone_hash, Recipient.nik_masked)
        if spec.collection_date is not None:
            q = q.where(Recipient.collection_date == spec.collection_date, Recipient.status == "scheduled")
        if spec.phase:
            q = q.where(Recipient.phase == spec.phase)
        if spec.status:
            q = q.where(Recipient.status == spec.status)
        counts = {"added": 0, "no_number": 0, "invalid": 0, "opted_out": 0, "duplicate": 0}
        with self._tx() as conn:
            cid = conn.execute(insert(Campaign).values(
                name=spec.name, state="draft", created=t, created_by=by, collection_date=spec.collection_date,
                phase=spec.phase, status=spec.status, first_day=spec.first_day, last_day=spec.last_day,
                day_start=spec.day_start, day_end=spec.day_end, max_concurrent=spec.max_concurrent,
                per_minute=spec.per_minute, max_attempts=spec.max_attempts, retry_minutes=spec.retry_minutes,
            )).inserted_primary_key[0]
            opted = set(conn.execute(select(OptOut.phone_hash)).scalars())
            seen: set[str] = set()
            rows = []
            for r in conn.execute(q.order_by(Recipient.id)).all():
                phone = self._p.decrypt_opt(r.phone_enc) or ""
                number, why = dialable(phone)
                row = dict(campaign_id=cid, kind="reminder", recipient_id=r.id, nik_masked=r.nik_masked,
                           phone_masked=protect.mask_phone(phone) if phone else "", state="pending",
                           max_attempts=spec.max_attempts, retry_minutes=spec.retry_minutes, updated=t,
                           phone_hash=None, phone_enc=None, result="", reason="")   # same keys in every row
                key = self._p.phone_hash(number) if number else None
                if not number:
                    counts["no_number" if not phone else "invalid"] += 1
                    row.update(state="skipped", result="skipped", reason=why)
                elif key in opted:
                    counts["opted_out"] += 1
                    row.update(state="skipped", result="skipped", reason="nomor ini minta tidak ditelepon lagi")
                elif key in seen:
                    counts["duplicate"] += 1
                    row.update(state="skipped", result="skipped", reason="nomor yang sama sudah ada di kampanye ini")
                else:
                    seen.add(key)
                    counts["added"] += 1
                    row.update(phone_hash=key, phone_enc=self._p.encrypt(number))
                rows.append(row)
            for start in range(0, len(rows), 1000):
                conn.execute(insert(OutboundCall), rows[start:start + 1000])
            self._audit(conn, by, "create_campaign", str(cid), spec.name[:100])
        return cid, counts

    @guarded
    def set_campaign_state(self, campaign_id: int, state: str, *, by: str) -> None:
        if state not in ("draft", "running", "paused", "done"):
            raise ValueError(f"unknown campaign state {state!r}")
        with self._tx() as conn:
            if conn.execute(update(Campaign).where(Campaign.id == campaign_id).values(state=state)).rowcount == 0:
                raise StoreError(f"no campaign {campaign_id}")
            self._audit(conn, by, "campaign_" + state, str(campaign_id), "")

    @guarded
    def get_campaign(self, campaign_id: int) -> CampaignView | None:
        with self._read() as conn:
            row = conn.execute(select(Campaign).where(Campaign.id == campaign_id)).first()
        return _campaign(row) if row else None

    @guarded
    def list_campaigns(self, *, limit: int = 100) -> list[CampaignView]:
        with self._read() as conn:
            rows = conn.execute(select(Campaign).order_by(Campaign.created.desc(), Campaign.id.desc())
                                .limit(limit)).all()
        return [_campaign(r) for r in rows]

    @guarded
    def running_campaigns(self) -> list[CampaignView]:
        with self._read() as conn:
            rows = conn.execute(select(Campaign).where(Campaign.state == "running").order_by(Campaign.id)).all()
        return [_campaign(r) for r in rows]

    @guarded
    def campaign_progress(self, campaign_id: int | None) -> Progress:
        """``campaign_id`` None: the callback requests."""
        where = (OutboundCall.campaign_id == campaign_id if campaign_id is not None
                 else and_(OutboundCall.campaign_id.is_(None), OutboundCall.kind == "callback"))
        with self._read() as conn:
            rows = conn.execute(select(OutboundCall.state, OutboundCall.result, func.count(),
                                       func.coalesce(func.sum(OutboundCall.attempts), 0))
                                .where(where).group_by(OutboundCall.state, OutboundCall.result)).all()
        total = pending = dialing = reached = confirmed = not_reached = opted = skipped = attempts = 0
        for state, result, n, tries in rows:
            total += n
            attempts += int(tries)
            if state in OPEN_STATES:
                pending += n
            elif state == "dialing":
                dialing += n
            elif state == "skipped":
                skipped += n
            elif result in RESULT_LABELS_DONE:
                reached += n
                confirmed += n if result == "confirmed" else 0
                opted += n if result == "opted_out" else 0
            else:
                not_reached += n
        return Progress(total, pending, dialing, reached, confirmed, not_reached, opted, skipped, attempts)

    @guarded
    def campaign_results(self, campaign_id: int) -> list[ResultRow]:
        """One row per target, masked (NIK and number), for the CSV export."""
        with self._read() as conn:
            rows = conn.execute(
                select(OutboundCall.nik_masked, OutboundCall.phone_masked, Recipient.name, OutboundCall.state,
                       OutboundCall.result, OutboundCall.attempts, OutboundCall.last_attempt, OutboundCall.reason)
                .outerjoin(Recipient, Recipient.id == OutboundCall.recipient_id)
                .where(OutboundCall.campaign_id == campaign_id).order_by(OutboundCall.id)).all()
        return [ResultRow(r.nik_masked or "", r.phone_masked or "", r.name or "", r.state, r.result or "",
                          r.attempts, r.last_attempt, r.reason or "") for r in rows]

    # --- callbacks --------------------------------------------------------------------
    def _callback_row(self, conn: Connection, follow_up_id: int, due: dt.datetime, tries: int,
                      retry_minutes: int) -> dict | None:
        f = conn.execute(select(FollowUp.call_id).where(FollowUp.id == follow_up_id)).first()
        if f is None:
            raise StoreError(f"no follow-up {follow_up_id}")
        call = conn.execute(select(Call.caller_enc, Call.nik_masked).where(Call.id == f.call_id)).first() \
            if f.call_id else None
        phone = self._p.decrypt_opt(call.caller_enc) if call else None
        number, why = dialable(phone)
        t = now()
        row = dict(kind="callback", follow_up_id=follow_up_id, origin_call_id=f.call_id,
                   nik_masked=(call.nik_masked or "") if call else "", state="pending", result="", reason="",
                   phone_masked=protect.mask_phone(phone) if phone else "", max_attempts=tries,
                   retry_minutes=retry_minutes, next_at=due, updated=t)
        if not number:
            row.update(state="skipped", result="skipped", reason=why)
        else:
            row.update(phone_hash=self._p.phone_hash(number), phone_enc=self._p.encrypt(number))
        return row

    @guarded
    def request_callback(self, follow_up_id: int, *, by: str, due: dt.datetime | None = None,
                         tries: int = 3, retry_minutes: int = 30) -> str:
        """"Call back now" (or at ``due``) for a follow-up.  Returns the target's state:
        pending, or skipped when the caller's number was withheld or invalid (the
        follow-up gets a note saying so either way)."""
        due = due or now()
        with self._tx() as conn:
            row = self._callback_row(conn, follow_up_id, due, tries, retry_minutes)
            old = conn.execute(select(OutboundCall.id, OutboundCall.state, OutboundCall.attempts)
                               .where(OutboundCall.follow_up_id == follow_up_id)).first()
            if old is not None and old.state == "dialing":
                return "dialing"                     # a call is under way: never a second one
            if old is not None:
                row["max_attempts"] = old.attempts + tries
                conn.execute(update(OutboundCall).where(OutboundCall.id == old.id).values(**row))
            else:
                conn.execute(insert(OutboundCall).values(**row))
            text = ("Telepon balik dijadwalkan." if row["state"] == "pending"
                    else f"Telepon balik tidak bisa: {row['reason']}.")
            conn.execute(insert(FollowUpNote).values(follow_up_id=follow_up_id, author=by, at=now(), text=text))
            self._audit(conn, by, "request_callback", str(follow_up_id), row["state"])
        return row["state"]

    @guarded
    def enqueue_callbacks(self, due: dt.datetime, *, tries: int = 3, retry_minutes: int = 30) -> int:
        """Every open callback follow-up without a target becomes one, due at ``due``
        (the dialer holds it until the office is open)."""
        with self._tx() as conn:
            ids = conn.execute(
                select(FollowUp.id).where(FollowUp.reason == "callback", FollowUp.state != "done",
                                          ~FollowUp.id.in_(select(OutboundCall.follow_up_id)
                                                           .where(OutboundCall.follow_up_id.is_not(None))))
                .order_by(FollowUp.id).limit(500)).scalars().all()
            for fid in ids:
                row = self._callback_row(conn, fid, due, tries, retry_minutes)
                conn.execute(insert(OutboundCall).values(**row))
                if row["state"] == "skipped":
                    conn.execute(insert(FollowUpNote).values(follow_up_id=fid, author="sistem", at=now(),
                                                             text=f"Telepon balik tidak bisa: {row['reason']}."))
        return len(ids)

    # --- claiming and recording attempts ---------------------------------------------
    @guarded
    def claim(self, instance: str, at: dt.datetime, *, campaign_id: int | None, limit: int,
              lease_s: float = 600.0, max_concurrent: int | None = None,
              per_minute: int | None = None) -> list[Claim]:
        """Claim up to ``limit`` due targets of one campaign (None: callbacks) for this
        instance.  ``max_concurrent`` and ``per_minute`` are the campaign's limits over
        all instances: calls in progress and attempts started in the last minute are
        counted here, in the claiming transaction.  Opted-out numbers are skipped here
        too: an opt-out may arrive after the campaign was made."""
        if limit <= 0:
            return []
        scope = (OutboundCall.campaign_id == campaign_id if campaign_id is not None
                 else and_(OutboundCall.campaign_id.is_(None), OutboundCall.kind == "callback"))
        out: list[Claim] = []
        with self._tx() as conn:
            if campaign_id is not None and conn.dialect.name == "postgresql":
                # one claimer per campaign at a time, so the limits below hold across instances
                conn.execute(select(Campaign.id).where(Campaign.id == campaign_id).with_for_update())
            conn.execute(update(OutboundCall).where(
                scope, OutboundCall.state.in_(OPEN_STATES),
                OutboundCall.phone_hash.in_(select(OptOut.phone_hash))).values(
                state="skipped", result="opted_out", reason="nomor ini minta tidak ditelepon lagi", updated=at))
            if max_concurrent is not None:
                busy = conn.execute(select(func.count()).select_from(OutboundCall)
                                    .where(scope, OutboundCall.state == "dialing")).scalar_one()
                limit = min(limit, max_concurrent - busy)
            if per_minute is not None:
                recent = conn.execute(select(func.count()).select_from(OutboundAttempt)
                                      .join(OutboundCall, OutboundCall.id == OutboundAttempt.target_id)
                                      .where(scope, OutboundAttempt.started > at - dt.timedelta(minutes=1))
                                      ).scalar_one()
                limit = min(limit, per_minute - recent)
            if limit <= 0:
                return []
            q = (select(OutboundCall.id, OutboundCall.state, OutboundCall.attempts, OutboundCall.kind,
                        OutboundCall.phone_enc)
                 .where(scope, OutboundCall.state.in_(OPEN_STATES),
                        or_(OutboundCall.next_at.is_(None), OutboundCall.next_at <= at))
                 .order_by(OutboundCall.next_at, OutboundCall.id).limit(limit))
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            for r in conn.execute(q).all():
                number = r.attempts + 1
                taken = conn.execute(update(OutboundCall).where(
                    OutboundCall.id == r.id, OutboundCall.state == r.state, OutboundCall.attempts == r.attempts
                ).values(state="dialing", attempts=number, last_attempt=at, claimed_by=instance[:60],
                         claimed_until=at + dt.timedelta(seconds=lease_s), updated=at)).rowcount
                if taken != 1:
                    continue            # another instance got there first
                aid = conn.execute(insert(OutboundAttempt).values(
                    target_id=r.id, number=number, instance=instance[:60], started=at)).inserted_primary_key[0]
                out.append(Claim(r.id, aid, number, r.kind, campaign_id, self._p.decrypt(r.phone_enc)))
        return out

    @guarded
    def finish_attempt(self, attempt_id: int, outcome: str, *, at: dt.datetime, reason_code: str = "",
                       detail: str = "", hold_s: float | None = None) -> str:
        """Record how one dialling ended (answered, busy, no_answer, congestion, failed,
        lost).  Anything but answered schedules a retry while attempts are left.
        ``hold_s`` with ``lost``: the call may be up after all, so the person stays
        claimed (and counted against the campaign's lines) that long before a retry is
        scheduled -- unless the call reports its result first.  Returns the target's state."""
        with self._tx() as conn:
            a = conn.execute(select(OutboundAttempt).where(OutboundAttempt.id == attempt_id)).first()
            if a is None:
                raise StoreError(f"no outbound attempt {attempt_id}")
            values = dict(outcome=outcome[:20], reason_code=reason_code[:8])
            if a.result:
                # the call already reported its result (over FastAGI) before this AMI
                # verdict arrived: keep that, only note how the dialling was seen
                conn.execute(update(OutboundAttempt).where(OutboundAttempt.id == attempt_id).values(**values))
                return conn.execute(select(OutboundCall.state).where(OutboundCall.id == a.target_id)).scalar_one()
            if outcome != ANSWERED and not (outcome == "lost" and hold_s):
                values["ended"] = at
            conn.execute(update(OutboundAttempt).where(OutboundAttempt.id == attempt_id).values(**values))
            if outcome == ANSWERED:
                conn.execute(update(OutboundCall).where(OutboundCall.id == a.target_id).values(updated=at))
                self._note_attempt(conn, a.target_id, a.number, outcome, at)
                return "dialing"
            if outcome == "lost" and hold_s:
                conn.execute(update(OutboundCall).where(OutboundCall.id == a.target_id, OutboundCall.state == "dialing")
                             .values(claimed_until=at + dt.timedelta(seconds=hold_s), updated=at))
                return "dialing"
            return self._after(conn, a.target_id, a.number, outcome, at, detail)

    @guarded
    def record_result(self, attempt_id: int, result: str, *, at: dt.datetime, call_id: str | None = None) -> str:
        """What an answered call achieved (from the outbound dialogue).  ``opted_out``
        also puts the number on the do-not-call list."""
        with self._tx() as conn:
            a = conn.execute(select(OutboundAttempt).where(OutboundAttempt.id == attempt_id)).first()
            if a is None:
                raise StoreError(f"no outbound attempt {attempt_id}")
            conn.execute(update(OutboundAttempt).where(OutboundAttempt.id == attempt_id).values(
                result=result[:20], call_id=call_id, ended=at))
            if call_id:
                conn.execute(update(OutboundCall).where(OutboundCall.id == a.target_id).values(call_id=call_id))
            if result == "opted_out":
                phone_hash = conn.execute(select(OutboundCall.phone_hash)
                                          .where(OutboundCall.id == a.target_id)).scalar_one()
                if phone_hash and conn.execute(select(OptOut.phone_hash)
                                               .where(OptOut.phone_hash == phone_hash)).first() is None:
                    conn.execute(insert(OptOut).values(phone_hash=phone_hash, at=at, source="call"))
            return self._after(conn, a.target_id, a.number, result, at, "")

    @guarded
    def close_attempt(self, attempt_id: int, *, at: dt.datetime) -> str:
        """The answered channel hung up.  If the dialogue never reported a result (the
        AGI never ran, or its report was lost), the person was not really reached:
        try again later."""
        with self._tx() as conn:
            a = conn.execute(select(OutboundAttempt).where(OutboundAttempt.id == attempt_id)).first()
            if a is None or a.result:
                return "done"
            conn.execute(update(OutboundAttempt).where(OutboundAttempt.id == attempt_id).values(ended=at))
            return self._after(conn, a.target_id, a.number, "lost", at, "dijawab, tetapi percakapan tidak berjalan")

    def _after(self, conn: Connection, target_id: int, number: int, outcome: str, at: dt.datetime,
               detail: str) -> str:
        t = conn.execute(select(OutboundCall).where(OutboundCall.id == target_id)).first()
        late_result = t.state == "retry" and outcome in RESULT_LABELS_DONE
        if t.attempts != number or not (t.state == "dialing" or late_result):
            return t.state              # a late report for an attempt already settled
        # (late_result: the AMI link dropped, the attempt was written off as lost, yet
        # the call went through and the resident answered: that settles it, no retry)
        if outcome in RETRY_OUTCOMES and t.attempts < t.max_attempts:
            values = dict(state="retry", next_at=at + dt.timedelta(minutes=t.retry_minutes), result="")
        else:
            values = dict(state="done", result=outcome)
        values.update(reason=(detail or _OUTCOME_TEXT.get(outcome, outcome))[:200], claimed_by=None,
                      claimed_until=None, updated=at)
        conn.execute(update(OutboundCall).where(OutboundCall.id == target_id).values(**values))
        self._note_attempt(conn, target_id, number, outcome, at, retry_at=values.get("next_at"))
        if t.follow_up_id and values["state"] == "done" and outcome in RESULT_LABELS_DONE:
            conn.execute(update(FollowUp).where(FollowUp.id == t.follow_up_id, FollowUp.state != "done")
                         .values(state="done", done_at=at, done_by="telepon balik", updated=at))
        return values["state"]

    def _note_attempt(self, conn: Connection, target_id: int, number: int, outcome: str, at: dt.datetime,
                      retry_at: dt.datetime | None = None) -> None:
        """A callback's attempts are written on its follow-up, where operators look."""
        fid = conn.execute(select(OutboundCall.follow_up_id).where(OutboundCall.id == target_id)).scalar_one()
        if not fid:
            return
        text = f"Telepon balik, percobaan {number}: {_OUTCOME_TEXT.get(outcome, outcome)}."
        if retry_at is not None:
            text += " Akan dicoba lagi."
        conn.execute(insert(FollowUpNote).values(follow_up_id=fid, author="sistem", at=at, text=text))

    @guarded
    def attempt_ended(self, attempt_id: int) -> bool:
        """True once the attempt's call reported its result (or it was otherwise settled)."""
        with self._read() as conn:
            return conn.execute(select(OutboundAttempt.ended).where(OutboundAttempt.id == attempt_id)
                                ).scalar() is not None

    @guarded
    def expire_claims(self, at: dt.datetime) -> int:
        """Claims whose lease ran out (their instance died): outcome unknown, retry later."""
        with self._tx() as conn:
            rows = conn.execute(select(OutboundCall.id, OutboundCall.attempts).where(
                OutboundCall.state == "dialing", OutboundCall.claimed_until < at)).all()
            for r in rows:
                conn.execute(update(OutboundAttempt).where(
                    OutboundAttempt.target_id == r.id, OutboundAttempt.number == r.attempts,
                    OutboundAttempt.ended.is_(None)).values(outcome="lost", ended=at))
                self._after(conn, r.id, r.attempts, "lost", at, "layanan berhenti saat menelepon")
        return len(rows)

    @guarded
    def outbound_target(self, attempt_id: int) -> OutboundTarget | None:
        """For the AGI route of an answered call: who this is and what to tell them."""
        with self._read() as conn:
            row = conn.execute(
                select(OutboundAttempt.id, OutboundCall.id.label("tid"), OutboundCall.kind, OutboundCall.phone_enc,
                       OutboundCall.recipient_id, OutboundCall.origin_call_id)
                .join(OutboundCall, OutboundCall.id == OutboundAttempt.target_id)
                .where(OutboundAttempt.id == attempt_id)).first()
            if row is None:
                return None
            nik = ""
            recipient = None
            if row.recipient_id is not None:
                enc = conn.execute(select(Recipient.nik_enc).where(Recipient.id == row.recipient_id)).scalar()
                nik = self._p.decrypt_opt(enc) or ""
            elif row.origin_call_id:
                enc = conn.execute(select(Call.nik_enc).where(Call.id == row.origin_call_id)).scalar()
                nik = self._p.decrypt_opt(enc) or ""
        if nik:
            recipient = self.lookup(nik)
        return OutboundTarget(row.tid, row.id, row.kind, self._p.decrypt_opt(row.phone_enc) or "", nik, recipient)

    @guarded
    def attempts_of(self, target_id: int) -> list[tuple[int, str, str, str]]:
        with self._read() as conn:
            rows = conn.execute(select(OutboundAttempt.number, OutboundAttempt.outcome, OutboundAttempt.reason_code,
                                       OutboundAttempt.result)
                                .where(OutboundAttempt.target_id == target_id).order_by(OutboundAttempt.number)).all()
        return [tuple(r) for r in rows]

    # --- do-not-call list and blocked days -------------------------------------------
    @guarded
    def opt_out(self, phone: str, *, source: str) -> None:
        key = self._p.phone_hash(phone)
        with self._tx() as conn:
            if conn.execute(select(OptOut.phone_hash).where(OptOut.phone_hash == key)).first() is None:
                conn.execute(insert(OptOut).values(phone_hash=key, at=now(), source=source[:40]))

    @guarded
    def is_opted_out(self, phone: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(OptOut.phone_hash)
                                .where(OptOut.phone_hash == self._p.phone_hash(phone))).first() is not None

    @guarded
    def block_day(self, day: dt.date, *, note: str = "", by: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(BlockedDay).where(BlockedDay.day == day))
            conn.execute(insert(BlockedDay).values(day=day, note=note[:200], by=by))
            self._audit(conn, by, "block_day", day.isoformat(), note[:100])

    @guarded
    def unblock_day(self, day: dt.date, *, by: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(BlockedDay).where(BlockedDay.day == day))
            self._audit(conn, by, "unblock_day", day.isoformat(), "")

    @guarded
    def blocked_days(self, since: dt.date | None = None) -> list[tuple[dt.date, str]]:
        q = select(BlockedDay.day, BlockedDay.note).order_by(BlockedDay.day)
        if since is not None:
            q = q.where(BlockedDay.day >= since)
        with self._read() as conn:
            return [(r.day, r.note) for r in conn.execute(q).all()]


_OUTCOME_TEXT = {
    "answered": "diangkat", "busy": "sibuk", "no_answer": "tidak diangkat", "congestion": "jaringan penuh",
    "failed": "gagal tersambung", "lost": "hasil tidak diketahui", "no_response": "diangkat, tetapi tidak ada jawaban",
    "confirmed": "sudah mendengar dan mengonfirmasi", "heard": "tersambung", "operator": "disambungkan ke petugas",
    "opted_out": "minta tidak ditelepon lagi", "not_sent": "tidak terkirim (Asterisk tidak tersambung)",
    "invalid": "nomor tidak sah",
}


def _campaign(r) -> CampaignView:
    return CampaignView(
        id=r.id, name=r.name, state=r.state, created=r.created, created_by=r.created_by,
        collection_date=r.collection_date, phase=r.phase or "", status=r.status or "", first_day=r.first_day,
        last_day=r.last_day, day_start=r.day_start or dt.time(8, 0), day_end=r.day_end or dt.time(20, 0),
        max_concurrent=r.max_concurrent or 1, per_minute=r.per_minute or 1, max_attempts=r.max_attempts or 1,
        retry_minutes=r.retry_minutes or 30)


__all__ = ["Claim", "CampaignSpec", "CampaignView", "OutboundQueries", "OutboundTarget", "Progress",
           "ResultRow", "dialable"]
