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


def read_fold_csv(dataset: str, base: Path, csv_path: str, columns: tuple[str, ...], n_folds: int,
                  *, file_col: str, label_col: str, group_col: str, audio_path,
                  unlisted_glob: str):
    """Examples and skips of a 'one row per clip, official folds' metadata CSV.

    ``audio_path(base, fold, name)`` says where a row's file lives; files that
    match ``unlisted_glob`` under ``base/audio`` but no row are reported, since
    audio the metadata does not describe cannot be labelled.
    """
    import csv

    from benchmark.data import Example, Skip

    examples, skips, listed = [], [], set()
    with open(base / csv_path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{dataset}: {base / csv_path} lacks column(s) {', '.join(missing)}; "
                            f"expected {','.join(columns)}.")
        for line, row in enumerate(reader, start=2):
            name = (row[file_col] or "").strip()
            try:
                fold = int(row["fold"])
                if not 1 <= fold <= n_folds:
                    raise ValueError
            except (TypeError, ValueError):
                skips.append(Skip(f"{csv_path}:{line}", f"bad fold {row['fold']!r} (expected 1..{n_folds})"))
                continue
            path = audio_path(base, fold, name)
            listed.add(path)
            if not name or not row[label_col]:
                skips.append(Skip(f"{csv_path}:{line}", f"empty file name or {label_col}"))
            elif not path.is_file():
                skips.append(Skip(rel_id(path, base), "listed in the metadata but missing on disk"))
            else:
                examples.append(Example(id=rel_id(path, base), path=str(path),
                                        label=row[label_col].strip(), group=row[group_col].strip(),
                                        fold=fold))
    for path in sorted((base / "audio").glob(unlisted_glob)):
        if path not in listed:
            skips.append(Skip(rel_id(path, base), "on disk but not listed in the metadata"))
    if not examples:
        raise UserError(f"{dataset}: no usable audio under {base / 'audio'} ({len(skips)} skipped).")
    return examples, skips
