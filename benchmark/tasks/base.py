"""The task interface and the pieces every task shares.

A :class:`Task` subclass describes its protocol as class attributes (name,
metric, defaults of the paper protocol, its ``Head`` and ``Protocol`` settings
dataclasses) and, once instantiated for one run, owns that run's data: splits,
batches, validation, test scoring and what the run file keeps for prediction.
The training loop (:mod:`benchmark.train`) calls only the methods below.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from benchmark.errors import UserError
from benchmark.features import FeatureConfig, clip_level
from benchmark.settings import TrainSettings, check

# Keras, and benchmark.heads built on it, load inside the methods that build or train a
# model: the configuration and the command line read a task's settings without
# TensorFlow's start-up (seconds).


@dataclass
class Splits:
    train: list
    val: list
    test: list
    protocol: str


class Task:
    """One task's protocol. Subclasses set the class attributes and the methods."""

    name: ClassVar[str]
    version: ClassVar[int]             # bump when the protocol changes: invalidates results
    output: ClassVar[str]              # "frame" | "clip"
    main_metric: ClassVar[str]
    direction: ClassVar[str]           # "max" | "min"
    table_metrics: ClassVar[tuple[str, ...]]
    Head: ClassVar[type]               # the head's settings dataclass
    Protocol: ClassVar[type]           # batching, augmentation and evaluation settings
    head: ClassVar[object]             # the paper protocol's Head and Protocol settings
    protocol: ClassVar[object]
    features: ClassVar[FeatureConfig]  # the paper protocol's features
    train: ClassVar[TrainSettings]     # the paper protocol's training loop settings
    protocol_text: ClassVar[str]       # one line for `gaborbench list tasks`
    # The task's own sizes per profile ("ci", "demo", "paper", ...): {section: {field: value}}
    # on top of the paper defaults above (a profile picks its entry; see config.Profile).
    sizes: ClassVar[dict] = {}

    def __init__(self, cfg, prepared, store, noise=None):
        self.cfg, self.prepared, self.store, self.noise = cfg, prepared, store, noise
        examples = [e for e in prepared.examples if e.id in store]
        self.splits = self.make_splits(examples, cfg.fold)
        check(bool(self.splits.train) and bool(self.splits.val) and bool(self.splits.test),
              f"{cfg.dataset}: an empty split (train {len(self.splits.train)}, validation "
              f"{len(self.splits.val)}, test {len(self.splits.test)}): {self.splits.protocol}")

    # -- data ---------------------------------------------------------------

    def make_splits(self, examples: list, fold: int | None) -> Splits:
        return make_splits(examples, fold)

    norm: tuple          # (mean, variance) per mel band of the training features
    n_outputs: int

    def label_classes(self, where: str) -> None:
        """Classification tasks: the training classes (``check_classes``), their index
        and the output width."""
        self.classes = check_classes(self.splits, where)
        self.index = {c: i for i, c in enumerate(self.classes)}
        self.n_outputs = len(self.classes)

    def train_batches(self) -> "EpochBatches":
        raise NotImplementedError

    # -- model --------------------------------------------------------------

    def build_head(self, x):
        """The head on the frontend's (batch, time, mel', C) output tensor."""
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    # -- evaluation ---------------------------------------------------------

    def validate(self, model, epoch: int) -> dict:
        """``{"val_loss": .., "val_main": .., ...}`` after ``epoch`` (1-based)."""
        raise NotImplementedError

    def test(self, model) -> dict:
        """The test metrics; also sets :attr:`outputs`, the per-item outputs they come from."""
        raise NotImplementedError

    # Per-item test outputs, by block (see ``benchmark.metrics.MetricSpec.block``): columns of
    # equal length with an ``item`` id and a resampling ``unit`` per row. Every metric of the
    # run can be recomputed from them, and the report's intervals resample them.
    outputs: dict

    def record(self) -> dict:
        """What the run file keeps about this run beyond the configuration (for prediction)."""
        return {}

    # -- prediction on new audio -------------------------------------------

    @classmethod
    def predict_lines(cls, predictor, path: str, logmel: np.ndarray, top: int) -> list[str]:
        raise NotImplementedError


# ---------------------------------------------------------------------------
# Splits


