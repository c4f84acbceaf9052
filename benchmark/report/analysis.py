"""Statistics and filter analysis behind the tables and plots (no I/O, no drawing).

Everything here is a pure function of the loaded runs, so the same runs give the
same numbers: bootstrap intervals use a fixed generator, ties are broken by name.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

from benchmark.kernels import gabor_kernels_np as kernels_np
from benchmark.kernels import grid_spacing
from benchmark.report.runs import GABOR_KEYS, Run

log = logging.getLogger("benchmark.report")

REFERENCE = "learnable_gabor"      # the system under test in the paired comparison
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_SEED = 0
MIN_PAIRS = 6   # below this a two-sided Wilcoxon test can never reach p < 0.05

# Table columns in paper order: (dataset, metric). Core datasets always get a
# column (a missing one then says why); optional ones only when present.
COLUMNS = (
    ("ami", "detection_error_rate"),
    ("chime5", "detection_error_rate"),
    ("voxceleb1", "accuracy"),
    ("voxceleb1", "eer"),
    ("zebra_finch", "accuracy"),
    ("urbansound8k", "accuracy"),
    ("esc50", "accuracy"),
)
OPTIONAL_DATASETS = frozenset({"esc50"})
DEFAULT_DIRECTIONS = {"detection_error_rate": "min", "false_alarm_rate": "min",
                      "miss_rate": "min", "eer": "min"}
METRIC_LABELS = {"detection_error_rate": "DetER", "eer": "EER", "accuracy": "accuracy",
                 "balanced_accuracy": "balanced accuracy", "macro_f1": "macro-F1",
                 "false_alarm_rate": "false alarm", "miss_rate": "miss"}


def direction_of(metric: str, runs: list[Run] = ()) -> str:
    for r in runs:
        if metric in r.directions:
            return r.directions[metric]
    return DEFAULT_DIRECTIONS.get(metric, "max")


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


# ---------------------------------------------------------------- ordering

def system_order(present: set[str]) -> list[str]:
    """Registered systems in display (rank) order, then unregistered ones by name.

    Registered systems with no runs are listed too: their rows say "not run".
    """
    registered: list[str] = []
    try:
        from benchmark.registry import systems

        registered = [s.name for s in systems()]
    except Exception as e:  # a broken baseline file must not stop the report
        log.warning("system registry unavailable (%s: %s); ordering systems by name",
                    type(e).__name__, e)
    return registered + sorted(present - set(registered))


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


# ---------------------------------------------------------------- summary cells

@dataclass(frozen=True)
class Cell:
    dataset: str
    system: str
    metric: str
    direction: str
    values: tuple[float, ...]     # one per (seed, fold), in (seed, fold) order
    mean: float
    std: float                    # sample std (ddof=1); 0.0 when n == 1
    ci95: tuple[float, float] | None   # None when n < 2
    frontend_trainable: int | None
    total_trainable: int | None
    data_source: str              # twin | real | mixed
    profile: str                  # profiles joined by "+"

    @property
    def n(self) -> int:
        return len(self.values)


def _rng_kwargs() -> dict:
    # scipy >= 1.15 takes ``rng``; older versions only ``random_state``.
    params = inspect.signature(stats.bootstrap).parameters
    key = "rng" if "rng" in params else "random_state"
    return {key: np.random.default_rng(BOOTSTRAP_SEED)}


def ci95(values: np.ndarray) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean; None for fewer than two values.

    Percentile rather than BCa: with 2-10 values BCa's acceleration estimate is
    unstable and often undefined.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return None
    if np.ptp(values) == 0:
        return (float(values[0]), float(values[0]))
    res = stats.bootstrap((values,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES,
                          confidence_level=0.95, method="percentile", **_rng_kwargs())
    return (float(res.confidence_interval.low), float(res.confidence_interval.high))


def _first(values) -> int | None:
    vals = [v for v in values if v is not None]
    return Counter(vals).most_common(1)[0][0] if vals else None


def summarize(runs: list[Run]) -> list[Cell]:
    """One cell per dataset x system x metric, sorted by dataset, system order, metric."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.system), []).append(r)
    sys_rank = {s: i for i, s in enumerate(system_order({r.system for r in runs}))}
    ds_rank = {d: i for i, d in enumerate(dataset_order({r.dataset for r in runs}))}
    cells = []
    for (dataset, system), group in sorted(groups.items(),
                                           key=lambda kv: (ds_rank[kv[0][0]], sys_rank[kv[0][1]])):
        group = sorted(group, key=lambda r: r.key)
        sources = sorted({r.data_source for r in group})
        source = sources[0] if len(sources) == 1 else "mixed"
        for metric in sorted({m for r in group for m in r.metrics}):
            have = [r for r in group if metric in r.metrics]
            vals = np.array([r.metrics[metric] for r in have])
            cells.append(Cell(
                dataset, system, metric, direction_of(metric, have), tuple(float(v) for v in vals),
                float(vals.mean()), float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
                ci95(vals),
                _first(r.frontend_trainable for r in have), _first(r.total_trainable for r in have),
                source,
                "+".join(sorted({r.profile for r in have})),
            ))
    return cells


