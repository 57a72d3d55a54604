"""The miniature ``model build`` runs end to end and Vosk loads its output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.speech import cli
from tests.needs import TRAIN_EXTRA

HUMAN = Path(__file__).resolve().parents[3] / "shared" / "data" / "indsp-digit-train"
NEWS = HUMAN.parent / "indsp-news-tts-subset"


@pytest.mark.train
@pytest.mark.slow
def test_mini_build_produces_a_loadable_model(tmp_path, data_dir):
    for module in ("torch", "kaldi_native_fbank", "kaldifst", "scipy"):
        pytest.importorskip(module, reason=TRAIN_EXTRA)
    out = tmp_path / "model"
    human = ["--human-dir", str(HUMAN)] if (HUMAN / "transcripts.tsv").is_file() else ["--no-human"]
    assert cli.main(["model", "build", "--mini", "--out", str(out), *human]) == 0
    for part in ("am/final.mdl", "conf/model.conf", "conf/mfcc.conf", "graph/HCLG.fst", "graph/words.txt"):
        assert (out / part).is_file(), part
    info = json.loads((out / "build_info.json").read_text())
    assert info["mini"] is True
    if (NEWS / "transcripts.tsv").is_file() and "--human-dir" in human:
        assert info["counts"]["news_utterances"] == 8        # the mini build takes a few sentences
    assert info["objective"] == "ctc"
    # CTC graphs allow blanks inside words, and the decoder divides by damped priors.
    assert json.loads((out / "graph" / "graph.json").read_text())["blank_phone"] == "sil"
    priors = [float(v) for v in (out / "am" / "final.mdl").read_text().rpartition("<Priors>")[2]
              .strip().strip("[]").split()]
    assert len(priors) == 24 and abs(sum(priors) - 1) < 1e-3 and max(priors) > 1.1 * min(priors)
    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(str(out))
    rec = vosk.KaldiRecognizer(model, 8000.0)
    rec.AcceptWaveform((data_dir / "digits_andy.wav").read_bytes()[44:])
    assert "text" in json.loads(rec.FinalResult())
