"""Preparation: check every audio file of a dataset and freeze its manifest.

``prepare`` runs the dataset's adapter (metadata only), decodes every listed
file once to check it (readable, non-empty, finite), fills in durations, turns
bad files into Skips, and writes under ``$GABORBENCH_HOME/prepared/<name>/
<source>-<root hash>/``:

    manifest.json   the PreparedDataset everything downstream reads
    skips.json      every skipped input with its reason (skips.txt: the same, readable)
    summary.json    counts per split / fold / label, skipped count
    listing.json    what the manifest was built from (written last)

Re-running on an unchanged dataset reuses the manifest: ``listing.json`` keys
it on the adapter's output plus every audio file's size and mtime, so only the
adapter (cheap) runs again; any change redoes the decode check.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from tqdm.auto import tqdm

from benchmark import paths
from benchmark.adapters import read_dataset
from benchmark.adapters.common import path_problem
from benchmark.audio import AudioError, check_audio, file_fingerprint
from benchmark.data import (TWIN_MARKER, AdapterOutput, Example, PreparedDataset, Skip,
                            manifest_checksum)
from benchmark.errors import UserError
from benchmark.io import read_json, write_json, write_text

# Bump when the checks change, so manifests built by older code are redone.
PREPARE_VERSION = 2
SHOW_SKIPS = 10  # skips listed in the printed summary; the rest are in skips.txt

Reader = Callable[[str, Path], AdapterOutput]


def prepare(name: str, root: str | os.PathLike | None = None, *, progress: bool = True,
            reader: Reader | None = None) -> PreparedDataset:
    """Check dataset ``name`` under ``root`` and write its manifest and skip report.

    ``root`` defaults to ``$GABORBENCH_HOME/data/<name>``. ``reader`` replaces
    ``benchmark.adapters.read_dataset`` (for tests and custom layouts).
    """
    root = _resolve_root(name, root)
    reader = reader or read_dataset
    out = reader(name, root)
    source = "twin" if (root / TWIN_MARKER).is_file() else "real"
    folder = prepared_folder(name, root, source)

    listing = _listing(root, out)
    try:
        if read_json(folder / "listing.json") == listing:
            prepared = PreparedDataset.from_json(read_json(folder / "manifest.json"))
            if progress:
                print(_summary_text(prepared, read_json(folder / "summary.json"), folder, reused=True))
            return prepared
    except (OSError, ValueError, KeyError, TypeError):
        pass  # nothing usable there: build it

    examples, skips, fingerprints = _check_examples(name, root, out.examples, progress)
    ids = {e.id for e in examples}
    trials = []
    for t in out.trials:
        if t.enroll in ids and t.test in ids:
            trials.append(t)
        else:
            gone = [x for x in (t.enroll, t.test) if x not in ids]
            skips.append(Skip(f"trial {t.enroll} {t.test}",
                              f"refers to unusable example(s): {', '.join(gone)}"))
    all_skips = list(out.skips) + skips
    checksum = _checksum(examples, trials, fingerprints)
    prepared = PreparedDataset(name=name, source=source, root=str(root), examples=examples,
                               trials=trials, skips=all_skips, protocol=out.protocol,
                               checksum=checksum)
    summary = summarize(prepared)
    if source == "twin":
        try:
            summary["twin"] = read_json(root / TWIN_MARKER)
        except (OSError, ValueError):
            summary["twin"] = None

    write_json(folder / "manifest.json", prepared.to_json() | {"file_fingerprints": fingerprints},
               indent=None)
    write_json(folder / "skips.json", [dataclasses.asdict(s) for s in all_skips])
    write_text(folder / "skips.txt", _skips_text(prepared))
    write_json(folder / "summary.json", summary)
    if not examples:
        raise UserError(f"{name}: no usable audio under {root} ({len(all_skips)} input(s) skipped); "
                        f"see {folder / 'skips.txt'}.")
    write_json(folder / "listing.json", listing)  # last: marks the manifest as complete
    if progress:
        print(_summary_text(prepared, summary, folder, reused=False))
    return prepared


def prepared_folder(name: str, root: str | os.PathLike, source: str) -> Path:
    """Where the manifest of dataset ``name`` read from ``root`` lives."""
    key = hashlib.sha256(str(Path(root).expanduser().resolve()).encode()).hexdigest()[:10]
    return paths.prepared_dir() / name / f"{source}-{key}"


def cli_prepare(args) -> int:
    prepare(args.name, args.root, progress=True)
    return 0


# ---------------------------------------------------------------- checks

def _resolve_root(name: str, root) -> Path:
    root = Path(root).expanduser() if root is not None else paths.data_dir(name)
    if not root.is_dir():
        raise UserError(f"{name}: dataset folder {root} does not exist. Fetch it with "
                        f"'gaborbench download {name}' (or pass --root DIR), or write a synthetic "
                        f"twin with 'gaborbench synth {name} --out DIR' and pass --root DIR.")
    return root.resolve()


def _example_path(root: Path, ex: Example) -> Path:
    return Path(ex.path) if os.path.isabs(ex.path) else root / ex.path


def _check_one(path: Path):
    """(info, fingerprint, None) for a usable file, else (None, None, reason)."""
    try:
        if not path.is_file():
            return None, None, "missing on disk"
        info = check_audio(path)
        return info, file_fingerprint(path), None
    except AudioError as e:
        # libsndfile messages repeat the full path; the skip already names the file.
        return None, None, e.reason.replace(str(path), path.name)
    except OSError as e:
        return None, None, f"unreadable: {e.strerror or e}"
    except ValueError as e:  # e.g. a NUL character in the name
        return None, None, f"unusable path: {e}"


def _reference_problem(ex: Example) -> str | None:
    """Why an example's reference times cannot be used (NaN, Inf, negative), or None."""
    spans = list(ex.segments or ()) + ([ex.uem] if ex.uem is not None else [])
    for span in spans:
        if not all(isinstance(t, (int, float)) and math.isfinite(t) and t >= 0 for t in span):
            return f"non-finite or negative time in the reference: {span!r}"
    return None


