"""Dataset adapters: one module per dataset, each reading the real on-disk layout.

An adapter parses metadata only (no audio decoding) and returns an
:class:`benchmark.data.AdapterOutput`. Anything listed but unusable (a missing
file, an unparseable name or line) becomes a :class:`benchmark.data.Skip`, so
preparation can report it; nothing is dropped silently.

    from benchmark.adapters import read_dataset
    out = read_dataset("urbansound8k", Path("~/data/UrbanSound8K").expanduser())
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from benchmark.data import AdapterOutput
from benchmark.errors import UserError
from benchmark.registry import Registry

# Every module here but the shared helpers registers its dataset's reader on import (a
# new dataset is one new file, or a module named in $GABORBENCH_PLUGINS).
ADAPTERS = Registry("dataset", ("benchmark.adapters",), skip=("common",))


def register_adapter(name: str):
    """Decorator: register ``fn(root: Path, **options) -> AdapterOutput`` under ``name``."""
    return ADAPTERS.decorator(name)


def adapter_names() -> list[str]:
    return sorted(ADAPTERS)


def read_dataset(name: str, root: str | Path, **options) -> AdapterOutput:
    """Read dataset ``name`` laid out under ``root``.

    Raises UserError for an unknown name (with a suggestion) or a root that does
    not look like the dataset (naming the file or folder expected and where).
    """
    adapter: Callable[..., AdapterOutput] = ADAPTERS.require(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"{name}: dataset folder {root} does not exist "
                        f"(download it or pass the folder that holds it).")
    return adapter(root.resolve(), **options)
