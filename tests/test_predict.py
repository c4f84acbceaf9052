"""``gaborbench predict`` on tiny hand-built models saved as a run would save them
(the models trained by a real grid are exercised in test_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.cli import main
from benchmark.io import write_json

CLASSES = ["air_conditioner", "car_horn", "dog_bark"]


def _save_run(out: Path, dataset: str, n_classes: int, run_extra: dict) -> Path:
    """Build the ci-profile model of ``dataset`` with the mel frontend; write it and its run file."""
    import keras

    from benchmark.config import resolve_config
    from benchmark.heads import build_model
    from benchmark.systems import get_system
    from benchmark.results import RunRecord

    cfg = resolve_config(dataset, "mel", "ci", seed=0)
    keras.utils.set_random_seed(0)
    fc = cfg.features
    norm = (np.full(fc.n_mels, -40.0, np.float32), np.full(fc.n_mels, 400.0, np.float32))
    task = cfg.task_class.__new__(cfg.task_class)  # only its head: no data needed
    task.cfg, task.n_outputs = cfg, n_classes
    model = build_model(get_system("mel").build(), task.build_head, fc.n_mels, norm=norm)
    stem = "seed0" if cfg.fold is None else f"seed0_fold{cfg.fold}"
    rel = f"models/{dataset}/mel/{stem}.keras"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    model.save(out / rel)
    from benchmark.predict import file_sha256

    run_extra = {**run_extra, "model_sha256": file_sha256(out / rel)}  # as training records it
    record = RunRecord(dataset=dataset, task=cfg.task, system="mel", seed=0, fold=cfg.fold,
                       profile="ci", data_source="twin", config_hash=cfg.hash(),
                       config=cfg.to_json(), run=run_extra, metrics={}, main_metric="",
                       history={}, params={}, gabor=None, planted=None, features={},
                       wall_time_s=0.0, provenance={}, model_path=rel, outputs={})
    path = out / "runs" / dataset / "mel" / f"{stem}.json"
    write_json(path, record.to_json())
    return path


def _wav(path: Path, seconds: float, sr: int = 16000, stereo: bool = False) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    sf.write(path, np.stack([x, x], 1) if stereo else x, sr)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    return {
        "clip": _save_run(out, "urbansound8k", len(CLASSES), {"classes": CLASSES}),
        "clip_nolabels": _save_run(out / "nolabels", "urbansound8k", len(CLASSES), {}),
        "sad": _save_run(out, "ami", 1, {"binarize": {"onset": 0.0, "offset": 0.0,
                                                      "min_duration_on": 0.0,
                                                      "min_duration_off": 0.0}}),
        "out": out,
    }


def test_classifier_prints_top_k_labels_matching_the_model(models, tmp_path, capsys):
    import keras

    from benchmark.features import logmel_file
    from benchmark.predict import load_predictor

    wav = _wav(tmp_path / "clip.wav", 1.7, sr=44100, stereo=True)
    assert main(["predict", str(models["clip"]), str(wav), "--top", "2"]) == 0
    rows = [l.split("\t") for l in capsys.readouterr().out.splitlines()]
    assert [r[:2] for r in rows] == [[str(wav), "1"], [str(wav), "2"]]
    assert all(r[2] in CLASSES for r in rows) and rows[0][2] != rows[1][2]
    # the printed scores are the model's own probabilities for that clip
    run = json.loads(models["clip"].read_text())
    features = load_predictor(models["clip"]).features
    assert (features.sample_rate, features.clip_seconds) == (16000, 1.0)  # the ci settings
    x = logmel_file(wav, features)
    probs = keras.saving.load_model(models["out"] / run["model_path"]).predict(x[None], verbose=0)[0]
    order = np.argsort(-probs)
    assert [r[2] for r in rows] == [CLASSES[i] for i in order[:2]]
    assert [float(r[3]) for r in rows] == pytest.approx(probs[order[:2]], abs=1e-4)


def test_classifier_without_labels_shows_indices_and_says_so(models, tmp_path, capsys):
    wav = _wav(tmp_path / "clip.wav", 1.0)
    assert main(["predict", str(models["clip_nolabels"]), str(wav), "--top", "5"]) == 0
    captured = capsys.readouterr()
    rows = [l.split("\t") for l in captured.out.splitlines()]
    assert len(rows) == len(CLASSES)  # top 5 of 3 classes: all three
    assert sorted(r[2] for r in rows) == ["0", "1", "2"]
    assert "class indices" in captured.err


def test_sad_prints_rttm_with_the_runs_thresholds(models, tmp_path, capsys):
    wav = _wav(tmp_path / "meeting one.wav", 2.5)
    assert main(["predict", str(models["sad"]), str(wav)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    # onset 0: every frame is speech, so one segment spans the file, from its start
    assert len(lines) == 1
    f = lines[0].split()
    assert f[0] == "SPEAKER" and f[1] == "meeting_one" and f[7] == "speech"
    assert float(f[3]) == 0.0
    assert float(f[3]) + float(f[4]) == pytest.approx(2.5, abs=0.03)
    assert "no dev-tuned thresholds" not in captured.err

    # the same model with thresholds above any probability finds no speech
    run = json.loads(models["sad"].read_text())
    run["run"]["binarize"] = {"onset": 1.01, "offset": 1.01}
    high = tmp_path / "runs/ami/mel/seed0.json"
    write_json(high, run | {"model_path": str(models["out"] / run["model_path"])})
    assert main(["predict", str(high), str(wav)]) == 0
    assert capsys.readouterr().out == ""

    # no tuned thresholds: onset 0.5, said on stderr
    del run["run"]["binarize"]
    write_json(high, run | {"model_path": str(models["out"] / run["model_path"])})
    assert main(["predict", str(high), str(wav)]) == 0
    assert "onset 0.5" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_audio_is_reported_and_the_rest_predicted(models, tmp_path, capsys):
    good = _wav(tmp_path / "good.wav", 1.0)
    junk = tmp_path / "junk.wav"
    junk.write_text("not audio")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0), 16000)
    files = [tmp_path / "nope.wav", junk, good, empty]
    assert main(["predict", str(models["clip"]), *map(str, files)]) == 1
    out, err = capsys.readouterr()
    assert [l.split("\t")[0] for l in out.splitlines()] == [str(good)] * 3  # the good file, top 3
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert "audio file not found" in lines[0]
    assert "cannot read audio" in lines[1] and str(junk) in lines[1]
    assert str(empty) in lines[2] and ("no samples" in lines[2] or "empty" in lines[2])
    assert "3 of 4 file(s) could not be predicted" in lines[3]


def test_missing_model_says_where_it_looked(models, tmp_path, capsys):
    wav = _wav(tmp_path / "a.wav", 0.5)
    run = json.loads(models["clip"].read_text())
    gone = tmp_path / "res/runs/urbansound8k/mel/seed0_fold1.json"
    write_json(gone, run)
    assert main(["predict", str(gone), str(wav)]) == 2
    err = _one_line_error(capsys)
    assert "missing" in err and str(tmp_path / "res" / run["model_path"]) in err
    write_json(gone, run | {"model_path": None})
    assert main(["predict", str(gone), str(wav)]) == 2
    assert "was not saved" in _one_line_error(capsys)
    assert main(["predict", str(tmp_path / "none.json"), str(wav)]) == 2
    assert "run file not found" in _one_line_error(capsys)
