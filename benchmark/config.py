"""Run configuration: settings blocks, profiles and the resolved configuration of one run.

Every run is described by one frozen :class:`RunConfig`, built in one place
(:func:`resolve_config`) from three layers, each checked by the same typed
coercer:

1. the task's own defaults (the reused paper protocol, :mod:`benchmark.tasks`);
2. the profile (``ci``, ``demo``, ``paper``, ``paper-window``): sizes and lengths;
3. ``section.field=value`` overrides from the command line.

Sections: ``features`` (:class:`benchmark.features.FeatureConfig`), ``frontend``,
``head`` and ``protocol`` (the task's own dataclasses: a speech-activity run has
no ``head.conv_channels``, and overriding a field the task does not read is an
error), ``train`` (the generic loop), ``twin``. The configuration's hash names
the run: a changed setting reruns the cell, an unchanged one is skipped.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Literal

from benchmark.errors import UserError, unknown
from benchmark.features import FeatureConfig

MAX_SEED = 2**32 - 1  # what NumPy and Keras seed generators accept
# The row of a system trained on permuted labels (the analysis' null), e.g. learnable_gabor+permuted.
PERMUTED_SUFFIX = "+permuted"


# ---------------------------------------------------------------------------
# Settings shared by every task


@dataclass(frozen=True)
class FrontendSettings:
    """What every system's factory receives (see ``benchmark.registry.FrontendConfig``)."""

    filters: int = 64
    kernel_size: tuple[int, int] = (111, 9)  # (time frames, mel bins)
    output_mode: str = "concat"
    init: str = "reference"                  # Gabor init: reference (grid units) | physical | low
    # Gabor kernel grid: "centered" (integer taps centred on 0) or "reference" (the authors'
    # linspace(-ceil(K/2)+1, ceil(K/2), K): spacing K/(K-1), centred half a tap off 0).
    grid: str = "centered"

    def __post_init__(self):
        check(self.filters > 0 and len(self.kernel_size) == 2 and min(self.kernel_size) > 0,
              f"frontend.filters and frontend.kernel_size must be positive (got {self.filters}, "
              f"{self.kernel_size})")
        check(self.output_mode in ("real", "imag", "concat", "abs"),
              f"frontend.output_mode must be real, imag, concat or abs (got {self.output_mode!r})")
        from benchmark.kernels import INITS

        check(self.init in INITS, f"frontend.init must be one of {', '.join(INITS)} (got {self.init!r})")
        check(self.grid in ("centered", "reference"),
              f"frontend.grid must be centered or reference (got {self.grid!r})")


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


def check(ok: bool, message: str) -> None:
    """Raise a :class:`UserError` with ``message`` unless ``ok``."""
    if not ok:
        raise UserError(message)


# ---------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    name: str
    data: Literal["twin", "real"]
    twin_size: str | None
    seeds: tuple[int, ...]
    folds: Literal["first", "rotate", "all"]   # which test folds the grid runs per seed
    # Seeds per dataset where they differ from ``seeds``. Every system of a dataset runs
    # the same (seed, fold) cells, so that its rows are measured on the same test sets.
    dataset_seeds: dict = field(default_factory=dict)
    # Systems per dataset where not every registered system runs (None: all of them).
    dataset_systems: dict = field(default_factory=dict)
    # Systems also trained on permuted labels, at each dataset's first seed: the nulls of
    # the filter analysis, filed as rows "<system>+permuted" (never beside the real rows).
    null_systems: tuple[str, ...] = ()
    datasets: tuple[str, ...] | None = None    # None: every benchmark dataset
    frontend: dict = field(default_factory=dict)
    # per-task settings on top of the task's paper defaults: {task: {section: {field: value}}}
    per_task: dict = field(default_factory=dict)
    description: str = ""


_CI_TRAIN = {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "optimizer": "adam", "patience": 2}
_CI_CLIP = {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}
# Every demo run takes 800 optimiser steps (5 validations of 160 steps); batches of 8 keep a
# step cheap on two cores, and the budget pays for three seeds of every system on the two
# clip datasets and the calibration twins within the demo's time. At the head's learning
# rate the Gabor parameters moved only 2-9 % (median) in 1,000 steps, so every system's
# frontend learns 10x faster (the paper profile keeps 1x).
_DEMO_TRAIN = {"epochs": 5, "steps_per_epoch": 160, "batch_size": 8, "learning_rate": 3e-3,
               "optimizer": "adam", "patience": 5, "frontend_lr_scale": 10.0}
