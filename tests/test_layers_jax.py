"""The layer tests again under the JAX backend (Keras fixes its backend at import)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_layer_suite_under_jax():
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "jax":
        pytest.skip("the main run already uses JAX")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "test_layers.py"),
         str(HERE / "test_systems.py")],
        capture_output=True, text=True, env=env, timeout=900, cwd=HERE.parent,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout
