"""A new task and a new dataset are their own files, with no edit anywhere else.

The task is one temporary module; the dataset is one temporary recipe folder plus
a module holding its adapter and its twin. Both reach the benchmark only through
``$GABORBENCH_PLUGINS`` (the modules) and ``$GABORBENCH_RECIPES`` (the recipe
folder); then a tiny ``ci`` run goes end to end on each: the new dataset under
an existing task, and the new task on the new dataset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from benchmark import paths

pytestmark = pytest.mark.slow

TASK_MODULE = '''
"""A new task: clip classification with a head of its own sizes."""

from benchmark.tasks import register_task
from benchmark.tasks.clip import UrbanSound


@register_task
class ToyClips(UrbanSound):
    name = "toy_clips"
    version = 1
    protocol_text = "folds of the toy tones; CNN head"
    sizes = {"ci": {**UrbanSound.sizes["ci"],
                    "head": {"conv_channels": (4,), "dropout": 0.0, "final_dropout": 0.0},
                    "train": {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3,
                              "optimizer": "adam", "patience": 1}}}
'''

DATA_MODULE = '''
"""A new dataset: its reader (adapter) and its synthetic twin."""

from pathlib import Path

import numpy as np

from benchmark.adapters import register_adapter
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.twins import register_twin
from benchmark.twins.signals import write_planted, write_wav

CLASSES = {"low": 300.0, "high": 2000.0}


def write(root: Path, size: str, seed: int, track) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(8000) / 16000.0
    for fold in (1, 2, 3):
        for label, hz in CLASSES.items():
            for i in range(4):
                x = 0.3 * np.sin(2 * np.pi * hz * t) + 0.01 * rng.standard_normal(t.size)
                write_wav(root / "audio" / f"fold{fold}" / f"{label}_{i}.wav", x, 16000)
    write_planted(root, "{name}", "pure tones", {k: [] for k in CLASSES})


def read(root: Path) -> AdapterOutput:
    examples, skips = [], []
    for path in sorted(root.glob("audio/fold*/*.wav")):
        rel = path.relative_to(root).as_posix()
        label = path.stem.split("_")[0]
        if label not in CLASSES:
            skips.append(Skip(rel, "unknown class"))
            continue
        examples.append(Example(id=rel, path=str(path), label=label, group=rel,
                                fold=int(path.parent.name[4:])))
    return AdapterOutput(examples=examples, skips=skips, protocol="3 folds of toy tones")


for _name in ("toy_tones", "toy_tones_b"):
    register_adapter(_name)(read)
    register_twin(_name, write)
'''

MANIFEST = '''
name = "{name}"
version = "1.0"
title = "Toy tones"
task = "{task}"
homepage = "README.md"
licence = "generated"
citation = "none"
sample_rate = 16000
size = "tiny (generated)"
expect = ["audio"]

[[sources]]
kind = "manual"
note = "Synthetic only."
steps = ["Run with --data twin."]

[benchmark]
order = 99
folds = 3
metrics = ["accuracy"]
optional = true
features = {{ clip_seconds = 0.5 }}
'''


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugins")
    code, recipes = root / "code", root / "recipes"
    code.mkdir()
    (code / "toy_task.py").write_text(textwrap.dedent(TASK_MODULE), "utf-8")
    (code / "toy_data.py").write_text(textwrap.dedent(DATA_MODULE).replace("{name}", "toy_tones"),
                                      "utf-8")
    for name, task in (("toy_tones", "urban_sound"), ("toy_tones_b", "toy_clips")):
        folder = recipes / name
        folder.mkdir(parents=True)
        (folder / "manifest.toml").write_text(MANIFEST.format(name=name, task=task), "utf-8")
        (folder / "checksums.toml").write_text("files = []\n", "utf-8")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(paths.REPO_ROOT), str(code)]),
                GABORBENCH_PLUGINS="toy_task,toy_data", GABORBENCH_RECIPES=str(recipes),
                GABORBENCH_HOME=str(root / "home"))


def _gaborbench(env, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *argv], cwd=paths.REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def test_new_task_and_dataset_are_listed(plugin_env):
    out = _gaborbench(plugin_env, "list", "tasks")
    assert out.returncode == 0, out.stderr
    assert "toy_clips" in out.stdout and "toy_tones_b" in out.stdout
    out = _gaborbench(plugin_env, "list", "datasets")
    assert out.returncode == 0 and "toy_tones" in out.stdout


@pytest.mark.parametrize("dataset,task", [("toy_tones", "urban_sound"),
                                          ("toy_tones_b", "toy_clips")])
def test_new_dataset_and_task_run_end_to_end(plugin_env, tmp_path, dataset, task):
    out = _gaborbench(plugin_env, "run", "--dataset", dataset, "--system", "mel",
                      "--profile", "ci", "--out", str(tmp_path))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    (run_file,) = (tmp_path / "runs").glob(f"{dataset}/*/*.json")
    run = json.loads(run_file.read_text("utf-8"))   # the test reads what the run wrote
    assert run["config"]["task"] == task and run["config"]["data"] == "twin"
    assert 0.0 <= run["metrics"]["accuracy"] <= 1.0
