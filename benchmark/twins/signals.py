"""Signal building blocks and writers shared by the synthetic twins.

Everything takes an explicit ``numpy.random.Generator`` so a twin is a pure
function of its seed. Carriers are sums of sinusoids whose instantaneous
frequencies follow a trajectory, so one primitive gives harmonic stacks, band
noise, sweeps and vibrato; classes are then told apart by *how* carriers move
in time (modulation rate, sweep direction, onsets, durations) rather than by
which frequencies they hold.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.io import wavfile
from scipy.signal import fftconvolve

from benchmark.io import write_json
from benchmark.twins import PLANTED


def rng_for(seed: int, *keys) -> np.random.Generator:
    """An independent generator for (seed, keys): order of generation never matters."""
    digest = hashlib.sha256(repr((int(seed),) + tuple(keys)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


# --- carriers -----------------------------------------------------------------

def partials(freq: np.ndarray, sr: int, ratios, amps, rng: np.random.Generator,
             fmax: float | None = None) -> np.ndarray:
    """Sum of sinusoids at ``ratio * freq(t)``; partials above ``fmax`` are muted per sample.

    ``amps`` is one value per partial or an array (partials, samples).
    """
    freq = np.asarray(freq, dtype=np.float64)
    fmax = min(fmax or sr, 0.45 * sr)
    phase0 = 2 * np.pi * np.cumsum(freq) / sr
    out = np.zeros_like(freq)
    for i, r in enumerate(ratios):
        a = amps[i]
        inst = r * freq
        if inst.min() >= fmax:
            continue
        # A soft edge at fmax avoids clicks when a sweep crosses it.
        gate = np.clip((fmax - inst) / (0.05 * fmax), 0.0, 1.0)
        out += a * gate * np.sin(r * phase0 + rng.uniform(0, 2 * np.pi))
    return out


def harmonic(f0: np.ndarray, sr: int, rng: np.random.Generator, rolloff: float = 1.0,
             fmax: float | None = None, amps_fn=None) -> np.ndarray:
    """A harmonic stack on the f0 trajectory, amplitude k^-rolloff (or ``amps_fn(k, freq)``)."""
    fmax = min(fmax or sr, 0.45 * sr)
    n = max(1, int(fmax / max(float(np.min(f0)), 1.0)))
    ks = np.arange(1, n + 1)
    amps = [amps_fn(k, k * f0) if amps_fn else k ** -rolloff for k in ks]
    return partials(f0, sr, ks, amps, rng, fmax)


def band_noise(fc: np.ndarray, sr: int, rng: np.random.Generator, width_oct: float = 1.0,
               n: int | None = None, fmax: float | None = None) -> np.ndarray:
    """Noise-like band around the trajectory ``fc(t)``: many inharmonic partials."""
    n = n or int(32 * max(1.0, width_oct))  # keep the band dense however wide it is
    ratios = 2.0 ** rng.uniform(-width_oct / 2, width_oct / 2, n)
    amps = rng.uniform(0.5, 1.0, n) / np.sqrt(n)
    return partials(fc, sr, ratios, amps, rng, fmax)


# --- envelopes ----------------------------------------------------------------

def times(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def am(n: int, sr: int, rate: float, depth: float, rng: np.random.Generator) -> np.ndarray:
    """Sinusoidal amplitude modulation at ``rate`` Hz, in [1-depth, 1]."""
    return 1 - depth * 0.5 * (1 + np.sin(2 * np.pi * rate * times(n, sr) + rng.uniform(0, 2 * np.pi)))


def pulses(n: int, sr: int, onsets, attack: float, decay: float) -> np.ndarray:
    """Sum of percussive envelopes (linear attack, exponential decay) at ``onsets`` seconds."""
    env = np.zeros(n)
    length = int((attack + 6 * decay) * sr)
    t = np.arange(length) / sr
    shape = np.where(t < attack, t / max(attack, 1e-6), np.exp(-(t - attack) / decay))
    for onset in onsets:
        i = int(onset * sr)
        if 0 <= i < n:
            m = min(length, n - i)
            env[i:i + m] = np.maximum(env[i:i + m], shape[:m])
    return env


def gate(n: int, sr: int, spans, ramp: float = 0.01) -> np.ndarray:
    """1 inside each (start, end) span in seconds, 0 outside, with short linear ramps."""
    t = times(n, sr)
    env = np.zeros(n)
    for s, e in spans:
        env = np.maximum(env, np.clip(np.minimum(t - s, e - t) / ramp, 0.0, 1.0))
    return env


def hann_window(n: int) -> np.ndarray:
    return np.hanning(n) if n > 1 else np.ones(max(n, 0))


# --- mixing and rooms -----------------------------------------------------------

def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float, ref: float | None = None) -> np.ndarray:
    """Add ``noise`` scaled to ``snr_db`` below ``ref`` (default: the rms of ``x``)."""
    ref = rms(x) if ref is None else ref
    return x + noise * (ref / rms(noise)) * 10 ** (-snr_db / 20)


def reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator,
           direct: float = 0.5) -> np.ndarray:
    """Convolve with an exponentially decaying noise tail (a diffuse room)."""
    t = np.arange(int(rt60 * sr)) / sr
    rir = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60)
    rir *= np.sqrt((1 - direct) / np.sum(rir ** 2))
    rir[0] += np.sqrt(direct)
    return fftconvolve(x, rir)[: len(x)]


def normalize(x: np.ndarray, peak: float) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / m) if m > 0 else x


# --- writers --------------------------------------------------------------------

def write_wav(path: Path, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write a WAV (mono (n,) or (n, channels)); values are clipped to [-1, 1)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.clip(np.asarray(x, dtype=np.float64), -1.0, 0.999)
    if subtype == "FLOAT":
        # libsndfile stamps float WAVs with the time of writing (PEAK chunk); scipy does
        # not, which keeps twins byte-identical per seed.
        wavfile.write(str(path), sr, x.astype(np.float32))
    else:
        sf.write(str(path), x, sr, subtype=subtype, format="WAV")


def write_lines(path: Path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


# --- the planted truth ------------------------------------------------------------

def modulation(temporal_hz: float, spectral_cyc_per_oct: float, direction: int, what: str) -> dict:
    """One planted modulation: rate (Hz), scale (cycles/octave), sweep direction, and what it is.

    direction: 1 for an upward sweep, -1 downward, 0 for none.
    """
    if direction not in (-1, 0, 1):
        raise ValueError(f"direction must be -1, 0 or 1, not {direction!r}")
    return {"temporal_hz": round(float(abs(temporal_hz)), 3),
            "spectral_cyc_per_oct": round(float(abs(spectral_cyc_per_oct)), 3),
            "direction": int(direction), "what": what}


def sweep(octaves_per_s: float, what: str) -> dict:
    """A sweep at ``octaves_per_s`` as the (temporal, spectral) pair a Gabor filter would match.

    A straight line in (time, log-frequency) with slope r oct/s is what a
    filter of rate w Hz and scale W cyc/oct with w / W = r responds to best; we
    quote it at 1 cycle/octave, i.e. temporal rate = |r| Hz.
    """
    return modulation(abs(octaves_per_s), 1.0, int(np.sign(octaves_per_s)),
                      f"{what} (a sweep: temporal Hz = octaves per second at 1 cyc/oct)")


def average_planted(per_clip: list[list[dict]]) -> list[dict]:
    """Mean of each listed modulation over a class's clips (their lists align by construction).

    The ``what`` texts must not carry per-clip numbers: the first clip's is kept.
    """
    out = []
    for entries in zip(*per_clip):
        out.append(modulation(np.mean([e["temporal_hz"] for e in entries]),
                              np.mean([e["spectral_cyc_per_oct"] for e in entries]),
                              entries[0]["direction"], entries[0]["what"]))
    return out


def write_planted(root: Path, dataset: str, note: str, classes: dict) -> None:
    """Write ``PLANTED_MODULATIONS.json``: for every class, the modulations that carry its evidence."""
    write_json(Path(root) / PLANTED, {"dataset": dataset, "note": note,
                                      "classes": {str(k): list(v) for k, v in classes.items()}})
