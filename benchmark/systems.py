"""The compared systems (frontends), registered by the files of ``baselines/``.

Each file in ``baselines/`` registers one factory with :func:`register_system`.
Reading the registry imports every such file (found by the package's name, so
this module imports none of them), so dropping a new file into ``baselines/``
adds a system to every test, run, table and plot. Baseline files build their
Keras objects inside their factories: listing, checking and ordering systems
imports no Keras.

A file that cannot be loaded (a syntax error, a failing import, a name another
file already registered) is left out with one line on standard error naming the
file; the other systems, and the commands that need none, still work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from benchmark.registry import Registry, resolve
from benchmark.settings import FrontendSettings

SYSTEMS = Registry("system", ("baselines",), tolerant=True)


@dataclass(frozen=True)
class System:
    name: str
    description: str
    factory: Callable = field(repr=False)
    rank: int = 100            # display order in tables and plots
    learnable_gabor: bool = False
    # "module:function" (or a module) defining the system's own Keras layer classes, called
    # before a saved model is loaded (the factory defines them when it builds; loading
    # needs them first).
    layers: str | None = None

    def build(self, settings: FrontendSettings | None = None):
        """Build the frontend layer: (batch, time, mel, 1) -> (batch, time, mel', C)."""
        return self.factory(settings or FrontendSettings())

    def load_layers(self) -> None:
        """Register the system's own layer classes for deserialisation."""
        if self.layers:
            found = resolve(self.layers)
            if callable(found):
                found()


def register_system(name: str, description: str, *, rank: int = 100,
                    learnable_gabor: bool = False, layers: str | None = None):
    """Decorator: register ``factory(settings: FrontendSettings) -> keras.layers.Layer``."""

    def wrap(factory: Callable) -> System:
        return System(name, description, factory, rank, learnable_gabor, layers)

    return SYSTEMS.decorator(name, wrap)


def broken_baselines() -> dict[str, str]:
    """The baseline files that could not be loaded, with why (empty when all loaded)."""
    SYSTEMS.discover()
    return dict(SYSTEMS.broken)


def systems() -> list[System]:
    """Every registered system, in display order."""
    return sorted(SYSTEMS.values(), key=lambda s: (s.rank, s.name))


def system_names() -> list[str]:
    return [s.name for s in systems()]


def system_ranks() -> dict[str, int]:
    """name -> display rank of every registered system."""
    return {s.name: s.rank for s in systems()}


def get_system(name: str) -> System:
    """The system ``name``, or the did-you-mean error (naming any file left out)."""
    return SYSTEMS.require(name)


def trainable_count(layer, n_mels: int = 64) -> int:
    """Trainable scalars of a frontend once built for ``n_mels`` input bands."""
    if not layer.built:
        layer.build((None, None, n_mels, 1))
    return int(sum(math.prod(w.shape) for w in layer.trainable_weights))


def describe_systems(params: bool = False) -> str:
    """A table of systems; with ``params``, their trainable parameters at the paper
    configuration (which builds each one, and so loads Keras)."""
    rows = [("name", "trainable params (64 filters, 111x9)" if params else "rank", "description")]
    for s in systems():
        rows.append((s.name, f"{trainable_count(s.build()):,}" if params else str(s.rank),
                     s.description))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)
