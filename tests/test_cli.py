"""The command line: mistakes answered before any framework loads, help for every flag,
``config show``, and the frameworks' start-up lines held back."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import backend
from benchmark.cli import _build_parser, main

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("tensorflow", "keras", "jax", "torch")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", backend.VERBOSE_ENV)}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_mistakes_are_answered_before_a_framework_is_imported(tmp_path):
    bad = [
        ["run", "--dataset", "nope", "--system", "mel"],
        ["run", "--dataset", "ami", "--system", "mell"],
        ["run", "--dataset", "ami", "--system", "mel", "--set", "train.epoch=3"],
        ["run", "--dataset", "ami", "--system", "mel", "--set", "train.epochs=three"],
        ["run", "--dataset", "ami", "--system", "mel", "--fold", "2"],
        ["run", "--dataset", "ami", "--system", "mel", "--out", str(tmp_path / "f")],
        ["config", "show", "--dataset", "zebra_finch", "--system", "mel", "--set", "head.lstm_units=3"],
        ["reproduce", "--system", "nope"],
        ["reproduce", "--dataset", "amii"],
        ["plan", "--dataset", "nope"],
        ["predict", str(tmp_path / "none.json"), "a.wav"],
        ["report", "--runs", str(tmp_path / "none")],
    ]
    (tmp_path / "f").write_text("a file where a folder is expected")
    code = ("import json, sys\n"
            "from benchmark.cli import main\n"
            f"rcs = [main(argv) for argv in {bad!r}]\n"
            f"print(json.dumps({{'rcs': rcs, 'loaded': [m for m in {FRAMEWORKS!r} "
            "if m in sys.modules]}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), cwd=tmp_path, timeout=120)
    out = json.loads(done.stdout.splitlines()[-1])
    assert out == {"rcs": [2] * len(bad), "loaded": []}, done.stderr
    errors = done.stderr.splitlines()
    assert len(errors) == len(bad), done.stderr       # one line each
    from benchmark.datasets import dataset_names

    assert errors[0] == ("gaborbench run: error: unknown dataset 'nope' (known: "
                         + ", ".join(dataset_names()) + ")")   # the recipes' list, whatever it holds
    assert "did you mean 'mel'?" in errors[1]
    assert "did you mean 'train.epochs'?" in errors[2]
    assert "train.epochs expects an int, got 'three'" in errors[3]
    assert "ami has official train/dev/test splits; drop --fold 2" in errors[4]
    assert "is a file, not a folder" in errors[5]
    assert "unknown configuration key 'head.lstm_units'" in errors[6]
    assert "unknown system 'nope'" in errors[7] and "did you mean 'ami'?" in errors[8]
    assert "unknown dataset 'nope'" in errors[9]
    assert "run file not found" in errors[10] and "none does not exist" in errors[11]


@pytest.mark.parametrize("argv", [["reproduce", "--jobs", "0"], ["reproduce", "--jobs", "-2"],
                                  ["predict", "r.json", "a.wav", "--top", "0"],
                                  ["run", "--dataset", "ami", "--system", "mel", "--seed", "-1"]])
def test_counts_below_their_minimum_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "must be at least" in capsys.readouterr().err


def _subcommands(parser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_argument_has_help_text():
    missing = [f"{name} {a.option_strings or a.dest}"
               for name, sp in _subcommands(_build_parser()).items()
               for a in sp._actions if not (a.help or "").strip()]
    assert missing == []


def test_every_command_takes_verbose():
    for name, sp in _subcommands(_build_parser()).items():
        assert "--verbose" in sp._option_string_actions, name


def test_config_show_prints_every_key_with_type_value_and_default(capsys):
    from benchmark.config import override_keys, resolve_config

    argv = ["config", "show", "--dataset", "zebra_finch", "--system", "mel", "--profile", "ci",
            "--set", "train.epochs=3"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    cfg = resolve_config("zebra_finch", "mel", "ci", ["train.epochs=3"])
    assert lines[0].startswith("zebra_finch / mel, profile ci, task bird_calls, twin data, seed 0, "
                               f"fold 1 (configuration hash {cfg.hash()})")
    rows = {line.split()[0]: line.split() for line in lines[2:] if "." in line.split()[0]}
    sections = {s: getattr(cfg, s) for s in ("features", "frontend", "head", "protocol", "train",
                                             "twin")}
    assert sorted(rows) == sorted(override_keys(sections))
    assert rows["train.epochs"] == ["train.epochs", "int", "3", "200"]   # --set; the task's 200
    assert rows["frontend.filters"] == ["frontend.filters", "int", "4", "64"]   # the profile's
    assert rows["frontend.kernel_size"][1:] == ["tuple[int,", "int]", "(9,", "5)", "(111,", "9)"]
    assert rows["twin.seed"] == ["twin.seed", "int", "0"]                  # unchanged: no default


# --------------------------------------------------------------------------- start-up lines

STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796541029.116647    4063 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796541029.117582    4063 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796541029.504702    4063 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow.
E0000 00:00:1796541344.871677    9783 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error
2024-01-01 10:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom operations are on.
"""
KEPT = """\
E0000 00:00:1796541344.871677    9783 op_kernel.cc:1800] OP_REQUIRES failed: out of memory
F0000 00:00:1796541344.871677    9783 check.cc:10] Check failed: x == y
/x/keras/src/backend.py:12: UserWarning: something the user should see
Traceback (most recent call last):
"""


def test_startup_noise_is_told_from_what_matters():
    assert all(backend.startup_noise(line) for line in STARTUP.splitlines())
    assert not any(backend.startup_noise(line) for line in KEPT.splitlines())


def test_quiet_startup_filters_file_descriptor_2(capfd):
    with backend.quiet_startup():
        os.write(2, (STARTUP + KEPT).encode())  # as C++ libraries write: below Python
    assert capfd.readouterr().err == KEPT


def test_importing_tensorflow_through_the_package_prints_no_startup_line(tmp_path):
    code = ("import benchmark, keras, tensorflow as tf\n"
            "from benchmark import backend\n"
            "print(backend.device_description())  # a grid worker's share of the cores\n"
            "tf.config.threading.set_intra_op_parallelism_threads(1)  # still settable\n"
            "print(float(keras.ops.sum(keras.ops.ones(3))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(KERAS_BACKEND="tensorflow", TF_NUM_INTRAOP_THREADS="3"),
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    device, total = done.stdout.splitlines()
    assert "tensorflow" in device and " 3 threads" in device
    assert total == "3.0"
    assert done.stderr == ""


def test_verbose_lets_the_lines_through_here_and_in_workers(monkeypatch):
    monkeypatch.setattr(backend, "_log_level_ours", False)
    monkeypatch.setenv(backend.VERBOSE_ENV, "0")
    hooked = lambda: any(isinstance(f, backend._QuietImports) for f in sys.meta_path)  # noqa: E731
    try:
        monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
        backend.quiet_framework_imports(True)          # what importing the package did
        assert hooked() and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
        assert main(["list", "tasks", "--verbose"]) == 0
        assert not hooked() and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
        assert os.environ[backend.VERBOSE_ENV] == "1"   # inherited by worker processes

        monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")  # the caller's own setting stays
        backend.quiet_framework_imports(True)
        assert main(["list", "tasks", "--verbose"]) == 0
        assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    finally:
        backend.quiet_framework_imports(True)
