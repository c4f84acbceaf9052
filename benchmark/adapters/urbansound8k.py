"""UrbanSound8K: ``UrbanSound8K/metadata/UrbanSound8K.csv`` + ``audio/fold<N>/``.

Label = class name, group = freesound ID (fsID), fold = the official fold
(1..10). The official folds keep each fsID within one fold; we never reshuffle.
"""

from __future__ import annotations

import csv
from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import find_base, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

CSV = "metadata/UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
N_FOLDS = 10


@register_adapter("urbansound8k")
def read(root: Path) -> AdapterOutput:
    base = find_base(root, "urbansound8k", CSV, "UrbanSound8K")
    examples, skips, listed = [], [], set()
    with open(base / CSV, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"urbansound8k: {base / CSV} lacks column(s) {', '.join(missing)}; "
                            f"expected {','.join(COLUMNS)}.")
        for line, row in enumerate(reader, start=2):
            name = (row["slice_file_name"] or "").strip()
            try:
                fold = int(row["fold"])
                if not 1 <= fold <= N_FOLDS:
                    raise ValueError
            except (TypeError, ValueError):
                skips.append(Skip(f"{CSV}:{line}", f"bad fold {row['fold']!r} (expected 1..{N_FOLDS})"))
                continue
            path = base / "audio" / f"fold{fold}" / name
            listed.add(path)
            if not name or not row["class"]:
                skips.append(Skip(f"{CSV}:{line}", "empty file name or class"))
            elif not path.is_file():
                skips.append(Skip(rel_id(path, base), "listed in the metadata but missing on disk"))
            else:
                examples.append(Example(id=rel_id(path, base), path=str(path),
                                        label=row["class"].strip(), group=row["fsID"].strip(),
                                        fold=fold))
    # Audio that the metadata does not describe cannot be labelled: report it.
    for path in sorted((base / "audio").glob("fold*/*.wav")):
        if path not in listed:
            skips.append(Skip(rel_id(path, base), "on disk but not listed in the metadata"))
    if not examples:
        raise UserError(f"urbansound8k: no usable audio under {base / 'audio'} "
                        f"({len(skips)} skipped); expected audio/fold<N>/<slice_file_name>.")
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol="official 10 folds (fold = metadata 'fold'); fsID groups never straddle folds",
    )
