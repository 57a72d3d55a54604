"""``asr transcribe`` / ``asr eval`` output formats."""

from __future__ import annotations

import json

from ivr.speech import cli
from ivr.speech.grammars import BUILTIN

DIGITS_GRAMMAR = BUILTIN["digits"]


def test_transcribe_prints_one_json_object_per_file(data_dir, capsys):
    files = [str(data_dir / "digits_andy.wav"), str(data_dir / "silence.wav")]
    assert cli.main(["asr", "transcribe", "--grammar", "digits", *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["file"] == files[0]
    assert first["text"] and set(first["text"].split()) <= set(DIGITS_GRAMMAR)
    assert first["digits"] == cli._words_to_digits(first["text"])
    assert first["digits"].isdigit()
    assert 0.0 <= first["confidence"] <= 1.0
    assert first["alternatives"][0] == {"text": first["text"], "confidence": first["confidence"]}
    assert second["text"] == "" and second["digits"] == ""


def test_words_to_digits_fallback_keeps_repeats():
    assert cli._fallback_words_to_digits("nol kosong satu satu petugas sembilan") == "00119"


def test_transcribe_reports_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "x.wav"
    bad.write_text("not audio")
    assert cli.main(["asr", "transcribe", str(bad)]) == 1
    assert "error" in json.loads(capsys.readouterr().out)


def test_eval_prints_accuracies_and_rtf(data_dir, tmp_path, capsys):
    # Silence decodes to nothing, so the figures are known exactly: one right (empty)
    # string, and two reference words deleted in the other.
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"{data_dir / 'silence.wav'}\t\n"
                        f"{data_dir / 'silence.wav'}\tsatu dua\n", encoding="utf-8")
    assert cli.main(["asr", "eval", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "utterances: 2" in out
    assert "words: 2" in out
    assert "word accuracy: 0.00%" in out
    assert "exact-string accuracy: 50.00%" in out
    rtf = float(out.split("real-time factor:")[1].split()[0])
    assert 0.0 < rtf < 1.0
