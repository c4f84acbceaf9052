"""Synthetic twins: small datasets written in the real datasets' exact layouts.

A twin is a pure function of (dataset, size, seed): the same arguments give
byte-identical files. It is built in a temporary folder and renamed into place,
so a twin folder is either complete or absent, and its root holds
``benchmark.data.TWIN_MARKER`` so it can never pass for real data, and
``PLANTED`` (PLANTED_MODULATIONS.json), the modulations that carry each class.

    from benchmark.twins import ensure_twin
    root = ensure_twin("urbansound8k", size="tiny")  # then read it like the real one

Every module here but the shared helpers is one dataset's generator (its
``write(out, size, seed, track)``), registered under the module's name; a
generator elsewhere registers itself with :func:`register_twin`.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from benchmark.data import TWIN_MARKER
from benchmark.errors import UserError, unknown
from benchmark.io import (file_lock, probe_writable, read_json, remove_stale_temporaries,
                          temp_prefix, write_json)
from benchmark.paths import twins_dir
from benchmark.registry import Registry

# Bump when any generator's output changes: cached twins are then rebuilt.
GENERATOR_VERSION = 3
SIZES = ("tiny", "demo")
_HELPERS = ("signals", "tts")
# name -> the generator's module (or its ``write`` function); this package's modules are
# lazy entries: one is imported only when its twin is built.
TWINS = Registry("synthetic twin")
for _m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _m.name not in _HELPERS and not _m.name.startswith("_"):
        TWINS.register(_m.name, f"{__name__}.{_m.name}", owner=f"{__name__}.{_m.name}")


def register_twin(name: str, write) -> None:
    """Register ``write(out: Path, size: str, seed: int, track) -> None`` as the twin of ``name``."""
    TWINS.register(name, write)
# Every twin writes this beside TWIN_MARKER: for each class, the modulations (rate in
# Hz, scale in cycles/octave, sweep direction) its generator planted as the evidence.
PLANTED = "PLANTED_MODULATIONS.json"


def _check(name: str, size: str) -> None:
    if name not in TWINS:
        unknown("synthetic twin", name, TWINS)
    if size not in SIZES:
        raise UserError(f"unknown twin size {size!r}; use one of {', '.join(SIZES)}.")


def marker(name: str, size: str, seed: int) -> dict:
    return {"dataset": name, "size": size, "seed": int(seed), "generator_version": GENERATOR_VERSION}


def is_complete(root: Path, name: str, size: str, seed: int) -> bool:
    try:
        return read_json(Path(root) / TWIN_MARKER) == marker(name, size, seed)
    except (OSError, ValueError):
        return False


def _tracker(progress: bool | None):
    def track(items, desc=None):
        if progress is False:
            return items

        return tqdm(items, desc=desc, unit="file", leave=False, disable=None if progress is None else False)

    return track


def _build(name: str, out: Path, size: str, seed: int, progress: bool | None) -> Path:
    """Write the twin into a sibling temporary folder, then rename it to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out.parent, out.name)  # builds killed before their clean-up ran
    tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(out.name), suffix=".tmp", dir=out.parent))
    try:
        entry = TWINS[name]
        getattr(entry, "write", entry)(tmp, size, seed, _tracker(progress))
        if not (tmp / PLANTED).is_file():
            raise RuntimeError(f"the {name} twin generator wrote no {PLANTED}")
        write_json(tmp / TWIN_MARKER, marker(name, size, seed))
        if out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        os.rename(tmp, out)  # atomic; fails if ``out`` exists and is not empty
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if type(e).__name__ == "LibsndfileError":
            # libsndfile reports a full or read-only disk as "System error": a one-byte
            # probe turns it back into the OSError that names the cause
            probe_writable(out.parent)
        raise
    return out


def synth(name: str, out: str | os.PathLike, size: str = "tiny", seed: int = 0,
          progress: bool | None = False) -> Path:
    """Write the twin of dataset ``name`` at folder ``out`` (which must not hold files yet)."""
    _check(name, size)
    out = Path(out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; remove it or choose another --out.")
    try:
        return _build(name, out, size, seed, progress)
    except OSError:
        if out.is_dir() and any(out.iterdir()):  # two writers of one --out: the first one won
            raise UserError(f"another process wrote {out} while this one was building it; "
                            f"theirs is kept (remove it to build again)") from None
        raise


def ensure_twin(name: str, size: str = "demo", seed: int = 0, progress: bool | None = None) -> Path:
    """The twin's folder under ``twins_dir()``, built on first use and reused after."""
    _check(name, size)
    out = twins_dir() / f"{name}-{size}-seed{seed}"
    if is_complete(out, name, size, seed):
        return out
    # One builder at a time: without it a second process could remove an older version's
    # folder while the first is renaming its new build there.
    with file_lock(out.parent / f".{out.name}.lock"):
        if is_complete(out, name, size, seed):  # built by another process while we waited
            return out
        if out.exists():  # an older generator version: replace it
            shutil.rmtree(out)
        return _build(name, out, size, seed, progress)


def cli_synth(args) -> int:
    """``gaborbench synth NAME --out DIR [--size tiny|demo] [--seed N]``."""
    t0 = time.perf_counter()
    root = synth(args.name, args.out, size=args.size, seed=args.seed, progress=True)
    files = [p for p in root.rglob("*") if p.is_file()]
    mb = sum(p.stat().st_size for p in files) / 1e6
    print(f"wrote {args.name} twin ({args.size}, seed {args.seed}): {len(files)} files, "
          f"{mb:.1f} MB in {time.perf_counter() - t0:.1f} s -> {root}")
    return 0
