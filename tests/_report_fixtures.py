"""A small, fully synthetic runs folder for the report tests (schema_version 1)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark.io import write_json

FILTERS = 8
KERNEL = [15, 5]
FRAME_RATE = 100.0
BINS_PER_OCT = 14.5

# dataset -> (task, main metric, {system: base score}, seeds, folds)
PLAN = {
    "urbansound8k": ("urban_sound", "accuracy",
                     {"mel": 0.60, "fixed_gabor": 0.66, "cortical_gabor": 0.70,
                      "learnable_gabor": 0.78, "free_cnn": 0.84},
                     [0, 1], [1, 2, 3]),
    "zebra_finch": ("bird_calls", "accuracy",
                    {"mel": 0.50, "learnable_gabor": 0.72, "free_cnn": 0.65,
                     "brand_new_system": 0.40},
                    [0, 1, 2], [None]),
    "ami": ("speech_activity", "detection_error_rate",
            {"mel": 0.30, "learnable_gabor": 0.12, "free_cnn": 0.15},
            [0, 1], [None]),
}
SINGLE_SEED = ("zebra_finch", "free_cnn")   # this cell keeps only seed 0
DIRECTIONS = {"accuracy": "max", "balanced_accuracy": "max",
              "detection_error_rate": "min", "false_alarm_rate": "min", "miss_rate": "min"}


def _gabor(rng: np.random.Generator, learnable: bool, shift: float) -> dict:
    init = {"sigma_t": (2 * 1.41 ** rng.uniform(0, 6, FILTERS)).tolist(),
            "sigma_f": (2 * 1.41 ** rng.uniform(0, 6, FILTERS)).tolist(),
            "frequency": (np.pi / 2 * 1.41 ** -rng.uniform(0, 5, FILTERS)).tolist(),
            "orientation": rng.uniform(-np.pi, np.pi, FILTERS).tolist()}
    final = {k: list(v) for k, v in init.items()}
    if learnable:   # the dataset decides where the filters go, so tasks differ
        final["frequency"] = (np.asarray(init["frequency"]) * (1 + shift)).tolist()
        final["orientation"] = (np.asarray(init["orientation"]) + 0.3 * shift).tolist()
        final["sigma_t"] = (np.asarray(init["sigma_t"]) * 0.8).tolist()
    return {"init": init, "final": final, "kernel_size": KERNEL, "frame_rate_hz": FRAME_RATE,
            "mel_bins_per_octave": BINS_PER_OCT, "learnable": learnable}


def run_obj(dataset: str, system: str, seed: int, fold, score: float, rng) -> dict:
    task, main, _, _, _ = PLAN[dataset]
    metrics = {main: score}
    if main == "accuracy":
        metrics["balanced_accuracy"] = score - 0.02
    else:
        metrics["false_alarm_rate"] = score / 2
        metrics["miss_rate"] = score / 2
        metrics["detection_error_rate_ci95"] = [score - 0.01, score + 0.01]
    shift = {"urbansound8k": 0.5, "zebra_finch": 2.0, "ami": 0.6}[dataset]
    gabor = None
    if system in ("fixed_gabor", "cortical_gabor", "learnable_gabor"):
        gabor = _gabor(rng, system == "learnable_gabor", shift)
    epochs = 4
    val = np.clip(score - 0.1 + 0.1 * np.arange(1, epochs + 1) / epochs + rng.normal(0, 0.01, epochs), 0, 1)
    return {
        "schema_version": 1, "dataset": dataset, "task": task, "system": system,
        "seed": seed, "fold": fold, "profile": "ci", "data_source": "twin",
        "config_hash": "abc", "config": {"epochs": epochs},
        "metrics": metrics,
        "metric_directions": {m: DIRECTIONS[m] for m in metrics if m in DIRECTIONS},
        "main_metric": main,
        "history": {"epoch": list(range(1, epochs + 1)), "loss": [1.0] * epochs,
                    "val_loss": [1.0] * epochs, "val_main": val.tolist(), "best_epoch": epochs},
        "params": {"frontend_trainable": 4 * FILTERS if system == "learnable_gabor" else 0,
                   "total_trainable": 1000},
        "gabor": gabor,
        "features": {"sample_rate": 16000, "n_mels": 64, "fmin": 0.0, "fmax": 8000.0,
                     "hop_ms": 10.0, "win_ms": 25.0},
        "wall_time_s": 1.0,
        "provenance": {"git_commit": "0123456789abcdef0123", "git_dirty": False,
                       "packages": {}, "python": "3.11", "platform": "linux", "device": "cpu",
                       "keras_backend": "tensorflow", "data_checksum": "x", "data_root": "/d",
                       "twin": {"size": "tiny", "seed": 0}, "skipped_inputs": 0,
                       "created_utc": f"2026-01-0{seed + 1}T00:00:00Z"},
        "model_path": None,
    }


def write_fixture_runs(root: Path) -> Path:
    """Write the fixture runs under ``root``/runs and return that folder."""
    runs = Path(root) / "runs"
    rng = np.random.default_rng(1234)
    for dataset, (_, _, systems, seeds, folds) in PLAN.items():
        for system, base in systems.items():
            for seed in seeds:
                if (dataset, system) == SINGLE_SEED and seed > 0:
                    continue
                for fold in folds:
                    score = float(base + 0.02 * seed + 0.005 * (fold or 0))
                    name = f"seed{seed}" + ("" if fold is None else f"_fold{fold}")
                    write_json(runs / dataset / system / f"{name}.json",
                               run_obj(dataset, system, seed, fold, score, rng))
    write_json(runs / "voxceleb1" / "MISSING.json",
               {"dataset": "voxceleb1", "reason": "manual download required (credentials)"})
    (runs / "urbansound8k" / "mel" / "seed9.json").write_text('{"schema_version": 1, "data', "utf-8")
    # Valid JSON, wrong content: a metric is NaN-free but the direction is absent.
    bad = run_obj("ami", "mel", 7, None, 0.3, rng)
    del bad["metric_directions"]["detection_error_rate"]
    (runs / "ami" / "mel" / "seed7.json").write_text(json.dumps(bad), "utf-8")
    write_json(Path(root) / "logs" / "failed" / "chime5" / "mel" / "seed0.json",
               {"dataset": "chime5", "system": "mel", "seed": 0, "fold": None,
                "error": "RuntimeError: out of memory\nmore detail", "traceback": "..."})
    return runs
