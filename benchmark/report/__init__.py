"""``gaborbench report``: run JSONs -> summary CSV, tables and plots.

Layout of what :func:`build_report` writes under ``out_dir`` (see results/README.md):
``REPORT.md`` (the report to read: :mod:`benchmark.report.readme`); ``summary.csv``;
``tables/`` main.md, main.tex, paired.md, differences.csv, drift.csv, drift.md, recovery.csv,
recovery.md, task_similarity.csv, units.csv, hearing.csv, nulls.md, nulls.csv,
task_similarity_null.csv, evidence.csv, evidence_planted.csv, calibration.csv (with
calibration runs); ``plots/``
scores, filters_*, modulation_*, task_similarity, curves_*, drift, hearing_*, calibration
(PNG and PDF each). Nothing here imports Keras or TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from benchmark import paths
from benchmark.config import PERMUTED_SUFFIX
from benchmark.errors import UserError
from benchmark.io import write_text
from benchmark.report import analysis, calibration, evidence, hearing, nulls, readme, scores, tables
from benchmark.report.runs import RunSet, load_runs

__all__ = ["build_report", "cli_report", "load_runs"]

# Tables earlier versions wrote under other names (paired.csv: now differences.csv).
_OBSOLETE_TABLES = ("paired.csv",)
# Plot files this command owns; stale ones (a dataset no longer present) are removed.
_OWNED_PLOTS = re.compile(r"^(scores|drift|task_similarity|calibration|"
                          r"(filters|modulation|curves|hearing)_.+)\.(png|pdf)$")


def _suffix(dataset: str, system: str) -> str:
    return dataset if system == analysis.REFERENCE else f"{dataset}_{system}"


def _write_plots(rs: RunSet, cells: list[scores.Cell], drifts: dict,
                 sim: analysis.Similarity, recs: list[analysis.Recovery],
                 axes: list[analysis.AxisUnits], plot_dir: Path) -> list[Path]:
    from benchmark.report import plots  # matplotlib only when plots are asked for

    runs = rs.runs
    order = analysis.system_order({r.system for r in runs})
    by_key = {(c.dataset, c.system, c.metric): c for c in cells}
    written = plots.scores(plot_dir / "scores", analysis.table_columns(runs, rs.missing),
                           order, by_key, runs)

    learn = analysis.learnable_runs(runs)
    axis_of = {a.dataset: a for a in axes}
    for (d, s), group in learn.items():
        written += plots.filter_gallery(plot_dir / f"filters_{_suffix(d, s)}", group[0])
        cortical = [r for r in runs if r.dataset == d and r.system == "cortical_gabor"
                    and r.gabor is not None]
        grid = analysis.run_modulations(sorted(cortical, key=lambda r: r.key)[0]) if cortical else None
        written += plots.modulation_map(plot_dir / f"modulation_{_suffix(d, s)}", group,
                                        grid, axis_of.get(d))

    written += plots.task_similarity(plot_dir / "task_similarity", sim,
                                     [r for r in runs if r.dataset in sim.names])

    colors = plots._colors(order)
    for d in analysis.dataset_order({r.dataset for r in runs}):
        metric = analysis.main_metric(runs, d)
        here = [r for r in runs if r.dataset == d]
        by_system = {s: [r for r in here if r.system == s] for s in order}
        by_system = {s: g for s, g in by_system.items() if g}
        written += plots.curves(plot_dir / f"curves_{d}", d, metric,
                                analysis.direction_of(metric, here), by_system, colors)

    written += plots.drift(plot_dir / "drift", drifts, [r for g in learn.values() for r in g],
                           analysis.REFERENCE)
    return written


def build_report(runs_dir: Path, out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Build every table (and, unless ``plots=False``, every figure); return the files written."""
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    if not runs_dir.is_dir():
        raise UserError(f"runs folder {runs_dir} does not exist: train something first "
                        "(gaborbench run ... or make demo), or pass --runs")
    rs_all = load_runs(runs_dir)
    # Label-permuted runs are the filter analysis' nulls, not rows of the score tables.
    rs = dataclasses.replace(rs_all, runs=[r for r in rs_all.runs
                                           if not r.system.endswith(PERMUTED_SUFFIX)])
    cells, diffs, mdd, best = _scores(rs)
    learn = analysis.learnable_runs(rs_all.runs)
    drifts = {k: (len(g), sum(len(r.gabor["final"]["sigma_t"]) for r in g), analysis.drift(g))
              for k, g in learn.items()}
    shifts = {k: analysis.modulation_shift(g) for k, g in learn.items()}
    sim = analysis.task_similarity(rs_all.runs)
    recs = analysis.recovery(rs_all.runs)
    axes = analysis.axis_units(rs_all.runs)
    hear = hearing.hearing(rs_all.runs)   # speech filters beside human hearing, with nulls
    drift_nulls, rec_nulls = nulls.drift_nulls(rs_all.runs), nulls.recovery_nulls(rs_all.runs)
    dn = {(x.dataset, x.system): x for x in drift_nulls}
    rn = {(x.dataset, x.system): x for x in rec_nulls}

    tdir = out_dir / "tables"
    texts = {
        out_dir / "summary.csv": tables.summary_csv(cells),
        tdir / "main.md": tables.main_markdown(
            rs, cells, diffs, best, mdd,
            tables.drift_markdown(drifts, shifts, heading="##", nulls=dn) if drifts else ""),
        tdir / "main.tex": tables.main_latex(rs, cells, best, mdd),
        tdir / "paired.md": tables.paired_markdown(diffs, mdd),
        tdir / "differences.csv": tables.differences_csv(diffs),
        tdir / "drift.csv": tables.drift_csv(drifts, dn),
        tdir / "drift.md": tables.drift_markdown(drifts, shifts, nulls=dn),
        tdir / "recovery.csv": tables.recovery_csv(recs, rn),
        tdir / "recovery.md": tables.recovery_markdown(recs, rn),
        tdir / "task_similarity.csv": tables.similarity_csv(sim),
        tdir / "units.csv": tables.units_csv(axes),
        tdir / "hearing.csv": hearing.hearing_csv(hear),
    }
    cal_rows = calibration.calibration(rs_all.runs)
    ev_rows, ev_skipped, ev_texts = _evidence_tables(rs_all, tdir)
    texts.update(ev_texts)
    texts.update(_null_tables(rs_all, tdir, drift_nulls, rec_nulls, cal_rows))
    for path, text in texts.items():
        write_text(path, text)
    written = list(texts)
    for name in _OBSOLETE_TABLES:   # tables an earlier version wrote, which nothing updates
        (tdir / name).unlink(missing_ok=True)

    made: list[Path] = []
    if plots:
        made = _all_plots(rs_all, cells, drifts, sim, recs, axes, hear, cal_rows, out_dir / "plots")
        written += made
    # The report to read, last: it links only the plots this build wrote.
    write_text(out_dir / readme.FILE, readme.report_markdown(
        rs_all, rs, cells, diffs, best, mdd, drift_nulls, rec_nulls, cal_rows,
        [p.name for p in made], ev_rows, ev_skipped))
    return written + [out_dir / readme.FILE]


