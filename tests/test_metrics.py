"""Metrics against their references: pyannote.metrics for DetER and the EER curve,
hand-worked sequences for binarisation, scikit-learn for classification."""

import numpy as np
import pytest

from benchmark import metrics as M

pyannote_metrics = pytest.importorskip("pyannote.metrics")


def _random_segments(rng, duration, n):
    """n random, possibly overlapping segments inside [0, duration]."""
    starts = rng.uniform(0, duration, n)
    return [(float(s), float(min(duration, s + rng.exponential(2.0)))) for s in starts]


def _annotation(segments):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (a, b) in enumerate(segments):
        if b > a:
            ann[Segment(a, b), i] = "speech"
    return ann


@pytest.mark.parametrize("with_uem", [False, True])
def test_deter_matches_pyannote_on_random_segmentations(with_uem):
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.detection import DetectionErrorRate

    rng = np.random.default_rng(7)
    ref, hyp, uem = {}, {}, {}
    metric = DetectionErrorRate(collar=0.0, skip_overlap=False)
    for k in range(6):
        fid = f"f{k}"
        ref[fid] = _random_segments(rng, 60.0, 12)
        hyp[fid] = _random_segments(rng, 60.0, 15)
        uem[fid] = [(5.0 * k % 7, 50.0), (52.0, 58.0)]
        u = Timeline([Segment(a, b) for a, b in uem[fid]]) if with_uem else None
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                metric(_annotation(ref[fid]), _annotation(hyp[fid]), uem=u)
    ours = M.detection_error_components(ref, hyp, uem if with_uem else None)
    theirs = abs(metric)
    assert M.detection_error_rate(ref, hyp, uem if with_uem else None) == pytest.approx(theirs, abs=1e-9)
    assert ours["false_alarm"] == pytest.approx(metric.accumulated_["false alarm"], abs=1e-6)
    assert ours["missed"] == pytest.approx(metric.accumulated_["miss"], abs=1e-6)
    assert ours["total"] == pytest.approx(metric.accumulated_["total"], abs=1e-6)
    assert 0.0 < theirs < 3.0


def test_deter_hand_worked_and_missing_file():
    ref = {"a": [(0.0, 10.0)], "b": [(0.0, 4.0)]}
    hyp = {"a": [(2.0, 12.0)]}  # b absent: all 4 s missed
    c = M.detection_error_components(ref, hyp, uem={"a": (0.0, 20.0), "b": [(0.0, 5.0)]})
    assert c == pytest.approx({"false_alarm": 2.0, "missed": 2.0 + 4.0, "total": 14.0})
    m = M.detection_metrics(ref, hyp, uem={"a": (0.0, 20.0), "b": (0.0, 5.0)})
    assert m["detection_error_rate"] == pytest.approx(8.0 / 14.0)
    assert m["false_alarm_rate"] == pytest.approx(2.0 / 14.0)
    assert m["miss_rate"] == pytest.approx(6.0 / 14.0)
    # outside the UEM nothing counts
    assert M.detection_error_rate({"a": [(0, 10)]}, {"a": [(0, 10), (30, 40)]}, {"a": (0, 20)}) == 0.0
    with pytest.raises(ValueError, match="absent from the reference"):
        M.detection_error_rate(ref, {"zzz": [(0, 1)]})


def _pyannote_binarize_loop(y, rate, onset, offset, min_on, min_off):
    """Literal transcription of pyannote.audio's Binarize loop (no padding), with frame i's
    speech starting at its interval's start, (i - 1/2) / rate, and the last one closing at N."""
    from pyannote.core import Segment, Timeline

    t = np.maximum((np.arange(len(y) + 1) - 0.5) / rate, 0.0)
    segs, start, active = [], t[0], y[0] > onset
    for ti, yi in zip(t[1:-1], y[1:]):
        if active:
            if yi < offset:
                segs.append(Segment(start, ti))
                start, active = ti, False
        elif yi > onset:
            start, active = ti, True
    if active:
        segs.append(Segment(start, t[-1]))
    tl = Timeline(segs)
    if min_off > 0:
        tl = tl.support(collar=min_off)
    return [(s.start, s.end) for s in tl if s.duration >= min_on or min_on == 0]


def _approx(segments):
    return pytest.approx([x for seg in segments for x in seg])


def _flat(segments):
    return [x for seg in segments for x in seg]


