"""``REPORT.md``: the report to read, written beside the tables and plots.

A pure function of what :func:`benchmark.report.build_report` has already computed
(the runs, the score cells and paired differences, the filter-analysis nulls, the
calibration rows) and of the names of the plot files the build wrote. Nothing here
reads a clock, a host name or an absolute path, so the same runs give the same bytes.

It answers, in order: what was run; the main table and what learning added
(learnable_gabor − fixed_gabor, significant only where the Holm-adjusted p and the interval say so);
the key plots; the filter analysis, each statement read against its null; and where
every other table lives.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from benchmark.config import PERMUTED_SUFFIX
from benchmark.report import analysis, tables
from benchmark.report.calibration import CalibrationRow, verdict
from benchmark.report.nulls import DriftNull, RecoveryNull, drift_beats
from benchmark.report.runs import RunSet
from benchmark.report.scores import ALPHA, HEADLINE, POWER, Cell, Difference

FILE = "REPORT.md"
PARAM_LABELS = {"sigma_t": "σ_t (temporal width)", "sigma_f": "σ_f (spectral width)",
                "frequency": "F (carrier frequency)", "orientation": "γ (orientation)"}

# Where every table lives: (file, what it holds). calibration.csv only with calibration runs.
TABLE_FILES = (
    ("summary.csv", "every cell (dataset × system × metric): mean, 95 % interval, runs, "
                    "test items, data source, profile"),
    ("tables/main.md", "the main table above, with the drift table"),
    ("tables/main.tex", "the main table in LaTeX (booktabs)"),
    ("tables/paired.md", "every pair of systems per dataset: paired difference, interval, "
                         "p and p (Holm)"),
    ("tables/differences.csv", "the same differences as CSV"),
    ("tables/drift.md", "how far each Gabor parameter moved from its initial value"),
    ("tables/drift.csv", "the same, with the nulls' columns"),
    ("tables/recovery.md", "recovery of the planted modulations (synthetic twins only)"),
    ("tables/recovery.csv", "the same, with the drift-matched and permuted nulls"),
    ("tables/nulls.md", "drift, recovery and task similarity beside their nulls"),
    ("tables/nulls.csv", "drift and recovery beside their nulls, as CSV"),
    ("tables/task_similarity.csv", "distances between tasks' learned filter changes, with "
                                   "a permutation test"),
    ("tables/task_similarity_null.csv", "the same distances beside the label-permuted runs'"),
    ("tables/units.csv", "per dataset: frame rate, temporal Nyquist, mel bins per octave"),
    ("tables/hearing.csv", "speech tasks' filters beside human modulation sensitivity"),
    ("tables/evidence.csv", "recovery's second reading: change in the banks' overlap with each "
                            "dataset's evidence map (where its classes separate, read from its "
                            "files), beside the label-permuted runs; skipped datasets say why"),
    ("tables/evidence_planted.csv", "each planted modulation, marked discriminative or not by "
                                    "its dataset's evidence map"),
    ("tables/calibration.csv", "the calibration check per system and seed"),
)
OTHER_PLOTS = (
    ("filters_", "the learned filters of one run, per dataset"),
    ("modulation_", "modulation maps of the other learnable systems and the label-permuted runs"),
    ("curves_", "validation curves per dataset"),
    ("drift", "parameter drift"),
    ("task_similarity", "task similarity"),
)


def _pp(x: float) -> str:
    return f"{100 * x:+.1f} pp"


def _sources(rs: RunSet) -> dict[str, list[str]]:
    by: dict[str, set[str]] = defaultdict(set)
    for r in rs.runs:
        by[r.data_source].add(r.dataset)
    return {s: analysis.dataset_order(d) for s, d in sorted(by.items())}


def _what_was_run(rs_all: RunSet) -> list[str]:
    runs = rs_all.runs
    out = ["## What was run", ""]
    if not runs:
        return out + ["No run files: nothing was run (`gaborbench run ...` or `make demo`).", ""]
    sources = _sources(rs_all)
    if set(sources) == {"twin"}:
        out += ["- Data: synthetic twins (generated stand-ins for the datasets)."]
    elif set(sources) == {"real"}:
        out += ["- Data: real datasets."]
    else:
        out += ["- Data: MIXED — " + "; ".join(f"{s}: {', '.join(d)}" for s, d in sources.items())
                + "."]
    profiles = sorted({r.profile for r in runs})
    out.append(f"- Profile: {', '.join(profiles)}.")
    commits = sorted({str(r.provenance.get("git_commit"))[:12] for r in runs
                      if r.provenance.get("git_commit")})
    dirty = sum(bool(r.provenance.get("git_dirty")) for r in runs)
    out.append("- Code: git commit " + (", ".join(commits) if commits else "unknown")
               + (f" ({dirty} run(s) with uncommitted changes)." if dirty else "."))
    permuted = [r for r in runs if r.system.endswith(PERMUTED_SUFFIX)]
    out.append(f"- Runs: {len(runs)}" + (f", of which {len(permuted)} label-permuted (the filter "
                                         "analysis' nulls, not rows of the score tables)"
                                         if permuted else "") + ".")
    scored = {r.system for r in runs if not r.system.endswith(PERMUTED_SUFFIX)}
    present = [s for s in analysis.system_order(scored) if s in scored]
    out.append(f"- Systems: {', '.join(present)}.")
    out += ["- Datasets:", ""]
    out += ["  | dataset | data | systems | runs | seeds | folds |", "  |---|---|---|---:|---:|---:|"]
    for d in analysis.dataset_order({r.dataset for r in runs}):
        here = [r for r in runs if r.dataset == d]
        systems = {r.system for r in here}
        names = [s for s in analysis.system_order(systems) if s in systems]
        src = sorted({r.data_source for r in here})
        folds = sorted({r.fold for r in here if r.fold is not None})
        out.append(f"  | {d} | {'+'.join(src)} | {', '.join(names)} | {len(here)} | "
                   f"{len({r.seed for r in here})} | {len(folds) if folds else '—'} |")
    out.append("")
    notes = []
    for d, why in sorted(rs_all.missing.items()):
        if d not in {r.dataset for r in runs}:
            notes.append(f"- {d}: not run, dataset missing ({why}).")
    for (d, s), fails in sorted(rs_all.failed.items()):
        notes.append(f"- {d} / {s}: {len(fails)} run(s) failed (see tables/main.md).")
    if rs_all.skipped:
        notes.append(f"- {len(rs_all.skipped)} run file(s) could not be used and were skipped "
                     "(listed under tables/main.md).")
    return out + notes + ([""] if notes else [])


def _warning(rs_all: RunSet) -> list[str]:
    sources = _sources(rs_all)
    if set(sources) == {"twin"}:
        return [f"> **{tables.TWIN_WARNING}**", ""]
    if "twin" in sources:
        return [f"> **{tables.TWIN_WARNING.replace('these are', 'some are')}** Synthetic twin: "
                f"{', '.join(sources['twin'])}.", ""]
    return []


def _learning_sentences(diffs: list[Difference], mdd: dict, datasets: list[str]) -> list[str]:
    a, b = HEADLINE
    rows = [x for x in diffs if {x.a, x.b} == {a, b}]
    out = []
    for x in rows:
        sign = 1 if x.a == a else -1
        d = sign * x.difference
        lo, hi = sorted((sign * x.ci95[0], sign * x.ci95[1]))
        label = f"{analysis.metric_label(x.metric)} {tables.ARROW[x.direction]}"
        numbers = f"{_pp(d)} [{_pp(lo)}, {_pp(hi)}], p (Holm) = {x.p_holm:.3g}"
        if x.significant:
            better = a if (d > 0) == (x.direction == "max") else b
            out.append(f"- **{x.dataset}** ({label}): {a} − {b} = {numbers}: significant after "
                       f"Holm (α = {ALPHA:g}) and outside its interval's zero; {better} is better"
                       + (" — learning the filters helped." if better == a
                          else " — learning the filters hurt."))
        else:
            m = mdd.get((x.dataset, x.metric))
            detect = ("" if m is None else
                      f"; the smallest difference it could detect is {100 * m:.1f} pp "
                      f"(paired, α = {ALPHA:g}, {POWER:.0%} power)")
            out.append(f"- **{x.dataset}** ({label}): the test set cannot tell {a} from {b} "
                       f"({numbers}){detect}.")
    done = {x.dataset for x in rows}
    rest = [d for d in datasets if d not in done]
    if rest:
        out.append(f"- Not compared on {', '.join(rest)}: {a} and {b} were not both run, with "
                   "per-item outputs, on the same cells.")
    return out


def _scores(rs: RunSet, cells: list[Cell], diffs: list[Difference], best: set,
            mdd: dict) -> list[str]:
    out = ["## Main results", "", tables.main_table(rs, cells, best, mdd).rstrip("\n"), ""]
    head = tables.headline_markdown(diffs).rstrip("\n").splitlines()
    out += head + [""]
    out += _learning_sentences(diffs, mdd, analysis.dataset_order({r.dataset for r in rs.runs}))
    return out + [""]


def _plots(rs_all: RunSet, names: set[str]) -> tuple[list[str], set[str]]:
    """The key plots' section, and the file names it links."""
    out = ["## Plots", ""]
    if not names:
        return out + ["No plots in this build (`gaborbench report` draws them; "
                      "`build_report(..., plots=False)` does not).", ""], set()
    datasets = analysis.dataset_order({r.dataset for r in rs_all.runs})
    shown = []
    if "scores.png" in names:
        shown.append(("Scores per system and dataset, with 95 % intervals", "scores.png"))
    shown += [(f"Where the learnable filters went in modulation space: {d}", f"modulation_{d}.png")
              for d in datasets if f"modulation_{d}.png" in names]
    if "calibration.png" in names:
        shown.append(("Calibration: filters moving onto the planted ripples, gain beside the null",
                      "calibration.png"))
    shown += [(f"Speech filters beside human hearing: {d}", f"hearing_{d}.png")
              for d in datasets if f"hearing_{d}.png" in names]
    for caption, name in shown:
        out += [f"### {caption}", "", f"![{caption}](plots/{name})", ""]
    return out, {name for _, name in shown}


