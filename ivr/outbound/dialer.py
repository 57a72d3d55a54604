"""The dialer: claims due attempts from the store and places them over AMI ``Originate``.

One dialer per service process, on the process's one AMI connection.  Each tick (and
whenever a call ends and frees a line) it looks at the running campaigns and the
callback requests, checks the rules of decency, and claims as many attempts as the
limits allow: the campaign's calls at once and calls per minute, and this instance's
own line cap.  Claiming happens in the database (``SqlStore.claim``), so several
instances sharing one PostgreSQL store never dial the same person for the same attempt.

A placed call holds its line from Originate until Asterisk's Hangup event for the
answered channel (matched by Uniqueid), or until the OriginateResponse says it failed.
An Originate whose fate is unknown (the AMI connection dropped after sending it) is
never sent again by the client; the attempt is recorded as ``lost`` and retried after
the retry interval, like a busy line.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Awaitable, Callable
from zoneinfo import ZoneInfo

from ivr.errors import StoreError
from ivr.outbound.rules import Window, outcome_of, refusal
from ivr.store.outbound import Claim, dialable
from ivr.telephony.ami import AmiActionFailed, AmiConnectionLost, AmiError, AmiNotSent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DialerConfig:
    channel: str = "PJSIP/{number}@trunk-endpoint"   # the Originate Channel; {number} is the resident's number
    context: str = "hotline-outbound"       # dialplan context an answered call enters (exten = kind)
    caller_id: str = ""
    ring_timeout_ms: int = 30_000
    max_lines: int = 30                     # calls this instance has up at once, all campaigns together
    tick_s: float = 5.0
    lease_s: float = 7200.0                 # a claim not settled by then is handed back (instance died)
    max_call_s: float = 1800.0              # an answered call's line is freed after this, whatever happens
    lost_hold_s: float = 600.0              # an Originate of unknown fate keeps its line and person this long
    result_grace_s: float = 10.0            # after the Hangup, time for the call's route to report its result
    timezone: str = "Asia/Jakarta"
    callbacks: bool = True
    office: Window = field(default_factory=lambda: Window(dt.time(8, 0), dt.time(16, 0),
                                                          weekdays=frozenset(range(5))))
    callback_tries: int = 3
    callback_retry_minutes: int = 30


@dataclass
class DialerStats:
    placed: int = 0
    outcomes: collections.Counter = field(default_factory=collections.Counter)
    refused: str = ""                       # why nothing was dialled at the last tick, if so


def _window(c) -> Window:
    return Window(c.day_start, c.day_end, c.first_day, c.last_day)


class Dialer:
    def __init__(self, store, ami, config: DialerConfig | None = None, *, instance: str,
                 clock: Callable[[], dt.datetime], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 pool: Executor | None = None):
        self.store = store
        self.ami = ami
        self.cfg = config or DialerConfig()
        self.instance = instance
        self.clock = clock
        self.sleep = sleep
        self.pool = pool
        self.tz = ZoneInfo(self.cfg.timezone)
        self.stats = DialerStats()
        self._lines: dict[int | None, int] = collections.Counter()     # campaign -> calls up
        self._tasks: set[asyncio.Task] = set()
        self._freed = asyncio.Event()
        self._last_enqueue: dt.datetime | None = None

    @property
    def lines(self) -> int:
        return sum(self._lines.values())

    async def _db(self, fn, *args, **kwargs):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    # --- the loop ---------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except StoreError as exc:       # the database is down: try again next tick
                log.warning("dialer: store unavailable: %s", exc)
            self._freed.clear()
            waking = asyncio.ensure_future(self._freed.wait())
            try:
                await asyncio.wait({waking, asyncio.ensure_future(self.sleep(self.cfg.tick_s))},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                waking.cancel()

    async def close(self) -> None:
        """Stop placing calls and wait for those in progress to settle."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def tick(self) -> int:
        """Claim and place what may be dialled now; returns how many calls were placed."""
        now = self.clock()
        local = now.astimezone(self.tz)
        await self._db(self.store.expire_claims, now)
        blocked = frozenset(d for d, _ in await self._db(self.store.blocked_days, local.date()))
        placed = 0
        refused = []
        for campaign in await self._db(self.store.running_campaigns):
            why = refusal(local, _window(campaign), blocked)
            if why:
                refused.append(why)
                continue
            placed += await self._fill(campaign.id, campaign.max_concurrent, campaign.per_minute, now)
        if self.cfg.callbacks:
            if self._last_enqueue is None or now - self._last_enqueue >= dt.timedelta(minutes=1):
                self._last_enqueue = now
                try:
                    await self._db(self.store.enqueue_callbacks, now, tries=self.cfg.callback_tries,
                                   retry_minutes=self.cfg.callback_retry_minutes)
                except StoreError as exc:     # another instance enqueued the same request first
                    log.info("dialer: callback requests not queued this time: %s", exc)
            why = refusal(local, self.cfg.office, blocked)
            if not why:
                placed += await self._fill(None, None, None, now)
        self.stats.refused = "; ".join(sorted(set(refused)))
        return placed

    async def _fill(self, campaign_id: int | None, max_concurrent: int | None, per_minute: int | None,
                    now: dt.datetime) -> int:
        """Claim what this instance's free lines allow; the campaign's own limits (calls
        at once, calls a minute) are counted over all instances, in the claim."""
        free = self.cfg.max_lines - self.lines
        if free <= 0:
            return 0
        claims = await self._db(self.store.claim, self.instance, now, campaign_id=campaign_id, limit=free,
                                lease_s=self.cfg.lease_s, max_concurrent=max_concurrent, per_minute=per_minute)
        for claim in claims:
            self._lines[campaign_id] += 1
            task = asyncio.create_task(self._place(claim), name=f"outbound-{claim.attempt_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.stats.placed += len(claims)
        return len(claims)

    # --- one call -----------------------------------------------------------------------
    async def _place(self, claim: Claim) -> None:
        try:
            outcome = await self._dial(claim)
            self.stats.outcomes[outcome] += 1
        except Exception:       # one call's bug must not stop the dialer
            log.exception("outbound attempt %d failed unexpectedly", claim.attempt_id)
        finally:
            self._lines[claim.campaign_id] -= 1
            self._freed.set()

    async def _dial(self, claim: Claim) -> str:
        number, why = dialable(claim.phone)
        if not number:
            await self._db(self.store.finish_attempt, claim.attempt_id, "invalid", at=self.clock(), detail=why)
            return "invalid"
        channel = self.cfg.channel.format(number=number)
        reason = ""
        uniqueid = ""
        try:
            result = await self._within(self.ami.originate(
                channel, self.cfg.context, claim.kind, 1, caller_id=self.cfg.caller_id,
                timeout_ms=self.cfg.ring_timeout_ms, variables={"HOTLINE_ATTEMPT": str(claim.attempt_id)}),
                self.cfg.ring_timeout_ms / 1000 + 60)
            if result is None:
                raise AmiError("no OriginateResponse in time")
            outcome, reason, uniqueid = outcome_of(result.success, result.reason), result.reason, result.uniqueid
        except AmiActionFailed:
            outcome = "failed"                  # Asterisk refused the Originate itself
        except AmiNotSent:
            outcome = "not_sent"
        except (AmiConnectionLost, AmiError):
            outcome = "lost"                    # sent, fate unknown: never re-sent, retried later
        log.info("outbound attempt %d (%s, try %d): %s", claim.attempt_id, claim.kind, claim.number, outcome)
        hold = self.cfg.lost_hold_s if outcome == "lost" else None
        await self._settle(self.store.finish_attempt, claim.attempt_id, outcome, at=self.clock(),
                           reason_code=reason, hold_s=hold)
        if outcome == "lost":
            # The call may be ringing or up: keep the line until its result arrives or
            # the hold runs out (expire_claims then schedules the retry).
            await self._until_over(claim.attempt_id, "", limit_s=self.cfg.lost_hold_s + 120.0)
        elif outcome == "answered":
            await self._until_over(claim.attempt_id, uniqueid)
            if not await self._ended(claim.attempt_id):
                await self.sleep(self.cfg.result_grace_s)
            await self._settle(self.store.close_attempt, claim.attempt_id, at=self.clock())
        return outcome

    async def _ended(self, attempt_id: int) -> bool:
        try:
            return await self._db(self.store.attempt_ended, attempt_id)
        except StoreError:
            return False

    async def _until_over(self, attempt_id: int, uniqueid: str, limit_s: float | None = None) -> None:
        """Hold the line until the answered channel's Hangup event.  That event may be
        lost (it fires while the AMI connection is down), so once a minute the attempt
        is also looked up: a call whose dialogue reported its result is over."""
        waited = 0.0
        limit = self.cfg.max_call_s if limit_s is None else limit_s
        while waited < limit:
            if uniqueid and await self._within(self.ami.wait_hangup(uniqueid), 60.0) is not None:
                return
            if not uniqueid:
                await self.sleep(60.0)
            waited += 60.0
            if await self._ended(attempt_id):
                return

    async def _within(self, coro, seconds: float):
        """``await coro``, or None after ``seconds`` on the dialer's clock (which a
        simulation may run faster than the wall clock)."""
        work = asyncio.ensure_future(coro)
        timer = asyncio.ensure_future(self.sleep(seconds))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            work.cancel()
            timer.cancel()
            raise
        timer.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            return None
        return work.result()

    async def _settle(self, fn, *args, **kwargs) -> None:
        """Write an attempt's outcome; while the database is down keep trying (the lease
        hands the claim back if this process dies first)."""
        delay = 1.0
        while True:
            try:
                await self._db(fn, *args, **kwargs)
                return
            except StoreError as exc:
                log.warning("dialer: cannot record an outbound attempt yet: %s", exc)
                await self.sleep(delay)
                delay = min(delay * 2, 60.0)
