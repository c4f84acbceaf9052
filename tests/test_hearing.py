"""Learned speech filters beside human hearing: anchors, statistics, nulls and statements."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from _report_fixtures import gabor_run, on_points, random_init, write_fixture_runs
from benchmark.report import build_report, hearing, load_runs
from benchmark.report.hearing import (ANCHORS, CHI, ET, HULLETT, NH, STATISTICS, cyc_per_oct,
                                      extent_ms, label_permuted, mps_bank)


def _rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_report_writes_the_comparison_for_speech_datasets_only(tmp_path):
    runs_dir = write_fixture_runs(tmp_path)
    build_report(runs_dir, tmp_path / "out", plots=False)
    rows = _rows((tmp_path / "out" / "tables" / "hearing.csv").read_text())
    assert {r["dataset"] for r in rows} == {"ami"}            # zebra finch, urban: not speech
    for name in STATISTICS:   # every statistic with every null, present or said to be absent
        groups = {r["group"] for r in rows if r["statistic"] == name}
        assert {"learned", "initial", "non_speech", "mps_bank", "label_permuted"} <= groups
    sources = {r["source"] for r in rows}
    assert {ET, CHI, NH, HULLETT} <= sources
    absent = {r["group"]: r["note"] for r in rows if r["n_filters"] == "0"}
    assert "feature cache" in absent["mps_bank"] and "permut" in absent["label_permuted"]
    humans = [r for r in rows if r["group"].startswith("human cortex")]
    assert {r["value"] for r in humans} >= {"74", "156"}     # Norman-Haignere medians (ms)
    written = hearing.write_plots(tmp_path / "plots", hearing.hearing(load_runs(runs_dir).runs))
    assert {p.name for p in written} == {"hearing_ami.png", "hearing_ami.pdf"}


def test_the_comprehension_anchor_is_converted_at_the_stated_frequency():
    assert cyc_per_oct(4.0) == pytest.approx(2.7726, abs=1e-4)     # 4 cyc/kHz at 1 kHz
    needed = next(a for a in ANCHORS if a.key == "et_needed")
    assert needed.temporal_hz == (0.0, 12.0) and needed.spectral_cyc_per_oct[1] == cyc_per_oct(4.0)


POINT_CORE = {"temporal_hz": 3.0, "spectral_cyc_per_oct": 0.3, "direction": 1}
POINT_FAST = {"temporal_hz": 30.0, "spectral_cyc_per_oct": 3.5, "direction": -1}


def _speech_and_bird(final_points, n=16):
    rng = np.random.default_rng(0)
    speech, bird = [], []
    for seed in range(3):
        init = random_init(rng, n)
        final = on_points(init, final_points, 100.0) if final_points else init
        speech.append(gabor_run("ami", seed, init, final))
        b_init = random_init(rng, n)
        bird.append(gabor_run("zebra_finch", seed, b_init, on_points(b_init, [POINT_FAST], 100.0)))
    return speech + bird


def _noise_logmels():
    rng = np.random.default_rng(1)
    return [rng.normal(size=(640, 64)) for _ in range(4)]


def _learned(comparison, statistic):
    return next(r for r in comparison.rows if r.statistic == statistic and r.group == "learned")


def test_a_statement_appears_only_where_every_null_is_beaten():
    runs = _speech_and_bird([POINT_CORE])
    (c,) = hearing.hearing(runs, logmels={"ami": _noise_logmels()})
    assert c.banks["mps_bank"] is not None and c.banks["label_permuted"] is None
    core = _learned(c, "et_core")
    assert core.value == 1.0 and set(core.beats) == {"initial", "non_speech", "mps_bank"}
    assert core.statement and not core.not_beaten
    # the same runs with filters that never moved: nothing beats its own initialisation
    (still,) = hearing.hearing(_speech_and_bird(None), logmels={"ami": _noise_logmels()})
    for name, (_, direction, _) in STATISTICS.items():
        row = _learned(still, name)
        assert row.statement == ""
        if direction and row.value is not None and row.ci_low is not None:
            assert "initial" in row.not_beaten


def test_the_trade_off_statistic_reads_the_sign_of_the_rank_correlation():
    # fast temporal with low spectral, slow temporal with high spectral: a trade-off
    line = [{"temporal_hz": t, "spectral_cyc_per_oct": s, "direction": 1}
            for t, s in zip(np.linspace(2, 30, 8), np.linspace(4, 0.25, 8))]
    (c,) = hearing.hearing(_speech_and_bird(line), logmels={"ami": _noise_logmels()})
    rho = _learned(c, "tradeoff_rho")
    # read from the built kernels' DFT peaks (quantised by the kernel), not the parameters:
    # near, not exactly, a perfect rank order
    assert rho.value < -0.9 and rho.ci_high < 0
    assert "initial" in rho.beats


def test_label_permuted_runs_are_a_null_never_learned():
    runs = _speech_and_bird([POINT_CORE])
    rng = np.random.default_rng(5)
    init = random_init(rng, 16)
    # as the trainer files them: their own row, <system>+permuted, train.permute_labels on
    filed = gabor_run("ami", 0, init, init)
    filed = type(filed)(**{**filed.__dict__, "system": "learnable_gabor+permuted",
                           "config": {"train": {"permute_labels": True}}})
    # a run of the system's own row with the switch on is a null too
    switched = gabor_run("ami", 9, init, init)
    switched = type(switched)(**{**switched.__dict__, "config": {"train": {"permute_labels": True}}})
    assert label_permuted(filed) and label_permuted(switched) and not label_permuted(runs[0])
    (c,) = hearing.hearing(runs + [filed, switched], logmels={"ami": _noise_logmels()})
    assert c.system == "learnable_gabor"                     # no comparison of its own
    assert c.banks["label_permuted"].n_runs == 2 and c.banks["learned"].n_runs == 3


def test_modulation_power_bank_finds_a_planted_ripple():
    # log-mel with one moving ripple: 4 Hz in time, 1 cycle/octave in frequency
    fr, bpo = 100.0, 8.0
    t = np.arange(1280)[:, None] / fr
    f = np.arange(64)[None, :] / bpo
    x = 10 * np.cos(2 * np.pi * (4.0 * t + 1.0 * f))
    bank = mps_bank([x], fr, bpo, n=500)
    assert np.median(bank.temporal_hz) == pytest.approx(4.0, abs=1.6)
    assert np.median(bank.spectral_cyc_per_oct) == pytest.approx(1.0, abs=bpo / 64)


def test_temporal_extent_holds_95_percent_of_the_envelope_energy():
    init = random_init(np.random.default_rng(0), 2)
    init["sigma_t"] = [2.0, 50.0]
    run = gabor_run("ami", 0, init, init)        # kernel 15 frames, 100 frames/s
    np.testing.assert_allclose(extent_ms(run), [2.0 * 2.7718 * 10, 150.0], rtol=1e-3)


def test_the_features_transfer_follows_the_window():
    run = gabor_run("ami", 0, random_init(np.random.default_rng(0), 2),
                    random_init(np.random.default_rng(0), 2))
    authors = type(run)(**{**run.__dict__, "config": {"features": {
        "sample_rate": 16000, "n_fft": 2048, "window": "fft", "hop_ms": 10.0}}})
    assert hearing.feature_transfer(authors)["-3"] == pytest.approx(7.2, abs=0.1)
    declared = type(run)(**{**run.__dict__, "config": {"features": {"sample_rate": 16000}}})
    assert hearing.feature_transfer(declared)["-3"] == pytest.approx(37.0, abs=0.5)
