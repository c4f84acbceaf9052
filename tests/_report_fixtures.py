"""A small, fully synthetic runs folder for the report tests (schema_version 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark import units
from benchmark.io import write_json

FILTERS = 8
KERNEL = [15, 5]
FRAME_RATE = {"urbansound8k": 50.0}   # the urban tasks use a 20 ms hop; others 10 ms
N_MELS, FMIN, FMAX = 64, 0.0, 8000.0
BINS_PER_OCT = float(units.mel_bins_per_octave(N_MELS, FMIN, FMAX))   # about 14.5

# dataset -> (task, main metric, {system: base score}, seeds, folds)
PLAN = {
    "urbansound8k": ("urban_sound", "accuracy",
                     {"mel": 0.60, "fixed_gabor": 0.66, "cortical_gabor": 0.70,
                      "learnable_gabor": 0.78, "free_cnn": 0.84},
                     [0, 1], [1, 2, 3]),
    "zebra_finch": ("bird_calls", "balanced_accuracy",
                    {"mel": 0.50, "learnable_gabor": 0.72, "free_cnn": 0.65,
                     "brand_new_system": 0.40},
                    [0, 1, 2], [None]),
    "ami": ("speech_activity", "detection_error_rate",
            {"mel": 0.30, "learnable_gabor": 0.12, "free_cnn": 0.15},
            [0, 1], [None]),
}
SINGLE_SEED = ("zebra_finch", "free_cnn")   # this cell keeps only seed 0
from benchmark.metrics import METRIC_DIRECTIONS as DIRECTIONS  # noqa: E402

# The twins' PLANTED_MODULATIONS.json content, as new runs carry it (ami: none,
# as on real data). On zebra_finch the learnable filters end exactly on these
# points (filter k on point k mod 4), so its recovery equals its initial distance.
PLANTED = {
    "zebra_finch": {"dataset": "zebra_finch", "note": "fixture", "classes": {
        "Distance": [{"temporal_hz": 4.0, "spectral_cyc_per_oct": 1.0, "direction": 1,
                      "what": "upward sweep"}],
        "Tet": [{"temporal_hz": 12.0, "spectral_cyc_per_oct": 0.5, "direction": -1,
                 "what": "downward sweep"},
                {"temporal_hz": 20.0, "spectral_cyc_per_oct": 0.0, "direction": 0,
                 "what": "pure AM"}],
        "Song": [{"temporal_hz": 6.0, "spectral_cyc_per_oct": 2.0, "direction": 0,
                  "what": "harmonic stack, AM"}]}},
    "urbansound8k": {"dataset": "urbansound8k", "note": "fixture", "classes": {
        "drilling": [{"temporal_hz": 16.0, "spectral_cyc_per_oct": 0.25, "direction": 0,
                      "what": "AM"}],
        "siren": [{"temporal_hz": 2.0, "spectral_cyc_per_oct": 1.0, "direction": 1,
                   "what": "slow upward sweep"}]}},
}


def planted_points(dataset: str) -> list[dict]:
    """The planted entries in the report's order (classes sorted by name)."""
    classes = PLANTED[dataset]["classes"]
    return [e for label in sorted(classes) for e in classes[label]]


def random_init(rng: np.random.Generator, n: int = FILTERS) -> dict:
    """The reference initialisation, in grid units."""
    return {"sigma_t": (2 * 1.41 ** rng.uniform(0, 6, n)).tolist(),
            "sigma_f": (2 * 1.41 ** rng.uniform(0, 6, n)).tolist(),
            "frequency": (np.pi / 2 * 1.41 ** -rng.uniform(0, 5, n)).tolist(),
            "orientation": rng.uniform(-np.pi, np.pi, n).tolist()}


def gabor_block(init: dict, final: dict, frame_rate: float = 100.0, learnable: bool = True) -> dict:
    return {"init": init, "final": final, "kernel_size": KERNEL, "frame_rate_hz": frame_rate,
            "mel_bins_per_octave": BINS_PER_OCT, "learnable": learnable,
            "n_mels": N_MELS, "fmin": FMIN, "fmax": FMAX, "grid": "centered"}


def on_points(init: dict, points: list[dict], frame_rate: float) -> dict:
    """``init`` with filter k moved exactly onto ``points[k mod len(points)]``."""
    n = len(init["frequency"])
    chosen = [points[k % len(points)] for k in range(n)]
    freq, orient = units.params_from_modulations(
        [p["temporal_hz"] for p in chosen], [p["spectral_cyc_per_oct"] for p in chosen],
        [p["direction"] for p in chosen], frame_rate, BINS_PER_OCT)
    return {**{k: list(v) for k, v in init.items()},
            "frequency": freq.tolist(), "orientation": orient.tolist()}


def _gabor(rng: np.random.Generator, dataset: str, learnable: bool, shift: float) -> dict:
    rate = FRAME_RATE.get(dataset, 100.0)
    init = random_init(rng)
    final = {k: list(v) for k, v in init.items()}
    if learnable and dataset in ("zebra_finch",):
        final = on_points(init, planted_points(dataset), rate)
    elif learnable:   # the dataset decides where the filters go, so tasks differ
        final["frequency"] = (np.asarray(init["frequency"]) * (1 + shift)).tolist()
        final["orientation"] = (np.asarray(init["orientation"]) + 0.3 * shift).tolist()
    if learnable:
        final["sigma_t"] = (np.asarray(init["sigma_t"]) * 0.8).tolist()
    return gabor_block(init, final, rate, learnable)


