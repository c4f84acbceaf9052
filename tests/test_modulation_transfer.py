"""Modulation read from the built kernels, against the unit conversion (NumPy only).

The conversion from parameters to Hz and cycles/octave must say what the kernel
the layer convolves with actually does: the phase advance per tap of the built
kernel is measured and compared, for both grids and several kernel sizes.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmark import kernels as K
from benchmark import units

FRAME_RATE = 50.0
BPO = 7.3
SIZES = [(9, 5), (15, 7), (31, 9), (111, 9)]


def _conversion(params, size, grid):
    spacing = (K.grid_spacing(size[0], grid), K.grid_spacing(size[1], grid))
    return units.modulations(params, FRAME_RATE, BPO, spacing=spacing)


def _complex_kernel(params, size, grid):
    re, im = K.gabor_kernels_np(params["sigma_t"], params["sigma_f"], params["frequency"],
                                params["orientation"], size, grid=grid)
    return re.astype("float64") + 1j * im.astype("float64")


@pytest.mark.parametrize("grid", K.GRIDS)
@pytest.mark.parametrize("size", SIZES)
def test_phase_advance_per_tap_matches_the_conversion(grid, size):
    # F = 1 along time (γ = 0), then along frequency (γ = π/2); wide envelopes.
    params = {"sigma_t": np.array([4.0, 4.0]), "sigma_f": np.array([4.0, 4.0]),
              "frequency": np.array([1.0, 1.0]), "orientation": np.array([0.0, np.pi / 2])}
    g = _complex_kernel(params, size, grid)
    c_t, c_f = size[0] // 2, size[1] // 2
    adv_t = np.angle(g[c_t + 1, c_f, 0] / g[c_t, c_f, 0])     # rad per frame (one tap)
    adv_f = np.angle(g[c_t, c_f + 1, 1] / g[c_t, c_f, 1])     # rad per mel band
    m = _conversion(params, size, grid)
    assert m["temporal_hz"][0] / FRAME_RATE * 2 * np.pi == pytest.approx(adv_t, rel=1e-5)
    assert m["spectral_cyc_per_oct"][1] / BPO * 2 * np.pi == pytest.approx(adv_f, rel=1e-5)
    if grid == "reference":
        # The reference grid's taps are K/(K-1) grid units apart: the carrier advances
        # more than F per tap (a 9-band kernel with F = 1: 1.125 rad per band).
        assert adv_f == pytest.approx(size[1] / (size[1] - 1), rel=1e-5)


@pytest.mark.parametrize("grid", K.GRIDS)
@pytest.mark.parametrize("size", SIZES)
def test_dft_peak_of_the_kernel_matches_the_conversion(grid, size):
    rng = np.random.default_rng(sum(size))
    n = 12
    params = {"sigma_t": rng.uniform(2.5, size[0] / 2, n), "sigma_f": rng.uniform(1.5, size[1] / 1.5, n),
              "frequency": rng.uniform(0.6, 2.0, n), "orientation": rng.uniform(-np.pi, np.pi, n)}
    # Keep both components clear of zero and of Nyquist (where the peak is truncated).
    wt, wf = params["frequency"] * np.cos(params["orientation"]), params["frequency"] * np.sin(params["orientation"])
    keep = (np.abs(wt) > 0.4) & (np.abs(wf) > 0.4) & (np.abs(wt) < 2.6) & (np.abs(wf) < 2.6)
    params = {k: v[keep] for k, v in params.items()}
    got = K.kernel_modulation(params, size, FRAME_RATE, BPO, grid)
    want = _conversion(params, size, grid)
    assert got["resolved_t"].all() and got["resolved_f"].all()
    np.testing.assert_allclose(got["temporal_hz"], want["temporal_hz"], rtol=0.03)
    np.testing.assert_allclose(got["spectral_cyc_per_oct"], want["spectral_cyc_per_oct"], rtol=0.03)
    np.testing.assert_array_equal(got["direction"], want["direction"])


def test_unresolved_axes_and_bandwidth():
    # σ_t below one frame: one row of carrier; σ_f wider than the 7-band kernel.
    params = {"sigma_t": np.array([0.5, 3.0, 6.0]), "sigma_f": np.array([2.0, 20.0, 2.0]),
              "frequency": np.array([1.0, 1.0, 1.0]), "orientation": np.array([0.5, 0.5, 0.5])}
    m = K.kernel_modulation(params, (15, 7), FRAME_RATE, BPO)
    np.testing.assert_array_equal(m["resolved_t"], [False, True, True])
    np.testing.assert_array_equal(m["resolved_f"], [True, False, True])
    # A longer envelope is a narrower band: half-power width ~ 0.1325 / σ cycles per tap.
    assert m["temporal_bw_hz"][2] < m["temporal_bw_hz"][1] < m["temporal_bw_hz"][0]
    # Untruncated (a long kernel), a Gaussian of σ taps has half-power full width
    # sqrt(ln 2)/(π σ) cycles per tap.
    wide = K.kernel_modulation(params, (61, 7), FRAME_RATE, BPO)
    assert wide["temporal_bw_hz"][2] == pytest.approx(np.sqrt(np.log(2)) / (np.pi * 6.0) * FRAME_RATE,
                                                      rel=0.1)


def test_per_filter_bands_per_octave():
    params = {"sigma_t": np.array([3.0, 3.0]), "sigma_f": np.array([2.0, 2.0]),
              "frequency": np.array([1.0, 1.0]), "orientation": np.array([1.0, 1.0])}
    m = K.kernel_modulation(params, (15, 7), FRAME_RATE, np.array([7.3, 3.65]))
    assert m["spectral_cyc_per_oct"][1] == pytest.approx(m["spectral_cyc_per_oct"][0] / 2)


def test_bank_transfer_at_a_ripple_follows_the_kernels_direction():
    # One filter whose kernel reads as an upward 6 Hz, 2 cyc/oct ripple (50 frames/s, 11
    # bands/octave): the bank passes that ripple near its peak, its mirror image (the
    # downward one) far less, and a frozen comparison (same bank) changes nothing.
    fr, bpo = 50.0, 11.0
    want_t, want_f = 2 * np.pi * 6.0 / fr, 2 * np.pi * 2.0 / bpo     # rad per tap
    freq = np.hypot(want_t, want_f)
    params = {"sigma_t": np.array([3.0]), "sigma_f": np.array([2.0]), "frequency": np.array([freq]),
              "orientation": np.array([-np.arctan2(want_f, want_t)])}
    m = K.kernel_modulation(params, (15, 7), fr, bpo)
    assert m["direction"][0] == 1
    bank, nu_t, nu_f = K.bank_transfer(params, (15, 7))
    assert bank.max() == pytest.approx(1.0)
    up, down, flat = K.transfer_at(bank, nu_t, nu_f, [6.0 / fr] * 3, [2.0 / bpo] * 3, [1, -1, 0])
    assert up > 0.8 and down < 0.5 * up
    assert flat == pytest.approx(0.5 * (up + down))
