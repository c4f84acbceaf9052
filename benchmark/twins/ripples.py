"""Calibration twin: moving ripples on broadband noise, in ESC-50's layout.

The filter analysis must be able to find a truth it was given. Each class of
this twin is one moving ripple — a sinusoidal spectro-temporal envelope of
rate ω (Hz), scale Ω (cycles/octave) and sweep direction — imposed on noise
from 1 to 7.6 kHz (the logarithmic part of the mel scale, where a ripple in
octaves is a plane wave in mel bands). Classes come in pairs that differ in one
coordinate only: by sweep direction, by rate (one octave), by scale (one
octave). Everything else is drawn per clip and shared by every class: level,
spectral tilt, ripple phase, the noise itself; every clip lasts exactly
``DURATION`` s with the same fades, so neither duration nor onset tells a class.
The planted points therefore *are* the evidence (``tests/test_calibration.py``
checks it on the written files), and all lie inside what a 15 x 7 kernel at
50 frames/s and 11 bands/octave can represent (rates 3.3-25 Hz, scales
1.6-5.5 cycles/octave).

Two variants plant different points on the same carriers: ``ripples`` (``A``)
and ``ripples_b`` (``B``, the same design with every sweep reversed: the
direction pair is shared, the rate and scale partners sweep the other way).
Trained on each, filters must recover their own points more than the other
variant's — which only filters read in the right sweep direction do: the
cross-over of the report. (Moving B's points to the other corner of the rate x
scale square, 12 Hz and 4 cycles/octave, left them out of reach of 1,000 steps
from the low-modulation start: its probe stayed near chance.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import istft, stft

from benchmark.twins import signals as S
from benchmark.twins.esc50 import write_meta

SR = 16000
DURATION = 1.0            # every clip, every class
BAND = (1000.0, 8000.0)   # noise band (Hz): the log part of the mel scale, up to Nyquist
# Ripple depth, in dB of amplitude: a sinusoid in dB is a sinusoid in the log-mel,
# without the harmonics (at 2ω, 2Ω) that a linear-amplitude ripple leaves after the log.
DEPTH_DB = 2.0
LEVEL_DB = (-30.0, -6.0)  # peak level per clip, uniform
TILT_DB_PER_OCT = (-6.0, 6.0)
FADE_S = 0.02
NPERSEG, HOP = 512, 64    # the STFT the ripple is imposed in (32 ms, 4 ms)

# class -> (rate Hz, scale cycles/octave, direction: +1 up, -1 down), per variant.
VARIANTS = {
    "A": {"up_6hz_2cyc": (6.0, 2.0, 1), "down_6hz_2cyc": (6.0, 2.0, -1),
          "up_12hz_2cyc": (12.0, 2.0, 1), "up_6hz_4cyc": (6.0, 4.0, 1)},
    "B": {"down_6hz_2cyc": (6.0, 2.0, -1), "up_6hz_2cyc": (6.0, 2.0, 1),
          "down_12hz_2cyc": (12.0, 2.0, -1), "down_6hz_4cyc": (6.0, 4.0, -1)},
}
# What tells each class from its pair partner (for the planted file).
PAIRS = {"A": {"down_6hz_2cyc": "direction", "up_12hz_2cyc": "rate", "up_6hz_4cyc": "scale"},
         "B": {"up_6hz_2cyc": "direction", "down_12hz_2cyc": "rate", "down_6hz_4cyc": "scale"}}
SIZES = {"tiny": dict(per_class=20), "demo": dict(per_class=60)}
NOTE = ("moving ripples on 1-7.6 kHz noise; a class is one (rate, scale, direction) point and "
        "nothing else: level, tilt, phase and noise are drawn per clip and shared by every class")


def ripple(rate_hz: float, scale_cyc_per_oct: float, direction: int, rng: np.random.Generator,
           sr: int = SR, duration: float = DURATION) -> np.ndarray:
    """One clip: noise whose STFT magnitude in dB follows D sin(2π(ω t - d Ω x) + φ) + tilt·x.

    x is log2(f / 1 kHz). Lines of constant phase have dx/dt = d ω / Ω, so d = +1
    rises with time (upward) and d = -1 falls. Level, tilt and φ are drawn here.
    """
    n = int(round(duration * sr))
    noise = rng.standard_normal(n)
    f, t, z = stft(noise, fs=sr, nperseg=NPERSEG, noverlap=NPERSEG - HOP)
    x = np.log2(np.maximum(f, 1.0) / 1000.0)[:, None]
    phase = rng.uniform(0, 2 * np.pi)
    tilt = rng.uniform(*TILT_DB_PER_OCT)
    env_db = DEPTH_DB * np.sin(2 * np.pi * (rate_hz * t[None, :] - direction * scale_cyc_per_oct * x)
                               + phase)
    inband = ((f >= BAND[0]) & (f <= BAND[1]))[:, None]
    gain = np.where(inband, 10 ** ((env_db + tilt * x) / 20), 0.0)
    _, y = istft(z * gain, fs=sr, nperseg=NPERSEG, noverlap=NPERSEG - HOP)
    y = y[:n]
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    fade = int(FADE_S * sr)
    ramp = np.ones(n)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[-fade:] = np.linspace(1, 0, fade)
    return S.normalize(y * ramp, 10 ** (rng.uniform(*LEVEL_DB) / 20))


def planted(variant: str) -> dict:
    """Per class, its one planted point (rate, scale, direction) and what tells it from its partner."""
    out = {}
    for c, (rate, scale, d) in VARIANTS[variant].items():
        partner = PAIRS[variant].get(c)
        what = (f"moving ripple, {'upward' if d > 0 else 'downward'}; differs from its pair only "
                f"by {partner}" if partner else f"moving ripple, {'upward' if d > 0 else 'downward'}; "
                "the reference of the direction, rate and scale pairs")
        out[c] = [S.modulation(rate, scale, d, what)]
    return out


def write_variant(root: Path, size: str, seed: int, track, variant: str, dataset: str) -> None:
    per_class = SIZES[size]["per_class"]
    base = root / "ESC-50-master"
    classes = list(VARIANTS[variant])
    rows = []
    items = [(k, c, i) for k, c in enumerate(classes) for i in range(per_class)]
    for k, c, i in track(items, desc=dataset):
        rate, scale, d = VARIANTS[variant][c]
        # The carrier depends on (seed, clip) only, not on the class or the variant: the
        # two variants' clip i of class slot k share their noise, level, tilt and phase.
        rng = S.rng_for(seed, "ripples", k, i)
        fold = i % 5 + 1
        src = 100000 + 1000 * k + i
        name = f"{fold}-{src}-A-{k}.wav"
        S.write_wav(base / "audio" / name, ripple(rate, scale, d, rng), SR)
        rows.append((name, fold, k, c, False, str(src), "A"))
    write_meta(base, rows)   # the ESC-50 layout, read by the ESC-50 adapter
    S.write_planted(root, dataset, f"{NOTE} (variant {variant})", planted(variant))


def write(root: Path, size: str, seed: int, track) -> None:
    write_variant(root, size, seed, track, "A", "ripples")
