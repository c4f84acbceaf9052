"""Tables: summary CSV, the main results table (Markdown and LaTeX), paired tests.

Every writer returns text built only from the runs (no clock, no host), in a
fixed order, so rebuilding the report from the same runs gives the same bytes.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict


from benchmark.report.analysis import (ALPHA, MIN_PAIRS, REFERENCE, SPECTRAL_REF_CYC_PER_OCT,
                                       TEMPORAL_REF_HZ, AxisUnits, Cell, Paired, Recovery,
                                       Similarity, metric_label, direction_of, system_order,
                                       table_columns)
from benchmark.report.runs import RunSet

ARROW = {"max": "↑", "min": "↓"}
METRIC_CONVENTIONS = (
    "DetER (detection error rate) = (false alarm + missed detection) / total reference "
    "speech duration, summed over files (duration-weighted), pyannote.metrics "
    "semantics, collar 0.",
    "EER (equal error rate, cosine scoring) by the pyannote.metrics det_curve "
    "convention (first threshold where the false-alarm rate exceeds the miss rate; "
    "mean of the four neighbouring rates).",
    "Accuracy, balanced accuracy and macro-F1 follow scikit-learn's definitions; "
    "speaker identification reports accuracy.",
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

SUMMARY_COLUMNS = ["dataset", "system", "metric", "direction", "mean", "std", "n",
                   "ci95_low", "ci95_high", "frontend_trainable", "total_trainable",
                   "data_source", "profile"]


def summary_csv(cells: list[Cell]) -> str:
    rows: list[list] = [SUMMARY_COLUMNS]
    for c in cells:
        lo, hi = c.ci95 if c.ci95 else (None, None)
        rows.append([c.dataset, c.system, c.metric, c.direction, fmt(c.mean), fmt(c.std),
                     c.n, fmt(lo), fmt(hi),
                     "" if c.frontend_trainable is None else c.frontend_trainable,
                     "" if c.total_trainable is None else c.total_trainable,
                     c.data_source, c.profile])
    return _csv(rows)


# ---------------------------------------------------------------- main table

def _pct(x: float) -> float:
    return round(100 * x, 1)


def _cell_text(c: Cell) -> str:
    text = f"{_pct(c.mean):.1f} ± {_pct(c.std):.1f}"
    return text + " (n=1)" if c.n == 1 else text


def _grid(rs: RunSet, cells: list[Cell]):
    """Rows, columns and, per (row, column), (text, is_number, bold)."""
    by_key = {(c.dataset, c.system, c.metric): c for c in cells}
    present = {r.system for r in rs.runs}
    rows = system_order(present)
    cols = table_columns(rs.runs, rs.missing)
    ran = {(r.dataset, r.system) for r in rs.runs}
    with_runs = {r.dataset for r in rs.runs}
    body: dict[tuple[str, int], tuple[str, bool]] = {}
    for j, (d, m) in enumerate(cols):
        direction = direction_of(m, [r for r in rs.runs if r.dataset == d])
        found = [by_key[(d, s, m)] for s in rows if (d, s, m) in by_key]
        best = None
        if found:
            pick = max if direction == "max" else min
            best = pick(_pct(c.mean) for c in found)
        for s in rows:
            c = by_key.get((d, s, m))
            if c is not None:
                body[(s, j)] = (_cell_text(c), _pct(c.mean) == best)
            elif d not in with_runs and d in rs.missing:
                body[(s, j)] = ("not run (dataset missing)", False)
            elif (d, s) in ran:
                body[(s, j)] = ("not run (metric not reported)", False)
            elif (d, s) in rs.failed:
                body[(s, j)] = ("not run (failed)", False)
            else:
                body[(s, j)] = ("not run (no run files)", False)
    return rows, cols, body


def _notes(rs: RunSet) -> list[str]:
    notes = [
        "Cells: mean ± sample standard deviation over seeds × folds, in percent "
        "(fraction × 100); (n=1) marks a single run, whose spread is shown as 0.0. "
        "Bold: best mean in the column (↑ higher is better, ↓ lower is better). "
        "not run (no run files) means that no run JSON exists for that dataset and system.",
        *METRIC_CONVENTIONS,
    ]
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


def main_markdown(rs: RunSet, cells: list[Cell], appendix: str = "") -> str:
    """The main table; ``appendix`` (Markdown) follows the footer, e.g. the drift table."""
    rows, cols, body = _grid(rs, cells)
    lines = ["# Main results", "",
             "| system | " + " | ".join(_header(d, m, rs) for d, m in cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for s in rows:
        texts = []
        for j in range(len(cols)):
            text, bold = body[(s, j)]
            texts.append(f"**{text}**" if bold else text)
        lines.append(f"| {s} | " + " | ".join(texts) + " |")
    lines.append("")
    lines += [f"- {n}" for n in _notes(rs)]
    text = "\n".join(lines) + "\n"
    return text + "\n" + appendix if appendix else text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "×": r"$\times$",
                  "—": "---", "–": "--", "≥": r"$\geq$", "<": r"$<$", ">": r"$>$"}


def latex_escape(text: str) -> str:
    out = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)
    return "".join(_LATEX_UNICODE.get(ch, ch) for ch in out)


def main_latex(rs: RunSet, cells: list[Cell]) -> str:
    rows, cols, body = _grid(rs, cells)
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
        lines.append(latex_escape(s) + " & " + " & ".join(texts) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip",
              r"\begin{minipage}{\linewidth}\footnotesize"]
    lines += [latex_escape(n) + r"\par" for n in _notes(rs)]
    lines += [r"\end{minipage}",
              r"\caption{Main results per system and dataset.}",
              r"\label{tab:main}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- paired comparison

PAIRED_COLUMNS = ["dataset", "metric", "direction", "reference", "other", "n_pairs",
                  "mean_diff", "verdict", "wins", "losses", "p_value", "test", "note"]
TEST_NAME = "wilcoxon signed-rank (two-sided)"


def paired_csv(rows: list[Paired], reference: str = REFERENCE) -> str:
    out: list[list] = [PAIRED_COLUMNS]
    for p in rows:
        out.append([p.dataset, p.metric, p.direction, reference, p.other, p.n,
                    fmt(p.mean_diff), p.verdict, p.wins, p.losses, fmt(p.p_value),
                    TEST_NAME, p.note])
    return _csv(out)


def paired_markdown(rows: list[Paired], reference: str = REFERENCE) -> str:
    lines = [f"# {reference} against each other system", ""]
    if not rows:
        lines.append(f"No dataset has runs of both {reference} and another system: "
                     "nothing to compare.")
        return "\n".join(lines) + "\n"
    lines += ["| dataset | metric | other system | n pairs | difference (pp) | "
              f"{reference} is | wins / losses | p |",
              "|---|---|---|---:|---:|---|---:|---:|"]
    for p in rows:
        diff = "" if p.mean_diff is None else f"{100 * p.mean_diff:+.2f}"
        pval = p.note if p.p_value is None else f"{p.p_value:.3g}"
        lines.append(f"| {p.dataset} | {metric_label(p.metric)} {ARROW[p.direction]} | "
                     f"{p.other} | {p.n} | {diff} | {p.verdict} | {p.wins} / {p.losses} | {pval} |")
    lines += [
        "",
        f"- Runs are paired on (seed, fold); a pair exists only where both systems ran "
        f"that seed and fold. Difference = {reference} − other, mean over pairs, in "
        "percentage points of the metric; 'better'/'worse' accounts for the metric's "
        "direction (↑ higher is better, ↓ lower is better).",
        "- p: two-sided Wilcoxon signed-rank test on the paired differences (zero "
        "differences dropped), chosen over the paired t-test because a handful of "
        "seed/fold differences need not be normally distributed. With fewer than "
        f"{MIN_PAIRS} pairs no outcome can reach p < 0.05, so p is reported as "
        f"n/a (n<{MIN_PAIRS}). No correction for multiple comparisons is applied.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- analysis tables

def drift_csv(drifts: dict[tuple[str, str], tuple[int, int, dict[str, float]]],
              nulls: dict | None = None) -> str:
    """(dataset, system) -> (runs, filters, {param: median change}); ``nulls``:
    (dataset, system) -> :class:`benchmark.report.nulls.DriftNull` (the null columns)."""
    rows: list[list] = [["dataset", "system", "param", "median_change", "change_kind",
                         "n_runs", "n_filters", "null_adam_noise", "null_permuted"]]
    for (d, s), (n_runs, n_filters, values) in drifts.items():
        n = (nulls or {}).get((d, s))
        for k, v in values.items():
            kind = "abs_wrapped_delta_over_pi" if k == "orientation" else "abs_delta_over_abs_init"
            noise = fmt(n.noise_rel[k]) if n is not None and n.noise_rel else ""
            perm = fmt(n.permuted_rel[k]) if n is not None and n.permuted_rel else ""
            rows.append([d, s, k, fmt(v), kind, n_runs, n_filters, noise, perm])
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
