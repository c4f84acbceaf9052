"""Gabor (STRF) kernel maths and initialisations, apart from any layer state.

This module imports no Keras at load time: the report and the plots use
:func:`gabor_kernels_np`, :func:`grid_spacing` and the initialisation maths
without paying for (or depending on) a deep-learning backend. The functions
that build kernels inside the layer take backend tensors and import
``keras.ops`` when first called.

The kernel of filter k on the grid (t, f) — time in frames, frequency in mel
bins — is

    s(t, f) = exp(-t^2 / (2 (σ_t + ε)^2) - f^2 / (2 (σ_f + ε)^2)) / (2π σ_t σ_f)
    g(t, f) = s(t, f) · exp(i F (t cos γ + f sin γ))

with ε = 1e-3 as in the original code. The envelope is axis-aligned and the
carrier a plane wave, so g is an outer product of a complex time kernel and a
complex frequency kernel; the fast implementation uses that.
"""

from __future__ import annotations

import math

import numpy as np

from benchmark.units import mel_bins_per_octave

EPS = 1e-3  # added to σ inside the exponent, as the reference implementation does

GRIDS = ("centered", "reference")
INITS = ("reference", "physical")

# Parameter ranges (the layer holds them with weight constraints). σ >= 0.1
# keeps the normalisation 1/(2π σ_t σ_f) finite; the upper bound covers the
# reference initialisation (at most 2·1.41^6 ≈ 15.8) and the whole kernel. F
# in [0, π] keeps both components F·cos γ and F·sin γ within Nyquist.
SIGMA_MIN = 0.1
SIGMA_MAX_FLOOR = 16.0
FREQUENCY_MAX = math.pi

# The setting the reference initialisation was written for: a 10 ms hop and 64
# Slaney mel bands on 0-8 kHz (bands per octave taken in the log part, at 2 kHz).
REFERENCE_FRAME_RATE_HZ = 100.0
REFERENCE_BINS_PER_OCTAVE = mel_bins_per_octave(64, 0.0, 8000.0)


def _ops():
    from keras import ops   # deferred: see the module docstring

    return ops


def sigma_bounds(kernel_size: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lo, hi) of sigma_t and of sigma_f for a kernel size (time, freq)."""
    k_t, k_f = kernel_size
    return (SIGMA_MIN, max(float(k_t), SIGMA_MAX_FLOOR)), (SIGMA_MIN, max(float(k_f), SIGMA_MAX_FLOOR))


def reference_init(filters: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The original code's initialisation, in grid units (float64 arrays).

    F = (π/2)·1.41^(−U(0,5)); σ_f, σ_t = 2·1.41^U(0,6); γ ~ U(−π, π).
    """
    return {
        "sigma_t": 2.0 * 1.41 ** rng.uniform(0, 6, filters),
        "sigma_f": 2.0 * 1.41 ** rng.uniform(0, 6, filters),
        "frequency": (np.pi / 2) * 1.41 ** (-rng.uniform(0, 5, filters)),
        "orientation": rng.uniform(-np.pi, np.pi, filters),
    }


