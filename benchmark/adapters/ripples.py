"""The calibration twins (``ripples``, ``ripples_b``): read by the ESC-50 adapter.

They are written in ESC-50's layout (``ESC-50-master/meta/esc50.csv`` + ``audio/``)
so that the code reading them is the real clip-classification adapter, not a
special case: this module only registers that adapter under their names.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import esc50, register_adapter
from benchmark.data import AdapterOutput


@register_adapter("ripples")
def read(root: Path) -> AdapterOutput:
    return esc50.read(root)


@register_adapter("ripples_b")
def read_b(root: Path) -> AdapterOutput:
    return esc50.read(root)
