"""``asr transcribe`` / ``asr eval`` output formats."""

from __future__ import annotations

import json

from ivr.speech import cli


def test_transcribe_prints_one_json_object_per_file(data_dir, capsys):
    files = [str(data_dir / "digits_andy.wav"), str(data_dir / "silence.wav")]
    assert cli.main(["asr", "transcribe", "--grammar", "digits", *files]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["file"] == files[0]
    assert first["text"] == "satu dua tiga"
    assert first["digits"] == "123"
    assert 0.0 <= first["confidence"] <= 1.0
    assert first["alternatives"][0]["text"] == "satu dua tiga"
    assert second["text"] == "" and second["digits"] == ""


def test_transcribe_reports_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "x.wav"
    bad.write_text("not audio")
    assert cli.main(["asr", "transcribe", str(bad)]) == 1
    assert "error" in json.loads(capsys.readouterr().out)


def test_eval_prints_accuracies_and_rtf(data_dir, tmp_path, capsys):
    manifest = tmp_path / "m.tsv"
    manifest.write_text(f"{data_dir / 'digits_andy.wav'}\tsatu dua tiga\n"
                        f"{data_dir / 'digits_mike.wav'}\tempat lima satu\n", encoding="utf-8")
    assert cli.main(["asr", "eval", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "utterances: 2" in out
    assert "word accuracy: 83.33%" in out
    assert "exact-string accuracy: 50.00%" in out
    assert "real-time factor: 0.0" in out
