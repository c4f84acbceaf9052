"""Statistics and filter analysis behind the tables and plots (no I/O, no drawing).

Everything here is a pure function of the loaded runs, so the same runs give the
same numbers: bootstrap intervals and permutations use fixed generators, ties are
broken by name. NumPy and SciPy only: a report must build on a machine (or in a
process) without Keras or TensorFlow: the kernel maths comes from
:mod:`benchmark.kernels` (NumPy at import, Keras only when a layer builds its
kernels) and the system order is read from the baseline files' source.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import inspect
import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial.distance import cdist

from benchmark import units
from benchmark.kernels import gabor_kernels_np
from benchmark.metrics import METRICS
from benchmark.report.runs import GABOR_KEYS, Run

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


# ---------------------------------------------------------------- filters in modulation space

def gabor_arrays(block: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(block[k], dtype=float) for k in GABOR_KEYS}


def modulations(params: dict, frame_rate_hz: float, mel_bins_per_octave: float,
                spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """Temporal Hz, spectral cycles/octave and sweep direction as float arrays."""
    m = units.modulations(params, frame_rate_hz, mel_bins_per_octave, spacing=spacing)
    return {k: np.asarray(m[k], dtype=float) for k in ("temporal_hz", "spectral_cyc_per_oct", "direction")}


def _grid_of(run: Run) -> str:
    """The kernel grid a run used: ``gabor.grid``, else its config, else "centered"."""
    if run.gabor.get("grid") in ("centered", "reference"):
        return run.gabor["grid"]
    cfg = run.config
    for block in (cfg, cfg.get("frontend"), cfg.get("model")):
        if isinstance(block, dict) and block.get("grid") in ("centered", "reference"):
            return block["grid"]
    return "centered"


def run_modulations(run: Run, which: str = "final") -> dict[str, np.ndarray]:
    """The run's filters in modulation space, read from the 2-D DFT of the built
    kernels (peak, half-power bandwidths, resolved axes), not from the parameters:
    see :func:`benchmark.kernels.kernel_modulation`."""
    from benchmark.kernels import kernel_modulation

    g = run.gabor
    return kernel_modulation(gabor_arrays(g[which]), tuple(g["kernel_size"]), g["frame_rate_hz"],
                             g["mel_bins_per_octave"], _grid_of(run))


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
    return _gabor_groups(runs, learnable_only=True)


def _gabor_groups(runs: list[Run], learnable_only: bool) -> dict[tuple[str, str], list[Run]]:
    out: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        if r.gabor is not None and (r.gabor["learnable"] or not learnable_only):
            out.setdefault((r.dataset, r.system), []).append(r)
    ds_rank = {d: i for i, d in enumerate(dataset_order({d for d, _ in out}))}
    sys_rank = {s: i for i, s in enumerate(system_order({s for _, s in out}))}
    return {k: sorted(v, key=lambda r: r.key)
            for k, v in sorted(out.items(), key=lambda kv: (ds_rank[kv[0][0]], sys_rank[kv[0][1]]))}


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


# ---------------------------------------------------------------- log-modulation space
#
# A filter is a point (temporal Hz T, spectral cyc/oct S, direction). Distances
# are taken in u = log2(1 + T / 1 Hz), v = log2(1 + S / 0.1 cyc/oct): doubling a
# modulation well above the reference moves a point by 1, whatever the rate, and
# zero modulation stays finite. The sweep direction signs the spectral axis,
# w = ±v (upward +, downward -). A real-valued filter is the same for (ω_t, Ω_f)
# and (-ω_t, -Ω_f), so in the plane (±u, w) the points p and -p are one filter:
# the distance is min(|p - q|, |p + q|). That makes (0, v) and (0, -v) (a purely
# spectral filter has no direction) the same point, as they should be.

TEMPORAL_REF_HZ = 1.0
SPECTRAL_REF_CYC_PER_OCT = 0.1


def log_coords(temporal_hz, spectral_cyc_per_oct, direction) -> np.ndarray:
    """(n, 2) points (u, w) in signed log-modulation space, u >= 0."""
    u = np.log2(1 + np.asarray(temporal_hz, dtype=float) / TEMPORAL_REF_HZ)
    v = np.log2(1 + np.asarray(spectral_cyc_per_oct, dtype=float) / SPECTRAL_REF_CYC_PER_OCT)
    sign = np.where(np.asarray(direction) < 0, -1.0, 1.0)   # no direction: either sign, take +
    return np.stack([u, sign * v], axis=-1).reshape(-1, 2)


def folded_distance(p: np.ndarray, q: np.ndarray, resolved: np.ndarray | None = None) -> np.ndarray:
    """Pairwise distances (len(p), len(q)) between filters, with p and -p identified.

    ``resolved`` (len(p), 2), booleans per axis of each p: an axis on which a filter
    is unresolved (see :func:`benchmark.kernels.kernel_modulation`) is left out of
    its distances; a filter resolved on neither axis gets NaN (no distance).
    """
    p, q = np.asarray(p, dtype=float).reshape(-1, 2), np.asarray(q, dtype=float).reshape(-1, 2)
    if resolved is None:
        return np.minimum(cdist(p, q), cdist(p, -q))
    w = np.asarray(resolved, dtype=float).reshape(-1, 2)[:, None, :]
    d = np.minimum(np.sqrt((w * (p[:, None, :] - q[None]) ** 2).sum(-1)),
                   np.sqrt((w * (p[:, None, :] + q[None]) ** 2).sum(-1)))
    d[~np.asarray(resolved, dtype=bool).reshape(-1, 2).any(axis=1)] = np.nan
    return d


def run_points(run: Run, which: str = "final") -> np.ndarray:
    m = run_modulations(run, which)
    return log_coords(m["temporal_hz"], m["spectral_cyc_per_oct"], m["direction"])


def run_resolved(run: Run) -> np.ndarray:
    """(filters, 2): whether each filter's kernel resolves the (temporal, spectral) axis
    both at init and at the end, the axes its recovery distances may use."""
    a, b = run_modulations(run, "init"), run_modulations(run, "final")
    return np.stack([a["resolved_t"] & b["resolved_t"], a["resolved_f"] & b["resolved_f"]], axis=1)


def run_changes(run: Run) -> np.ndarray:
    """Per filter, final - init in log-modulation space, (n, 2).

    Of the two equivalent final points (p, -p) the one nearer the initial point is
    taken: a filter that crossed zero temporal modulation moved a little, not across
    the plane.
    """
    a, b = run_points(run, "init"), run_points(run, "final")
    flip = np.linalg.norm(-b - a, axis=1) < np.linalg.norm(b - a, axis=1)
    return np.where(flip[:, None], -b, b) - a


def modulation_shift(group: list[Run]) -> float:
    """Median over filters and runs of the distance moved in log-modulation space."""
    return float(np.median(np.concatenate([np.linalg.norm(run_changes(r), axis=1) for r in group])))


# ---------------------------------------------------------------- recovery of planted modulations

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


def _tidy(x: float) -> float:
    """Rounding noise (a filter placed exactly on a point ends 1e-16 away) printed as 0."""
    return 0.0 if abs(x) < 1e-12 else float(x)


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


# ---------------------------------------------------------------- task similarity against a null

PERMUTATIONS = 999
PERMUTATION_SEED = 0
ALPHA = 0.05


def energy_distance_2d(x: np.ndarray, y: np.ndarray) -> float:
    """Energy distance between two 2-D samples: sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|)."""
    d2 = 2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean()
    return float(math.sqrt(max(d2, 0.0)))


def _block_energy(sums: np.ndarray, counts: np.ndarray, in_a: np.ndarray) -> float:
    """Energy distance between the pooled points of runs in_a and the rest.

    ``sums[i, j]`` is the sum of distances between the points of runs i and j, so a
    relabelling of runs costs O(runs²), not a new distance matrix.
    """
    b = ~in_a
    na, nb = counts[in_a].sum(), counts[b].sum()
    exy = sums[np.ix_(in_a, b)].sum() / (na * nb)
    exx = sums[np.ix_(in_a, in_a)].sum() / (na * na)
    eyy = sums[np.ix_(b, b)].sum() / (nb * nb)
    return float(math.sqrt(max(2 * exy - exx - eyy, 0.0)))


def _block_sums(samples: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    allpts = np.concatenate(samples)
    cuts = np.cumsum([0] + [len(x) for x in samples])
    full = cdist(allpts, allpts)
    sums = np.add.reduceat(np.add.reduceat(full, cuts[:-1], axis=0), cuts[:-1], axis=1)
    return sums, np.diff(cuts)


def permutation_test(a: list[np.ndarray], b: list[np.ndarray], n_perm: int = PERMUTATIONS,
                     seed: int = PERMUTATION_SEED) -> tuple[float, float, int, bool]:
    """Energy distance between two groups of runs and its permutation p-value.

    ``a`` and ``b`` hold one (points, 2) array per run; the runs' labels are
    permuted (filters of one run stay together: they are not independent). When
    there are no more distinct relabellings than ``n_perm`` they are all
    enumerated (an exact test); otherwise ``n_perm`` random ones are drawn with a
    fixed seed and p = (1 + #{D* >= D}) / (1 + n_perm).
    Returns (distance, p, relabellings used, exact).
    """
    sums, counts = _block_sums(list(a) + list(b))
    n, na = len(a) + len(b), len(a)
    labels = np.zeros(n, dtype=bool)
    labels[:na] = True
    observed = _block_energy(sums, counts, labels)
    tol = 1e-9 * max(1.0, observed)   # equal statistics summed in another order
    total = math.comb(n, na)
    if total <= n_perm + 1:
        hits = 0
        for idx in itertools.combinations(range(n), na):
            lab = np.zeros(n, dtype=bool)
            lab[list(idx)] = True
            hits += _block_energy(sums, counts, lab) >= observed - tol
        return observed, hits / total, total, True
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_perm):
        hits += _block_energy(sums, counts, rng.permutation(labels)) >= observed - tol
    return observed, (1 + hits) / (1 + n_perm), n_perm, False


def min_attainable_p(n_a: int, n_b: int, n_perm: int = PERMUTATIONS) -> float:
    """The smallest p-value :func:`permutation_test` can return for these group sizes."""
    total = math.comb(n_a + n_b, n_a)
    if total > n_perm + 1:
        return 1 / (1 + n_perm)
    # equal groups: a relabelling and its mirror image give the same distance
    return (2 if n_a == n_b else 1) / total


def holm(p: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error rate), in input order."""
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


@dataclass(frozen=True)
class TaskPair:
    a: str
    b: str
    n_runs_a: int
    n_runs_b: int
    final_distance: float     # learned filters, physical units
    init_distance: float      # the same tasks' initial filters
    change_distance: float    # what learning did: final - init per filter
    p_value: float            # permutation test of change_distance over runs
    p_holm: float
    relabellings: int
    exact: bool
    min_p: float


@dataclass(frozen=True)
class Similarity:
    names: list[str]
    final: np.ndarray
    init: np.ndarray
    change: np.ndarray
    p_holm: np.ndarray
    pairs: list[TaskPair]
    groups: list[list[str]]   # connected groups of tasks not told apart; one group: no structure

    @property
    def distinguishable(self) -> list[TaskPair]:
        return [p for p in self.pairs if p.p_holm < ALPHA]


def task_similarity(runs: list[Run], reference: str = REFERENCE,
                    n_perm: int = PERMUTATIONS) -> Similarity:
    """Pairwise task distances on learned filters, initial filters, and the change.

    Every distance is an energy distance between the tasks' filters pooled over
    seeds and folds, in log-modulation space (physical units: each run converted
    with its own frame rate and bands per octave). Filters that start alike in grid
    units start apart in physical units when tasks use different frame rates, so
    a distance between learned filters can be pure units; the distance between
    the initial filters shows how much. The change (final - init per filter) is
    zero without learning whatever the units, so it is the quantity tested: a
    permutation test over runs, Holm-corrected over all pairs.
    """
    groups = {d: g for (d, s), g in learnable_runs(runs).items() if s == reference}
    names = dataset_order(set(groups))
    pts = {w: {d: [run_points(r, w) for r in groups[d]] for d in names} for w in ("init", "final")}
    chg = {d: [run_changes(r) for r in groups[d]] for d in names}
    k = len(names)
    mats = {w: np.zeros((k, k)) for w in ("final", "init", "change", "p")}
    raw = []
    for i, j in itertools.combinations(range(k), 2):
        a, b = names[i], names[j]
        fin = energy_distance_2d(np.concatenate(pts["final"][a]), np.concatenate(pts["final"][b]))
        ini = energy_distance_2d(np.concatenate(pts["init"][a]), np.concatenate(pts["init"][b]))
        dist, p, used, exact = permutation_test(chg[a], chg[b], n_perm=n_perm)
        raw.append((i, j, fin, ini, dist, p, used, exact))
    adjusted = holm([r[5] for r in raw])
    pairs = []
    p_holm = np.zeros((k, k))
    for (i, j, fin, ini, dist, p, used, exact), ph in zip(raw, adjusted):
        for w, v in (("final", fin), ("init", ini), ("change", dist)):
            mats[w][i, j] = mats[w][j, i] = v
        p_holm[i, j] = p_holm[j, i] = ph
        pairs.append(TaskPair(names[i], names[j], len(groups[names[i]]), len(groups[names[j]]),
                              fin, ini, dist, p, ph, used, exact,
                              min_attainable_p(len(groups[names[i]]), len(groups[names[j]]), n_perm)))
    # Tasks joined by a pair the test cannot separate fall into one group.
    parent = list(range(k))

    def root(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for pr in pairs:
        if pr.p_holm >= ALPHA:
            ra, rb = root(names.index(pr.a)), root(names.index(pr.b))
            parent[max(ra, rb)] = min(ra, rb)
    found: dict[int, list[str]] = {}
    for i, n in enumerate(names):
        found.setdefault(root(i), []).append(n)
    return Similarity(names, mats["final"], mats["init"], mats["change"], p_holm, pairs,
                      list(found.values()))


# ---------------------------------------------------------------- units of the spectral axis

@dataclass(frozen=True)
class AxisUnits:
    dataset: str
    frame_rate_hz: float
    bins_per_octave: float            # the one value the conversion uses
    n_mels: int | None
    fmin: float | None
    fmax: float | None
    bands_below_1khz: int | None
    bins_per_octave_lowest: float | None   # at the centre of the lowest band
    bins_per_octave_500hz: float | None    # None when 500 Hz is outside [fmin, fmax]


def _mel_axis(run: Run) -> tuple[int, float, float] | None:
    """(n_mels, fmin, fmax) from the gabor block, else the features block."""
    for block in (run.gabor, run.features):
        n, lo, hi = block.get("n_mels"), block.get("fmin"), block.get("fmax")
        if isinstance(n, int) and n > 0 and isinstance(lo, (int, float)) \
                and isinstance(hi, (int, float)) and hi > lo >= 0:
            return n, float(lo), float(hi)
    return None


def axis_units(runs: list[Run]) -> list[AxisUnits]:
    """Per dataset with Gabor runs: the conversion constants and how far the
    bands-per-octave density falls below them in the linear part of the mel scale."""
    out = []
    for d, group in _by_dataset([r for r in runs if r.gabor is not None]).items():
        r = group[0]
        axis = _mel_axis(r)
        n = lo = hi = below = lowest = at500 = None
        if axis is not None:
            n, lo, hi = axis
            centres = units.mel_center_hz(n, lo, hi)
            below = int((centres < 1000.0).sum())
            lowest = float(units.bins_per_octave_at(n, lo, hi, max(float(centres[0]), 1e-3)))
            if lo <= 500.0 <= hi:
                at500 = float(units.bins_per_octave_at(n, lo, hi, 500.0))
        out.append(AxisUnits(d, float(r.gabor["frame_rate_hz"]), float(r.gabor["mel_bins_per_octave"]),
                             n, lo, hi, below, lowest, at500))
    return out


def _by_dataset(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.dataset, []).append(r)
    return {d: sorted(out[d], key=lambda r: (r.system, r.key)) for d in dataset_order(set(out))}


def similarity_verdict(sim: Similarity) -> str:
    """One sentence on what the task-similarity test supports; claims a grouping only
    where pairs beat the permutation null after Holm's correction."""
    test = (f"permutation test over runs on the change (final − init), Holm-corrected, "
            f"α = {ALPHA:g}")
    if len(sim.names) < 2:
        return "Fewer than two tasks with learnable Gabor runs: no comparison."
    differ = sim.distinguishable
    if not differ:
        floor = min(p.min_p for p in sim.pairs)
        note = (f"; with these run counts the smallest attainable p is {floor:.3g}"
                if floor * len(sim.pairs) >= ALPHA else "")
        return f"The tasks are not distinguishable from the null ({test}{note})."
    pairs = ", ".join(f"{p.a}–{p.b}" for p in differ)
    if len(sim.groups) > 1:
        groups = " | ".join("{" + ", ".join(g) + "}" for g in sim.groups)
        return f"Learning changed the filters differently by task: {groups} ({test}; differing pairs: {pairs})."
    return (f"Some pairs differ ({pairs}; {test}), but the tasks form no separate groups "
            "(the pairs the test cannot tell apart chain them together).")


# ---------------------------------------------------------------- the features' own transfer

def feature_config(run: Run):
    """The run's :class:`~benchmark.features.FeatureConfig`, or None if it cannot be rebuilt."""
    from benchmark.features import FeatureConfig

    names = {f.name for f in dataclasses.fields(FeatureConfig)}
    for block in (run.config.get("features"), run.features):
        if isinstance(block, dict) and block:
            try:
                return FeatureConfig(**{k: v for k, v in block.items() if k in names})
            except Exception:   # an older or hand-made record: try the next block
                continue
    return None


def feature_transfer(run: Run) -> dict[str, float] | None:
    """Temporal modulation (Hz) where the run's features fall to -3 and -20 dB."""
    from benchmark.features import modulation_transfer_db

    cfg = feature_config(run)
    if cfg is None:
        return None
    f = np.linspace(0.0, 4 * cfg.frame_rate_hz, 4001)
    db = modulation_transfer_db(cfg, f)
    out = {}
    for level in (-3.0, -20.0):
        below = np.nonzero(db < level)[0]
        if below.size and below[0] > 0:   # linear between the grid points either side
            i = below[0]
            out[f"{level:g}"] = float(f[i - 1] + (level - db[i - 1]) * (f[i] - f[i - 1])
                                      / (db[i] - db[i - 1]))
    return out
