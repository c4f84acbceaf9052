"""Calibration: moving-ripple classes read by a linear probe of the frontend's magnitude.

The calibration twins (``ripples``, ``ripples_b``) differ between classes only in
where their energy sits in modulation space. The probe head — the frontend's
output averaged over time and mel bands, then one linear layer — can only tell
classes apart by what each filter passes, so the task is solvable only by
moving filters onto the class points: a learnable frontend that works must end
there (``benchmark.report.calibration`` checks it), and a frozen one cannot
learn beyond where it started. Run it with the frontend's magnitude output
(``frontend.output_mode=abs``, as the profiles set it): the averaged magnitude
of a complex Gabor filter is the input's energy in its passband, not a phase.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.features import FeatureConfig
from benchmark.settings import DEMO_TRAIN, TrainSettings, check
from benchmark.tasks import register_task
from benchmark.tasks.clip import ClipClassification, ClipProtocol

# Keras, and benchmark.heads built on it, load inside the methods that build or train a
# model: the configuration and the command line read a task's settings without
# TensorFlow's start-up (seconds).


@dataclass(frozen=True)
class ProbeHead:
    """Global average over (time, mel) of every frontend channel, then a linear softmax."""

    dropout: float = 0.0

    def __post_init__(self):
        check(0 <= self.dropout < 1, f"head.dropout must be in [0, 1) (got {self.dropout})")


@register_task
class Calibration(ClipClassification):
    name = "calibration"
    version = 1
    Head = ProbeHead
    head = ProbeHead()
    # 1-8 kHz only: the log part of the mel scale, where a ripple in octaves is a
    # plane wave in mel bands (32 bands: 11 per octave); 50 frames/s.
    features = FeatureConfig(sample_rate=16000, n_mels=32, win_ms=32.0, hop_ms=20.0, n_fft=None,
                             fmin=1000.0, fmax=8000.0, clip_seconds=1.0)
    train = TrainSettings(epochs=5, steps_per_epoch=200, batch_size=8, learning_rate=3e-3,
                          optimizer="adam", patience=5)
    protocol = ClipProtocol(mixup_alpha=0.0, spec_time_stripes=0, spec_freq_stripes=0)
    protocol_text = ("official-style folds of the generated set; linear probe of the frontend's "
                     "time-and-band-averaged magnitude (solvable only by filters on the class points)")
    # The probe reads the filters' magnitude; filters start in the low-modulation corner,
    # away from every planted point, and must travel to the class points.
    sizes = {
        "ci": {"frontend": {"filters": 8, "kernel_size": (15, 7), "init": "low", "output_mode": "abs"},
               "train": {"epochs": 5, "steps_per_epoch": 100, "batch_size": 16, "learning_rate": 1e-2,
                         "optimizer": "adam", "patience": 5, "frontend_lr_scale": 3.0}},
        "demo": {"frontend": {"init": "low", "output_mode": "abs"},
                 "train": {**DEMO_TRAIN, "batch_size": 16, "learning_rate": 1e-2,
                           "frontend_lr_scale": 3.0}},
    }

    def build_head(self, x):
        import keras

        x = keras.layers.GlobalAveragePooling2D(name="probe_mean")(x)
        if self.cfg.head.dropout:
            x = keras.layers.Dropout(self.cfg.head.dropout)(x)
        return keras.layers.Dense(self.n_outputs, activation="softmax", dtype="float32",
                                  name="classes")(x)
