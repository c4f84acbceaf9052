"""A real single-node SLURM for tests: started by scripts/slurm-local.sh in a temporary folder,
always stopped afterwards (even when the test fails)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmark import paths

SCRIPT = paths.REPO_ROOT / "scripts" / "slurm-local.sh"
SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def missing() -> str | None:
    """Why no local SLURM can be started here (None when it can)."""
    absent = [c for c in ("munged", "slurmctld", "slurmd", "sbatch", "bash")
              if shutil.which(c, path=SEARCH) is None]
    if absent:
        return (f"no {', '.join(absent)} on this machine (make test installs slurm-wlm and "
                f"munge where it runs as root with apt-get: scripts/slurm-local.sh install)")
    return None


@contextmanager
def cluster(folder: Path):
    """Start munged, slurmctld and slurmd in ``folder``; yield the environment that submits to
    them (SLURM_CONF, and a ``gaborbench`` command of this checkout on PATH)."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    folder.mkdir(parents=True, exist_ok=True)
    bindir = folder / "bin"
    bindir.mkdir()
    shim = bindir / "gaborbench"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m benchmark.cli "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, SLURM_CONF=str(folder / "slurm.conf"), PATH=f"{bindir}:{SEARCH}",
               PYTHONPATH=str(paths.REPO_ROOT))
    try:
        subprocess.run(["bash", str(SCRIPT), "start", str(folder)], env=env, check=True,
                       capture_output=True, text=True, timeout=120)
        yield env
    except subprocess.CalledProcessError as e:
        pytest.fail(f"the local SLURM did not start: {e.stderr[-2000:]}")
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(folder)], env=env,
                       capture_output=True, timeout=120)


def run(env, *argv: str, check: bool = True) -> str:
    return subprocess.run(list(argv), env=env, check=check, capture_output=True, text=True,
                          timeout=120).stdout


def states(env, job: str) -> dict[str, str]:
    """State of each task of ``job`` (``"12_0": "RUNNING"``), finished ones included."""
    out = run(env, "squeue", "-h", "-r", "-t", "all", "-j", job, "-o", "%i %T", check=False)
    return dict(line.split() for line in out.splitlines() if len(line.split()) == 2)


def wait_for(what: str, predicate, timeout: float = 300.0, every: float = 0.1):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def requeue(env, job: str, task: int) -> None:
    """``scontrol requeue`` one array task, then let it start again at once (SLURM holds a
    requeued job back for a couple of minutes)."""
    run(env, "scontrol", "requeue", f"{job}_{task}")
    wait_for(f"task {task} to be pending again",
             lambda: states(env, job).get(f"{job}_{task}") == "PENDING")
    run(env, "scontrol", "update", f"jobid={job}_{task}", "StartTime=now")
