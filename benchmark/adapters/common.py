"""Small helpers shared by the adapters."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import UserError


def find_base(root: Path, dataset: str, inner: str, *parents: str) -> Path:
    """Return the folder holding ``inner`` (a relative path): ``root/<parent>`` or ``root``.

    Real archives unpack to a named top folder (e.g. ``UrbanSound8K/``); users
    may point at either that folder or the one above it.
    """
    for parent in parents:
        if (root / parent / inner).exists():
            return root / parent
    if (root / inner).exists():
        return root
    where = " or ".join([str(root / p / inner) for p in parents] + [str(root / inner)])
    raise UserError(f"{dataset}: {root} does not look like the dataset: expected {where}.")


def rel_id(path: Path, base: Path) -> str:
    """A stable example id: the path relative to the dataset folder, '/'-separated."""
    return path.relative_to(base).as_posix()


def merge_segments(segments) -> tuple[tuple[float, float], ...]:
    """Union of (start, end) intervals, sorted; empty and inverted ones dropped."""
    out: list[list[float]] = []
    for start, end in sorted((float(s), float(e)) for s, e in segments if e > s):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return tuple((round(s, 6), round(e, 6)) for s, e in out)
