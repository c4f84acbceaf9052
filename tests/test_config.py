"""Profiles, the grid, datasets declared in recipes, and type-checked settings."""

import dataclasses

import pytest

from benchmark.config import PROFILES, Profile, RunConfig, grid_cells, resolve_config
from benchmark.errors import UserError
from benchmark.features import FeatureConfig
from benchmark.systems import system_names
from benchmark.datasets import dataset_info, dataset_names, describe_tasks
from benchmark.tasks import get_task, tasks

def test_datasets_are_declared_by_their_recipes():
    from benchmark.recipes import load_recipe, recipe_names

    # every recipe of a registered task is a dataset (another is e.g. a noise corpus)
    assert set(dataset_names()) == {n for n in recipe_names() if load_recipe(n).task in tasks()}
    builtin = ["ami", "chime5", "voxceleb1", "zebra_finch", "urbansound8k", "esc50", "ripples",
               "ripples_b"]
    assert [d for d in dataset_names() if d in builtin] == builtin   # the recipes' column order
    assert dataset_info("ami").task == "speech_activity" and dataset_info("ami").folds is None
    assert dataset_info("urbansound8k").folds == 10 and dataset_info("esc50").optional
    assert dataset_info("esc50").features == {"clip_seconds": 5.0}
    assert dataset_info("voxceleb1").metrics == ("eer", "eer_snorm", "accuracy")
    with pytest.raises(UserError, match="did you mean 'esc50'"):
        dataset_info("esc5")


@pytest.mark.parametrize("profile", list(PROFILES))
@pytest.mark.parametrize("dataset", dataset_names())
def test_every_profile_resolves_to_valid_settings(profile, dataset):
    cfg = resolve_config(dataset, "learnable_gabor", profile)
    FeatureConfig(**dataclasses.asdict(cfg.features))  # raises on an inconsistent config
    assert cfg.data == ("real" if profile.startswith("paper") else "twin")
    assert (cfg.fold is None) == (dataset_info(dataset).folds is None)
    assert isinstance(cfg.head, get_task(cfg.task).Head)
    assert RunConfig.from_json(cfg.to_json()) == cfg


def test_paper_profile_uses_the_protocol_settings():
    sad = resolve_config("ami", "mel", "paper")
    assert (sad.head.lstm_units, sad.head.lstm_layers, sad.head.dense_units) == (128, 2, (128, 128))
    assert sad.protocol.chunk_seconds == 2.0 and sad.train.batch_size == 64
    assert sad.protocol.noise_snr_db == (5.0, 20.0) and sad.protocol.noise_prob == 1.0
    spk = resolve_config("voxceleb1", "mel", "paper")
    assert (spk.head.tdnn_channels, spk.head.tdnn_pooling_channels, spk.head.embedding) == (512, 1500, 512)
    assert (spk.head.aam_margin, spk.head.aam_scale) == (0.05, 10.0)
    assert spk.protocol.noise_snr_db == (10.0, 20.0)
    us = resolve_config("urbansound8k", "mel", "paper")
    assert us.head.conv_channels == (64, 128, 256, 512) and us.features.top_db == 80.0
    assert us.frontend.filters == 64 and us.frontend.kernel_size == (111, 9)
    assert us.frontend.init == "reference" and us.train.frontend_lr_scale == 1.0
    assert resolve_config("esc50", "mel", "paper").features.clip_seconds == 5.0
    assert resolve_config("urbansound8k", "mel", "demo").frontend.init == "physical"


def test_grid_cells_follow_the_profile():
    demo = grid_cells("demo")
    p = PROFILES["demo"]
    per_dataset = {d: len(p.dataset_seeds.get(d, p.seeds))
                   * len(p.dataset_systems.get(d, system_names())) + len(p.null_systems)
                   for d in p.datasets}
    assert len(demo) == sum(per_dataset.values())  # one test fold per seed
    assert {s for _, s, _, _ in demo} == set(system_names()) | {"learnable_gabor+permuted"}
    us = sorted({(seed, fold) for d, s, seed, fold in demo if d == "urbansound8k"})
    assert us == [(s, s + 1) for s in p.dataset_seeds["urbansound8k"]]  # rotating test folds
    assert all(fold is None for d, _, _, fold in demo if dataset_info(d).folds is None)
    paper = grid_cells("paper")
    assert len([c for c in paper if c[0] == "urbansound8k" and c[1] == system_names()[0]]) == 30
    assert len(grid_cells("ci")) == len(dataset_names()) * len(system_names())


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_system_of_a_dataset_runs_the_same_cells(profile):
    """Rows of one dataset are compared on the same test sets: same (seed, fold) cells."""
    cells: dict = {}
    for d, s, seed, fold in grid_cells(profile):
        if not s.endswith("+permuted"):   # the nulls are not compared with the rows
            cells.setdefault(d, {}).setdefault(s, set()).add((seed, fold))
    for d, by_system in cells.items():
        assert len({frozenset(c) for c in by_system.values()}) == 1, (profile, d, by_system)


