"""ESC-50 twin: ``ESC-50-master/meta/esc50.csv`` + ``audio/<fold>-<src>-<take>-<target>.wav``.

Ten categories (the ESC-10 subset, with their real target numbers), each
borrowing one of the urban twin's temporal patterns, so the same argument holds:
carriers are shared, patterns differ. Clips are 44.1 kHz mono 16-bit like the
real ones but shorter (the real clips last 5 s).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path


from benchmark.twins import signals as S
from benchmark.twins.urbansound8k import NOTE, clip

SR = 44100
# category -> (ESC-50 target, urban twin pattern)
CATEGORIES = {
    "dog": (0, "dog_bark"), "rooster": (1, "siren"), "rain": (10, "air_conditioner"),
    "sea_waves": (11, "engine_idling"), "crackling_fire": (12, "gun_shot"),
    "crying_baby": (20, "children_playing"), "sneezing": (21, "car_horn"),
    "clock_tick": (38, "jackhammer"), "helicopter": (40, "drilling"),
    "chainsaw": (41, "street_music"),
}
SIZES = {"tiny": dict(per_class=3, duration=(0.5, 0.75)), "demo": dict(per_class=30, duration=(1.0, 2.0))}


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    base = root / "ESC-50-master"
    rows, per_clip = [], {}
    items = [(k, c, i) for k, c in enumerate(CATEGORIES) for i in range(cfg["per_class"])]
    for k, category, i in track(items, desc="esc50"):
        target, pattern = CATEGORIES[category]
        rng = S.rng_for(seed, "esc50", category, i)
        # Two takes from one source recording share a fold, as in the real set.
        src = 100000 + 1000 * target + i // 2
        fold = (i // 2 + k) % 5 + 1
        take = "AB"[i % 2]
        name = f"{fold}-{src}-{take}-{target}.wav"
        log = []
        S.write_wav(base / "audio" / name, clip(pattern, SR, rng.uniform(*cfg["duration"]), rng, log), SR)
        per_clip.setdefault(category, []).append(log)
        rows.append((name, fold, target, category, True, str(src), take))
    write_meta(base, rows)
    S.write_planted(root, "esc50", NOTE, {c: S.average_planted(v) for c, v in per_clip.items()})


def write_meta(base: Path, rows: list[tuple]) -> None:
    """ESC-50's ``meta/esc50.csv``: one row per clip, sorted by file name."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
    w.writerows(sorted(rows))
    (base / "meta").mkdir(parents=True, exist_ok=True)
    (base / "meta" / "esc50.csv").write_text(buf.getvalue(), encoding="utf-8")