def _drift(drift_nulls: list[DriftNull]) -> list[str]:
    out = ["### Did the filters move more than noise would move them?", ""]
    if not drift_nulls:
        return out + ["No learnable Gabor runs.", ""]
    for x in drift_nulls:   # a parameter beats its nulls when its interval lies above them
        who = f"{x.dataset} / {x.system}"
        if x.noise_rel is None:
            out.append(f"- {who}: no optimiser null (the runs are not Adam runs with a fixed epoch "
                       "length), so the drift in tables/drift.md is not read as a finding.")
            continue
        beat, short = [], []
        for k in analysis.DRIFT_PARAMS:
            obs, noise = x.observed_rel[k], x.noise_rel[k]
            perm = None if x.permuted_rel is None else x.permuted_rel[k]
            ci = (x.observed_rel_ci95 or {}).get(k)
            text = (f"{PARAM_LABELS.get(k, k)} {100 * obs:.1f} %"
                    + ("" if ci is None else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]")
                    + f" (Adam on noise {100 * noise:.1f} %"
                    + ("" if perm is None else f", label-permuted {100 * perm:.1f} %") + ")")
            (beat if drift_beats(x, k) else short).append(text)
        if beat:
            out.append(f"- **Finding** — {who}: moved more than "
                       + ("both nulls" if x.permuted_rel is not None else "Adam on noise")
                       + ": " + "; ".join(beat) + ".")
        if short:
            out.append(f"- {who}: no more than the null"
                       + ("s" if x.permuted_rel is not None else "")
                       + ", not a sign of learning: " + "; ".join(short) + ".")
    return out + ["", "Drift: median over filters of |final − init| / |init| (γ: wrapped change / π). "
                  "Adam on noise: the median displacement pure-noise gradients give at the run's "
                  "frontend learning rate and steps.", ""]


