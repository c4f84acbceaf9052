"""The settings every task shares, and the one check they all use.

A leaf: it imports no task, system or configuration module, so tasks, systems and
the configuration can all import it. :class:`FrontendSettings` is what every
system's factory receives: the run's frontend settings, plus what the run's
features and seed fix (frame rate, mel bands, seed), which are filled in by
:meth:`FrontendSettings.for_run` and are not settings of their own (no override
key, no part of the configuration's hash).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from benchmark.errors import UserError
from benchmark.kernels import INITS

MAX_SEED = 2**32 - 1  # what NumPy and Keras seed generators accept
DERIVED = "derived"   # field metadata: fixed by the run's features and seed, not a setting


def check(ok: bool, message: str) -> None:
    """Raise a :class:`UserError` with ``message`` unless ``ok``."""
    if not ok:
        raise UserError(message)


def setting_fields(block) -> list[dataclasses.Field]:
    """The fields of a settings block that are settings (override keys, hashed)."""
    return [f for f in dataclasses.fields(block) if not f.metadata.get(DERIVED)]


def settings_dict(block) -> dict:
    """A settings block as JSON-ready values, without its derived fields."""
    full = dataclasses.asdict(block)
    return {f.name: full[f.name] for f in setting_fields(block)}


@dataclass(frozen=True)
class FrontendSettings:
    """What every system's factory receives.

    ``kernel_size`` is (time frames, mel bins), as the layer takes it. The frame rate
    and mel settings let physically specified banks (e.g. the cortical rate x scale
    grid) place filters in Hz and cycles/octave.
    """

    filters: int = 64
    kernel_size: tuple[int, int] = (111, 9)  # (time frames, mel bins)
    output_mode: str = "concat"
    init: str = "reference"                  # Gabor init: reference (grid units) | physical | low
    # Gabor kernel grid: "centered" (integer taps centred on 0) or "reference" (the authors'
    # linspace(-ceil(K/2)+1, ceil(K/2), K): spacing K/(K-1), centred half a tap off 0).
    grid: str = "centered"
    # Fixed by the run's features and seed (see ``for_run``).
    frame_rate_hz: float = field(default=100.0, metadata={DERIVED: True})
    n_mels: int = field(default=64, metadata={DERIVED: True})
    fmin: float = field(default=0.0, metadata={DERIVED: True})
    fmax: float = field(default=8000.0, metadata={DERIVED: True})
    seed: int | None = field(default=None, metadata={DERIVED: True})

    def __post_init__(self):
        check(self.filters > 0 and len(self.kernel_size) == 2 and min(self.kernel_size) > 0,
              f"frontend.filters and frontend.kernel_size must be positive (got {self.filters}, "
              f"{self.kernel_size})")
        check(self.output_mode in ("real", "imag", "concat", "abs"),
              f"frontend.output_mode must be real, imag, concat or abs (got {self.output_mode!r})")
        check(self.init in INITS, f"frontend.init must be one of {', '.join(INITS)} (got {self.init!r})")
        check(self.grid in ("centered", "reference"),
              f"frontend.grid must be centered or reference (got {self.grid!r})")

    def for_run(self, features, seed: int | None) -> "FrontendSettings":
        """These settings with what a run's features (a ``FeatureConfig``) and seed fix."""
        return dataclasses.replace(self, frame_rate_hz=float(features.frame_rate_hz),
                                   n_mels=features.n_mels, fmin=float(features.fmin),
                                   fmax=float(features.fmax_hz), seed=seed)


@dataclass(frozen=True)
class TrainSettings:
    """The generic training loop's settings (every task reads all of them)."""

    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 0.01
    optimizer: str = "sgd"             # sgd | adam
    patience: int = 50                 # epochs without a better validation main metric
    steps_per_epoch: int = 0           # batches between validations; 0: the task's natural epoch
    frontend_lr_scale: float = 1.0     # the frontend's learning rate = this x learning_rate
    checkpoint: bool = False           # save each epoch and resume after a crash
    mixed_precision: bool = True       # GPU only: float16 head, float32 frontend
    jit_compile: bool = True           # GPU only: XLA (slower on CPU for these convolutions)
    deterministic: bool = True         # op determinism where the backend has it
    # The null run: training labels shuffled (a fixed permutation per seed; frame targets
    # shifted in time per meeting), validation and test labels untouched.
    permute_labels: bool = False

    def __post_init__(self):
        check(self.epochs > 0, f"train.epochs must be positive (got {self.epochs})")
        check(self.batch_size > 0, f"train.batch_size must be positive (got {self.batch_size})")
        check(0 < self.learning_rate < 10,
              f"train.learning_rate must be in (0, 10) (got {self.learning_rate})")
        check(self.optimizer in ("sgd", "adam"),
              f"train.optimizer must be sgd or adam (got {self.optimizer!r})")
        check(self.patience > 0, f"train.patience must be at least 1 (got {self.patience})")
        check(self.steps_per_epoch >= 0, "train.steps_per_epoch must be >= 0")
        check(0 <= self.frontend_lr_scale <= 1e4,
              f"train.frontend_lr_scale must be in [0, 1e4] (got {self.frontend_lr_scale})")


@dataclass(frozen=True)
class TwinSettings:
    size: str = "demo"
    seed: int = 0

    def __post_init__(self):
        check(self.size in ("tiny", "demo"), f"twin.size must be tiny or demo (got {self.size!r})")
        check(0 <= self.seed <= MAX_SEED, f"twin.seed must be in [0, {MAX_SEED}] (got {self.seed})")


# ---------------------------------------------------------------------------
# Size blocks the tasks' ``sizes`` share ({section: {field: value}}, applied on top of a
# task's paper defaults by the profile of the same name; see ``benchmark.tasks.base.Task``)

CI_TRAIN = {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "optimizer": "adam", "patience": 2}
CI_CLIP_PROTOCOL = {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}
# Every demo run takes 800 optimiser steps (5 validations of 160 steps); batches of 8 keep a
# step cheap on two cores, and the budget pays for three seeds of every system on the two
# clip datasets and the calibration twins within the demo's time. At the head's learning
# rate the Gabor parameters moved only 2-9 % (median) in 1,000 steps, so every system's
# frontend learns 10x faster (the paper profile keeps 1x).
DEMO_TRAIN = {"epochs": 5, "steps_per_epoch": 160, "batch_size": 8, "learning_rate": 3e-3,
              "optimizer": "adam", "patience": 5, "frontend_lr_scale": 10.0}
DEMO_CLIP_HEAD = {"conv_channels": (8, 16), "dropout": 0.1, "final_dropout": 0.2}
# Long GPU runs: checkpoint each epoch; seeded but without op determinism, which
# slows GPU kernels and refuses ops lacking a deterministic GPU implementation.
PAPER_TRAIN = {"checkpoint": True, "deterministic": False}
# The authors' layer: their kernel size, initialisation and (uncentred) grid.
PAPER_FRONTEND = {"filters": 64, "kernel_size": (111, 9), "init": "reference", "grid": "reference"}
