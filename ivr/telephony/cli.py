"""``ivr call``: place one scripted call into a running ``ivr serve`` and print it.

The call goes through the fake Asterisk (real FastAGI over TCP), so it exercises
exactly what a PBX would.  Each prompt is printed with its Indonesian text from
``prompts/prompts.toml`` (``[prompts]`` id = "text") when that file exists.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tomllib
from pathlib import Path

from ivr.errors import ConfigError
from ivr.telephony import fake_asterisk as fake


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "call", help="place a test call into a running `ivr serve` (fake Asterisk)",
        description="Place one call through the fake Asterisk and print the conversation. "
                    "Caller turns are taken in order: each --keys/--barge/--say/--silence/--hangup "
                    "adds one turn (repeat --keys for successive answers), or use --scenario.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: IVR_AGI_PORT")
    p.add_argument("--keys", action=_TurnAction, metavar="DIGITS",
                   help="keys pressed when the line next listens (after the prompts)")
    p.add_argument("--barge", action=_TurnAction, metavar="DIGITS",
                   help="keys pressed during the next prompt that accepts them (barge-in)")
    p.add_argument("--say", action=_TurnAction, metavar="WAV", help="speech for the next recording")
    p.add_argument("--silence", action=_TurnAction, nargs=0, help="stay silent at the next question")
    p.add_argument("--hangup", action=_TurnAction, nargs=0, help="hang up at the next command")
    p.add_argument("--scenario", type=Path, help="JSON or TOML file with the list of turns")
    p.add_argument("--caller", default="081234567890", help="caller id to present")
    p.add_argument("--save", type=Path, help="write what the caller heard and said to this WAV")
    p.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    p.set_defaults(func=run, turns=[])


class _TurnAction(argparse.Action):
    """Keeps --keys/--say/--silence/--hangup in the order they were given."""

    def __call__(self, parser, namespace, values, option_string=None):
        turns = list(getattr(namespace, "turns", None) or [])
        if self.dest in ("keys", "barge"):
            if not values or any(c not in "0123456789*#" for c in values):
                parser.error(f"--{self.dest} takes keypad digits (0-9 * #), got {values!r}")
            turns.append(fake.Keys(values, barge_in=self.dest == "barge"))
        elif self.dest == "say":
            turns.append(fake.Say(Path(values)))
        elif self.dest == "silence":
            turns.append(fake.Silence())
        else:
            turns.append(fake.HangUp())
        namespace.turns = turns


def load_prompt_texts(prompts_dir: Path) -> dict[str, str]:
    path = prompts_dir / "prompts.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    texts: dict[str, str] = {}
    for section in ("prompts", "words"):
        table = data.get(section, {})
        if isinstance(table, dict):
            texts.update({str(k): str(v) for k, v in table.items()})
    return texts


WORD_PREFIXES = ("digits/", "words/", "days/", "months/")


def format_call(result: fake.FakeCallResult, texts: dict[str, str]) -> str:
    lines = []
    words: list[str] = []      # single words (digits, dates, times) said one after another

    def flush() -> None:
        if words:
            lines.append("IVR    " + " ".join(words))
            words.clear()

    for event in result.events:
        if event.kind == "prompt" and event.detail.startswith("silence/"):
            continue
        if event.kind == "prompt" and event.detail.startswith(WORD_PREFIXES):
            words.append(texts.get(event.detail, f"[{event.detail}]"))
            continue
        flush()
        if event.kind == "prompt":
            text = texts.get(event.detail)
            if event.detail.startswith("dyn/"):
                text = "(a place, address or document list, spoken from the recipient list)"
            lines.append(f"IVR    [{event.detail}] {text}" if text else f"IVR    [{event.detail}]")
        elif event.kind == "keys":
            lines.append(f"CALLER presses {event.detail}")
        elif event.kind == "say":
            lines.append(f"CALLER says ({Path(event.detail).name})")
        elif event.kind == "silence":
            lines.append(f"CALLER stays silent ({event.detail})")
        elif event.kind == "record":
            lines.append(f"       (recorded to {event.detail})")
        elif event.kind == "transfer":
            lines.append(f"IVR    transfers: {event.detail}")
        elif event.kind == "audiosocket":
            lines.append(f"IVR    [a question over AudioSocket: {event.detail}]")
        elif event.kind == "say_digits":
            lines.append(f"IVR    says {event.detail}")
        elif event.kind == "hangup":
            lines.append("CALLER hangs up" if event.detail == "caller" else "IVR    hangs up")
    flush()
    lines.append(f"-- call {result.uniqueid} ended by {result.ended_by}"
                 f"{'' if result.clean else ' (not clean)'}")
    lines += [f"!! {p}" for p in result.problems]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ivr.config import get_settings

    try:
        settings = get_settings()
        turns = list(args.turns)
        if args.scenario:
            turns = fake.load_scenario(args.scenario) + turns
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    port = args.port or settings.agi_port
    settings.spool.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(fake.run_call(
            args.host, port, turns, caller=args.caller,
            sounds_prefix=settings.asterisk_sounds.rstrip("/"), audio_dir=settings.audio_dir,
            asterisk_spool=settings.asterisk_spool_dir.rstrip("/"), spool_dir=settings.spool,
            timeout=args.timeout, save_wav=args.save))
    except OSError as exc:
        print(f"error: cannot reach the FastAGI server at {args.host}:{port}: {exc.strerror or exc}"
              " (is `ivr serve` running?)", file=sys.stderr)
        return 2
    print(format_call(result, load_prompt_texts(settings.prompts_dir)))
    if args.save:
        print(f"-- audio saved to {args.save}")
    return 0 if result.clean else 1
