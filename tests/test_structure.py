"""The code's structure: floors without circles, one door for run files, no Keras where
none is needed."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import paths

ROOT = paths.REPO_ROOT
# Packages counted as one room each (their modules import one another freely).
ROOMS = ("benchmark.tasks", "benchmark.adapters", "benchmark.twins", "benchmark.report", "baselines")


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted([*ROOT.glob("benchmark/**/*.py"), *ROOT.glob("baselines/*.py")]):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def _room(name: str) -> str:
    return next((r for r in ROOMS if name == r or name.startswith(r + ".")), name)


def _imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """Every module of the project ``path`` imports, at its top or inside a function."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found - {module}


def _graph(rooms: bool) -> dict[str, set[str]]:
    known = _modules()
    key = _room if rooms else (lambda m: m)
    graph: dict[str, set[str]] = {key(m): set() for m in known}
    for m, p in known.items():
        graph[key(m)] |= {key(d) for d in _imports(p, m, known)} - {key(m)}
    return graph


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for d in graph[todo.pop()]:
            if d not in seen:
                seen.add(d)
                todo.append(d)
    return seen


def test_no_room_imports_a_room_that_imports_it():
    graph = _graph(rooms=True)
    circles = sorted((a, b) for a in graph for b in graph[a] if a in _reaches(graph, b))
    assert circles == [], f"arrows running back up: {circles}"


@pytest.mark.parametrize("low,high", [
    ("benchmark.registry", "baselines"), ("benchmark.registry", "benchmark.tasks"),
    ("benchmark.registry", "benchmark.adapters"), ("benchmark.registry", "benchmark.twins"),
    ("benchmark.settings", "benchmark.tasks"), ("benchmark.settings", "benchmark.config"),
    ("benchmark.systems", "baselines"), ("benchmark.tasks", "benchmark.config"),
    ("benchmark.tasks", "benchmark.datasets"),
])
def test_low_modules_import_nothing_above_them(low, high):
    assert high not in _reaches(_graph(rooms=True), low)


# Files outside the run files' door that a module reads as JSON, by what names them.
NOT_RUN_FILES = ("index.json", "listing.json", "manifest.json", "summary.json", "TWIN_MARKER",
                 "VERIFIED_RECORD", "PLANTED", "keras.json", "config.read_text", "latest.json",
                 'ckpt / "run.json"', "sys.stdin", "lines[-1]", "_text(js)", "root, name, size")
DOORS = ("benchmark/results.py", "benchmark/io.py")


def test_only_the_results_module_parses_run_files():
    """Every JSON read outside benchmark/results.py (and io.py, which it uses) names a file
    that is no run file; a run file is read through ``RunRecord.load``."""
    offenders = []
    for path in sorted(ROOT.glob("benchmark/**/*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in DOORS:
            continue
        text = path.read_text("utf-8")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in ("load", "loads") and getattr(getattr(f, "value", None), "id", "") == "json" \
                    or name == "read_json":
                call = ast.get_source_segment(text, node) or ""
                if not any(token in call for token in NOT_RUN_FILES):
                    offenders.append(f"{rel}:{node.lineno}: {call}")
    assert offenders == []


def _imported_frameworks(*argv: str) -> list[str]:
    code = ("import sys\nfrom benchmark.cli import main\n"
            f"rc = main({list(argv)!r})\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'torch', 'jax'}))\n"
            "sys.exit(rc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return eval(out.stdout.strip().splitlines()[-1])


def test_listing_systems_imports_no_framework():
    assert _imported_frameworks("list", "systems") == []


def test_the_report_imports_no_framework(tmp_path):
    import shutil

    runs = tmp_path / "runs"
    source = ROOT / "results" / "runs"
    for p in sorted(source.glob("zebra_finch/*/*.json"))[:6]:  # a few committed runs
        (runs / p.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, runs / p.relative_to(source))
    assert _imported_frameworks("report", "--runs", str(runs), "--out", str(tmp_path / "out")) == []


def test_every_committed_demo_run_keeps_its_configuration_hash():
    """Refactors change no number: every demo cell resolves to the configuration its committed
    run file was made with (else ``gaborbench reproduce`` would rerun it)."""
    from benchmark.config import grid_cells, resolve_config
    from benchmark.results import RunRecord, run_path

    checked = 0
    for dataset, system, seed, fold in grid_cells("demo"):
        path = Path(run_path(ROOT / "results", dataset, system, seed, fold))
        if path.is_file():
            cfg = resolve_config(dataset, system, "demo", seed=seed, fold=fold)
            assert RunRecord.configured_hash(path) == cfg.hash(), path
            checked += 1
    assert checked == len(list((ROOT / "results" / "runs").glob("*/*/*.json")))
