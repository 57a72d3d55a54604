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


def test_synthetic_sentences_are_shared_out_over_epochs_only_when_asked():
    exs = [_ex("h-clean", CLEAN), _ex("h-0", 0), _ex("syn00001-0", -1), _ex("syn00002-0", -1),
           _ex("sen00000-0", -1, "saya"), _ex("sen00001-0", -1, "saya"), _ex("sen00002-0", -1, "saya"),
           _ex("noise0000-0", -1, "")]
    epochs = [[e.uid for e in epoch_examples(exs, ep, warmup=1, sentence_share=share)]
              for share in (1, 3) for ep in range(1, 4)]
    every, shared = epochs[:3], epochs[3:]
    for chosen in every:                    # the default: each sentence every epoch, as s3 was built
        assert [u for u in chosen if u.startswith("sen")] == ["sen00000-0", "sen00001-0", "sen00002-0"]
    seen = [[u for u in chosen if u.startswith("sen")] for chosen in shared]
    assert all(len(s) == 1 for s in seen)   # a third per epoch, each once over three epochs
    assert sorted(u for s in seen for u in s) == ["sen00000-0", "sen00001-0", "sen00002-0"]
    for a, b in zip(every, shared):         # the rest of the epoch does not change
        assert [u for u in a if not u.startswith("sen")] == [u for u in b if not u.startswith("sen")]
        assert "h-clean" in b and "h-0" in b and "noise0000-0" in b


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


def _news_dir():
    from pathlib import Path

    news = Path(__file__).resolve().parents[3] / "shared" / "data" / "indsp-news-tts-subset"
    if not (news / "transcripts.tsv").is_file():
        pytest.skip("no news subset on this machine")
    return news


def test_synthetic_sentences_read_only_sentences_without_digits_and_put_digits_between():
    from ivr.speech.lexicon import DIGIT_WORDS, LEXICON
    from ivr.speech.train import corpus

    news = _news_dir()
    plan = corpus.sentence_plan(np.random.default_rng(3), corpus.TRAIN_VOICES, 400, news, "sen")
    sentences = [u.text.split() for u in corpus.load_news(news)]
    readable = [f" {' '.join(ws)} " for ws in sentences if not set(ws) & set(DIGIT_WORDS)]
    assert 0 < len(readable) < len(sentences)
    with_digits = 0
    for u in plan:
        words = u.text.split()
        assert u.source == "synth" and u.voice in corpus.TRAIN_VOICES
        # every word labelled with our phones (spelt out when some word is outside LEXICON)
        assert len(u.phones) == len(words) or (not u.phones and set(words) <= set(LEXICON))
        assert all(p in PHONES for pron in u.phones for p in pron)
        assert "-" not in u.say and label_sequence(u.text, u.phones)[0].size > len(words)
        # the words between digits and fillers are stretches of sentences without a digit
        # word: the benchmark's sentences (those with digit words) are never read
        runs = " ".join("|" if w in DIGIT_WORDS or w in corpus.FILLERS else w for w in words).split("|")
        for run in filter(None, (r.strip() for r in runs)):
            assert any(f" {run} " in s for s in readable), run
        with_digits += bool(set(words) & set(DIGIT_WORDS))
    assert 0.35 < with_digits / len(plan) < 0.65


def test_synthetic_sentences_leave_the_rest_of_a_build_as_it_was(tmp_path):
    from ivr.speech.train import build as build_mod

    news = _news_dir()
    plain = build_mod.BuildOptions(out=tmp_path, news_dir=news, synth_count=50, noise_count=3)
    more = build_mod.BuildOptions(**{**plain.__dict__, "synth_sentences": 20})
    a, counts_a = build_mod.collect(plain, np.random.default_rng(1))
    b, counts_b = build_mod.collect(more, np.random.default_rng(1))
    assert counts_b["synth_sentences"] == 20 and "synth_sentences" not in counts_a
    assert [j for j in b if not j.utt.uid.startswith("sen")] == a


