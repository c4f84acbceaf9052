"""Two grids started at once on one results folder and one cache root (two array tasks, or
the same command run twice by mistake): every cell is trained once, by one of them, and
every run file, model and feature-cache entry is whole."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import paths

pytestmark = pytest.mark.slow

DATASET = "ripples"   # the fastest ci dataset
SYSTEMS = ("mel", "fixed_gabor")


def _grid(out: Path, home: Path, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "benchmark.cli", "reproduce", "--profile", "ci", "--out",
            str(out), "--dataset", DATASET, *[a for s in SYSTEMS for a in ("--system", s)]]
    env = dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT), GABORBENCH_HOME=str(home))
    with open(log, "wb") as f:
        return subprocess.Popen(argv, cwd=paths.REPO_ROOT, env=env, stdout=f,
                                stderr=subprocess.STDOUT)


def test_two_grids_on_one_folder_train_each_cell_once(tmp_path):
    out, home = tmp_path / "results", tmp_path / "home"   # a fresh home: the twin is built now
    logs = [tmp_path / f"grid{i}.log" for i in (1, 2)]
    procs = [_grid(out, home, log) for log in logs]
    try:
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    text = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], "\n\n".join(t[-3000:] for t in text)

    runs = sorted((out / "runs" / DATASET).glob("*/*.json"))
    assert [p.parent.name for p in runs] == sorted(SYSTEMS)
    for path in runs:
        run = json.loads(path.read_text())   # whole JSON, not two writers' bytes interleaved
        assert (out / run["model_path"]).is_file()
        system = path.parent.name
        # Trained by one grid only: the other waited for the claim, then skipped the cell.
        skipped = sum(len(re.findall(rf"^skip {DATASET}/{system} seed 0\b", t, re.M)) for t in text)
        assert skipped == 1, (system, "\n\n".join(text))
    # ...and each fit ran once in all (Keras prints one "Epoch 1/N" per fit).
    assert sum(t.count("Epoch 1/") for t in text) == len(SYSTEMS)
    assert not [p for p in out.rglob("*.tmp")], "a temporary was left behind"

    # One feature-cache entry per key, complete, and no half-built folder beside it.
    entries = [p for p in (home / "features").glob("*/*") if not p.name.startswith(".")]
    assert entries and all(json.loads((p / "index.json").read_text())["complete"] for p in entries)
    assert not [p for p in (home / "features").glob("*/.*.tmp*")]
    twins = [p for p in (home / "twins").iterdir() if not p.name.startswith(".")]
    assert len(twins) == 1
