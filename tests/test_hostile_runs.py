"""Hostile run files, models and names around ``report`` and ``predict``, through the
command line: paths built from file contents stay inside their root, names cannot
forge rows, a swapped model is refused, a FIFO does not hang a report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _report_fixtures import minimal_obj, run_obj
from test_predict import _save_run, _wav

from benchmark.cli import main
from benchmark.io import write_json

REPO = Path(__file__).resolve().parent.parent


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _urban(system: str = "mel", dataset: str = "urbansound8k", seed: int = 0) -> dict:
    import numpy as np

    obj = run_obj("urbansound8k", "mel", seed, 1, 0.6, np.random.default_rng(0))
    return obj | {"dataset": dataset, "system": system}


# ---------------------------------------------------------------- paths from contents


@pytest.mark.parametrize("field, value", [
    ("dataset", "x/../../../victim"),
    ("system", "x/../../../../victim"),
    ("dataset", "/tmp/abs"),
])
def test_report_writes_nothing_outside_out_whatever_a_run_file_names(tmp_path, caplog, field, value):
    out = tmp_path / "work" / "out"
    runs = out / "runs"
    write_json(runs / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    write_json(runs / "urbansound8k" / "evil" / "seed0_fold1.json", _urban() | {field: value})
    (tmp_path / "victim.png").write_text("the user's file")
    outside = {p for p in _files(tmp_path) if not p.startswith("work/out/")}
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    assert {p for p in _files(tmp_path) if not p.startswith("work/out/")} == outside
    assert (tmp_path / "victim.png").read_text() == "the user's file"
    assert not Path("/tmp/abs.png").exists() or value != "/tmp/abs"
    assert "not a plain name" in caplog.text


def test_system_name_cannot_forge_a_row_of_the_main_table(tmp_path, capsys):
    out = tmp_path / "out"
    runs = out / "runs"
    write_json(runs / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    forged = "mel | 0.99 |\n| forged_system | 1.000"
    write_json(runs / "urbansound8k" / "x" / "seed0_fold1.json", _urban(system=forged))
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    main_md = (out / "tables" / "main.md").read_text()
    assert _forged_rows(main_md) == [] and "forged" not in (out / "summary.csv").read_text()


def test_failure_log_and_marker_names_cannot_forge_rows(tmp_path):
    out = tmp_path / "out"
    runs = out / "runs"
    write_json(runs / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    write_json(runs / "zz" / "MISSING.json", {"dataset": "zz\n| forged | row |", "reason": "r"})
    write_json(out / "logs" / "failed" / "urbansound8k" / "mel" / "seed1_fold2.json",
               {"error": "boom\n| forged | row |"})
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0
    assert _forged_rows((out / "tables" / "main.md").read_text()) == []


def _forged_rows(text: str) -> list[str]:
    """Lines a name turned into table rows (the skip list may quote the name, escaped)."""
    return [line for line in text.splitlines() if line.lstrip("| ").startswith("forged")]


def test_a_fifo_named_json_does_not_hang_report(tmp_path):
    out = tmp_path / "out"
    runs = out / "runs"
    write_json(runs / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    os.mkfifo(runs / "urbansound8k" / "mel" / "seed1_fold2.json")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        p = subprocess.run([sys.executable, "-m", "benchmark.cli", "report", "--runs", str(runs),
                            "--out", str(out)], capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("report hung on a FIFO named *.json")
    assert p.returncode == 0, p.stderr
    assert "not a regular file" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("mutate, why", [
    (lambda o: o.update(metrics={"accuracy": {"x": 1}}), "a metric that is an object"),
    (lambda o: o.update(gabor={"init": {k: 1 for k in ("sigma_t", "sigma_f", "frequency",
                                                        "orientation")}, "final": {}}), "bad gabor"),
    (lambda o: o.update(planted={"classes": {"a": [1]}}), "bad planted"),
    (lambda o: o.update(profile={"x": 1}), "profile object"),
])
def test_malformed_run_file_costs_that_file_only(tmp_path, caplog, mutate, why):
    out = tmp_path / "out"
    runs = out / "runs"
    write_json(runs / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    bad = _urban(seed=1)
    mutate(bad)
    write_json(runs / "urbansound8k" / "mel" / "seed1_fold2.json", bad)
    deep = runs / "urbansound8k" / "mel" / "seed2_fold3.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert main(["report", "--runs", str(runs), "--out", str(out)]) == 0, why
    assert "seed1_fold2.json" in caplog.text and "seed2_fold3.json" in caplog.text


# ---------------------------------------------------------------- predict


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return _save_run(out, "urbansound8k", 3, {"classes": ["a", "b", "c"]})


@pytest.fixture(scope="module")
def sad_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sad")
    return _save_run(out, "ami", 1, {})


def test_predict_from_a_run_file_outside_the_runs_layout_is_one_line(clip_run, tmp_path, capsys):
    loose = tmp_path / "run.json"
    shutil.copy(clip_run, loose)
    wav = _wav(tmp_path / "a.wav", 0.5)
    assert main(["predict", str(loose), str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs/<dataset>/<system>" in err


def test_predict_refuses_a_model_path_leading_outside_the_results_root(clip_run, tmp_path, capsys):
    run = json.loads(clip_run.read_text())
    root = tmp_path / "res"
    evil = root / "runs" / "urbansound8k" / "mel" / "seed0_fold1.json"
    outside = tmp_path / "elsewhere.keras"
    shutil.copy(clip_run.parents[3] / run["model_path"], outside)
    write_json(evil, run | {"model_path": "../elsewhere.keras"})
    wav = _wav(tmp_path / "a.wav", 0.5)
    assert main(["predict", str(evil), str(wav)]) == 2
    assert "outside the results root" in capsys.readouterr().err


def test_predict_refuses_a_swapped_model(clip_run, tmp_path, capsys):
    root = tmp_path / "res"
    shutil.copytree(clip_run.parents[3], root)
    run = json.loads(clip_run.read_text())
    other = _save_run(tmp_path / "other", "urbansound8k", 3, {"classes": ["a", "b", "c"]})
    # the same architecture, other weights: only the digest can tell
    import keras

    m = keras.saving.load_model(other.parents[3] / run["model_path"], compile=False)
    m.set_weights([w * 0 + 0.5 for w in m.get_weights()])
    m.save(root / run["model_path"])
    wav = _wav(tmp_path / "a.wav", 0.5)
    rj = root / "runs" / "urbansound8k" / "mel" / clip_run.name
    assert main(["predict", str(rj), str(wav)]) == 2
    err = capsys.readouterr().err
    assert "is not the model this run saved" in err and err.count("\n") == 1


def test_predict_refuses_a_clip_model_behind_a_speech_activity_run(clip_run, sad_run, tmp_path, capsys):
    root = tmp_path / "res"
    shutil.copytree(sad_run.parents[3], root)
    run = json.loads(sad_run.read_text())
    clip_model = clip_run.parents[3] / json.loads(clip_run.read_text())["model_path"]
    shutil.copy(clip_model, root / run["model_path"])
    rj = root / "runs" / "ami" / "mel" / sad_run.name
    run["run"].pop("model_sha256")   # an older run file: no digest to catch the swap
    write_json(rj, run)
    wav = _wav(tmp_path / "a.wav", 1.0)
    assert main(["predict", str(rj), str(wav)]) == 2
    err = capsys.readouterr().err
    assert "does not fit its run file" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["a\tb.wav", "a\nSPEAKER forged 1 0.0 9.0.wav", "a\rb.wav"])
def test_control_characters_in_audio_names_cannot_forge_output_rows(clip_run, sad_run, tmp_path,
                                                                    capsys, name):
    wav = _wav(tmp_path / name, 0.5)
    for rj in (clip_run, sad_run):
        assert main(["predict", str(rj), str(wav)]) == 1
        out, err = capsys.readouterr()
        assert out == "" and "control characters" in err


def test_predict_bounds_a_run_files_settings(clip_run, tmp_path, capsys):
    root = tmp_path / "res"
    shutil.copytree(clip_run.parents[3], root)
    rj = root / "runs" / "urbansound8k" / "mel" / clip_run.name
    run = json.loads(rj.read_text())
    run["config"]["features"]["win_ms"] = 1e7
    write_json(rj, run)
    assert main(["predict", str(rj), str(_wav(tmp_path / "a.wav", 0.5))]) == 2
    assert "win_ms" in capsys.readouterr().err


def test_predict_survives_a_deeply_nested_run_file(tmp_path, capsys):
    rj = tmp_path / "runs" / "a" / "b" / "seed0.json"
    rj.parent.mkdir(parents=True)
    rj.write_text("[" * 100000 + "]" * 100000)
    assert main(["predict", str(rj), str(_wav(tmp_path / "a.wav", 0.5))]) == 2
    assert "not a readable run file" in capsys.readouterr().err


def test_report_keeps_a_plain_run_next_to_hostile_ones(tmp_path):
    """The defence refuses names, not runs: a legitimate run still makes its row."""
    out = tmp_path / "out"
    write_json(out / "runs" / "urbansound8k" / "mel" / "seed0_fold1.json", _urban())
    write_json(out / "runs" / "zebra_finch" / "free_cnn" / "seed0.json",
               minimal_obj("zebra_finch", "free_cnn", 0))
    assert main(["report", "--runs", str(out / "runs"), "--out", str(out)]) == 0
    text = (out / "tables" / "main.md").read_text()
    assert "urbansound8k" in text.lower() or "urban" in text.lower()
    assert "free_cnn" in text or "free" in text.lower()