def test_synthetic_sentences_without_the_news_subset_are_a_clear_error(tmp_path, capsys):
    from ivr.speech import cli

    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human", "--synth-sentences", "10"]) == 2
    assert "--synth-sentences reads the news subset" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_the_sentence_share_reaches_the_build_and_its_record(tmp_path, monkeypatch):
    from ivr.speech import cli
    from ivr.speech.train import build as build_mod

    seen = []
    monkeypatch.setattr(build_mod, "build", lambda opts: seen.append(opts))
    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human", "--sentence-share", "3"]) == 0
    assert seen[0].sentence_share == 3 and "--sentence-share 3" in seen[0].command
    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human"]) == 0
    assert seen[1].sentence_share == 1     # the default: every sentence every epoch, as s3 was built


def test_a_sentence_share_below_one_is_a_clear_error(tmp_path, capsys):
    from ivr.speech import cli

    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human", "--sentence-share", "0"]) == 2
    assert "--sentence-share must be 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


# --- SpecAugment on the cepstra ----------------------------------------------------------

def test_cepstra_turn_back_into_kaldis_own_log_mel_energies(monkeypatch):
    knf = pytest.importorskip("kaldi_native_fbank", reason=TRAIN_EXTRA)
    from ivr.speech.train import features as F

    monkeypatch.setitem(F.MFCC_OPTIONS, "dither", 0.0)
    monkeypatch.setattr(F, "_OPTS", None)
    x = (np.random.default_rng(3).standard_normal(4000) * 0.1).astype(np.float32)
    cep = F.mfcc(x)
    fo = knf.FbankOptions()
    o = F._options()
    fo.frame_opts, fo.mel_opts, fo.use_energy = o.frame_opts, o.mel_opts, False
    comp = knf.OnlineFbank(fo)
    comp.accept_waveform(8000.0, (x * 32768).tolist())
    comp.input_finished()
    logmel = np.stack([np.asarray(comp.get_frame(i)) for i in range(comp.num_frames_ready)])
    back = F.to_log_mel(cep)
    assert np.abs(back - logmel).max() < 1e-3 * np.abs(logmel).max()


def _to_logmel(cep):
    from ivr.speech.train.features import to_log_mel

    return to_log_mel(cep)


def test_spec_augment_replaces_whole_mel_bands_with_the_utterance_mean():
    from ivr.speech.train.features import Masking, spec_augment

    rng = np.random.default_rng(0)
    cep = rng.standard_normal((200, 30)).astype(np.float32)
    before = _to_logmel(cep)
    masked_any = 0
    for seed in range(20):
        masks = Masking(freq_masks=2, freq_width=4, time_masks=0)
        out = spec_augment(cep, np.random.default_rng(seed), masks)
        after = _to_logmel(out)
        changed = np.where(np.abs(after - before).max(axis=0) > 1e-4)[0]
        assert len(changed) <= 8
        for band in changed:
            assert np.allclose(after[:, band], before[:, band].mean(), atol=1e-4)
        masked_any += len(changed) > 0
    assert masked_any >= 15


def test_spec_augment_time_masks_stay_short_on_short_answers():
    from ivr.speech.train.features import Masking, spec_augment

    cep = np.random.default_rng(1).standard_normal((40, 30)).astype(np.float32)   # a 0.4 s "ya"
    original = cep.copy()
    for seed in range(30):
        masks = Masking(freq_masks=0, time_masks=2, time_width=8, time_share=0.1)
        out = spec_augment(cep, np.random.default_rng(seed), masks)
        frames = np.where(np.abs(out - cep).max(axis=1) > 1e-4)[0]
        assert len(frames) <= 2 * 4                     # 10% of 40 frames, twice
    assert np.array_equal(cep, original)                # the example itself is never touched
    assert spec_augment(np.zeros((0, 30), np.float32), np.random.default_rng(0)).shape == (0, 30)


