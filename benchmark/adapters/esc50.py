"""ESC-50: ``ESC-50-master/meta/esc50.csv`` + ``audio/``.

Label = category, group = source freesound file (src_file), fold = the official
fold (1..5), which keeps clips of one source file together.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import find_base, read_fold_csv
from benchmark.data import AdapterOutput

CSV = "meta/esc50.csv"
COLUMNS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
N_FOLDS = 5


@register_adapter("esc50")
def read(root: Path) -> AdapterOutput:
    base = find_base(root, "esc50", CSV, "ESC-50-master")
    examples, skips = read_fold_csv(
        "esc50", base, CSV, COLUMNS, N_FOLDS, file_col="filename", label_col="category",
        group_col="src_file", audio_path=lambda b, fold, name: b / "audio" / name,
        unlisted_glob="*.wav")
    return AdapterOutput(examples=examples, skips=skips,
                         protocol="official 5 folds (fold = metadata 'fold')")
