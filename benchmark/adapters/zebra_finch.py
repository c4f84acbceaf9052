"""Zebra finch call repertoire (Elie & Theunissen 2016).

WAVs anywhere under the root (the archive nests folders), named
``<BirdID>_<YYMMDD>-<CallCode>-<n>.wav``. The call code maps to one of 11 call
types; the bird is the group. There is no official split, so folds are a
deterministic grouped K-fold by bird, balanced by clip count: birds sorted by
(clip count descending, name), each given to the fold holding fewest clips so
far (lowest fold number on ties). The same files always give the same folds.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import OUTSIDE, path_problem, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

CALL_TYPES = {
    "Distance": ("DC",),
    "Wsst": ("AggC", "Ag"),
    "Song": ("So", "Song"),
    "Nest": ("NestC", "Ne", "NestCSeq", "NeKakleC", "NekakleC", "NeSeq", "NestSeq", "NeArkC"),
    "Tet": ("TetC", "Te", "Tet"),
    "Tuck": ("TukC",),
    "Thuk": ("ThuC", "ThuckC", "ThukC"),
    "Whine": ("WhineC", "Wh", "Whi", "WhiC", "WC", "WhineCSeq"),
    "Distress": ("DisC",),
    "Begging": ("Beggseq", "BeggSeq"),
    "Long Tonal": ("LTC",),
}
# Codes are matched case-insensitively: the archive spells some both ways.
CODE_TO_TYPE = {code.lower(): t for t, codes in CALL_TYPES.items() for code in codes}
NAME = re.compile(r"^(?P<bird>[A-Za-z0-9]+)_(?P<date>\d{6})-(?P<code>[A-Za-z]+)-(?P<n>\d+)\.wav$",
                  re.IGNORECASE)
DEFAULT_FOLDS = 5


def call_type(file_name: str) -> tuple[str, str] | str:
    """(bird, call type) for a well-formed name, else the reason it is not."""
    m = NAME.match(file_name)
    if not m:
        return "name does not match <BirdID>_<YYMMDD>-<CallCode>-<n>.wav"
    t = CODE_TO_TYPE.get(m["code"].lower())
    if t is None:
        return f"unknown call code {m['code']!r}"
    return m["bird"], t


def bird_folds(counts: dict[str, int], k: int) -> dict[str, int]:
    """Greedy size-balanced assignment of birds to folds 1..k (deterministic)."""
    load = [0] * k
    folds = {}
    for bird in sorted(counts, key=lambda b: (-counts[b], b)):
        i = min(range(k), key=lambda j: (load[j], j))
        folds[bird] = i + 1
        load[i] += counts[bird]
    return folds


@register_adapter("zebra_finch")
def read(root: Path, folds: int = DEFAULT_FOLDS) -> AdapterOutput:
    wavs = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())
    if not wavs:
        raise UserError(f"zebra_finch: no .wav files under {root}; expected "
                        f"<BirdID>_<YYMMDD>-<CallCode>-<n>.wav files (unzip the archive's "
                        f"AdultVocalizations.zip and ChickVocalizations.zip there).")
    parsed, skips = [], []
    for path in wavs:
        why = path_problem(root, path)
        if why and why != OUTSIDE:
            # the name itself cannot go into the manifest: quote it escaped
            skips.append(Skip(repr(path.relative_to(root).as_posix()), why))
            continue
        rid = rel_id(path, root)
        if why:
            skips.append(Skip(rid, why))
            continue
        if any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(root).parts):
            skips.append(Skip(rid, "hidden or archive-metadata file"))
            continue
        r = call_type(path.name)
        if isinstance(r, str):
            skips.append(Skip(rid, r))
        else:
            parsed.append((path, rid, *r))
    counts = Counter(bird for _, _, bird, _ in parsed)
    if len(counts) < 2:
        raise UserError(f"zebra_finch: found {len(counts)} bird(s) under {root}; "
                        f"grouped folds need at least 2.")
    k = min(folds, len(counts))
    fold_of = bird_folds(counts, k)
    examples = [Example(id=rid, path=str(path), label=t, group=bird, fold=fold_of[bird])
                for path, rid, bird, t in parsed]
    note = "" if k == folds else f" (asked for {folds}, only {len(counts)} birds)"
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol=(f"grouped {k}-fold by bird{note}: birds sorted by clip count then name, each "
                  f"assigned to the fold with fewest clips; no bird in two folds"),
    )