def _recovery(rec_nulls: list[RecoveryNull]) -> list[str]:
    out = ["### Did the filters move towards the planted modulations?", ""]
    if not rec_nulls:
        return out + ["No learnable run carries planted modulations (only synthetic twins do): "
                      "nothing to score.", ""]
    for r in rec_nulls:
        who = f"{r.dataset} / {r.system}"
        perm = "" if r.permuted_recovery is None else f", label-permuted {r.permuted_recovery:+.3f}"
        numbers = (f"recovery {r.recovery:+.3f} log2 units (drift-matched null 95 % "
                   f"[{r.recovery_null[0]:+.3f}, {r.recovery_null[1]:+.3f}]{perm})")
        cov_beats = r.coverage_gain > r.coverage_null[1] and (
            r.permuted_coverage is None or r.coverage_gain > r.permuted_coverage)
        cov = (f"coverage gain {r.coverage_gain:+.3f} (null [{r.coverage_null[0]:+.3f}, "
               f"{r.coverage_null[1]:+.3f}]"
               + ("" if r.permuted_coverage is None else f", label-permuted {r.permuted_coverage:+.3f}")
               + ("): beyond its null" + (" too" if r.beats_null else
                                            " (the nearest filter to each planted point got "
                                            "nearer, though the average filter did not)")
                  if cov_beats else "): not beyond its null"))
        if r.beats_null:
            out.append(f"- **Finding** — {who}: the filters moved towards the planted modulations "
                       f"beyond what motion in random directions gives: {numbers}; {cov}.")
        else:
            out.append(f"- {who}: not beyond the null — the filters moved, but no nearer the "
                       f"planted modulations than random directions take them: {numbers}; {cov}.")
    return out + ["", "Recovery: per filter, how much nearer its nearest planted modulation got "
                  "(log-modulation space, one unit a doubling); the drift-matched null keeps each "
                  "filter's step length and draws its direction at random.", ""]


