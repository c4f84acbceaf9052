"""The registry of compared systems (frontends).

Each file in ``baselines/`` registers one factory with :func:`register_system`.
Importing the registry imports every such file, so dropping a new file into
``baselines/`` adds a system to every test, run, table and plot.
"""

from __future__ import annotations

import math
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Callable

from benchmark.errors import unknown


@dataclass(frozen=True)
class FrontendConfig:
    """What a frontend factory may depend on.

    ``kernel_size`` is (time frames, mel bins), as the layer takes it. The
    frame rate and mel settings let physically specified banks (e.g. the
    cortical rate x scale grid) place filters in Hz and cycles/octave.
    """

    filters: int = 64
    kernel_size: tuple[int, int] = (111, 9)
    output_mode: str = "concat"
    frame_rate_hz: float = 100.0
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8000.0
    seed: int | None = None
    # Gabor initialisation: "reference" (the original code's, in grid units) or
    # "physical" (the same distribution in Hz and cycles/octave, mapped through
    # this run's frame rate and mel bands).
    init: str = "reference"
    # Gabor kernel grid: "centered" or "reference" (the original code's, for parity).
    grid: str = "centered"


@dataclass(frozen=True)
class System:
    name: str
    description: str
    factory: Callable = field(repr=False)
    rank: int = 100            # display order in tables and plots
    gabor: bool = False        # whether it holds a GaborLayer (for filter plots)
    learnable_gabor: bool = False

    def build(self, config: FrontendConfig | None = None):
        """Build the frontend layer: (batch, time, mel, 1) -> (batch, time, mel', C)."""
        return self.factory(config or FrontendConfig())


_REGISTRY: dict[str, System] = {}
_loaded = False


def register_system(name: str, description: str, *, rank: int = 100,
                    gabor: bool = False, learnable_gabor: bool = False):
    """Decorator: register ``factory(config: FrontendConfig) -> keras.layers.Layer``."""

    def deco(factory: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            raise ValueError(f"system {name!r} is registered twice "
                             f"({_REGISTRY[name].factory.__module__} and {factory.__module__})")
        _REGISTRY[name] = System(name, description, factory, rank, gabor, learnable_gabor)
        return factory

    return deco


def _load_baselines() -> None:
    global _loaded
    if _loaded:
        return
    import baselines

    for mod in sorted(pkgutil.iter_modules(baselines.__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"baselines.{mod.name}")
    _loaded = True


def systems() -> list[System]:
    """Every registered system, in display order."""
    _load_baselines()
    return sorted(_REGISTRY.values(), key=lambda s: (s.rank, s.name))


def system_names() -> list[str]:
    return [s.name for s in systems()]


def get_system(name: str) -> System:
    _load_baselines()
    if name not in _REGISTRY:
        unknown("system", name, system_names())
    return _REGISTRY[name]


def build_frontend(name: str, config: FrontendConfig | None = None):
    return get_system(name).build(config)


def trainable_count(layer, n_mels: int = 64) -> int:
    """Trainable scalars of a frontend once built for ``n_mels`` input bands."""
    if not layer.built:
        layer.build((None, None, n_mels, 1))
    return int(sum(math.prod(w.shape) for w in layer.trainable_weights))


def describe_systems() -> str:
    """A table of systems with trainable parameters at the paper configuration."""
    rows = [("name", "trainable params (64 filters, 111x9)", "description")]
    for s in systems():
        rows.append((s.name, f"{trainable_count(s.build()):,}", s.description))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    return "\n".join(f"{a:<{w0}}  {b:>{w1}}  {c}" for a, b, c in rows)