def test_binarize_hand_made_sequences():
    rate = 10.0  # frame i centred at i / 10 s, covering [(i - 1/2) / 10, (i + 1/2) / 10)
    y = np.array([0.1, 0.9, 0.9, 0.4, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1])
    # plain threshold: the dip at frame 3 ends the first region
    assert _flat(M.binarize(y, rate, onset=0.5)) == _approx([(0.05, 0.25), (0.35, 0.45)])
    # hysteresis: 0.4 stays above offset 0.3, one region
    assert _flat(M.binarize(y, rate, onset=0.5, offset=0.3)) == _approx([(0.05, 0.45)])
    # merging short gaps, then dropping short regions
    assert _flat(M.binarize(y, rate, onset=0.5, min_duration_off=0.15)) == _approx([(0.05, 0.45)])
    assert _flat(M.binarize(y, rate, onset=0.5, min_duration_on=0.15)) == _approx([(0.05, 0.25)])
    # the first frame starts at 0, the last one ends half a frame after its centre
    assert _flat(M.binarize([0.9, 0.9, 0.9], rate)) == _approx([(0.0, 0.25)])
    assert M.binarize(np.zeros(5), rate) == []


@pytest.mark.parametrize("onset,offset,min_on,min_off", [(0.5, 0.5, 0, 0), (0.7, 0.3, 0.1, 0.1),
                                                           (0.6, 0.4, 0.0, 0.2), (0.3, 0.6, 0, 0)])
def test_binarize_matches_the_reference_loop(onset, offset, min_on, min_off):
    rng = np.random.default_rng(3)
    y = np.clip(np.convolve(rng.uniform(size=600), np.ones(5) / 5, mode="same") + rng.normal(0, 0.1, 600), 0, 1)
    ours = M.binarize(y, 100.0, onset, offset, min_on, min_off)
    ref = _pyannote_binarize_loop(y, 100.0, onset, offset, min_on, min_off)
    assert len(ours) == len(ref) >= 2
    assert np.allclose(ours, ref)


def test_tune_binarize_reduces_dev_error():
    rng = np.random.default_rng(0)
    rate = 100.0
    scores, ref = {}, {}
    for k in range(3):
        truth = np.zeros(1000, bool)
        for a in rng.integers(0, 900, 6):
            truth[a:a + rng.integers(30, 100)] = True
        # speech scores hover around 0.45 with dips, silence around 0.15 with short blips
        y = np.where(truth, 0.45 + 0.2 * rng.standard_normal(1000), 0.15 + 0.1 * rng.standard_normal(1000))
        scores[f"m{k}"] = np.clip(y, 0, 1)
        ref[f"m{k}"] = M.binarize(truth.astype(float), rate, 0.5)
    uem = {f"m{k}": (0.0, 10.0) for k in range(3)}
    default = M.detection_error_rate(ref, {f: M.binarize(s, rate) for f, s in scores.items()}, uem)
    best = M.tune_binarize(scores, ref, uem, rate)
    assert best["offset"] <= best["onset"]
    assert (best["onset"], best["offset"]) != (0.5, 0.5) or best["min_duration_off"] > 0
    assert best["detection_error_rate"] < 0.5 * default
    tuned = {f: M.binarize(s, rate, best["onset"], best["offset"], best["min_duration_on"],
                           best["min_duration_off"]) for f, s in scores.items()}
    assert M.detection_error_rate(ref, tuned, uem) == pytest.approx(best["detection_error_rate"])


def test_eer_matches_pyannote_det_curve_on_random_scores():
    from pyannote.metrics.binary_classification import det_curve

    rng = np.random.default_rng(1)
    for trial in range(5):
        # coprime class sizes: no ROC point can have fpr == fnr except at 0 or 1
        labels = np.r_[np.ones(41), np.zeros(59)].astype(bool)
        scores = np.r_[rng.normal(1.0, 1.0, 41), rng.normal(0.0, 1.0, 59)]
        scores = np.round(scores, 1) if trial % 2 else scores  # with and without tied scores
        assert M.equal_error_rate(scores, labels) == pytest.approx(det_curve(labels, scores)[3], abs=1e-12)