# ---------------------------------------------------------------- paired comparison

@dataclass(frozen=True)
class Paired:
    dataset: str
    metric: str
    direction: str
    other: str
    n: int
    mean_diff: float | None       # reference - other, in metric units
    wins: int                     # pairs where the reference is better
    losses: int
    p_value: float | None
    note: str                     # why p is missing, else ""

    @property
    def verdict(self) -> str:
        if self.mean_diff is None:
            return "n/a"
        gain = self.mean_diff if self.direction == "max" else -self.mean_diff
        return "better" if gain > 0 else "worse" if gain < 0 else "tie"


def paired(runs: list[Run], reference: str = REFERENCE) -> list[Paired]:
    """The reference system against every other system, per dataset, on its main metric.

    Runs are matched on (seed, fold). The test is the Wilcoxon signed-rank test
    (two-sided, zero differences dropped): seed/fold differences are few and need
    not be normal, which a paired t-test assumes.
    """
    out = []
    datasets = dataset_order({r.dataset for r in runs})
    order = system_order({r.system for r in runs})
    for d in datasets:
        metric = main_metric(runs, d)
        here = [r for r in runs if r.dataset == d and metric in r.metrics]
        ref = {r.key: r.metrics[metric] for r in here if r.system == reference}
        if not ref:
            continue
        direction = direction_of(metric, here)
        for other in order:
            if other == reference:
                continue
            oth = {r.key: r.metrics[metric] for r in here if r.system == other}
            if not oth:
                continue
            keys = sorted(set(ref) & set(oth))
            diff = np.array([ref[k] - oth[k] for k in keys])
            gain = diff if direction == "max" else -diff
            p, note = None, ""
            if len(keys) < MIN_PAIRS:
                note = f"n/a (n<{MIN_PAIRS})"
            elif not np.any(diff):
                note = "n/a (all differences zero)"
            else:
                p = float(stats.wilcoxon(diff, zero_method="wilcox").pvalue)
            out.append(Paired(d, metric, direction, other, len(keys),
                              float(diff.mean()) if keys else None,
                              int((gain > 0).sum()), int((gain < 0).sum()), p, note))
    return out


# ---------------------------------------------------------------- filters in modulation space

def gabor_arrays(block: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(block[k], dtype=float) for k in GABOR_KEYS}


def modulations(params: dict, frame_rate_hz: float, mel_bins_per_octave: float,
                spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """The layer's conversion (temporal Hz, spectral cycles/octave, direction) as float arrays."""
    from benchmark.units import modulations as layer_modulations

    m = layer_modulations(params, frame_rate_hz, mel_bins_per_octave, spacing=spacing)
    return {k: np.asarray(m[k], dtype=float) for k in ("temporal_hz", "spectral_cyc_per_oct", "direction")}


def run_modulations(run: Run, which: str = "final") -> dict[str, np.ndarray]:
    g = run.gabor
    kind = _grid_of(run)
    spacing = tuple(grid_spacing(k, kind) for k in g["kernel_size"])
    return modulations(g[which], g["frame_rate_hz"], g["mel_bins_per_octave"], spacing)


def _grid_of(run: Run) -> str:
    """The kernel grid a run used ("centered" unless its config says otherwise)."""
    cfg = run.config
    for block in (cfg, cfg.get("frontend"), cfg.get("model")):
        if isinstance(block, dict) and block.get("grid") in ("centered", "reference"):
            return block["grid"]
    return "centered"


def gabor_kernels_np(sigma_t, sigma_f, frequency, orientation, kernel_size,
                     grid: str = "centered") -> tuple[np.ndarray, np.ndarray]:
    """(real, imag) kernels of shape (K_t, K_f, filters), exactly as the layer builds them."""
    re, im = kernels_np(sigma_t, sigma_f, frequency, orientation, tuple(kernel_size), grid=grid)
    return np.asarray(re, dtype=float), np.asarray(im, dtype=float)


def run_kernels(run: Run) -> tuple[np.ndarray, np.ndarray]:
    p = gabor_arrays(run.gabor["final"])
    return gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                            run.gabor["kernel_size"], grid=_grid_of(run))