def rescale_setting(params: dict, frame_rate_hz: float, bins_per_octave: float,
                    from_frame_rate_hz: float = REFERENCE_FRAME_RATE_HZ,
                    from_bins_per_octave: float = REFERENCE_BINS_PER_OCTAVE) -> dict[str, np.ndarray]:
    """Grid-unit parameters meaning the same physical filters at another setting.

    Reads ``params`` as filters on a grid of ``from_frame_rate_hz`` frames per
    second and ``from_bins_per_octave`` mel bands per octave — σ_t in seconds,
    σ_f in octaves, temporal modulation in Hz, spectral modulation in
    cycles/octave, and the sweep direction — and returns the grid-unit values
    that give those filters at ``frame_rate_hz`` and ``bins_per_octave``. No
    clipping: see :func:`clip_to_ranges`.
    """
    if not (frame_rate_hz > 0 and bins_per_octave > 0):
        raise ValueError("frame_rate_hz and bins_per_octave must be positive, received "
                         f"frame_rate_hz={frame_rate_hz!r}, bins_per_octave={bins_per_octave!r}")
    r_t = float(frame_rate_hz) / float(from_frame_rate_hz)       # frames per old frame
    r_f = float(bins_per_octave) / float(from_bins_per_octave)   # bands per old band
    p = {k: np.asarray(v, dtype="float64") for k, v in params.items()}
    omega_t = p["frequency"] * np.cos(p["orientation"]) / r_t
    omega_f = p["frequency"] * np.sin(p["orientation"]) / r_f
    return {
        "sigma_t": p["sigma_t"] * r_t,
        "sigma_f": p["sigma_f"] * r_f,
        # Scaling each component by a positive factor keeps the sweep direction.
        "frequency": np.hypot(omega_t, omega_f),
        "orientation": np.arctan2(omega_f, omega_t),
    }


