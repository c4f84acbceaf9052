"""Intervals on result cells and paired tests between systems, in NumPy and SciPy only.

A *run* is one (seed, fold) cell of one system: a mapping of equal-length columns,
one row per test item (a clip, a 10-second meeting block, a verification trial).
Two columns are required: ``item``, a unique id per row (the same ids for every
system in a cell), and ``unit``, the resampling cluster (a clip or a block is its
own unit; the trials of one enrolment speaker share a unit, because they are not
independent of each other).

A *metric* is ``metric(columns, weights) -> float`` where ``weights`` are per-row
multiplicities. Resampling then never copies rows: a unit drawn k times gives each
of its rows weight k, a unit not drawn weight 0. A metric must therefore depend
only on the weighted multiset of rows (a zero-weight row is absent). A metric may
carry a ``batched`` attribute, ``batched(columns, W) -> (k,)`` for a 2-D weights
array ``W`` of shape (k, n_rows); the resamplers use it when present and otherwise
call the metric once per weights row.

Uncertainty has two sources, and :func:`cell_interval` resamples both: which runs
(seeds, folds) were trained, and which units were in the test set. Each bootstrap
resample draws runs with replacement, then units with replacement inside each drawn
run, and averages the runs' metric values (the same average as the estimate); the
interval is the percentile interval of those averages. With one run only the units
are resampled, so a single run still gets an interval that reflects its test set.

:func:`paired_difference` applies the same draws to both systems, so what the two
share (the test items, the seeds and folds) cancels in the difference. Its p-value
comes from a paired randomisation test: under the null hypothesis that the two
systems are exchangeable, swapping their outputs on any unit leaves the
distribution of the difference unchanged, so each unit of each run is swapped
with probability 1/2. For accuracy with one clip per unit this is the exact sign
test on the discordant clips, up to Monte-Carlo error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

Metric = Callable[[Mapping[str, np.ndarray], np.ndarray], float]

_ID_COLUMNS = ("item", "unit")
# Resamples are evaluated in chunks of at most this many weights (rows x resamples),
# so that 2000 resamples of ~37k verification trials do not hold 600 MB at once.
_CHUNK_ELEMENTS = 1 << 22
# Ties in the permutation test: |d*| >= |d_obs| up to float rounding of sums.
_TIE_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Interval:
    """A metric's estimate over the runs of one cell, with a bootstrap interval."""

    estimate: float      # mean over runs of metric(run, all weights 1)
    low: float           # percentile interval at the requested level (95 % by default)
    high: float
    se: float            # bootstrap standard error of the estimate
    n_runs: int
    n_items: int         # rows per run (if runs differ: the minimum), e.g. test clips
    n_units: int         # resampling units per run (minimum over runs)


@dataclass(frozen=True)
class Difference:
    """A paired difference metric(A) - metric(B) with interval and randomisation p-value."""

    estimate: float      # mean over cells of metric(a) - metric(b)
    low: float
    high: float
    se: float
    p: float             # two-sided paired randomisation test
    n_runs: int
    n_items: int
    n_units: int


@dataclass(frozen=True)
class _Run:
    """One run's columns as arrays, and each row's unit as an index 0..n_units-1."""

    columns: dict[str, np.ndarray]
    unit_index: np.ndarray
    n_units: int

    @property
    def n_rows(self) -> int:
        return int(self.unit_index.size)


# ---------------------------------------------------------------- example metrics


# ---------------------------------------------------------------- public API