def _check_examples(name: str, root: Path, examples: list[Example], progress: bool):
    seen: set[str] = set()
    todo, skips = [], []
    for ex in examples:
        if ex.id in seen:
            skips.append(Skip(ex.id, "duplicate example id (an earlier entry with this id was kept)"))
            continue
        seen.add(ex.id)
        # adapters already refuse these; checked again here because a custom
        # reader's paths (or a symlink) must not pull outside files into a manifest
        why = path_problem(root, _example_path(root, ex)) or _reference_problem(ex)
        if why:
            skips.append(Skip(ex.id, why))
        else:
            todo.append(ex)
    # Decoding is I/O plus libsndfile/NumPy work that releases the GIL: threads overlap it.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(_check_one, [_example_path(root, e) for e in todo]),
                            total=len(todo), desc=f"checking {name} audio", unit="file",
                            disable=not progress, leave=False))
    good, fingerprints = [], {}
    for ex, (info, fp, reason) in zip(todo, results):
        if reason is not None:
            skips.append(Skip(ex.id, reason))
        else:
            good.append(dataclasses.replace(ex, duration=round(info.duration, 6)))
            fingerprints[ex.id] = fp
    return good, skips, fingerprints


def _checksum(examples, trials, fingerprints: dict[str, str]) -> str:
    # data.manifest_checksum covers ids, labels, splits, segments and durations;
    # the per-file content fingerprints are added so two copies with identical
    # metadata but different audio (twins of different seeds) never share a
    # feature cache.
    blob = json.dumps([manifest_checksum(examples, trials), sorted(fingerprints.items())])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _listing(root: Path, out: AdapterOutput) -> dict:
    """What a manifest was built from: the adapter's output and each file's size and mtime."""
    stats = []
    for ex in out.examples:
        try:
            st = os.stat(_example_path(root, ex))
            stats.append([ex.id, st.st_size, st.st_mtime_ns])
        except (OSError, ValueError):
            stats.append([ex.id, None, None])
    adapter = json.dumps(dataclasses.asdict(out), sort_keys=True, default=str)
    return {
        "version": PREPARE_VERSION,
        "adapter": hashlib.sha256(adapter.encode()).hexdigest(),
        "files": hashlib.sha256(json.dumps(stats).encode()).hexdigest(),
        "n_files": len(stats),
    }


