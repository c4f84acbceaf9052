"""Tasks, profiles and the resolved configuration of one run.

A *task* fixes what is predicted (per frame or per clip), how it is scored and
which head reads the frontend. A *profile* fixes how big everything is:
``ci`` (tiny twins, seconds), ``demo`` (demo twins, the whole grid in minutes on
two CPU cores) and ``paper`` (real data, the reused protocols' settings, meant
for a GPU). ``resolve_config`` merges task, profile and ``key=value``
overrides into one frozen :class:`RunConfig`, whose hash names the run.
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

from benchmark.errors import UserError
from benchmark.features import FeatureConfig

# ---------------------------------------------------------------------------
# Configuration blocks (every field may be overridden as section.field=value)


@dataclass(frozen=True)
class FrontendSettings:
    """What every system's factory receives (see ``benchmark.registry.FrontendConfig``)."""

    filters: int = 64
    kernel_size: tuple[int, int] = (111, 9)  # (time frames, mel bins)
    output_mode: str = "concat"


@dataclass(frozen=True)
class HeadSettings:
    """Widths of the task heads; each head reads only the fields it needs."""

    compress: int = 64                 # per-frame Dense over mel x channels (SAD, speaker)
    lstm_units: int = 128              # SAD: units per direction
    lstm_layers: int = 2
    dense_units: tuple[int, ...] = (128, 128)
    tdnn_channels: int = 512           # speaker x-vector
    tdnn_pooling_channels: int = 1500
    embedding: int = 512
    aam_margin: float = 0.05           # additive angular margin (0 gives a cosine softmax)
    aam_scale: float = 10.0
    conv_channels: tuple[int, ...] = (64, 128, 256, 512)  # CNN10-like blocks
    dropout: float = 0.2
    final_dropout: float = 0.5


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 0.01
    optimizer: str = "sgd"             # sgd | adam
    patience: int = 50                 # epochs without a better validation main metric
    chunk_seconds: float = 2.0         # SAD / speaker training crops
    chunks_per_epoch: int = 0          # SAD / speaker crops drawn per epoch; 0: cover the audio once
    eval_hop_fraction: float = 0.5     # SAD / speaker: window step at evaluation, fraction of a chunk
    mixup_alpha: float = 0.0           # clip tasks
    spec_time_stripes: int = 0         # SpecAugment (clip tasks, training only)
    spec_time_width: int = 0
    spec_freq_stripes: int = 0
    spec_freq_width: int = 0
    checkpoint: bool = False           # save each epoch and resume after a crash
    mixed_precision: bool = True       # GPU only: float16 head, float32 frontend
    jit_compile: bool = True           # GPU only: XLA (slower on CPU for these convolutions)
    deterministic: bool = True         # TensorFlow op determinism (identical reruns; slower on GPU)


@dataclass(frozen=True)
class TwinSettings:
    size: str = "demo"
    seed: int = 0


