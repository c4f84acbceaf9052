"""Recovery and coverage of the planted modulations (synthetic twins)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.report.modulation import (_gabor_groups, folded_distance, log_coords, run_points,
                                         run_resolved)
from benchmark.report.order import _tidy, ci95
from benchmark.report.runs import Run


def evidence_points(planted) -> list[np.ndarray]:
    """Per planted evidence entry, its point(s) in log-modulation space.

    A ±1 entry is one signed point; a 0 entry (no sweep: a separable pattern,
    which is the sum of an upward and a downward one) is both (u, v) and (u, -v).
    """
    out = []
    for e in planted:
        t, s, d = e["temporal_hz"], e["spectral_cyc_per_oct"], e["direction"]
        if d == 0:
            out.append(np.concatenate([log_coords([t], [s], [1]), log_coords([t], [s], [-1])]))
        else:
            out.append(log_coords([t], [s], [d]))
    return out


@dataclass(frozen=True)
class RunRecovery:
    run: Run
    d_init: np.ndarray        # per filter: distance to the nearest evidence point at init
    d_final: np.ndarray       # ... and at the end of training
    cover_init: np.ndarray    # per evidence entry: distance to the nearest filter at init
    cover_final: np.ndarray

    @property
    def recovery(self) -> float:
        """Mean over filters of d_init - d_final (log2 units; > 0: moved towards evidence);
        filters resolved on neither axis (NaN) are left out."""
        return float(np.nanmean(self.d_init - self.d_final))

    @property
    def coverage_gain(self) -> float:
        """Mean over evidence entries of how much nearer the nearest filter got."""
        return float(np.mean(self.cover_init - self.cover_final))


def evidence_distances(points: np.ndarray, planted, resolved: np.ndarray | None = None) -> np.ndarray:
    """(filters, entries) distances, an entry's being that of its nearer variant."""
    return np.stack([folded_distance(points, e, resolved).min(axis=1)
                     for e in evidence_points(planted)], axis=1)


def _nanmin0(d: np.ndarray) -> np.ndarray:
    """Column minima ignoring NaN rows (filters resolved on no axis); NaN if all are."""
    return np.array([np.nanmin(c) if np.isfinite(c).any() else np.nan for c in d.T])


def run_recovery(run: Run) -> RunRecovery:
    mask = run_resolved(run)
    per = {}
    for which in ("init", "final"):
        d = evidence_distances(run_points(run, which), run.planted, mask)
        per[which] = (d.min(axis=1), _nanmin0(d))
    return RunRecovery(run, per["init"][0], per["final"][0], per["init"][1], per["final"][1])


@dataclass(frozen=True)
class Recovery:
    dataset: str
    system: str
    learnable: bool
    n_runs: int
    n_filters: int
    n_evidence: int
    d_init: float             # mean over runs of the mean over filters
    d_final: float
    recovery: float           # mean over runs of per-run recovery
    recovery_ci95: tuple[float, float] | None
    closed_fraction: float | None   # recovery / d_init
    coverage_gain: float
    coverage_ci95: tuple[float, float] | None
    data_source: str


def recovery(runs: list[Run]) -> list[Recovery]:
    """Per dataset and Gabor system with planted evidence: recovery over seeds x folds.

    Frozen systems are included: their final filters are their initial ones, so
    their recovery is zero by construction: the floor a learnable system must beat.
    """
    out = []
    for (d, s), group in _gabor_groups([r for r in runs if r.planted], learnable_only=False).items():
        recs = [run_recovery(r) for r in group]
        rec = np.array([x.recovery for x in recs])
        cov = np.array([x.coverage_gain for x in recs])
        d_init = _tidy(np.mean([np.nanmean(x.d_init) for x in recs]))
        sources = sorted({r.data_source for r in group})
        out.append(Recovery(
            d, s, bool(all(r.gabor["learnable"] for r in group)), len(group),
            sum(x.d_init.size for x in recs), len(group[0].planted), d_init,
            _tidy(np.mean([np.nanmean(x.d_final) for x in recs])), _tidy(rec.mean()), ci95(rec),
            _tidy(rec.mean() / d_init) if d_init > 0 else None, _tidy(cov.mean()), ci95(cov),
            sources[0] if len(sources) == 1 else "mixed"))
    return out
