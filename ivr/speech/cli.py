"""``ivr asr transcribe|eval`` and ``ivr model build|ensemble``.

    ivr asr transcribe [--grammar NAME] [--model DIR] FILE...   one JSON object per line
    ivr asr eval [--grammar NAME] [--model DIR] MANIFEST.tsv    word/exact accuracy, RTF
    ivr model build [--out DIR] [--no-human | --human-dir DIR] [--extra-manifest TSV]... [--mini]
    ivr model ensemble --out DIR MODEL MODEL...                  one model, members' log-posteriors averaged
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ivr.errors import RecognizerError

ROOT = Path(__file__).resolve().parents[2]


def _words_to_digits(text: str) -> str:
    try:
        from ivr.dialogue.understand import words_to_digits
    except ImportError:
        words_to_digits = _fallback_words_to_digits
    return words_to_digits(text)


def _fallback_words_to_digits(text: str) -> str:
    table = {"nol": "0", "kosong": "0", "satu": "1", "dua": "2", "tiga": "3", "empat": "4", "lima": "5",
             "enam": "6", "tujuh": "7", "delapan": "8", "sembilan": "9"}
    return "".join(table[w] for w in text.split() if w in table)


def _recognizer(args):
    from ivr.speech.recognizer import load_recognizer

    model = args.model
    if model is None:
        try:
            from ivr.config import get_settings
            model = get_settings().vosk_model
        except Exception:            # settings are optional for this command; fall back to the bundled model
            model = None
    return load_recognizer(model, args.grammars)


def cmd_transcribe(args) -> int:
    try:
        rec = _recognizer(args)
    except RecognizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = 0
    for f in args.files:
        try:
            t = rec.recognize(Path(f), args.grammar)
        except RecognizerError as exc:
            print(json.dumps({"file": f, "error": str(exc)}, ensure_ascii=False))
            status = 1
            continue
        out = {
            "file": f, "text": t.text, "digits": _words_to_digits(t.text),
            "confidence": round(t.confidence, 4),
            "alternatives": [{"text": h.text, "confidence": round(h.confidence, 4)} for h in t.alternatives],
            "duration_s": round(t.duration_s, 3), "decode_s": round(t.decode_s, 4),
        }
        if t.evidence:                   # yes/no grammars: best score per answer class
            out["evidence"] = dict(t.evidence)
        print(json.dumps(out, ensure_ascii=False), flush=True)
    return status


def cmd_eval(args) -> int:
    from ivr.speech.evaluate import read_manifest, score

    try:
        rec = _recognizer(args)
        rows = read_manifest(Path(args.manifest))
    except (RecognizerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def show(wav, ref, got):
        if args.verbose and got.text != ref:
            print(f"  {wav}: ref={ref!r} hyp={got.text!r} conf={got.confidence:.2f}")

    try:
        s = score(rec, rows, args.grammar, show)
    except RecognizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"utterances: {s.utterances}")
    print(f"words: {s.words}")
    print(f"word accuracy: {100 * s.word_accuracy:.2f}%")
    print(f"exact-string accuracy: {100 * s.exact_accuracy:.2f}%")
    print(f"real-time factor: {s.rtf:.4f}")
    return 0


def cmd_build(args) -> int:
    from ivr.speech.train.build import BuildOptions, build, mini_options

    human_dir = None
    if args.human:
        human_dir = args.human_dir or (ROOT.parent / "shared" / "data" / "indsp-digit-train")
        if not (human_dir / "transcripts.tsv").is_file():
            print(f"error: no human set at {human_dir} (use --human-dir DIR or --no-human)", file=sys.stderr)
            return 2
    news_dir = None
    if args.human and args.news:
        # Same licence as the digit set; absent on a machine without it: built without.
        news_dir = args.news_dir or (ROOT.parent / "shared" / "data" / "indsp-news-tts-subset")
        if not (news_dir / "transcripts.tsv").is_file():
            if args.news_dir is not None:
                print(f"error: no news subset at {news_dir} (use --news-dir DIR or --no-news)", file=sys.stderr)
                return 2
            news_dir = None
    if args.synth_sentences and news_dir is None:
        print("error: --synth-sentences reads the news subset's words, and there is none "
              "(use --news-dir DIR, and not --no-human or --no-news)", file=sys.stderr)
        return 2
    if args.sentence_share is not None and args.sentence_share < 1:
        print("error: --sentence-share must be 1 or more (1: every sentence every epoch)", file=sys.stderr)
        return 2
    out = Path(args.out)
    if args.mini:
        opts = mini_options(out, human_dir)
    else:
        given = {"epochs": args.epochs, "human_copies": args.copies, "synth_count": args.synth,
                 "synth_sentences": args.synth_sentences, "sentence_share": args.sentence_share,
                 "objective": args.objective, "warmup": args.warmup, "hidden": args.hidden,
                 "layers": args.layers, "prior_scale": args.prior_scale, "spec_augment": args.spec_augment,
                 "cache": args.cache}
        opts = BuildOptions(out=out, human_dir=human_dir, holdout=args.holdout, workers=args.workers,
                            seed=args.seed, **{k: v for k, v in given.items() if v is not None})
        opts = BuildOptions(**{**opts.__dict__, "clean_copy": opts.objective == "ctc"})
    opts = BuildOptions(**{**opts.__dict__, "extra_manifests": tuple(Path(p) for p in args.extra_manifest),
                           "news_dir": news_dir,
                           "command": "ivr " + " ".join(shlex.quote(a) for a in (args.argv or sys.argv[1:]))})
    try:
        build(opts)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_ensemble(args) -> int:
    from ivr.speech.ensemble import write_ensemble

    command = "ivr " + " ".join(shlex.quote(a) for a in (args.argv or sys.argv[1:]))
    try:
        out = write_ensemble(args.members, Path(args.out), command, check=_check_loads)
    except (OSError, ValueError, RecognizerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"ensemble of {len(args.members)} models written to {out}")
    return 0


def _numbers(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated network numbers: {text!r}") from None


def cmd_extract(args) -> int:
    from ivr.speech.ensemble import write_selected

    command = "ivr " + " ".join(shlex.quote(a) for a in (args.argv or sys.argv[1:]))
    try:
        out = write_selected(args.model, args.networks, Path(args.out), command, check=_check_loads)
    except (OSError, ValueError, RecognizerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"networks {' '.join(map(str, args.networks))} of {args.model} written to {out}")
    return 0


def cmd_lexicon(args) -> int:
    from ivr.speech.ensemble import write_vocabulary_copy

    command = "ivr " + " ".join(shlex.quote(a) for a in (args.argv or sys.argv[1:]))
    out = Path(args.out) if args.out else args.model
    try:
        added, removed = write_vocabulary_copy(args.model, out, command, check=_check_loads)
    except (OSError, ValueError, RecognizerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{out}: words added: {' '.join(added) or 'none'}; removed: {' '.join(removed) or 'none'}")
    return 0


def cmd_attach(args) -> int:
    from ivr.speech.ensemble import attach_network

    command = "ivr " + " ".join(shlex.quote(a) for a in (args.argv or sys.argv[1:]))
    grammars = [g for g in args.grammars.split(",") if g]
    out = Path(args.out) if args.out else args.model
    try:
        attach_network(args.model, args.network, args.name, grammars, out, args.digits, command,
                       check=_check_loads, beside=args.beside)
    except (OSError, ValueError, RecognizerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    how = "beside am/ (readings averaged)" if args.beside else "instead of am/"
    print(f"{out}: {args.network} decodes {', '.join(grammars)} {how} (am-{args.name}/)")
    return 0


def _check_loads(model: Path) -> None:
    """Vosk loads the model and decodes a second of silence with it."""
    import numpy as np

    from ivr.speech.recognizer import load_recognizer

    load_recognizer(model).recognize_samples(np.zeros(8000, np.int16), 8000, "digits")


def register(subparsers) -> None:
    from ivr.speech.recognizer import default_model_dir

    asr = subparsers.add_parser("asr", help="speech recognition tools")
    asr_sub = asr.add_subparsers(dest="asr_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", type=Path, default=None, help="Vosk model directory (default: bundled)")
    common.add_argument("--grammars", type=Path, default=None, help="grammar folder (default: grammars/)")
    common.add_argument("--grammar", default="digits", help="grammar name (digits, yesno, confirm, menu, group; '' = all words)")
    tr = asr_sub.add_parser("transcribe", parents=[common], help="transcribe WAV files, one JSON line each")
    tr.add_argument("files", nargs="+")
    tr.set_defaults(func=cmd_transcribe)
    ev = asr_sub.add_parser("eval", parents=[common], help="score a manifest (wav_path<TAB>transcript)")
    ev.add_argument("manifest")
    ev.add_argument("-v", "--verbose", action="store_true", help="print each misrecognition")
    ev.set_defaults(func=cmd_eval)

    model = subparsers.add_parser("model", help="speech model tools")
    model_sub = model.add_subparsers(dest="model_command", required=True)
    b = model_sub.add_parser("build", help="train a Vosk model from scratch (needs the train extra)")
    b.add_argument("--out", default=str(default_model_dir()), help="output model directory")
    b.add_argument("--with-human", dest="human", action="store_true", default=True,
                   help="train on the licensed human set (default; model is then CC BY-NC-SA 4.0)")
    b.add_argument("--no-human", dest="human", action="store_false", help="synthetic speech only")
    b.add_argument("--human-dir", type=Path, default=None,
                   help="human set (default ../shared/data/indsp-digit-train from the repo root)")
    b.add_argument("--news-dir", type=Path, default=None,
                   help="one-speaker news subset with human yes/no words "
                        "(default ../shared/data/indsp-news-tts-subset when present)")
    b.add_argument("--no-news", dest="news", action="store_false", default=True,
                   help="leave the news subset out")
    b.add_argument("--extra-manifest", action="append", default=[],
                   help="TSV wav_path<TAB>transcript of extra recordings (repeatable)")
    b.add_argument("--holdout", dest="holdout", action="store_true", default=True,
                   help="keep the evaluation speakers out of training (default)")
    b.add_argument("--no-holdout", dest="holdout", action="store_false",
                   help="train on every human speaker (figures must then come from a held-out build)")
    b.add_argument("--mini", action="store_true", help="miniature build for CI (minutes)")
    b.add_argument("--epochs", type=int, default=None, help="training epochs (default 50)")
    b.add_argument("--objective", choices=("ctc", "viterbi"), default=None,
                   help="ctc (default): no alignments needed; viterbi: frame cross-entropy on flat-start "
                        "alignments (the first recipe, kept for comparison)")
    b.add_argument("--warmup", type=int, default=None,
                   help="CTC: first epochs on clean copies of the human set only (default 8)")
    b.add_argument("--hidden", type=int, default=None, help="network width (default 256)")
    b.add_argument("--layers", type=int, default=None, help="factorised TDNN layers (default 5)")
    b.add_argument("--prior-scale", type=float, default=None,
                   help="decode with posterior / prior**SCALE (default 0.6; 0 = plain posteriors)")
    b.add_argument("--spec-augment", choices=("off", "bands", "bands+frames"), default=None,
                   help="after the warm-up, mask random mel bands (and short stretches of time) of each "
                        "training utterance (default off)")
    b.add_argument("--copies", type=int, default=None, help="augmented copies per human utterance (default 4)")
    b.add_argument("--synth", type=int, default=None, help="synthetic utterances (default 4000)")
    b.add_argument("--synth-sentences", type=int, default=None,
                   help="synthetic voices reading the news subset's words, digits put between (default 0)")
    b.add_argument("--sentence-share", type=int, default=None,
                   help="each epoch trains on 1/N of the synthetic sentences, in turn (default 1: all)")
    b.add_argument("--cache", type=Path, default=None,
                   help="keep the rendered features in this file and reuse them when they were "
                        "rendered from the same utterances and seed (experiments that change "
                        "only the training); otherwise render anew and replace the file")
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--seed", type=int, default=1)
    b.set_defaults(func=cmd_build, argv=None)
    e = model_sub.add_parser("ensemble", help="join trained models into one that decodes with the mean "
                                              "of their log-posteriors")
    e.add_argument("--out", required=True, help="output model directory (replaced whole if it exists)")
    e.add_argument("members", nargs="+", type=Path,
                   help="model directories sharing features, decoder settings and graph")
    e.set_defaults(func=cmd_ensemble, argv=None)
    x = model_sub.add_parser("extract", help="write some networks of an ensemble as a model of their own "
                                             "(to replace one member, say)")
    x.add_argument("--out", required=True, help="output model directory (replaced whole if it exists)")
    x.add_argument("--networks", required=True, type=_numbers,
                   help="the networks to keep, by number, comma-separated (0,1 for m0 and m1 of final.mdl)")
    x.add_argument("model", type=Path, help="an ensemble's model directory")
    x.set_defaults(func=cmd_extract, argv=None)
    lx = model_sub.add_parser("lexicon", help="give a model the words and pronunciations of "
                                              "ivr/speech/lexicon.py (its networks are unchanged)")
    lx.add_argument("--out", default=None, help="output model directory (default: the model, rewritten)")
    lx.add_argument("model", type=Path, help="a model directory")
    lx.set_defaults(func=cmd_lexicon, argv=None)
    at = model_sub.add_parser("attach", help="give a model a second network for some grammars "
                                             "(the others keep its own); needs numpy only")
    at.add_argument("--name", required=True, help="the network's name (its folder: am-NAME/)")
    at.add_argument("--grammars", required=True, help="the grammars it decodes, comma-separated (yesno,confirm)")
    at.add_argument("--digits", type=int, default=None,
                    help="write its numbers with this many significant digits (a smaller file)")
    at.add_argument("--beside", action="store_true",
                    help="decode those grammars with it and with the model's own network, each reading's "
                         "posterior and each class's score averaged (grammars without a phone loop or "
                         "expected lengths)")
    at.add_argument("--out", default=None, help="output model directory (default: the model, rewritten)")
    at.add_argument("model", type=Path, help="the model directory")
    at.add_argument("network", type=Path, help="a model directory whose network is attached")
    at.set_defaults(func=cmd_attach, argv=None)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m ivr.speech.cli``) until ``ivr`` wires it in."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="ivr")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    if getattr(args, "argv", "unset") is None:
        args.argv = argv
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