@dataclass(frozen=True)
class Moves:
    n: int
    temporal_up: int
    temporal_down: int
    spectral_up: int
    spectral_down: int

    def describe(self) -> str:
        return (f"of {self.n} filters, {self.temporal_up} moved to higher and "
                f"{self.temporal_down} to lower temporal modulation; "
                f"{self.spectral_up} to higher and {self.spectral_down} to lower spectral modulation")


def moves(run: Run) -> Moves:
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    dt = b["temporal_hz"] - a["temporal_hz"]
    ds = b["spectral_cyc_per_oct"] - a["spectral_cyc_per_oct"]
    return Moves(int(dt.size), int((dt > 0).sum()), int((dt < 0).sum()),
                 int((ds > 0).sum()), int((ds < 0).sum()))


def learnable_runs(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """(dataset, system) -> runs whose Gabor parameters were trained, (seed, fold) order."""
    out: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        if r.gabor is not None and r.gabor["learnable"]:
            out.setdefault((r.dataset, r.system), []).append(r)
    rank = {d: i for i, d in enumerate(dataset_order({d for d, _ in out}))}
    return {k: sorted(v, key=lambda r: r.key)
            for k, v in sorted(out.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1]))}


DRIFT_PARAMS = GABOR_KEYS


def drift(group: list[Run]) -> dict[str, float]:
    """Median change from init over all filters of all runs, per parameter.

    Scales (sigma_t, sigma_f, frequency): |final - init| / |init| (relative).
    Orientation: |final - init| wrapped to [-pi, pi], divided by pi.
    """
    out = {}
    for k in DRIFT_PARAMS:
        a = np.concatenate([gabor_arrays(r.gabor["init"])[k] for r in group])
        b = np.concatenate([gabor_arrays(r.gabor["final"])[k] for r in group])
        if k == "orientation":
            rel = np.abs(np.angle(np.exp(1j * (b - a)))) / np.pi
        else:
            rel = np.abs(b - a) / np.maximum(np.abs(a), 1e-12)
        out[k] = float(np.median(rel))
    return out


def modulation_points(group: list[Run]) -> np.ndarray:
    """Final filters of all runs as (log2(1 + temporal Hz), log2(1 + spectral cyc/oct))."""
    pts = []
    for r in group:
        m = run_modulations(r)
        pts.append(np.stack([np.log2(1 + m["temporal_hz"]),
                             np.log2(1 + m["spectral_cyc_per_oct"])], axis=1))
    return np.concatenate(pts)


def energy_distance_2d(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance between two 2-D samples: sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|)."""
    d2 = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    return float(math.sqrt(max(d2, 0.0)))


def task_distances(runs: list[Run], reference: str = REFERENCE) -> tuple[list[str], np.ndarray]:
    """Datasets and their pairwise energy distances between learned-filter distributions.

    Each dataset's sample is the reference system's final filters, pooled over
    seeds and folds, in (log2(1 + Hz), log2(1 + cyc/oct)): log-like so that 2 vs
    4 Hz counts as much as 16 vs 32 Hz, finite at zero modulation.
    """
    groups = {d: g for (d, s), g in learnable_runs(runs).items() if s == reference}
    names = dataset_order(set(groups))
    pts = {d: modulation_points(groups[d]) for d in names}
    dist = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            dist[i, j] = dist[j, i] = energy_distance_2d(pts[a], pts[names[j]])
    return names, dist
