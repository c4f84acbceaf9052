"""Where things live on disk.

Downloads, extracted datasets, synthetic twins, prepared manifests and feature
caches all live under one cache root, ``GABORBENCH_HOME`` (default
``~/.cache/gabor-bench``), never inside the repository. Results live in the
repository's ``results/`` folder so they can be committed.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATASETS_DIR = REPO_ROOT / "datasets"      # declarative recipes
RESULTS_DIR = REPO_ROOT / "results"        # committed run JSONs, tables, plots

DEFAULT_HOME = Path("~/.cache/gabor-bench")


def home() -> Path:
    """The cache root: ``$GABORBENCH_HOME`` or ``~/.cache/gabor-bench``."""
    return Path(os.environ.get("GABORBENCH_HOME") or DEFAULT_HOME).expanduser()


def downloads_dir() -> Path:
    """Verified archives and files exactly as fetched."""
    return home() / "downloads"


def data_dir(dataset: str) -> Path:
    """Extracted real dataset (also where manual datasets are expected)."""
    return home() / "data" / dataset


def twins_dir() -> Path:
    """Generated synthetic twins, one folder per name/size/seed."""
    return home() / "twins"


def prepared_dir() -> Path:
    """Prepared manifests and skip reports."""
    return home() / "prepared"


def features_dir() -> Path:
    """Feature caches keyed by configuration and data hash."""
    return home() / "features"


def evidence_dir() -> Path:
    """Evidence maps (where a dataset's classes separate in modulation space), keyed by
    manifest, features and draw."""
    return home() / "evidence"
