"""Orderings, metric directions and intervals every report table shares (no I/O).

Pure functions of the loaded runs: the system order is read from the baseline
files' source (no Keras), metric directions from the metric registry, and the
bootstrap intervals use a fixed generator, so the same runs give the same numbers.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import logging
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

from benchmark.metrics import METRICS
from benchmark.report.runs import Run

log = logging.getLogger("benchmark.report")

REFERENCE = "learnable_gabor"      # the system under test in the paired comparison
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0



def _declared_columns() -> tuple[tuple[tuple[str, str], ...], frozenset[str]]:
    """(dataset, metric) columns in table order, and the optional datasets, from the recipes.

    Core datasets always get a column (a missing one then says why); optional ones
    only when they have runs.
    """
    from benchmark.tasks import dataset_info, dataset_names

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


@functools.lru_cache(maxsize=1)
def _declared_systems() -> dict[str, int]:
    """name -> rank of every ``@register_system("name", ..., rank=N)`` in baselines/.

    Read from the source rather than by importing the registry: importing a
    baseline builds Keras layers, which a report does not need. Files starting
    with "_" (the template) are skipped as the registry skips them; a rank that
    is not a literal falls back to the registry's default.
    """
    try:
        spec = importlib.util.find_spec("baselines")
        folders = list(spec.submodule_search_locations or []) if spec else []
    except (ImportError, ValueError):
        folders = []
    if not folders:
        log.warning("baselines package not found; ordering systems by name")
    found: dict[str, int] = {}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError) as e:
                log.warning("cannot read baseline %s (%s); its system is ordered by name",
                            path.name, e)
                continue
            for node in ast.walk(tree):
                callee = getattr(node, "func", None)
                name = getattr(callee, "id", None) or getattr(callee, "attr", None)
                if not (isinstance(node, ast.Call) and name == "register_system"
                        and node.args and isinstance(node.args[0], ast.Constant)
                        and isinstance(node.args[0].value, str)):
                    continue
                rank = 100
                for kw in node.keywords:
                    if kw.arg == "rank" and isinstance(kw.value, ast.Constant) \
                            and isinstance(kw.value.value, int):
                        rank = kw.value.value
                found[node.args[0].value] = rank
    return found


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
