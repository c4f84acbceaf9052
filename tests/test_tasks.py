"""Task specs, profiles, the grid and type-checked overrides."""

import dataclasses

import pytest

from benchmark.errors import UserError
from benchmark.features import FeatureConfig
from benchmark.registry import system_names
from benchmark.tasks import (DATASETS, PROFILES, TASKS, RunConfig, describe_tasks, grid_cells,
                             resolve_config, task_for_dataset)


def test_every_dataset_has_one_task():
    assert task_for_dataset("ami").name == "speech_activity"
    assert task_for_dataset("voxceleb1").main_metric == "accuracy"
    assert task_for_dataset("esc50") is TASKS["urban_sound"]
    assert {d for t in TASKS.values() for d in t.datasets} == set(DATASETS)
    with pytest.raises(UserError, match="did you mean 'esc50'"):
        task_for_dataset("esc5")


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("dataset", DATASETS)
def test_every_profile_resolves_to_valid_feature_settings(profile, dataset):
    cfg = resolve_config(dataset, "learnable_gabor", profile)
    FeatureConfig(**dataclasses.asdict(cfg.features))  # raises on an inconsistent config
    assert cfg.data == ("real" if profile == "paper" else "twin")
    assert (cfg.fold is None) == (dataset in ("ami", "chime5", "voxceleb1"))


def test_paper_profile_uses_the_protocol_widths():
    sad = resolve_config("ami", "mel", "paper")
    assert (sad.head.lstm_units, sad.head.lstm_layers, sad.head.dense_units) == (128, 2, (128, 128))
    assert sad.train.chunk_seconds == 2.0 and sad.train.batch_size == 64
    spk = resolve_config("voxceleb1", "mel", "paper")
    assert (spk.head.tdnn_channels, spk.head.tdnn_pooling_channels, spk.head.embedding) == (512, 1500, 512)
    assert (spk.head.aam_margin, spk.head.aam_scale) == (0.05, 10.0)
    us = resolve_config("urbansound8k", "mel", "paper")
    assert us.head.conv_channels == (64, 128, 256, 512)
    assert us.frontend.filters == 64 and us.frontend.kernel_size == (111, 9)
    assert resolve_config("esc50", "mel", "paper").features.clip_seconds == 5.0


def test_grid_cells_follow_the_profile():
    systems = system_names()
    demo = grid_cells("demo")
    assert len(demo) == len(DATASETS) * len(systems) * 3  # one test fold per seed
    assert {s for _, s, _, _ in demo} == set(systems)
    us = sorted({(seed, fold) for d, s, seed, fold in demo if d == "urbansound8k"})
    assert us == [(0, 1), (1, 2), (2, 3)]
    assert all(fold is None for d, _, _, fold in demo if d in ("ami", "voxceleb1"))
    paper = grid_cells("paper")
    assert len([c for c in paper if c[0] == "urbansound8k" and c[1] == systems[0]]) == 30
    ci = grid_cells("ci")
    assert len(ci) == len(DATASETS) * len(systems)


def test_overrides_are_type_checked():
    cfg = resolve_config("urbansound8k", "mel", "ci",
                         ["train.epochs=3", "frontend.kernel_size=7,3", "features.fmax=7000",
                          "train.checkpoint=true", "head.conv_channels=4,8,16",
                          "features.clip_seconds=none"])
    assert cfg.train.epochs == 3 and cfg.frontend.kernel_size == (7, 3)
    assert cfg.features.fmax == 7000.0 and isinstance(cfg.features.fmax, float)
    assert cfg.train.checkpoint is True and cfg.head.conv_channels == (4, 8, 16)
    assert cfg.features.clip_seconds is None
    with pytest.raises(UserError, match="did you mean 'train.epochs'"):
        resolve_config("urbansound8k", "mel", "ci", ["train.epoch=3"])
    with pytest.raises(UserError, match="did you mean 'train.epochs'"):
        resolve_config("urbansound8k", "mel", "ci", ["epochs=3"])
    with pytest.raises(UserError, match=r"train.epochs expects an int, got '3.5'"):
        resolve_config("urbansound8k", "mel", "ci", ["train.epochs=3.5"])
    with pytest.raises(UserError, match=r"frontend.kernel_size expects 2 comma-separated ints"):
        resolve_config("urbansound8k", "mel", "ci", ["frontend.kernel_size=7"])
    with pytest.raises(UserError, match="train.checkpoint expects a bool"):
        resolve_config("urbansound8k", "mel", "ci", ["train.checkpoint=maybe"])
    with pytest.raises(UserError, match="not KEY=VALUE"):
        resolve_config("urbansound8k", "mel", "ci", ["train.epochs"])
    with pytest.raises(UserError, match="fmax must satisfy"):
        resolve_config("urbansound8k", "mel", "ci", ["features.fmax=9000"])
    with pytest.raises(UserError, match="unknown system 'mell'"):
        resolve_config("urbansound8k", "mell", "ci")
    with pytest.raises(UserError, match="out of range"):
        resolve_config("urbansound8k", "mel", "ci", fold=11)
    with pytest.raises(UserError, match="drop --fold"):
        resolve_config("ami", "mel", "ci", fold=1)


def test_config_hash_is_stable_and_sensitive():
    a = resolve_config("zebra_finch", "mel", "demo", seed=1)
    assert a.hash() == resolve_config("zebra_finch", "mel", "demo", seed=1).hash()
    assert a.hash() != resolve_config("zebra_finch", "mel", "demo", seed=2).hash()
    assert a.hash() != resolve_config("zebra_finch", "mel", "demo", ["train.epochs=1"], seed=1).hash()
    assert RunConfig.from_json(a.to_json()) == a


def test_describe_tasks_lists_every_task():
    text = describe_tasks()
    for t in TASKS.values():
        assert t.name in text and t.main_metric in text
