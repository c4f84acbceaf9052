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
INITS = ("reference", "physical", "low")
# ``low``: the physical draw with every modulation LOW_FACTOR times lower (at most
# 25/4 Hz and 3.6/4 cycles/octave) and envelopes the kernel resolves (σ from 1.25
# grid units to K - 1): filters that start in the low-modulation corner, at least
# 1 log2 unit from any point the calibration twins plant, read on both axes.
LOW_FACTOR = 4.0
LOW_SIGMA_MIN = 1.25   # >= one tap on either grid for K >= 5 (reference spacing K/(K-1))

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
    ``low``: ``physical`` with F divided by :data:`LOW_FACTOR` and σ held where
    the kernel resolves it (the calibration task's start, far from its planted
    points).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, received init={init!r}")
    params = reference_init(filters, rng)
    if init in ("physical", "low"):
        if frame_rate_hz is None or bins_per_octave is None:
            raise ValueError(f"init={init!r} needs frame_rate_hz and bins_per_octave "
                             f"(received frame_rate_hz={frame_rate_hz!r}, "
                             f"bins_per_octave={bins_per_octave!r})")
        params = rescale_setting(params, frame_rate_hz, bins_per_octave)
        if init == "low":
            params["frequency"] = params["frequency"] / LOW_FACTOR
            for name, k in (("sigma_t", kernel_size[0]), ("sigma_f", kernel_size[1])):
                params[name] = np.clip(params[name], LOW_SIGMA_MIN, max(LOW_SIGMA_MIN, k - 1.0))
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


# ---------------------------------------------------------------- modulation transfer of built kernels

def kernel_transfer(real: np.ndarray, imag: np.ndarray, pad: tuple[int, int] = (256, 128)):
    """|2-D DFT| of complex kernels (K_t, K_f, filters), zero-padded to ``pad``.

    Returns ``(magnitude, nu_t, nu_f)``: magnitude of shape (N_t, N_f, filters),
    and the signed modulation frequencies of its rows and columns in cycles per
    tap. With NumPy's sign convention a kernel exp(i(ω_t t + Ω_f f)) peaks at
    (ω_t, Ω_f)/(2π).
    """
    g = np.asarray(real, dtype="float64") + 1j * np.asarray(imag, dtype="float64")
    n_t, n_f = max(int(pad[0]), g.shape[0]), max(int(pad[1]), g.shape[1])
    mag = np.abs(np.fft.fft2(g, s=(n_t, n_f), axes=(0, 1)))
    return mag, np.fft.fftfreq(n_t), np.fft.fftfreq(n_f)


def _half_power_width(line: np.ndarray, peak: int) -> int:
    """Bins around ``peak`` (wrapping) where ``line`` (a power) stays >= half its peak."""
    half, n = line[peak] / 2, line.size
    width = 1
    for step in (1, -1):
        i = 1
        while i < n and line[(peak + step * i) % n] >= half and width < n:
            width += 1
            i += 1
    return width


def _vertex(a, b, c):
    """Offset (in bins, within ±0.5) of the vertex of the parabola through (-1, a), (0, b), (1, c)."""
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    return np.clip(np.nan_to_num(off), -0.5, 0.5)


