"""End to end on real recordings: ci runs on real layouts, predict and the twin-to-real table."""

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from benchmark.errors import UserError
from benchmark.io import read_json
from benchmark.metrics import detection_metrics
from benchmark.train import run_cell
from benchmark.transfer import real_excerpts, score_predictor, twin_to_real
from tests._real_data import ami_layout, esc50_layout

pytestmark = pytest.mark.slow


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("GABORBENCH_HOME", str(home))
    return home


def test_speech_activity_ci_run_on_real_ami_layout(home, tmp_path):
    ami_layout(home / "data" / "ami")
    path = run_cell("ami", "mel", profile="ci", data="real", out=tmp_path / "res", progress=False,
                    overrides=["protocol.noise_prob=0"])  # no real noise corpus here
    run = read_json(path)
    assert run["data_source"] == "real" and run["provenance"]["twin"] is None
    assert run["run"]["n_train"] == 10 and run["run"]["n_test"] == 2
    m = run["metrics"]
    assert set(m) >= {"detection_error_rate", "false_alarm_rate", "miss_rate"}
    assert m["detection_error_rate"] == pytest.approx(m["false_alarm_rate"] + m["miss_rate"])
    assert 0.0 <= m["detection_error_rate"] < 5.0


def test_clip_ci_run_on_real_esc50_layout(home, tmp_path):
    esc50_layout(home / "data" / "esc50")
    # Fold 4 tests a thunderstorm clip; training (folds 1-3) holds another one.
    path = run_cell("esc50", "mel", fold=4, profile="ci", data="real", out=tmp_path / "res",
                    progress=False)
    run = read_json(path)
    assert run["data_source"] == "real" and run["fold"] == 4
    assert run["run"]["n_test"] == 1 and run["run"]["n_val"] == 1  # fold 5 validates
    assert sorted(run["run"]["classes"]) == ["car_horn", "dog", "thunderstorm"]
    assert run["provenance"]["skipped_inputs"] == 2  # the two clips missing from the csv
    assert 0.0 <= run["metrics"]["accuracy"] <= 1.0
    # Fold 1 tests the only dog clip: no model could have learnt it, so no score is made.
    with pytest.raises(UserError, match=r"esc50 fold 1: class\(es\) 'dog' occur in the test split "
                                        r"but not in training"):
        run_cell("esc50", "mel", fold=1, profile="ci", data="real", out=tmp_path / "res",
                 progress=False)
    assert not (tmp_path / "res" / "runs" / "esc50" / "mel" / "seed0_fold1.json").exists()


@pytest.fixture(scope="module")
def twin_sad_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("twin_runs")  # raw features: what a gain moves
    return run_cell("ami", "mel", profile="ci", out=out, progress=False,
                    overrides=["features.level=none"])


@pytest.fixture(scope="module")
def excerpts(tmp_path_factory):
    return real_excerpts(ami_layout(tmp_path_factory.mktemp("ami")))


def _parse_rttm(lines):
    segs = {}
    for line in lines:
        f = line.split()
        assert f[0] == "SPEAKER" and f[7] == "speech"
        segs.setdefault(f[1], []).append((float(f[3]), float(f[3]) + float(f[4])))
    return segs


def test_predict_on_real_ami_scored_against_rttm(twin_sad_run, excerpts):
    from benchmark.predict import load_predictor, predict_file

    p = load_predictor(twin_sad_run)
    hyp = {}
    for e in excerpts:
        lines = predict_file(p, e.path)
        uri = Path(e.path).stem  # predict names the file by its stem
        hyp[e.id] = _parse_rttm(lines).get(uri, [])
        assert all(0.0 <= a < b <= 30.01 for a, b in hyp[e.id])
    ref = {e.id: e.segments for e in excerpts}
    m = detection_metrics(ref, hyp, {e.id: e.uem for e in excerpts})
    # The same figure as the scoring path of the transfer table (RTTM rounds to 1 ms).
    direct = score_predictor(p, excerpts)
    for k in m:
        assert m[k] == pytest.approx(direct[k], abs=2e-3)
    assert math.isfinite(m["detection_error_rate"]) and m["miss_rate"] <= 1.0


def test_gain_moves_raw_features_not_normalised_ones(twin_sad_run, excerpts):
    from benchmark.predict import load_predictor

    p = load_predictor(twin_sad_run)
    assert p.features.level == "none"
    two = excerpts[:2]
    assert score_predictor(p, two, 0.0) != score_predictor(p, two, 40.0)


def test_twin_to_real_table(twin_sad_run, tmp_path):
    runs = twin_sad_run.parents[2]
    rows = twin_to_real(runs, tmp_path / "out")
    assert [r["system"] for r in rows] == ["mel", "all speech (no model)"]
    mel, everywhere = rows
    assert mel["n_runs"] == 1 and mel["detection_error_rate_std"] == 0.0
    assert mel["feature_level"] == "none" and mel["profile"] == "ci"
    assert everywhere["miss_rate_mean"] == 0.0
    assert everywhere["detection_error_rate_mean"] == pytest.approx(0.64, abs=0.005)
    with open(tmp_path / "out" / "tables" / "twin_to_real.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert [r["system"] for r in table] == ["mel", "all speech (no model)"]
    assert float(table[0]["detection_error_rate_mean"]) == pytest.approx(
        mel["detection_error_rate_mean"])
    assert table[1]["detection_error_rate_std"] == ""
    md = (tmp_path / "out" / "tables" / "twin_to_real.md").read_text(encoding="utf-8")
    assert "| all speech (no model) | – | – | 0 | 64.0 |" in md
    assert "No model was trained or tuned on these excerpts" in md
    assert "(1 run)" in md and "± 0.0" not in md


def test_transfer_cli_and_its_errors(twin_sad_run, tmp_path, capsys):
    from benchmark.cli import main
    from benchmark.errors import UserError

    out = twin_sad_run.parents[3]
    assert main(["transfer", "--out", str(out)]) == 0
    assert "all speech" in capsys.readouterr().out
    assert (out / "tables" / "twin_to_real.md").is_file()
    (tmp_path / "empty" / "ami").mkdir(parents=True)
    with pytest.raises(UserError, match="no speech-activity runs on the AMI twin"):
        twin_to_real(tmp_path / "empty", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_level_normalised_ci_run_records_and_uses_it(excerpts, tmp_path):
    from benchmark.predict import load_predictor

    path = run_cell("ami", "mel", profile="ci", out=tmp_path / "res", progress=False,
                    overrides=["features.level=clip_p95"])
    p = load_predictor(path)
    assert p.features.level == "clip_p95"
    two = excerpts[:2]
    quiet, loud = score_predictor(p, two, -20.0), score_predictor(p, two, 20.0)
    assert all(np.isclose(quiet[k], loud[k], atol=1e-3) for k in quiet)
