"""The registry of compared systems (frontends).

Each file in ``baselines/`` registers one factory with :func:`register_system`.
Importing the registry imports every such file, so dropping a new file into
``baselines/`` adds a system to every test, run, table and plot.

A file that cannot be loaded (a syntax error, a failing import, a name another
file already registered) is left out with one line on standard error naming the
file; the other systems, and the commands that need none, still work.
:func:`check_system_name` validates a name by reading the files' decorators,
without importing them (and so Keras), so that a mistyped ``--system`` is
answered before a framework loads.
"""

from __future__ import annotations

import ast
import functools
import importlib
import math
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from benchmark.errors import UserError, unknown


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
_BROKEN: dict[str, str] = {}   # baselines/<file>.py -> why it was left out
_loaded = False


def register_system(name: str, description: str, *, rank: int = 100,
                    gabor: bool = False, learnable_gabor: bool = False):
    """Decorator: register ``factory(config: FrontendConfig) -> keras.layers.Layer``."""

    def deco(factory: Callable) -> Callable:
        if name in _REGISTRY and _REGISTRY[name].factory is not factory:
            first = _REGISTRY[name].factory.__module__.replace(".", "/") + ".py"
            raise ValueError(f"system {name!r} is already registered by {first}: "
                             f"give this one another name")
        _REGISTRY[name] = System(name, description, factory, rank, gabor, learnable_gabor)
        return factory

    return deco


def _load_baselines() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import baselines

    for mod in sorted(pkgutil.iter_modules(baselines.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = f"baselines.{mod.name}"
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 -- one broken file must not stop the others
            # A file that registered some systems before failing is left out whole (what
            # another file it imported registered stays: that file loaded).
            for name in [n for n, s in _REGISTRY.items() if s.factory.__module__ == module]:
                del _REGISTRY[name]
            sys.modules.pop(module, None)
            where = f"baselines/{mod.name}.py"
            _BROKEN[where] = _one_line(e)
            print(f"gaborbench: left out {where}: {_BROKEN[where]}", file=sys.stderr)


def _one_line(e: BaseException) -> str:
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg} (line {e.lineno})"
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}".rstrip(": ")


def broken_baselines() -> dict[str, str]:
    """The baseline files that could not be loaded, with why (empty when all loaded)."""
    _load_baselines()
    return dict(_BROKEN)


def _broken_note() -> str:
    return "".join(f"; {where} was left out ({why})" for where, why in _BROKEN.items())


@functools.lru_cache(maxsize=1)
def declared_system_names() -> tuple[tuple[str, ...], bool]:
    """The names that ``baselines/*.py`` register, read from their decorators without
    importing them, and whether that list is conclusive (every ``register_system``
    call names its system with a string literal; an unparsable file registers nothing)."""
    import baselines

    names: list[str] = []
    conclusive = True
    for path in sorted(Path(p) for d in baselines.__path__ for p in Path(d).glob("*.py")):
        if path.name.startswith("_"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id",
                                                       getattr(node.func, "attr", None))
                    == "register_system"):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.append(first.value)
                else:
                    conclusive = False
    return tuple(names), conclusive


def check_system_name(name: str) -> None:
    """Raise the did-you-mean error for an unknown system, without importing Keras
    when the baseline files' decorators settle it (else by loading them)."""
    declared, conclusive = declared_system_names()
    if name in declared or name in _REGISTRY:
        return
    if conclusive and not _loaded:
        unknown("system", name, declared)
    get_system(name)


def systems() -> list[System]:
    """Every registered system, in display order."""
    _load_baselines()
    return sorted(_REGISTRY.values(), key=lambda s: (s.rank, s.name))


def system_names() -> list[str]:
    return [s.name for s in systems()]


def get_system(name: str) -> System:
    _load_baselines()
    if name not in _REGISTRY:
        try:
            unknown("system", name, system_names())
        except UserError as e:
            raise UserError(f"{e}{_broken_note()}") from None
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