def test_a_task_frontend_entry_refines_the_profile_frontend():
    cfg = resolve_config("ripples", "learnable_gabor", "demo")
    assert cfg.frontend.filters == 8 and cfg.frontend.kernel_size == (15, 7)   # the profile's
    assert cfg.frontend.init == "low" and cfg.frontend.output_mode == "abs"    # the task's


def test_every_demo_run_takes_the_same_optimiser_steps():
    """The filters need steps to move, and systems are compared at one budget: every demo run,
    of every system, gets the same 800 steps, none stopped early."""
    steps = set()
    for dataset, system, seed, fold in grid_cells("demo"):
        cfg = resolve_config(dataset, system, "demo", seed=seed, fold=fold)
        steps.add(cfg.train.steps_per_epoch * cfg.train.epochs)
        assert cfg.train.patience >= cfg.train.epochs  # no early stop before the budget
    assert steps == {800}


def test_overrides_are_type_checked():
    cfg = resolve_config("urbansound8k", "mel", "ci",
                         ["train.epochs=3", "frontend.kernel_size=7,3", "features.fmax=7000",
                          "train.checkpoint=true", "head.conv_channels=4,8,16",
                          "features.clip_seconds=none", "train.frontend_lr_scale=10"])
    assert cfg.train.epochs == 3 and cfg.frontend.kernel_size == (7, 3)
    assert cfg.features.fmax == 7000.0 and isinstance(cfg.features.fmax, float)
    assert cfg.train.checkpoint is True and cfg.head.conv_channels == (4, 8, 16)
    assert cfg.features.clip_seconds is None and cfg.train.frontend_lr_scale == 10.0
    bad = {
        "train.epoch=3": "did you mean 'train.epochs'",
        "epochs=3": "did you mean 'train.epochs'",
        "train.epochs=3.5": r"train.epochs expects an int, got '3.5'",
        "frontend.kernel_size=7": "frontend.kernel_size expects 2 comma-separated ints",
        "train.checkpoint=maybe": "train.checkpoint expects a bool",
        "train.epochs": "not KEY=VALUE",
        "features.fmax=9000": "fmax must satisfy",
        "train.patience=-5": "train.patience must be at least 1",
        "head.dropout=2.0": r"head.dropout and head.final_dropout must be in \[0, 1\)",
        "train.learning_rate=nan": "expects a finite float",
        "frontend.init=random": "frontend.init must be one of reference, physical, low",
    }
    for item, message in bad.items():
        with pytest.raises(UserError, match=message):
            resolve_config("urbansound8k", "mel", "ci", [item])
    with pytest.raises(UserError, match="unknown system 'mell'"):
        resolve_config("urbansound8k", "mell", "ci")
    with pytest.raises(UserError, match="out of range"):
        resolve_config("urbansound8k", "mel", "ci", fold=11)
    with pytest.raises(UserError, match="drop --fold"):
        resolve_config("ami", "mel", "ci", fold=1)
    for seed in (-1, 2**32, 10**30):
        with pytest.raises(UserError, match="--seed must be an integer"):
            resolve_config("ami", "mel", "ci", seed=seed)


def test_a_field_the_task_does_not_read_is_an_error():
    # Speech activity has no CNN head and no mixup: overriding them would only
    # change the hash and rerun the cell with nothing different.
    with pytest.raises(UserError, match="unknown configuration key 'head.conv_channels' for this task"):
        resolve_config("ami", "mel", "ci", ["head.conv_channels=8"])
    with pytest.raises(UserError, match="unknown configuration key 'protocol.mixup_alpha'"):
        resolve_config("voxceleb1", "mel", "ci", ["protocol.mixup_alpha=1"])
    with pytest.raises(UserError, match="does not apply: this run uses real data"):
        resolve_config("ami", "mel", "paper", ["twin.size=tiny"])


