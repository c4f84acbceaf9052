"""Orderings, metric directions and intervals every report table shares (no I/O).

Pure functions of the loaded runs: the system order is read from the system
registry (no Keras), metric directions from the metric registry, and the
bootstrap intervals use a fixed generator, so the same runs give the same numbers.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter

import numpy as np
from scipy import stats

from benchmark.datasets import dataset_info, dataset_names
from benchmark.metrics import METRICS
from benchmark.report.runs import Run
from benchmark.systems import system_ranks

log = logging.getLogger("benchmark.report")

REFERENCE = "learnable_gabor"      # the system under test in the paired comparison
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0


def _declared_columns() -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """(dataset, metric) columns in table order, and the optional datasets, from the recipes.

    Core datasets always get a column (a missing one then says why); optional ones
    only when they have runs.
    """
    infos = [dataset_info(d) for d in dataset_names()]
    return (tuple((i.name, m) for i in infos for m in i.metrics),
            frozenset(i.name for i in infos if i.optional))


COLUMNS, OPTIONAL_DATASETS = _declared_columns()


def direction_of(metric: str, runs: list[Run] = ()) -> str:
    for r in runs:
        if metric in r.directions:
            return r.directions[metric]
    return METRICS[metric].direction if metric in METRICS else "max"


def metric_label(metric: str) -> str:
    return METRICS[metric].label if metric in METRICS else metric.replace("_", " ")


# ---------------------------------------------------------------- ordering

def system_order(present: set[str]) -> list[str]:
    """Registered systems in display (rank) order, then unregistered ones by name.

    Registered systems with no runs are listed too: their rows say "not run".
    """
    registered = [name for name, _ in sorted(_declared_systems().items(),
                                             key=lambda kv: (kv[1], kv[0]))]
    return registered + sorted(present - set(registered))


def _declared_systems() -> dict[str, int]:
    """name -> rank of every registered system (listing systems imports no Keras)."""
    return system_ranks()


def table_columns(runs: list[Run], missing: dict[str, str]) -> list[tuple[str, str]]:
    """(dataset, metric) columns: the paper's order, then any other dataset present."""
    present = {r.dataset for r in runs} | set(missing)
    cols = [c for c in COLUMNS if c[0] not in OPTIONAL_DATASETS or c[0] in present]
    known = {d for d, _ in COLUMNS}
    for d in sorted(present - known):
        mains = Counter(r.main_metric for r in runs if r.dataset == d)
        if mains:
            cols.append((d, sorted(mains.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]))
    return cols


def dataset_order(datasets: set[str]) -> list[str]:
    canon = list(dict.fromkeys(d for d, _ in COLUMNS))
    return [d for d in canon if d in datasets] + sorted(datasets - set(canon))


def main_metric(runs: list[Run], dataset: str) -> str | None:
    """The dataset's most common main metric (ties by name)."""
    mains = Counter(r.main_metric for r in runs if r.dataset == dataset)
    if not mains:
        return None
    return sorted(mains.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]


# ---------------------------------------------------------------- intervals of filter statistics

def _rng_kwargs() -> dict:
    # scipy >= 1.15 takes ``rng``; older versions only ``random_state``.
    params = inspect.signature(stats.bootstrap).parameters
    key = "rng" if "rng" in params else "random_state"
    return {key: np.random.default_rng(BOOTSTRAP_SEED)}


def ci95(values: np.ndarray) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of per-filter values; None for fewer than two.

    Percentile rather than BCa: with few values BCa's acceleration estimate is unstable.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None
    if np.ptp(values) == 0:
        return (float(values[0]), float(values[0]))
    res = stats.bootstrap((values,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES,
                          confidence_level=0.95, method="percentile", **_rng_kwargs())
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _tidy(x: float) -> float:
    """Rounding noise (a filter placed exactly on a point ends 1e-16 away) printed as 0."""
    return 0.0 if abs(x) < 1e-12 else float(x)