N_ITEMS = 60   # test clips per fold, or 10 s blocks per split, of every fixture cell


def outputs_for(main: str, score: float, seed: int, fold, rng) -> dict:
    """Per-item outputs whose metric is ``score`` (to 1/N_ITEMS): the same item ids for
    every system of a cell, as a real grid writes them."""
    cell = f"s{seed}f{fold}"
    items = [f"{cell}/item{i:03d}" for i in range(N_ITEMS)]
    if main in ("accuracy", "balanced_accuracy"):
        y = np.arange(N_ITEMS) % 3
        wrong = rng.permutation(N_ITEMS)[:round((1 - score) * N_ITEMS)]
        pred = y.copy()
        pred[wrong] = (pred[wrong] + 1) % 3
        return {"classification": {"item": items, "unit": items, "y_true": y.tolist(),
                                   "y_pred": pred.tolist()}}
    total = np.full(N_ITEMS, 8.0)
    err = np.clip(rng.normal(score, 0.05, N_ITEMS), 0, 1) * total
    return {"detection": {"item": items, "unit": items, "false_alarm": (err / 2).tolist(),
                          "missed": (err / 2).tolist(), "total": total.tolist()}}


def run_obj(dataset: str, system: str, seed: int, fold, score: float, rng) -> dict:
    from benchmark.metrics import METRICS, from_outputs

    task, main, _, _, _ = PLAN[dataset]
    outputs = outputs_for(main, score, seed, fold, rng)
    metrics = {m: from_outputs(m, outputs) for m, spec in METRICS.items() if spec.block in outputs}
    shift = {"urbansound8k": 0.5, "zebra_finch": 2.0, "ami": 0.6}[dataset]
    gabor = None
    if system in ("fixed_gabor", "cortical_gabor", "learnable_gabor"):
        gabor = _gabor(rng, dataset, system == "learnable_gabor", shift)
    epochs = 4
    val = np.clip(score - 0.1 + 0.1 * np.arange(1, epochs + 1) / epochs + rng.normal(0, 0.01, epochs), 0, 1)
    return {
        "schema_version": 3, "dataset": dataset, "task": task, "system": system,
        "seed": seed, "fold": fold, "profile": "ci", "data_source": "twin",
        "config_hash": "abc", "config": {"epochs": epochs},
        "metrics": metrics,
        "metric_directions": {m: DIRECTIONS[m] for m in metrics if m in DIRECTIONS},
        "main_metric": main,
        "history": {"epoch": list(range(1, epochs + 1)), "loss": [1.0] * epochs,
                    "val_loss": [1.0] * epochs, "val_main": val.tolist(), "best_epoch": epochs,
                    "selected_last_epoch": True},
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
        "model_path": None, "run": {"resumed_from_epoch": None},
        "planted": PLANTED.get(dataset), "outputs": outputs,
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
    (runs / "urbansound8k" / "mel" / "seed9.json").write_text('{"schema_version": 3, "data', "utf-8")
    # Valid JSON, wrong content: a metric no MetricSpec knows, so no direction.
    bad = run_obj("ami", "mel", 7, None, 0.3, rng)
    bad["metrics"]["made_up_rate"] = 0.5
    (runs / "ami" / "mel" / "seed7.json").write_text(json.dumps(bad), "utf-8")
    write_json(Path(root) / "logs" / "failed" / "chime5" / "mel" / "seed0.json",
               {"dataset": "chime5", "system": "mel", "seed": 0, "fold": None,
                "error": "RuntimeError: out of memory\nmore detail", "traceback": "..."})
    return runs


def gabor_run(dataset: str, seed: int, init: dict, final: dict, *, frame_rate: float = 100.0,
              learnable: bool = True, system: str = "learnable_gabor", planted: dict | None = None):
    """One parsed run with the given Gabor parameters, for analysis tests."""
    from benchmark.report.runs import parse_run

    obj = minimal_obj(dataset, system, seed) | {
        "gabor": gabor_block(init, final, frame_rate, learnable), "planted": planted}
    return parse_run(obj, Path(dataset) / system / f"seed{seed}.json")


def minimal_obj(dataset: str, system: str, seed: int) -> dict:
    """The smallest valid run file: every field of the schema, most of them empty."""
    items = [f"c{i}" for i in range(4)]
    return {"schema_version": 3, "dataset": dataset, "task": "t", "system": system, "seed": seed,
            "fold": None, "profile": "ci", "data_source": "twin", "config_hash": "abc",
            "config": {}, "run": {}, "metrics": {"accuracy": 0.5},
            "metric_directions": {"accuracy": "max"}, "main_metric": "accuracy", "history": {},
            "params": {}, "gabor": None, "planted": None, "features": {}, "wall_time_s": 0.0,
            "provenance": {}, "model_path": None,
            "outputs": {"classification": {"item": items, "unit": items, "y_true": [0, 1, 0, 1],
                                           "y_pred": [0, 1, 1, 0]}}}