def make_splits(examples: list, fold: int | None) -> Splits:
    """train / validation / test lists of examples.

    Split-based datasets use their official train / dev / test. Fold-based ones
    test on ``fold`` and validate on the next fold (cyclically), which is one of
    the training folds, never the test fold; with fewer than three folds the
    validation set is a deterministic group-wise tenth of the training folds.
    """
    if fold is None:
        by = {s: [e for e in examples if e.split == s] for s in ("train", "dev", "test")}
        if not by["train"] or not by["test"]:
            raise UserError("the dataset has no train or no test examples: check its split lists")
        if by["dev"]:
            return Splits(by["train"], by["dev"], by["test"], "official train/dev/test")
        train, val = group_holdout(by["train"])
        return Splits(train, val, by["test"], "official train/test; validation = 10% of "
                                               "training groups")
    folds = sorted({e.fold for e in examples if e.fold is not None})
    if fold not in folds:
        raise UserError(f"fold {fold} does not exist in this dataset (folds: {folds})")
    test = [e for e in examples if e.fold == fold]
    rest = [e for e in examples if e.fold != fold and e.fold is not None]
    if len(folds) >= 3:
        val_fold = folds[(folds.index(fold) + 1) % len(folds)]
        val = [e for e in rest if e.fold == val_fold]
        train = [e for e in rest if e.fold != val_fold]
        return Splits(train, val, test, f"test fold {fold}, validation fold {val_fold}, "
                                        f"training folds {[f for f in folds if f not in (fold, val_fold)]}")
    train, val = group_holdout(rest)
    return Splits(train, val, test, f"test fold {fold}; validation = 10% of training groups")