def test_batches_are_masked_only_when_asked():
    from ivr.speech.train.features import Masking
    from ivr.speech.train.trainer import _collate

    labels, skip = label_sequence("satu")
    exs = [Example(uid=f"u{i}", speaker="s", labels=labels, skippable=skip, group=0,
                   feats=np.random.default_rng(i).standard_normal((50, 30)).astype(np.float16)) for i in range(3)]
    plain, *_ = _collate(exs, [0, 1, 2])
    again, *_ = _collate(exs, [0, 1, 2], None, np.random.default_rng(0))
    masks = Masking(freq_masks=2, freq_width=6, time_masks=2)
    masked, *_ = _collate(exs, [0, 1, 2], masks, np.random.default_rng(0))
    assert torch.equal(plain, again)
    assert not torch.equal(plain, masked)
    assert np.allclose(plain[0, :50].numpy(), exs[0].feats.astype(np.float32))


def test_spec_augment_recipes_named_on_the_command_line():
    from ivr.speech.train.build import MASKINGS, BuildOptions
    from ivr.speech.train.features import spec_augment

    assert MASKINGS[BuildOptions(out=None).spec_augment] is None          # the default trains unmasked
    cep = np.random.default_rng(2).standard_normal((100, 30)).astype(np.float32)
    mean = _to_logmel(cep).mean(axis=0)

    def whole_frames_masked(name: str, seed: int) -> int:
        after = _to_logmel(spec_augment(cep, np.random.default_rng(seed), MASKINGS[name]))
        return int(np.all(np.abs(after - mean) < 1e-4, axis=1).sum())

    assert all(whole_frames_masked("bands", seed) == 0 for seed in range(10))
    assert sum(whole_frames_masked("bands+frames", seed) for seed in range(10)) > 0


def test_build_command_passes_masking_and_cache_to_the_recipe(tmp_path, monkeypatch):
    from ivr.speech import cli
    from ivr.speech.train import build as build_mod

    seen = []
    monkeypatch.setattr(build_mod, "build", lambda opts: seen.append(opts))
    cache = tmp_path / "render.pkl"
    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human",
                     "--spec-augment", "bands", "--cache", str(cache)]) == 0
    assert cli.main(["model", "build", "--out", str(tmp_path / "m"), "--no-human"]) == 0
    assert (seen[0].spec_augment, seen[0].cache) == ("bands", cache)
    assert (seen[1].spec_augment, seen[1].cache) == ("off", None)
    with pytest.raises(SystemExit):
        cli.main(["model", "build", "--out", str(tmp_path / "m"), "--spec-augment", "everything"])


def test_a_render_cache_is_reused_only_for_the_same_jobs_and_seed(tmp_path, monkeypatch, capsys):
    import pickle

    from ivr.speech.train import build as build_mod
    from ivr.speech.train.corpus import Utt
    from ivr.speech.train.data import Job

    rendered = []

    def fake_render(jobs, seed, workers, cfg, chunk=64):
        rendered.append((len(jobs), seed))
        yield [_ex(f"{j.utt.uid}-{j.copy}", j.copy) for j in jobs]

    monkeypatch.setattr(build_mod, "render", fake_render)
    utts = [Utt(uid=f"u{i}", speaker="A" if i < 2 else "B", text="satu", source="human", path=f"/x/{i}.flac")
            for i in range(3)]
    held_out = [Job(u, 0) for u in utts[:2]]
    everyone = [Job(u, 0) for u in utts]
    cache = tmp_path / "render.pkl"

    first = build_mod.load_or_render(held_out, 1, 1, cache)
    again = build_mod.load_or_render(held_out, 1, 1, cache)
    assert [e.uid for e in again] == [e.uid for e in first] == ["u0-0", "u1-0"]
    assert rendered == [(2, 1)]                             # the second call loaded the file
    # more speakers (a --no-holdout build), or another seed: rendered anew, never the old set
    assert [e.uid for e in build_mod.load_or_render(everyone, 1, 1, cache)] == ["u0-0", "u1-0", "u2-0"]
    assert len(build_mod.load_or_render(everyone, 2, 1, cache)) == 3
    assert rendered == [(2, 1), (3, 1), (3, 2)]
    assert "rendering anew" in capsys.readouterr().out
    # a cache written by the earlier format (a bare list) is not trusted either
    cache.write_bytes(pickle.dumps(first))
    build_mod.load_or_render(held_out, 1, 1, cache)
    assert rendered[-1] == (2, 1) and not (tmp_path / "render.pkl.part").exists()
