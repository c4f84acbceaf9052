"""The grid runner and planner, with training replaced by fakes (fast; the real
pipeline is exercised by test_e2e.py)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmark import grid
from benchmark.cli import main
from benchmark.data import TWIN_MARKER
from benchmark.errors import UserError

CELLS = [("ami", "mel", 0, None), ("ami", "free_cnn", 0, None),
         ("urbansound8k", "mel", 0, 1), ("urbansound8k", "mel", 0, 2),
         ("voxceleb1", "mel", 1, None)]


def _run_path(out, dataset, system, seed, fold):
    fold = "" if fold is None else f"_fold{fold}"
    return Path(out) / "runs" / dataset / system / f"seed{seed}{fold}.json"


def _hash(*key):
    return "-".join(map(str, key))


def _resolve_config(dataset, system, profile="demo", overrides=(), *, seed=0, fold=None, data=None):
    return types.SimpleNamespace(hash=lambda: _hash(dataset, system, seed, fold))


class _FakeRecord:
    """The one door to run files, as the fake runs need it: their configuration hash."""

    @staticmethod
    def configured_hash(path):
        try:
            return json.loads(Path(path).read_text()).get("config_hash")
        except (OSError, ValueError):
            return None


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    """Fake tasks/results/train/report modules; ``calls`` records what ran."""
    calls = {"run": [], "report": [], "fail": set()}

    def run_cell(dataset, system, seed=0, fold=None, profile="demo", data=None, out=None,
                 overrides=(), progress=True):
        calls["run"].append((dataset, system, seed, fold, profile, data, progress))
        if (dataset, system) in calls["fail"]:
            raise RuntimeError(f"boom in {dataset}/{system}")
        path = _run_path(out, dataset, system, seed, fold)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"dataset": dataset, "system": system,
                                        "config_hash": _hash(dataset, system, seed, fold)}))
        return path

    def build_report(runs_dir, out_dir):
        calls["report"].append((Path(runs_dir), Path(out_dir)))

    mods = {
        "benchmark.config": {"grid_cells": lambda profile: list(CELLS),
                            "resolve_config": _resolve_config},
        "benchmark.results": {"run_path": _run_path, "RunRecord": _FakeRecord},
        "benchmark.train": {"run_cell": run_cell},
        "benchmark.report": {"build_report": build_report},
    }
    for name, attrs in mods.items():
        m = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(m, k, v)
        monkeypatch.setitem(sys.modules, name, m)
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    return calls


def test_select_cells_filters_and_rejects_unknown(fakes):
    assert [c.name for c in grid.select_cells("ci", ["urbansound8k"])] == [
        "urbansound8k/mel/seed0_fold1", "urbansound8k/mel/seed0_fold2"]
    assert len(grid.select_cells("ci", (), ["free_cnn"])) == 1
    with pytest.raises(UserError, match="esc50"):
        grid.select_cells("ci", ["esc50"])


def test_plan_shell_has_one_exact_command_per_cell(fakes, capsys):
    assert main(["plan", "--profile", "paper", "--format", "shell", "--out", "res dir"]) == 0
    lines = capsys.readouterr().out.splitlines()
    cmds = [shlex.split(l) for l in lines if l.startswith("gaborbench run")]
    assert len(cmds) == len(CELLS)
    for argv, (d, s, seed, fold) in zip(cmds, CELLS):
        opts = dict(zip(argv[2::2], argv[3::2]))
        assert opts["--dataset"] == d and opts["--system"] == s and opts["--seed"] == str(seed)
        assert opts.get("--fold") == (None if fold is None else str(fold))
        assert opts["--profile"] == "paper" and opts["--out"] == "res dir"
    # every command is accepted by the real parser
    from benchmark.cli import _build_parser
    for argv in cmds:
        _build_parser().parse_args(argv[1:])


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_plan_slurm_array_runs_the_indexed_command(fakes, tmp_path):
    script = grid.render_plan(grid.select_cells("paper"), profile="paper", fmt="slurm")
    assert f"#SBATCH --array=0-{len(CELLS) - 1}\n" in script
    # Defaults a stock cluster accepts: no GRES, no CPU count, time or memory unless asked.
    assert not re.search(r"^#SBATCH --(gres|gpus|cpus-per-task|time|mem|partition|account)",
                         script, re.M)
    path = tmp_path / "job.sh"
    path.write_text(script)
    # Execute the array script with `gaborbench` replaced by a function that echoes its argv.
    for task in (0, len(CELLS) - 1):
        out = subprocess.run(
            ["bash", "-c", f'gaborbench() {{ echo "ARGV $*"; }}; source {shlex.quote(str(path))}'],
            env={"PATH": os.environ["PATH"], "SLURM_ARRAY_TASK_ID": str(task)},
            capture_output=True, text=True, check=True).stdout
        argv = [l for l in out.splitlines() if l.startswith("ARGV ")]
        assert argv == ["ARGV " + grid.run_command(grid.Cell(*CELLS[task]), "paper", None, None)[len("gaborbench "):]]


def test_reproduce_records_failures_and_resumes(fakes, tmp_path, capsys):
    out = tmp_path / "res"
    fakes["fail"].add(("ami", "free_cnn"))
    rc = main(["reproduce", "--profile", "ci", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "ami/free_cnn/seed0" in err and "boom in ami/free_cnn" in err
    log = json.loads((out / "logs/failed/ami/free_cnn/seed0.json").read_text())
    assert log["error"] == "RuntimeError: boom in ami/free_cnn" and "Traceback" in log["traceback"]
    # the grid went on past the failure and built the report
    assert len(fakes["run"]) == len(CELLS)
    assert all(p[5] == "twin" and p[6] is True for p in fakes["run"])
    assert fakes["report"] == [(out / "runs", out)]

    fakes["fail"].clear()
    fakes["run"].clear()
    stale = _run_path(out, "ami", "mel", 0, None)  # a run of another configuration: not done
    stale.write_text(json.dumps({"config_hash": "other"}))
    rc = main(["reproduce", "--profile", "ci", "--out", str(out)])
    assert rc == 0
    assert f"{len(CELLS) - 2} of {len(CELLS)} already done" in capsys.readouterr().out
    assert not (out / "logs/failed/ami/free_cnn/seed0.json").exists()


def test_paper_profile_marks_missing_data_and_never_uses_a_twin(fakes, tmp_path, capsys):
    out = tmp_path / "res"
    home = Path(os.environ["GABORBENCH_HOME"])
    # a twin sitting where real data belongs must not count as real data
    (home / "data/voxceleb1").mkdir(parents=True)
    (home / "data/voxceleb1" / TWIN_MARKER).write_text("{}")
    rc = main(["reproduce", "--profile", "paper", "--allow-cpu", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0  # missing data is reported, not a failure
    assert fakes["run"] == []
    for d in ("ami", "urbansound8k", "voxceleb1"):
        marker = json.loads((out / "runs" / d / "MISSING.json").read_text())
        assert marker["dataset"] == d and marker["reason"]
        assert f"not running {d}" in err
    assert "gaborbench download ami" in json.loads((out / "runs/ami/MISSING.json").read_text())["reason"]
    vox = json.loads((out / "runs/voxceleb1/MISSING.json").read_text())["reason"]
    assert "synthetic twin" in vox and "by hand" in vox
    assert not (home / "twins").exists()
    assert fakes["report"] == [(out / "runs", out)]


def test_present_real_dataset_runs_and_clears_its_marker(fakes, tmp_path):
    from benchmark.recipes import load_recipe

    out = tmp_path / "res"
    root = Path(os.environ["GABORBENCH_HOME"]) / "data/ami"
    grid.mark_missing(out, ["ami"])
    assert (out / "runs/ami/MISSING.json").exists()
    for e in load_recipe("ami").expect:
        (root / e).parent.mkdir(parents=True, exist_ok=True)
        (root / e).mkdir(exist_ok=True)
    assert grid.missing_reason("ami") is None
    assert main(["reproduce", "--profile", "paper", "--dataset", "ami", "--allow-cpu",
                 "--out", str(out)]) == 0
    assert [r[:2] for r in fakes["run"]] == [("ami", "mel"), ("ami", "free_cnn")]
    assert all(r[5] == "real" for r in fakes["run"])
    assert not (out / "runs/ami/MISSING.json").exists()


def test_worker_env_pins_gpus_or_shares_cores():
    assert grid.worker_env(0, 2, ["0", "1"], 16) == {"CUDA_VISIBLE_DEVICES": "0"}
    assert grid.worker_env(3, 4, ["0", "1"], 16) == {"CUDA_VISIBLE_DEVICES": "1"}
    env = grid.worker_env(1, 4, [], 16)
    assert env["CUDA_VISIBLE_DEVICES"] == "-1"
    assert env["OMP_NUM_THREADS"] == env["TF_NUM_INTRAOP_THREADS"] == "4"
    assert grid.worker_env(0, 8, [], 2)["OMP_NUM_THREADS"] == "1"


def test_visible_gpus_reads_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert grid.visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert grid.visible_gpus() == []


def _env_runner(cell, profile, data, out, progress):
    """Runs in a spawned worker: report the worker's environment, or fail on request."""
    if cell.system == "bad":
        raise ValueError("bad system")
    return {"ok": True, "pid": os.getpid(), "progress": progress,
            "env": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")}}


def test_parallel_workers_get_their_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPUs: share the cores
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    cells = [grid.Cell("ami", s) for s in ("mel", "free_cnn", "fixed_gabor")]
    res = grid.run_grid(cells, profile="ci", data="twin", out=tmp_path, jobs=2, runner=_env_runner)
    assert set(res) == set(cells) and all(r["ok"] for r in res.values())
    assert all(r["progress"] is False for r in res.values())
    assert all(r["pid"] != os.getpid() for r in res.values())
    assert {r["env"]["CUDA_VISIBLE_DEVICES"] for r in res.values()} == {"-1"}
    assert {r["env"]["OMP_NUM_THREADS"] for r in res.values()} == {"2"}


def test_parallel_failure_is_logged(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cells = [grid.Cell("ami", "mel"), grid.Cell("ami", "bad")]
    # a raising runner that escapes: the pool reports it and the grid still finishes
    res = grid.run_grid(cells, profile="ci", data="twin", out=tmp_path, jobs=2, runner=_env_runner)
    assert res[cells[0]]["ok"] and not res[cells[1]]["ok"]
    assert "bad system" in res[cells[1]]["error"]
    assert json.loads((tmp_path / "logs/failed/ami/bad/seed0.json").read_text())["system"] == "bad"


def _telling_runner(cell, profile, data, out, progress):
    """Runs in a spawned worker: announce the cell as the real runner does."""
    grid._tell(cell, "started")
    return {"ok": True, "seconds": 0.0}


def test_parallel_workers_say_which_cell_each_runs(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    cells = [grid.Cell("ami", s) for s in ("mel", "free_cnn", "fixed_gabor")]
    res = grid.run_grid(cells, profile="ci", data="twin", out=tmp_path, jobs=2,
                        runner=_telling_runner)
    assert all(r["ok"] for r in res.values())
    captured = capsys.readouterr()
    lines = [l for l in (captured.out + captured.err).splitlines() if l.startswith("worker ")]
    for c in cells:
        started = [l for l in lines if l.endswith(f": {c.name} started")]
        finished = [l for l in lines if l.endswith(f": {c.name} done in 0 s")]
        assert len(started) == 1 and len(finished) == 1, lines
        assert started[0].split(":")[0] == finished[0].split(":")[0] in ("worker 1", "worker 2")


def _sleep_runner(cell, profile, data, out, progress):
    """Runs in a spawned worker: say who it is, then train 'forever'."""
    import time

    (Path(out) / f"{cell.system}.pid").write_text(str(os.getpid()))
    time.sleep(600)
    return {"ok": True}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_killed_grid_leaves_no_orphan_workers(tmp_path):
    import signal
    import time

    script = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "import test_grid\nfrom pathlib import Path\nfrom benchmark import grid\n"
              "grid.run_grid([grid.Cell('ami', 'a'), grid.Cell('ami', 'b')], profile='ci', "
              f"data='twin', out=Path({str(tmp_path)!r}), jobs=2, runner=test_grid._sleep_runner)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    pids = []
    try:
        deadline = time.monotonic() + 120  # a safeguard, not a timing check
        while len(list(tmp_path.glob("*.pid"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # let both pid files be written completely
        pids = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 60
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
    finally:
        parent.kill()
        for p in pids:
            if _alive(p):
                os.kill(p, signal.SIGKILL)


def test_plan_slurm_takes_the_clusters_resources(fakes, capsys):
    assert main(["plan", "--profile", "paper", "--format", "slurm", "--partition", "gpu",
                 "--time", "2-00:00:00", "--mem", "32G", "--cpus-per-task", "4", "--gpus", "1",
                 "--gres", "gpu:a100:1", "--account", "lab", "--sbatch=--constraint=a100",
                 "--sbatch", "#SBATCH --qos=long", "--report-job", "--out", "res"]) == 0
    script = capsys.readouterr().out
    for line in ("--partition=gpu", "--time=2-00:00:00", "--mem=32G", "--cpus-per-task=4",
                 "--gpus=1", "--gres=gpu:a100:1", "--account=lab", "--constraint=a100",
                 "--qos=long", "--requeue", "--open-mode=append"):
        assert f"\n#SBATCH {line}\n" in script
    # The report job waits for the whole array, on the same partition and account, no GPU.
    submit = next(l for l in script.splitlines() if "--dependency" in l)
    assert '--dependency="afterany:$array"' in submit and "--partition=gpu" in submit
    assert "--account=lab" in submit and "gpu:" not in submit.replace("--partition=gpu", "")
    assert "gaborbench report --runs res/runs --out res" in submit


def test_plan_slurm_refuses_a_newline_in_a_resource(fakes):
    with pytest.raises(UserError, match="control characters"):
        grid.render_plan(grid.select_cells("paper"), profile="paper", fmt="slurm",
                         slurm=grid.SlurmOptions(partition="gpu\nrm -rf ~"))


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_plan_report_job_script_submits_the_array_then_the_report(fakes, tmp_path):
    """Run by hand, the --report-job script submits itself as the array, then the report job
    that depends on it (a fake sbatch records both; the real one is in test_e2e)."""
    script = grid.render_plan(grid.select_cells("paper"), profile="paper", fmt="slurm", out="res",
                              slurm=grid.SlurmOptions(partition="p", gpus="1", report_job=True))
    (tmp_path / "grid.sh").write_text(script)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "sbatch").write_text('#!/bin/sh\necho "$*" >> calls\n'
                                   'if [ -f n ]; then echo "77;cluster"; else touch n; echo 42; fi\n')
    (bindir / "sbatch").chmod(0o755)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    out = subprocess.run(["bash", "grid.sh"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out == "submitted array 42 and report job 77\n"
    array, report = (tmp_path / "calls").read_text().splitlines()
    assert array == "--parsable grid.sh"
    assert "--dependency=afterany:42" in report and "--partition=p" in report
    assert "--gpus" not in report and "--wrap gaborbench report --runs res/runs --out res" in report