# ---------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class TaskSpec:
    name: str
    version: int                       # bump when the protocol changes: invalidates results
    datasets: tuple[str, ...]
    output: Literal["frame", "clip"]
    main_metric: str
    direction: Literal["max", "min"]
    head: str                          # "sad" | "xvector" | "cnn"
    features: FeatureConfig
    head_settings: HeadSettings
    train: TrainSettings
    protocol: str
    n_folds: dict = field(default_factory=dict)  # dataset -> folds (fold-based datasets only)


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec(
            name="speech_activity", version=1, datasets=("ami", "chime5"), output="frame",
            main_metric="detection_error_rate", direction="min", head="sad",
            features=FeatureConfig(sample_rate=16000, n_mels=64, win_ms=25.0, hop_ms=10.0,
                                   fmax=8000.0),
            head_settings=HeadSettings(),
            train=TrainSettings(epochs=200, batch_size=64, learning_rate=0.01, optimizer="sgd",
                                patience=50, chunk_seconds=2.0, chunks_per_epoch=43200),
            protocol="train/dev/test meeting lists; 2 s chunks; onset/offset/min-durations tuned "
                     "on dev; DetER (collar 0) on test UEMs",
        ),
        TaskSpec(
            name="speaker", version=1, datasets=("voxceleb1",), output="clip",
            main_metric="accuracy", direction="max", head="xvector",
            features=FeatureConfig(sample_rate=16000, n_mels=64, win_ms=25.0, hop_ms=10.0,
                                   fmax=8000.0),
            head_settings=HeadSettings(),
            train=TrainSettings(epochs=100, batch_size=64, learning_rate=0.01, optimizer="sgd",
                                patience=20, chunk_seconds=3.0),
            protocol="iden_split 1/2/3 = train/dev/test: identification accuracy on test; "
                     "verification EER (cosine of embeddings) on veri_test2 trials",
        ),
        TaskSpec(
            name="bird_calls", version=1, datasets=("zebra_finch",), output="clip",
            main_metric="accuracy", direction="max", head="cnn",
            features=FeatureConfig(sample_rate=44100, n_mels=64, win_ms=25.0, hop_ms=10.0,
                                   n_fft=2048, fmin=300.0, fmax=12000.0, clip_seconds=1.0),
            head_settings=HeadSettings(),
            train=TrainSettings(epochs=200, batch_size=64, learning_rate=1e-3, optimizer="adam",
                                patience=50, mixup_alpha=1.0, spec_time_stripes=2,
                                spec_time_width=10, spec_freq_stripes=2, spec_freq_width=8),
            protocol="bird-grouped folds (no bird on both sides); test = one fold, validation = "
                     "the next fold; CNN10-like head (no published protocol: our choice)",
            n_folds={"zebra_finch": 5},
        ),
        TaskSpec(
            name="urban_sound", version=1, datasets=("urbansound8k", "esc50"), output="clip",
            main_metric="accuracy", direction="max", head="cnn",
            # Arnault et al.: 44.1 kHz, n_fft 2822 (64 ms), hop 1103 (25 ms), 64 mels 0-8 kHz, 4.04 s
            features=FeatureConfig(sample_rate=44100, n_mels=64, win_ms=64.0, hop_ms=25.0,
                                   n_fft=2822, fmax=8000.0, clip_seconds=4.04),
            head_settings=HeadSettings(),
            train=TrainSettings(epochs=300, batch_size=64, learning_rate=1e-3, optimizer="adam",
                                patience=50, mixup_alpha=1.0, spec_time_stripes=2,
                                spec_time_width=24, spec_freq_stripes=2, spec_freq_width=8),
            protocol="official folds, never reshuffled: test = one fold, validation = the next "
                     "fold of the training folds; CNN10-like head",
            n_folds={"urbansound8k": 10, "esc50": 5},
        ),
    )
}

DATASETS: tuple[str, ...] = ("ami", "chime5", "voxceleb1", "zebra_finch", "urbansound8k", "esc50")
# Per-dataset feature differences inside a task (ESC-50 clips are 5 s).
_DATASET_FEATURES = {"esc50": {"clip_seconds": 5.0}}


def task_for_dataset(dataset: str) -> TaskSpec:
    for t in TASKS.values():
        if dataset in t.datasets:
            return t
    _unknown("dataset", dataset, DATASETS)


def n_folds(dataset: str) -> int | None:
    """Number of folds of a fold-based dataset; None for split-based ones."""
    return task_for_dataset(dataset).n_folds.get(dataset)


# ---------------------------------------------------------------------------
# Profiles


@dataclass(frozen=True)
class Profile:
    name: str
    data: Literal["twin", "real"]
    twin_size: str | None
    seeds: tuple[int, ...]
    folds: Literal["first", "rotate", "all"]   # which test folds the grid runs per seed
    frontend: FrontendSettings
    # per-task overrides applied on top of the task's paper settings: {task: {section: {k: v}}}
    per_task: dict = field(default_factory=dict)
    description: str = ""