def test_eer_edge_cases():
    # perfect separation: 0.0 (pyannote's four-point average would say 0.25)
    assert M.equal_error_rate([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 0.0
    # exact crossing at 0.5 is returned as such
    assert M.equal_error_rate([0.1, 0.6, 0.4, 0.9], [0, 0, 1, 1]) == 0.5
    # all scores tied: no information, EER 0.5
    assert M.equal_error_rate([0.3] * 6, [0, 1, 0, 1, 1, 0]) == pytest.approx(0.5)
    # fully inverted scores: the worst case
    assert M.equal_error_rate([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="one class"):
        M.equal_error_rate([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="0/1"):
        M.equal_error_rate([0.1, 0.2], [1, 2])


def test_weighted_eer_counts_a_trial_k_times():
    rng = np.random.default_rng(5)
    labels = np.r_[np.ones(30), np.zeros(40)].astype(int)
    scores = np.r_[rng.normal(1.0, 1, 30), rng.normal(0, 1, 40)]
    w = rng.integers(0, 3, 70)
    repeated = M.equal_error_rate(np.repeat(scores, w), np.repeat(labels, w))
    assert M.equal_error_rate(scores, labels, sample_weight=w) == pytest.approx(repeated)
    cols = {"item": np.arange(70), "score": scores, "target": labels}
    assert M.METRICS["eer"].from_items(cols, w) == pytest.approx(repeated)


def test_detection_blocks_sum_to_the_file_totals():
    ref = {"a": [(0.5, 12.0), (14.0, 31.0)], "b": [(2.0, 5.0)]}
    hyp = {"a": [(1.0, 13.0), (15.0, 25.0)], "b": [(2.5, 9.0)]}
    uem = {"a": (0.0, 31.5), "b": None}
    blocks = M.detection_blocks(ref, hyp, {"a": (0.0, 31.5)}, block_seconds=10.0)
    assert blocks["item"] == ["a@0", "a@10", "a@20", "a@30", "b@0"]
    total = M.detection_error_components(ref, hyp, {"a": (0.0, 31.5)})
    for key in ("false_alarm", "missed", "total"):
        assert sum(blocks[key]) == pytest.approx(total[key])
    # the block of 10-20 s: speech 10-12 and 14-20 (8 s), missed 14-15 (1 s), none false
    i = blocks["item"].index("a@10")
    assert (blocks["false_alarm"][i], blocks["missed"][i], blocks["total"][i]) == \
        pytest.approx((1.0, 1.0, 8.0))
    assert uem  # (b has no UEM: its extent is scored, as detection_error_components does)
    der = M.METRICS["detection_error_rate"].from_items(blocks, np.ones(len(blocks["item"])))
    assert der == pytest.approx(M.detection_error_rate(ref, hyp, {"a": (0.0, 31.5)}))


def test_every_metric_has_one_spec():
    for name, spec in M.METRICS.items():
        assert spec.name == name and spec.direction in ("max", "min") and spec.label
        assert spec.block in ("classification", "detection", "verification")
        assert M.METRIC_DIRECTIONS[name] == spec.direction


def test_classification_wrappers_and_directions():
    y, p = [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 1]
    assert M.accuracy(y, p) == pytest.approx(5 / 6)
    assert M.balanced_accuracy(y, p) == pytest.approx((1.0 + 0.5) / 2)
    assert M.macro_f1(y, p) == pytest.approx((8 / 9 + 2 / 3) / 2)
    assert M.classification_metrics(y, p)["macro_f1"] == M.macro_f1(y, p)
    assert set(M.METRIC_DIRECTIONS.values()) == {"max", "min"}
    assert M.METRIC_DIRECTIONS["eer"] == "min" and M.METRIC_DIRECTIONS["accuracy"] == "max"


def test_batched_eer_follows_the_exact_eer_on_resampled_trials():
    """The resampling form (every score a threshold) stays within a point of the exact EER."""
    rng = np.random.default_rng(1)
    diffs = []
    for _ in range(40):
        n = int(rng.integers(200, 800))
        y = rng.integers(0, 2, n)
        s = rng.normal(1.5 * y, 1, n)
        W = rng.integers(0, 3, (3, n)).astype(float)
        batch = M.METRICS["eer"].from_items.batched({"score": s, "target": y}, W)
        for k in range(3):
            live = W[k] > 0
            diffs.append(abs(M.equal_error_rate(s[live], y[live], sample_weight=W[k][live]) - batch[k]))
    assert np.median(diffs) < 1e-9 and max(diffs) < 0.02
    one_class = M.METRICS["eer"].from_items.batched({"score": s, "target": np.ones(n, int)}, W)
    assert np.isnan(one_class).all()      # no non-target trial drawn: no EER (left out)