def _evidence(rows: list, skipped: dict[str, str]) -> list[str]:
    """Recovery's second reading: the banks against each dataset's evidence map."""
    out = ["### Did the filters move towards where the data's classes differ?", ""]
    if not rows and not skipped:
        return out + ["No Gabor runs with an evidence map in this build.", ""]
    for r in rows:
        if not r.learnable:
            continue
        who = f"{r.dataset}, {r.system}"
        ci = "" if r.change_ci95 is None else f" [{r.change_ci95[0]:+.4f}, {r.change_ci95[1]:+.4f}]"
        perm = ("" if r.permuted_change is None
                else f"; label-permuted runs {r.permuted_change:+.4f}")
        numbers = f"overlap change {r.change:+.4f}{ci}{perm}"
        if r.beats_null:
            out.append(f"- **Finding** — {who}: the bank passes more of what separates the "
                       f"classes than at the start, beyond the null ({numbers}).")
        else:
            out.append(f"- {who}: not beyond the null ({numbers}).")
    for d, why in skipped.items():
        out.append(f"- {d}: no evidence map ({why}).")
    out += ["", "Overlap: the dataset's evidence map (per modulation cell, how well its classes "
            "separate in the written files, above the shuffled-label floor) averaged under the "
            "bank's modulation transfer; `tables/evidence.csv`, planted points marked "
            "discriminative or not in `tables/evidence_planted.csv`.", ""]
    return out


def _calibration(rows: list[CalibrationRow]) -> list[str]:
    out = ["### Calibration: does the analysis find what the calibration twins planted?", ""]
    if not rows:
        return out + ["No calibration runs in this build.", ""]
    out.append(verdict(rows))
    out.append("")
    for r in rows:
        who = f"{r.system}, seed {r.seed}"
        cross = "" if r.crossover is None else f", cross-over {r.crossover:+.3f}"
        numbers = (f"gain {r.gain:+.3f} vs null 95th percentile {r.null_p95:+.3f} "
                   f"({r.null_source}){cross}")
        if not r.learnable:
            out.append(f"- {who}: fail — a frozen control ({numbers}); frozen filters never pass.")
        elif r.passed:
            out.append(f"- **Finding** — {who}: pass, the planted points were recovered beyond "
                       f"the null ({numbers}).")
        else:
            why = ("gain not above the null" if r.gain <= r.null_p95
                   else "the banks did not pass more at their own variant's points than at the "
                        "other's (cross-over not above 0)")
            out.append(f"- {who}: fail — {why} ({numbers}).")
    return out + [""]


def _where(cal_rows: list[CalibrationRow], names: set[str], linked: set[str]) -> list[str]:
    out = ["## Where everything else lives", "", "Tables (Markdown for reading, CSV for analysis):",
           ""]
    for path, what in TABLE_FILES:
        if path == "tables/calibration.csv" and not cal_rows:
            continue
        out.append(f"- [`{path}`]({path}): {what}.")
    out.append("")
    rest = sorted(n for n in names if n.endswith(".png") and n not in linked)
    if rest:
        out += ["Plots in `plots/` not shown above (each also as PDF):", ""]
        for prefix, what in OTHER_PLOTS:
            here = [n for n in rest if n == f"{prefix}.png"
                    or (prefix.endswith("_") and n.startswith(prefix))]
            rest = [n for n in rest if n not in here]
            if here:
                out.append(f"- {what}: " + ", ".join(f"[`{n}`](plots/{n})" for n in here) + ".")
        if rest:
            out.append("- other: " + ", ".join(f"[`{n}`](plots/{n})" for n in rest) + ".")
        out.append("")
    out += ["Each run's record (configuration, metrics, per-item test outputs, initial and "
            "final filters, provenance) is a JSON file in the runs folder; "
            "`gaborbench report` rebuilds everything here from those files.", ""]
    return out


def report_markdown(rs_all: RunSet, rs: RunSet, cells: list[Cell], diffs: list[Difference],
                    best: set, mdd: dict, drift_nulls: list[DriftNull],
                    rec_nulls: list[RecoveryNull], cal_rows: list[CalibrationRow],
                    plot_names: Iterable[str] = (), evidence_rows: list | None = None,
                    evidence_skipped: dict[str, str] | None = None) -> str:
    """REPORT.md's text. ``rs_all``: every run; ``rs``: the scored runs (no label-permuted
    ones); ``plot_names``: file names the build wrote under ``plots/`` (only these are linked)."""
    names = set(plot_names)
    lines = ["# gabor-bench report", ""]
    lines += _warning(rs_all)
    lines += _what_was_run(rs_all)
    lines += _scores(rs, cells, diffs, best, mdd)
    plot_lines, linked = _plots(rs_all, names)
    lines += plot_lines
    lines += ["## The filter analysis, against its nulls", "",
              "A statement is a finding only where it beats its null; the others are listed "
              "as what they are.", ""]
    lines += _drift(drift_nulls) + _recovery(rec_nulls)
    lines += _evidence(evidence_rows or [], evidence_skipped or {}) + _calibration(cal_rows)
    lines += _where(cal_rows, names, linked)
    return "\n".join(lines).rstrip("\n") + "\n"


__all__ = ["FILE", "report_markdown"]
