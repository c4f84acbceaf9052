"""The nulls every filter-analysis number is read against (NumPy only, no I/O).

Any moving filter changes its distance to whatever points it is scored against,
so "the filters moved" and "the filters moved towards the evidence" mean nothing
without what motion alone would give:

- **drift-matched null** (recovery, coverage): each filter keeps the length of
  its actual step in log-modulation space and gets a random direction; the
  recovery and coverage gain of those random banks, drawn many times, are what
  motion without aim scores;
- **optimiser null** (drift): the displacement Adam gives a parameter in the
  run's number of steps at the frontend's learning rate when every gradient is
  pure noise — its median is what "the filters learn" has to beat;
- **label-permuted runs** (``train.permute_labels``, filed as
  ``<system>+permuted``): the same training with the labels shuffled; its drift,
  recovery and similarity are the null of the whole pipeline;
- **frozen systems** stay the floor (0 by construction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.report import analysis, similarity
from benchmark.report.runs import Run

NULL_DRAWS = 999
NULL_SEED = 0
from benchmark.config import PERMUTED_SUFFIX  # the row of label-permuted runs


def is_permuted(run: Run) -> bool:
    return run.system.endswith(PERMUTED_SUFFIX) or bool(
        (run.config.get("train") or {}).get("permute_labels", False))


def base_system(system: str) -> str:
    return system[: -len(PERMUTED_SUFFIX)] if system.endswith(PERMUTED_SUFFIX) else system


# ---------------------------------------------------------------- distances to planted points

def evidence_matrix(points: np.ndarray, planted, resolved: np.ndarray | None = None) -> np.ndarray:
    """(filters, entries) folded distances, an entry's distance being its nearer variant's;
    unresolved axes left out (``resolved``, see :func:`analysis.run_resolved`)."""
    return analysis.evidence_distances(points, planted, resolved)


def coverage_gain(init: np.ndarray, final: np.ndarray, planted,
                  resolved: np.ndarray | None = None) -> float:
    """Mean over planted entries of how much nearer the nearest filter got (log2 units)."""
    a, b = evidence_matrix(init, planted, resolved), evidence_matrix(final, planted, resolved)
    return float(np.nanmean(analysis._nanmin0(a) - analysis._nanmin0(b)))


def recovery(init: np.ndarray, final: np.ndarray, planted, resolved: np.ndarray | None = None) -> float:
    """Mean over filters of how much nearer their nearest planted entry got."""
    a, b = evidence_matrix(init, planted, resolved), evidence_matrix(final, planted, resolved)
    return float(np.nanmean(a.min(axis=1) - b.min(axis=1)))


@dataclass(frozen=True)
class DriftMatched:
    recovery: np.ndarray       # (draws,)
    coverage_gain: np.ndarray  # (draws,)

    @staticmethod
    def _interval(x: np.ndarray) -> tuple[float, float]:
        return float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))

    @property
    def recovery_interval(self) -> tuple[float, float]:
        return self._interval(self.recovery)

    @property
    def coverage_interval(self) -> tuple[float, float]:
        return self._interval(self.coverage_gain)


def drift_matched(run: Run, planted=None, draws: int = NULL_DRAWS, seed: int = NULL_SEED) -> DriftMatched:
    """Recovery and coverage gain of the run's filters moved by their own step lengths
    in random directions (``planted`` defaults to the run's own)."""
    planted = run.planted if planted is None else planted
    a = analysis.run_points(run, "init")
    mask = analysis.run_resolved(run)
    keep = mask.any(axis=1)       # filters resolved on no axis have no distance
    a, mask = a[keep], mask[keep]
    # the step as the distances see it: along the resolved axes only
    step = np.linalg.norm(analysis.run_changes(run)[keep] * mask, axis=1)
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0, 2 * np.pi, size=(draws, len(a)))
    dirs = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    one = mask.sum(axis=1) == 1   # resolved on one axis: a random sign along that axis
    if one.any():
        sign = np.where(rng.random((draws, int(one.sum()))) < 0.5, -1.0, 1.0)
        dirs[:, one, :] = mask[one][None].astype(float) * sign[..., None]
    moved = a[None] + step[None, :, None] * dirs
    d0 = evidence_matrix(a, planted, mask)
    d1 = evidence_matrix(moved.reshape(-1, 2), planted, np.tile(mask, (draws, 1)))
    d1 = d1.reshape(draws, len(a), -1)
    rec = (d0.min(axis=1)[None] - d1.min(axis=2)).mean(axis=1)
    cov = (d0.min(axis=0)[None] - d1.min(axis=1)).mean(axis=1)
    return DriftMatched(rec, cov)


