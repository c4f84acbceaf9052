"""The paper grid's GPU guard, its estimate of runs, device-hours and disk, and the
Makefile's GPU install. Nothing here trains or imports a framework: the detector and
the grid runner are replaced."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from benchmark import grid
from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_gpu(monkeypatch, tmp_path):
    """No accelerator visible; run_grid and the report replaced, so that nothing trains."""
    asked, ran = [], []
    monkeypatch.setattr(grid, "accelerator_count",
                        lambda: asked.append(1) or (0, "tensorflow", "no GPU device in /dev"))

    def run_grid(cells, *, profile, data, out, jobs=1, runner=None):
        ran.append((profile, data, len(cells)))
        return {}

    monkeypatch.setattr(grid, "run_grid", run_grid)
    # the grid's cells without the registry's Keras import, and no report
    monkeypatch.setattr(grid, "select_cells", lambda profile, datasets=(), systems=(): [
        grid.Cell("zebra_finch", "mel", 0, 1), grid.Cell("zebra_finch", "mel", 1, 2)])
    report = types.ModuleType("benchmark.report")
    report.build_report = lambda runs, out: None
    monkeypatch.setitem(sys.modules, "benchmark.report", report)
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    return asked, ran


@pytest.mark.parametrize("profile", ["paper", "paper-window"])
def test_a_real_data_grid_without_a_gpu_stops_with_one_line(no_gpu, tmp_path, capsys, profile):
    asked, ran = no_gpu
    rc = main(["reproduce", "--profile", profile, "--out", str(tmp_path / "res")])
    out, err = capsys.readouterr()
    assert rc == 2 and asked == [1] and ran == []
    assert len(err.splitlines()) == 1
    # and what the GPU is needed for: the estimate (runs, device-hours, disk)
    assert out.startswith("estimate of the grid stopped here:\n2 runs to do")
    assert "device-hours in all" in out and "disk: " in out
    assert err.startswith("gaborbench reproduce: error: no GPU visible to TensorFlow")
    for remedy in ("pip install -e '.[gpu]'", "make venv GPU=1", "nvidia-smi", "--allow-cpu"):
        assert remedy in err
    assert f"the {profile} grid on the CPU" in err
    # it stopped before any data work: no output folder, no missing-data markers
    assert not (tmp_path / "res").exists()


def test_allow_cpu_runs_the_paper_grid_without_asking(no_gpu, tmp_path, capsys):
    asked, ran = no_gpu
    rc = main(["reproduce", "--profile", "paper", "--dataset", "zebra_finch", "--system", "mel",
               "--allow-cpu", "--out", str(tmp_path / "res")])
    out = capsys.readouterr().out
    assert rc == 0 and asked == [] and ran == [("paper", "real", 0)]  # the data is missing
    assert "0 runs to do" in out and "disk: the datasets' archives declare 0.2 GB" in out


@pytest.mark.parametrize("profile", ["ci", "demo"])
def test_ci_and_demo_are_never_blocked(no_gpu, tmp_path, profile):
    asked, ran = no_gpu
    rc = main(["reproduce", "--profile", profile, "--dataset", "zebra_finch", "--system", "mel",
               "--out", str(tmp_path / "res")])
    assert rc == 0 and asked == [] and ran and ran[0][:2] == (profile, "twin")
    grid.require_accelerator(profile)  # nor with real data asked for
    assert asked == []


def test_a_gpu_lets_the_paper_grid_run(monkeypatch, no_gpu):
    monkeypatch.setattr(grid, "accelerator_count", lambda: (1, "tensorflow", ""))
    grid.require_accelerator("paper")


def test_the_guard_alone_for_make_reproduce(monkeypatch, capsys):
    monkeypatch.setattr(grid, "accelerator_count", lambda: (0, "jax", "no GPU device in /dev"))
    assert grid._guard_main(["--require-gpu"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "no GPU visible to JAX" in err and "jax[cuda" in err
    assert grid._guard_main(["--require-gpu", "--allow-cpu"]) == 0
    assert grid._guard_main(["--nope"]) == 2


def test_hidden_gpus_are_answered_without_a_framework(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    def no_child(*a, **k):
        raise AssertionError("the backend was asked")

    monkeypatch.setattr(grid.subprocess, "run", no_child)
    n, name, why = grid.accelerator_count()
    assert (n, name) == (0, "tensorflow") and "CUDA_VISIBLE_DEVICES" in why
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert grid.accelerator_count()[0] == 0


def test_the_backend_is_asked_in_a_child_process(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(grid.os.path, "exists", lambda p: True)   # a GPU device node
    answers = iter(["noise\nGPUS tensorflow 2\n", "GPUS tensorflow 0\n", ""])

    def child(argv, **kw):
        assert argv[0] == sys.executable and "gpu_count" in argv[-1]
        return subprocess.CompletedProcess(argv, 0, next(answers), "ImportError: no tensorflow\n")

    monkeypatch.setattr(grid.subprocess, "run", child)
    assert grid.accelerator_count() == (2, "tensorflow", "")
    assert grid.accelerator_count()[2] == "a GPU device exists, but this build does not use it"
    assert "ImportError: no tensorflow" in grid.accelerator_count()[2]


# ------------------------------------------------------------------------- the estimate


def _load(d, runs, epochs, steps, size, present=False):
    return grid.DatasetLoad(d, runs, epochs, steps, size, present)


def test_estimate_arithmetic():
    loads = [_load("ami", 15, 200, 675, 11 * 10**9), _load("esc50", 75, 300, 19, None, True),
             _load("musan", 0, 0, None, 11 * 10**9, True)]
    e = grid.estimate(loads, step_ms=100.0)
    assert e["runs"] == 90
    assert e["steps"] == 15 * 200 * 675 + 75 * 300 * 19 == 2_452_500
    assert e["hours"] == pytest.approx(2_452_500 * 0.1 / 3600)
    assert e["rows"][0]["hours"] == pytest.approx(56.25)
    assert e["disk_declared"] == 22 * 10**9 and e["disk_needed"] == 11 * 10**9
    assert e["disk_unsized"] == ["esc50"] and e["unknown_steps"] == []


def test_estimate_says_when_disk_is_short():
    loads = [_load("voxceleb1", 3, 100, 10, 40 * 10**9)]
    short = "\n".join(grid.estimate_lines(loads, 5 * 10**9, "/cache"))
    assert "SHORT by 35.0 GB" in short and "5.0 GB free there" in short
    assert "SHORT" not in "\n".join(grid.estimate_lines(loads, 50 * 10**9, "/cache"))
    lines = grid.estimate_lines([_load("x", 2, 3, None, None)], None, "/cache")
    assert "? steps" in lines[1] and "not counted: x" in lines[2] and "free space unknown" in lines[3]


def test_declared_sizes_are_read_from_the_recipes_text():
    assert grid.declared_bytes("about 35-40 GB (dev + test WAVs)") == 40 * 10**9
    assert grid.declared_bytes("about 182 MB (one zip holding two zips)") == 182 * 10**6
    assert grid.declared_bytes("about 11 GB (170 WAVs of 16 kHz mono, plus small text files)") == 11 * 10**9
    assert grid.declared_bytes("a few MB (generated)") is None


def test_paper_profile_estimate(monkeypatch, tmp_path):
    """The paper profile's own settings: SAD 200 epochs of 43,200 chunks at batch 64,
    urban sound 300 epochs over 8 of 10 folds, and MUSAN counted for the speech tasks."""
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    cells = ([grid.Cell("ami", "mel", s) for s in range(3)]
             + [grid.Cell("urbansound8k", "mel", s, f) for s in range(3) for f in range(1, 11)])
    loads = {ld.dataset: ld for ld in grid.grid_loads(cells, "paper", "real")}
    assert (loads["ami"].runs, loads["ami"].epochs, loads["ami"].steps_per_epoch) == (3, 200, 675)
    us = loads["urbansound8k"]
    assert (us.runs, us.epochs, us.steps_per_epoch) == (30, 300, 110)
    assert loads["musan"].runs == 0 and loads["musan"].archive_bytes == 11 * 10**9
    assert not any(ld.present for ld in loads.values())
    e = grid.estimate(list(loads.values()))
    assert e["steps"] == 3 * 200 * 675 + 30 * 300 * 110
    assert e["hours"] == pytest.approx(e["steps"] * grid.PAPER_STEP_MS / 3.6e6)
    assert e["disk_needed"] == (11 + 6 + 11) * 10**9


def test_plan_prints_the_estimate_as_comments(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    cells = [grid.Cell("ami", "mel", 0), grid.Cell("ami", "free_cnn", 0)]
    monkeypatch.setattr(grid, "select_cells", lambda profile, datasets=(), systems=(): cells)
    for fmt in ("shell", "slurm"):
        assert main(["plan", "--profile", "paper", "--format", fmt]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "#!/usr/bin/env bash"
        est = [i for i, l in enumerate(lines) if l.startswith("# estimate")]
        assert est and all(l.startswith("#") for l in lines[:est[0] + 6])
        text = "\n".join(lines)
        assert "# 2 runs to do: ami 2" in text and "device-hours" in text and "# disk:" in text
        if fmt == "slurm":  # every #SBATCH line comes before the estimate
            assert max(i for i, l in enumerate(lines) if l.startswith("#SBATCH")) < est[0]
    assert main(["plan", "--profile", "ci", "--format", "shell"]) == 0
    assert "device-hours" not in capsys.readouterr().out


# ------------------------------------------------------------------------- the Makefile


def _make_n(tmp_path, *args, stamp=None) -> str:
    venv = tmp_path / "v"
    if stamp is not None:  # an installed venv: its python and its stamp, newer than pyproject
        (venv / "bin").mkdir(parents=True, exist_ok=True)
        (venv / "bin" / "python").write_text("")
        (venv / ".installed").write_text(stamp)
        t = (ROOT / "pyproject.toml").stat().st_mtime + 10
        os.utime(venv / ".installed", (t, t))
    env = {k: v for k, v in os.environ.items() if k not in ("GPU", "MAKEFLAGS", "ALLOW_CPU")}
    return subprocess.run(["make", "-n", "--no-print-directory", *args, f"VENV={venv}"], cwd=ROOT,
                          capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_venv_gpu_installs_the_gpu_extra(tmp_path):
    assert "pip install --quiet -e '.[test,gpu]'" in _make_n(tmp_path, "venv", "GPU=1")
    plain = _make_n(tmp_path, "venv")
    assert "pip install --quiet -e '.[test]'" in plain and ",gpu" not in plain
    # every target that creates the venv does the same
    assert "'.[test,gpu]'" in _make_n(tmp_path, "test", "GPU=1")
    # a CPU venv is reinstalled when GPU=1 asks for the extra; a GPU venv keeps it
    assert "'.[test,gpu]'" in _make_n(tmp_path, "venv", "GPU=1", stamp="test\n")
    assert "pip install" not in _make_n(tmp_path, "venv", stamp="test\n")
    assert "pip install" not in _make_n(tmp_path, "venv", stamp="test,gpu\n")
    assert "pip install" not in _make_n(tmp_path, "venv", stamp="")  # stamps of older Makefiles
    text = (ROOT / "pyproject.toml").read_text()
    assert 'gpu = ["tensorflow[and-cuda]>=2.18"]' in text


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_reproduce_checks_the_gpu_before_downloading(tmp_path):
    lines = _make_n(tmp_path, "reproduce", stamp="test\n").splitlines()
    assert "benchmark.grid --require-gpu" in lines[0] and "download all" in lines[1]
    assert "--allow-cpu" not in "\n".join(lines)
    lines = _make_n(tmp_path, "reproduce", "ALLOW_CPU=1", stamp="test\n").splitlines()
    assert lines[0].endswith("--require-gpu --allow-cpu") and lines[2].endswith("--allow-cpu")
