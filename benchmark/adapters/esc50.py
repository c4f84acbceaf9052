"""ESC-50: ``ESC-50-master/meta/esc50.csv`` + ``audio/``.

Label = category, group = source freesound file (src_file), fold = the official
fold (1..5), which keeps clips of one source file together.
"""

from __future__ import annotations

import csv
from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import find_base, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

CSV = "meta/esc50.csv"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
N_FOLDS = 5


@register_adapter("esc50")
def read(root: Path) -> AdapterOutput:
    base = find_base(root, "esc50", CSV, "ESC-50-master")
    examples, skips, listed = [], [], set()
    with open(base / CSV, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"esc50: {base / CSV} lacks column(s) {', '.join(missing)}; "
                            f"expected {','.join(COLUMNS)}.")
        for line, row in enumerate(reader, start=2):
            name = (row["filename"] or "").strip()
            try:
                fold = int(row["fold"])
                if not 1 <= fold <= N_FOLDS:
                    raise ValueError
            except (TypeError, ValueError):
                skips.append(Skip(f"{CSV}:{line}", f"bad fold {row['fold']!r} (expected 1..{N_FOLDS})"))
                continue
            path = base / "audio" / name
            listed.add(path)
            if not name or not row["category"]:
                skips.append(Skip(f"{CSV}:{line}", "empty file name or category"))
            elif not path.is_file():
                skips.append(Skip(rel_id(path, base), "listed in the metadata but missing on disk"))
            else:
                examples.append(Example(id=rel_id(path, base), path=str(path),
                                        label=row["category"].strip(),
                                        group=row["src_file"].strip(), fold=fold))
    for path in sorted((base / "audio").glob("*.wav")):
        if path not in listed:
            skips.append(Skip(rel_id(path, base), "on disk but not listed in the metadata"))
    if not examples:
        raise UserError(f"esc50: no usable audio under {base / 'audio'} ({len(skips)} skipped).")
    return AdapterOutput(examples=examples, skips=skips,
                         protocol="official 5 folds (fold = metadata 'fold')")
