"""The nulls and the calibration check of the report, on constructed runs (no training)."""

from __future__ import annotations

import numpy as np
import pytest
from _report_fixtures import gabor_run, on_points, random_init

from benchmark.report import analysis, calibration, nulls
from benchmark.twins import ripples


def _planted(variant: str, dataset: str) -> dict:
    return {"dataset": dataset, "note": "test", "classes": ripples.planted(variant)}


def _points(variant: str) -> list[dict]:
    return [e for c in ripples.planted(variant).values() for e in c]


def _low_init(rng) -> dict:
    """Filters in the low-modulation corner, as the calibration task starts them, with
    envelopes the fixtures' 15 x 5 kernel resolves on both axes."""
    init = random_init(rng)
    init["frequency"] = (np.asarray(init["frequency"]) / 8).tolist()
    init["sigma_t"] = rng.uniform(2.0, 6.0, len(init["sigma_t"])).tolist()
    init["sigma_f"] = rng.uniform(1.5, 4.0, len(init["sigma_f"])).tolist()
    return init


def test_unresolved_axes_are_left_out_of_distances():
    rng = np.random.default_rng(3)
    init = _low_init(rng)
    init["sigma_f"][0] = 40.0      # wider than the 5-band kernel: spectral axis unresolved
    init["sigma_t"][1] = 0.5       # narrower than a frame: temporal axis unresolved
    init["sigma_f"][2], init["sigma_t"][2] = 40.0, 0.5   # neither: no distance at all
    run = gabor_run("ripples", 0, init, on_points(init, _points("A"), 50.0), frame_rate=50.0,
                    planted=_planted("A", "ripples"))
    res = analysis.run_resolved(run)
    assert res[:3].tolist() == [[True, False], [False, True], [False, False]] and res[3:].all()
    pts = analysis.run_points(run, "final")
    d = analysis.evidence_distances(pts, run.planted, res)
    full = analysis.evidence_distances(pts, run.planted)
    assert np.isnan(d[2]).all() and np.isfinite(d[[0, 1, 3]]).all()
    assert np.all(d[[0, 1]] <= full[[0, 1]] + 1e-12)     # one axis left out: never farther
    rec = analysis.run_recovery(run)
    assert np.isnan(rec.d_init[2]) and np.isfinite(rec.recovery)


def test_adam_on_noise_drift_matches_the_known_figure():
    # At the demo's frontend rate (3e-3 x 10) Adam moves a parameter by a median of
    # about 0.62 in 1,000 steps of pure-noise gradients.
    assert np.median(nulls.adam_noise_displacement(0.03, 1000)) == pytest.approx(0.62, abs=0.06)
    # ... and not at all without steps; more steps drift further
    assert nulls.adam_noise_displacement(0.03, 0).max() == 0
    assert np.median(nulls.adam_noise_displacement(0.03, 200)) < 0.62


def test_drift_matched_null_is_zero_for_frozen_filters_and_spread_for_moving_ones():
    rng = np.random.default_rng(0)
    init = _low_init(rng)
    frozen = gabor_run("ripples", 0, init, init, frame_rate=50.0, learnable=False,
                       system="fixed_gabor", planted=_planted("A", "ripples"))
    null = nulls.drift_matched(frozen)
    assert np.all(null.recovery == 0) and np.all(null.coverage_gain == 0)
    moved = gabor_run("ripples", 0, init, on_points(init, _points("A"), 50.0), frame_rate=50.0,
                      planted=_planted("A", "ripples"))
    null = nulls.drift_matched(moved)
    lo, hi = null.coverage_interval
    gain = nulls.coverage_gain(analysis.run_points(moved, "init"), analysis.run_points(moved, "final"),
                               moved.planted)
    assert lo < hi < gain   # aimed steps beat the same steps in random directions


def test_calibration_rows_pass_fail_and_cross_over():
    rng = np.random.default_rng(1)
    runs = []
    for seed in (0, 1):
        init = _low_init(rng)
        for dataset, variant in (("ripples", "A"), ("ripples_b", "B")):
            planted = _planted(variant, dataset)
            runs.append(gabor_run(dataset, seed, init, on_points(init, _points(variant), 50.0),
                                  frame_rate=50.0, planted=planted))
            runs.append(gabor_run(dataset, seed, init, init, frame_rate=50.0, learnable=False,
                                  system="fixed_gabor", planted=planted))
    rows = {(r.system, r.seed): r for r in calibration.calibration(runs)}
    for seed in (0, 1):
        learn, frozen = rows[("learnable_gabor", seed)], rows[("fixed_gabor", seed)]
        assert learn.datasets == ("ripples", "ripples_b")
        assert learn.passed and learn.gain > learn.null_p95 and learn.crossover > 0
        assert learn.null_source == "drift-matched" and learn.start_distance >= 1.0
        assert frozen.gain == 0 and frozen.crossover == 0 and not frozen.passed
    # Filters that went to the other variant's points: a negative cross-over fails the row.
    swapped = []
    for r in runs:
        if r.system == "learnable_gabor" and r.seed == 0:
            other = "B" if r.dataset == "ripples" else "A"
            final = on_points(r.gabor["init"], _points(other), 50.0)
            own = "A" if other == "B" else "B"
            swapped.append(gabor_run(r.dataset, 0, r.gabor["init"], final, frame_rate=50.0,
                                     planted=_planted(own, r.dataset)))
    (row,) = calibration.calibration(swapped)
    assert row.crossover < 0 and not row.passed
    csv = calibration.calibration_csv(list(rows.values()))
    assert csv.splitlines()[0] == ("system,seed,datasets,learnable,gain,null_p95,null_source,crossover,"
                                   "probe_accuracy,start_distance,pass")
    lines = csv.splitlines()[1:]
    assert [line.split(",")[0] for line in lines] == ["fixed_gabor"] * 2 + ["learnable_gabor"] * 2
    assert all(line.endswith(",false") for line in lines[:2])
    assert all(line.endswith(",true") for line in lines[2:])


