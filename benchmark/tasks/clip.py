"""Clip classification (zebra finch call types, urban sound): the CNN10 protocol.

Every clip is padded or cut to the task's fixed length (padding at the end with
the clip's minimum), standardised per mel band with training statistics, and
classified by a CNN10-like head; SpecAugment and mixup as in Arnault et al.
(urban sound), and the same head for the bird calls, for which no protocol was
published (our choice). The validation main metric selects the model (accuracy
for urban sound; balanced accuracy for the bird calls, whose classes range from
613 to 20 calls); a class that occurs in test but not in training stops the run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark import metrics
from benchmark.features import FeatureConfig
from benchmark.settings import (CI_CLIP_PROTOCOL, CI_TRAIN, DEMO_CLIP_HEAD, DEMO_TRAIN,
                                PAPER_FRONTEND, PAPER_TRAIN, TrainSettings, check)
from benchmark.tasks import register_task
from benchmark.tasks.base import (EpochBatches, Task, fix_length, mean_loss,
                                  permute_labels, predict_batched, top_lines)

# Keras, and benchmark.heads built on it, load inside the methods that build or train a
# model: the configuration and the command line read a task's settings without
# TensorFlow's start-up (seconds).


@dataclass(frozen=True)
class CnnHead:
    """CNN10-like: blocks of two 3x3 conv + BN + ReLU, 2x2 average pooling."""

    conv_channels: tuple[int, ...] = (64, 128, 256, 512)
    dropout: float = 0.2
    final_dropout: float = 0.5

    def __post_init__(self):
        check(len(self.conv_channels) > 0 and min(self.conv_channels) > 0,
              f"head.conv_channels must be positive widths (got {self.conv_channels})")
        check(0 <= self.dropout < 1 and 0 <= self.final_dropout < 1,
              f"head.dropout and head.final_dropout must be in [0, 1) (got {self.dropout}, "
              f"{self.final_dropout})")


@dataclass(frozen=True)
class ClipProtocol:
    mixup_alpha: float = 1.0
    spec_time_stripes: int = 2         # SpecAugment (training only)
    spec_time_width: int = 24
    spec_freq_stripes: int = 2
    spec_freq_width: int = 8

    def __post_init__(self):
        check(self.mixup_alpha >= 0, "protocol.mixup_alpha must be >= 0")
        check(min(self.spec_time_stripes, self.spec_time_width, self.spec_freq_stripes,
                  self.spec_freq_width) >= 0, "SpecAugment stripe counts and widths must be >= 0")


class ClipClassification(Task):
    output = "clip"
    main_metric = "accuracy"
    direction = "max"
    table_metrics = ("accuracy",)
    Head = CnnHead
    Protocol = ClipProtocol
    head = CnnHead()
    protocol = ClipProtocol()

    def __init__(self, cfg, prepared, store, noise=None):
        super().__init__(cfg, prepared, store, noise)
        s = self.splits
        self.label_classes(f"{cfg.dataset} fold {cfg.fold}")
        self.n_frames = clip_frames(cfg.features, max(store.n_frames(e.id) for e in s.train))
        self.x = {name: np.stack([fix_length(store.get(e.id), self.n_frames) for e in exs])
                  for name, exs in (("train", s.train), ("val", s.val), ("test", s.test))}
        # A validation class that training lacks (allowed: see check_classes) gets index -1:
        # never predicted, so it counts as an error, and its one-hot row is all zeros.
        self.y = {name: np.array([self.index.get(e.label, -1) for e in exs], np.int64)
                  for name, exs in (("train", s.train), ("val", s.val), ("test", s.test))}
        self.norm = (self.x["train"].mean(axis=(0, 1)), self.x["train"].var(axis=(0, 1)))
        if cfg.train.permute_labels:
            self.y["train"] = permute_labels(self.y["train"], cfg.seed)

    def build_head(self, x):
        from benchmark.heads import cnn_head

        return cnn_head(x, self.cfg.head, self.n_outputs)

    def loss(self):
        import keras

        return keras.losses.CategoricalCrossentropy()  # one-hot targets, so mixup can blend them

    def train_batches(self) -> EpochBatches:
        p, x, y = self.cfg.protocol, self.x["train"], self.y["train"]
        k, mean = self.n_outputs, self.norm[0]

        def load(idx, rng):
            xb, yb = x[idx].copy(), np.eye(k, dtype=np.float32)[y[idx]]
            for b in range(len(xb)):  # SpecAugment: stripes set to the training mean
                for _ in range(p.spec_time_stripes):
                    w = int(rng.integers(0, p.spec_time_width + 1))
                    s = int(rng.integers(0, max(1, xb.shape[1] - w)))
                    xb[b, s:s + w] = mean
                for _ in range(p.spec_freq_stripes):
                    w = int(rng.integers(0, p.spec_freq_width + 1))
                    s = int(rng.integers(0, max(1, xb.shape[2] - w)))
                    xb[b, :, s:s + w] = mean[s:s + w]
            if p.mixup_alpha > 0 and len(xb) > 1:
                lam = rng.beta(p.mixup_alpha, p.mixup_alpha, size=(len(xb), 1)).astype(np.float32)
                perm = rng.permutation(len(xb))
                xb = lam[:, :, None] * xb + (1 - lam[:, :, None]) * xb[perm]
                yb = lam * yb + (1 - lam) * yb[perm]
            return xb.astype(np.float32), yb

        return EpochBatches(len(x), self.cfg.train.batch_size, load, self.cfg.seed, shuffle=True,
                            steps=self.cfg.train.steps_per_epoch)

    def validate(self, model, epoch: int) -> dict:
        p = predict_batched(model, self.x["val"], self.cfg.train.batch_size)
        y1 = np.eye(self.n_outputs + 1, dtype=np.float32)[self.y["val"]][:, :self.n_outputs]
        # the model is selected on the task's own main metric, as it is scored on test
        return {"val_loss": mean_loss(self.loss(), y1, p),
                "val_main": metrics.classification_metrics(self.y["val"],
                                                           p.argmax(1))[self.main_metric]}

    def test(self, model) -> dict:
        p = predict_batched(model, self.x["test"], self.cfg.train.batch_size)
        ids = [e.id for e in self.splits.test]
        # A clip is its own resampling unit: the report's intervals resample clips.
        self.outputs = {"classification": {"item": ids, "unit": ids,
                                           "y_true": self.y["test"].tolist(),
                                           "y_pred": p.argmax(1).tolist()}}
        return metrics.classification_metrics(self.y["test"], p.argmax(1))

    def record(self) -> dict:
        return {"classes": self.classes}

    @classmethod
    def predict_lines(cls, predictor, path: str, logmel: np.ndarray, top: int) -> list[str]:
        f = predictor.config.features
        x = fix_length(logmel, clip_frames(f, len(logmel)))
        return top_lines(path, predict_batched(predictor.model, x[None], 1)[0], predictor.labels, top)


def clip_frames(features: FeatureConfig, fallback: int) -> int:
    """Frames of the task's fixed clip length, or ``fallback`` when the task has none."""
    if not features.clip_seconds:
        return fallback
    return features.n_frames(int(round(features.clip_seconds * features.sample_rate)))


