"""Outbound calls: the same call flow, entered from a different state.

A reminder call or a callback is answered by a resident who did not dial us, so it
opens differently: listen first (a "halo", or 2 s of nothing, before speaking), say
who is calling and why, and then either read the schedule with the very prompts of
the inbound line (reminder) or put the resident through to the operators' queue
(callback).  Everything after that -- the status read-out, the menu, the operator,
a callback offer -- is the inbound flow's own handlers, inherited unchanged.

What the call achieved for the campaign is kept in ``Context.outbound_result``:
``confirmed`` (pressed 1 / said "ya"), ``opted_out`` (8 / "jangan telepon lagi"),
``operator``, ``heard`` (someone was there but chose nothing) or ``no_response``
(nothing came back: an answering machine, a silent line -- to be tried again later).
"""

from __future__ import annotations

from dataclasses import replace

from ivr.dialogue.flow import TRANSFER_OK, Dialogue, FlowConfig, answer_items
from ivr.dialogue.understand import Kind
from ivr.dialogue.vocab import (
    Ask, Context, End, Event, KeysEntered, Listen, Lookup, OutboundStarted, Play, PromptItem, Recorded,
    SpeechHeard, State, Step, Transfer, TransferDone,
)


class OutboundDialogue(Dialogue):
    """The inbound dialogue plus three outbound states (HELLO, REMINDER, CALLBACK_TRANSFER)."""

    def __init__(self, config: FlowConfig | None = None):
        super().__init__(config)
        self._handlers.update({
            State.HELLO: self._on_hello,
            State.REMINDER: self._on_reminder,
            State.CALLBACK_TRANSFER: self._on_callback_transfer,
        })

    def start(self, event) -> Step:
        if not isinstance(event, OutboundStarted):
            return super().start(event)
        ctx = Context(caller_known=event.caller_known, started=event.at, outbound=event.kind,
                      nik=event.nik, answer=answer_items(event.recipient) if event.recipient else ())
        return Step(State.HELLO, (Listen(),), ctx)

    # --- answered: who is calling and why ----------------------------------------------
    def _on_hello(self, ctx: Context, event: Event) -> Step:
        heard = (isinstance(event, Recorded) and event.heard) or isinstance(event, (KeysEntered, SpeechHeard))
        ctx = replace(ctx, heard_voice=heard, tries=0)
        if ctx.outbound == "reminder":
            return self._reminder(ctx, ("outbound/reminder_intro",) + ctx.answer)
        if self.cfg.office_is_open(event.at):
            return Step(State.CALLBACK_TRANSFER,
                        (Play(("outbound/callback_intro", "operator/connecting")),
                         Transfer(self.cfg.operator_app, self.cfg.operator_target)), ctx)
        return self._callback_status(ctx, ("outbound/callback_intro",))

    # --- reminder -----------------------------------------------------------------------
    def _reminder(self, ctx: Context, lead: tuple[PromptItem, ...], simple: bool = False) -> Step:
        menu = "outbound/reminder_menu_simple" if simple else "outbound/reminder_menu"
        return Step(State.REMINDER, (Ask(lead + (menu,), "reminder", speech=self.cfg.speech),), ctx)

    def _on_reminder(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "reminder")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.YES:
            ctx = replace(ctx, outbound_result="confirmed")
            return Step(State.END, (End("confirmed", ("outbound/reminder_thanks", "goodbye")),), ctx)
        if kind is Kind.OPT_OUT:
            ctx = replace(ctx, outbound_result="opted_out")
            return Step(State.END, (End("opted_out", ("outbound/opted_out", "goodbye")),), ctx)
        if kind is Kind.REPEAT:
            return self._reminder(replace(ctx, tries=0, heard_voice=True), ctx.answer)
        if kind is Kind.OPERATOR:
            # the resident heard the schedule; "no" to a callback offer brings them to the menu
            ctx = replace(ctx, outbound_result="operator", heard_voice=True, tries=0, after_answer=True)
            return self._to_operator(ctx, event)
        ctx = replace(ctx, tries=ctx.tries + 1, heard_voice=ctx.heard_voice or answer is not None)
        if ctx.tries >= 2:
            # Nothing usable twice.  Nobody answering at all is a machine or a silent line:
            # try again later.  Someone who spoke but chose nothing was reached.
            result = "heard" if answer is not None else "no_response"
            return Step(State.END, (End(result, ("goodbye",)),), replace(ctx, outbound_result=result))
        sorry = "error/not_understood" if answer is not None else "error/not_heard"
        return self._reminder(ctx, (sorry,), simple=True)

    # --- callback -----------------------------------------------------------------------
    def _on_callback_transfer(self, ctx: Context, event: Event) -> Step:
        status = event.status.upper() if isinstance(event, TransferDone) else ""
        if status in TRANSFER_OK:
            ctx = replace(ctx, outbound_result="operator")
            return Step(State.END, (End("operator", ("goodbye",)),), ctx)
        return self._callback_status(ctx, ("outbound/callback_busy",))

    def _callback_status(self, ctx: Context, lead: tuple[PromptItem, ...]) -> Step:
        """No operator: the resident hears their status by the inbound dialogue."""
        ctx = replace(ctx, outbound_result=ctx.outbound_result or "heard")
        if ctx.nik:
            return Step(State.LOOKUP, (Play(lead + ("outbound/callback_status",)), Lookup(ctx.nik)), ctx)
        return self._ask_nik(ctx, lead + ("outbound/callback_ask_nik",))

    def _hung_up(self, state: State, ctx: Context) -> Step:
        step = super()._hung_up(state, ctx)
        if ctx.outbound and not ctx.outbound_result:
            # a hang-up while the reminder played: reached if a voice answered, else try again
            result = "heard" if ctx.heard_voice else "no_response"
            step = replace(step, context=replace(ctx, outbound_result=result))
        return step