def kernel_modulation(params: dict, kernel_size: tuple[int, int], frame_rate_hz: float,
                      bins_per_octave, grid_kind: str = "centered",
                      pad: tuple[int, int] = (256, 128)) -> dict[str, np.ndarray]:
    """Where each filter sits in modulation space, read from its built kernel.

    A filter's place is the peak of the magnitude of the 2-D DFT of the complex
    kernel the layer convolves with (zero-padded for a fine read-out), not its
    parameters: the kernel is what the input meets, sampled on the kernel's taps,
    truncated by its size, and the envelope pulls the peak of a short filter
    towards zero modulation. One tap is one frame in time and one mel band in
    frequency, so cycles per tap × ``frame_rate_hz`` is Hz and × ``bins_per_octave``
    (a scalar, or one value per filter: the density at the band where it sits) is
    cycles/octave.

    Returns float arrays (one value per filter): ``temporal_hz``,
    ``spectral_cyc_per_oct`` (the peak), ``direction`` (+1 upward: frequency rising
    with time, -1 downward, 0 when the peak lies on an axis), the half-power
    bandwidths ``temporal_bw_hz`` and ``spectral_bw_cyc_per_oct`` along each axis
    through the peak, and booleans ``resolved_t``, ``resolved_f``: an axis is
    unresolved when the envelope is narrower than one tap (σ < 1 tap: the kernel
    holds one row or column of the carrier, and its modulation on that axis is
    not defined) or wider than the kernel (σ > K taps: the kernel's edges, not the
    filter, set its bandwidth). Analyses leave unresolved axes out of distances.
    """
    p = {k: np.asarray(params[k], dtype="float64").reshape(-1)
         for k in ("sigma_t", "sigma_f", "frequency", "orientation")}
    k_t, k_f = (int(k) for k in kernel_size)
    re, im = gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                              (k_t, k_f), grid=grid_kind)
    mag, nu_t, nu_f = kernel_transfer(re, im, pad)
    n = mag.shape[-1]
    flat = mag.reshape(-1, n).argmax(axis=0)
    i_t, i_f = np.unravel_index(flat, mag.shape[:2])
    # A Gaussian envelope's spectrum is a parabola in log magnitude: three bins
    # around the peak place it between bins.
    cols = np.arange(n)
    pk_t = nu_t[i_t] + _vertex(np.log(mag[(i_t - 1) % mag.shape[0], i_f, cols] + 1e-300),
                                np.log(mag[i_t, i_f, cols] + 1e-300),
                                np.log(mag[(i_t + 1) % mag.shape[0], i_f, cols] + 1e-300)) / mag.shape[0]
    pk_f = nu_f[i_f] + _vertex(np.log(mag[i_t, (i_f - 1) % mag.shape[1], cols] + 1e-300),
                                np.log(mag[i_t, i_f, cols] + 1e-300),
                                np.log(mag[i_t, (i_f + 1) % mag.shape[1], cols] + 1e-300)) / mag.shape[1]
    power = mag ** 2
    bw_t = np.array([_half_power_width(power[:, i_f[k], k], i_t[k]) for k in range(n)]) / mag.shape[0]
    bw_f = np.array([_half_power_width(power[i_t[k], :, k], i_f[k]) for k in range(n)]) / mag.shape[1]
    bpo = np.broadcast_to(np.asarray(bins_per_octave, dtype="float64"), (n,))
    # Lines of constant phase satisfy ν_t t + ν_f f = c, i.e. df/dt = -ν_t/ν_f.
    prod = -pk_t * pk_f
    sig_t = (p["sigma_t"] + EPS) / grid_spacing(k_t, grid_kind)   # envelope widths in taps
    sig_f = (p["sigma_f"] + EPS) / grid_spacing(k_f, grid_kind)
    return {
        "temporal_hz": np.abs(pk_t) * float(frame_rate_hz),
        "spectral_cyc_per_oct": np.abs(pk_f) * bpo,
        "direction": np.where(prod == 0, 0.0, np.sign(prod)),
        "temporal_bw_hz": bw_t * float(frame_rate_hz),
        "spectral_bw_cyc_per_oct": bw_f * bpo,
        "resolved_t": (sig_t >= 1.0) & (sig_t <= k_t),
        "resolved_f": (sig_f >= 1.0) & (sig_f <= k_f),
    }


def bank_transfer(params: dict, kernel_size: tuple[int, int], grid_kind: str = "centered",
                  pad: tuple[int, int] = (256, 128)):
    """What a bank passes across modulation space, read from its built kernels.

    Each filter's |2-D DFT| divided by its own peak (so every filter counts once,
    whatever its envelope), averaged over the filters. Returns ``(bank, nu_t, nu_f)``:
    ``bank`` of shape (N_t, N_f) in [0, 1], with the signed frequencies (cycles per
    tap) of its rows and columns, as :func:`kernel_transfer`.
    """
    p = {k: np.asarray(params[k], dtype="float64").reshape(-1)
         for k in ("sigma_t", "sigma_f", "frequency", "orientation")}
    re, im = gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                              tuple(int(k) for k in kernel_size), grid=grid_kind)
    mag, nu_t, nu_f = kernel_transfer(re, im, pad)
    peak = mag.reshape(-1, mag.shape[-1]).max(axis=0)
    return (mag / np.maximum(peak, 1e-300)).mean(axis=-1), nu_t, nu_f


def transfer_at(bank: np.ndarray, nu_t: np.ndarray, nu_f: np.ndarray, temporal_cyc_per_tap,
                spectral_cyc_per_tap, direction) -> np.ndarray:
    """The bank's transfer at moving ripples (one value per ripple), nearest DFT bin.

    A real ripple of rate ν_t and scale ν_f (cycles per tap) sweeping upward
    (direction +1: frequency rising with time) holds its energy at ±(ν_t, -ν_f),
    downward at ±(ν_t, ν_f): a complex filter meets one of the pair, so the
    bank's transfer at the ripple is the sum over both. Direction 0 (no sweep, the
    sum of an upward and a downward ripple) is the mean of the two directions.
    """
    vt = np.abs(np.asarray(temporal_cyc_per_tap, dtype="float64")).reshape(-1)
    vf = np.abs(np.asarray(spectral_cyc_per_tap, dtype="float64")).reshape(-1)
    d = np.asarray(direction, dtype="float64").reshape(-1)
    n_t, n_f = bank.shape

    def at(sign_f):
        total = 0.0
        for s in (1.0, -1.0):
            i = np.rint(s * vt * n_t).astype(int) % n_t
            j = np.rint(-s * sign_f * vf * n_f).astype(int) % n_f
            total = total + bank[i, j]
        return total

    up, down = at(1.0), at(-1.0)
    return np.where(d > 0, up, np.where(d < 0, down, 0.5 * (up + down)))
