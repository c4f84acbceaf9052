"""The tasks' protocols: what each task guarantees about its data and its scores."""

import numpy as np
import pytest

from benchmark import metrics
from benchmark.data import Example, PreparedDataset, Trial
from benchmark.errors import UserError
from benchmark.datasets import dataset_info, describe_tasks
from benchmark.tasks import get_task, tasks
from benchmark.tasks.base import NoiseBank, Splits, check_classes, frame_targets, make_splits


def test_every_task_declares_its_protocol():
    for t in tasks().values():
        assert t.output in ("frame", "clip") and t.direction in ("max", "min")
        assert t.main_metric in metrics.METRIC_DIRECTIONS
        assert metrics.METRIC_DIRECTIONS[t.main_metric] == t.direction
        assert isinstance(t.head, t.Head) and isinstance(t.protocol, t.Protocol)
    # The paper's speaker task is verification: models are selected and ranked on EER.
    assert get_task("speaker").main_metric == "eer"


def _voxceleb(trial_speakers_in_iden_split=True):
    """A VoxCeleb-like listing where, as in the real iden_split.txt, trial speakers are listed too."""
    ex = []
    for spk in ("id1", "id2", "id3", "id4", "id5", "id6"):
        for k, split in enumerate(("train", "train", "dev", "test")):
            if spk in ("id5", "id6") and not trial_speakers_in_iden_split:
                split = None
            ex.append(Example(id=f"{spk}/v/{k}.wav", path="", label=spk, group=spk, split=split))
    trials = [Trial("id5/v/0.wav", "id5/v/1.wav", True), Trial("id5/v/0.wav", "id6/v/2.wav", False)]
    return PreparedDataset("voxceleb1", "twin", "", ex, trials, [], "", "x")


def test_verification_never_trains_on_a_trial_speaker():
    speaker = get_task("speaker").__new__(get_task("speaker"))
    speaker.prepared = _voxceleb()
    s = speaker.make_splits(speaker.prepared.examples, None)
    seen = {e.label for e in s.train + s.val + s.test}
    assert seen == {"id1", "id2", "id3", "id4"}
    assert "2 verification speaker(s) removed" in s.protocol
    # The split the task replaces would have trained on them.
    plain = make_splits(speaker.prepared.examples, None)
    assert {"id5", "id6"} <= {e.label for e in plain.train}


def test_a_trial_naming_an_unknown_utterance_is_refused():
    speaker = get_task("speaker").__new__(get_task("speaker"))
    p = _voxceleb()
    speaker.prepared = PreparedDataset(p.name, p.source, p.root, p.examples,
                                       p.trials + [Trial("id9/x/0.wav", "id1/v/0.wav", False)],
                                       [], "", "x")
    with pytest.raises(UserError, match="refers to id9/x/0.wav, which is not in the dataset listing"):
        speaker.make_splits(speaker.prepared.examples, None)


def test_a_test_class_missing_from_training_stops_the_run():
    e = lambda i, label: Example(id=str(i), path="", label=label)  # noqa: E731
    ok = Splits([e(0, "a"), e(1, "b")], [e(2, "c")], [e(3, "a")], "test fold 1")
    assert check_classes(ok, "x") == ["a", "b"]  # a validation-only class is allowed
    bad = Splits([e(0, "a")], [e(1, "a")], [e(2, "a"), e(3, "b")], "test fold 3")
    with pytest.raises(UserError, match=r"zebra_finch fold 3: class\(es\) 'b' occur in the test "
                                        r"split but not in training \(test fold 3\)"):
        check_classes(bad, "zebra_finch fold 3")


