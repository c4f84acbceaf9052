"""The data contract shared by adapters, preparation, features and training.

An *adapter* (``benchmark.adapters``) reads one dataset's on-disk layout and
metadata and returns an :class:`AdapterOutput`. *Preparation*
(``benchmark.prepare``) checks every audio file, adds durations, records skips
and freezes the result as a :class:`PreparedDataset` manifest. Everything
downstream reads only the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Literal

Split = Literal["train", "dev", "test"]
Source = Literal["twin", "real"]

# A synthetic twin writes this file at its root; real datasets never contain it.
TWIN_MARKER = "SYNTHETIC_TWIN.json"


@dataclass(frozen=True)
class Example:
    """One audio file and what the task knows about it.

    ``id`` is stable across runs (the path relative to the dataset root, with
    '/' separators). Clip tasks use ``label``; speech activity detection uses
    ``segments`` (reference speech, seconds) and ``uem`` (the scored region).
    ``group`` is what must never straddle a split (speaker, meeting, bird,
    freesound ID). Either ``split`` or ``fold`` (1-based) places it.
    """

    id: str
    path: str
    label: str | None = None
    group: str | None = None
    split: Split | None = None
    fold: int | None = None
    segments: tuple[tuple[float, float], ...] | None = None
    uem: tuple[float, float] | None = None
    duration: float | None = None  # seconds, filled in by preparation


@dataclass(frozen=True)
class Trial:
    """A speaker-verification trial between two example ids."""

    enroll: str
    test: str
    target: bool


@dataclass(frozen=True)
class Skip:
    """An input that was not used, and why (file name and reason)."""

    path: str
    reason: str


@dataclass(frozen=True)
class AdapterOutput:
    examples: list[Example]
    trials: list[Trial] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    protocol: str = ""  # which split protocol was used, in words


@dataclass(frozen=True)
class PreparedDataset:
    name: str
    source: Source
    root: str
    examples: list[Example]
    trials: list[Trial]
    skips: list[Skip]
    protocol: str
    checksum: str  # hash of the manifest content: what the features and results key on

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "PreparedDataset":
        def ex(e: dict) -> Example:
            e = dict(e)
            if e.get("segments") is not None:
                e["segments"] = tuple(tuple(s) for s in e["segments"])
            if e.get("uem") is not None:
                e["uem"] = tuple(e["uem"])
            return Example(**e)

        return cls(
            name=d["name"],
            source=d["source"],
            root=d["root"],
            examples=[ex(e) for e in d["examples"]],
            trials=[Trial(**t) for t in d["trials"]],
            skips=[Skip(**s) for s in d["skips"]],
            protocol=d["protocol"],
            checksum=d["checksum"],
        )


def manifest_checksum(examples: list[Example], trials: list[Trial]) -> str:
    """A content hash of what training sees (ids, labels, splits, segments, durations)."""
    payload = {
        "examples": [dataclasses.asdict(e) | {"path": None} for e in examples],
        "trials": [dataclasses.asdict(t) for t in trials],
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
