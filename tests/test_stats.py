"""Bootstrap intervals and paired tests against closed-form references: binomial
intervals, the exact sign test, Holm's textbook example, and hand-worked ratios."""

import math
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import binomtest

from benchmark import stats as S
from benchmark.metrics import METRICS

accuracy_metric = METRICS["accuracy"].from_items
detection_error_metric = METRICS["detection_error_rate"].from_items


def _clips(correct, prefix="c", units=None):
    """A clip-classification run: row i is right when correct[i]."""
    correct = np.asarray(correct, dtype=bool)
    ids = np.array([f"{prefix}{i:04d}" for i in range(correct.size)])
    y_true = np.arange(correct.size) % 3
    y_pred = np.where(correct, y_true, (y_true + 1) % 3)
    return {"item": ids, "unit": ids if units is None else np.asarray(units),
            "y_true": y_true, "y_pred": y_pred}


def _n_right(n, k):
    return np.arange(n) < k


def _unbatched(columns, weights):
    """accuracy_metric without its batched attribute: the one-call-per-resample path."""
    return accuracy_metric(columns, weights)


# ---------------------------------------------------------------- cell_interval


def test_single_run_matches_the_binomial_interval():
    iv = S.cell_interval([_clips(_n_right(200, 150))], accuracy_metric)
    wilson = binomtest(150, 200).proportion_ci(0.95, method="wilson")
    assert iv.estimate == 0.75
    assert iv.low == pytest.approx(wilson.low, abs=0.01)
    assert iv.high == pytest.approx(wilson.high, abs=0.01)
    assert iv.se == pytest.approx(math.sqrt(0.75 * 0.25 / 200), rel=0.1)
    assert (iv.n_runs, iv.n_items, iv.n_units) == (1, 200, 200)


def test_run_to_run_spread_widens_the_interval_beyond_the_pooled_items():
    runs = [_clips(_n_right(200, k), prefix=f"r{j}_") for j, k in enumerate((120, 150, 180))]
    pooled = {name: np.concatenate([r[name] for r in runs]) for name in runs[0]}
    two_level = S.cell_interval(runs, accuracy_metric)
    one_run = S.cell_interval([pooled], accuracy_metric)
    assert two_level.estimate == pytest.approx(0.75) and one_run.estimate == pytest.approx(0.75)
    assert two_level.se > 0
    assert two_level.high - two_level.low > 2 * (one_run.high - one_run.low)
    assert two_level.n_runs == 3


def test_ratio_metric_sums_durations_before_dividing():
    # Block rates 0.5 and 0.1 (mean 0.3); summed durations give 14 / 100.
    run = {"item": np.array(["b0", "b1"]), "unit": np.array(["b0", "b1"]),
           "false_alarm": np.array([2.0, 4.0]), "missed": np.array([3.0, 5.0]),
           "total": np.array([10.0, 90.0])}
    iv = S.cell_interval([run], detection_error_metric, n_resamples=200)
    assert iv.estimate == 0.14
    assert iv.low <= 0.14 <= iv.high
    # Across runs the estimate is the mean of the runs' pooled ratios.
    other = dict(run, missed=np.array([3.0, 14.0]))                # 23 / 100
    assert S.cell_interval([run, other], detection_error_metric, n_resamples=200).estimate \
        == pytest.approx((0.14 + 0.23) / 2, abs=1e-15)


def test_clustered_units_widen_the_interval():
    # 10 speakers x 20 trials; a speaker's trials are mostly all right or all wrong.
    correct = np.concatenate([_n_right(20, 18 if s % 2 else 4) for s in range(10)])
    speakers = np.repeat([f"spk{s}" for s in range(10)], 20)
    clustered = S.cell_interval([_clips(correct, units=speakers)], accuracy_metric)
    per_row = S.cell_interval([_clips(correct)], accuracy_metric)
    assert clustered.estimate == per_row.estimate
    assert clustered.high - clustered.low > 1.5 * (per_row.high - per_row.low)
    assert (clustered.n_items, clustered.n_units, per_row.n_units) == (200, 10, 200)