_DEMO_CLIP_HEAD = {"conv_channels": (8, 16), "dropout": 0.1, "final_dropout": 0.2}

# The authors' layer: their kernel size, initialisation and (uncentred) grid.
_PAPER_FRONTEND = {"filters": 64, "kernel_size": (111, 9), "init": "reference", "grid": "reference"}


def _paper_tasks(window: str) -> dict:
    """The paper profiles' per-task settings; ``window`` is the speech tasks' analysis window."""
    # Long GPU runs: checkpoint each epoch; seeded but without op determinism, which
    # slows GPU kernels and refuses ops lacking a deterministic GPU implementation.
    out = {t: {"train": {"checkpoint": True, "deterministic": False}}
           for t in ("speech_activity", "speaker", "bird_calls", "urban_sound")}
    # Speech as the authors' code computed it: a 2048-point FFT at 16 kHz. Its mel layer
    # never receives the declared 25 ms window, so the window it applies is the whole FFT
    # (128 ms; window="fft"), which removes temporal modulation above about 10 Hz before
    # any filter sees it; "win_ms" keeps the declared 25 ms (-3 dB at 37 Hz).
    for t in ("speech_activity", "speaker"):
        out[t]["features"] = {"n_fft": 2048, "window": window}
    # A 1 s call is 101 frames at a 10 ms hop: a 111-frame kernel would be longer than the
    # clip (its outer taps would only ever see padding), so the kernel spans the clip.
    out["bird_calls"]["frontend"] = {**_PAPER_FRONTEND, "kernel_size": (101, 9)}
    # Arnault et al.'s code zero-pads short urban clips at the start (to 178,017 samples).
    out["urban_sound"]["features"] = {"pad": "start"}
    return out


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", data="twin", twin_size="tiny", seeds=(0,), folds="first",
        frontend={"filters": 4, "kernel_size": (9, 5)},
        per_task={
            "speech_activity": {
                "features": {"n_mels": 24},
                "head": {"compress": 8, "lstm_units": 8, "lstm_layers": 1, "dense_units": (8,)},
                "train": _CI_TRAIN,
                "protocol": {"chunk_seconds": 1.0, "chunks_per_epoch": 32, "tune_every": 1}},
            "speaker": {
                "features": {"n_mels": 24},
                "head": {"compress": 8, "tdnn_channels": 16, "tdnn_pooling_channels": 32,
                         "embedding": 16},
                "train": _CI_TRAIN,
                "protocol": {"chunk_seconds": 1.0}},
            "bird_calls": {
                "features": {"sample_rate": 22050, "n_mels": 24, "n_fft": None, "fmax": 10000.0},
                "head": {"conv_channels": (8,), "dropout": 0.1, "final_dropout": 0.2},
                "train": _CI_TRAIN,
                "protocol": _CI_CLIP},
            "urban_sound": {
                "features": {"sample_rate": 16000, "n_mels": 24, "win_ms": 32.0, "hop_ms": 20.0,
                             "n_fft": None, "clip_seconds": 1.0},
                "head": {"conv_channels": (8,), "dropout": 0.1, "final_dropout": 0.2},
                "train": _CI_TRAIN,
                "protocol": _CI_CLIP},
            # The probe reads the filters' magnitude; filters start in the low-modulation
            # corner, away from every planted point, and must travel to the class points.
            "calibration": {
                "frontend": {"filters": 8, "kernel_size": (15, 7), "init": "low", "output_mode": "abs"},
                "train": {"epochs": 5, "steps_per_epoch": 100, "batch_size": 16, "learning_rate": 1e-2,
                          "optimizer": "adam", "patience": 5, "frontend_lr_scale": 3.0}},
        },
        description="tiny twins, one seed, a few seconds per run (tests)",
    ),
    # Sized so that the whole grid stays within minutes on two cores: small heads, batches
    # of 8, one feature cache shared by every system and seed, large test sets (evaluation
    # is forward-only and twins are cheap), three seeds of every system on the two clip
    # datasets (their test folds rotate with the seed) and one seed elsewhere (smoke
    # cells), ESC-50 (a second urban column) left to the paper profile. The physical
    # initialisation makes tasks at different frame rates start from the same filters in
    # Hz and cycles/octave.
    "demo": Profile(
        name="demo", data="twin", twin_size="demo", seeds=(0,),
        dataset_seeds={"zebra_finch": (0, 1, 2), "urbansound8k": (0, 1, 2),
                       "ripples": (0, 1, 2), "ripples_b": (0, 1, 2)},
        # The calibration twins: log-mel alone (mel) must stay at chance, frozen filters are
        # the floor, learnable ones must travel to the class points; variant B (sweeps
        # reversed) is the cross-over, for the Gabor systems only.
        dataset_systems={"ripples": ("mel", "fixed_gabor", "learnable_gabor"),
                         "ripples_b": ("fixed_gabor", "learnable_gabor")},
        null_systems=("learnable_gabor",),
        folds="rotate",
        datasets=("ami", "chime5", "voxceleb1", "zebra_finch", "urbansound8k", "ripples",
                  "ripples_b"),
        frontend={"filters": 8, "kernel_size": (15, 7), "init": "physical"},
        per_task={
            "speech_activity": {
                "features": {"n_mels": 32},
                "head": {"compress": 16, "lstm_units": 16, "lstm_layers": 1, "dense_units": (16,)},
                "train": _DEMO_TRAIN,
                "protocol": {"chunk_seconds": 0.5, "tune_every": 1, "noise_prob": 0.5}},
            "speaker": {
                "features": {"n_mels": 32},
                "head": {"compress": 16, "tdnn_channels": 32, "tdnn_pooling_channels": 64,
                         "embedding": 32},
                "train": _DEMO_TRAIN,
                "protocol": {"chunk_seconds": 1.5, "noise_prob": 0.5}},
            "bird_calls": {
                "features": {"sample_rate": 22050, "n_mels": 32, "n_fft": None, "fmax": 10000.0},
                "head": _DEMO_CLIP_HEAD,
                "train": _DEMO_TRAIN,
                "protocol": {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}},
            "urban_sound": {
                "features": {"sample_rate": 16000, "n_mels": 32, "win_ms": 32.0, "hop_ms": 20.0,
                             "n_fft": None, "clip_seconds": 2.0, "top_db": None},
                "head": _DEMO_CLIP_HEAD,
                "train": _DEMO_TRAIN,
                "protocol": {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}},
            # The probe reads the filters' magnitude; filters start in the low-modulation
            # corner, away from every planted point, and must travel to the class points.
            "calibration": {
                "frontend": {"init": "low", "output_mode": "abs"},
                "train": {**_DEMO_TRAIN, "batch_size": 16, "learning_rate": 1e-2,
                          "frontend_lr_scale": 3.0}},
        },
        description="demo twins, three seeds of every system on zebra_finch, urbansound8k and "
                    "the calibration twins (one test fold per seed, rotating), one seed "
                    "elsewhere, a label-permuted learnable_gabor per dataset, 800 steps per "
                    "run, minutes on CPU",
    ),
    "paper": Profile(
        name="paper", data="real", twin_size=None, seeds=(0, 1, 2), folds="all",
        frontend=_PAPER_FRONTEND, per_task=_paper_tasks(window="win_ms"),
        description="real data, the reused protocols' widths and epochs, the authors' layer "
                    "(GPU)",
    ),
    "paper-window": Profile(
        name="paper-window", data="real", twin_size=None, seeds=(0, 1, 2), folds="all",
        frontend=_PAPER_FRONTEND, per_task=_paper_tasks(window="fft"),
        description="the paper profile with the authors' effective analysis window on speech "
                    "(Hann over the whole 2048-sample FFT: 128 ms, -3 dB at 7.2 Hz in "
                    "temporal modulation)",
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        unknown("profile", name, PROFILES)
    return PROFILES[name]


def folds_for(profile: Profile, dataset: str, seed: int) -> list[int | None]:
    """Test folds a profile runs for one seed (``[None]`` for split-based datasets)."""
    from benchmark.tasks import dataset_info

    k = dataset_info(dataset).folds
    if k is None:
        return [None]
    if profile.folds == "all":
        return list(range(1, k + 1))
    if profile.folds == "rotate":
        return [seed % k + 1]
    return [1]


def grid_cells(profile: str | Profile) -> list[tuple[str, str, int, int | None]]:
    """Every (dataset, system, seed, fold) a profile runs, in table order."""
    from benchmark.registry import systems
    from benchmark.tasks import dataset_names

    p = get_profile(profile) if isinstance(profile, str) else profile
    datasets = [d for d in dataset_names() if p.datasets is None or d in p.datasets]
    cells = []
    for d in datasets:
        seeds = p.dataset_seeds.get(d, p.seeds)
        names = [s.name for s in systems()
                 if d not in p.dataset_systems or s.name in p.dataset_systems[d]]
        cells += [(d, name, seed, fold) for name in names
                  for seed in seeds for fold in folds_for(p, d, seed)]
        cells += [(d, name + PERMUTED_SUFFIX, seeds[0], fold) for name in p.null_systems
                  if name in names for fold in folds_for(p, d, seeds[0])]
    return cells


# ---------------------------------------------------------------------------
# The resolved configuration of one run

SECTIONS = ("features", "frontend", "head", "protocol", "train", "twin")


@dataclass(frozen=True)
class RunConfig:
    dataset: str
    system: str
    seed: int
    fold: int | None
    profile: str
    data: str                          # "twin" | "real"
    task: str
    task_version: int
    features: FeatureConfig
    frontend: FrontendSettings
    head: typing.Any                   # the task's head dataclass
    protocol: typing.Any               # the task's protocol dataclass
    train: TrainSettings
    twin: TwinSettings | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def task_class(self):
        from benchmark.tasks import get_task

        return get_task(self.task)

    @classmethod
    def from_json(cls, d: dict) -> "RunConfig":
        from benchmark.tasks import get_task

        d = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
        task = get_task(d["task"])
        for name, typ in (("features", FeatureConfig), ("frontend", FrontendSettings),
                          ("head", task.Head), ("protocol", task.Protocol),
                          ("train", TrainSettings)):
            d[name] = _from_dict(typ, d[name])
        d["twin"] = None if d.get("twin") is None else TwinSettings(**d["twin"])
        return cls(**d)


def _from_dict(typ, d: dict):
    hints = typing.get_type_hints(typ)
    unknown_keys = set(d) - set(hints)
    if unknown_keys:
        raise ValueError(f"{typ.__name__} has no field(s) {sorted(unknown_keys)}")
    return typ(**{k: tuple(v) if isinstance(v, list) and "tuple" in str(hints[k]) else v
                  for k, v in d.items()})


def resolve_config(dataset: str, system: str, profile: str = "demo",
                   overrides: typing.Iterable[str] = (), *, seed: int = 0,
                   fold: int | None = None, data: str | None = None) -> RunConfig:
    """Task defaults, then the profile, then ``section.field=value`` overrides.

    Everything is checked here, before any data is read: an unknown dataset,
    system or key gets a did-you-mean, a value of the wrong type or out of its
    range a one-line error.
    """
    from benchmark.registry import check_system_name
    from benchmark.tasks import dataset_info, get_task

    info = dataset_info(dataset)
    task = get_task(info.task)
    prof = get_profile(profile)
    if system.endswith(PERMUTED_SUFFIX):   # a null row: the system trained on permuted labels
        system = system[:-len(PERMUTED_SUFFIX)]
        overrides = [*overrides, "train.permute_labels=true"]
    check_system_name(system)  # from the baseline files' decorators: no Keras import
    data = data or prof.data
    check(data in ("twin", "real"), f"data must be 'twin' or 'real', not {data!r}")
    check(isinstance(seed, int) and 0 <= seed <= MAX_SEED,
          f"--seed must be an integer in [0, {MAX_SEED}] (got {seed})")
    if info.folds is None:
        check(fold is None, f"{dataset} has official train/dev/test splits; drop --fold {fold}")
    else:
        fold = 1 if fold is None else fold
        check(1 <= fold <= info.folds,
              f"--fold {fold} is out of range for {dataset} (folds 1..{info.folds})")

    sections = default_sections(dataset, data, prof.twin_size)
    # Each layer's values for one section are applied together: a block checks
    # its fields jointly (fmax against sample_rate), so no half-applied state is seen.
    per_task = prof.per_task.get(task.name, {})
    # A task's frontend entries refine the profile's frontend (e.g. a probe's output mode),
    # they do not replace it: the filter count and kernel stay the profile's.
    layers = [(f"profile {prof.name!r}",
               {**per_task, "frontend": {**prof.frontend, **per_task.get("frontend", {})}})]
    cli: dict[str, dict] = {}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {item!r} is not KEY=VALUE (e.g. train.epochs=3)")
        key, raw = (s.strip() for s in item.split("=", 1))
        section, name = _key(sections, key, "--set")
        cli.setdefault(section, {})[name] = raw
    layers.append(("--set", cli))
    for where, by_section in layers:
        for section, values in by_section.items():
            _apply(sections, section, values, where)
    cfg = RunConfig(dataset=dataset, system=system, seed=int(seed), fold=fold, profile=prof.name,
                    data=data, task=task.name, task_version=task.version, **sections)
    check_limits(cfg)
    return cfg


# ---------------------------------------------------------------------------
# Limits: values each setting's own check accepts but no run could afford. Refused
# here, before any data is read, instead of minutes into the run (a 1e7 ms window,
# a batch of 1e9 clips, a chunk of a day).

MAX_SAMPLE_RATE = 384_000           # the highest rate audio hardware records at
MIN_SAMPLE_RATE = 1_000
MAX_FRAME_MS = 1_000.0              # a window or hop beyond a second is no spectro-temporal frame
MAX_FFT = 1 << 16
MAX_MELS = 512
MAX_EXAMPLE_SECONDS = 3_600.0       # a fixed clip or training chunk of at most an hour
MAX_BATCH = 1 << 16
MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000
MAX_FILTERS = 4_096
MAX_KERNEL = 4_096


def memory_bytes() -> int | None:
    """Physical memory of this machine (None when the system does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def check_limits(cfg: RunConfig) -> None:
    """Refuse settings beyond what the data and this machine allow (one line each)."""
    f, t, fe = cfg.features, cfg.train, cfg.frontend
    check(MIN_SAMPLE_RATE <= f.sample_rate <= MAX_SAMPLE_RATE,
          f"features.sample_rate must be in [{MIN_SAMPLE_RATE}, {MAX_SAMPLE_RATE}] Hz "
          f"(got {f.sample_rate})")
    check(f.win_ms <= MAX_FRAME_MS and f.hop_ms <= MAX_FRAME_MS,
          f"features.win_ms and features.hop_ms must be at most {MAX_FRAME_MS:g} ms "
          f"(got {f.win_ms:g}, {f.hop_ms:g})")
    check(f.fft_size <= MAX_FFT, f"features.n_fft must be at most {MAX_FFT} "
                                 f"(got {f.fft_size} at {f.sample_rate} Hz)")
    check(f.n_mels <= min(MAX_MELS, f.fft_size // 2 + 1),
          f"features.n_mels must be at most {min(MAX_MELS, f.fft_size // 2 + 1)} "
          f"(the FFT's {f.fft_size // 2 + 1} bins; got {f.n_mels})")
    check(t.batch_size <= MAX_BATCH, f"train.batch_size must be at most {MAX_BATCH} "
                                     f"(got {t.batch_size})")
    check(t.epochs <= MAX_EPOCHS and t.steps_per_epoch <= MAX_STEPS,
          f"train.epochs must be at most {MAX_EPOCHS} and train.steps_per_epoch at most "
          f"{MAX_STEPS} (got {t.epochs}, {t.steps_per_epoch})")
    check(fe.filters <= MAX_FILTERS and max(fe.kernel_size) <= MAX_KERNEL,
          f"frontend.filters and frontend.kernel_size must be at most {MAX_FILTERS} "
          f"(got {fe.filters}, {fe.kernel_size})")
    seconds = {k: v for k, v in (("protocol.chunk_seconds", getattr(cfg.protocol, "chunk_seconds", None)),
                                 ("features.clip_seconds", f.clip_seconds)) if v}
    for key, v in seconds.items():
        check(v <= MAX_EXAMPLE_SECONDS, f"{key} must be at most {MAX_EXAMPLE_SECONDS:g} (got {v:g})")
    # One batch of log-mel and of the frontend's output (float32; 2 x filters channels at
    # most) must fit in this machine's memory, or training swaps and dies much later.
    ram = memory_bytes()
    if ram and seconds:
        frames = max(seconds.values()) * 1000.0 / f.hop_ms
        need = 4.0 * t.batch_size * frames * f.n_mels * (1 + 2 * fe.filters)
        check(need <= ram, f"one batch (train.batch_size={t.batch_size} x {frames:.0f} frames x "
                           f"{f.n_mels} mels x {2 * fe.filters} channels) needs {need / 2**30:.1f} GiB, "
                           f"more than this machine's {ram / 2**30:.1f} GiB; lower train.batch_size")


def default_sections(dataset: str, data: str, twin_size: str | None = None) -> dict:
    """Each section's settings before any profile or override: the task's own (the
    reused paper protocol), with the dataset recipe's feature settings."""
    from benchmark.tasks import dataset_info, get_task

    info = dataset_info(dataset)
    task = get_task(info.task)
    return {
        "features": replace(task.features, **info.features),
        "frontend": FrontendSettings(),
        "head": task.head,
        "protocol": task.protocol,
        "train": task.train,
        "twin": TwinSettings(size=twin_size or "demo", seed=0) if data == "twin" else None,
    }


def override_keys(sections: dict) -> list[str]:
    return [f"{s}.{f.name}" for s, block in sections.items() if block is not None
            for f in dataclasses.fields(block)]


def _key(sections: dict, key: str, where: str) -> tuple[str, str]:
    """``(section, field)`` of ``key``, or a did-you-mean error."""
    keys = override_keys(sections)
    if key not in keys:
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.5)
        if not close and "." not in key:  # a bare field name: find its section
            close = [k for k in keys if k.endswith("." + key)][:1]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        if key.split(".", 1)[0] == "twin" and sections.get("twin") is None:
            raise UserError(f"{where}: {key} does not apply: this run uses real data, not a twin")
        raise UserError(f"{where}: unknown configuration key {key!r} for this task{hint} "
                        f"(keys are section.field with sections "
                        f"{', '.join(s for s in SECTIONS if sections.get(s) is not None)}; "
                        f"`gaborbench config show` lists every key)")
    section, name = key.split(".", 1)
    return section, name


