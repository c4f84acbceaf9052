"""REPORT.md: the report to read, written by `gaborbench report` from the runs alone."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from benchmark.io import write_json
from benchmark.report import build_report, readme
from benchmark.report.analysis import metric_label
from benchmark.report.runs import load_runs
from _report_fixtures import PLAN, run_obj, write_fixture_runs

LINK = re.compile(r"\]\(([^)]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return write_fixture_runs(tmp_path_factory.mktemp("fixture"))


@pytest.fixture(scope="module")
def built(runs_dir, tmp_path_factory) -> tuple[Path, list[Path]]:
    """One full build, plots included (rendering is the slow part: done once)."""
    out = tmp_path_factory.mktemp("report")
    return out, build_report(runs_dir, out)


@pytest.fixture(scope="module")
def tied_runs(tmp_path_factory) -> Path:
    """The fixture runs plus fixed_gabor on zebra_finch and ami, scored as learnable_gabor
    is: learning added nothing there, while urbansound8k keeps its large difference."""
    root = tmp_path_factory.mktemp("tied")
    runs = write_fixture_runs(root)
    rng = np.random.default_rng(99)
    for dataset in ("zebra_finch", "ami"):
        _, _, systems, seeds, folds = PLAN[dataset]
        for seed in seeds:
            for fold in folds:
                score = float(systems["learnable_gabor"] + 0.02 * seed)
                write_json(runs / dataset / "fixed_gabor" / f"seed{seed}.json",
                           run_obj(dataset, "fixed_gabor", seed, fold, score, rng))
    return runs


def _differences(out: Path) -> list[dict[str, str]]:
    rows = csv.DictReader(io.StringIO((out / "tables" / "differences.csv").read_text()))
    return [r for r in rows if {r["system_a"], r["system_b"]} == {"learnable_gabor", "fixed_gabor"}]


def _learning_line(text: str, dataset: str, metric: str) -> str:
    start = f"- **{dataset}** ({metric_label(metric)} "
    lines = [line for line in text.splitlines() if line.startswith(start)]
    assert len(lines) == 1, (dataset, metric, lines)
    return lines[0]


def test_report_md_is_written_in_the_readers_order(runs_dir, built):
    out, written = built
    path = out / "REPORT.md"
    assert path in written and path.exists()
    text = path.read_text(encoding="utf-8")
    heads = ["## What was run", "## Main results", "## What learning added",
             "## Plots", "## The filter analysis, against its nulls",
             "### Did the filters move more than noise", "### Did the filters move towards",
             "### Calibration", "## Where everything else lives"]
    at = [text.index(h) for h in heads]
    assert at == sorted(at)
    # what was run: profile, commit, runs, every dataset and system
    assert "- Profile: ci." in text and "git commit 0123456789ab" in text
    assert f"- Runs: {len(load_runs(runs_dir).runs)}." in text
    for dataset in PLAN:
        assert f"| {dataset} | twin |" in text
    assert "voxceleb1: not run, dataset missing" in text
    # the main table is main.md's, line for line
    main = (out / "tables" / "main.md").read_text(encoding="utf-8")
    table = [line for line in main.splitlines() if line.startswith("| system |")]
    assert table and table[0] in text
    # the tables it points to exist
    for target in LINK.findall(text):
        if not target.startswith("plots/"):
            assert (out / target).exists(), target


def test_links_only_plots_the_build_wrote(built):
    out, written = built
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if t.startswith("plots/")]
    assert targets
    for t in targets:
        assert (out / t).exists() and out / t in written, t
    images = IMAGE.findall(text)
    assert "plots/scores.png" in images
    for dataset in PLAN:       # every fixture dataset has learnable_gabor runs
        assert f"plots/modulation_{dataset}.png" in images
    # no calibration runs in the fixture: no calibration plot, and none linked
    assert not (out / "plots" / "calibration.png").exists()
    assert "calibration.png" not in text
    for dataset in PLAN:       # the hearing comparison, where the build drew one
        if (out / "plots" / f"hearing_{dataset}.png").exists():
            assert f"plots/hearing_{dataset}.png" in images


def test_no_plots_no_links(runs_dir, tmp_path):
    build_report(runs_dir, tmp_path, plots=False)
    text = (tmp_path / "REPORT.md").read_text(encoding="utf-8")
    assert "plots/" not in text and "No plots in this build" in text


def test_only_the_given_plot_names_are_linked(runs_dir):
    rs = load_runs(runs_dir)
    text = readme.report_markdown(rs, rs, [], [], set(), {}, [], [], [],
                                  ["scores.png", "modulation_ami.png", "calibration.png",
                                   "curves_ami.png"])
    assert IMAGE.findall(text) == ["plots/scores.png", "plots/modulation_ami.png",
                                   "plots/calibration.png"]
    assert "(plots/curves_ami.png)" in text          # listed under "where everything lives"
    assert "modulation_zebra_finch" not in text and "hearing_" not in text


def test_byte_identical_across_builds_and_places(runs_dir, tmp_path):
    build_report(runs_dir, tmp_path / "a", plots=False)
    build_report(runs_dir, tmp_path / "b", plots=False)
    first = (tmp_path / "a" / "REPORT.md").read_bytes()
    assert first == (tmp_path / "b" / "REPORT.md").read_bytes()
    shutil.copytree(runs_dir.parent, tmp_path / "elsewhere")
    build_report(tmp_path / "elsewhere" / "runs", tmp_path / "c", plots=False)
    assert (tmp_path / "c" / "REPORT.md").read_bytes() == first
    text = first.decode("utf-8")
    assert str(tmp_path) not in text and str(runs_dir) not in text


def test_synthetic_twin_warning(runs_dir):
    rs = load_runs(runs_dir)
    twin = readme.report_markdown(rs, rs, [], [], set(), {}, [], [], [])
    assert "SYNTHETIC TWIN" in twin.split("## What was run")[0]       # before anything else
    real_runs = [dataclasses.replace(r, data_source="real") for r in rs.runs]
    real = dataclasses.replace(rs, runs=real_runs)
    text = readme.report_markdown(real, real, [], [], set(), {}, [], [], [])
    assert "SYNTHETIC TWIN" not in text and "- Data: real datasets." in text
    mixed_runs = [dataclasses.replace(r, data_source="real") if r.dataset == "ami" else r
                  for r in rs.runs]
    mixed = dataclasses.replace(rs, runs=mixed_runs)
    text = readme.report_markdown(mixed, mixed, [], [], set(), {}, [], [], [])
    assert "SYNTHETIC TWIN" in text and "MIXED" in text


def test_learning_significant_only_where_holm_says_so(built, tied_runs, tmp_path):
    out, _ = built
    seen = {True: 0, False: 0}
    for folder in (out, tmp_path):
        if folder is tmp_path:
            build_report(tied_runs, tmp_path, plots=False)
        text = (folder / "REPORT.md").read_text(encoding="utf-8")
        rows = _differences(folder)
        assert rows
        for r in rows:
            line = _learning_line(text, r["dataset"], r["metric"])
            significant = (float(r["p_holm"]) < 0.05
                           and (float(r["ci95_low"]) > 0 or float(r["ci95_high"]) < 0))
            seen[significant] += 1
            assert ("significant after Holm" in line) == significant, line
            assert ("cannot tell" in line) == (not significant), line
            if not significant:
                assert "smallest difference it could detect is" in line
    assert seen[True] and seen[False]      # both kinds of sentence were checked
    # datasets without both systems are said to be not compared, not to differ
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    assert "Not compared on ami, zebra_finch" in text


def test_filter_findings_only_where_the_null_is_beaten(built):
    out, _ = built
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO((out / "tables" / "recovery.csv").read_text())))
    for r in rows:
        if r["learnable"] != "true" or not r["beats_null"]:
            continue
        who = f"{r['dataset']} / {r['system']}:"
        line = next(x for x in text.splitlines() if who in x and "recovery" in x)
        assert line.startswith("- **Finding**") == (r["beats_null"] == "true"), line
    # the fixture runs carry no Adam settings: drift has no optimiser null, so no drift finding
    drift = text.split("### Did the filters move more than noise")[1].split("###")[0]
    assert "**Finding**" not in drift and "no optimiser null" in drift


def test_drift_and_calibration_statements_against_their_nulls():
    from benchmark.report.calibration import CalibrationRow
    from benchmark.report.nulls import DriftNull

    params = ("sigma_t", "sigma_f", "frequency", "orientation")
    obs = dict(zip(params, (0.30, 0.01, 0.20, 0.05)))
    noise = dict.fromkeys(params, 0.02)
    perm = dict(zip(params, (0.10, 0.00, 0.25, 0.01)))
    lines = readme._drift([DriftNull("ami", "learnable_gabor", {}, {}, obs, noise, perm)])
    found = [x for x in lines if x.startswith("- **Finding**")]
    rest = [x for x in lines if x.startswith("- ami") and "no more than" in x]
    # σ_t beats noise and the permuted runs; F beats noise only; σ_f beats neither
    assert len(found) == 1 and "σ_t" in found[0] and "γ" in found[0]
    assert "σ_f" not in found[0] and "F (carrier" not in found[0]
    assert len(rest) == 1 and "σ_f" in rest[0] and "F (carrier" in rest[0]

    rows = [CalibrationRow("learnable_gabor", 0, ("ripples", "ripples_b"), True, 0.5, 0.1,
                           "permuted", 0.3, 0.9, 1.0),
            CalibrationRow("learnable_gabor", 1, ("ripples", "ripples_b"), True, 0.05, 0.1,
                           "permuted", 0.3, 0.9, 1.0),
            CalibrationRow("learnable_gabor", 2, ("ripples", "ripples_b"), True, 0.5, 0.1,
                           "permuted", -0.2, 0.9, 1.0),
            CalibrationRow("fixed_gabor", 0, ("ripples",), False, 0.0, 0.0,
                           "drift-matched", None, 0.5, 1.0)]
    text = "\n".join(readme._calibration(rows))
    assert "learnable_gabor: 1/3 seeds pass" in text
    assert "- **Finding** — learnable_gabor, seed 0: pass" in text
    assert "- learnable_gabor, seed 1: fail — gain not above the null" in text
    assert "- learnable_gabor, seed 2: fail — the banks did not pass more at their own" in text
    assert "- fixed_gabor, seed 0: fail — a frozen control" in text
    assert text.count("**Finding**") == 1


def test_evidence_statements_only_beyond_the_null():
    from benchmark.report.evidence import EvidenceRow

    rows = [EvidenceRow("ripples", "learnable_gabor", True, 3, 0.01, 0.02, 0.01, (0.005, 0.015), 0.001),
            EvidenceRow("ripples_b", "learnable_gabor", True, 3, 0.01, 0.011, 0.001, (-0.002, 0.004),
                        0.0),
            EvidenceRow("ripples", "fixed_gabor", False, 3, 0.01, 0.01, 0.0, (0.0, 0.0), None)]
    text = "\n".join(readme._evidence(rows, {"ami": "prepared data not found"}))
    assert text.count("**Finding**") == 1 and "**Finding** — ripples, learnable_gabor" in text
    assert "- ripples_b, learnable_gabor: not beyond the null" in text
    assert "- ami: no evidence map (prepared data not found)" in text


def test_drift_is_a_finding_only_when_its_interval_clears_the_nulls():
    from benchmark.report.nulls import DriftNull

    params = ("sigma_t", "sigma_f", "frequency", "orientation")
    obs = dict.fromkeys(params, 0.30)
    noise = dict.fromkeys(params, 0.10)
    ci = {k: ((0.05, 0.5) if k == "sigma_t" else (0.2, 0.4)) for k in params}
    lines = readme._drift([DriftNull("ami", "learnable_gabor", {}, {}, obs, noise, None, ci)])
    found = [x for x in lines if x.startswith("- **Finding**")]
    rest = [x for x in lines if x.startswith("- ami") and "no more than" in x]
    assert len(found) == 1 and "σ_t" not in found[0] and "[20.0, 40.0]" in found[0]
    assert len(rest) == 1 and "σ_t (temporal width) 30.0 % [5.0, 50.0]" in rest[0]
