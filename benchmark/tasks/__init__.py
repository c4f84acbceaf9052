"""Tasks: one registered class per task, each owning its whole protocol.

A task class (see :class:`benchmark.tasks.base.Task`) holds its head, loss,
batches and augmentation, validation metric and model selection, test
evaluation, how a trained model is applied to new audio, and its own sizes per
profile (``sizes``). The generic loop in :mod:`benchmark.train` never asks which
task it runs. Every module in this package registers its classes on import
(``@register_task``), as ``baselines/`` does for systems, so a new task is one
new file here (or a module named in ``$GABORBENCH_PLUGINS``).

The datasets each task is run on are declared in their recipes and read by
:mod:`benchmark.datasets`.
"""

from __future__ import annotations

from benchmark.registry import Registry

TASKS = Registry("task", ("benchmark.tasks",), skip=("base",))


def register_task(cls):
    """Class decorator: register a :class:`~benchmark.tasks.base.Task` subclass by its ``name``."""
    TASKS.register(cls.name, cls, owner=cls.__module__)
    return cls


def tasks() -> dict[str, type]:
    return dict(TASKS)


def get_task(name: str):
    return TASKS.require(name)