def test_profiles_go_through_the_same_checks(monkeypatch):
    task = get_task("speech_activity")
    bad = Profile(name="bad", data="twin", twin_size="tiny", seeds=(0,), folds="first", sizes=("bad",))
    monkeypatch.setitem(PROFILES, "bad", bad)
    monkeypatch.setattr(task, "sizes", {**task.sizes, "bad": {"train": {"epochs": "many"}}})
    with pytest.raises(UserError, match="profile 'bad' train.epochs expects an int"):
        resolve_config("ami", "mel", "bad")
    monkeypatch.setattr(task, "sizes", {**task.sizes, "bad": {"head": {"conv_channels": (8,)}}})
    with pytest.raises(UserError, match="profile 'bad': unknown configuration key"):
        resolve_config("ami", "mel", "bad")


def test_config_hash_is_stable_and_sensitive():
    a = resolve_config("zebra_finch", "mel", "demo", seed=1)
    assert a.hash() == resolve_config("zebra_finch", "mel", "demo", seed=1).hash()
    assert a.hash() != resolve_config("zebra_finch", "mel", "demo", seed=2).hash()
    assert a.hash() != resolve_config("zebra_finch", "mel", "demo", ["train.epochs=1"], seed=1).hash()


def test_describe_tasks_lists_every_task():
    text = describe_tasks()
    for t in tasks().values():
        assert t.name in text and t.main_metric in text
    assert text.index("speech_activity") < text.index("urban_sound")  # table order


def test_paper_profile_runs_the_authors_grid_and_records_it():
    paper = resolve_config("ami", "learnable_gabor", "paper")
    assert paper.frontend.grid == "reference" and paper.to_json()["frontend"]["grid"] == "reference"
    for profile in ("ci", "demo"):
        assert resolve_config("ami", "learnable_gabor", profile).frontend.grid == "centered"
    cen = resolve_config("ami", "learnable_gabor", "paper", ["frontend.grid=centered"])
    assert cen.frontend.grid == "centered" and cen.hash() != paper.hash()
    with pytest.raises(UserError, match="frontend.grid must be centered or reference"):
        resolve_config("ami", "learnable_gabor", "paper", ["frontend.grid=uncentred"])


def test_the_authors_window_is_one_setting_away_from_the_paper_profile():
    from benchmark.grid import default_data_source

    for d in ("ami", "voxceleb1"):
        paper = resolve_config(d, "learnable_gabor", "paper")
        assert paper.features.window == "win_ms" and paper.features.win_length == 400
        assert paper.features.fft_size == 2048                      # the authors' n_fft
        authors = resolve_config(d, "learnable_gabor", "paper", ["features.window=fft"])
        assert authors.features.win_length == 2048                  # 128 ms Hann at 16 kHz
        assert resolve_config(d, "learnable_gabor", "paper-window").features == authors.features
        assert resolve_config(d, "learnable_gabor", "paper-window").frontend == paper.frontend
    # clip tasks keep their own features in both paper profiles
    for d in ("zebra_finch", "urbansound8k"):
        assert (resolve_config(d, "mel", "paper-window").features
                == resolve_config(d, "mel", "paper").features)
    assert default_data_source("paper-window") == "real" and default_data_source("demo") == "twin"
    from benchmark.cli import PROFILES as CLI_PROFILES

    assert set(CLI_PROFILES) == set(PROFILES)       # every profile can be named on the command line


def test_paper_kernels_are_no_longer_than_the_clip():
    from benchmark.tasks.clip import clip_frames

    for profile in ("paper", "paper-window"):
        bird = resolve_config("zebra_finch", "learnable_gabor", profile)
        assert bird.frontend.kernel_size[0] <= clip_frames(bird.features, 0) == 101
        assert bird.frontend.grid == "reference" and bird.frontend.filters == 64
        urban = resolve_config("urbansound8k", "learnable_gabor", profile)
        assert urban.frontend.kernel_size == (111, 9)
        assert urban.frontend.kernel_size[0] <= clip_frames(urban.features, 0)
        assert urban.features.pad == "start"        # as Arnault et al.'s code pads
    assert resolve_config("urbansound8k", "mel", "demo").features.pad == "end"
