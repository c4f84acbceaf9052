"""Every Keras backend end to end: benchmark.backend, the GPU check on the CPU, and
ci runs under JAX that must match TensorFlow's run files (schema and configuration hash).

The main test process runs TensorFlow (conftest); JAX runs in a subprocess, since
Keras fixes its backend when it is first imported.
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import backend, gpucheck

ROOT = Path(__file__).resolve().parent.parent
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def _python(code: str, env_backend: str, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, KERAS_BACKEND=env_backend, PYTHONPATH=str(ROOT),
                    JAX_PLATFORMS="cpu", **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=ROOT)


# --------------------------------------------------------------------------- benchmark.backend


def test_tensorflow_backend_answers():
    assert backend.name() == "tensorflow"
    assert backend.version() not in ("", "absent")
    assert "tensorflow" in backend.installed()
    assert backend.jit_compile_option(True) is True and backend.jit_compile_option(False) is False
    if backend.gpu_present():
        pytest.skip("the CPU answers below do not hold on a GPU machine")
    assert backend.supports_mixed_precision() is False
    desc = backend.device_description()
    assert desc.startswith("cpu ") and "tensorflow" in desc
    # Importing the package asked for TensorFlow's oneDNN kernels (KeyError if it did
    # not), unless the caller chose; the description says what TensorFlow runs.
    wanted = os.environ["TF_ENABLE_ONEDNN_OPTS"] not in ("0", "false", "off")
    assert backend.tf_onednn() is wanted
    assert desc.endswith("threads, oneDNN)" if wanted else "threads)")
    env = backend.environment()
    assert env["backend"] == "tensorflow" and env["gpu"] is False
    assert env["versions"]["keras"] and env["versions"]["tensorflow"]


def test_package_import_turns_onednn_on_unless_the_caller_chose():
    code = "import os, benchmark; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    for given, expected in ((None, "1"), ("0", "0")):
        env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
        if given is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = given
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.split()[-1] == expected


def test_setup_seeds_and_states_determinism():
    import keras

    note = backend.setup(7, deterministic=True)
    assert note.startswith("tensorflow: seed 7; ") and "op determinism on" in note
    a = keras.ops.convert_to_numpy(keras.random.normal((4,)))
    backend.setup(7, deterministic=True)
    b = keras.ops.convert_to_numpy(keras.random.normal((4,)))
    assert (a == b).all()
    # TensorFlow cannot turn op determinism off again: the record must not claim it did
    assert "stays on" in backend.setup(7, deterministic=False)
    with pytest.raises(ValueError):
        backend.setup(1.5, deterministic=True)
    with pytest.raises(ValueError):
        backend.setup(0, deterministic=True, threads=0)


def test_choose_keeps_the_running_backend_and_refuses_another():
    from benchmark.errors import UserError

    assert backend.choose() == "tensorflow" and backend.choose("auto") == "tensorflow"
    with pytest.raises(UserError, match="already runs on tensorflow"):
        backend.choose("jax")
    with pytest.raises(UserError, match="unknown backend"):
        backend.choose("mxnet")


@needs_jax
def test_jax_backend_without_tensorflow_import():
    """Importing the module (and Keras) under JAX leaves TensorFlow alone; XLA is always on;
    the determinism flag is set before JAX starts."""
    code = """
import json, os, sys
import benchmark.backend as B, benchmark.gpucheck
import keras
loaded = 'tensorflow' in sys.modules
note = B.setup(3, deterministic=True, threads=1)
print(json.dumps({"tf_loaded_by_import": loaded, "name": B.name(), "note": note,
                  "xla_flags": os.environ.get("XLA_FLAGS", ""), "gpu": B.gpu_present(),
                  "jit": [B.jit_compile_option(False), B.jit_compile_option(True)],
                  "mixed": B.supports_mixed_precision(), "device": B.device_description(),
                  "threads": B.cpu_threads(), "again": B.setup(3, deterministic=True)}))
