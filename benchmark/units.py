"""Unit conversions for Gabor parameters, in NumPy only.

Grid units (frames, mel bands, radians per grid unit) to what people read:
temporal modulation in Hz, spectral modulation in cycles/octave, sweep
direction. The report and the plots import this module, never Keras.

The Slaney mel scale is linear below 1 kHz and logarithmic above, so the
number of mel bands per octave depends on where on the mel axis a filter sits:
about 14.5 for 64 bands on 0-8 kHz above 1 kHz, and falling towards low
frequencies (half as many at 500 Hz as at 1 kHz). :func:`band_bins_per_octave`
gives the local value at every band.
"""

from __future__ import annotations

import numpy as np

_F_SP = 200.0 / 3                     # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0                  # where the scale turns logarithmic
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(f):
    """Slaney's mel scale (librosa's htk=False): linear below 1 kHz, log above."""
    f = np.asarray(f, dtype=np.float64)
    lin = f / _F_SP
    with np.errstate(divide="ignore"):
        log = _MIN_LOG_MEL + np.log(np.maximum(f, 1e-300) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(f >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= _MIN_LOG_MEL, _MIN_LOG_HZ * np.exp(_LOGSTEP * (m - _MIN_LOG_MEL)), _F_SP * m)


def mel_edges_hz(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """The n_mels + 2 band edges (Hz), equally spaced in mel."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))


def mel_center_hz(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Centre frequency of each mel band (Hz)."""
    return mel_edges_hz(n_mels, fmin, fmax)[1:-1]


def bins_per_octave_at(n_mels: int, fmin: float, fmax: float, at_hz) -> np.ndarray | float:
    """Local density of mel bands per octave at ``at_hz`` (scalar or array).

    The bands are equally spaced in mel, so bands/octave = (d mel / d log2 f) /
    (mel spacing between bands).
    """
    at = np.asarray(at_hz, dtype=np.float64)
    if np.any(at <= 0):
        raise ValueError(f"frequency must be positive, got {at_hz}")
    spacing = (hz_to_mel(fmax) - hz_to_mel(fmin)) / (n_mels + 1)
    dmel_dlog2f = np.where(at >= _MIN_LOG_HZ, np.log(2) / _LOGSTEP, at * np.log(2) / _F_SP)
    out = dmel_dlog2f / spacing
    return float(out) if out.ndim == 0 else out


def band_bins_per_octave(n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Mel bands per octave at the centre of every band, shape (n_mels,)."""
    return bins_per_octave_at(n_mels, fmin, fmax, np.maximum(mel_center_hz(n_mels, fmin, fmax), 1e-3))


def mel_bins_per_octave(n_mels: int, fmin: float, fmax: float, at_hz: float | None = None) -> float:
    """Mel bands per octave of a Slaney scale with ``n_mels`` bands on [fmin, fmax].

    At ``at_hz`` if given; otherwise in the logarithmic part of the scale (at
    2 kHz, or fmin if higher), or at the middle of the range when all of it is
    below 1 kHz. This one value is exact above 1 kHz and overstates the density
    below it: use :func:`band_bins_per_octave` for a filter's own band.
    """
    if at_hz is None:
        at_hz = max(2000.0, fmin) if fmax > _MIN_LOG_HZ else (fmin + fmax) / 2
    return float(bins_per_octave_at(n_mels, fmin, fmax, at_hz))


def modulations(params: dict, frame_rate_hz: float, mel_bins_per_octave,
                spacing: tuple[float, float] = (1.0, 1.0)) -> dict[str, np.ndarray]:
    """Convert Gabor parameters to units people read.

    Returns ``temporal_hz`` (|ω_t|/(2π) × frame rate), ``spectral_cyc_per_oct``
    (|Ω_f|/(2π) × mel bands per octave, a scalar or one value per filter), and
    ``direction``: +1 for upward sweeps (frequency rising with time), -1
    downward, 0 when either modulation is (numerically) zero. ``spacing`` is the
    distance between neighbouring kernel taps in grid units, (time, frequency):
    1 for the centred grid, K/(K-1) for the reference grid
    (:func:`benchmark.kernels.grid_spacing`). One tap is one frame (one band) and
    the carrier advances F·cos γ per grid unit, so it advances F·cos γ · spacing
    per frame: the spacing multiplies.
    """
    freq = np.asarray(params["frequency"], dtype="float64")
    gamma = np.asarray(params["orientation"], dtype="float64")
    omega_t = freq * np.cos(gamma) * spacing[0]     # rad per frame
    omega_f = freq * np.sin(gamma) * spacing[1]     # rad per mel band
    # Lines of constant phase satisfy ω_t t + Ω_f f = c, i.e. df/dt = -ω_t/Ω_f.
    prod = -omega_t * omega_f
    direction = np.where(np.abs(prod) < 1e-9, 0, np.sign(prod)).astype(int)
    return {
        "temporal_hz": np.abs(omega_t) / (2 * np.pi) * frame_rate_hz,
        "spectral_cyc_per_oct": np.abs(omega_f) / (2 * np.pi) * np.asarray(mel_bins_per_octave,
                                                                             dtype="float64"),
        "direction": direction,
    }


def params_from_modulations(temporal_hz, spectral_cyc_per_oct, direction, frame_rate_hz: float,
                            mel_bins_per_octave) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`modulations` on the centred grid: (frequency, orientation)."""
    omega_t = 2 * np.pi * np.asarray(temporal_hz, dtype="float64") / frame_rate_hz
    omega_f = 2 * np.pi * np.asarray(spectral_cyc_per_oct, dtype="float64") / np.asarray(
        mel_bins_per_octave, dtype="float64")
    # Upward sweeps need ω_t·Ω_f < 0: give the spectral component the opposite sign.
    omega_f = np.where(np.asarray(direction) > 0, -omega_f, omega_f)
    return np.hypot(omega_t, omega_f), np.arctan2(omega_f, omega_t)
