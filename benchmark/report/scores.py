"""Scores with their uncertainty: one interval per cell, one paired test per pair of systems.

Every number comes from the runs' per-item test outputs (``Run.outputs``), through
:mod:`benchmark.stats`:

- a *cell* (dataset x system x metric) is estimated as the mean over its runs, with a
  95 % two-level bootstrap interval (runs, then test units: clips, 10 s meeting
  blocks, speakers), so a single run still gets an interval from its test set;
- a *difference* between two systems of one dataset is paired over the same runs
  and units, with a bootstrap interval and a paired randomisation p-value, Holm-
  adjusted over every difference of the table;
- a dataset's *minimum detectable difference* is the difference a paired test at
  alpha 0.05 would detect with 80 % power, from the median standard error of its
  paired differences.

Systems of one dataset are compared only on the same (seed, fold) cells. The
dataset's cells are those most of its systems ran (ties: the most cells); a system
whose cells differ is *refused*: its cell carries a note naming the cells it has
and lacks, and it takes no part in a difference, a bold mark or a plot bar.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

import numpy as np

from benchmark import stats
from benchmark.metrics import METRICS
from benchmark.report.analysis import direction_of
from benchmark.report.runs import Run

log = logging.getLogger("benchmark.report")

ALPHA = 0.05
POWER = 0.8
SEED = 0
RESAMPLES = 2000
# A metric without a batched form is evaluated once per resample.
RESAMPLES_UNBATCHED = 1000
# The smallest p a randomisation test can give is 1 / (1 + permutations), and Holm multiplies
# the smallest by the number of tests: every test gets enough permutations that a difference
# the data support can still reach p_holm < ALPHA (here: 1 / (1 + n) x tests <= ALPHA / 2).
PERMUTATIONS_PER_TEST = 2 / ALPHA
REFERENCE = "learnable_gabor"
# What learning added: the learnable system against the same layer frozen at the same
# initialisation (both systems draw their initial filters from the seed alone).
HEADLINE = ("learnable_gabor", "fixed_gabor")


def cell_name(key: tuple[int, int]) -> str:
    seed, fold = key
    return f"seed{seed}" + ("" if fold < 0 else f"_fold{fold}")


@dataclass(frozen=True)
class Cell:
    dataset: str
    system: str
    metric: str
    direction: str
    keys: tuple[tuple[int, int], ...]   # (seed, fold) of each run, fold -1 when fold-less
    values: tuple[float, ...]           # each run's stored metric, in key order
    mean: float                         # mean over runs
    ci95: tuple[float, float] | None    # None when the runs carry no per-item outputs
    se: float | None
    n_items: int | None                 # test rows per run (clips, blocks, trials)
    n_units: int | None                 # resampling units per run
    frontend_trainable: int | None
    total_trainable: int | None
    data_source: str                    # twin | real | mixed
    profile: str
    unconverged: int                    # runs whose selected epoch was their last
    refused: str = ""                   # why this cell is not compared with its dataset's others

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def cells(self) -> str:
        return " ".join(cell_name(k) for k in self.keys)


@dataclass(frozen=True)
class Difference:
    dataset: str
    metric: str
    direction: str
    a: str
    b: str
    difference: float                   # a - b, in metric units (fractions)
    ci95: tuple[float, float]
    se: float
    p: float
    p_holm: float
    n_runs: int
    n_items: int

    @property
    def a_better(self) -> bool:
        return (self.difference > 0) == (self.direction == "max") and self.difference != 0

    @property
    def significant(self) -> bool:
        """Holm-adjusted p below ALPHA *and* a 95 % interval that excludes zero.

        The randomisation test swaps outputs within each trained run, so it asks whether
        these runs differ on these items; the interval also resamples the runs (training
        randomness). A difference is called only where both say so."""
        return self.p_holm < ALPHA and (self.ci95[0] > 0 or self.ci95[1] < 0)


def _spec(metric: str):
    return METRICS.get(metric)


def _columns(run: Run, metric: str) -> dict | None:
    spec = _spec(metric)
    return run.outputs.get(spec.block) if spec is not None else None


def _resamples(metric: str) -> int:
    spec = _spec(metric)
    return RESAMPLES if spec is not None and hasattr(spec.from_items, "batched") else RESAMPLES_UNBATCHED


def _first(values) -> int | None:
    vals = [v for v in values if v is not None]
    return Counter(vals).most_common(1)[0][0] if vals else None


def reference_cells(runs: list[Run]) -> dict[str, frozenset]:
    """Per dataset, the (seed, fold) cells that its systems are compared on."""
    by: dict[str, dict[str, set]] = {}
    for r in runs:
        by.setdefault(r.dataset, {}).setdefault(r.system, set()).add(r.key)
    out = {}
    for d, systems in by.items():
        counts = Counter(frozenset(k) for k in systems.values())
        out[d] = sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), sorted(kv[0])))[0][0]
    return out


def refusal(have: set, want: frozenset) -> str:
    """Why a system's cells cannot sit beside its dataset's others ("" when they can)."""
    if set(have) == set(want):
        return ""
    extra = " ".join(cell_name(k) for k in sorted(set(have) - want))
    lacking = " ".join(cell_name(k) for k in sorted(want - set(have)))
    parts = ([f"has {extra}"] if extra else []) + ([f"lacks {lacking}"] if lacking else [])
    return "different test cells: " + ", ".join(parts)


def summarize(runs: list[Run], order: list[str], dataset_order: list[str]) -> list[Cell]:
    """One cell per dataset x system x metric, in dataset, system and metric order."""
    want = reference_cells(runs)
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.dataset, r.system), []).append(r)
    s_rank = {s: i for i, s in enumerate(order)}
    d_rank = {d: i for i, d in enumerate(dataset_order)}
    cells = []
    for (d, s), group in sorted(groups.items(), key=lambda kv: (d_rank.get(kv[0][0], 99),
                                                                 s_rank.get(kv[0][1], 99), kv[0])):
        group = sorted(group, key=lambda r: r.key)
        why = refusal({r.key for r in group}, want[d])
        if why:
            log.warning("%s / %s: %s; not compared with the other systems", d, s, why)
        sources = sorted({r.data_source for r in group})
        for metric in sorted({m for r in group for m in r.metrics}):
            have = [r for r in group if metric in r.metrics]
            vals = np.array([r.metrics[metric] for r in have])
            cols = [_columns(r, metric) for r in have]
            interval = None
            if all(c is not None for c in cols):
                interval = stats.cell_interval(cols, _spec(metric).from_items,
                                               n_resamples=_resamples(metric), seed=SEED)
            cells.append(Cell(
                d, s, metric, direction_of(metric, have), tuple(r.key for r in have),
                tuple(float(v) for v in vals), float(vals.mean()),
                None if interval is None else (interval.low, interval.high),
                None if interval is None else interval.se,
                None if interval is None else interval.n_items,
                None if interval is None else interval.n_units,
                _first(r.frontend_trainable for r in have), _first(r.total_trainable for r in have),
                sources[0] if len(sources) == 1 else "mixed",
                "+".join(sorted({r.profile for r in have})),
                sum(r.selected_last_epoch for r in have), why))
    return cells


def differences(runs: list[Run], cells: list[Cell], metrics_of: dict[str, list[str]],
                order: list[str]) -> list[Difference]:
    """Every pair of comparable systems, per dataset and table metric, Holm-adjusted
    over the whole table. ``metrics_of`` maps a dataset to its table metrics."""
    by_cell = {(c.dataset, c.system, c.metric): c for c in cells}
    jobs = []
    for d, metrics in metrics_of.items():
        for metric in metrics:
            systems = [s for s in order if (d, s, metric) in by_cell
                       and not by_cell[(d, s, metric)].refused
                       and by_cell[(d, s, metric)].ci95 is not None]
            runs_of = {s: sorted((r for r in runs if r.dataset == d and r.system == s
                                  and metric in r.metrics), key=lambda r: r.key)
                       for s in systems}
            jobs += [(d, metric, a, b, runs_of[a], runs_of[b])
                     for i, a in enumerate(systems) for b in systems[i + 1:]]
    permutations = max(RESAMPLES, int(PERMUTATIONS_PER_TEST * len(jobs)))
    raw = []
    for d, metric, a, b, runs_a, runs_b in jobs:
        try:
            res = stats.paired_difference(
                [_columns(r, metric) for r in runs_a], [_columns(r, metric) for r in runs_b],
                _spec(metric).from_items, n_resamples=_resamples(metric),
                n_permutations=permutations, seed=SEED)
        except ValueError as e:   # items differ: not the same test set after all
            log.warning("%s %s: %s vs %s not compared: %s", d, metric, a, b, e)
            continue
        raw.append((d, metric, by_cell[(d, a, metric)].direction, a, b, res))
    adjusted = stats.holm([res.p for *_, res in raw]) if raw else []
    return [Difference(d, m, direction, a, b, res.estimate, (res.low, res.high), res.se, res.p,
                       float(ph), res.n_runs, res.n_items)
            for (d, m, direction, a, b, res), ph in zip(raw, adjusted)]


def minimum_detectable(diffs: list[Difference]) -> dict[tuple[str, str], float]:
    """Per (dataset, metric): the paired difference detectable at 80 % power (median SE)."""
    ses: dict[tuple[str, str], list[float]] = {}
    for x in diffs:
        ses.setdefault((x.dataset, x.metric), []).append(x.se)
    return {k: stats.minimum_detectable_difference(float(np.median(v)), alpha=ALPHA, power=POWER)
            for k, v in ses.items()}


def best_systems(diffs: list[Difference], cells: list[Cell]) -> set[tuple[str, str, str]]:
    """(dataset, system, metric) cells that beat every other comparable system of their
    column by a significant paired difference: the only cells a table may bold."""
    out = set()
    comparable: dict[tuple[str, str], set[str]] = {}
    for c in cells:
        if not c.refused and c.ci95 is not None:
            comparable.setdefault((c.dataset, c.metric), set()).add(c.system)
    for (d, m), systems in comparable.items():
        here = [x for x in diffs if x.dataset == d and x.metric == m]
        for s in systems:
            others = systems - {s}
            wins = {x.b if x.a == s else x.a for x in here
                    if x.significant and s in (x.a, x.b) and (x.a_better == (x.a == s))}
            if others and wins == others:
                out.add((d, s, m))
    return out
