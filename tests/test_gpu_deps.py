"""The README's recipe for a GPU machine ("Checking a GPU machine": pip download of the
project's dependencies as wheels) must bring everything `make gpu-check` imports, the
speech twins' eSpeak NG included: the list is read from the README alone and checked
against what the gpu-check path really imports here."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from benchmark import paths

# What the GPU machine brings itself: its framework (here the one these tests run on)
# and the NumPy and SciPy it was built against (the README drops those wheels).
FRAMEWORK = (os.environ.get("KERAS_BACKEND", "tensorflow"), "numpy", "scipy")

# The gpu-check path (the layer timings, a ci grid over every head and every twin, the
# speech twins' synthesiser included, the determinism check), imported on a Python that sees
# only the standard library, this checkout and the distributions named in argv: any other
# distribution's modules fail to import, as on a machine without them. Optional imports
# (a library trying pandas, say) fail quietly, as they would there.
PROBE = """
import importlib, importlib.metadata as md, json, pkgutil, sys
allowed = set(json.loads(sys.argv[1]))
owners = md.packages_distributions()
from packaging.utils import canonicalize_name

class Absent:
    @staticmethod
    def find_spec(name, path=None, target=None):
        top = name.partition(".")[0]
        dists = {canonicalize_name(d) for d in owners.get(top, ())}
        if dists and not dists & allowed and top not in sys.stdlib_module_names:
            raise ModuleNotFoundError(f"No module named {top!r} (not in the wheel list)", name=top)
        return None

sys.meta_path.insert(0, Absent)
import benchmark.gpucheck, benchmark.grid, benchmark.train, benchmark.systems
import benchmark.tasks, benchmark.twins
for pkg in (benchmark.tasks, benchmark.twins):
    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{m.name}")
from benchmark.systems import system_names
system_names()
import keras
from benchmark.twins import tts
tts._paths()
print("OK")
"""


def readme_wheels() -> list[str]:
    """The packages of the README's `pip download` command (options and their values left out)."""
    text = (paths.REPO_ROOT / "README.md").read_text()
    section = text[text.index("### Checking a GPU machine"):]
    command = re.search(r"^pip download .*?(?<!\\)$", section, re.M | re.S)
    assert command, "no `pip download` command in the README's GPU section"
    tokens = shlex.split(command[0].replace("\\\n", " "))[2:]
    names, skip = [], False
    for t in tokens:
        if skip:
            skip = False
        elif t.startswith("-"):
            skip = "=" not in t
        else:
            names.append(t)
    return names


def closure(names) -> set[str]:
    """The distributions ``names`` install (their requirements, recursively, for this Python)."""
    todo, seen = [canonicalize_name(n) for n in names], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(req.name))
    return seen


def test_readme_wheels_cover_what_gpu_check_imports():
    wheels = readme_wheels()
    assert "espeakng-loader" in wheels, wheels   # the speech twins (ami, voxceleb1, chime5)
    # this checkout itself (an editable install names it gabor-bench) and packaging, which
    # the probe uses to read names
    allowed = sorted(closure(wheels) | closure(FRAMEWORK) | {"gabor-bench", "packaging"})
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(allowed)],
                          cwd=paths.REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(paths.REPO_ROOT)})
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), (
        f"with only the README's wheels: {done.stderr[-3000:]}")
