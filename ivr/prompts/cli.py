"""``ivr prompts build`` and ``ivr prompts check``.

``register(subparsers)`` adds the ``prompts`` command to the main ``ivr`` parser;
``python -m ivr.prompts.cli build`` runs the same commands without it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ivr.errors import IvrError

log = logging.getLogger(__name__)


def _paths(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.catalog and args.audio_dir:
        return Path(args.catalog), Path(args.audio_dir)
    from ivr.config import get_settings

    settings = get_settings()
    catalog = Path(args.catalog) if args.catalog else settings.prompts_dir / "prompts.toml"
    audio_dir = Path(args.audio_dir) if args.audio_dir else settings.audio_dir
    return catalog, audio_dir


def required_ids(catalog_ids: tuple[str, ...]) -> frozenset[str]:
    """The prompts the call flow uses: the lead's list when it exists, else everything."""
    try:
        from ivr.dialogue.prompts import REQUIRED_PROMPTS  # type: ignore[import-not-found]
    except ImportError:
        from ivr.dialogue.speak import ALL_WORD_IDS

        return frozenset(catalog_ids) | ALL_WORD_IDS
    return frozenset(REQUIRED_PROMPTS)


def _print_problems(problems: list[str]) -> None:
    print(f"{len(problems)} prompt problem(s):", file=sys.stderr)
    for line in problems:
        print(f"  - {line}", file=sys.stderr)


def cmd_build(args: argparse.Namespace) -> int:
    from ivr.prompts.catalog import load_catalog
    from ivr.prompts.check import check
    from ivr.prompts.render import build

    catalog_path, audio_dir = _paths(args)
    try:
        report = build(catalog_path, audio_dir, force=args.force, only=args.only or None, progress=not args.quiet)
    except IvrError as exc:
        print(f"prompts build failed: {exc}", file=sys.stderr)
        return 1
    print(
        f"rendered {len(report.rendered)}, generated {len(report.generated)} silence(s), "
        f"unchanged {len(report.skipped)}, failed {len(report.failed)} "
        f"in {report.seconds:.1f} s; {report.audio_seconds:.1f} s of new audio; "
        f"{report.total_bytes / 1e6:.2f} MB in {audio_dir}"
    )
    for prompt_id, why in report.failed:
        print(f"FAILED {prompt_id}: {why}", file=sys.stderr)
    if report.orphans:
        print(f"{len(report.orphans)} file(s) no longer in the catalog (kept): {', '.join(report.orphans)}")
    catalog = load_catalog(catalog_path)
    # Check what this build was asked to produce; `prompts check` covers the call flow's list.
    ids = set(args.only) & set(catalog.ids()) if args.only else set(catalog.ids())
    problems = check(catalog, audio_dir, ids)
    if problems:
        _print_problems(problems)
    return 1 if report.failed or problems else 0


def cmd_check(args: argparse.Namespace) -> int:
    from ivr.prompts.catalog import load_catalog
    from ivr.prompts.check import check

    catalog_path, audio_dir = _paths(args)
    try:
        catalog = load_catalog(catalog_path)
    except IvrError as exc:
        print(f"prompts check failed: {exc}", file=sys.stderr)
        return 1
    problems = check(catalog, audio_dir, required_ids(catalog.ids()))
    _print_coverage(catalog, audio_dir)
    if problems:
        _print_problems(problems)
        return 1
    print(f"all prompts present and playable in {audio_dir}")
    return 0


def _print_coverage(catalog, audio_dir: Path) -> None:
    """How much of a typical call a human voice speaks, and what to record next."""
    from ivr.prompts.catalog import is_generated
    from ivr.prompts.coverage import coverage
    from ivr.prompts.voice import Voice, VoiceError

    try:
        human = Voice(audio_dir).live_recordings({i: catalog.text(i) for i in catalog.ids()})
    except VoiceError as exc:
        print(f"voice coverage unknown: {exc}", file=sys.stderr)
        return
    places = _recorded_places(audio_dir)
    result = coverage(audio_dir, set(human) | places)
    spoken = [i for i in catalog.ids() if not is_generated(i)]
    print(f"voice coverage: {result.percent}% of a typical call's audio is a human voice "
          f"({result.human_s:.1f} of {result.total_s:.1f} s); "
          f"{len(human)} of {len(spoken)} prompts recorded, {len(places)} place name(s)")
    todo = result.missing()[:5]
    if todo:
        print("  record next: " + ", ".join(f"{pid} ({s:.1f} s)" for pid, s in todo))


def _recorded_places(audio_dir: Path) -> set[str]:
    from ivr.prompts.voice import Voice

    voice = Voice(audio_dir)
    texts = voice.dynamic_texts()
    return set(voice.live_recordings(texts))


def _add_commands(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalog", help="prompt catalog (default: <IVR_PROMPTS_DIR>/prompts.toml)")
    common.add_argument("--audio-dir", help="rendered audio folder (default: <IVR_PROMPTS_DIR>/audio)")

    p = sub.add_parser("build", parents=[common], help="render changed prompts to 8 kHz WAV with espeak-ng")
    p.add_argument("--force", action="store_true", help="render every prompt, changed or not")
    p.add_argument("--only", nargs="+", metavar="ID", help="render just these prompt ids")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("check", parents=[common], help="check every prompt the call flow needs is present and valid")
    p.set_defaults(func=cmd_check)


def register(subparsers: argparse._SubParsersAction) -> None:
    prompts = subparsers.add_parser("prompts", help="prompt audio: build, check")
    sub = prompts.add_subparsers(dest="prompts_command", required=True, metavar="{build,check}")
    _add_commands(sub)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.prompts.cli", description=__doc__)
    sub = parser.add_subparsers(dest="prompts_command", required=True, metavar="{build,check}")
    _add_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
