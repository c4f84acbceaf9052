"""A frozen Gabor bank on the cortical rate x scale grid (Chi, Ru & Shamma 2005).

The NSL toolbox grid is rates 2^(1:.5:5) = 2..32 Hz and scales
2^(-2:.5:3) = 0.25..8 cycles/octave, each in upward and downward sweep
directions (9 x 11 x 2 = 198 filters). To match the filter count of the other
systems this takes a reduced grid: evenly spaced (in log) subsets of the rates
and scales that fit ``filters`` with both directions, leftover filters being
pure-rate (scale 0) filters. Points above the Nyquist limit of the kernel grid
(|ω| <= π per frame and per mel band) are moved down to it. Envelope widths
follow the modulation: one standard deviation spans a quarter of the period,
clipped to the layer's bounds. On the ``reference`` kernel grid a grid unit
spans K/(K-1) taps, so the placement divides the per-tap modulation by that
spacing (per axis) to land on the same Hz and cycles/octave.
"""

from __future__ import annotations

import numpy as np

from benchmark.kernels import grid_spacing, sigma_bounds
from benchmark.settings import FrontendSettings
from benchmark.systems import register_system
from benchmark.units import mel_bins_per_octave

# Keras loads inside the factory: listing and checking systems (the CLI) imports no Keras.

RATES_HZ = 2.0 ** np.arange(1, 5.01, 0.5)           # 2 .. 32 Hz
SCALES_CYC_PER_OCT = 2.0 ** np.arange(-2, 3.01, 0.5)  # 0.25 .. 8 cyc/oct


def _subset(values: np.ndarray, n: int) -> np.ndarray:
    idx = np.unique(np.round(np.linspace(0, len(values) - 1, n)).astype(int))
    return values[idx]


def cortical_grid(filters: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rates Hz, scales cyc/oct, directions) of a reduced grid with ``filters`` entries."""
    if filters < 2:
        return _subset(RATES_HZ, filters), np.zeros(filters), np.zeros(filters, dtype=int)
    # The largest rate x scale sub-grid that fits with both directions, as
    # evenly shaped as the full 9 x 11 grid.
    shapes = [(n_r, n_s) for n_r in range(1, len(RATES_HZ) + 1)
              for n_s in range(1, len(SCALES_CYC_PER_OCT) + 1) if 2 * n_r * n_s <= filters]
    best = max(shapes, key=lambda rs: (rs[0] * rs[1],
                                       -abs(rs[0] / len(RATES_HZ) - rs[1] / len(SCALES_CYC_PER_OCT))))
    rates, scales = _subset(RATES_HZ, best[0]), _subset(SCALES_CYC_PER_OCT, best[1])
    r, s = np.meshgrid(rates, scales, indexing="ij")
    r, s = r.ravel(), s.ravel()
    rate = np.concatenate([r, r])
    scale = np.concatenate([s, s])
    direction = np.concatenate([np.ones_like(r, dtype=int), -np.ones_like(r, dtype=int)])
    extra = filters - len(rate)
    if extra:
        rate = np.concatenate([rate, _subset(RATES_HZ, extra)[:extra]])
        scale = np.concatenate([scale, np.zeros(extra)])
        direction = np.concatenate([direction, np.zeros(extra, dtype=int)])
    return rate, scale, direction


def cortical_params(config: FrontendSettings) -> dict[str, np.ndarray]:
    """Gabor parameters placing each filter on the reduced cortical grid."""
    bpo = mel_bins_per_octave(config.n_mels, config.fmin, config.fmax)
    rate, scale, direction = cortical_grid(config.filters)
    # Keep each axis within Nyquist (π rad per tap), then the norm within π too.
    rate = np.minimum(rate, 0.999 * config.frame_rate_hz / 2)
    scale = np.minimum(scale, 0.999 * bpo / 2)
    # rad per grid unit: a unit spans `spacing` taps (1 on the centred grid)
    s_t, s_f = (grid_spacing(k, config.grid) for k in config.kernel_size)
    omega_t = 2 * np.pi * rate / config.frame_rate_hz / s_t
    omega_f = 2 * np.pi * scale / bpo / s_f
    # Upward sweeps need ω_t·Ω_f < 0: the spectral component takes the opposite sign.
    frequency = np.hypot(omega_t, omega_f)
    orientation = np.arctan2(np.where(direction > 0, -omega_f, omega_f), omega_t)
    frequency = np.minimum(frequency, np.pi * 0.999)
    (lt, ht), (lf, hf) = sigma_bounds(config.kernel_size)
    with np.errstate(divide="ignore"):
        sigma_t = np.where(omega_t > 0, (np.pi / 2) / omega_t, ht)
        sigma_f = np.where(omega_f > 0, (np.pi / 2) / omega_f, hf)
    return {
        "sigma_t": np.clip(sigma_t, lt, ht),
        "sigma_f": np.clip(sigma_f, lf, hf),
        "frequency": frequency,
        "orientation": orientation,
    }


@register_system("cortical_gabor", "frozen Gabor bank on the cortical rate x scale grid",
                 rank=30)
def build(config: FrontendSettings):
    from benchmark.layers import GaborLayer

    layer = GaborLayer(config.filters, kernel_size=config.kernel_size,
                       output_mode=config.output_mode, grid=config.grid, seed=config.seed,
                       trainable=False, name="frontend_cortical_gabor")
    layer.build((None, None, config.n_mels, 1))
    layer.set_gabor_params(**cortical_params(config))
    return layer
