"""Training pieces that decide what the network learns: epochs, CTC targets and loss."""

from __future__ import annotations

import numpy as np
import pytest

from tests.needs import TRAIN_EXTRA

torch = pytest.importorskip("torch", reason=TRAIN_EXTRA)

from ivr.speech.lexicon import PHONES, SILENCE  # noqa: E402
from ivr.speech.train.data import CLEAN, Example, label_sequence  # noqa: E402
from ivr.speech.train.trainer import _ctc_loss, ctc_targets, epoch_examples  # noqa: E402

pytestmark = pytest.mark.train


def _ex(uid: str, group: int, text: str = "satu", frames: int = 30) -> Example:
    labels, skip = label_sequence(text)
    return Example(uid=uid, speaker="s", feats=np.zeros((frames, 4), np.float16), labels=labels,
                   skippable=skip, group=group)


def test_warmup_epochs_use_clean_copies_only_then_everything_in_turn():
    exs = [_ex("h-clean", CLEAN), _ex("h-0", 0), _ex("h-1", 1), _ex("syn1", -1), _ex("syn2", -1),
           _ex("noise", -1, "")]
    for epoch in range(2):
        assert [e.uid for e in epoch_examples(exs, epoch, warmup=2)] == ["h-clean"]
    third = [e.uid for e in epoch_examples(exs, 2, warmup=2)]
    fourth = [e.uid for e in epoch_examples(exs, 3, warmup=2)]
    assert "h-clean" in third and "noise" in third
    assert ("h-0" in third) != ("h-0" in fourth) and ("h-1" in third) != ("h-1" in fourth)
    assert len([u for u in third + fourth if u.startswith("syn")]) == 2


def test_warmup_without_clean_copies_trains_on_everything():
    exs = [_ex("h-0", 0), _ex("syn1", -1)]
    assert [e.uid for e in epoch_examples(exs, 0, warmup=3)] == ["h-0"]


def test_ctc_targets_are_the_phones_without_silences():
    e = _ex("x", 0, "nol satu")
    assert [PHONES[i] for i in ctc_targets(e)] == ["n", "o", "l", "s", "a", "t", "u"]
    assert len(ctc_targets(_ex("n", -1, ""))) == 0


def test_ctc_loss_prefers_the_right_phones_and_counts_exact_greedy_hits():
    blank = PHONES.index(SILENCE)
    exs = [_ex("a", 0, "nol", frames=30)]        # 10 output frames
    target = list(ctc_targets(exs[0]))
    right = torch.full((1, 10, len(PHONES)), -10.0)
    right[0, :, blank] = 0.0
    for t, p in zip((2, 4, 6), target):
        right[0, t, :] = -10.0
        right[0, t, p] = 0.0
    wrong = right.clone()
    wrong[0, 4, :] = -10.0
    wrong[0, 4, PHONES.index("a")] = 0.0
    lens = torch.tensor([10])
    loss_right, frames, hits_right = _ctc_loss(right.log_softmax(-1), lens, exs, blank)
    loss_wrong, _, hits_wrong = _ctc_loss(wrong.log_softmax(-1), lens, exs, blank)
    assert frames == 10
    assert (hits_right, hits_wrong) == (1, 0)
    assert float(loss_right) < 0.1 < float(loss_wrong)


def test_words_outside_the_lexicon_keep_their_place_in_the_labels(tmp_path):
    from ivr.speech.train import corpus

    pdf = {p: i for i, p in enumerate(PHONES)}
    manifest = tmp_path / "m.tsv"
    manifest.write_text("a.wav\tNIK saya tiga sekarang\n", encoding="utf-8")
    (utt,) = corpus.load_manifest(manifest)
    assert utt.text == "nik saya tiga sekarang"            # "sekarang" is not dropped
    labels, skip = label_sequence(utt.text, utt.phones)
    phones = [PHONES[i] for i, s in zip(labels, skip) if not s]
    assert phones == list("niksayatiga") + ["s", "@", "k", "a", "r", "a", "ng"]
    assert labels[0] == pdf[SILENCE] and skip[0]


def test_synthetic_plan_says_jakartas_words_and_carrier_sentences():
    from ivr.speech.lexicon import COLLOQUIAL_NO, COLLOQUIAL_YES, LEXICON
    from ivr.speech.train import corpus

    plan = corpus.synth_plan(np.random.default_rng(1), corpus.TRAIN_VOICES, 600, "s")
    words = {w for u in plan for w in u.text.split()}
    assert set(COLLOQUIAL_YES + COLLOQUIAL_NO) <= words
    assert {"nik", "nomornya", "jangan", "telepon"} <= words
    assert words <= set(LEXICON)
    assert all(label_sequence(u.text, u.phones)[0].size for u in plan)


def test_news_subset_is_labelled_word_by_word_when_present():
    from pathlib import Path

    from ivr.speech.train import corpus

    news = Path(__file__).resolve().parents[3] / "shared" / "data" / "indsp-news-tts-subset"
    if not (news / "transcripts.tsv").is_file():
        pytest.skip("no news subset on this machine")
    utts = corpus.load_news(news)
    assert len(utts) > 300 and {u.speaker for u in utts} == {corpus.NEWS_SPEAKER}
    tidak = [u for u in utts if "tidak" in u.text.split()]
    assert len(tidak) >= 100
    for u in utts:
        assert len(u.phones) in (0, len(u.text.split()))
        assert set(p for pron in u.phones for p in pron) <= set(PHONES)