def _apply(sections: dict, section: str, values: dict, where: str) -> None:
    """Set several fields of one section at once (strings are parsed, typed values checked)."""
    if not values:
        return
    typed_values = {}
    for name, value in values.items():
        _key(sections, f"{section}.{name}", where)
        hint = typing.get_type_hints(type(sections[section]))[name]
        typed_values[name] = typed(f"{where} {section}.{name}", value, hint)
    sections[section] = replace(sections[section], **typed_values)


def typed(key: str, value, hint):
    """``value`` as type ``hint``: strings are parsed, typed values are checked."""
    def fail(expected: str):
        raise UserError(f"{key} expects {expected}, got {value!r}")

    args, origin = typing.get_args(hint), typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return typed(key, value, hint)
    if origin is tuple:
        parts = ([p for p in value.strip("()[] ").replace(" ", "").split(",") if p]
                 if isinstance(value, str) else list(value) if isinstance(value, (tuple, list))
                 else fail("a tuple"))
        inner = args[0]
        n = None if (len(args) == 2 and args[1] is Ellipsis) else len(args)
        if n is not None and len(parts) != n:
            fail(f"{n} comma-separated {inner.__name__}s (e.g. {','.join(['9'] * n)})")
        return tuple(typed(key, p, inner) for p in parts)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
            return False
        fail("a bool (true/false)")
    if hint is int:
        if isinstance(value, bool):
            fail("an int")
        if isinstance(value, int):
            return value
        try:
            return int(value.replace("_", "")) if isinstance(value, str) else fail("an int")
        except ValueError:
            fail("an int")  # "3.0" is refused: an int field wants an int
    if hint is float:
        if isinstance(value, bool):
            fail("a float")
        try:
            out = float(value)
        except (TypeError, ValueError):
            fail("a float")
        if out != out or out in (float("inf"), float("-inf")):
            fail("a finite float")
        return out
    if hint is str:
        return value if isinstance(value, str) else fail("a string")
    fail(str(hint))