def test_metric_without_batched_gives_the_same_numbers():
    runs = [_clips(np.random.default_rng(j).random(50) < 0.7, units=np.repeat(np.arange(10), 5))
            for j in range(2)]
    other = [dict(r, y_pred=np.roll(r["y_pred"], 1)) for r in runs]
    assert S.cell_interval(runs, _unbatched, n_resamples=300) \
        == S.cell_interval(runs, accuracy_metric, n_resamples=300)
    fast = S.paired_difference(runs, other, accuracy_metric, n_resamples=300, n_permutations=300)
    slow = S.paired_difference(runs, other, _unbatched, n_resamples=300, n_permutations=300)
    assert fast == slow


def test_resamples_evaluated_in_chunks_give_the_same_statistics(monkeypatch):
    # Large runs are evaluated a few resamples at a time; chunk boundaries must
    # neither drop nor double-count resamples.
    monkeypatch.setattr(S, "_CHUNK_ELEMENTS", 700)
    iv = S.cell_interval([_clips(_n_right(200, 150))] * 2, accuracy_metric)
    assert iv.se == pytest.approx(math.sqrt(0.75 * 0.25 / 200) / math.sqrt(2), rel=0.1)
    assert iv.low < 0.75 < iv.high
    d = S.paired_difference([_clips(np.ones(30, dtype=bool))], [_clips(~_n_right(30, 6))],
                            accuracy_metric, n_permutations=20000)
    assert d.p == pytest.approx(0.03125, abs=0.005)


# ---------------------------------------------------------------- paired_difference


def test_paired_difference_is_the_sign_test_on_discordant_clips():
    a = _clips(np.ones(30, dtype=bool))
    b = _clips(~_n_right(30, 6)[::-1])             # wrong on the last 6 clips
    d = S.paired_difference([a], [b], accuracy_metric, n_permutations=20000)
    assert d.estimate == pytest.approx(0.2, abs=1e-15)       # 1 - 24/30 in floating point
    sign_test = binomtest(6, 6).pvalue
    assert sign_test == pytest.approx(0.03125)
    assert d.p == pytest.approx(sign_test, abs=0.005)
    assert 0 < d.low <= 0.2 <= d.high
    assert (d.n_runs, d.n_items, d.n_units) == (1, 30, 30)

    b3 = _clips(~_n_right(30, 3))
    d3 = S.paired_difference([a], [b3], accuracy_metric, n_permutations=5000)
    assert d3.estimate == pytest.approx(0.1)
    assert d3.p > 0.2
    assert d3.p == pytest.approx(binomtest(3, 3).pvalue, abs=0.02)


def test_randomisation_swaps_whole_units():
    # 6 speakers x 10 trials; B is wrong on every trial of 3 speakers. Swapping
    # speakers, not trials, makes it a sign test on 3 discordant units (p = 0.25);
    # swapping trials would treat 30 dependent trials as independent (p ~ 1e-9).
    speakers = np.repeat([f"spk{s}" for s in range(6)], 10)
    a = _clips(np.ones(60, dtype=bool), units=speakers)
    b = _clips(~_n_right(60, 30), units=speakers)
    d = S.paired_difference([a], [b], accuracy_metric, n_permutations=5000)
    assert d.estimate == pytest.approx(0.5)
    assert d.p == pytest.approx(binomtest(3, 3).pvalue, abs=0.03)
    assert d.n_units == 6


def test_rows_are_matched_by_item_not_by_position():
    a = _clips(_n_right(40, 30))
    b = _clips(_n_right(40, 20))
    order = np.random.default_rng(3).permutation(40)
    shuffled = {name: col[order] for name, col in b.items()}
    assert S.paired_difference([a], [shuffled], accuracy_metric, n_resamples=300, n_permutations=300) \
        == S.paired_difference([a], [b], accuracy_metric, n_resamples=300, n_permutations=300)


def test_pairing_shares_the_draws_between_systems():
    # B differs from A on 4 of 200 clips: the paired se is far below the
    # independent-samples se of two 0.75 accuracies.
    a = _clips(_n_right(200, 150))
    b = _clips(_n_right(200, 146))
    d = S.paired_difference([a], [b], accuracy_metric)
    se_a = S.cell_interval([a], accuracy_metric).se
    assert d.estimate == pytest.approx(0.02)
    assert 0 < d.se < 0.5 * se_a


def test_identical_systems_give_p_one_and_a_zero_interval():
    runs = [_clips(_n_right(50, 30), units=np.repeat(np.arange(5), 10)), _clips(_n_right(50, 40))]
    d = S.paired_difference(runs, runs, accuracy_metric, n_resamples=200, n_permutations=200)
    assert d.p == 1.0
    assert (d.estimate, d.low, d.high, d.se) == (0.0, 0.0, 0.0, 0.0)