# ---------------------------------------------------------------- reporting

def summarize(prepared: PreparedDataset) -> dict:
    """Counts per split, fold and label, total duration and skips, as JSON."""
    ex = prepared.examples

    def count(key):
        c = Counter(getattr(e, key) for e in ex if getattr(e, key) is not None)
        return {str(k): v for k, v in sorted(c.items())}  # folds sort as numbers

    return {
        "name": prepared.name,
        "source": prepared.source,
        "root": prepared.root,
        "protocol": prepared.protocol,
        "checksum": prepared.checksum,
        "examples": len(ex),
        "hours": round(sum(e.duration or 0.0 for e in ex) / 3600, 4),
        "groups": len({e.group for e in ex if e.group is not None}),
        "speech_hours": round(sum(b - a for e in ex for a, b in (e.segments or ())) / 3600, 4),
        "trials": len(prepared.trials),
        "per_split": count("split"),
        "per_fold": count("fold"),
        "per_label": count("label"),
        "skipped": len(prepared.skips),
        "skipped_by_reason": dict(Counter(s.reason.split(":")[0] for s in prepared.skips).most_common()),
    }


def _skips_text(prepared: PreparedDataset) -> str:
    head = f"# {prepared.name} ({prepared.source}) at {prepared.root}: {len(prepared.skips)} skipped input(s)\n"
    text = head + "".join(f"{s.path}\t{s.reason}\n" for s in prepared.skips)
    # a file name that is not UTF-8 (surrogate escapes) is written escaped, not refused
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _summary_text(prepared: PreparedDataset, summary: dict, folder: Path, *, reused: bool) -> str:
    def counts(d: dict, limit: int = 12) -> str:
        items = [f"{k}={v}" for k, v in d.items()]
        more = f" ... ({len(items) - limit} more)" if len(items) > limit else ""
        return " ".join(items[:limit]) + more

    lines = [f"{prepared.name} ({prepared.source}{', unchanged: manifest reused' if reused else ''}) "
             f"from {prepared.root}",
             f"  {summary['examples']} examples, {summary['hours'] * 60:.1f} min of audio, "
             f"{summary['groups']} groups; protocol: {prepared.protocol or 'n/a'}"]
    for key in ("per_split", "per_fold", "per_label"):
        if summary[key]:
            lines.append(f"  {key[4:]}: {counts(summary[key])}")
    if summary["speech_hours"]:
        lines.append(f"  reference speech: {summary['speech_hours'] * 60:.1f} min "
                     f"({summary['speech_hours'] / max(summary['hours'], 1e-9):.0%} of the audio)")
    if summary["trials"]:
        lines.append(f"  trials: {summary['trials']}")
    skips = prepared.skips
    if skips:
        lines.append(f"  skipped {len(skips)} input(s)"
                     + (f", first {SHOW_SKIPS}:" if len(skips) > SHOW_SKIPS else ":"))
        lines += [f"    {s.path}: {s.reason}" for s in skips[:SHOW_SKIPS]]
        lines.append(f"  full skip report: {folder / 'skips.txt'}")
    else:
        lines.append("  skipped: none")
    lines.append(f"  manifest: {folder / 'manifest.json'}")
    return "\n".join(lines)
