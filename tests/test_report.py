"""`gaborbench report`: tables, plots and filter analysis from a synthetic runs folder."""

from __future__ import annotations

import csv
import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark.report import analysis, build_report
from benchmark.report.runs import load_runs
from _report_fixtures import write_fixture_runs

TABLES = ["summary.csv", "tables/main.md", "tables/main.tex", "tables/paired.md",
          "tables/paired.csv", "tables/drift.csv", "tables/task_similarity.csv"]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return write_fixture_runs(tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def report(runs_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    build_report(runs_dir, out, plots=False)
    return out


def _md_table(text: str) -> tuple[list[str], dict[str, list[str]]]:
    lines = [l for l in text.splitlines() if l.startswith("| ")]
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


def test_summary_columns_stats_and_single_seed(report):
    header = (report / "summary.csv").read_text().splitlines()[0].split(",")
    assert header == ["dataset", "system", "metric", "direction", "mean", "std", "n",
                      "ci95_low", "ci95_high", "frontend_trainable", "total_trainable",
                      "data_source", "profile"]
    s = _summary(report)
    us = s[("urbansound8k", "learnable_gabor", "accuracy")]
    # 2 seeds x 3 folds: 0.78 + 0.02*seed + 0.005*fold
    vals = np.array([0.78 + 0.02 * sd + 0.005 * f for sd in (0, 1) for f in (1, 2, 3)])
    assert int(us["n"]) == 6
    assert float(us["mean"]) == pytest.approx(vals.mean(), rel=1e-5)
    assert float(us["std"]) == pytest.approx(vals.std(ddof=1), rel=1e-5)
    assert vals.min() <= float(us["ci95_low"]) < float(us["ci95_high"]) <= vals.max()
    assert us["direction"] == "max" and us["frontend_trainable"] == "32"
    assert us["data_source"] == "twin" and us["profile"] == "ci"
    assert s[("ami", "mel", "detection_error_rate")]["direction"] == "min"
    single = s[("zebra_finch", "free_cnn", "accuracy")]
    assert single["n"] == "1" and float(single["std"]) == 0.0
    assert single["ci95_low"] == "" and single["ci95_high"] == ""
    assert "(n=1)" in (report / "tables/main.md").read_text()
    # intervals given inside run files ("<metric>_ci95") are not metrics
    assert not any(k[2].endswith("_ci95") for k in s)


def test_main_table_not_run_bold_and_footer(report):
    text = (report / "tables/main.md").read_text()
    cols, rows = _md_table(text)
    col = {c.split(" (%)")[0]: i for i, c in enumerate(cols)}
    assert cols[col["ami DetER"]].endswith("↓")
    assert cols[col["urbansound8k accuracy"]].endswith("↑")
    # best per column respects direction: lowest DetER, highest accuracy
    ami = {s: r[col["ami DetER"]] for s, r in rows.items()}
    assert ami["learnable_gabor"].startswith("**13.0 ± 1.4")
    assert not ami["mel"].startswith("**") and not ami["free_cnn"].startswith("**")
    us = {s: r[col["urbansound8k accuracy"]] for s, r in rows.items()}
    assert us["free_cnn"].startswith("**") and sum(v.startswith("**") for v in us.values()) == 1
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
    assert r"\textbf{13.0 $\pm$ 1.4}" in tex and r"$\downarrow$" in tex
    assert r"brand\_new\_system" in tex and "SYNTHETIC TWIN" in tex


def test_rows_follow_registry_then_unregistered(report):
    _, rows = _md_table((report / "tables/main.md").read_text())
    names = list(rows)
    from benchmark.registry import system_names

    registered = [n for n in system_names()]
    assert names[: len(registered)] == registered
    assert names[-1] == "brand_new_system"     # not registered: after the registry's rows


def test_paired_comparison(report):
    rows = list(csv.DictReader(io.StringIO((report / "tables/paired.csv").read_text())))
    by = {(r["dataset"], r["other"]): r for r in rows}
    mel = by[("urbansound8k", "mel")]
    assert mel["n_pairs"] == "6" and mel["verdict"] == "better"
    assert float(mel["mean_diff"]) == pytest.approx(0.18, abs=1e-6)
    assert float(mel["p_value"]) == pytest.approx(2 / 64)   # exact: 6 of 6 pairs agree
    assert by[("urbansound8k", "free_cnn")]["verdict"] == "worse"
    ami = by[("ami", "free_cnn")]     # DetER: lower is better, so a negative diff is better
    assert float(ami["mean_diff"]) < 0 and ami["verdict"] == "better"
    assert ami["p_value"] == "" and ami["note"] == f"n/a (n<{analysis.MIN_PAIRS})"
    assert by[("zebra_finch", "free_cnn")]["n_pairs"] == "1"   # only seed 0 matches
    assert "wilcoxon" in mel["test"]
    assert all(r["other"] != "learnable_gabor" for r in rows)
    assert "n/a (n<6)" in (report / "tables/paired.md").read_text()


def test_bad_files_skipped_with_warning(runs_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="benchmark.report"):
        rs = load_runs(runs_dir)
    skipped = dict(rs.skipped)
    assert "urbansound8k/mel/seed9.json" in skipped and "unreadable JSON" in skipped["urbansound8k/mel/seed9.json"]
    assert "no direction" in skipped["ami/mel/seed7.json"]
    assert "seed9.json" in caplog.text and "seed7.json" in caplog.text
    assert rs.missing == {"voxceleb1": "manual download required (credentials)"}
    assert not any(r.seed in (7, 9) for r in rs.runs)


def test_drift_and_task_distances(report, runs_dir):
    rows = list(csv.DictReader(io.StringIO((report / "tables/drift.csv").read_text())))
    d = {(r["dataset"], r["param"]): float(r["median_change"]) for r in rows}
    assert d[("ami", "sigma_t")] == pytest.approx(0.2)        # fixtures shrink sigma_t by 20 %
    assert d[("ami", "sigma_f")] == 0.0                       # and leave sigma_f alone
    assert d[("zebra_finch", "frequency")] == pytest.approx(2.0)
    names, dist = analysis.task_distances(load_runs(runs_dir).runs)
    assert names == ["ami", "zebra_finch", "urbansound8k"]
    assert np.allclose(dist, dist.T) and np.all(np.diag(dist) == 0)
    i = {n: k for k, n in enumerate(names)}
    # fixtures move zebra finch filters furthest: it must sit apart from the other two
    assert dist[i["ami"], i["urbansound8k"]] < min(dist[i["zebra_finch"], i["ami"]],
                                                    dist[i["zebra_finch"], i["urbansound8k"]])


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
