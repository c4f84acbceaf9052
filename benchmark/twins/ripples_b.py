"""Calibration twin, variant B: :mod:`benchmark.twins.ripples` with its points moved.

The same carriers (noise, level, tilt, phase per clip) as ``ripples`` and the
same design with every sweep reversed, so that filters trained on one variant
can be scored against the other's points (the cross-over).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.twins.ripples import write_variant


def write(root: Path, size: str, seed: int, track) -> None:
    write_variant(root, size, seed, track, "B", "ripples_b")
