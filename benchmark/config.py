"""Run configuration: settings blocks, profiles and the resolved configuration of one run.

Every run is described by one frozen :class:`RunConfig`, built in one place
(:func:`resolve_config`) from three layers, each checked by the same typed
coercer:

1. the task's own defaults (the reused paper protocol, :mod:`benchmark.tasks`);
2. the profile (``ci``, ``demo``, ``paper``, ``paper-window``): the filter bank, and the
   sizes and lengths each task declares for that profile (``Task.sizes``);
3. ``section.field=value`` overrides from the command line.

Sections: ``features`` (:class:`benchmark.features.FeatureConfig`), ``frontend``,
``head`` and ``protocol`` (the task's own dataclasses: a speech-activity run has
no ``head.conv_channels``, and overriding a field the task does not read is an
error), ``train`` (the generic loop), ``twin``; the shared blocks live in
:mod:`benchmark.settings`. The configuration's hash names
the run: a changed setting reruns the cell, an unchanged one is skipped.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Literal

from benchmark.datasets import dataset_info, dataset_names
from benchmark.errors import UserError, unknown
from benchmark.features import FeatureConfig
from benchmark.settings import (MAX_SEED, PAPER_FRONTEND, FrontendSettings, TrainSettings,  # noqa: F401
                                TwinSettings, check, setting_fields, settings_dict)
from benchmark.systems import get_system, systems
from benchmark.tasks import get_task

# The row of a system trained on permuted labels (the analysis' null), e.g. learnable_gabor+permuted.
PERMUTED_SUFFIX = "+permuted"


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
    # Which of each task's ``sizes`` this profile applies on top of the task's paper
    # defaults: the first name the task declares (none: the paper defaults alone).
    sizes: tuple[str, ...] = ()
    description: str = ""

    def task_sizes(self, task) -> dict:
        """``{section: {field: value}}`` this profile sets for ``task`` (a Task class)."""
        return next((task.sizes[s] for s in self.sizes if s in task.sizes), {})


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", data="twin", twin_size="tiny", seeds=(0,), folds="first", sizes=("ci",),
        frontend={"filters": 4, "kernel_size": (9, 5)},
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
        name="demo", data="twin", twin_size="demo", seeds=(0,), sizes=("demo",),
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
        description="demo twins, three seeds of every system on zebra_finch, urbansound8k and "
                    "the calibration twins (one test fold per seed, rotating), one seed "
                    "elsewhere, a label-permuted learnable_gabor per dataset, 800 steps per "
                    "run, minutes on CPU",
    ),
    "paper": Profile(
        name="paper", data="real", twin_size=None, seeds=(0, 1, 2), folds="all",
        sizes=("paper",), frontend=PAPER_FRONTEND,
        description="real data, the reused protocols' widths and epochs, the authors' layer "
                    "(GPU)",
    ),
    "paper-window": Profile(
        name="paper-window", data="real", twin_size=None, seeds=(0, 1, 2), folds="all",
        sizes=("paper-window", "paper"), frontend=PAPER_FRONTEND,
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
        # The frontend's derived fields follow from the features and seed: not stored.
        return {**dataclasses.asdict(self), "frontend": settings_dict(self.frontend)}

    def hash(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def task_class(self):
        return get_task(self.task)

    @classmethod
    def from_json(cls, d: dict) -> "RunConfig":
        d = {f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d}
        task = get_task(d["task"])
        for name, typ in (("features", FeatureConfig), ("frontend", FrontendSettings),
                          ("head", task.Head), ("protocol", task.Protocol),
                          ("train", TrainSettings)):
            d[name] = _from_dict(typ, d[name])
        d["twin"] = None if d.get("twin") is None else TwinSettings(**d["twin"])
        d["frontend"] = d["frontend"].for_run(d["features"], d["seed"])
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
    info = dataset_info(dataset)
    task = get_task(info.task)
    prof = get_profile(profile)
    if system.endswith(PERMUTED_SUFFIX):   # a null row: the system trained on permuted labels
        system = system[:-len(PERMUTED_SUFFIX)]
        overrides = [*overrides, "train.permute_labels=true"]
    get_system(system)  # the baseline files build Keras objects only when called: no Keras import
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
    sizes = prof.task_sizes(task)
    # A task's frontend entries refine the profile's frontend (e.g. a probe's output mode),
    # they do not replace it: the filter count and kernel stay the profile's.
    layers = [(f"profile {prof.name!r}",
               {**sizes, "frontend": {**prof.frontend, **sizes.get("frontend", {})}})]
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
    sections["frontend"] = sections["frontend"].for_run(sections["features"], int(seed))
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
            for f in setting_fields(block)]


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