def _scores(rs: RunSet):
    """The score cells, their paired differences, the minimum detectable differences and
    the best systems per column."""
    order = analysis.system_order({r.system for r in rs.runs})
    cells = scores.summarize(rs.runs, order, analysis.dataset_order({r.dataset for r in rs.runs}))
    table_metrics: dict[str, list[str]] = {}
    for d, m in analysis.table_columns(rs.runs, rs.missing):
        table_metrics.setdefault(d, []).append(m)
    diffs = scores.differences(rs.runs, cells, table_metrics, order)
    return cells, diffs, scores.minimum_detectable(diffs), scores.best_systems(diffs, cells)


def _evidence_tables(rs_all: RunSet, tdir: Path):
    """Recovery's second reading: the banks against the data's own evidence maps."""
    maps, skipped = evidence.evidence_maps(rs_all.runs)
    rows = evidence.evidence_rows(rs_all.runs, maps)
    return rows, skipped, {
        tdir / "evidence.csv": evidence.evidence_csv(rows, skipped),
        tdir / "evidence_planted.csv": evidence.planted_csv(evidence.planted_marks(rs_all.runs, maps))}


def _all_plots(rs_all, cells, drifts, sim, recs, axes, hear, cal_rows, plot_dir: Path) -> list[Path]:
    """Every figure; plots this report owns that no longer apply are removed."""
    plot_dir.mkdir(parents=True, exist_ok=True)
    made = _write_plots(rs_all, cells, drifts, sim, recs, axes, plot_dir)
    made += hearing.write_plots(plot_dir, hear)
    if cal_rows:
        made += calibration.plot(plot_dir / "calibration", cal_rows, rs_all.runs)
    for old in sorted(plot_dir.iterdir()):
        if _OWNED_PLOTS.match(old.name) and old not in made:
            old.unlink()
    return made


def _null_tables(rs_all: RunSet, tdir: Path, drift_nulls, rec_nulls, cal_rows) -> dict[Path, str]:
    """Every filter-analysis number beside its nulls; the calibration check when it ran."""
    sim_nulls = nulls.similarity_nulls(rs_all.runs)
    texts = {
        tdir / "nulls.md": (nulls.nulls_markdown(drift_nulls, rec_nulls)
                            + "\n" + nulls.similarity_markdown(sim_nulls)),
        tdir / "task_similarity_null.csv": nulls.similarity_csv(sim_nulls),
        tdir / "nulls.csv": nulls.nulls_csv(drift_nulls, rec_nulls),
    }
    if cal_rows:
        texts[tdir / "calibration.csv"] = calibration.calibration_csv(cal_rows)
    return texts


def cli_report(args: argparse.Namespace) -> int:
    runs_dir = Path(args.runs) if args.runs else paths.RESULTS_DIR / "runs"
    out_dir = Path(args.out) if args.out else paths.RESULTS_DIR
    written = build_report(runs_dir, out_dir)
    n_plots = sum(p.parent == out_dir / "plots" for p in written)
    print(f"report from {runs_dir}: {out_dir / readme.FILE}, {out_dir / 'summary.csv'}, "
          f"{len(written) - n_plots - 2} tables in {out_dir / 'tables'}, "
          f"{n_plots} plot files in {out_dir / 'plots'}")
    # The first question about learnable filters is whether they moved at all.
    drift_md = out_dir / "tables" / "drift.md"
    if drift_md.exists():
        print("\n" + drift_md.read_text(encoding="utf-8").rstrip())
    return 0