# ---------------------------------------------------------------- the optimiser on noise

ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}   # Keras' defaults, as the runs use


def adam_noise_displacement(learning_rate: float, steps: int, n: int = 4000,
                            seed: int = NULL_SEED) -> np.ndarray:
    """|Δθ| after ``steps`` Adam updates of ``n`` parameters fed i.i.d. N(0, 1) gradients.

    Adam normalises each gradient by its running RMS, so the displacement does not
    depend on the noise's scale: this is what any parameter of the run would
    drift with no signal at all.
    """
    rng = np.random.default_rng(seed)
    b1, b2, eps = ADAM["beta_1"], ADAM["beta_2"], ADAM["epsilon"]
    m = np.zeros(n)
    v = np.zeros(n)
    theta = np.zeros(n)
    for t in range(1, int(steps) + 1):
        g = rng.standard_normal(n)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        # Keras folds the bias corrections into the rate: lr·sqrt(1-b2^t)/(1-b1^t).
        lr_t = learning_rate * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        theta -= lr_t * m / (np.sqrt(v) + eps)
    return np.abs(theta)


def optimiser_steps(run: Run) -> tuple[float, int] | None:
    """(frontend learning rate, optimiser steps up to the kept weights), or None when the
    run does not say (an SGD run, or one without a fixed epoch length)."""
    train = run.config.get("train") or {}
    if train.get("optimizer") != "adam":
        return None
    spe = int(train.get("steps_per_epoch") or 0)
    best = run.history.get("best_epoch") if isinstance(run.history, dict) else None
    if spe <= 0 or not isinstance(best, int) or best <= 0:
        return None
    lr = float(train.get("learning_rate", 0)) * float(train.get("frontend_lr_scale", 1.0))
    return lr, spe * best


@dataclass(frozen=True)
class DriftNull:
    dataset: str
    system: str
    observed_abs: dict[str, float]     # median |final - init| per parameter (natural units)
    noise_abs: dict[str, float] | None  # the same under Adam on noise (None: not an Adam run)
    observed_rel: dict[str, float]     # the drift table's relative medians
    noise_rel: dict[str, float] | None
    permuted_rel: dict[str, float] | None   # the label-permuted runs' drift, if any
    # 95 % intervals of the relative medians: the observed one resampled over filters, the
    # noise one over draws of as many noise displacements as there are filters
    observed_rel_ci95: dict[str, tuple[float, float]] | None = None
    noise_rel_ci95: dict[str, tuple[float, float]] | None = None


def drift_beats(x: DriftNull, k: str) -> bool | None:
    """Whether parameter ``k`` moved beyond its nulls: the observed median and its 95 %
    interval's low end above Adam on noise and the label-permuted runs (None: no noise null)."""
    if x.noise_rel is None:
        return None
    ci = (x.observed_rel_ci95 or {}).get(k)
    low = x.observed_rel[k] if ci is None else min(ci[0], x.observed_rel[k])
    perm = None if x.permuted_rel is None else x.permuted_rel[k]
    return low > x.noise_rel[k] and (perm is None or low > perm)