def clip_to_ranges(params: dict, kernel_size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Parameters clipped into the layer's ranges (orientation is free)."""
    (lt, ht), (lf, hf) = sigma_bounds(kernel_size)
    out = dict(params)
    out["sigma_t"] = np.clip(params["sigma_t"], lt, ht)
    out["sigma_f"] = np.clip(params["sigma_f"], lf, hf)
    out["frequency"] = np.clip(params["frequency"], 0.0, FREQUENCY_MAX)
    return out


def initial_params(filters: int, rng: np.random.Generator, init: str = "reference",
                   kernel_size: tuple[int, int] = (111, 9), frame_rate_hz: float | None = None,
                   bins_per_octave: float | None = None) -> dict[str, np.ndarray]:
    """A layer's initial parameters, in its grid units.

    ``reference``: :func:`reference_init` as is (grid units, whatever the
    frame rate and mel bands). ``physical``: the same draw read as physical
    filters at the reference's own setting (100 frames/s, 64 Slaney bands on
    0-8 kHz) and mapped to ``frame_rate_hz`` and ``bins_per_octave``, so that
    tasks at different hops and mel scales start from the same distribution in
    seconds, octaves, Hz and cycles/octave. Values that the setting cannot
    represent (above its Nyquist limit, or outside the σ ranges) are clipped.
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, received init={init!r}")
    params = reference_init(filters, rng)
    if init == "physical":
        if frame_rate_hz is None or bins_per_octave is None:
            raise ValueError("init='physical' needs frame_rate_hz and bins_per_octave "
                             f"(received frame_rate_hz={frame_rate_hz!r}, "
                             f"bins_per_octave={bins_per_octave!r})")
        params = rescale_setting(params, frame_rate_hz, bins_per_octave)
    return clip_to_ranges(params, kernel_size)


def grid(size: int, kind: str = "centered") -> np.ndarray:
    """Sample positions of a kernel axis of ``size`` taps, in grid units.

    ``centered``: integer steps centred on zero (``arange(size) - (size-1)/2``).
    ``reference``: the original code's ``linspace(-ceil(size/2)+1, ceil(size/2), size)``,
    centred at +0.5 with spacing size/(size-1); kept for exact parity.
    """
    if kind == "centered":
        return np.arange(size, dtype="float32") - (size - 1) / 2.0
    if kind == "reference":
        c = math.ceil(size / 2)
        return np.linspace(-c + 1, c, size, dtype="float32")
    raise ValueError(f"grid must be one of {GRIDS}, received grid={kind!r}")


def grid_spacing(size: int, kind: str = "centered") -> float:
    """Distance between neighbouring taps in grid units (1 for ``centered``)."""
    if kind == "centered" or size < 2:
        return 1.0
    return size / (size - 1)


def _factors(xp, sigma_t, sigma_f, frequency, orientation, kernel_size, grid_kind):
    """The separable factors with array module ``xp`` (NumPy or keras.ops)."""
    k_t, k_f = kernel_size
    as_array = np.asarray if xp is np else xp.convert_to_tensor
    t = as_array(grid(k_t, grid_kind))[:, None]
    f = as_array(grid(k_f, grid_kind))[:, None]
    sigma_t, sigma_f, frequency, orientation = (p[None, :] for p in (sigma_t, sigma_f, frequency,
                                                                      orientation))
    omega_t = frequency * xp.cos(orientation)  # rad per time grid unit
    omega_f = frequency * xp.sin(orientation)  # rad per frequency grid unit
    norm = 1.0 / (2.0 * math.pi * sigma_t * sigma_f)
    env_t = xp.exp(-0.5 * xp.square(t / (sigma_t + EPS))) * norm
    env_f = xp.exp(-0.5 * xp.square(f / (sigma_f + EPS)))
    ct = env_t * xp.cos(omega_t * t)
    st = env_t * xp.sin(omega_t * t)
    cf = env_f * xp.cos(omega_f * f)
    sf = env_f * xp.sin(omega_f * f)
    return ct, st, cf, sf


def separable_factors(sigma_t, sigma_f, frequency, orientation, kernel_size, grid_kind="centered"):
    """The 1-D complex factors of the kernels (backend tensors).

    Returns ``(ct, st, cf, sf)``: ``ct, st`` of shape (K_t, filters) are the real
    and imaginary parts of the time factor (normalisation included), ``cf, sf``
    of shape (K_f, filters) those of the frequency factor, such that
    ``real = ct ⊗ cf - st ⊗ sf`` and ``imag = st ⊗ cf + ct ⊗ sf``.
    """
    ops = _ops()
    params = (ops.convert_to_tensor(p) for p in (sigma_t, sigma_f, frequency, orientation))
    return _factors(ops, *params, kernel_size, grid_kind)


def gabor_kernels(sigma_t, sigma_f, frequency, orientation, kernel_size, grid_kind="centered"):
    """Real and imaginary kernels (backend tensors), each of shape (K_t, K_f, filters)."""
    ct, st, cf, sf = separable_factors(sigma_t, sigma_f, frequency, orientation,
                                       kernel_size, grid_kind)
    ct, st = ct[:, None, :], st[:, None, :]
    cf, sf = cf[None, :, :], sf[None, :, :]
    return ct * cf - st * sf, st * cf + ct * sf


def gabor_kernels_np(sigma_t, sigma_f, frequency, orientation, kernel_size, grid="centered"):
    """:func:`gabor_kernels` in NumPy (float32, as the layer computes), for plots and reports."""
    params = (np.asarray(p, dtype="float32").reshape(-1) for p in
              (sigma_t, sigma_f, frequency, orientation))
    ct, st, cf, sf = _factors(np, *params, tuple(kernel_size), grid)
    ct, st = ct[:, None, :], st[:, None, :]
    cf, sf = cf[None, :, :], sf[None, :, :]
    return ((ct * cf - st * sf).astype("float32"), (st * cf + ct * sf).astype("float32"))


def same_correlation_matrix(taps, length: int):
    """Banded Toeplitz matrices of a 'same' cross-correlation (backend tensors).

    Keras and PyTorch convolutions are cross-correlations with 'same' padding
    placing (K-1)//2 zeros before the signal. ``taps`` has shape (K, filters);
    returns (filters, length, length) ``T`` with ``y = T @ x`` equal to
    correlating ``x`` (length,) with the taps.
    """
    ops = _ops()
    k = int(taps.shape[0])
    before = (k - 1) // 2
    n = np.arange(length)[:, None]
    m = np.arange(length)[None, :]
    idx = m - n + before                       # which tap links output n to input m
    valid = (idx >= 0) & (idx < k)
    idx = np.where(valid, idx, 0).astype("int32")
    mats = ops.take(ops.transpose(taps), ops.convert_to_tensor(idx), axis=1)  # (filters, L, L)
    return mats * ops.convert_to_tensor(valid.astype("float32"))
