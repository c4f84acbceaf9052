"""UrbanSound8K: ``UrbanSound8K/metadata/UrbanSound8K.csv`` + ``audio/fold<N>/``.

Label = class name, group = freesound ID (fsID), fold = the official fold
(1..10). The official folds keep each fsID within one fold; we never reshuffle.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import find_base, read_fold_csv
from benchmark.data import AdapterOutput

CSV = "metadata/UrbanSound8K.csv"
COLUMNS = ("slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class")
N_FOLDS = 10


@register_adapter("urbansound8k")
def read(root: Path) -> AdapterOutput:
    base = find_base(root, "urbansound8k", CSV, "UrbanSound8K")
    examples, skips = read_fold_csv(
        "urbansound8k", base, CSV, COLUMNS, N_FOLDS, file_col="slice_file_name", label_col="class",
        group_col="fsID", audio_path=lambda b, fold, name: b / "audio" / f"fold{fold}" / name,
        unlisted_glob="fold*/*.wav")
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol="official 10 folds (fold = metadata 'fold'); fsID groups never straddle folds",
    )
