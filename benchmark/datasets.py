"""The benchmark's datasets, as their recipes declare them.

Datasets are declared once, in their recipe (``datasets/<name>/manifest.toml``):
the top-level ``task`` and a ``[benchmark]`` table with ``folds`` (fold-based
datasets), ``features`` (overrides of the task's feature settings), ``metrics``
(table columns), ``optional`` (a column shown only when it has runs) and
``order`` (the column order); see :func:`dataset_info`. A recipe whose task is
not a registered task (e.g. a noise corpus used for augmentation) is no column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from benchmark.errors import UserError, unknown
from benchmark.recipes import load_recipe, recipe_names
from benchmark.tasks import get_task, tasks


@dataclass(frozen=True)
class DatasetInfo:
    """What the benchmark needs to know of a dataset, read from its recipe."""

    name: str
    task: str
    folds: int | None = None
    features: dict = field(default_factory=dict)
    metrics: tuple[str, ...] = ()
    optional: bool = False
    order: int = 100


@functools.lru_cache(maxsize=None)
def _all_datasets() -> dict[str, DatasetInfo]:
    out = {}
    for name in recipe_names():
        r = load_recipe(name)
        if r.task not in tasks():
            continue  # e.g. a noise corpus used for augmentation, not a benchmark column
        b = dict(r.benchmark)
        folds = b.get("folds")
        if folds is not None and (not isinstance(folds, int) or isinstance(folds, bool) or folds < 2):
            raise UserError(f"datasets/{name}/manifest.toml: [benchmark] folds must be an "
                            f"integer >= 2 (got {folds!r})")
        task = get_task(r.task)
        out[name] = DatasetInfo(name=name, task=r.task, folds=folds,
                                features=dict(b.get("features", {})),
                                metrics=tuple(b.get("metrics", task.table_metrics)),
                                optional=bool(b.get("optional", False)),
                                order=int(b.get("order", 100)))
    return dict(sorted(out.items(), key=lambda kv: (kv[1].order, kv[0])))


def dataset_names() -> list[str]:
    """Every benchmark dataset, in table order."""
    return list(_all_datasets())


def dataset_info(name: str) -> DatasetInfo:
    known = _all_datasets()
    if name not in known:
        unknown("dataset", name, known)
    return known[name]


def describe_tasks() -> str:
    """The tasks, their datasets, metrics, heads and protocols (``gaborbench list tasks``)."""
    rows = [("task", "datasets", "output", "main metric", "protocol")]
    datasets = list(_all_datasets().values())  # in table order: tasks follow their datasets
    order = {t: min([i for i, d in enumerate(datasets) if d.task == t] or [len(datasets)])
             for t in tasks()}
    for t in sorted(tasks().values(), key=lambda t: (order[t.name], t.name)):
        ds = [d.name for d in datasets if d.task == t.name]
        rows.append((t.name, ", ".join(ds), t.output, f"{t.main_metric} ({t.direction})",
                     t.protocol_text))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    return "\n".join(lines)
