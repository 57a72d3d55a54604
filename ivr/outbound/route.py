"""The FastAGI routes of answered outbound calls (``reminder`` and ``callback``).

The dialplan passes the attempt id as the AGI's first argument
(``AGI(agi://ivr:4573/reminder,${HOTLINE_ATTEMPT})``).  The route looks the attempt up,
runs the call through the call runner with the outbound dialogue (so the call log,
the prompts and every inbound path come along), and reports what the call achieved
back to the attempt.  On an originated channel Asterisk's caller id is our own
number, so the call log gets the resident's number from the attempt instead.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from concurrent.futures import Executor

from ivr.call import CallRunner
from ivr.dialogue.vocab import OutboundStarted
from ivr.errors import CallerHungUp, ChannelError, StoreError
from ivr.telephony.routes import agi_args

log = logging.getLogger(__name__)


class OutboundRoute:
    def __init__(self, runner: CallRunner, store, kind: str, *, pool: Executor | None = None):
        self.runner = runner
        self.store = store
        self.kind = kind
        self.pool = pool

    async def _db(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self.pool, lambda: fn(*args, **kwargs))

    async def __call__(self, channel) -> None:
        args = agi_args(channel.info)
        target = None
        if args and args[0].isdigit():
            try:
                target = await self._db(self.store.outbound_target, int(args[0]))
            except StoreError as exc:
                log.error("outbound %s call: cannot read its attempt: %s", self.kind, exc)
        if target is None or target.kind != self.kind:
            # not a call we placed (or the database is down): apologise rather than go silent
            log.warning("outbound %s call without a known attempt; ending it", self.kind)
            try:
                await channel.answer()
                await channel.play(["error/system"], "")
                await channel.hangup()
            except (CallerHungUp, ChannelError):
                pass
            return
        channel.info = dataclasses.replace(channel.info, caller=target.phone)

        def opening(at):
            return OutboundStarted(at, self.kind, target.recipient, target.nik)

        end = await self.runner(channel, opening=opening,
                                note={"outbound": self.kind, "attempt": target.attempt_id})
        result = end.context.outbound_result or "no_response"
        try:
            await self._db(self.store.record_result, target.attempt_id, result, at=self.runner.clock(),
                           call_id=end.call_id)
        except StoreError as exc:
            # the dialer's Hangup handling then schedules a retry: better twice than never
            log.error("outbound %s call: could not record its result: %s", self.kind, exc)