def test_permuted_runs_are_the_null_of_their_system():
    rng = np.random.default_rng(2)
    init = _low_init(rng)
    planted = _planted("A", "ripples")
    real = gabor_run("ripples", 0, init, on_points(init, _points("A"), 50.0), frame_rate=50.0,
                     planted=planted)
    # the permuted run moved as far, but towards points nobody planted
    nowhere = [{"temporal_hz": 20.0, "spectral_cyc_per_oct": 0.3, "direction": -1}]
    perm = gabor_run("ripples", 0, init, on_points(init, nowhere, 50.0), frame_rate=50.0,
                     planted=planted, system="learnable_gabor" + nulls.PERMUTED_SUFFIX)
    assert nulls.is_permuted(perm) and not nulls.is_permuted(real)
    (row,) = calibration.calibration([real, perm])
    assert row.null_source == "permuted" and row.passed
    (rec,) = nulls.recovery_nulls([real, perm])
    assert rec.system == "learnable_gabor" and rec.permuted_recovery < rec.recovery
    table = nulls.nulls_markdown(nulls.drift_nulls([real, perm]), [rec])
    assert "| ripples | learnable_gabor | 1 |" in table


def test_similarity_is_read_beside_the_permuted_runs():
    rng = np.random.default_rng(4)
    runs = []
    for d, target in (("zebra_finch", 30.0), ("urbansound8k", 2.0)):
        for seed in (0, 1):
            init = _low_init(rng)
            point = [{"temporal_hz": target, "spectral_cyc_per_oct": 1.0, "direction": 1}]
            runs.append(gabor_run(d, seed, init, on_points(init, point, 50.0), frame_rate=50.0))
            # permuted runs: the same small wander on both tasks
            wander = dict(init, frequency=(np.asarray(init["frequency"]) * 1.2).tolist())
            runs.append(gabor_run(d, seed, init, wander, frame_rate=50.0,
                                  system="learnable_gabor" + nulls.PERMUTED_SUFFIX))
    (row,) = nulls.similarity_nulls(runs)
    assert (row.a, row.b) == ("zebra_finch", "urbansound8k")
    assert row.permuted_distance < row.change_distance and row.beats_null
    assert all(x > 0 for x in row.real_vs_permuted)
    assert "| zebra_finch | urbansound8k |" in nulls.similarity_markdown([row])
    # without permuted runs there is no null to beat
    (row,) = nulls.similarity_nulls([r for r in runs if not nulls.is_permuted(r)])
    assert row.permuted_distance is None and row.beats_null is None


def test_recovery_beats_its_null_only_by_moving_towards_the_points():
    from benchmark.report.nulls import RecoveryNull

    def row(recovery, null, permuted=None):
        return RecoveryNull("d", "learnable_gabor", 3, recovery, None, null, 0.0, None,
                            (-1.0, 1.0), permuted, None)

    assert row(0.5, (-0.3, 0.2)).beats_null
    assert not row(-0.2, (-0.75, -0.27)).beats_null     # away, if less than random steps
    assert not row(0.5, (-0.3, 0.2), permuted=0.6).beats_null


def test_drift_beats_its_nulls_by_one_rule_in_every_table():
    """A median above the nulls whose interval reaches below them is no finding: the CSV,
    the Markdown table and the report text all say so."""
    from benchmark.report import readme

    params = analysis.DRIFT_PARAMS
    x = nulls.DriftNull("toy", "learnable_gabor", {k: 0.3 for k in params}, {k: 0.1 for k in params},
                        {k: 0.3 for k in params}, {k: 0.1 for k in params}, {k: 0.05 for k in params},
                        observed_rel_ci95={k: ((0.05, 0.5) if k == "sigma_t" else (0.2, 0.4))
                                           for k in params},
                        noise_rel_ci95=None)
    assert nulls.drift_beats(x, "sigma_t") is False      # the interval's low end is under noise
    assert nulls.drift_beats(x, "sigma_f") is True
    rows = {line.split(",")[3]: line.rsplit(",", 1)[1]
            for line in nulls.nulls_csv([x], []).splitlines()[1:]}
    assert rows["sigma_t_relative"] == "false" and rows["sigma_f_relative"] == "true"
    md = nulls.nulls_markdown([x], [])
    assert "| toy | learnable_gabor | sigma_t | 30.0 % [5.0, 50.0] | 10.0 % | 5.0 % | no |" in md
    text = "\n".join(readme._drift([x]))
    finding = next(line for line in text.splitlines() if line.startswith("- **Finding**"))
    assert "σ_f" in finding and "σ_t" not in finding
