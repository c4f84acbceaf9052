"""Task similarity: are two tasks' learned filter changes distinguishable beyond chance?"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from benchmark.report.modulation import learnable_runs, run_changes, run_points, run_resolved
from benchmark.report.order import REFERENCE, dataset_order
from benchmark.report.runs import Run

def _both(run: Run):
    """Filters whose kernels resolve both axes at init and at the end: only they have a
    place (and a change) in the plane the distances are taken in."""
    return run_resolved(run).all(axis=1)


def resolved_points(run: Run, which: str = "final") -> np.ndarray:
    return run_points(run, which)[_both(run)]


def resolved_changes(run: Run) -> np.ndarray:
    """Per filter resolved on both axes, final - init in log-modulation space."""
    return run_changes(run)[_both(run)]


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
    permutation test over runs, Holm-corrected over all pairs. Only filters whose
    kernels resolve both axes (at init and at the end) enter: an unresolved axis
    has no modulation to compare.
    """
    groups = {d: [r for r in g if _both(r).any()]
              for (d, s), g in learnable_runs(runs).items() if s == reference}
    names = dataset_order({d for d, g in groups.items() if g})
    pts = {w: {d: [resolved_points(r, w) for r in groups[d]] for d in names}
           for w in ("init", "final")}
    chg = {d: [resolved_changes(r) for r in groups[d]] for d in names}
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