@register_task
class BirdCalls(ClipClassification):
    name = "bird_calls"
    version = 3
    # Classes range from 613 (Tet) to 20 (Distress) calls: accuracy is dominated by the
    # large classes, so the balanced accuracy (mean per-class recall) is the main metric,
    # selects the model, and accuracy and macro-F1 are reported beside it.
    main_metric = "balanced_accuracy"
    table_metrics = ("balanced_accuracy", "accuracy", "macro_f1")
    features = FeatureConfig(sample_rate=44100, n_mels=64, win_ms=25.0, hop_ms=10.0, n_fft=2048,
                             fmin=300.0, fmax=12000.0, clip_seconds=1.0)
    train = TrainSettings(epochs=200, batch_size=64, learning_rate=1e-3, optimizer="adam",
                          patience=50)
    protocol = ClipProtocol(spec_time_width=10)  # calls are short: narrower time stripes
    protocol_text = ("bird-grouped folds (no bird on both sides); test = one fold, validation = "
                     "the next fold; CNN10-like head (no published protocol: our choice)")
    sizes = {
        "ci": {"features": {"sample_rate": 22050, "n_mels": 24, "n_fft": None, "fmax": 10000.0},
               "head": {"conv_channels": (8,), "dropout": 0.1, "final_dropout": 0.2},
               "train": CI_TRAIN,
               "protocol": CI_CLIP_PROTOCOL},
        "demo": {"features": {"sample_rate": 22050, "n_mels": 32, "n_fft": None, "fmax": 10000.0},
                 "head": DEMO_CLIP_HEAD,
                 "train": DEMO_TRAIN,
                 "protocol": {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}},
        # A 1 s call is 101 frames at a 10 ms hop: a 111-frame kernel would be longer than
        # the clip (its outer taps would only ever see padding), so the kernel spans the clip.
        "paper": {"train": PAPER_TRAIN, "frontend": {**PAPER_FRONTEND, "kernel_size": (101, 9)}},
    }


@register_task
class UrbanSound(ClipClassification):
    name = "urban_sound"
    version = 2
    # Arnault et al.: 44.1 kHz, n_fft 2822 (64 ms), hop 1103 (25 ms), 64 mels 0-8 kHz, 4.04 s,
    # and each clip clamped to 80 dB below its own maximum.
    features = FeatureConfig(sample_rate=44100, n_mels=64, win_ms=64.0, hop_ms=25.0, n_fft=2822,
                             fmin=0.0, fmax=8000.0, clip_seconds=4.04, top_db=80.0)
    train = TrainSettings(epochs=300, batch_size=64, learning_rate=1e-3, optimizer="adam",
                          patience=50)
    protocol_text = ("official folds, never reshuffled: test = one fold, validation = the next "
                     "fold of the training folds; CNN10-like head, SpecAugment, mixup")
    sizes = {
        "ci": {"features": {"sample_rate": 16000, "n_mels": 24, "win_ms": 32.0, "hop_ms": 20.0,
                            "n_fft": None, "clip_seconds": 1.0},
               "head": {"conv_channels": (8,), "dropout": 0.1, "final_dropout": 0.2},
               "train": CI_TRAIN,
               "protocol": CI_CLIP_PROTOCOL},
        "demo": {"features": {"sample_rate": 16000, "n_mels": 32, "win_ms": 32.0, "hop_ms": 20.0,
                              "n_fft": None, "clip_seconds": 2.0, "top_db": None},
                 "head": DEMO_CLIP_HEAD,
                 "train": DEMO_TRAIN,
                 "protocol": {"mixup_alpha": 0.0, "spec_time_stripes": 0, "spec_freq_stripes": 0}},
        # Arnault et al.'s code zero-pads short urban clips at the start (to 178,017 samples).
        "paper": {"train": PAPER_TRAIN, "features": {"pad": "start"}},
    }