def _abs_changes(group: list[Run], k: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.concatenate([analysis.gabor_arrays(r.gabor["init"])[k] for r in group])
    b = np.concatenate([analysis.gabor_arrays(r.gabor["final"])[k] for r in group])
    d = np.abs(np.angle(np.exp(1j * (b - a)))) if k == "orientation" else np.abs(b - a)
    return a, d


def _rel(a: np.ndarray, d: np.ndarray, k: str) -> np.ndarray:
    return d / np.pi if k == "orientation" else d / np.maximum(np.abs(a), 1e-12)


INTERVAL_DRAWS = 999


def _median_interval(values: np.ndarray, seed: int = NULL_SEED) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the median of ``values``."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(INTERVAL_DRAWS, len(values)))
    meds = np.median(values[idx], axis=1)
    return float(np.percentile(meds, 2.5)), float(np.percentile(meds, 97.5))


def drift_nulls(runs: list[Run]) -> list[DriftNull]:
    """Per learnable (dataset, system): observed drift beside Adam-on-noise and permuted runs."""
    groups = analysis.learnable_runs(runs)
    out = []
    for (d, s), group in groups.items():
        if is_permuted(group[0]):
            continue
        obs_abs, obs_rel, noise_abs, noise_rel, obs_ci, noise_ci = {}, {}, {}, {}, {}, {}
        steps = [optimiser_steps(r) for r in group]
        for k in analysis.DRIFT_PARAMS:
            a, dk = _abs_changes(group, k)
            obs_abs[k] = float(np.median(dk))
            obs_rel[k] = float(np.median(_rel(a, dk, k)))
            obs_ci[k] = _median_interval(_rel(a, dk, k))
        if all(st is not None for st in steps):
            # one noise displacement per filter, at each run's own rate and step count
            disp = np.concatenate([adam_noise_displacement(lr, n, len(r.gabor["init"]["sigma_t"]),
                                                           seed=NULL_SEED + i)
                                   for i, (r, (lr, n)) in enumerate(zip(group, steps))])
            for k in analysis.DRIFT_PARAMS:
                a, _ = _abs_changes(group, k)
                noise_abs[k] = float(np.median(disp))
                noise_rel[k] = float(np.median(_rel(a, disp, k)))
                noise_ci[k] = _median_interval(_rel(a, disp, k), seed=NULL_SEED + 1)
        perm = groups.get((d, s + PERMUTED_SUFFIX))
        out.append(DriftNull(d, s, obs_abs, noise_abs or None, obs_rel, noise_rel or None,
                             analysis.drift(perm) if perm else None, obs_ci, noise_ci or None))
    return out


# ---------------------------------------------------------------- recovery beside its nulls

@dataclass(frozen=True)
class RecoveryNull:
    dataset: str
    system: str
    n_runs: int
    recovery: float
    recovery_ci95: tuple[float, float] | None
    recovery_null: tuple[float, float]        # drift-matched 95 % interval (pooled over runs)
    coverage_gain: float
    coverage_ci95: tuple[float, float] | None
    coverage_null: tuple[float, float]
    permuted_recovery: float | None           # label-permuted runs, mean
    permuted_coverage: float | None

    @property
    def beats_null(self) -> bool:
        """The filters ended nearer the planted points (recovery > 0), by more than the
        drift-matched null's upper bound and the permuted runs give. A negative recovery
        above a more negative null only says they moved away less than random steps."""
        above = self.recovery > max(0.0, self.recovery_null[1])
        return above and (self.permuted_recovery is None or self.recovery > self.permuted_recovery)


def recovery_nulls(runs: list[Run]) -> list[RecoveryNull]:
    groups = analysis.learnable_runs([r for r in runs if r.planted])
    out = []
    for (d, s), group in groups.items():
        if is_permuted(group[0]):
            continue
        recs = [analysis.run_recovery(r) for r in group]
        rec = np.array([x.recovery for x in recs])
        cov = np.array([x.coverage_gain for x in recs])
        nulls = [drift_matched(r, seed=NULL_SEED + i) for i, r in enumerate(group)]
        # the null of the mean over runs: draw-wise mean of each run's null
        null_rec = np.mean([n.recovery for n in nulls], axis=0)
        null_cov = np.mean([n.coverage_gain for n in nulls], axis=0)
        perm = groups.get((d, s + PERMUTED_SUFFIX))
        prec = [analysis.run_recovery(r) for r in perm] if perm else []
        out.append(RecoveryNull(
            d, s, len(group), float(rec.mean()), analysis.ci95(rec),
            DriftMatched._interval(null_rec), float(cov.mean()), analysis.ci95(cov),
            DriftMatched._interval(null_cov),
            float(np.mean([x.recovery for x in prec])) if prec else None,
            float(np.mean([x.coverage_gain for x in prec])) if prec else None))
    return out


# ---------------------------------------------------------------- tables

def _f(x, fmt="{:+.3f}") -> str:
    return "" if x is None else fmt.format(x)


def _iv(iv) -> str:
    return "" if iv is None else f"[{iv[0]:+.3f}, {iv[1]:+.3f}]"


def nulls_csv(drifts: list[DriftNull], recs: list[RecoveryNull]) -> str:
    lines = ["table,dataset,system,quantity,observed,observed_ci95,null_drift_matched_95,"
             "null_adam_noise,null_permuted,beats_null"]
    for x in drifts:
        for k in analysis.DRIFT_PARAMS:
            noise = None if x.noise_rel is None else x.noise_rel[k]
            perm = None if x.permuted_rel is None else x.permuted_rel[k]
            beats = "" if noise is None else str(drift_beats(x, k)).lower()
            ci = (x.observed_rel_ci95 or {}).get(k)
            lines.append(f"drift,{x.dataset},{x.system},{k}_relative,{x.observed_rel[k]:.4f},"
                         f"\"{_iv(ci)}\",,"
                         f"{'' if noise is None else f'{noise:.4f}'},"
                         f"{'' if perm is None else f'{perm:.4f}'},{beats}")
    for r in recs:
        for name, val, ci, null, perm in (
                ("recovery", r.recovery, r.recovery_ci95, r.recovery_null, r.permuted_recovery),
                ("coverage_gain", r.coverage_gain, r.coverage_ci95, r.coverage_null, r.permuted_coverage)):
            beats = val > null[1] and (perm is None or val > perm)
            lines.append(f"recovery,{r.dataset},{r.system},{name},{val:.4f},\"{_iv(ci)}\","
                         f"\"{_iv(null)}\",,{'' if perm is None else f'{perm:.4f}'},{str(beats).lower()}")
    return "\n".join(lines) + "\n"


def nulls_markdown(drifts: list[DriftNull], recs: list[RecoveryNull]) -> str:
    out = ["# Filter analysis against its nulls", "",
           "## Drift: median change from initialisation, beside what noise gives", "",
           "| dataset | system | parameter | observed (relative) [95 % CI] | Adam on noise | "
           "label-permuted | beats both |",
           "|---|---|---|---:|---:|---:|---|"]
    for x in drifts:
        for k in analysis.DRIFT_PARAMS:
            noise = None if x.noise_rel is None else x.noise_rel[k]
            perm = None if x.permuted_rel is None else x.permuted_rel[k]
            ok = drift_beats(x, k)
            beats = "n/a" if ok is None else ("yes" if ok else "no")
            ci = (x.observed_rel_ci95 or {}).get(k)
            iv = "" if ci is None else f" [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
            out.append(f"| {x.dataset} | {x.system} | {k} | {100 * x.observed_rel[k]:.1f} %{iv} | "
                       f"{'' if noise is None else f'{100 * noise:.1f} %'} | "
                       f"{'' if perm is None else f'{100 * perm:.1f} %'} | {beats} |")
    out += ["", "Adam on noise: the median displacement of a parameter fed pure-noise gradients at "
            "the run's frontend learning rate for the run's steps up to its kept weights, relative "
            "to the actual initial values (orientation: /π). Beats both: the observed median and "
            "the low end of its 95 % interval (filters resampled) above both nulls.", "",
            "## Recovery and coverage, beside the drift-matched null", "",
            "| dataset | system | runs | recovery [95 % CI] | drift-matched null (95 %) | permuted | "
            "coverage gain [95 % CI] | drift-matched null (95 %) | permuted | beats null |",
            "|---|---|---:|---|---|---:|---|---|---:|---|"]
    for r in recs:
        out.append(f"| {r.dataset} | {r.system} | {r.n_runs} | {r.recovery:+.3f} {_iv(r.recovery_ci95)} | "
                   f"{_iv(r.recovery_null)} | {_f(r.permuted_recovery)} | "
                   f"{r.coverage_gain:+.3f} {_iv(r.coverage_ci95)} | {_iv(r.coverage_null)} | "
                   f"{_f(r.permuted_coverage)} | {'yes' if r.beats_null else 'no'} |")
    out += ["", "Drift-matched null: each filter keeps its own step length in log-modulation space and "
            f"takes a random direction ({NULL_DRAWS} draws, pooled over runs as a mean); a recovery "
            "only says the filters moved towards the planted evidence when it lies above the null's "
            "upper bound (and above the label-permuted runs, where present). Frozen systems score 0.",
            ""]
    return "\n".join(out)


# ---------------------------------------------------------------- task similarity beside permuted runs

@dataclass(frozen=True)
class SimilarityNull:
    a: str
    b: str
    change_distance: float              # what learning changed, task a vs task b (real labels)
    permuted_distance: float | None     # the same between the two tasks' label-permuted runs
    real_vs_permuted: tuple[float | None, float | None]   # per task: real vs permuted changes

    @property
    def beats_null(self) -> bool | None:
        if self.permuted_distance is None:
            return None
        return self.change_distance > self.permuted_distance


def similarity_nulls(runs: list[Run], reference: str = analysis.REFERENCE) -> list[SimilarityNull]:
    """Energy distances between the filter changes of two tasks, beside the distance
    their label-permuted runs give: tasks that differ only as much as their permuted
    runs do were not told apart by what they had to learn."""
    groups = analysis.learnable_runs(runs)

    def changes(d, s):   # filters resolved on both axes only, as task_similarity takes them
        g = groups.get((d, s))
        c = np.concatenate([similarity.resolved_changes(r) for r in g]) if g else None
        return c if c is not None and len(c) else None

    real_names = {d for (d, s) in groups if s == reference}
    names = analysis.dataset_order({d for d in real_names if changes(d, reference) is not None})
    real = {d: changes(d, reference) for d in names}
    perm = {d: changes(d, reference + PERMUTED_SUFFIX) for d in names}
    rvp = {d: (analysis.energy_distance_2d(real[d], perm[d]) if perm[d] is not None else None)
           for d in names}
    out = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pd = (analysis.energy_distance_2d(perm[a], perm[b])
                  if perm[a] is not None and perm[b] is not None else None)
            out.append(SimilarityNull(a, b, analysis.energy_distance_2d(real[a], real[b]), pd,
                                      (rvp[a], rvp[b])))
    return out


def similarity_markdown(rows: list[SimilarityNull]) -> str:
    out = ["## Task similarity beside the label-permuted runs", ""]
    if not rows:
        return "\n".join(out + ["Fewer than two tasks with learnable runs.", ""])
    out += ["| task a | task b | change distance | permuted runs' distance | a: real vs permuted "
            "| b: real vs permuted | beats null |", "|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        beats = "n/a" if r.beats_null is None else ("yes" if r.beats_null else "no")
        out.append(f"| {r.a} | {r.b} | {r.change_distance:.3f} | {_f(r.permuted_distance, '{:.3f}')} | "
                   f"{_f(r.real_vs_permuted[0], '{:.3f}')} | {_f(r.real_vs_permuted[1], '{:.3f}')} | "
                   f"{beats} |")
    out += ["", "Energy distances between the pooled per-filter changes (final − init, "
            "log-modulation space). A difference between tasks is read only where it exceeds the "
            "distance between the same tasks' label-permuted runs (n/a: no permuted runs; the "
            "permutation test over runs in `task_similarity.csv` still applies).", ""]
    return "\n".join(out)


def similarity_csv(rows: list[SimilarityNull]) -> str:
    lines = ["dataset_a,dataset_b,change_distance,permuted_distance,real_vs_permuted_a,"
             "real_vs_permuted_b,beats_null"]
    for r in rows:
        beats = "" if r.beats_null is None else str(r.beats_null).lower()
        lines.append(f"{r.a},{r.b},{r.change_distance:.4f},{_f(r.permuted_distance, '{:.4f}')},"
                     f"{_f(r.real_vs_permuted[0], '{:.4f}')},{_f(r.real_vs_permuted[1], '{:.4f}')},"
                     f"{beats}")
    return "\n".join(lines) + "\n"
