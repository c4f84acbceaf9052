"""MUSAN: ``musan/<category>/<sub-source>/*.wav``, an augmentation corpus.

Label = the category (noise, music, speech), group = the sub-source folder
(free-sound, sound-bible, fma, librivox, ...), so a held-out split can keep
whole sources apart. There are no folds or splits: training mixes the noise and
music recordings into other datasets' examples (never the speech ones).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import find_base, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

CATEGORIES = ("noise", "music", "speech")


@register_adapter("musan")
def read(root: Path) -> AdapterOutput:
    # Any one category proves the layout; a user may have unpacked noise/ and music/ only.
    base = next((b for b in (root / "musan", root) if any((b / c).is_dir() for c in CATEGORIES)), None)
    if base is None:
        base = find_base(root, "musan", "noise", "musan")  # raises, naming what was expected
    examples, skips = [], []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.suffix.lower() != ".wav":
            continue  # ANNOTATIONS and LICENSE text files sit beside the audio
        parts = path.relative_to(base).parts
        if len(parts) != 3 or parts[0] not in CATEGORIES:
            skips.append(Skip(rel_id(path, base), "not in <noise|music|speech>/<sub-source>/"))
            continue
        examples.append(Example(id=rel_id(path, base), path=str(path), label=parts[0], group=parts[1]))
    if not examples:
        raise UserError(f"musan: no WAVs under {base} in <noise|music|speech>/<sub-source>/ "
                        f"({len(skips)} skipped).")
    return AdapterOutput(examples=examples, skips=skips,
                         protocol="augmentation corpus: label = category, group = sub-source; no splits")
