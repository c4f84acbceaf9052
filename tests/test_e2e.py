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


# --------------------------------------------------------------------------- a real SLURM

SLURM_SYSTEMS = ("mel", "fixed_gabor", "cortical_gabor", "learnable_gabor")  # task 3: cancelled


def _cell_files(out: Path, system: str) -> list[Path]:
    """A cell's results (run file, model, checkpoints); not its logs, nor its claim (.locks)."""
    return sorted(p for p in out.rglob("*") if p.is_file() and system in p.relative_to(out).parts
                  and "logs" not in p.relative_to(out).parts
                  and not any(part.startswith(".") for part in p.relative_to(out).parts))


def test_slurm_array_matches_the_grid(grid, tmp_path):
    """The ci urbansound8k cells as a job array on a real slurmctld, with a report job: a task
    requeued mid-run resumes, a cancelled one leaves nothing, and every cell's run equals the
    one `gaborbench reproduce` made (same configuration hash, metrics, training history and
    learned filters)."""
    import _slurm

    out, work = tmp_path / "slurm-results", tmp_path / "submit"
    work.mkdir()
    with _slurm.cluster(tmp_path / "slurm") as env:
        argv = ["plan", "--profile", "ci", "--format", "slurm", "--dataset", "urbansound8k",
                "--out", str(out), "--cpus-per-task", "1", "--report-job"]
        script = _slurm.run(env, "gaborbench", *argv, *[a for s in SLURM_SYSTEMS
                                                        for a in ("--system", s)])
        (work / "grid.sh").write_text(script)
        print(f"$ gaborbench {' '.join(argv)} ...\n{script}")
        submitted = subprocess.run(["bash", "grid.sh"], cwd=work, env=env, check=True,
                                   capture_output=True, text=True, timeout=60).stdout
        array, report = re.fullmatch(r"submitted array (\d+) and report job (\d+)\n", submitted).groups()
        log = lambda k: work / f"gaborbench-{array}_{k}.log"  # noqa: E731
        training = lambda k: log(k).is_file() and "Epoch 1/" in log(k).read_text(errors="replace")  # noqa: E731

        # Requeue task 0 mid-training.
        _slurm.wait_for("task 0 to train", lambda: training(0))
        _slurm.requeue(env, array, 0)
        # Cancel task 3 mid-training.
        _slurm.wait_for("task 3 to train", lambda: training(3))
        _slurm.run(env, "scancel", f"{array}_3")
        _slurm.wait_for("the report job", lambda: _slurm.states(env, report).get(report) in (
            "COMPLETED", "FAILED", "CANCELLED"))
        done = _slurm.states(env, array)
        assert [done[f"{array}_{k}"] for k in range(4)] == ["COMPLETED"] * 3 + ["CANCELLED"], done
        assert _slurm.states(env, report)[report] == "COMPLETED"
        assert "(restart 1)" in log(0).read_text(errors="replace")
        assert not _cell_files(out, SLURM_SYSTEMS[3]), "the cancelled task left a partial result"
        assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp*"))
        summary = (out / "summary.csv").read_text()  # written by the report job
        # The cancelled cell runs again (its claim died with it): the whole grid completes.
        subprocess.run(["sbatch", "--wait", "--array=3", "grid.sh"], cwd=work, env=env,
                       check=True, capture_output=True, timeout=300)
        # What happened, for whoever reads the log (pytest -s): the tasks by array index,
        # and SLURM's own completion records (jobcomp: accounting needs slurmdbd).
        print(_slurm.run(env, "squeue", "-r", "-t", "all", "-o", "%.10i %.24j %.10T %.8M %r"))
        print(_slurm.run(env, "sacct", "-c", "-o", "JobID,JobName%24,State,ExitCode,Start,End"))

    ref = grid["out"]
    for s in SLURM_SYSTEMS:
        run = json.loads((out / "runs/urbansound8k" / s / "seed0_fold1.json").read_text())
        want = json.loads((ref / "runs/urbansound8k" / s / "seed0_fold1.json").read_text())
        # (the model files' bytes differ: Keras writes the time of saving into them)
        assert (run["config_hash"], run["metrics"], run["history"], run["gabor"]) == (
            want["config_hash"], want["metrics"], want["history"], want["gabor"]), s
        assert len(list((out / "runs/urbansound8k" / s).glob("*.json"))) == 1
    # The report job's rows are the reference report's rows for the same cells.
    rows = [r for r in summary.splitlines()[1:] if r.startswith("urbansound8k,")]
    reference = set((ref / "summary.csv").read_text().splitlines())
    assert len(rows) >= 3 and all(r in reference for r in rows), rows
