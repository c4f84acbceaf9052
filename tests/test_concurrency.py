"""Processes started at once on one results folder and one cache root (array tasks, or the
same grid run twice by mistake): every cell is trained once, by one of them, and every run
file, model, twin and feature-cache entry is whole."""

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


def _start(argv: list[str], out: Path, home: Path, log: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "benchmark.cli", *argv, "--profile", "ci", "--out", str(out),
            "--dataset", DATASET]
    env = dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT), GABORBENCH_HOME=str(home))
    with open(log, "wb") as f:
        return subprocess.Popen(argv, cwd=paths.REPO_ROOT, env=env, stdout=f,
                                stderr=subprocess.STDOUT)


def test_grids_on_one_folder_train_each_cell_once(tmp_path):
    out, home = tmp_path / "results", tmp_path / "home"   # a fresh home: the twin is built now
    # Two copies of one grid, and a single run of its last cell: that one and the first grid
    # start on different cells of one dataset at once, so both want its features together.
    grids = [["reproduce", *[a for s in SYSTEMS for a in ("--system", s)]]] * 2
    commands = [*grids, ["run", "--system", SYSTEMS[-1]]]
    logs = [tmp_path / f"process{i}.log" for i in range(len(commands))]
    procs = [_start(argv, out, home, log) for argv, log in zip(commands, logs)]
    try:
        codes = [p.wait(timeout=600) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    text = [log.read_text(errors="replace") for log in logs]
    assert codes == [0] * len(commands), "\n\n".join(t[-3000:] for t in text)

    runs = sorted((out / "runs" / DATASET).glob("*/*.json"))
    assert [p.parent.name for p in runs] == sorted(SYSTEMS)
    for path in runs:
        run = json.loads(path.read_text())   # whole JSON, not two writers' bytes interleaved
        assert (out / run["model_path"]).is_file()
        system = path.parent.name
        # Trained by one process only: the others waited for the claim, then skipped the cell.
        skipped = sum(len(re.findall(rf"^skip {DATASET}/{system} seed 0\b", t, re.M)) for t in text)
        asked = sum(system in argv for argv in commands)
        assert skipped == asked - 1, (system, "\n\n".join(text))
    # ...and each fit ran once in all (Keras prints one "Epoch 1/N" per fit).
    assert sum(t.count("Epoch 1/") for t in text) == len(SYSTEMS)
    assert not [p for p in out.rglob("*.tmp")], "a temporary was left behind"

    # One feature-cache entry per key, complete, and no half-built folder beside it.
    entries = [p for p in (home / "features").glob("*/*") if not p.name.startswith(".")]
    assert entries and all(json.loads((p / "index.json").read_text())["complete"] for p in entries)
    assert not [p for p in (home / "features").glob("*/.*.tmp*")]
    twins = [p for p in (home / "twins").iterdir() if not p.name.startswith(".")]
    assert len(twins) == 1
