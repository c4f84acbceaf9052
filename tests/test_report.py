"""`gaborbench report`: tables, plots and filter analysis from a synthetic runs folder."""

from __future__ import annotations

import csv
import io
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from benchmark import units
from benchmark.report import analysis, build_report
from benchmark.report.runs import load_runs, parse_run
from _report_fixtures import (BINS_PER_OCT, PLANTED, gabor_run, minimal_obj, on_points, planted_points,
                              random_init, write_fixture_runs)

TABLES = ["summary.csv", "tables/main.md", "tables/main.tex", "tables/paired.md",
          "tables/differences.csv", "tables/drift.csv", "tables/drift.md", "tables/recovery.csv",
          "tables/recovery.md", "tables/task_similarity.csv", "tables/units.csv"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return write_fixture_runs(tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def report(runs_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report(runs_dir, out, plots=False)
    return out


def _md_table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("| "):
            lines.append(line)
        elif lines and not line.startswith("|---"):
            break          # the first table only (main.md has the drift table below)
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return header[1:], rows


def _summary(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    rows = csv.DictReader(io.StringIO((out / "summary.csv").read_text()))
    return {(r["dataset"], r["system"], r["metric"]): r for r in rows}


def test_tables_are_byte_identical_across_builds(runs_dir, report, tmp_path):
    build_report(runs_dir, tmp_path, plots=False)
    for name in TABLES:
        assert (tmp_path / name).read_bytes() == (report / name).read_bytes(), name
    # and a copy of the runs folder elsewhere gives the same bytes (no absolute paths)
    shutil.copytree(runs_dir.parent, tmp_path / "elsewhere")
    build_report(tmp_path / "elsewhere" / "runs", tmp_path / "again", plots=False)
    for name in TABLES:
        assert (tmp_path / "again" / name).read_bytes() == (report / name).read_bytes(), name


def test_summary_columns_intervals_and_refused_cells(report):
    header = (report / "summary.csv").read_text().splitlines()[0].split(",")
    assert header == ["dataset", "system", "metric", "direction", "mean", "ci95_low",
                      "ci95_high", "n_runs", "n_items", "n_units", "cells", "unconverged_runs",
                      "refused", "frontend_trainable", "total_trainable", "data_source",
                      "profile"]
    s = _summary(report)
    us = s[("urbansound8k", "learnable_gabor", "accuracy")]
    # 2 seeds x 3 folds of 60 clips: 0.78 + 0.02*seed + 0.005*fold, to the clip
    vals = np.array([round((0.78 + 0.02 * sd + 0.005 * f) * 60) / 60
                     for sd in (0, 1) for f in (1, 2, 3)])
    assert int(us["n_runs"]) == 6 and us["n_items"] == "60" and us["n_units"] == "60"
    assert float(us["mean"]) == pytest.approx(vals.mean(), rel=1e-5)
    assert float(us["ci95_low"]) < float(us["mean"]) < float(us["ci95_high"])
    assert us["cells"] == " ".join(f"seed{sd}_fold{f}" for sd in (0, 1) for f in (1, 2, 3))
    assert us["direction"] == "max" and us["frontend_trainable"] == "32"
    assert us["data_source"] == "twin" and us["profile"] == "ci" and us["refused"] == ""
    assert us["unconverged_runs"] == "6"
    assert s[("ami", "mel", "detection_error_rate")]["direction"] == "min"
    # every row has an interval: no empty ci95 anywhere
    assert all(r["ci95_low"] and r["ci95_high"] for r in s.values())
    # free_cnn ran seed 0 only on zebra_finch, where the others ran seeds 0-2: refused
    single = s[("zebra_finch", "free_cnn", "accuracy")]
    assert single["n_runs"] == "1" and "lacks seed1 seed2" in single["refused"]
    text = (report / "tables/main.md").read_text()
    assert "refused (different test cells: lacks seed1 seed2)" in text
    assert "± 0.0" not in text and "(n=1)" not in text


def test_main_table_not_run_bold_and_footer(report):
    text = (report / "tables/main.md").read_text()
    cols, rows = _md_table(text)
    col = {c.split(" (%)")[0]: i for i, c in enumerate(cols)}
    assert cols[col["ami DetER"]].endswith("↓")
    assert cols[col["urbansound8k accuracy"]].endswith("↑")
    # bold only where the column's best beats every other system significantly
    diffs = _csv_rows(report / "tables/differences.csv")
    for (d, m), j in ((("ami", "detection_error_rate"), col["ami DetER"]),
                      (("urbansound8k", "accuracy"), col["urbansound8k accuracy"])):
        for system, r in rows.items():
            if not r[j].startswith("**"):
                continue
            mine = [x for x in diffs if x["dataset"] == d and x["metric"] == m
                    and system in (x["system_a"], x["system_b"])]
            assert mine and all(float(x["p_holm"]) < 0.05
                                and (float(x["ci95_low"]) > 0 or float(x["ci95_high"]) < 0)
                                for x in mine), (d, system)
    ami = {s: r[col["ami DetER"]] for s, r in rows.items()}
    assert ami["learnable_gabor"].lstrip("*").startswith("1")
    assert ami["learnable_gabor"].count("[") == 1 and "(runs 2, n 60)" in ami["learnable_gabor"]
    # missing cells explain themselves
    assert rows["mel"][col["voxceleb1 EER"]] == "not run (dataset missing)"
    assert rows["fixed_gabor"][col["chime5 DetER"]] == "not run (no run files)"
    assert rows["mel"][col["chime5 DetER"]] == "not run (failed)"    # logs/failed/ entry
    assert "chime5 / mel: 1 run(s) failed: seed0: RuntimeError: out of memory" in text
    assert rows["brand_new_system"][col["ami DetER"]] == "not run (no run files)"
    assert "esc50 accuracy" not in col     # optional dataset absent -> no column
    assert "voxceleb1: dataset missing: manual download required (credentials)" in text
    assert "SYNTHETIC TWIN" in text and "not the paper's numbers" in text
    assert "0123456789ab" in text and "Profile: ci." in text
    assert "collar 0" in text and "det_curve" in text and "scikit-learn" in text
    tex = (report / "tables/main.tex").read_text()
    assert r"$\downarrow$" in tex and "(runs 2, n 60)" in tex
    assert r"brand\_new\_system" in tex and "SYNTHETIC TWIN" in tex


def test_rows_follow_registry_then_unregistered(report):
    _, rows = _md_table((report / "tables/main.md").read_text())
    names = list(rows)
    from benchmark.systems import system_names

    registered = [n for n in system_names()]
    assert names[: len(registered)] == registered
    assert names[-1] == "brand_new_system"     # not registered: after the registry's rows


def test_every_pair_differs_with_interval_and_holm(report):
    rows = _csv_rows(report / "tables/differences.csv")
    assert list(rows[0]) == ["dataset", "metric", "direction", "system_a", "system_b",
                             "difference", "ci95_low", "ci95_high", "p", "p_holm", "n_runs",
                             "n_items", "test"]
    by = {(r["dataset"], r["metric"], r["system_a"], r["system_b"]): r for r in rows}
    # every pair of comparable systems, once, per dataset and table metric
    us = [k for k in by if k[:2] == ("urbansound8k", "accuracy")]
    assert len(us) == 10 and len({frozenset(k[2:]) for k in us}) == 10   # 5 systems
    # the refused cell takes part in no difference
    assert not any("free_cnn" in k[2:] for k in by if k[0] == "zebra_finch")
    mel_free = by[("urbansound8k", "accuracy", "mel", "free_cnn")]
    s = _summary(report)
    expect = (float(s[("urbansound8k", "mel", "accuracy")]["mean"])
              - float(s[("urbansound8k", "free_cnn", "accuracy")]["mean"]))
    assert float(mel_free["difference"]) == pytest.approx(expect, abs=1e-5)
    assert float(mel_free["ci95_low"]) < float(mel_free["difference"]) < float(mel_free["ci95_high"])
    assert mel_free["n_runs"] == "6" and mel_free["n_items"] == "60"
    assert float(mel_free["p"]) < 0.01        # 24 points apart on 360 clips
    # enough permutations that Holm over the whole table can still call it
    assert float(mel_free["p_holm"]) < 0.05
    for r in rows:
        assert float(r["p"]) <= float(r["p_holm"]) <= 1.0
    md = (report / "tables/paired.md").read_text()
    assert "Holm" in md and "Minimum detectable difference" in md
    main = (report / "tables/main.md").read_text()
    assert "## What learning added: learnable_gabor − fixed_gabor" in main
    assert "| urbansound8k | accuracy ↑ |" in main
    assert "Minimum detectable difference" in main


def test_bad_files_skipped_with_warning(runs_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="benchmark.report"):
        rs = load_runs(runs_dir)
    skipped = dict(rs.skipped)
    assert "urbansound8k/mel/seed9.json" in skipped and "unreadable JSON" in skipped["urbansound8k/mel/seed9.json"]
    assert "no direction" in skipped["ami/mel/seed7.json"]
    assert "seed9.json" in caplog.text and "seed7.json" in caplog.text
    assert rs.missing == {"voxceleb1": "manual download required (credentials)"}
    assert not any(r.seed in (7, 9) for r in rs.runs)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_drift_tables(report):
    rows = _csv_rows(report / "tables/drift.csv")
    d = {(r["dataset"], r["param"]): float(r["median_change"]) for r in rows}
    assert d[("ami", "sigma_t")] == pytest.approx(0.2)        # fixtures shrink sigma_t by 20 %
    assert d[("ami", "sigma_f")] == 0.0                       # and leave sigma_f alone
    assert d[("ami", "frequency")] == pytest.approx(0.6)      # ami: F x 1.6
    # the per-dataset median table, also shown under the main table
    _, md = _md_table((report / "tables/drift.md").read_text())
    assert md["ami"][:6] == ["learnable_gabor", "2", "16", "20.0", "0.0", "60.0"]
    assert set(md) == {"ami", "zebra_finch", "urbansound8k"}
    main = (report / "tables/main.md").read_text()
    assert "## Did the learnable filters move?" in main
    assert "| ami | learnable_gabor | 2 | 16 | 20.0 | 0.0 | 60.0 |" in main


def test_report_imports_no_keras(runs_dir, tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from benchmark.report import build_report, analysis, plots
        from benchmark.report.runs import load_runs
        runs = Path({str(runs_dir)!r})
        build_report(runs, Path({str(tmp_path)!r}), plots=False)
        rs = load_runs(runs)
        group = analysis.learnable_runs(rs.runs)[("zebra_finch", "learnable_gabor")]
        plots.filter_gallery(Path({str(tmp_path)!r}) / "f", group[0])
        plots.modulation_map(Path({str(tmp_path)!r}) / "m", group, None, None)
        heavy = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert (tmp_path / "tables/recovery.csv").exists() and (tmp_path / "m.png").exists()


@pytest.mark.parametrize("grid", ["centered", "reference"])
def test_numpy_kernels_match_the_layer(grid):
    kernels = pytest.importorskip("benchmark.kernels")
    p = random_init(np.random.default_rng(3), 6)
    ref = kernels.gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                                   (15, 7), grid=grid)
    ours = analysis.gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                                     (15, 7), grid=grid)
    for a, b in zip(ours, ref):
        assert a.shape == b.shape == (15, 7, 6)
        np.testing.assert_allclose(a, b, atol=1e-6 * float(np.abs(b).max()))


# ---------------------------------------------------------------- recovery

ZF = PLANTED["zebra_finch"]


def test_log_space_folds_direction():
    up = analysis.log_coords([4.0], [1.0], [1])
    down = analysis.log_coords([4.0], [1.0], [-1])
    assert up[0] == pytest.approx([np.log2(5), np.log2(11)])
    # opposite sweeps at the same rates: nearer through zero temporal modulation
    # (|p + q| = 2 log2 5) than through zero spectral modulation (2 log2 11)
    assert analysis.folded_distance(up, down)[0, 0] == pytest.approx(2 * np.log2(5))
    # a purely spectral filter has no direction: its two signed forms are one point
    a, b = analysis.log_coords([0.0], [2.0], [1]), analysis.log_coords([0.0], [2.0], [-1])
    assert analysis.folded_distance(a, b)[0, 0] == 0.0
    # a direction-0 evidence point (a stack) matches filters of either direction
    ev = analysis.evidence_points([{"temporal_hz": 4.0, "spectral_cyc_per_oct": 1.0,
                                    "direction": 0}])[0]
    assert analysis.folded_distance(up, ev).min() == 0.0
    assert analysis.folded_distance(down, ev).min() == 0.0


def test_recovery_known_answers():
    rng = np.random.default_rng(7)
    inits = [random_init(rng) for _ in range(4)]
    onto = [gabor_run("zebra_finch", k, i, on_points(i, planted_points("zebra_finch"), 100.0),
                      planted=ZF) for k, i in enumerate(inits)]
    recs = [analysis.run_recovery(r) for r in onto]
    for rec in recs:     # final filters on the planted points (read from their kernels' DFT)
        assert rec.d_final == pytest.approx(0.0, abs=1e-3)
        assert rec.recovery == pytest.approx(rec.d_init.mean(), abs=1e-3)
        assert np.all(rec.d_init > 0)
    frozen = [gabor_run("zebra_finch", k, i, i, planted=ZF, system="fixed_gabor", learnable=False)
              for k, i in enumerate(inits)]
    away = []        # filters pushed off to 45 Hz, far from every planted point
    for k, i in enumerate(inits):
        far = on_points(i, [{"temporal_hz": 45.0, "spectral_cyc_per_oct": 6.0, "direction": 1}], 100.0)
        away.append(gabor_run("zebra_finch", k, i, far, planted=ZF, system="away"))
    rows = {r.system: r for r in analysis.recovery(onto + frozen + away)}
    assert rows["learnable_gabor"].recovery == pytest.approx(np.mean([r.d_init.mean() for r in recs]),
                                                             abs=1e-3)
    assert rows["learnable_gabor"].closed_fraction == pytest.approx(1.0, abs=1e-3)
    lo, hi = rows["learnable_gabor"].recovery_ci95
    assert lo <= rows["learnable_gabor"].recovery <= hi
    assert rows["fixed_gabor"].recovery == 0.0 and rows["fixed_gabor"].recovery_ci95 == (0.0, 0.0)
    assert not rows["fixed_gabor"].learnable and rows["fixed_gabor"].coverage_gain == 0.0
    assert rows["away"].recovery < 0
    assert rows["learnable_gabor"].n_evidence == 4 and rows["learnable_gabor"].n_runs == 4


def test_recovery_table_from_fixture_runs(report):
    rows = {(r["dataset"], r["system"]): r for r in _csv_rows(report / "tables/recovery.csv")}
    assert ("ami", "learnable_gabor") not in rows        # no planted block: not scored
    zf = rows[("zebra_finch", "learnable_gabor")]
    assert float(zf["recovery"]) == pytest.approx(float(zf["mean_d_init"]), abs=1e-3)
    # on the points, as read from the built kernels' DFT (to its interpolation error)
    assert abs(float(zf["mean_d_final"])) < 1e-3 and float(zf["closed_fraction"]) == pytest.approx(1, abs=1e-3)
    assert zf["n_runs"] == "3" and zf["n_evidence"] == "4" and zf["learnable"] == "true"
    floor = rows[("urbansound8k", "fixed_gabor")]
    assert float(floor["recovery"]) == 0.0 and floor["learnable"] == "false"
    assert "(frozen)" in (report / "tables/recovery.md").read_text()


def test_planted_block_is_validated():
    base = gabor_run("zebra_finch", 0, random_init(np.random.default_rng(0)),
                     random_init(np.random.default_rng(0)), planted=ZF)
    assert len(base.planted) == 4 and base.planted[0]["class"] == "Distance"
    bad = {**ZF, "classes": {"Tet": [{"temporal_hz": -1.0, "spectral_cyc_per_oct": 0.5,
                                      "direction": 1}]}}
    with pytest.raises(ValueError, match="non-negative"):
        gabor_run("zebra_finch", 0, random_init(np.random.default_rng(0)),
                  random_init(np.random.default_rng(0)), planted=bad)
    bad = {**ZF, "classes": {"Tet": [{"temporal_hz": 1.0, "spectral_cyc_per_oct": 0.5,
                                      "direction": 2}]}}
    with pytest.raises(ValueError, match="direction"):
        gabor_run("zebra_finch", 0, random_init(np.random.default_rng(0)),
                  random_init(np.random.default_rng(0)), planted=bad)


def test_optional_mel_axis_fields_are_validated():
    init = random_init(np.random.default_rng(0))
    run = gabor_run("ami", 0, init, init)
    assert run.gabor["grid"] == "centered" and run.gabor["n_mels"] == 64
    obj = minimal_obj("ami", "learnable_gabor", 0)
    for bad, why in ((("grid", "diagonal"), "grid"), (("n_mels", 0), "n_mels"),
                     (("fmax", -1.0), "fmax")):
        with pytest.raises(ValueError, match=why):
            parse_run({**obj, "gabor": {**run.gabor, bad[0]: bad[1]}}, Path("x.json"))


# ---------------------------------------------------------------- task similarity

def _runs(rng, n_runs, shift=0.0, n=8):
    return [rng.normal(size=(n, 2)) + shift for _ in range(n_runs)]


def test_permutation_test_null_and_alternative():
    rng = np.random.default_rng(11)
    d, p, used, exact = analysis.permutation_test(_runs(rng, 10), _runs(rng, 10))
    assert not exact and used == analysis.PERMUTATIONS and p > 0.2
    d2, p2, _, _ = analysis.permutation_test(_runs(rng, 10), _runs(rng, 10, shift=2.0))
    assert d2 > d and p2 <= 0.005
    # same inputs, same p (fixed seed)
    rng = np.random.default_rng(11)
    assert analysis.permutation_test(_runs(rng, 10), _runs(rng, 10))[1] == p
    # few runs: every relabelling enumerated; 3 vs 3 can never go below 2/20
    rng = np.random.default_rng(12)
    _, p3, used3, exact3 = analysis.permutation_test(_runs(rng, 3), _runs(rng, 3, shift=5.0))
    assert exact3 and used3 == 20 and p3 == pytest.approx(0.1)
    assert analysis.min_attainable_p(3, 3) == pytest.approx(0.1)


def test_holm():
    assert analysis.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert analysis.holm([0.5]) == [0.5]


def test_similarity_sees_through_units():
    """Same grid-unit filters, different frame rates, no learning: far apart in Hz,
    but nothing learned, so nothing to tell apart."""
    rng = np.random.default_rng(5)
    runs = []
    for k in range(5):
        for d, rate in (("ami", 100.0), ("urbansound8k", 50.0)):
            init = random_init(rng)
            runs.append(gabor_run(d, k, init, init, frame_rate=rate))
    sim = analysis.task_similarity(runs)
    (pair,) = sim.pairs
    assert pair.final_distance > 0.2
    assert pair.init_distance == pytest.approx(pair.final_distance)
    assert pair.change_distance == 0.0 and pair.p_value == 1.0
    assert "not distinguishable" in analysis.similarity_verdict(sim)
    assert sim.groups == [["ami", "urbansound8k"]]


def test_similarity_finds_learning_that_differs():
    rng = np.random.default_rng(6)
    target = [{"temporal_hz": 4.0, "spectral_cyc_per_oct": 1.0, "direction": 1}]
    runs = []
    for k in range(6):
        for d in ("ami", "chime5", "zebra_finch"):
            init = random_init(rng)
            final = on_points(init, target, 100.0) if d == "zebra_finch" else {
                **init, "frequency": list(np.asarray(init["frequency"]) * 1.01)}
            runs.append(gabor_run(d, k, init, final))
    sim = analysis.task_similarity(runs)
    p = {(x.a, x.b): x for x in sim.pairs}
    assert p[("ami", "zebra_finch")].p_holm < 0.05 and p[("chime5", "zebra_finch")].p_holm < 0.05
    assert p[("ami", "chime5")].p_holm >= 0.05
    assert sorted(sim.groups) == [["ami", "chime5"], ["zebra_finch"]]
    verdict = analysis.similarity_verdict(sim)
    assert "{ami, chime5} | {zebra_finch}" in verdict and "not distinguishable" not in verdict


def test_task_similarity_table(report):
    rows = _csv_rows(report / "tables/task_similarity.csv")
    assert [(r["dataset_a"], r["dataset_b"]) for r in rows] == [
        ("ami", "zebra_finch"), ("ami", "urbansound8k"), ("zebra_finch", "urbansound8k")]
    for r in rows:
        assert float(r["p_holm"]) >= float(r["p_value"]) >= float(r["min_attainable_p"])
        assert r["distinguishable"] == str(float(r["p_holm"]) < 0.05).lower()
        assert float(r["init_distance"]) > 0     # urban runs at 50 Hz frames: units alone differ
    # with 2 and 3 runs only 10 relabellings exist: p cannot go below 0.1
    first = rows[0]
    assert first["relabellings"] == "10" and first["exact"] == "true"
    assert float(first["min_attainable_p"]) == pytest.approx(0.1)


def test_units_table(report):
    rows = {r["dataset"]: r for r in _csv_rows(report / "tables/units.csv")}
    us = rows["urbansound8k"]
    assert float(us["frame_rate_hz"]) == 50.0 and float(us["temporal_nyquist_hz"]) == 25.0
    assert float(us["mel_bins_per_octave"]) == pytest.approx(BINS_PER_OCT, rel=1e-5)
    # below 1 kHz the Slaney scale is linear: at 500 Hz about half the bands per octave
    ratio = float(us["bins_per_octave_at_500hz"]) / float(us["mel_bins_per_octave"])
    assert ratio == pytest.approx(units.bins_per_octave_at(64, 0, 8000, 500.0) / BINS_PER_OCT, rel=1e-5)
    assert 0.45 < ratio < 0.56
    assert int(us["bands_below_1khz"]) == int((units.mel_center_hz(64, 0, 8000) < 1000).sum())


def test_energy_distance():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    assert analysis.energy_distance_2d(x, x) == pytest.approx(0.0, abs=1e-12)
    near = analysis.energy_distance_2d(x, x + 0.1)
    far = analysis.energy_distance_2d(x, x + 2.0)
    assert 0 < near < far


def test_modulation_units_in_report():
    p = {"frequency": [np.pi / 2, np.pi / 2, np.pi / 4],
         "orientation": [0.0, np.pi / 2, -np.pi / 4]}
    m = analysis.modulations(p, 100.0, 14.5)
    # F cos γ = π/2 rad/frame -> a quarter cycle per frame -> 25 Hz at 100 frames/s
    assert m["temporal_hz"][:2] == pytest.approx([25.0, 0.0], abs=1e-9)
    assert m["spectral_cyc_per_oct"][:2] == pytest.approx([0.0, 14.5 / 4], abs=1e-9)
    assert list(m["direction"]) == [0, 0, 1]     # ω_t > 0, Ω_f < 0: upward sweep


def test_all_plots_rendered_and_stale_ones_removed(runs_dir, tmp_path):
    stale = tmp_path / "plots" / "filters_gone.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    keep = tmp_path / "plots" / "my_notes.png"
    keep.write_bytes(b"mine")
    written = build_report(runs_dir, tmp_path)
    expected = ["scores", "task_similarity", "drift"]
    for d in ("ami", "zebra_finch", "urbansound8k"):
        expected += [f"filters_{d}", f"modulation_{d}", f"curves_{d}"]
    for name in expected:
        png, pdf = tmp_path / "plots" / f"{name}.png", tmp_path / "plots" / f"{name}.pdf"
        assert png in written and pdf in written
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert pdf.read_bytes()[:5] == b"%PDF-", name
    assert not stale.exists() and keep.exists()
    # no learnable system on voxceleb1 (missing) -> no filter plots for it
    assert not (tmp_path / "plots" / "filters_voxceleb1.png").exists()
    # same inputs, same image bytes (one cheap figure redrawn: rendering is slow)
    from benchmark.report import plots

    rs = load_runs(runs_dir)
    learn = analysis.learnable_runs(rs.runs)
    drifts = {k: (len(g), 0, analysis.drift(g)) for k, g in learn.items()}
    again = plots.drift(tmp_path / "again", drifts, rs.runs, analysis.REFERENCE)
    for path in again:     # drift.png and drift.pdf: no dates or versions inside
        ref = tmp_path / "plots" / ("drift" + path.suffix)
        assert path.read_bytes() == ref.read_bytes(), path.name


def test_cli(runs_dir, tmp_path, capsys):
    from benchmark.cli import main

    assert main(["report", "--runs", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    # an empty runs folder still gives tables, every cell saying why it is empty
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out"
    assert main(["report", "--runs", str(tmp_path / "empty"), "--out", str(out)]) == 0
    assert "not run (no run files)" in (out / "tables/main.md").read_text()
    assert (out / "summary.csv").read_text().count("\n") == 1
    printed = capsys.readouterr().out
    assert "Did the learnable filters move?" in printed and "No run with trained" in printed
    assert (out / "tables/recovery.md").exists() and (out / "tables/task_similarity.csv").exists()


def test_a_trained_row_below_the_floor_and_still_improving_is_labelled_under_trained():
    from benchmark.report.scores import Cell
    from benchmark.report.tables import under_trained

    def cell(system, dataset, mean, trainable, late):
        return Cell(dataset, system, "accuracy", "max", ((0, 1),), (mean,), mean, (mean, mean),
                    0.0, 10, 10, trainable, 100, "twin", "demo", late)

    cells = [cell("mel", "a", 0.9, 0, 0), cell("mel", "b", 0.8, 0, 0),
             cell("free_cnn", "a", 0.5, 500, 1), cell("free_cnn", "b", 0.4, 500, 0),
             cell("learnable_gabor", "a", 0.95, 32, 1), cell("learnable_gabor", "b", 0.7, 32, 1),
             cell("fixed_gabor", "a", 0.5, 0, 1), cell("fixed_gabor", "b", 0.5, 0, 1)]
    labels = under_trained(cells)
    assert set(labels) == {"free_cnn"}    # learnable: below on 1 of 2; fixed: nothing trains
    assert "below the mel floor in 2 of 2 columns" in labels["free_cnn"]
    assert "still improving at the last epoch in 1 of 2 runs" in labels["free_cnn"]
    converged = [c if c.system != "free_cnn" else cell("free_cnn", c.dataset, c.mean, 500, 0)
                 for c in cells]
    assert under_trained(converged) == {}    # below the floor but not improving: not this label


def test_filter_gallery_pairs_init_and_final(runs_dir, tmp_path, monkeypatch):
    from benchmark.report import plots

    figs = []
    real_save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, base: figs.append(fig) or real_save(fig, base))
    run = analysis.learnable_runs(load_runs(runs_dir).runs)[("zebra_finch", "learnable_gabor")][0]
    written = plots.filter_gallery(tmp_path / "filters_x", run)
    assert written == [tmp_path / "filters_x.png", tmp_path / "filters_x.pdf"]
    assert all(p.stat().st_size > 0 for p in written)
    drawn = [ax for ax in figs[0].axes if ax.images]
    titles = [ax.get_title() for ax in drawn]
    n = len(run.gabor["final"]["frequency"])
    assert sum(t.startswith("init:") for t in titles) == n
    assert sum(t.startswith("final:") for t in titles) == n
    x0, x1, y0, y1 = drawn[0].images[0].get_extent()    # physical axes: ms and octaves
    k_t, k_f = run.gabor["kernel_size"]
    assert x1 - x0 == pytest.approx(k_t * 1000 / run.gabor["frame_rate_hz"])
    assert y1 - y0 == pytest.approx(k_f / run.gabor["mel_bins_per_octave"])


def test_planted_labels_once_per_position_and_apart(tmp_path, monkeypatch):
    from benchmark.report import plots

    pts = [("Tet", 4.0, 1.0), ("Song", 4.0, 1.0), ("Tet", 4.0, 1.0), ("Call", 4.1, 1.0),
           ("Far", 30.0, -2.0)]
    labels = plots._label_positions(pts, lambda x, y: (10 * x, 10 * y))
    assert [t for t, *_ in labels] == ["Tet, Song", "Call", "Far"]
    (_, _, _, _, dy0), (_, _, _, _, dy1) = labels[:2]
    assert abs(dy0 - dy1) >= plots.LABEL_STEP          # near neighbours stacked apart
    # in the figure: a planted point repeated by two classes is annotated once
    rng = np.random.default_rng(0)
    planted = {"dataset": "zebra_finch", "note": "test", "classes": {
        "A": [{"temporal_hz": 4.0, "spectral_cyc_per_oct": 1.0, "direction": 1, "what": "x"}],
        "B": [{"temporal_hz": 4.0, "spectral_cyc_per_oct": 1.0, "direction": 1, "what": "x"}]}}
    init = random_init(rng)
    run = gabor_run("zebra_finch", 0, init, init, planted=planted)
    figs = []
    real_save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, base: figs.append(fig) or real_save(fig, base))
    assert plots.modulation_map(tmp_path / "m", [run], None, None)
    texts = [t.get_text() for t in figs[0].axes[0].texts]
    assert texts.count("A, B") == 1 and "A" not in texts and "B" not in texts


def test_a_difference_is_called_only_where_the_test_and_the_interval_agree():
    from benchmark.report.scores import Difference

    def diff(p_holm, low, high):
        return Difference("d", "accuracy", "max", "a", "b", (low + high) / 2, (low, high), 0.05,
                          p_holm / 10, p_holm, 3, 100)

    assert diff(0.01, 0.02, 0.2).significant and diff(0.01, -0.2, -0.02).significant
    assert not diff(0.01, -0.03, 0.2).significant    # training randomness covers zero
    assert not diff(0.2, 0.02, 0.2).significant      # the test after Holm does not
