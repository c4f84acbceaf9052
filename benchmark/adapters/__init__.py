"""Dataset adapters: one module per dataset, each reading the real on-disk layout.

An adapter parses metadata only (no audio decoding) and returns an
:class:`benchmark.data.AdapterOutput`. Anything listed but unusable (a missing
file, an unparseable name or line) becomes a :class:`benchmark.data.Skip`, so
preparation can report it; nothing is dropped silently.

    from benchmark.adapters import read_dataset
    out = read_dataset("urbansound8k", Path("~/data/UrbanSound8K").expanduser())
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable

from benchmark.data import AdapterOutput
from benchmark.errors import UserError

_ADAPTERS: dict[str, Callable[..., AdapterOutput]] = {}


def register_adapter(name: str):
    """Decorator: register ``fn(root: Path, **options) -> AdapterOutput`` under ``name``."""

    def deco(fn: Callable[..., AdapterOutput]) -> Callable[..., AdapterOutput]:
        if name in _ADAPTERS:
            raise ValueError(f"adapter {name!r} registered twice")
        _ADAPTERS[name] = fn
        return fn

    return deco


def adapter_names() -> list[str]:
    return sorted(_ADAPTERS)


def read_dataset(name: str, root: str | Path, **options) -> AdapterOutput:
    """Read dataset ``name`` laid out under ``root``.

    Raises UserError for an unknown name (with a suggestion) or a root that does
    not look like the dataset (naming the file or folder expected and where).
    """
    if name not in _ADAPTERS:
        close = difflib.get_close_matches(name, _ADAPTERS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown dataset {name!r}.{hint} Known: {', '.join(adapter_names())}.")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{name}: dataset folder {root} does not exist "
                        f"(download it or pass the folder that holds it).")
    return _ADAPTERS[name](root.resolve(), **options)


def _load() -> None:
    """Import every adapter module (each registers itself): a new dataset is one new file."""
    import importlib
    import pkgutil

    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name != "common" and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


_load()