_SMALL_CNN = {"conv_channels": (8, 16), "dropout": 0.1, "final_dropout": 0.2}
_SMALL_RNN = {"compress": 16, "lstm_units": 16, "lstm_layers": 1, "dense_units": (16,)}
_SMALL_TDNN = {"compress": 16, "tdnn_channels": 32, "tdnn_pooling_channels": 64, "embedding": 32}


def _small(feats: dict, head: dict, train: dict) -> dict:
    return {"features": feats, "head": head, "train": train}


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci", data="twin", twin_size="tiny", seeds=(0,), folds="first",
        frontend=FrontendSettings(filters=4, kernel_size=(9, 5)),
        per_task={
            "speech_activity": _small(
                {"n_mels": 24},
                _SMALL_RNN | {"compress": 8, "lstm_units": 8, "dense_units": (8,)},
                {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "optimizer": "adam",
                 "patience": 2, "chunk_seconds": 1.0, "chunks_per_epoch": 32}),
            "speaker": _small(
                {"n_mels": 24},
                _SMALL_TDNN | {"compress": 8, "tdnn_channels": 16, "tdnn_pooling_channels": 32,
                               "embedding": 16},
                {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "optimizer": "adam",
                 "patience": 2, "chunk_seconds": 1.0}),
            "bird_calls": _small(
                {"sample_rate": 22050, "n_mels": 24, "n_fft": None, "fmax": 10000.0,
                 "clip_seconds": 0.5},
                _SMALL_CNN | {"conv_channels": (8,)},
                {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "patience": 2,
                 "mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}),
            "urban_sound": _small(
                {"sample_rate": 16000, "n_mels": 24, "win_ms": 32.0, "hop_ms": 20.0, "n_fft": None,
                 "clip_seconds": 1.0},
                _SMALL_CNN | {"conv_channels": (8,)},
                {"epochs": 2, "batch_size": 16, "learning_rate": 3e-3, "patience": 2,
                 "mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}),
        },
        description="tiny twins, one seed, a few seconds per run (tests)",
    ),
    "demo": Profile(
        name="demo", data="twin", twin_size="demo", seeds=(0, 1, 2), folds="rotate",
        frontend=FrontendSettings(filters=8, kernel_size=(15, 7)),
        per_task={
            "speech_activity": _small(
                {"n_mels": 32},
                _SMALL_RNN,
                {"epochs": 6, "batch_size": 32, "learning_rate": 3e-3, "optimizer": "adam",
                 "patience": 3, "chunk_seconds": 2.0, "chunks_per_epoch": 128}),
            "speaker": _small(
                {"n_mels": 32},
                _SMALL_TDNN,
                {"epochs": 15, "batch_size": 16, "learning_rate": 1e-2, "optimizer": "adam",
                 "patience": 15, "chunk_seconds": 1.5}),
            "bird_calls": _small(
                {"sample_rate": 22050, "n_mels": 32, "n_fft": None, "fmax": 10000.0},
                _SMALL_CNN,
                {"epochs": 15, "batch_size": 16, "learning_rate": 3e-3, "patience": 15,
                 "mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}),
            "urban_sound": _small(
                {"sample_rate": 16000, "n_mels": 32, "win_ms": 32.0, "hop_ms": 20.0, "n_fft": None,
                 "clip_seconds": 2.0},
                _SMALL_CNN,
                {"epochs": 15, "batch_size": 16, "learning_rate": 3e-3, "patience": 15,
                 "mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}),
        },
        # Short runs underfit rather than overfit: no SpecAugment/mixup, and patience =
        # epochs (validation accuracy is noisy early on), keeping the best epoch's weights.
        description="demo twins, three seeds (one test fold per seed, rotating), minutes on CPU",
    ),
    "paper": Profile(
        name="paper", data="real", twin_size=None, seeds=(0, 1, 2), folds="all",
        frontend=FrontendSettings(filters=64, kernel_size=(111, 9)),
        # Long GPU runs: checkpoint each epoch; seeded but without op determinism, which
        # slows GPU kernels and refuses ops lacking a deterministic GPU implementation.
        per_task={t: {"train": {"checkpoint": True, "deterministic": False}}
                  for t in ("speech_activity", "speaker", "bird_calls", "urban_sound")},
        description="real data, the reused protocols' widths and epochs (GPU)",
    ),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        _unknown("profile", name, PROFILES)
    return PROFILES[name]


def folds_for(profile: Profile, dataset: str, seed: int) -> list[int | None]:
    """Test folds a profile runs for one seed (``[None]`` for split-based datasets)."""
    k = n_folds(dataset)
    if k is None:
        return [None]
    if profile.folds == "all":
        return list(range(1, k + 1))
    if profile.folds == "rotate":
        return [seed % k + 1]
    return [1]


def grid_cells(profile: str | Profile) -> list[tuple[str, str, int, int | None]]:
    """Every (dataset, system, seed, fold) a profile runs, in table order."""
    from benchmark.registry import system_names

    p = get_profile(profile) if isinstance(profile, str) else profile
    return [(d, s, seed, fold)
            for d in DATASETS
            for s in system_names()
            for seed in p.seeds
            for fold in folds_for(p, d, seed)]


# ---------------------------------------------------------------------------
# The resolved configuration of one run


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
    head: HeadSettings
    train: TrainSettings
    twin: TwinSettings | None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    @property
    def task_spec(self) -> TaskSpec:
        return TASKS[self.task]

    @classmethod
    def from_json(cls, d: dict) -> "RunConfig":
        d = dict(d)
        for name, typ in (("features", FeatureConfig), ("frontend", FrontendSettings),
                          ("head", HeadSettings), ("train", TrainSettings)):
            d[name] = _from_dict(typ, d[name])
        d["twin"] = None if d.get("twin") is None else TwinSettings(**d["twin"])
        return cls(**d)


def _from_dict(typ, d: dict):
    hints = typing.get_type_hints(typ)
    out = {}
    for k, v in d.items():
        out[k] = tuple(v) if isinstance(v, list) and "tuple" in str(hints[k]) else v
    return typ(**out)


_SECTIONS = ("features", "frontend", "head", "train", "twin")


def resolve_config(dataset: str, system: str, profile: str = "demo",
                   overrides: typing.Iterable[str] = (), *, seed: int = 0,
                   fold: int | None = None, data: str | None = None) -> RunConfig:
    """Task defaults, then the profile, then ``section.field=value`` overrides."""
    from benchmark.registry import get_system

    task = task_for_dataset(dataset)
    prof = get_profile(profile)
    get_system(system)  # unknown system -> UserError with a suggestion
    data = data or prof.data
    if data not in ("twin", "real"):
        raise UserError(f"data must be 'twin' or 'real', not {data!r}")
    k = n_folds(dataset)
    if k is None:
        if fold is not None:
            raise UserError(f"{dataset} has official train/dev/test splits; drop --fold {fold}")
    else:
        fold = 1 if fold is None else fold
        if not 1 <= fold <= k:
            raise UserError(f"--fold {fold} is out of range for {dataset} (folds 1..{k})")

    sections = {
        "features": replace(task.features, **_DATASET_FEATURES.get(dataset, {})),
        "frontend": prof.frontend,
        "head": task.head_settings,
        "train": task.train,
        "twin": TwinSettings(size=prof.twin_size or "demo", seed=0) if data == "twin" else None,
    }
    for section, values in prof.per_task.get(task.name, {}).items():
        sections[section] = replace(sections[section], **values)
    for item in overrides:
        section, name, value = _parse_override(item, sections)
        sections[section] = replace(sections[section], **{name: value})
    cfg = RunConfig(dataset=dataset, system=system, seed=int(seed), fold=fold, profile=prof.name,
                    data=data, task=task.name, task_version=task.version, **sections)
    _validate(cfg)
    return cfg


def _validate(cfg: RunConfig) -> None:
    # Feature settings validate themselves (FeatureConfig); these are the rest.
    fr, t = cfg.frontend, cfg.train
    checks = [
        (fr.filters > 0 and len(fr.kernel_size) == 2 and min(fr.kernel_size) > 0,
         f"frontend.filters and frontend.kernel_size must be positive (got {fr.filters}, "
         f"{fr.kernel_size})"),
        (fr.output_mode in ("real", "imag", "concat", "abs"),
         f"frontend.output_mode must be real, imag, concat or abs (got {fr.output_mode!r})"),
        (t.epochs > 0 and t.batch_size > 0 and t.learning_rate > 0,
         "train.epochs, train.batch_size and train.learning_rate must be positive"),
        (t.optimizer in ("sgd", "adam"), f"train.optimizer must be sgd or adam (got {t.optimizer!r})"),
        (0 < t.eval_hop_fraction <= 1, "train.eval_hop_fraction must be in (0, 1]"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)


def override_keys() -> list[str]:
    keys = []
    for section, typ in (("features", FeatureConfig), ("frontend", FrontendSettings),
                         ("head", HeadSettings), ("train", TrainSettings), ("twin", TwinSettings)):
        keys += [f"{section}.{f.name}" for f in dataclasses.fields(typ)]
    return keys


def _parse_override(item: str, sections: dict) -> tuple[str, str, object]:
    if "=" not in item:
        raise UserError(f"override {item!r} is not KEY=VALUE (e.g. train.epochs=3)")
    key, raw = (s.strip() for s in item.split("=", 1))
    if key not in override_keys():
        close = difflib.get_close_matches(key, override_keys(), n=1, cutoff=0.5)
        if not close and "." not in key:  # a bare field name: find its section
            close = [k for k in override_keys() if k.endswith("." + key)][:1]
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown configuration key {key!r}{hint} "
                        f"(keys are section.field with sections {', '.join(_SECTIONS)})")
    section, name = key.split(".", 1)
    if sections[section] is None:
        raise UserError(f"{key} does not apply: this run uses real data, not a twin")
    hint = typing.get_type_hints(type(sections[section]))[name]
    return section, name, _coerce(key, raw, hint)


def _coerce(key: str, raw: str, hint) -> object:
    def fail(expected: str):
        raise UserError(f"{key} expects {expected}, got {raw!r}")

    args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if raw.lower() in ("none", "null", ""):
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _coerce(key, raw, hint)
    if origin is tuple:
        parts = [p for p in raw.strip("()[] ").replace(" ", "").split(",") if p]
        inner = args[0]
        n = None if (len(args) == 2 and args[1] is Ellipsis) else len(args)
        if n is not None and len(parts) != n:
            fail(f"{n} comma-separated {inner.__name__}s (e.g. {','.join(['9'] * n)})")
        try:
            return tuple(inner(p) if inner is not int else _int(p) for p in parts)
        except ValueError:
            fail(f"comma-separated {inner.__name__}s")
    if hint is bool:
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        fail("a bool (true/false)")
    if hint is int:
        try:
            return _int(raw)
        except ValueError:
            fail("an int")
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            fail("a float")
    if hint is str:
        return raw
    fail(str(hint))


def _int(s: str) -> int:
    return int(s.replace("_", ""))  # "3.0" is refused: an int field wants an int


def _unknown(kind: str, name: str, known) -> typing.NoReturn:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown {kind} {name!r}{hint} (known: {', '.join(known)})")


def describe_tasks() -> str:
    """The tasks, their datasets, metrics, heads and protocols (``gaborbench list tasks``)."""
    rows = [("task", "datasets", "output", "main metric", "head", "protocol")]
    for t in TASKS.values():
        metric = f"{t.main_metric} ({t.direction})" + (" + eer" if t.name == "speaker" else "")
        rows.append((t.name, ", ".join(t.datasets), t.output, metric, t.head, t.protocol))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(f"{c:<{w}}" for c, w in zip(r[:5], widths)) + "  " + r[5] for r in rows]
    lines.append("")
    lines.append("profiles: " + "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values()))
    return "\n".join(lines)
