"""The whole pipeline: twins -> prepare -> features -> every registered system ->
run files -> report, through ``gaborbench reproduce --profile ci`` on a clip
dataset and a speech-activity dataset; killed mid-grid and resumed; then
``gaborbench predict`` on the models it trained."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import paths
from benchmark.cli import main

pytestmark = pytest.mark.slow

DATASETS = ("ami", "urbansound8k")
FOLD = {"ami": None, "urbansound8k": 1}  # the ci profile tests fold 1 of fold-based datasets


def _systems() -> list[str]:
    from benchmark.systems import system_names

    return system_names()


def _run_files(out: Path) -> dict[Path, tuple[bytes, int]]:
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted((out / "runs").glob("*/*/*.json"))}


def _cmd(out: Path) -> list[str]:
    argv = ["reproduce", "--profile", "ci", "--out", str(out)]
    for d in DATASETS:
        argv += ["--dataset", d]
    return argv


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """Start the grid in a subprocess, SIGKILL it once the first run is written, then resume."""
    from benchmark.results import RUN_KEYS

    out = tmp_path_factory.mktemp("results")
    log = out.parent / "killed_grid.log"
    env = dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT))
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "benchmark.cli", *_cmd(out)],
                                cwd=paths.REPO_ROOT, env=env, stdout=f, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 900  # a safeguard against a hung child, not a timing check
        while not _run_files(out) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        was_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    if not _run_files(out):
        pytest.fail("the grid wrote no run file before it stopped:\n"
                    + log.read_text(errors="replace")[-3000:])

    # Whatever the kill interrupted, every run file present is complete JSON.
    after_kill = _run_files(out)
    for p, (blob, _) in after_kill.items():
        run = json.loads(blob)
        assert all(k in run for k in RUN_KEYS), p
    models_after_kill = {out / json.loads(blob)["model_path"]: None for blob, _ in after_kill.values()}
    models_after_kill = {p: p.stat().st_mtime_ns for p in models_after_kill}

    # Resume in this process.
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(_cmd(out))
    return {"out": out, "was_running": was_running, "after_kill": after_kill,
            "models_after_kill": models_after_kill, "rc": rc, "stdout": buf.getvalue()}


def test_kill_left_work_and_no_partial_run_files(grid):
    assert grid["was_running"], "the grid finished before it could be killed"
    n = len(DATASETS) * len(_systems())
    assert 1 <= len(grid["after_kill"]) < n


def test_resume_completes_the_grid_over_every_system(grid):
    assert grid["rc"] == 0, grid["stdout"][-3000:]
    out = grid["out"]
    for d in DATASETS:
        for s in _systems():
            stem = "seed0" if FOLD[d] is None else f"seed0_fold{FOLD[d]}"
            run = json.loads((out / "runs" / d / s / f"{stem}.json").read_text())
            assert (run["dataset"], run["system"], run["profile"], run["data_source"]) == (d, s, "ci", "twin")
            assert run["main_metric"] in run["metrics"]
            assert (out / run["model_path"]).is_file()
    assert len(_run_files(out)) == len(DATASETS) * len(_systems())


def test_resume_skipped_the_finished_cells(grid):
    k, n = len(grid["after_kill"]), len(DATASETS) * len(_systems())
    assert re.search(rf"\b{k} of {n} already done\b", grid["stdout"])
    now = _run_files(grid["out"])
    for p, before in grid["after_kill"].items():
        assert now[p] == before, f"{p} was rewritten"
    for p, mtime in grid["models_after_kill"].items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was retrained"


def test_report_covers_every_system(grid):
    out = grid["out"]
    summary = (out / "summary.csv").read_text()
    table = (out / "tables" / "main.md").read_text()
    for s in _systems():
        assert s in summary and s in table
    for d in DATASETS:
        assert d in summary
    assert any((out / "plots").glob("*.png"))


def test_predict_on_trained_models(grid, capsys, tmp_path):
    from benchmark.io import write_json
    from benchmark.twins import ensure_twin

    out = grid["out"]
    capsys.readouterr()
    meeting = sorted((ensure_twin("ami", size="tiny") / "amicorpus").glob("*/audio/*.wav"))[0]
    run_json = out / "runs/ami/learnable_gabor/seed0.json"
    assert main(["predict", str(run_json), str(meeting)]) == 0
    capsys.readouterr()  # a two-epoch model may find no speech at its tuned thresholds
    # At onset 0 every frame is speech: one segment over the whole meeting.
    run = json.loads(run_json.read_text())
    run["run"]["binarize"] = {"onset": 0.0, "offset": 0.0}
    low = tmp_path / "runs/ami/learnable_gabor/seed0.json"
    write_json(low, run | {"model_path": str(out / run["model_path"])})
    assert main(["predict", str(low), str(meeting)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, "one speech segment over the whole meeting"
    for line in lines:
        f = line.split()
        assert f[0] == "SPEAKER" and f[1] == meeting.stem and f[7] == "speech"
        assert float(f[3]) >= 0 and float(f[4]) > 0

    clips = sorted((ensure_twin("urbansound8k", size="tiny")).rglob("*.wav"))[:2]
    run = out / "runs/urbansound8k/free_cnn/seed0_fold1.json"
    assert main(["predict", str(run), *map(str, clips), "--top", "3"]) == 0
    rows = [l.split("\t") for l in capsys.readouterr().out.splitlines()]
    assert [(r[0], r[1]) for r in rows] == [(str(c), str(i)) for c in clips for i in (1, 2, 3)]
    scores = [float(r[3]) for r in rows]
    assert all(0 <= s <= 1 for s in scores)
    assert scores[0] >= scores[1] >= scores[2]


def test_plan_lists_the_real_ci_grid(capsys):
    from benchmark.config import grid_cells

    assert main(["plan", "--profile", "ci", "--format", "slurm"]) == 0
    script = capsys.readouterr().out
    n = len(grid_cells("ci"))
    assert f"#SBATCH --array=0-{n - 1}\n" in script
    assert script.count("'gaborbench run ") == n