def test_binarized_frame_targets_reproduce_the_reference_without_delay():
    """Frame i is centred at i / frame rate; binarize must not put its speech half a frame late."""
    from benchmark.prepare import prepare
    from benchmark.twins import ensure_twin

    fr = 100.0
    prepared = prepare("ami", ensure_twin("ami", size="tiny"), progress=False)
    ref = {e.id: list(e.segments) for e in prepared.examples}
    hyp = {e.id: metrics.binarize(frame_targets(e.segments, int(e.duration * fr) + 1, fr), fr)
           for e in prepared.examples}
    uem = {e.id: e.uem for e in prepared.examples}
    assert metrics.detection_error_rate(ref, hyp, uem) < 0.01

    # Boundaries anywhere between frames: the error of each is within half a frame and
    # averages to zero (stamping frames at (i + 1/2) / fr was 10 ms late on average).
    rng = np.random.default_rng(0)
    edges = (0.5 + np.cumsum(rng.uniform(0.05, 3.0, 400))).reshape(-1, 2)  # gaps > 2 frames
    segs = [(float(a), float(b)) for a, b in edges]
    out = metrics.binarize(frame_targets(segs, int(edges.max() * fr) + 10, fr), fr)
    assert len(out) == len(segs)
    err = np.array(out) - edges
    assert np.abs(err).max() <= 0.5 / fr + 1e-9
    assert abs(err.mean()) < 0.001


def test_noise_is_mixed_at_the_drawn_snr():
    rng = np.random.default_rng(0)
    x = 10 * np.log10(rng.uniform(0.5, 2.0, (50, 8)))       # speech power ~1 per bin
    n = 10 * np.log10(rng.uniform(0.5, 2.0, (30, 8))) + 17   # a louder noise, shorter than x
    bank = NoiseBank([n], "test")
    for snr in (5.0, 20.0):
        mixed = bank.mix(x.astype(np.float32), np.random.default_rng(1), (snr, snr))
        added = 10 ** (mixed / 10) - 10 ** (x / 10)
        measured = 10 * np.log10((10 ** (x / 10)).sum() / added.sum())
        assert measured == pytest.approx(snr, abs=0.01)
        assert mixed.shape == x.shape and mixed.dtype == np.float32
    with pytest.raises(UserError, match="no usable noise"):
        NoiseBank([], "musan (twin)")
    # Level-normalised features: the mixture keeps the excerpt's per-band level.
    norm = NoiseBank([n], "test", level="band_mean")
    mixed = norm.mix(x.astype(np.float32), np.random.default_rng(1), (5.0, 5.0))
    np.testing.assert_allclose(mixed.mean(0), x.mean(0), atol=1e-4)
    assert not np.allclose(mixed, x, atol=0.1)


def test_bird_calls_select_and_rank_on_balanced_accuracy():
    # Classes range from 613 to 20 calls: a model that ignores the rare class scores a high
    # accuracy but a low balanced accuracy, and validation must select on the latter.
    bird = get_task("bird_calls")
    assert bird.main_metric == "balanced_accuracy" and bird.direction == "max"
    assert dataset_info("zebra_finch").metrics == ("balanced_accuracy", "accuracy", "macro_f1")
    (line,) = [row for row in describe_tasks().splitlines() if row.startswith("bird_calls")]
    assert "balanced_accuracy (max)" in line

    class Fixed:   # always predicts class 0
        def predict_on_batch(self, x):
            return np.tile(np.array([[0.9, 0.1]], np.float32), (len(x), 1))

    task = bird.__new__(bird)
    task.cfg = type("Cfg", (), {"train": type("T", (), {"batch_size": 4})()})()
    task.n_outputs = 2
    task.x = {"val": np.zeros((10, 3, 2), np.float32)}
    task.y = {"val": np.array([0] * 9 + [1])}
    v = task.validate(Fixed(), 1)
    assert v["val_main"] == pytest.approx(0.5)          # (1 + 0) / 2, not the accuracy 0.9
    urban = get_task("urban_sound")
    assert urban.main_metric == "accuracy"
    task.__class__ = urban
    assert task.validate(Fixed(), 1)["val_main"] == pytest.approx(0.9)