def test_mismatched_items_name_an_id_and_the_cell():
    a = _clips(_n_right(10, 5))
    b = _clips(_n_right(10, 5))
    b["item"] = np.where(np.arange(10) == 3, "stranger", b["item"])
    with pytest.raises(ValueError, match=r"cell 1.*c0003.*stranger"):
        S.paired_difference([a, a], [a, b], accuracy_metric)


def test_systems_must_agree_on_units_and_cells():
    a = _clips(_n_right(10, 5))
    b = dict(a, unit=np.repeat(["s0", "s1"], 5))
    with pytest.raises(ValueError, match="different units"):
        S.paired_difference([a], [b], accuracy_metric)
    with pytest.raises(ValueError, match="1 runs"):
        S.paired_difference([a], [a, a], accuracy_metric)


# ---------------------------------------------------------------- validation


def test_bad_runs_are_refused():
    good = _clips(_n_right(10, 5))
    with pytest.raises(ValueError, match="no runs"):
        S.cell_interval([], accuracy_metric)
    with pytest.raises(ValueError, match="unit"):
        S.cell_interval([{k: v for k, v in good.items() if k != "unit"}], accuracy_metric)
    with pytest.raises(ValueError, match="equal length"):
        S.cell_interval([dict(good, y_pred=good["y_pred"][:-1])], accuracy_metric)
    with pytest.raises(ValueError, match="no rows"):
        S.cell_interval([{name: col[:0] for name, col in good.items()}], accuracy_metric)
    silent = {"item": np.array(["b0"]), "unit": np.array(["b0"]), "false_alarm": np.array([0.0]),
              "missed": np.array([0.0]), "total": np.array([0.0])}
    with pytest.raises(ValueError, match="nan"):
        S.cell_interval([silent], lambda cols, w: float("nan"))
    with pytest.raises(ValueError, match="level"):
        S.cell_interval([good], accuracy_metric, level=95)


# ---------------------------------------------------------------- determinism


def test_same_seed_same_numbers_other_seed_other_numbers():
    runs = [_clips(_n_right(60, 40), prefix="x"), _clips(_n_right(60, 50), prefix="x")]
    other = [_clips(_n_right(60, 35), prefix="x"), _clips(_n_right(60, 52), prefix="x")]
    kw = dict(n_resamples=300)
    first, first_again, second = (S.cell_interval(runs, accuracy_metric, seed=s, **kw) for s in (1, 1, 2))
    assert first == first_again
    assert first.estimate == second.estimate
    assert (first.low, first.high, first.se) != (second.low, second.high, second.se)
    kw["n_permutations"] = 300
    d1, d1_again, d2 = (S.paired_difference(runs, other, accuracy_metric, seed=s, **kw) for s in (1, 1, 2))
    assert d1 == d1_again
    assert (d1.se, d1.p) != (d2.se, d2.p)


# ---------------------------------------------------------------- holm, power


def test_holm_textbook_example_and_nan():
    np.testing.assert_allclose(S.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = S.holm([0.01, float("nan"), 0.04, 0.03, 0.005])
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3, 4]], [0.03, 0.06, 0.06, 0.02])
    # Step-down monotonicity and the cap: 0.3 x 3 = 0.9, then 0.35 x 2 = 0.7 is raised to 0.9.
    np.testing.assert_allclose(S.holm([0.35, 0.3, 0.6]), [0.9, 0.9, 0.9])
    np.testing.assert_allclose(S.holm([0.5, 0.6]), [1.0, 1.0])
    assert np.isnan(S.holm([float("nan")])).all()
    assert S.holm([]).size == 0


def test_minimum_detectable_difference_is_2_8_standard_errors():
    assert S.minimum_detectable_difference(0.05) == pytest.approx(0.1401, abs=5e-4)
    assert S.minimum_detectable_difference(0.05) / 0.05 == pytest.approx(1.959964 + 0.841621, rel=1e-6)
    assert S.minimum_detectable_difference(0.05, power=0.9) > S.minimum_detectable_difference(0.05)


def test_importing_the_module_loads_neither_keras_nor_sklearn():
    # The report imports this module and must stay light.
    code = ("import sys, benchmark.stats; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'sklearn', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
