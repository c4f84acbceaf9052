"""Units of the analysis' axes per dataset, and the features' own modulation transfer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from benchmark import units
from benchmark.report.order import dataset_order
from benchmark.report.runs import Run


@dataclass(frozen=True)
class AxisUnits:
    dataset: str
    frame_rate_hz: float
    bins_per_octave: float            # the one value the conversion uses
    n_mels: int | None
    fmin: float | None
    fmax: float | None
    bands_below_1khz: int | None
    bins_per_octave_lowest: float | None   # at the centre of the lowest band
    bins_per_octave_500hz: float | None    # None when 500 Hz is outside [fmin, fmax]


def _mel_axis(run: Run) -> tuple[int, float, float] | None:
    """(n_mels, fmin, fmax) from the gabor block, else the features block."""
    for block in (run.gabor, run.features):
        n, lo, hi = block.get("n_mels"), block.get("fmin"), block.get("fmax")
        if isinstance(n, int) and n > 0 and isinstance(lo, (int, float)) \
                and isinstance(hi, (int, float)) and hi > lo >= 0:
            return n, float(lo), float(hi)
    return None


def axis_units(runs: list[Run]) -> list[AxisUnits]:
    """Per dataset with Gabor runs: the conversion constants and how far the
    bands-per-octave density falls below them in the linear part of the mel scale."""
    out = []
    for d, group in _by_dataset([r for r in runs if r.gabor is not None]).items():
        r = group[0]
        axis = _mel_axis(r)
        n = lo = hi = below = lowest = at500 = None
        if axis is not None:
            n, lo, hi = axis
            centres = units.mel_center_hz(n, lo, hi)
            below = int((centres < 1000.0).sum())
            lowest = float(units.bins_per_octave_at(n, lo, hi, max(float(centres[0]), 1e-3)))
            if lo <= 500.0 <= hi:
                at500 = float(units.bins_per_octave_at(n, lo, hi, 500.0))
        out.append(AxisUnits(d, float(r.gabor["frame_rate_hz"]), float(r.gabor["mel_bins_per_octave"]),
                             n, lo, hi, below, lowest, at500))
    return out


def _by_dataset(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in runs:
        out.setdefault(r.dataset, []).append(r)
    return {d: sorted(out[d], key=lambda r: (r.system, r.key)) for d in dataset_order(set(out))}


# ---------------------------------------------------------------- the features' own transfer

def feature_config(run: Run):
    """The run's :class:`~benchmark.features.FeatureConfig`, or None if it cannot be rebuilt."""
    from benchmark.features import FeatureConfig

    names = {f.name for f in dataclasses.fields(FeatureConfig)}
    for block in (run.config.get("features"), run.features):
        if isinstance(block, dict) and block:
            try:
                return FeatureConfig(**{k: v for k, v in block.items() if k in names})
            except Exception:   # an older or hand-made record: try the next block
                continue
    return None


def feature_transfer(run: Run) -> dict[str, float] | None:
    """Temporal modulation (Hz) where the run's features fall to -3 and -20 dB."""
    from benchmark.features import modulation_transfer_db

    cfg = feature_config(run)
    if cfg is None:
        return None
    f = np.linspace(0.0, 4 * cfg.frame_rate_hz, 4001)
    db = modulation_transfer_db(cfg, f)
    out = {}
    for level in (-3.0, -20.0):
        below = np.nonzero(db < level)[0]
        if below.size and below[0] > 0:   # linear between the grid points either side
            i = below[0]
            out[f"{level:g}"] = float(f[i - 1] + (level - db[i - 1]) * (f[i] - f[i - 1])
                                      / (db[i] - db[i - 1]))
    return out
