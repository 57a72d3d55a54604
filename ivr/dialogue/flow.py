"""The hotline's call flow: a table of state -> handler, each returning a Step.

Handlers are pure: they read the event and the immutable context and return the
next state, the actions to run and the new context.  Time arrives on the event;
settings arrive once, in :class:`FlowConfig`.  DESIGN.md section 1 is the script
this follows; the prompt ids are those of ``prompts/prompts.toml``.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Callable

from ivr import nik as nikmod
from ivr.dialogue import speak
from ivr.dialogue.understand import (
    NOTHING, YES_NO_GRAMMARS, Answer, Kind, keys_answer, meaning_confidence, speech_answer, words_to_digits,
    yes_no_decision, yes_no_margin,
)
from ivr.dialogue.vocab import (
    Action, Ask, CallStarted, Context, End, Event, Fault, FollowUp, HungUp, KeysEntered, Lookup,
    LookupDone, NikConfirmed, NoInput, Play, PromptItem, Record, Recorded, SpeechHeard, Spoken, State,
    Step, Transfer, TransferDone,
)
from ivr.ports import DEFAULT_DOCUMENTS, RecipientInfo

log = logging.getLogger(__name__)

# What the channel reports after the caller spoke with an operator: DIALSTATUS=ANSWER
# for Dial; for Queue, which sets no status for a bridged call, "BRIDGED".
TRANSFER_OK = frozenset({"ANSWER", "BRIDGED"})


@dataclass(frozen=True)
class FlowConfig:
    max_tries: int = 3
    speech: bool = True
    operator_app: str = "Queue"
    operator_target: str = "operators"
    operator_wait_s: int = 300
    office_open: dt.time = dt.time(8, 0)
    office_close: dt.time = dt.time(16, 0)
    office_days: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    # Below this, a spoken yes/no or menu choice is asked again rather than acted on:
    # a wrong "ya" would confirm a wrong NIK.  Digits are always read back instead.
    min_confidence: float = 0.5
    # A spoken "yes" stands only when the best yes reading beats the best no reading
    # by this much (natural log: 4 = 55 times likelier); a "no" needs ``no_margin``
    # the other way.  Closer calls are asked again, offering the keypad and the
    # spoken digits.  Chosen on benchmarks/asr_bench.py's yes/no sets (MODEL_CARD.md):
    # a no by 1 since s6 decodes the read-back beside the ensemble (a yes heard as a
    # no just barely was asked again, not sent to the correction turn).
    yes_margin: float = 4.0
    no_margin: float = 1.0
    # The province code of the NIKs the line serves (31: DKI Jakarta).  Only a tie-breaker:
    # of two ways to mend a NIK heard with a digit too many, the one in this province.
    home_province: str = "31"

    def office_is_open(self, at: dt.datetime) -> bool:
        return at.weekday() in self.office_days and self.office_open <= at.time() < self.office_close

    def operator_args(self) -> str:
        """The application's arguments with a time limit, so nobody waits for hours:
        Queue(name,options,URL,announceoverride,timeout), Dial(target,timeout)."""
        if "," in self.operator_target:
            return self.operator_target      # the administrator spelled them out
        if self.operator_app.lower() == "queue":
            return f"{self.operator_target},,,,{self.operator_wait_s}"
        return f"{self.operator_target},{self.operator_wait_s}"


Handler = Callable[[Context, Event], Step]


def _problem_items(check: nikmod.NikCheck) -> tuple[PromptItem, ...]:
    problem = check.problem
    if problem is nikmod.NikProblem.DAY:
        return ("nik/bad_day", *speak.number_ids(check.value or 0))
    if problem is nikmod.NikProblem.MONTH:
        return ("nik/bad_month", *speak.number_ids(check.value or 0))
    return ({
        nikmod.NikProblem.PROVINCE: "nik/bad_province",
        nikmod.NikProblem.CITY: "nik/bad_city",
        nikmod.NikProblem.DISTRICT: "nik/bad_district",
        nikmod.NikProblem.SERIAL: "nik/bad_serial",
        nikmod.NikProblem.TOO_LONG: "nik/too_long",
    }.get(problem, "nik/check_card"),)


def answer_items(recipient: RecipientInfo | None) -> tuple[PromptItem, ...]:
    """What the caller hears about their status (without the menu)."""
    if recipient is None:
        return ("status/not_found",)
    status = recipient.status
    if status == "scheduled" and recipient.collection_date:
        items: list[PromptItem] = ["status/scheduled", "status/schedule_intro"]
        items += speak.date_ids(recipient.collection_date)
        if recipient.time_start and recipient.time_end:
            items += speak.time_window_ids(recipient.time_start, recipient.time_end)
        if recipient.place:
            items += ["status/place_intro", Spoken(recipient.place)]
        if recipient.address:
            items += ["status/address_intro", Spoken(recipient.address)]
        items.append("status/documents_intro")
        docs = tuple(d.strip() for d in recipient.documents if d.strip())
        if not docs or tuple(d.lower() for d in docs) == tuple(d.lower() for d in DEFAULT_DOCUMENTS):
            items.append("docs/default")
        else:
            items.append(Spoken(", ".join(docs) + "."))
        items.append("status/free")
        return tuple(items)
    if status in ("scheduled", "not_scheduled"):
        return ("status/not_scheduled",)
    if status == "collected":
        if recipient.collected_on:
            return ("status/collected", *speak.date_ids(recipient.collected_on), "status/collected_check")
        return ("status/collected_unknown", "status/collected_check")
    if status == "in_review":
        return ("status/in_review",)
    return ("status/rejected",)


def _meaning(pending: tuple[tuple[str, str], ...], kind: Kind) -> tuple[tuple[str, str], ...]:
    """The pending spoken answers whose words mean ``kind``: proven right, their
    words are their label.  Words that meant the other answer are dropped, since
    what the caller actually said is then unknown."""
    return tuple((rec, text) for rec, text in pending if speech_answer(text, "confirm").kind is kind)


class Dialogue:
    """The call flow.  ``start`` opens a call; ``handle`` moves it on by one event."""

    def __init__(self, config: FlowConfig | None = None):
        self.cfg = config or FlowConfig()
        self._handlers: dict[State, Handler] = {
            State.ASK_NIK: self._on_nik,
            State.CONFIRM: self._on_confirm,
            State.FIX_WHICH: self._on_fix_which,
            State.FIX_GROUP: self._on_fix_group,
            State.LOOKUP: self._on_lookup,
            State.MENU: self._on_menu,
            State.REPORT: self._on_report,
            State.OPERATOR: self._on_operator,
            State.CALLBACK_OFFER: self._on_callback_offer,
            State.MESSAGE: self._on_message,
            State.FALLBACK: self._on_fallback,
        }

    # --- entry points -----------------------------------------------------------------
    def start(self, event: CallStarted) -> Step:
        ctx = Context(caller_known=event.caller_known, started=event.at)
        first = "nik/ask" if self.cfg.speech else "nik/ask_keys_only"
        return Step(State.ASK_NIK, (Play(("greeting",)), self._nik_question(ctx, (first,))), ctx)

    def handle(self, state: State, ctx: Context, event: Event) -> Step:
        if isinstance(event, HungUp):
            return self._hung_up(state, ctx)
        if isinstance(event, Fault):
            return Step(State.END, (FollowUp("system_fault", event.kind), End("fault", ("error/system",))), ctx)
        handler = self._handlers.get(state)
        if handler is None:
            log.warning("event %s arrived in state %s, which takes none; ending the call",
                        type(event).__name__, state.value)
            return Step(State.END, (FollowUp("system_fault", f"unexpected event in {state.value}"),
                                    End("fault", ("error/system",))), ctx)
        return handler(ctx, event)

    # --- helpers ------------------------------------------------------------------------
    def _answer(self, event: Event, grammar: str) -> Answer | None:
        """The caller's answer, or None when there was no input at all."""
        if isinstance(event, KeysEntered):
            return keys_answer(event.keys, grammar)
        if isinstance(event, SpeechHeard):
            if grammar != "digits" and meaning_confidence(event.text, event.confidence, event.alternatives,
                                                          grammar) < self.cfg.min_confidence:
                return NOTHING
            answer = speech_answer(event.text, grammar)
            if grammar in YES_NO_GRAMMARS:
                answer = yes_no_decision(answer, yes_no_margin(event.evidence),
                                         self.cfg.yes_margin, self.cfg.no_margin)
            return answer
        if isinstance(event, NoInput):
            return None
        return NOTHING

    def _outcome(self, ctx: Context) -> str:
        if ctx.recipient_status == "not_found":
            return "not_found"
        return "answered" if ctx.recipient_status else "abandoned"

    def _hung_up(self, state: State, ctx: Context) -> Step:
        actions: list[Action] = []
        if state is State.REPORT:
            actions.append(FollowUp("complaint", "caller hung up while recording a report"))
        elif state is State.MESSAGE:
            actions.append(FollowUp("callback", "caller hung up while leaving a message"))
        elif state is State.FALLBACK:
            actions.append(FollowUp("repeated_failure", "caller hung up after repeated failures"))
        elif state is State.OPERATOR and ctx.caller_known:
            actions.append(FollowUp("callback", "caller hung up while waiting for an operator"))
        actions.append(End(self._outcome(ctx)))
        return Step(State.END, tuple(actions), ctx)

    def _fail(self, ctx: Context, retry: Callable[[Context], Step], heard: bool, sorry: bool = True) -> Step:
        """No input or no usable answer: re-prompt more simply, or give up to the fallback."""
        ctx = replace(ctx, tries=ctx.tries + 1)
        if ctx.tries >= self.cfg.max_tries:
            return self._fallback(ctx)
        step = retry(ctx)
        if not sorry:
            return step
        item: PromptItem = "error/not_understood" if heard else "error/not_heard"
        return replace(step, actions=(Play((item,)),) + step.actions)

    # --- NIK entry ------------------------------------------------------------------------
    def _nik_question(self, ctx: Context, items: tuple[PromptItem, ...]) -> Ask:
        remaining = nikmod.NIK_LENGTH - len(ctx.digits)
        # No NIK starts with 0, so a lone 0 as the first key is the operator.
        return Ask(items, "digits", max_digits=max(remaining, 1), speech=self.cfg.speech,
                   immediate="0" if not ctx.digits else "")

    def _ask_nik(self, ctx: Context, lead: tuple[PromptItem, ...] = (),
                 note: tuple[PromptItem, ...] = ()) -> Step:
        if ctx.digits:
            items = ("nik/heard_so_far", *speak.grouped_digit_ids(ctx.digits), *note, "nik/ask_rest")
        elif not self.cfg.speech:
            items = ("nik/ask_keys_only",)
        elif ctx.tries >= 2:
            items = ("nik/ask_keypad",)
        elif ctx.tries == 1:
            items = ("nik/ask_simple",)
        else:
            items = ("nik/ask",)
        return Step(State.ASK_NIK, (self._nik_question(ctx, lead + items),), ctx)

    def _on_nik(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "digits")
        if answer is None or answer.kind is Kind.NOTHING:
            return self._fail(ctx, self._ask_nik, heard=answer is not None)
        lone_zero = isinstance(event, KeysEntered) and not ctx.digits and answer.value == "0"
        if answer.kind is Kind.OPERATOR or lone_zero:
            return self._to_operator(replace(ctx, tries=0), event)
        if answer.kind is Kind.REPEAT and not ctx.digits:
            return self._ask_nik(ctx)
        # "ulangi" or * after some digits: the caller heard them read back wrong; start over.
        if answer.kind in (Kind.REPEAT, Kind.RESTART):
            ctx = replace(ctx, digits="", spans=(), tries=0)
            return self._ask_nik(ctx, ("nik/start_over",))
        return self._add_digits(ctx, event, answer.value)

    def _add_digits(self, ctx: Context, event: Event, digits: str) -> Step:
        if isinstance(event, SpeechHeard):
            digits = self._best_digits(ctx, event, digits)
            if not ctx.digits:
                # No NIK starts with 0: a spoken 0 before the first digit is the
                # recogniser's reading of the words before it ("nomor saya" heard as
                # "nol nol"), not part of the NIK.
                digits = digits.lstrip("0")
                if not digits:
                    return self._fail(ctx, self._ask_nik, heard=True)
            span = (event.recording, len(ctx.digits), len(ctx.digits) + len(digits))
            ctx = replace(ctx, spans=ctx.spans + (span,))
        ctx = replace(ctx, digits=ctx.digits + digits, tries=0)
        count = len(ctx.digits)
        if count > nikmod.NIK_LENGTH:
            ctx = self._without_words_as_digits(ctx)
            count = len(ctx.digits)
        if count > nikmod.NIK_LENGTH:
            return self._reject_nik(ctx, ("nik/too_long",))
        if count < nikmod.NIK_LENGTH:
            return self._ask_nik(ctx, note=("nik/only", *speak.number_ids(count), "nik/digits_word"))
        check = nikmod.check(ctx.digits)
        if not check.ok:
            return self._reject_nik(ctx, _problem_items(check) + ("nik/check_card",))
        ctx = replace(ctx, nik=ctx.digits)
        return self._confirm(ctx)

    def _best_digits(self, ctx: Context, event: SpeechHeard, best: str) -> str:
        """Of the recogniser's readings, prefer one that completes a plausible NIK."""
        need = nikmod.NIK_LENGTH - len(ctx.digits)
        candidates = [best] + [words_to_digits(text) for text, _ in event.alternatives]
        for digits in candidates:
            if len(digits) == need and nikmod.check(ctx.digits + digits).ok:
                return digits
        return best

    def _without_words_as_digits(self, ctx: Context) -> Context:
        """Too many digits, some of them spoken: the words a caller says before a group
        ("ka te pe saya", "anu") are the recogniser's likeliest extra digit, heard at the
        start of that answer.  When leaving out the first digit of one or two spoken
        answers (as many as there are too many digits) gives exactly one possible NIK,
        or exactly one in the line's own province (``FlowConfig.home_province``), that
        is the NIK (read back before any lookup, as always); otherwise ``ctx``
        unchanged."""
        extra = len(ctx.digits) - nikmod.NIK_LENGTH
        starts = sorted({a for rec, a, b in ctx.spans if b > a})
        if not 0 < extra <= 2 or len(starts) < extra:
            return ctx
        found = []
        choices = [(a,) for a in starts] if extra == 1 else [
            (a, b) for i, a in enumerate(starts) for b in starts[i + 1:]]
        for drop in choices:
            digits = "".join(d for i, d in enumerate(ctx.digits) if i not in drop)
            if nikmod.check(digits).ok:
                found.append((drop, digits))
        if len(found) > 1:
            found = [f for f in found if f[1].startswith(self.cfg.home_province)]
        if len(found) != 1:
            return ctx
        drop, digits = found[0]

        def moved(i: int) -> int:                    # an index once ``drop`` is left out
            return i - sum(1 for d in drop if d < i)

        return replace(ctx, digits=digits, spans=tuple((rec, moved(a), moved(b)) for rec, a, b in ctx.spans))

    def _reject_nik(self, ctx: Context, reason: tuple[PromptItem, ...]) -> Step:
        ctx = replace(ctx, digits="", spans=(), nik="", nik_rounds=ctx.nik_rounds + 1)
        if ctx.nik_rounds >= self.cfg.max_tries:
            return self._fallback(ctx, lead=reason)
        return Step(State.ASK_NIK, (self._nik_question(ctx, reason),), ctx)

    # --- read-back, confirm and correct --------------------------------------------------
    def _confirm(self, ctx: Context, simple: bool = False) -> Step:
        items = ("confirm/intro", *speak.grouped_digit_ids(ctx.nik), "confirm/ask_simple" if simple else "confirm/ask")
        return Step(State.CONFIRM, (Ask(items, "confirm", speech=self.cfg.speech),), ctx)

    def _on_confirm(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "confirm")
        kind = answer.kind if answer else Kind.NOTHING
        if isinstance(event, SpeechHeard) and event.recording:
            said = speech_answer(event.text, "confirm").kind
            if said in (Kind.YES, Kind.NO):
                ctx = replace(ctx, yesno_pending=ctx.yesno_pending + ((event.recording, event.text),))
        elif isinstance(event, KeysEntered) and kind in (Kind.YES, Kind.NO):
            # The key says what the caller's earlier words at this read-back meant.
            ctx = replace(ctx, yesno_proven=ctx.yesno_proven + _meaning(ctx.yesno_pending, kind), yesno_pending=())
        if kind is Kind.YES:
            training = () if ctx.corrected else tuple(
                (rec, ctx.nik[a:b]) for rec, a, b in ctx.spans if rec and b > a)
            ctx = replace(ctx, tries=0, yesno_pending=())
            return Step(State.LOOKUP, (NikConfirmed(ctx.nik, training + ctx.yesno_proven), Lookup(ctx.nik)), ctx)
        if kind is Kind.NO:
            return self._fix_which(replace(ctx, tries=0))
        if kind is Kind.REPEAT:
            return self._confirm(ctx)
        if kind is Kind.UNSURE:
            # Heard a yes or a no, but not clearly enough to look a NIK up on it:
            # ask for the keys (or the spoken digits, which the line hears best).
            return self._fail(ctx, lambda c: Step(State.CONFIRM, (
                Ask(("confirm/unsure",), "confirm", speech=self.cfg.speech),), c), heard=False, sorry=False)
        if kind is Kind.OPERATOR:
            return self._to_operator(replace(ctx, tries=0), event)
        return self._fail(ctx, lambda c: self._confirm(c, simple=True), heard=answer is not None)

    def _fix_which(self, ctx: Context, lead: tuple[PromptItem, ...] = ()) -> Step:
        return Step(State.FIX_WHICH, (Ask(lead + ("fix/which",), "group", speech=self.cfg.speech),), ctx)

    def _on_fix_which(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "group")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.GROUP:
            return self._fix_group(replace(ctx, fix_group=int(answer.value), tries=0))
        if kind is Kind.ALL:
            ctx = replace(ctx, digits="", spans=(), nik="", tries=0)
            return self._ask_nik(ctx, ("nik/start_over",))
        if kind is Kind.REPEAT:
            return self._fix_which(ctx)
        if kind is Kind.OPERATOR:
            return self._to_operator(replace(ctx, tries=0), event)
        return self._fail(ctx, self._fix_which, heard=answer is not None)

    def _fix_group(self, ctx: Context, lead: tuple[PromptItem, ...] = ()) -> Step:
        items = lead + ("fix/group_ask", *speak.digit_ids(str(ctx.fix_group)))
        return Step(State.FIX_GROUP, (Ask(items, "digits", max_digits=4, speech=self.cfg.speech),), ctx)

    def _on_fix_group(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "digits")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.OPERATOR:
            return self._to_operator(replace(ctx, tries=0), event)
        if kind is Kind.REPEAT:
            return self._fix_group(ctx)
        digits = answer.value if answer and kind is Kind.DIGITS else ""
        if len(digits) != 4:
            if digits:
                ctx = replace(ctx, tries=ctx.tries + 1)
                if ctx.tries >= self.cfg.max_tries:
                    return self._fallback(ctx)
                return self._fix_group(ctx, ("fix/group_short",))
            return self._fail(ctx, self._fix_group, heard=answer is not None)
        start = (ctx.fix_group - 1) * 4
        nik = ctx.nik[:start] + digits + ctx.nik[start + 4:]
        if nik != ctx.nik:
            # The caller changed a digit: their spoken "no" was one.
            ctx = replace(ctx, yesno_proven=ctx.yesno_proven + _meaning(ctx.yesno_pending, Kind.NO))
        ctx = replace(ctx, yesno_pending=())
        ctx = replace(ctx, nik=nik, digits=nik, corrected=True, tries=0)
        check = nikmod.check(nik)
        if not check.ok:
            ctx = replace(ctx, nik_rounds=ctx.nik_rounds + 1)
            if ctx.nik_rounds >= self.cfg.max_tries:
                return self._fallback(ctx, lead=_problem_items(check))
            return self._fix_which(ctx, _problem_items(check))
        return self._confirm(ctx)

    # --- the answer -------------------------------------------------------------------------
    def _on_lookup(self, ctx: Context, event: Event) -> Step:
        if not isinstance(event, LookupDone):
            return Step(State.END, (FollowUp("system_fault", "no lookup result"), End("fault", ("error/system",))), ctx)
        recipient = event.recipient
        answer = answer_items(recipient)
        ctx = replace(ctx, answer=answer, recipient_status=recipient.status if recipient else "not_found",
                      after_answer=True, tries=0)
        actions: list[Action] = []
        if recipient is None:
            actions.append(FollowUp("not_found", "NIK not in the recipient list"))
        actions.append(self._menu_question(answer + ("menu/after",)))
        return Step(State.MENU, tuple(actions), ctx)

    def _menu_question(self, items: tuple[PromptItem, ...]) -> Ask:
        return Ask(items, "menu", speech=self.cfg.speech)

    def _menu(self, ctx: Context, lead: tuple[PromptItem, ...] = (), simple: bool = False) -> Step:
        return Step(State.MENU, (self._menu_question(lead + ("menu/simple" if simple else "menu/after",)),), ctx)

    def _on_menu(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "menu")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.REPEAT:
            return Step(State.MENU, (self._menu_question(ctx.answer + ("menu/after",)),), replace(ctx, tries=0))
        if kind is Kind.REPORT:
            ctx = replace(ctx, tries=0, report_tries=0)
            return Step(State.REPORT, (Record(("report/intro",), "complaint"),), ctx)
        if kind is Kind.OPERATOR:
            return self._to_operator(replace(ctx, tries=0), event)
        if kind is Kind.DONE:
            return Step(State.END, (End(self._outcome(ctx), ("goodbye",)),), ctx)
        # The caller has their answer: one gentle reminder of the choices, then goodbye.
        ctx = replace(ctx, tries=ctx.tries + 1)
        if ctx.tries >= 2:
            return Step(State.END, (End(self._outcome(ctx), ("goodbye",)),), ctx)
        lead = ("error/not_understood",) if answer is not None else ()
        return self._menu(ctx, lead, simple=True)

    def _on_report(self, ctx: Context, event: Event) -> Step:
        if isinstance(event, Recorded) and event.heard:
            ctx = replace(ctx, tries=0)
            return Step(State.MENU, (FollowUp("complaint", "voice report recorded"),
                                     self._menu_question(("report/thanks", "menu/after"))), ctx)
        ctx = replace(ctx, report_tries=ctx.report_tries + 1)
        if ctx.report_tries < 2:
            return Step(State.REPORT, (Play(("report/empty",)), Record(("report/intro",), "complaint")), ctx)
        return self._menu(replace(ctx, tries=0), ("report/empty",))

    # --- operator, callback, message ----------------------------------------------------------
    def _to_operator(self, ctx: Context, event: Event) -> Step:
        if self.cfg.office_is_open(event.at):
            return Step(State.OPERATOR, (Play(("operator/connecting",)),
                                         Transfer(self.cfg.operator_app, self.cfg.operator_args())), ctx)
        return self._callback_offer(ctx, ("operator/closed",))

    def _on_operator(self, ctx: Context, event: Event) -> Step:
        status = event.status.upper() if isinstance(event, TransferDone) else ""
        if status in TRANSFER_OK:
            return Step(State.END, (End("operator", ("goodbye",)),), ctx)
        return self._callback_offer(ctx, ("operator/busy",))

    def _callback_offer(self, ctx: Context, lead: tuple[PromptItem, ...] = ()) -> Step:
        if not ctx.caller_known:
            return Step(State.MESSAGE, (Record(lead + ("operator/no_number",), "message"),), ctx)
        return Step(State.CALLBACK_OFFER,
                    (Ask(lead + ("operator/callback_offer",), "yesno", speech=self.cfg.speech),), ctx)

    def _callback_noted(self, ctx: Context, why: str) -> Step:
        return Step(State.END, (FollowUp("callback", why),
                                End("callback", ("operator/callback_noted", "goodbye"))), ctx)

    def _on_callback_offer(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "yesno")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.YES:
            return self._callback_noted(ctx, "caller asked to be called back")
        if kind is Kind.NO:
            if ctx.after_answer:
                return self._menu(replace(ctx, tries=0))
            return Step(State.END, (End(self._outcome(ctx), ("goodbye",)),), ctx)
        if kind is Kind.REPEAT:
            return self._callback_offer(ctx)
        ctx = replace(ctx, tries=ctx.tries + 1)
        if ctx.tries >= self.cfg.max_tries:
            return Step(State.END, (FollowUp("callback", "offered a callback, no answer"),
                                    End(self._outcome(ctx), ("goodbye",))), ctx)
        return self._callback_offer(ctx, ("error/not_understood" if answer else "error/not_heard",))

    def _on_message(self, ctx: Context, event: Event) -> Step:
        if isinstance(event, Recorded) and event.heard:
            return Step(State.END, (FollowUp("callback", "voice message left"),
                                    End("message", ("operator/message_thanks", "goodbye"))), ctx)
        return Step(State.END, (FollowUp("repeated_failure", "no message could be recorded"),
                                End("failed", ("goodbye",))), ctx)

    # --- when nothing works ---------------------------------------------------------------------
    def _fallback(self, ctx: Context, lead: tuple[PromptItem, ...] = ()) -> Step:
        ctx = replace(ctx, tries=0)
        return Step(State.FALLBACK,
                    (Ask(lead + ("error/giveup", "fallback/offer"), "fallback", speech=False),), ctx)

    def _on_fallback(self, ctx: Context, event: Event) -> Step:
        answer = self._answer(event, "fallback")
        kind = answer.kind if answer else Kind.NOTHING
        if kind is Kind.OPERATOR:
            return self._to_operator(ctx, event)
        if kind is Kind.CALLBACK:
            if ctx.caller_known:
                return self._callback_noted(ctx, "asked for a callback after repeated failures")
            return Step(State.MESSAGE, (Record(("operator/no_number",), "message"),), ctx)
        if kind is Kind.MESSAGE:
            return Step(State.MESSAGE, (Record(("message/intro",), "message"),), ctx)
        if kind is Kind.REPEAT:
            return Step(State.FALLBACK, (Ask(("fallback/offer",), "fallback", speech=False),), ctx)
        ctx = replace(ctx, tries=ctx.tries + 1)
        if ctx.tries >= 2:
            return Step(State.END, (FollowUp("repeated_failure", "no choice made after repeated failures"),
                                    End("failed", ("goodbye",))), ctx)
        return Step(State.FALLBACK, (Ask(("error/not_heard", "fallback/offer"), "fallback", speech=False),), ctx)
