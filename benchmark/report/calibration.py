"""The calibration check: does the analysis find the truth the calibration twins planted?

Runs of the ``calibration`` task (datasets ``ripples`` and ``ripples_b``) are
scored per system and seed:

- **gain**: how much nearer the nearest filter got to each planted point (the
  coverage gain, log2 units in log-modulation space, filters read from their
  built kernels), averaged over the points and over the variants run;
- **null p95**: the 95th percentile of the same statistic under the null — the
  label-permuted runs of the system (``<system>+permuted``), each with its own
  drift-matched random-direction draws, where they exist; otherwise this run's
  own drift-matched draws (``null_source`` says which);
- **cross-over**: with both variants run for the seed, the difference in
  differences (T_A at A's points - T_A at B's points) + (T_B at B's - T_B at A's),
  T being how much more the bank passes at a point after training than before
  (its modulation transfer, read from the built kernels: each filter's |2-D DFT|
  over its peak, averaged over the bank): filters must open towards their own
  task's points, not anywhere. It is read from what the probe reads — the energy
  each filter passes at a class's point — rather than from the nearest filter's
  distance: a probe tells a pair apart by contrast, which needs no filter centred
  on each point, and a filter resolved on one axis only is as near to a point as to
  its mirror image, so nearest-filter distances need not favour either variant
  even where the bank passes its own points more. Points both variants plant
  cancel; a frozen bank reads 0;
- **pass**: gain above the null's 95th percentile, and a positive cross-over
  where there is one. Frozen systems read 0 and never pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark import kernels
from benchmark.report import analysis, nulls
from benchmark.report.runs import Run

TASK = "calibration"
VARIANTS = ("ripples", "ripples_b")


def calibration_runs(runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.gabor is not None and r.planted
            and (r.config.get("task") == TASK or r.dataset in VARIANTS)]


@dataclass(frozen=True)
class CalibrationRow:
    system: str
    seed: int
    datasets: tuple[str, ...]
    learnable: bool
    gain: float
    null_p95: float
    null_source: str          # "permuted" | "drift-matched"
    crossover: float | None
    probe_accuracy: float | None
    start_distance: float     # nearest initial filter to any planted point (log2 units, on
    #                           the axes each initial kernel resolves)

    @property
    def passed(self) -> bool:
        return self.gain > self.null_p95 and (self.crossover is None or self.crossover > 0)


def _init_resolved(run: Run) -> np.ndarray:
    m = analysis.run_modulations(run, "init")
    return np.stack([m["resolved_t"], m["resolved_f"]], axis=1)


def _gain(run: Run, planted) -> float:
    return nulls.coverage_gain(analysis.run_points(run, "init"), analysis.run_points(run, "final"),
                               planted, analysis.run_resolved(run))


def transfer_change(run: Run, planted) -> float:
    """Mean over ``planted`` of the bank's transfer at the point, final minus initial."""
    g = run.gabor
    fr, bpo = float(g["frame_rate_hz"]), float(np.median(g["mel_bins_per_octave"]))
    t = np.array([e["temporal_hz"] for e in planted]) / fr
    f = np.array([e["spectral_cyc_per_oct"] for e in planted]) / bpo
    d = np.array([e["direction"] for e in planted])
    at = {}
    for which in ("init", "final"):
        bank, nu_t, nu_f = kernels.bank_transfer(analysis.gabor_arrays(g[which]), tuple(g["kernel_size"]),
                                                 analysis._grid_of(run))
        at[which] = kernels.transfer_at(bank, nu_t, nu_f, t, f, d)
    return float(np.mean(at["final"] - at["init"]))


def crossover(a: Run, b: Run, planted_a, planted_b) -> float:
    """(T_a on a's points - T_a on b's) + (T_b on b's - T_b on a's), see the module docstring."""
    return ((transfer_change(a, planted_a) - transfer_change(a, planted_b))
            + (transfer_change(b, planted_b) - transfer_change(b, planted_a)))


