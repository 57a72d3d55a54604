"""The ``ivr`` command.  Each area adds its own sub-commands; this module wires them
up, builds the settings once and turns known errors into a clear message and a
non-zero exit status."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from ivr.errors import ConfigError, ImportRejected, IvrError

# Modules that contribute sub-commands through ``register(subparsers)``.
AREAS = (
    "ivr.app",
    "ivr.prompts.cli",
    "ivr.store.cli",
    "ivr.telephony.cli",
    "ivr.speech.cli",
    "ivr.web.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ivr", description="Hotline BST: the telephone line for Jakarta's cash social assistance.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # An area that is not installed (e.g. a missing optional extra) only loses its commands.
            if exc.name and (exc.name == name or name.startswith(exc.name + ".")):
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ImportRejected as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        for line, reason in exc.problems[:200]:
            print(f"  line {line}: {reason}", file=sys.stderr)
        if len(exc.problems) > 200:
            print(f"  ... and {len(exc.problems) - 200} more", file=sys.stderr)
        return 1
    except (ConfigError, IvrError) as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``ivr call ... | head``): no traceback, and no second
        # error when the interpreter flushes stdout at exit.  141 is what a shell reports
        # for a command ended by SIGPIPE.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 141


if __name__ == "__main__":
    sys.exit(main())