def group_holdout(examples: list, fraction: float = 0.1) -> tuple[list, list]:
    """A deterministic group-wise ``fraction`` of ``examples`` (by hash of the group name)."""
    groups = sorted({e.group or e.id for e in examples},
                    key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n_val = max(1, round(len(groups) * fraction)) if len(groups) > 1 else 0
    val_groups = set(groups[:n_val])
    return ([e for e in examples if (e.group or e.id) not in val_groups],
            [e for e in examples if (e.group or e.id) in val_groups])


def check_classes(splits: Splits, where: str) -> list[str]:
    """The training classes; a test class that training lacks is an error.

    A model cannot predict a class it never saw, and a fold whose test split
    holds only such a class would score anything (even 1.0) meaninglessly. A
    validation class missing from training only lowers validation accuracy
    (it cannot inflate a score), so it is allowed.
    """
    train = sorted({e.label for e in splits.train})
    missing = sorted({e.label for e in splits.test} - set(train))
    if missing:
        raise UserError(f"{where}: class(es) {', '.join(map(repr, missing))} occur in the test "
                        f"split but not in training ({splits.protocol}); this split cannot be "
                        f"scored")
    return train


# ---------------------------------------------------------------------------
# Frames


def permutation_rng(seed: int) -> np.random.Generator:
    """The generator of ``train.permute_labels``: fixed per run seed, apart from every other draw."""
    return np.random.default_rng([int(seed), 0x5EED_1ABE])


def permute_labels(labels: np.ndarray, seed: int) -> np.ndarray:
    """Training labels under one fixed permutation per seed (the label-permuted null).

    The class counts stay those of the data; what ties a label to its input is gone.
    """
    return np.asarray(labels)[permutation_rng(seed).permutation(len(labels))]


def fix_length(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Crop ``n`` frames from ``offset`` or pad at the end with the clip's minimum."""
    x = x[offset:offset + n]
    if len(x) < n:
        fill = x.min() if len(x) else 0.0
        x = np.concatenate([x, np.full((n - len(x), x.shape[1]), fill, x.dtype)])
    return x


def window_starts(n_frames: int, chunk: int, hop: int) -> list[int]:
    """Starts of ``chunk``-frame windows every ``hop`` frames, the last one flush with the end."""
    starts = list(range(0, max(1, n_frames - chunk + 1), hop))
    if starts[-1] + chunk < n_frames:
        starts.append(n_frames - chunk)
    return starts


def frame_targets(segments, n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """1 where the frame's centre (frame i at i / frame rate) lies inside a segment."""
    t = np.arange(n_frames) / frame_rate_hz
    y = np.zeros(n_frames, np.float32)
    for start, end in segments or ():  # frames with start <= t < end; O(log n) per segment
        y[np.searchsorted(t, start, "left"):np.searchsorted(t, end, "left")] = 1.0
    return y


def windows(cfg) -> tuple[int, int]:
    """(chunk, hop) in frames of a chunked protocol: training crops and evaluation windows.

    One definition for training, validation, test and ``predict``, which must agree.
    """
    chunk = max(4, round(cfg.protocol.chunk_seconds * cfg.features.frame_rate_hz))
    return chunk, max(1, round(chunk * cfg.protocol.eval_hop_fraction))


def overlap_average(model, x: np.ndarray, chunk: int, hop: int, batch_size: int) -> np.ndarray:
    """Per-frame outputs of a whole file: overlapping ``chunk`` windows, averaged."""
    starts = window_starts(len(x), chunk, hop)
    p = predict_batched(model, np.stack([fix_length(x, chunk, s) for s in starts]), batch_size)
    acc, cnt = np.zeros(len(x)), np.zeros(len(x))
    for s, row in zip(starts, p):
        m = min(chunk, len(x) - s)
        acc[s:s + m] += row[:m]
        cnt[s:s + m] += 1
    return acc / np.maximum(cnt, 1)


def top_lines(path: str, scores: np.ndarray, labels: list[str] | None, k: int) -> list[str]:
    """``<file> <rank> <label> <score>`` for the top ``k`` classes (ties: lower index first)."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [f"{path}\t{rank}\t{labels[i] if labels else int(i)}\t{float(scores[i]):.4f}"
            for rank, i in enumerate(order, 1)]


# ---------------------------------------------------------------------------
# Batches


class EpochBatches:
    """Deterministic batches: content depends on (seed, epoch, batch index) only.

    An epoch is one pass over the ``n_items`` (shuffled when ``shuffle``), or
    exactly ``steps`` batches when ``steps`` > 0, drawn from as many shuffled
    passes as that takes. The training loop sets ``epoch`` at each epoch start,
    so a resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(self, n_items: int, batch_size: int, load, seed: int, shuffle: bool,
                 steps: int = 0):
        self.n, self.batch_size, self.load = n_items, batch_size, load
        self.seed, self.shuffle, self.steps, self.epoch = seed, shuffle, steps, 0

    def __len__(self):
        return self.steps or max(1, math.ceil(self.n / self.batch_size))

    def _order(self) -> np.ndarray:
        passes = max(1, math.ceil(len(self) * self.batch_size / self.n))
        return np.concatenate([
            np.random.default_rng([self.seed, self.epoch, k]).permutation(self.n)
            if self.shuffle else np.arange(self.n) for k in range(passes)])

    def __getitem__(self, i):
        idx = self._order()[i * self.batch_size:(i + 1) * self.batch_size]
        return self.load(idx, np.random.default_rng([self.seed, self.epoch, i, 7]))


def predict_batched(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Inference in full batches: the last one is padded so no new graph is traced."""
    outs = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        n = len(xb)
        if n < batch_size and len(x) > batch_size:
            xb = np.concatenate([xb, np.zeros((batch_size - n, *xb.shape[1:]), xb.dtype)])
        outs.append(np.asarray(model.predict_on_batch(xb), np.float32)[:n])
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def mean_loss(loss, y: np.ndarray, p: np.ndarray) -> float:
    from keras import ops

    return float(ops.convert_to_numpy(loss(y, p)))


# ---------------------------------------------------------------------------
# Background-noise augmentation


class NoiseBank:
    """Noise log-mel spectra mixed into training examples at a random SNR.

    The reused protocols add background noise (MUSAN) to the waveform. Training
    here reads cached log-mel, so the mix is done on mel power spectra,
    ``P = P_x + g·P_n`` with ``g`` set by the SNR over the excerpt — exact in
    expectation (the cross term of two independent signals averages to zero),
    and it keeps the feature cache shared by every system and seed.
    """

    def __init__(self, spectra: list[np.ndarray], source: str, level: str = "none"):
        if not spectra:
            raise UserError(f"the noise corpus ({source}) holds no usable noise or music file")
        self.spectra, self.source, self.level = spectra, source, level

    def mix(self, x: np.ndarray, rng: np.random.Generator, snr_db: tuple[float, float]) -> np.ndarray:
        """``x`` (frames, mels) log-mel in dB with a random noise excerpt added at a random SNR."""
        n = self.spectra[int(rng.integers(len(self.spectra)))]
        reps = math.ceil(len(x) / len(n))
        n = np.tile(n, (reps + 1, 1))
        s = int(rng.integers(0, len(n) - len(x) + 1))
        n = n[s:s + len(x)]
        snr = rng.uniform(*snr_db)
        px, pn = 10.0 ** (x.astype(np.float64) / 10), 10.0 ** (n.astype(np.float64) / 10)
        g = px.sum() / max(pn.sum(), 1e-30) / 10.0 ** (snr / 10)
        mixed = 10 * np.log10(px + g * pn)
        if self.level != "none":
            # Level-normalised features: give the mixture the excerpt's own level statistic,
            # as normalising the mixed recording would (up to the excerpt's offset from it).
            mixed = mixed - clip_level(mixed, self.level) + clip_level(x.astype(np.float64), self.level)
        return mixed.astype(x.dtype)
