"""Drift: how far each Gabor parameter moved from its initial value."""

from __future__ import annotations

import numpy as np

from benchmark.report.modulation import gabor_arrays
from benchmark.report.runs import GABOR_KEYS, Run

DRIFT_PARAMS = GABOR_KEYS


def drift(group: list[Run]) -> dict[str, float]:
    """Median change from init over all filters of all runs, per parameter.

    Scales (sigma_t, sigma_f, frequency): |final - init| / |init| (relative).
    Orientation: |final - init| wrapped to [-pi, pi], divided by pi.
    """
    out = {}
    for k in DRIFT_PARAMS:
        a = np.concatenate([gabor_arrays(r.gabor["init"])[k] for r in group])
        b = np.concatenate([gabor_arrays(r.gabor["final"])[k] for r in group])
        if k == "orientation":
            rel = np.abs(np.angle(np.exp(1j * (b - a)))) / np.pi
        else:
            rel = np.abs(b - a) / np.maximum(np.abs(a), 1e-12)
        out[k] = float(np.median(rel))
    return out