def calibration(runs: list[Run]) -> list[CalibrationRow]:
    cal = calibration_runs(runs)
    real = [r for r in cal if not nulls.is_permuted(r)]
    permuted = [r for r in cal if nulls.is_permuted(r)]
    planted_of = {r.dataset: r.planted for r in cal}
    by: dict[tuple[str, int], dict[str, Run]] = {}
    for r in real:
        by.setdefault((r.system, r.seed), {})[r.dataset] = r   # one fold per seed
    rows = []
    order = {s: i for i, s in enumerate(analysis.system_order({r.system for r in real}))}
    for (system, seed), per in sorted(by.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        datasets = tuple(d for d in VARIANTS if d in per) + tuple(sorted(set(per) - set(VARIANTS)))
        gains = [_gain(per[d], per[d].planted) for d in datasets]
        gain = float(np.mean(gains))
        # The null of the mean over variants: each variant's null sample, averaged draw-wise.
        samples, source = [], "permuted"
        for i, d in enumerate(datasets):
            perm = [p for p in permuted if p.dataset == d and nulls.base_system(p.system) == system]
            if perm:
                draws = [np.append(nulls.drift_matched(p, seed=nulls.NULL_SEED + j).coverage_gain,
                                   _gain(p, p.planted)) for j, p in enumerate(perm)]
                samples.append(np.concatenate(draws))
            else:
                source = "drift-matched"
                samples.append(nulls.drift_matched(per[d], seed=nulls.NULL_SEED + i).coverage_gain)
        n = min(len(s) for s in samples)
        null = np.mean([s[:n] for s in samples], axis=0)
        cross = None
        if all(v in per for v in VARIANTS) and all(v in planted_of for v in VARIANTS):
            a, b = per[VARIANTS[0]], per[VARIANTS[1]]
            pa, pb = planted_of[VARIANTS[0]], planted_of[VARIANTS[1]]
            cross = crossover(a, b, pa, pb)
        acc = [per[d].metrics.get("accuracy") for d in datasets]
        acc = [x for x in acc if x is not None]
        start = min(float(np.nanmin(nulls.evidence_matrix(
            analysis.run_points(per[d], "init"), per[d].planted, _init_resolved(per[d]))))
            for d in datasets)
        rows.append(CalibrationRow(
            system, seed, datasets, bool(all(per[d].gabor["learnable"] for d in datasets)),
            analysis._tidy(gain), analysis._tidy(float(np.percentile(null, 95))), source,
            None if cross is None else analysis._tidy(cross),
            float(np.mean(acc)) if acc else None, start))
    return rows


def calibration_csv(rows: list[CalibrationRow]) -> str:
    lines = ["system,seed,datasets,learnable,gain,null_p95,null_source,crossover,probe_accuracy,"
             "start_distance,pass"]
    for r in rows:
        cross = "" if r.crossover is None else f"{r.crossover:.4f}"
        acc = "" if r.probe_accuracy is None else f"{r.probe_accuracy:.4f}"
        lines.append(f"{r.system},{r.seed},{'+'.join(r.datasets)},{str(r.learnable).lower()},"
                     f"{r.gain:.4f},{r.null_p95:.4f},{r.null_source},{cross},{acc},"
                     f"{r.start_distance:.3f},{str(r.passed).lower()}")
    return "\n".join(lines) + "\n"


def verdict(rows: list[CalibrationRow]) -> str:
    """One sentence: which learnable systems recover the planted points in every seed."""
    learn = {}
    for r in rows:
        if r.learnable:
            learn.setdefault(r.system, []).append(r.passed)
    if not learn:
        return "No learnable Gabor runs on the calibration twins."
    parts = [f"{s}: {sum(v)}/{len(v)} seeds pass" for s, v in learn.items()]
    return "Calibration (planted points recovered beyond the null): " + "; ".join(parts) + "."


def plot(base, rows: list[CalibrationRow], runs: list[Run]) -> list:
    """Left: one learnable run's filters moving onto the planted points (both variants'
    points drawn); right: gain per system and seed beside the null's 95th percentile."""
    from benchmark.report import plots   # matplotlib only when plots are asked for

    fig = plots._figure(11, 4.2)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    cal = [r for r in calibration_runs(runs) if r.gabor["learnable"] and not nulls.is_permuted(r)]
    planted = {r.dataset: r.planted for r in calibration_runs(runs)}
    # Shared points of the two variants: the star (first variant) is drawn over the larger cross.
    for d, marker, size, z in zip(VARIANTS, ("*", "X"), (150, 260), (4, 3)):
        if d in planted:
            pts = np.concatenate(analysis.evidence_points(planted[d]))
            ax.scatter(pts[:, 0], pts[:, 1], marker=marker, s=size, zorder=z,
                       label=f"planted, {d}", edgecolor="k")
    if cal:
        run = sorted(cal, key=lambda r: (r.system != analysis.REFERENCE, r.dataset, r.key))[0]
        a, b = analysis.run_points(run, "init"), analysis.run_points(run, "init") + analysis.run_changes(run)
        for p, q in zip(a, b):
            ax.annotate("", q, p, arrowprops={"arrowstyle": "->", "color": "0.35"})
        ax.scatter(a[:, 0], a[:, 1], s=14, c="0.6", label="filters at init")
        ax.scatter(b[:, 0], b[:, 1], s=22, c="C3", label=f"final ({run.system}, {run.dataset}, seed {run.seed})")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.set_xlabel("temporal: log2(1 + Hz)")
    ax.set_ylabel("spectral: ±log2(1 + cyc/oct / 0.1), + up")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("filters read from their kernels' DFT")
    labels = [f"{r.system}\nseed {r.seed}" for r in rows]
    x = np.arange(len(rows))
    bx.bar(x, [r.gain for r in rows], color=["C2" if r.passed else "C7" for r in rows],
           label="coverage gain (green: pass)")
    bx.scatter(x, [r.null_p95 for r in rows], marker="_", s=400, c="k", zorder=3,
               label="null, 95th percentile")
    bx.set_xticks(x, labels, fontsize=7, rotation=30, ha="right")
    bx.set_ylabel("log2 units nearer the planted points")
    bx.axhline(0, color="0.5", lw=0.8)
    bx.legend(fontsize=7)
    bx.set_title(verdict(rows), fontsize=8, wrap=True)
    fig.suptitle("Calibration: moving-ripple twins, classes differing only in rate, scale or "
                 "direction" + plots.data_label(cal or runs), fontsize=9)
    return plots.save(fig, base)