def cell_interval(
    runs: Sequence[Mapping[str, np.ndarray]],
    metric: Metric,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Estimate and two-level percentile bootstrap interval of ``metric`` over ``runs``.

    The estimate is the mean over runs of the metric with every weight 1. Each of
    ``n_resamples`` resamples draws ``len(runs)`` runs with replacement, draws units
    with replacement inside each drawn run (a fresh draw each time a run is drawn),
    and averages the drawn runs' metric values. With a single run only its units
    are resampled. Resamples whose metric is not finite (e.g. no reference speech
    drawn) are left out of the interval. Deterministic for a given ``seed``.
    """
    _check_options(level, n_resamples)
    prepared = [_prepare(run, f"run {i}") for i, run in enumerate(_nonempty(runs))]

    def values(r: int, weights: np.ndarray) -> np.ndarray:
        return _evaluate(metric, prepared[r].columns, weights)

    estimate = float(np.mean([_full_value(metric, r, f"run {i}") for i, r in enumerate(prepared)]))
    boot = _two_level_bootstrap(prepared, values, n_resamples, np.random.default_rng(seed))
    low, high, se = _summarise(boot, level)
    return Interval(estimate=estimate, low=low, high=high, se=se, n_runs=len(prepared),
                    n_items=min(r.n_rows for r in prepared), n_units=min(r.n_units for r in prepared))


def paired_difference(
    runs_a: Sequence[Mapping[str, np.ndarray]],
    runs_b: Sequence[Mapping[str, np.ndarray]],
    metric: Metric,
    *,
    level: float = 0.95,
    n_resamples: int = 2000,
    n_permutations: int = 2000,
    seed: int = 0,
) -> Difference:
    """Paired difference metric(A) - metric(B) over matched cells, with interval and p-value.

    ``runs_a[i]`` and ``runs_b[i]`` are the same cell; their rows are matched by the
    ``item`` column, and both must give each item the same unit. The bootstrap is
    that of :func:`cell_interval` with the same draws applied to both systems. The
    p-value is a two-sided paired randomisation test: each permutation swaps the
    two systems' rows on each unit of each run with probability 1/2, and
    p = (1 + #{|d*| >= |d_obs|}) / (1 + n_permutations), so it is never 0.
    Deterministic for a given ``seed``.
    """
    _check_options(level, n_resamples)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be at least 1, got {n_permutations}")
    runs_a, runs_b = _nonempty(runs_a), _nonempty(runs_b)
    if len(runs_a) != len(runs_b):
        raise ValueError(f"system A has {len(runs_a)} runs and system B {len(runs_b)}; "
                         "a paired comparison needs the same cells for both")
    pairs = [_align(a, b, i) for i, (a, b) in enumerate(zip(runs_a, runs_b))]

    observed = []
    for i, (a, b) in enumerate(pairs):
        observed.append(_full_value(metric, a, f"cell {i} system A") - _full_value(metric, b, f"cell {i} system B"))
    estimate = float(np.mean(observed))

    rng = np.random.default_rng(seed)

    def differences(r: int, weights: np.ndarray) -> np.ndarray:
        a, b = pairs[r]
        return _evaluate(metric, a.columns, weights) - _evaluate(metric, b.columns, weights)

    boot = _two_level_bootstrap([a for a, _ in pairs], differences, n_resamples, rng)
    low, high, se = _summarise(boot, level)

    permuted = np.zeros(n_permutations)
    for a, b in pairs:
        permuted += _swapped_differences(metric, a, b, n_permutations, rng)
    permuted /= len(pairs)
    extreme = np.count_nonzero(np.abs(permuted) >= abs(estimate) - _TIE_TOLERANCE)
    p = (1 + extreme) / (1 + n_permutations)

    return Difference(estimate=estimate, low=low, high=high, se=se, p=float(p), n_runs=len(pairs),
                      n_items=min(a.n_rows for a, _ in pairs), n_units=min(a.n_units for a, _ in pairs))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values, in the input order.

    The k-th smallest of m p-values is multiplied by (m - k + 1); a running maximum
    keeps the adjusted values monotone in the raw ones, and they are capped at 1.
    NaN entries stay NaN and do not count towards m.
    """
    p = np.asarray(pvalues, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    finite = ~np.isnan(p)
    if np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError(f"p-values must lie in [0, 1], got {p[finite].tolist()}")
    idx = np.flatnonzero(finite)
    m = idx.size
    if m == 0:
        return out
    order = np.argsort(p[idx], kind="stable")
    scaled = p[idx][order] * (m - np.arange(m))
    out[idx[order]] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out


def minimum_detectable_difference(se: float, *, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true difference a two-sided test at ``alpha`` detects with ``power``.

    Normal approximation: (z_{1-alpha/2} + z_{power}) * se, about 2.8 se at the
    defaults. ``se`` is the standard error of the difference (e.g. Difference.se).
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got alpha={alpha}, power={power}")
    if not np.isfinite(se) or se < 0:
        raise ValueError(f"se must be a non-negative number, got {se}")
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * se)


# ---------------------------------------------------------------- internals


def _check_options(level: float, n_resamples: int) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")


def _nonempty(runs: Sequence[Mapping[str, np.ndarray]]) -> list[Mapping[str, np.ndarray]]:
    if isinstance(runs, Mapping):
        raise ValueError("runs must be a sequence of runs (column mappings), not a single run")
    runs = list(runs)
    if not runs:
        raise ValueError("no runs given")
    return runs


def _prepare(run: Mapping[str, np.ndarray], where: str) -> _Run:
    if not isinstance(run, Mapping):
        raise ValueError(f"{where}: a run must be a mapping of column name to array, got {type(run).__name__}")
    missing = [c for c in _ID_COLUMNS if c not in run]
    if missing:
        raise ValueError(f"{where}: missing column(s) {missing}; have {sorted(run)}")
    columns = {name: np.asarray(col) for name, col in run.items()}
    lengths = {name: col.shape[0] if col.ndim else -1 for name, col in columns.items()}
    if any(col.ndim != 1 for col in columns.values()) or len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: columns must be 1-D arrays of equal length, got lengths {lengths}")
    if lengths["item"] == 0:
        raise ValueError(f"{where}: the run has no rows")
    _, unit_index = np.unique(columns["unit"], return_inverse=True)
    unit_index = unit_index.reshape(-1)
    return _Run(columns=columns, unit_index=unit_index, n_units=int(unit_index.max()) + 1)


def _align(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], cell: int) -> tuple[_Run, _Run]:
    """Both systems' rows of one cell, sorted by item, after checking they match."""
    ra, rb = _prepare(a, f"cell {cell} system A"), _prepare(b, f"cell {cell} system B")
    if set(ra.columns) != set(rb.columns):
        raise ValueError(f"cell {cell}: the systems have different columns: "
                         f"{sorted(ra.columns)} vs {sorted(rb.columns)}")
    sorted_runs = []
    for name, r in (("A", ra), ("B", rb)):
        order = np.argsort(r.columns["item"], kind="stable")
        items = r.columns["item"][order]
        dup = items[1:][items[1:] == items[:-1]]
        if dup.size:
            raise ValueError(f"cell {cell} system {name}: duplicate item ids, e.g. {_few(np.unique(dup))}")
        sorted_runs.append(_prepare({k: v[order] for k, v in r.columns.items()}, f"cell {cell} system {name}"))
    sa, sb = sorted_runs
    ia, ib = sa.columns["item"], sb.columns["item"]
    if ia.shape != ib.shape or not np.array_equal(ia, ib):
        only_a, only_b = np.setdiff1d(ia, ib), np.setdiff1d(ib, ia)
        raise ValueError(f"cell {cell}: the systems' items differ: only in A {_few(only_a)}, "
                         f"only in B {_few(only_b)}")
    if not np.array_equal(sa.columns["unit"], sb.columns["unit"]):
        bad = ia[sa.columns["unit"] != sb.columns["unit"]]
        raise ValueError(f"cell {cell}: the systems give different units to items {_few(bad)}")
    return sa, sb


def _few(ids: np.ndarray, k: int = 5) -> str:
    shown = [str(x) for x in ids[:k]]
    more = f" and {ids.size - k} more" if ids.size > k else ""
    return f"[{', '.join(shown)}]{more}"


def _evaluate(metric: Metric, columns: Mapping[str, np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Metric values for each row of a 2-D weights array, batched when the metric can."""
    batched = getattr(metric, "batched", None)
    if batched is not None:
        out = np.asarray(batched(columns, weights), dtype=np.float64).reshape(-1)
        if out.size != weights.shape[0]:
            raise ValueError(f"{getattr(metric, '__name__', 'metric')}.batched returned {out.size} values "
                             f"for {weights.shape[0]} weight rows")
        return out
    return np.array([metric(columns, w) for w in weights], dtype=np.float64)


def _full_value(metric: Metric, run: _Run, where: str) -> float:
    value = float(metric(run.columns, np.ones(run.n_rows)))
    if not np.isfinite(value):
        raise ValueError(f"{where}: the metric is {value} with every weight 1")
    return value


def _chunk(n_rows: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(1, n_rows))


def _unit_counts(rng: np.random.Generator, n: int, n_units: int) -> np.ndarray:
    """(n, n_units) counts of units drawn n_units times with replacement, per row."""
    draws = rng.integers(0, n_units, size=(n, n_units))
    offsets = (np.arange(n) * n_units)[:, None]
    return np.bincount((draws + offsets).ravel(), minlength=n * n_units).reshape(n, n_units)


def _two_level_bootstrap(
    runs: list[_Run],
    values: Callable[[int, np.ndarray], np.ndarray],
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Per resample, the mean over drawn runs of ``values(run index, weights)``.

    ``runs`` give each run's rows and units; ``values`` maps a (k, n_rows) weights
    array of run r to k metric values (or paired differences).
    """
    n_runs = len(runs)
    # Which run fills each of the n_runs slots of each resample. With one run every
    # slot is that run, and only its units vary.
    slots = rng.integers(0, n_runs, size=(n_resamples, n_runs)) if n_runs > 1 \
        else np.zeros((n_resamples, 1), dtype=np.int64)
    totals = np.zeros(n_resamples)
    for r, run in enumerate(runs):
        # Resample index of every slot that drew run r (a run drawn twice in one
        # resample appears twice, each time with its own unit draw).
        owners = np.nonzero(slots == r)[0]
        step = _chunk(run.n_rows)
        for start in range(0, owners.size, step):
            part = owners[start:start + step]
            weights = _unit_counts(rng, part.size, run.n_units)[:, run.unit_index].astype(np.float64)
            np.add.at(totals, part, values(r, weights))
    return totals / n_runs


def _swapped_differences(metric: Metric, a: _Run, b: _Run, n_permutations: int,
                         rng: np.random.Generator) -> np.ndarray:
    """metric(A*) - metric(B*) for random unit-wise swaps of A's and B's rows.

    A and B are stacked into one table of 2n rows; a swap is then only a choice of
    weights (A* takes B's copy of a swapped unit's rows, B* takes A's), so the
    batched metric applies and no columns are rebuilt per permutation.
    """
    stacked = {name: np.concatenate([a.columns[name], b.columns[name]]) for name in a.columns}
    out = np.empty(n_permutations)
    step = _chunk(2 * a.n_rows)
    for start in range(0, n_permutations, step):
        n = min(step, n_permutations - start)
        swap = rng.integers(0, 2, size=(n, a.n_units)).astype(np.float64)[:, a.unit_index]
        keep = 1.0 - swap
        wa = np.concatenate([keep, swap], axis=1)
        wb = np.concatenate([swap, keep], axis=1)
        out[start:start + n] = _evaluate(metric, stacked, wa) - _evaluate(metric, stacked, wb)
    return out


def _summarise(boot: np.ndarray, level: float) -> tuple[float, float, float]:
    """Percentile interval and standard error of the finite bootstrap values."""
    finite = boot[np.isfinite(boot)]
    if finite.size < 2:
        return float("nan"), float("nan"), float("nan")
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return float(low), float(high), float(np.std(finite, ddof=1))
