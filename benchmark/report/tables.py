"""Tables: summary CSV, the main results table (Markdown and LaTeX), paired tests.

Every writer returns text built only from the runs (no clock, no host), in a
fixed order, so rebuilding the report from the same runs gives the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict


from benchmark.report.analysis import (ALPHA, SPECTRAL_REF_CYC_PER_OCT,
                                       TEMPORAL_REF_HZ, AxisUnits, Recovery,
                                       Similarity, metric_label, direction_of, system_order,
                                       table_columns)
from benchmark.report.runs import RunSet
from benchmark.report.scores import HEADLINE, POWER, Cell, Difference

ARROW = {"max": "↑", "min": "↓"}
METRIC_CONVENTIONS = (
    "DetER (detection error rate) = (false alarm + missed detection) / total reference "
    "speech duration, summed over files (duration-weighted), pyannote.metrics "
    "semantics, collar 0.",
    "EER (equal error rate, cosine scoring) by the pyannote.metrics det_curve "
    "convention (first threshold where the false-alarm rate exceeds the miss rate; "
    "mean of the four neighbouring rates). EER (s-norm): the same on scores after "
    "adaptive s-norm (the 400 most similar training-speaker mean embeddings), as the "
    "reused protocol reports beside raw cosine.",
    "Accuracy, balanced accuracy and macro-F1 follow scikit-learn's definitions; "
    "speaker identification reports accuracy; zebra finch's main metric is balanced "
    "accuracy (classes range from 613 to 20 calls).",
)
TWIN_WARNING = ("SYNTHETIC TWIN: these are synthetic-twin results, computed on generated "
                "stand-ins for the datasets. They are not the paper's numbers and are not "
                "comparable to them.")


def fmt(x: float | None) -> str:
    """Numbers in CSV: 6 significant digits, empty when absent."""
    return "" if x is None else f"{x:.6g}"


def _csv(rows: list[list]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------- summary.csv

SUMMARY_COLUMNS = ["dataset", "system", "metric", "direction", "mean", "ci95_low", "ci95_high",
                   "n_runs", "n_items", "n_units", "cells", "unconverged_runs", "refused",
                   "frontend_trainable", "total_trainable", "data_source", "profile"]


def summary_csv(cells: list[Cell]) -> str:
    rows: list[list] = [SUMMARY_COLUMNS]
    for c in cells:
        lo, hi = c.ci95 if c.ci95 else (None, None)
        rows.append([c.dataset, c.system, c.metric, c.direction, fmt(c.mean), fmt(lo), fmt(hi),
                     c.n, "" if c.n_items is None else c.n_items,
                     "" if c.n_units is None else c.n_units, c.cells, c.unconverged, c.refused,
                     "" if c.frontend_trainable is None else c.frontend_trainable,
                     "" if c.total_trainable is None else c.total_trainable,
                     c.data_source, c.profile])
    return _csv(rows)


# ---------------------------------------------------------------- main table

def _pct(x: float) -> float:
    return round(100 * x, 1)


def _cell_text(c: Cell) -> str:
    if c.refused:
        return f"refused ({c.refused})"
    mark = "†" if c.unconverged else ""
    if c.ci95 is None:
        return f"{_pct(c.mean):.1f} [no per-item outputs] (runs {c.n}){mark}"
    lo, hi = c.ci95
    return f"{_pct(c.mean):.1f} [{_pct(lo):.1f}, {_pct(hi):.1f}] (runs {c.n}, n {c.n_items}){mark}"


FLOOR = "mel"   # log-mel straight into the head: what a learned frontend must beat


def under_trained(cells: list[Cell]) -> dict[str, str]:
    """Rows whose frontend trains but that score below the floor on most columns while some
    of their runs were still improving at the last epoch: more steps, not less capacity,
    is what such a row lacks, and the table says so beside its name."""
    by_key = {(c.dataset, c.system, c.metric): c for c in cells if not c.refused}
    out = {}
    for s in sorted({c.system for c in cells}):
        mine = [c for c in cells if c.system == s and not c.refused]
        if s == FLOOR or not mine or not any(c.frontend_trainable for c in mine):
            continue
        pairs = [(c, by_key[(c.dataset, FLOOR, c.metric)]) for c in mine
                 if (c.dataset, FLOOR, c.metric) in by_key]
        worse = sum((c.mean < f.mean) if c.direction == "max" else (c.mean > f.mean)
                    for c, f in pairs)
        per_dataset = {c.dataset: (c.unconverged, c.n) for c in mine}   # a run counts once
        late = sum(k for k, _ in per_dataset.values())
        if pairs and worse * 2 > len(pairs) and late:
            out[s] = (f"under-trained: below the {FLOOR} floor in {worse} of {len(pairs)} "
                      f"columns, still improving at the last epoch in {late} of "
                      f"{sum(n for _, n in per_dataset.values())} runs")
    return out


def _row_name(s: str, labels: dict[str, str]) -> str:
    return f"{s} ({labels[s]})" if s in labels else s


def _grid(rs: RunSet, cells: list[Cell], best: set):
    """Rows, columns and, per (row, column), (text, bold)."""
    by_key = {(c.dataset, c.system, c.metric): c for c in cells}
    present = {r.system for r in rs.runs}
    rows = system_order(present)
    cols = table_columns(rs.runs, rs.missing)
    ran = {(r.dataset, r.system) for r in rs.runs}
    with_runs = {r.dataset for r in rs.runs}
    body: dict[tuple[str, int], tuple[str, bool]] = {}
    for j, (d, m) in enumerate(cols):
        for s in rows:
            c = by_key.get((d, s, m))
            if c is not None:
                body[(s, j)] = (_cell_text(c), (d, s, m) in best)
            elif d not in with_runs and d in rs.missing:
                body[(s, j)] = ("not run (dataset missing)", False)
            elif (d, s) in ran:
                body[(s, j)] = ("not run (metric not reported)", False)
            elif (d, s) in rs.failed:
                body[(s, j)] = ("not run (failed)", False)
            else:
                body[(s, j)] = ("not run (no run files)", False)
    return rows, cols, body


def _notes(rs: RunSet, cells: list[Cell], mdd: dict) -> list[str]:
    notes = [
        "Cells: mean over runs [95 % interval] (runs, n test items per run), in percent "
        "(fraction × 100). The interval is a two-level bootstrap: runs (seeds × folds) "
        "are resampled, then the test units within each run (clips; 10 s blocks of "
        "meetings; speakers for the EER and speaker identification), so a single run "
        "still gets an interval from its test set. Every system of a dataset is measured "
        "on the same (seed, fold) cells; a system whose cells differ is refused rather "
        "than averaged.",
        f"Bold: the system whose paired difference with every other system of the column "
        f"is significant: paired randomisation test Holm-adjusted over the whole table "
        f"below α = {ALPHA:g}, and a 95 % interval (runs and items resampled) that excludes "
        "zero (see paired.md). No bold: the runs and test sets cannot tell the best system "
        "from the next.",
        *METRIC_CONVENTIONS,
    ]
    if mdd:
        notes.append("Minimum detectable difference (paired, α = 0.05, "
                     f"{POWER:.0%} power, from the median standard error of the column's "
                     "paired differences): "
                     + "; ".join(f"{d} {metric_label(m)} {100 * v:.1f} pp"
                                 for (d, m), v in mdd.items()) + ".")
    single = sorted({c.dataset for c in cells if c.n == 1 and not c.refused})
    if single:
        notes.append("One run (one seed) per system on " + ", ".join(single) + ": smoke "
                     "cells, whose interval covers the test items only, not training "
                     "randomness.")
    late = sorted({(c.dataset, c.system, c.unconverged, c.n) for c in cells if c.unconverged})
    if late:
        notes.append("† Not converged: the run(s) selected their last validation epoch, so "
                     "more training could have helped (" + "; ".join(
                         f"{d} / {s}: {k} of {n}" for d, s, k, n in late) + ").")
    return notes + _provenance_notes(rs)


def _provenance_notes(rs: RunSet) -> list[str]:
    """Where the runs came from: profile, data, code, resumed, missing, failed, skipped."""
    notes = []
    profiles = sorted({r.profile for r in rs.runs})
    notes.append(f"Profile: {', '.join(profiles) if profiles else 'none (no runs)'}.")
    sources: dict[str, set[str]] = defaultdict(set)
    for r in rs.runs:
        sources[r.data_source].add(r.dataset)
    if set(sources) == {"twin"}:
        notes.append("Data: " + TWIN_WARNING)
    elif set(sources) == {"real"}:
        notes.append("Data: real datasets.")
    elif sources:
        notes.append("Data: MIXED. " + TWIN_WARNING.replace("these are", "some are")
                     + f" Synthetic twin: {', '.join(sorted(sources['twin']))}; "
                     f"real: {', '.join(sorted(sources['real']))}.")
    commits = sorted({str(r.provenance.get("git_commit"))[:12] for r in rs.runs
                      if r.provenance.get("git_commit")})
    dirty = any(r.provenance.get("git_dirty") for r in rs.runs)
    notes.append("Code: git commit " + (", ".join(commits) if commits else "unknown")
                 + (" (with uncommitted changes in some runs)." if dirty else "."))
    resumed = [r for r in rs.runs if r.resumed_from_epoch is not None]
    if resumed:
        notes.append(f"Resumed: {len(resumed)} run(s) continued from a checkpoint ("
                     + ", ".join(f"{r.path.with_suffix('')} after epoch {r.resumed_from_epoch}"
                                 for r in resumed)
                     + "); from there their losses can differ from an uninterrupted run's.")
    for d, why in rs.missing.items():
        if d not in {r.dataset for r in rs.runs}:
            notes.append(f"{d}: dataset missing: {why}")
    for (d, s), fails in rs.failed.items():
        notes.append(f"{d} / {s}: {len(fails)} run(s) failed: "
                     + "; ".join(f"{name}: {err}" for name, err in fails))
    if rs.skipped:
        notes.append(f"{len(rs.skipped)} run file(s) could not be used and were skipped: "
                     + "; ".join(f"{f} ({why})" for f, why in rs.skipped))
    return notes


def _header(d: str, m: str, rs: RunSet) -> str:
    direction = direction_of(m, [r for r in rs.runs if r.dataset == d])
    return f"{d} {metric_label(m)} (%) {ARROW[direction]}"


def headline_markdown(diffs: list[Difference]) -> str:
    """What learning added: learnable minus fixed Gabor (same initial filters), per column."""
    a, b = HEADLINE
    rows = [x for x in diffs if {x.a, x.b} == {a, b}]
    lines = [f"## What learning added: {a} − {b}", ""]
    if not rows:
        return "\n".join(lines + [f"No dataset has comparable runs of both {a} and {b}."]) + "\n"
    lines += ["| dataset | metric | difference (pp) | 95 % interval | p (Holm) | runs | n |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for x in rows:
        sign = 1 if x.a == a else -1
        lo, hi = sorted((sign * x.ci95[0], sign * x.ci95[1]))
        lines.append(f"| {x.dataset} | {metric_label(x.metric)} {ARROW[x.direction]} | "
                     f"{100 * sign * x.difference:+.1f} | [{100 * lo:+.1f}, {100 * hi:+.1f}] | "
                     f"{x.p_holm:.3g} | {x.n_runs} | {x.n_items} |")
    lines += ["", f"- Both systems start from the same filters in each seed; {b} keeps them, "
              f"{a} trains them. The difference is paired over the same runs and test items."]
    return "\n".join(lines) + "\n"


def main_table(rs: RunSet, cells: list[Cell], best: set, mdd: dict) -> str:
    """The main table (Markdown) and its notes, without a heading."""
    rows, cols, body = _grid(rs, cells, best)
    lines = ["| system | " + " | ".join(_header(d, m, rs) for d, m in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    labels = under_trained(cells)
    for s in rows:
        texts = []
        for j in range(len(cols)):
            text, bold = body[(s, j)]
            texts.append(f"**{text}**" if bold else text)
        lines.append(f"| {_row_name(s, labels)} | " + " | ".join(texts) + " |")
    lines.append("")
    lines += [f"- {n}" for n in _notes(rs, cells, mdd)]
    return "\n".join(lines) + "\n"


def main_markdown(rs: RunSet, cells: list[Cell], diffs: list[Difference], best: set,
                  mdd: dict, appendix: str = "") -> str:
    """The main table, the headline difference, then ``appendix`` (Markdown), e.g. drift."""
    text = "# Main results\n\n" + main_table(rs, cells, best, mdd) + "\n" + headline_markdown(diffs)
    return text + "\n" + appendix if appendix else text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$",
                  "—": "---", "–": "--", "≥": r"$\geq$", "<": r"$<$", ">": r"$>$"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return "".join(_LATEX_UNICODE.get(ch, ch) for ch in out)


def main_latex(rs: RunSet, cells: list[Cell], best: set, mdd: dict) -> str:
    rows, cols, body = _grid(rs, cells, best)
    labels = under_trained(cells)
    lines = [r"% Generated by gaborbench report. Needs \usepackage{booktabs}.",
             r"\begin{table}[t]", r"\centering", r"\small",
             r"\begin{tabular}{l" + "c" * len(cols) + "}", r"\toprule",
             "System & " + " & ".join(latex_escape(_header(d, m, rs)) for d, m in cols)
             + r" \\", r"\midrule"]
    for s in rows:
        texts = []
        for j in range(len(cols)):
            text, bold = body[(s, j)]
            text = latex_escape(text)
            texts.append(rf"\textbf{{{text}}}" if bold else text)
        lines.append(latex_escape(_row_name(s, labels)) + " & " + " & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
              r"\begin{minipage}{\linewidth}\footnotesize"]
    lines += [latex_escape(n) + r"\par" for n in _notes(rs, cells, mdd)]
    lines += [r"\end{minipage}",
              r"\caption{Main results per system and dataset.}",
              r"\label{tab:main}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- paired differences

DIFFERENCE_COLUMNS = ["dataset", "metric", "direction", "system_a", "system_b", "difference",
                      "ci95_low", "ci95_high", "p", "p_holm", "n_runs", "n_items", "test"]
TEST_NAME = "paired randomisation (units swapped between systems), two-sided"


def differences_csv(rows: list[Difference]) -> str:
    out: list[list] = [DIFFERENCE_COLUMNS]
    for x in rows:
        out.append([x.dataset, x.metric, x.direction, x.a, x.b, fmt(x.difference),
                    fmt(x.ci95[0]), fmt(x.ci95[1]), fmt(x.p), fmt(x.p_holm), x.n_runs,
                    x.n_items, TEST_NAME])
    return _csv(out)


def paired_markdown(rows: list[Difference], mdd: dict) -> str:
    lines = ["# Every pair of systems, per dataset", ""]
    if not rows:
        lines.append("No dataset has comparable runs of two systems with per-item outputs: "
                     "nothing to compare.")
        return "\n".join(lines) + "\n"
    lines += ["| dataset | metric | A | B | A − B (pp) | 95 % interval | better | p | p (Holm) | runs | n |",
              "|---|---|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for x in rows:
        better = "—" if not x.significant else (x.a if x.a_better else x.b)
        lines.append(f"| {x.dataset} | {metric_label(x.metric)} {ARROW[x.direction]} | {x.a} | "
                     f"{x.b} | {100 * x.difference:+.1f} | [{100 * x.ci95[0]:+.1f}, "
                     f"{100 * x.ci95[1]:+.1f}] | {better} | {x.p:.3g} | {x.p_holm:.3g} | "
                     f"{x.n_runs} | {x.n_items} |")
    lines += [
        "",
        "- Paired over the same runs (seed, fold) and the same test items. Interval: "
        "two-level bootstrap with the same draws for both systems. p: paired randomisation "
        "test (each test unit's outputs swapped between the two systems with probability "
        "1/2; for accuracy on clips this is the exact sign test on the discordant clips). "
        f"Holm: adjusted over all {len(rows)} differences of this table. better: the "
        f"better system where p (Holm) < {ALPHA:g} and the interval excludes zero (the test "
        "swaps outputs within each trained run; the interval also resamples the runs), "
        "else —.",
    ]
    if mdd:
        lines.append("- Minimum detectable difference at 80 % power: " + "; ".join(
            f"{d} {metric_label(m)} {100 * v:.1f} pp" for (d, m), v in mdd.items()) + ".")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- analysis tables

def drift_csv(drifts: dict[tuple[str, str], tuple[int, int, dict[str, float]]],
              nulls: dict | None = None) -> str:
    """(dataset, system) -> (runs, filters, {param: median change}); ``nulls``:
    (dataset, system) -> :class:`benchmark.report.nulls.DriftNull` (the null columns)."""
    rows: list[list] = [["dataset", "system", "param", "median_change", "change_kind",
                         "n_runs", "n_filters", "null_adam_noise", "null_permuted",
                         "median_change_ci95_low", "median_change_ci95_high",
                         "null_adam_noise_ci95_low", "null_adam_noise_ci95_high"]]
    for (d, s), (n_runs, n_filters, values) in drifts.items():
        n = (nulls or {}).get((d, s))
        for k, v in values.items():
            kind = "abs_wrapped_delta_over_pi" if k == "orientation" else "abs_delta_over_abs_init"
            noise = fmt(n.noise_rel[k]) if n is not None and n.noise_rel else ""
            perm = fmt(n.permuted_rel[k]) if n is not None and n.permuted_rel else ""
            oci = (n.observed_rel_ci95 or {}).get(k, ("", "")) if n is not None else ("", "")
            nci = (n.noise_rel_ci95 or {}).get(k, ("", "")) if n is not None else ("", "")
            rows.append([d, s, k, fmt(v), kind, n_runs, n_filters, noise, perm,
                         *(fmt(x) if x != "" else "" for x in (*oci, *nci))])
    return _csv(rows)


DRIFT_LABELS = {"sigma_t": "σ_t", "sigma_f": "σ_f", "frequency": "F", "orientation": "γ"}


def drift_markdown(drifts: dict[tuple[str, str], tuple[int, int, dict[str, float]]],
                   shifts: dict[tuple[str, str], float], *, heading: str = "#",
                   nulls: dict | None = None) -> str:
    """Per dataset (and learnable system): median drift of each parameter, in percent."""
    lines = [f"{heading} Did the learnable filters move? Median change from initialisation", ""]
    if not drifts:
        lines.append("No run with trained Gabor parameters.")
        return "\n".join(lines) + "\n"
    params = list(next(iter(drifts.values()))[2])
    lines += ["| dataset | system | runs | filters | "
              + " | ".join(f"{DRIFT_LABELS.get(p, p)} (%)" for p in params)
              + " | shift (log2 units) |",
              "|---|---|---:|---:|" + "---:|" * len(params) + "---:|"]
    for (d, s), (n_runs, n_filters, values) in drifts.items():
        n = (nulls or {}).get((d, s))
        lines.append(f"| {d} | {s} | {n_runs} | {n_filters} | "
                     + " | ".join(f"{100 * values[p]:.1f}" + (
                         f" (noise {100 * n.noise_rel[p]:.1f})" if n is not None and n.noise_rel else "")
                         for p in params)
                     + f" | {shifts[(d, s)]:.3f} |")
    lines += ["",
              "- Median over all filters of all runs. σ_t, σ_f, F: |final − init| / |init|; "
              "γ (orientation): |final − init| wrapped to [−π, π], over π.",
              "- (noise …): the same median for Adam fed pure-noise gradients at the run's "
              "frontend learning rate for its steps (`nulls.md`): drift below it is no sign of "
              "learning. Label-permuted runs, where present, have their own `+permuted` row.",
              "- Shift: median distance each filter moved in log-modulation space "
              f"(log2(1 + Hz / {TEMPORAL_REF_HZ:g}), ± log2(1 + cyc/oct / "
              f"{SPECTRAL_REF_CYC_PER_OCT:g})); 1.0 is a doubling of a modulation."]
    return "\n".join(lines) + "\n"


def _ci(ci: tuple[float, float] | None) -> tuple[str, str]:
    return ("", "") if ci is None else (fmt(ci[0]), fmt(ci[1]))


RECOVERY_COLUMNS = ["dataset", "system", "learnable", "n_runs", "n_filters", "n_evidence",
                    "mean_d_init", "mean_d_final", "recovery", "recovery_ci95_low",
                    "recovery_ci95_high", "closed_fraction", "coverage_gain",
                    "coverage_ci95_low", "coverage_ci95_high", "data_source",
                    "recovery_null_low", "recovery_null_high", "recovery_permuted",
                    "coverage_null_low", "coverage_null_high", "coverage_permuted", "beats_null"]


def recovery_csv(rows: list[Recovery], nulls: dict | None = None) -> str:
    """``nulls``: (dataset, system) -> :class:`benchmark.report.nulls.RecoveryNull`."""
    out: list[list] = [RECOVERY_COLUMNS]
    for r in rows:
        n = (nulls or {}).get((r.dataset, r.system))
        extra = [""] * 7 if n is None else [
            *_ci(n.recovery_null), fmt(n.permuted_recovery), *_ci(n.coverage_null),
            fmt(n.permuted_coverage), str(n.beats_null).lower()]
        out.append([r.dataset, r.system, str(r.learnable).lower(), r.n_runs, r.n_filters,
                    r.n_evidence, fmt(r.d_init), fmt(r.d_final), fmt(r.recovery),
                    *_ci(r.recovery_ci95), fmt(r.closed_fraction), fmt(r.coverage_gain),
                    *_ci(r.coverage_ci95), r.data_source, *extra])
    return _csv(out)


def _interval(x: float, ci: tuple[float, float] | None) -> str:
    return f"{x:+.3f}" + ("" if ci is None else f" [{ci[0]:+.3f}, {ci[1]:+.3f}]")


def recovery_markdown(rows: list[Recovery], nulls: dict | None = None) -> str:
    lines = ["# Recovery of the planted modulations", ""]
    if not rows:
        lines.append("No Gabor run carries planted modulations (only synthetic twins do): "
                     "nothing to score.")
        return "\n".join(lines) + "\n"
    lines += ["| dataset | system | runs | evidence points | distance at init | at end | "
              "recovery [95 % CI] | null (95 %) | closed | coverage gain [95 % CI] | null (95 %) "
              "| beats null |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        closed = "" if r.closed_fraction is None else f"{100 * r.closed_fraction:.1f} %"
        name = r.system if r.learnable else f"{r.system} (frozen)"
        n = (nulls or {}).get((r.dataset, r.system))
        rnull = "" if n is None else f"[{n.recovery_null[0]:+.3f}, {n.recovery_null[1]:+.3f}]"
        cnull = "" if n is None else f"[{n.coverage_null[0]:+.3f}, {n.coverage_null[1]:+.3f}]"
        beats = "" if n is None else ("yes" if n.beats_null else "no")
        lines.append(f"| {r.dataset} | {name} | {r.n_runs} | {r.n_evidence} | {r.d_init:.3f} | "
                     f"{r.d_final:.3f} | {_interval(r.recovery, r.recovery_ci95)} | {rnull} | "
                     f"{closed} | {_interval(r.coverage_gain, r.coverage_ci95)} | {cnull} | {beats} |")
    lines += [
        "",
        "- Space: u = log2(1 + temporal Hz / 1 Hz), w = ± log2(1 + spectral cyc/oct / 0.1), "
        "signed by sweep direction (+ upward, − downward); a filter p and −p are the same "
        "filter, so distance = min(|p − q|, |p + q|). An evidence point with direction 0 "
        "matches either sign. One unit is a doubling of a modulation.",
        "- Distance at init / at end: per filter, the distance to the nearest planted "
        "evidence point (any class); mean over filters, then over runs.",
        "- Recovery: per run, mean over filters of (distance at init − distance at end); "
        "mean over runs (seeds × folds) with a 95 % percentile-bootstrap interval over "
        "runs. > 0: the filters ended nearer the planted modulations than they started. "
        "Frozen systems end where they start, so their recovery is 0: the floor.",
        "- Closed: recovery / distance at init. Coverage gain: per run, mean over evidence "
        "points of how much nearer the nearest filter got (does some filter reach each "
        "planted modulation?).",
        "- Null (95 %): the drift-matched null — each filter keeps its own step length in "
        "log-modulation space and takes a random direction (pooled over runs). Any moving "
        "filter changes its distance, so only a recovery above the null's upper bound (and "
        "above the label-permuted runs, where present) says the filters moved towards the "
        "planted modulations: 'beats null'.",
    ]
    return "\n".join(lines) + "\n"


SIMILARITY_COLUMNS = ["dataset_a", "dataset_b", "n_runs_a", "n_runs_b", "distance",
                      "init_distance", "change_distance", "p_value", "p_holm",
                      "distinguishable", "relabellings", "exact", "min_attainable_p"]


def similarity_csv(sim: Similarity) -> str:
    rows: list[list] = [SIMILARITY_COLUMNS]
    for p in sim.pairs:
        rows.append([p.a, p.b, p.n_runs_a, p.n_runs_b, fmt(p.final_distance),
                     fmt(p.init_distance), fmt(p.change_distance), fmt(p.p_value),
                     fmt(p.p_holm), str(p.p_holm < ALPHA).lower(), p.relabellings,
                     str(p.exact).lower(), fmt(p.min_p)])
    return _csv(rows)


UNITS_COLUMNS = ["dataset", "frame_rate_hz", "temporal_nyquist_hz", "mel_bins_per_octave",
                 "n_mels", "fmin_hz", "fmax_hz", "bands_below_1khz",
                 "bins_per_octave_lowest_band", "bins_per_octave_at_500hz"]


def units_csv(rows: list[AxisUnits]) -> str:
    out: list[list] = [UNITS_COLUMNS]
    for u in rows:
        out.append([u.dataset, fmt(u.frame_rate_hz), fmt(u.frame_rate_hz / 2), fmt(u.bins_per_octave),
                    "" if u.n_mels is None else u.n_mels, fmt(u.fmin), fmt(u.fmax),
                    "" if u.bands_below_1khz is None else u.bands_below_1khz,
                    fmt(u.bins_per_octave_lowest), fmt(u.bins_per_octave_500hz)])
    return _csv(out)
