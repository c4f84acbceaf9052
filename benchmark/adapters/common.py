"""Small helpers shared by the adapters.

Metadata comes from users' disks and third-party archives, so every helper
here expects the worst: text read as UTF-8 with an optional BOM, one line at a
time (an undecodable or malformed line becomes a Skip naming the file and
line, never an exception that loses the whole dataset), and every path a
metadata line names checked to stay inside the dataset folder.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from pathlib import Path

from benchmark.data import Example, Skip
from benchmark.errors import UserError

OUTSIDE = "path outside the dataset"
NOT_UTF8 = "not UTF-8 text"
# Longest file-name component most file systems accept (ext4, XFS, APFS, NTFS).
NAME_MAX = 255


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


def path_problem(base: Path, path: Path) -> str | None:
    """Why ``path`` (named by metadata, or found on disk) must not be used, or None.

    Refused: anything that resolves outside ``base`` (``..`` components, absolute
    names, symbolic links pointing elsewhere), names too long for the file
    system, and names that are not valid UTF-8 (they could not be written to the
    manifest). The reason starts with a fixed phrase, so skip reports group them.
    """
    text = str(path)
    if "\x00" in text:
        return "unusable path: NUL character in the name"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if any(len(os.fsencode(part)) > NAME_MAX for part in path.parts):
        return f"file name too long (more than {NAME_MAX} bytes)"
    try:
        inside = path.resolve().is_relative_to(_real(base))
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        return f"unusable path: {getattr(e, 'strerror', None) or e}"
    return None if inside else OUTSIDE


@functools.lru_cache(maxsize=64)
def _real(base: Path) -> Path:
    # one dataset folder is checked against once per example: resolve it once
    return base.resolve()


def short(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, for quoting names in skip reasons."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_lines(path: Path, dataset: str) -> list[tuple[int, str | None]]:
    """(line number, text) for every line of ``path``; text is None where the line is not UTF-8.

    A leading byte-order mark is dropped. A file that cannot be read at all is
    one UserError naming it.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"{dataset}: cannot read {path}: {e.strerror or e}") from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    out = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        try:
            out.append((n, line.rstrip(b"\r").decode("utf-8")))
        except UnicodeDecodeError:
            out.append((n, None))
    if out and out[-1][1] == "":
        out.pop()  # the empty piece after the final newline is not a line
    return out


def finite_seconds(text) -> float:
    """A time in seconds from a metadata field: finite and >= 0, else ValueError."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"time {text!r} is not a finite, non-negative number of seconds")
    return value


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
    audio the metadata does not describe cannot be labelled. Rows are parsed
    one physical line at a time (these files never quote line breaks), so a
    bad row costs that row only.
    """
    examples, skips, listed = [], [], set()
    body = [(n, t) for n, t in read_lines(base / csv_path, dataset) if t is None or t.strip()]
    header = _csv_header(dataset, base, csv_path, columns, body)
    for line, text in body[1:]:
        where = f"{csv_path}:{line}"
        row, why = _csv_row(text, header, n_folds, file_col, label_col)
        if why:
            skips.append(Skip(where, why))
            continue
        name, fold = row[file_col].strip(), int(row["fold"])
        path = audio_path(base, fold, name)
        listed.add(path)
        why = path_problem(base, path)
        if why:
            skips.append(Skip(where, f"{why}: {short(name)!r}"))
        elif not path.is_file():
            skips.append(Skip(rel_id(path, base), "listed in the metadata but missing on disk"))
        else:
            examples.append(Example(id=rel_id(path, base), path=str(path),
                                    label=row[label_col].strip(), group=row[group_col].strip(),
                                    fold=fold))
    for path in sorted((base / "audio").glob(unlisted_glob)):
        if path not in listed:
            why = path_problem(base, path)
            skips.append(Skip(rel_id(path, base) if why is None or why == OUTSIDE else repr(path.name),
                              why or "on disk but not listed in the metadata"))
    if not examples:
        raise UserError(f"{dataset}: no usable audio under {base / 'audio'} ({len(skips)} skipped).")
    return examples, skips


def _csv_header(dataset: str, base: Path, csv_path: str, columns: tuple[str, ...],
                body: list) -> list[str]:
    """The metadata CSV's header, holding every column of ``columns``, or a UserError."""
    header = None
    if body and body[0][1] is not None:
        try:
            header = [c.strip() for c in next(csv.reader([body[0][1]]))]
        except csv.Error:
            header = None
    if header is None:
        where = f"line {body[0][0]}" if body else "an empty file"
        raise UserError(f"{dataset}: {base / csv_path} has no readable header ({where}); "
                        f"expected {','.join(columns)}.")
    missing = [c for c in columns if c not in header]
    if missing:
        raise UserError(f"{dataset}: {base / csv_path} lacks column(s) {', '.join(missing)}; "
                        f"expected {','.join(columns)}.")
    return header


def _csv_row(text: str | None, header: list[str], n_folds: int, file_col: str,
             label_col: str) -> tuple[dict | None, str | None]:
    """(the row by column, None), or (None, why the line is skipped)."""
    if text is None:
        return None, NOT_UTF8
    try:
        fields = next(csv.reader([text]))
    except csv.Error as e:  # e.g. a field over csv.field_size_limit()
        return None, f"unparseable CSV line: {e}"
    if len(fields) != len(header):
        return None, f"row has {len(fields)} fields, the header {len(header)}"
    row = dict(zip(header, fields))
    try:
        fold = int(row["fold"])
        if not 1 <= fold <= n_folds:
            raise ValueError
    except ValueError:
        return None, f"bad fold {short(row['fold'])!r} (expected 1..{n_folds})"
    if not row[file_col].strip() or not row[label_col].strip():
        return None, f"empty file name or {label_col}"
    return row, None
