"""Gabor (STRF) kernel maths, apart from any layer state.

Every function takes and returns backend tensors through ``keras.ops`` (NumPy
arrays are accepted too), so the same code builds kernels inside the layer and
in tests, plots and reports.

The kernel of filter k on the grid (t, f) — time in frames, frequency in mel
bins — is

    s(t, f) = exp(-t^2 / (2 (σ_t + ε)^2) - f^2 / (2 (σ_f + ε)^2)) / (2π σ_t σ_f)
    g(t, f) = s(t, f) · exp(i F (t cos γ + f sin γ))

with ε = 1e-3 as in the original code. The envelope is axis-aligned and the
carrier a plane wave, so g is an outer product of a complex time kernel and a
complex frequency kernel; the fast implementations use that.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

EPS = 1e-3  # added to σ inside the exponent, as the reference implementation does

GRIDS = ("centered", "reference")


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


def separable_factors(sigma_t, sigma_f, frequency, orientation, kernel_size, grid_kind="centered"):
    """The 1-D complex factors of the kernels.

    Returns ``(ct, st, cf, sf)``: ``ct, st`` of shape (K_t, filters) are the real
    and imaginary parts of the time factor (normalisation included), ``cf, sf``
    of shape (K_f, filters) those of the frequency factor, such that
    ``real = ct ⊗ cf - st ⊗ sf`` and ``imag = st ⊗ cf + ct ⊗ sf``.
    """
    k_t, k_f = kernel_size
    t = ops.convert_to_tensor(grid(k_t, grid_kind))[:, None]
    f = ops.convert_to_tensor(grid(k_f, grid_kind))[:, None]
    sigma_t = ops.convert_to_tensor(sigma_t)[None, :]
    sigma_f = ops.convert_to_tensor(sigma_f)[None, :]
    frequency = ops.convert_to_tensor(frequency)[None, :]
    orientation = ops.convert_to_tensor(orientation)[None, :]

    omega_t = frequency * ops.cos(orientation)  # rad per time grid unit
    omega_f = frequency * ops.sin(orientation)  # rad per frequency grid unit
    norm = 1.0 / (2.0 * math.pi * sigma_t * sigma_f)
    env_t = ops.exp(-0.5 * ops.square(t / (sigma_t + EPS))) * norm
    env_f = ops.exp(-0.5 * ops.square(f / (sigma_f + EPS)))
    ct = env_t * ops.cos(omega_t * t)
    st = env_t * ops.sin(omega_t * t)
    cf = env_f * ops.cos(omega_f * f)
    sf = env_f * ops.sin(omega_f * f)
    return ct, st, cf, sf


def gabor_kernels(sigma_t, sigma_f, frequency, orientation, kernel_size, grid_kind="centered"):
    """Real and imaginary kernels, each of shape (K_t, K_f, filters)."""
    ct, st, cf, sf = separable_factors(sigma_t, sigma_f, frequency, orientation,
                                       kernel_size, grid_kind)
    ct, st = ct[:, None, :], st[:, None, :]
    cf, sf = cf[None, :, :], sf[None, :, :]
    return ct * cf - st * sf, st * cf + ct * sf


def gabor_kernels_np(sigma_t, sigma_f, frequency, orientation, kernel_size, grid="centered"):
    """:func:`gabor_kernels` as NumPy float32 arrays (for plots and reports)."""
    real, imag = gabor_kernels(*(np.asarray(p, dtype="float32") for p in
                                 (sigma_t, sigma_f, frequency, orientation)),
                               kernel_size, grid)
    return ops.convert_to_numpy(real), ops.convert_to_numpy(imag)


# --- 'same' correlation operators -------------------------------------------
# Keras and PyTorch convolutions are cross-correlations with 'same' padding
# placing (K-1)//2 zeros before the signal. The helpers below express the same
# operation as a matrix (for the short mel axis) or a spectrum (for the long
# time axis), so the implementations agree with ``keras.ops.conv`` exactly.


def same_correlation_matrix(taps, length: int):
    """Banded Toeplitz matrices of a 'same' cross-correlation.

    ``taps`` has shape (K, filters); returns (filters, length, length) ``T`` with
    ``y = T @ x`` equal to correlating ``x`` (length,) with the taps.
    """
    k = int(taps.shape[0])
    before = (k - 1) // 2
    n = np.arange(length)[:, None]
    m = np.arange(length)[None, :]
    idx = m - n + before                       # which tap links output n to input m
    valid = (idx >= 0) & (idx < k)
    idx = np.where(valid, idx, 0).astype("int32")
    mats = ops.take(ops.transpose(taps), ops.convert_to_tensor(idx), axis=1)  # (filters, L, L)
    return mats * ops.convert_to_tensor(valid.astype("float32"))


def dft_phase(k: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """cos/sin tables (k, n_fft//2+1) mapping 'same'-correlation taps to a spectrum.

    A kernel placed so that circular convolution with a zero-padded signal
    gives the 'same' correlation directly has spectrum
    ``H(w) = sum_i g[i] exp(-i w (before - i))``; these are its cos and sin terms.
    """
    before = (k - 1) // 2
    w = 2.0 * np.pi * np.arange(n_fft // 2 + 1) / n_fft
    phase = -np.outer(before - np.arange(k), w)
    return np.cos(phase).astype("float32"), np.sin(phase).astype("float32")


def fast_fft_length(n: int) -> int:
    """Smallest length >= n whose only prime factors are 2, 3 and 5."""
    m = n
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1