"""
    proc = _python(code, "jax")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf_loaded_by_import"] is False
    assert out["name"] == "jax" and out["jit"] == [True, True]
    assert backend.JAX_DETERMINISTIC_FLAG in out["xla_flags"].split()
    assert "XLA deterministic ops on" in out["note"]
    assert out["threads"] == 1
    # set before JAX started, so still in effect when asked again
    assert "XLA deterministic ops on" in out["again"]
    if not out["gpu"]:
        assert out["mixed"] is False
        assert out["device"].startswith("cpu ") and "(jax " in out["device"]


def test_choose_falls_back_to_an_installed_backend():
    missing = [b for b in backend.BACKENDS if b not in backend.installed()]
    if not missing:
        pytest.skip("every backend is installed: no fallback to exercise")
    # what Keras will read when it is imported next
    code = "import os, benchmark.backend as B; print(B.choose(), os.environ['KERAS_BACKEND'])"
    proc = _python(code, missing[0])
    assert proc.returncode == 0, proc.stderr[-3000:]
    chosen, exported = proc.stdout.split()[-2:]
    assert chosen == exported == backend.installed()[0]


# --------------------------------------------------------------------------- gpu-check on the CPU


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_gpucheck_refuses_cpu_without_cpu_ok(tmp_path, monkeypatch, capsys):
    if backend.gpu_present():
        pytest.skip("a GPU is present")
    monkeypatch.delenv(gpucheck.CPU_OK_ENV, raising=False)
    assert gpucheck.main(["--out", str(tmp_path)]) == 2
    assert "--cpu-ok" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_gpucheck_timings_on_cpu_tensorflow(tmp_path):
    rc = gpucheck.main(["--cpu-ok", "--skip-grid", "--skip-determinism", "--out", str(tmp_path),
                        "--repeats", "1", "--layer", "free_conv", "--layer", "gabor_separable"])
    assert rc == 0
    rows = _csv_rows(tmp_path / "gpu-tensorflow.csv")
    assert {(r["layer"], r["measure"]) for r in rows} == {
        (layer, m) for layer in ("free_conv", "gabor_separable") for m in gpucheck.MEASURES}
    assert all(r["error"] == "" and float(r["median_ms"]) > 0 for r in rows)
    assert all(float(r["ratio_to_free_conv"]) == 1.0 for r in rows if r["layer"] == "free_conv")
    assert {r["compiler"] for r in rows} == {"tf.function"}
    env = json.loads((tmp_path / "gpu-tensorflow-env.json").read_text())
    assert env["backend"] == "tensorflow" and env["ok"] is True
    assert env["grid"].startswith("skipped") and env["determinism"].startswith("skipped")
    assert env["sizes"] == {**gpucheck.CPU_SIZES, "kernel": list(gpucheck.CPU_SIZES["kernel"])}
    assert env["environment"]["device"] == backend.device_description()


def test_gpucheck_rejects_unknown_layer(tmp_path, capsys):
    assert gpucheck.main(["--cpu-ok", "--out", str(tmp_path), "--layer", "gabor_magic"]) == 2
    assert "unknown layer gabor_magic" in capsys.readouterr().err


# --------------------------------------------------------------------------- JAX vs TensorFlow runs


def _key_paths(obj, prefix="") -> set[str]:
    """Every key path of a JSON object (lists are leaves); package versions vary by install."""
    out = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            path = f"{prefix}/{k}"
            out.add(path)
            if path != "/provenance/packages":
                out |= _key_paths(v, path)
    return out


@needs_jax
@pytest.mark.slow
def test_ci_runs_under_jax_match_tensorflow(tmp_path):
    """The gpu-check CPU path under JAX (timings, then a ci grid of urbansound8k and ami
    through benchmark.grid/run_cell); the same cells under TensorFlow here must give run
    files with the same schema and configuration hashes."""
    from benchmark import grid
    from benchmark.io import read_json
    from benchmark.results import run_path
    from benchmark.train import run_cell

    datasets, system, fast = ("urbansound8k", "ami"), "learnable_gabor", "train.epochs=1"
    grid._warm_data(grid.select_cells("ci", datasets, [system]), "ci", "twin")  # no twin race
    argv = [sys.executable, "-m", "benchmark.gpucheck", "--backend", "jax", "--cpu-ok",
            "--out", str(tmp_path / "bench"), "--work", str(tmp_path / "jax"), "--repeats", "1",
            "--layer", "gabor_auto", "--jobs", "1", "--skip-determinism", "--set", fast,
            "--system", system] + [a for d in datasets for a in ("--dataset", d)]
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", KERAS_BACKEND="jax")
    jax_proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    try:  # TensorFlow's runs meanwhile, in this process
        tf_runs = {d: read_json(run_cell(d, system, profile="ci", out=tmp_path / "tf",
                                         overrides=gpucheck.GRID_OVERRIDES + (fast,),
                                         progress=False)) for d in datasets}
        output, _ = jax_proc.communicate(timeout=900)
    finally:
        if jax_proc.poll() is None:
            jax_proc.kill()
            jax_proc.wait()
    assert jax_proc.returncode == 0, output[-4000:]

    record = json.loads((tmp_path / "bench" / "gpu-jax-env.json").read_text())
    assert record["backend"] == "jax" and record["ok"] is True
    assert sorted(c["cell"] for c in record["grid"]) == [
        f"ami/{system}/seed0", f"urbansound8k/{system}/seed0_fold1"]
    assert all(c["ok"] for c in record["grid"])
    assert {r["compiler"] for r in _csv_rows(tmp_path / "bench" / "gpu-jax.csv")} == {"xla"}

    for d in datasets:
        tf_run = tf_runs[d]
        jax_run = read_json(run_path(tmp_path / "jax" / "grid", d, system, 0, tf_run["fold"]))
        assert jax_run["config_hash"] == tf_run["config_hash"]
        assert _key_paths(jax_run) == _key_paths(tf_run)
        assert jax_run["provenance"]["keras_backend"] == "jax"
        assert tf_run["provenance"]["keras_backend"] == "tensorflow"
        assert jax_run["metrics"].keys() == tf_run["metrics"].keys()
    # Under JAX, jit_compile=False makes Keras run the model op by op: XLA must be on.
    assert all(c["jit_compile"] for c in record["grid"])
