"""UrbanSound8K twin: the real CSV and fold folders, mixed WAV formats.

Each class is a temporal pattern (AM rate, impulse rate, onsets, sweeps, pitch
steps) applied to a carrier drawn at random for every clip from one shared pool
(band noise or harmonic stack, random centre), so the long-term spectrum says
little about the class while the spectro-temporal pattern says a lot. Pairs
such as drilling/engine_idling (AM rate) and jackhammer/gun_shot (impulse
rate) share their spectra by construction.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from benchmark.twins import signals as S

CLASSES = ("air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
           "engine_idling", "gun_shot", "jackhammer", "siren", "street_music")
# (sample rate, soundfile subtype, channels), cycled over clips: every class gets every format.
FORMATS = ((44100, "PCM_16", 2), (22050, "PCM_U8", 1), (16000, "FLOAT", 1), (48000, "PCM_24", 2),
           (8000, "PCM_16", 1), (11025, "PCM_24", 1), (16000, "PCM_16", 2), (32000, "FLOAT", 2))
SIZES = {  # clips per class, clip seconds (lo, hi), slices per source recording
    "tiny": dict(per_class=3, duration=(0.5, 0.75), per_source=1),  # 3 consecutive folds a class
    "demo": dict(per_class=150, duration=(1.0, 2.0), per_source=3),  # 150 test clips a fold
}
NOTE = ("classes differ in temporal pattern (AM rate, impulse rate, onsets, sweeps, pitch steps) "
        "applied to carriers drawn from one shared pool")
FMAX = 3800.0  # all content under 8 kHz-rate Nyquist, so every format can hold every class


def _air_conditioner(n, sr, d, t, flat, rng, log):
    """Steady, barely fluctuating."""
    rate = rng.uniform(0.2, 0.5)
    log.append(S.modulation(rate, 0, 0, "slow shallow AM (5 %): near-stationary"))
    return 1 + 0.05 * np.sin(2 * np.pi * rate * t), flat


def _car_horn(n, sr, d, t, flat, rng, log):
    """One or two long blasts with abrupt edges."""
    k = int(rng.integers(1, 3))
    length = rng.uniform(0.25, 0.45) * d
    starts = np.sort(rng.uniform(0, d - length, k))
    log.append(S.modulation(1 / (2 * length), 0, 0, "long blast with abrupt edges, one hump"))
    return S.gate(n, sr, [(s, s + length) for s in starts], ramp=0.005), flat


def _children_playing(n, sr, d, t, flat, rng, log):
    """Syllable-rate AM with pitch glides."""
    rate = rng.uniform(3.5, 6.0)
    phase = rng.uniform(0, 1)
    env = np.clip(np.sin(np.pi * (rate * t + phase)), 0, None) ** 0.7
    seg = np.floor(rate * t + phase)
    slope = np.where(seg % 2 == 0, 0.5, -0.5) * rng.choice([-1, 1])
    # |sin| clipped to its positive half: one syllable every 2/rate s; glides of 0.5 octave
    # over each 1/rate-long half period.
    log += [S.modulation(rate / 2, 0, 0, "syllable-rate AM"), S.sweep(0.5 * rate, "rising glides"),
            S.sweep(-0.5 * rate, "falling glides")]
    return env, slope * (rate * t + phase - seg - 0.5)


def _dog_bark(n, sr, d, t, flat, rng, log):
    """A few short bursts, each falling in pitch."""
    onsets = np.sort(rng.uniform(0, max(d - 0.2, 0.05), int(rng.integers(2, 4))))
    length = rng.uniform(0.08, 0.15)
    log += [S.modulation(1 / (2 * length), 0, 0, "short bursts"),
            S.sweep(-0.8 / length, "falling pitch within each bark")]
    env = S.gate(n, sr, [(o, o + length) for o in onsets], ramp=0.01)
    fm = np.zeros(n)
    for o in onsets:
        inside = (t >= o) & (t < o + length)
        fm[inside] = 0.3 - 0.8 * (t[inside] - o) / length
    return env, fm


def _drilling(n, sr, d, t, flat, rng, log):
    """Fast sinusoidal AM."""
    rate = rng.uniform(18, 24)
    log.append(S.modulation(rate, 0, 0, "fast sinusoidal AM"))
    return S.am(n, sr, rate, 0.9, rng), flat


def _engine_idling(n, sr, d, t, flat, rng, log):
    """Slower sinusoidal AM, same spectrum as drilling."""
    rate = rng.uniform(7, 11)
    log.append(S.modulation(rate, 0, 0, "sinusoidal AM"))
    return S.am(n, sr, rate, 0.8, rng), flat


def _gun_shot(n, sr, d, t, flat, rng, log):
    """One or two sharp onsets with long decays."""
    onsets = rng.uniform(0, 0.6 * d, int(rng.integers(1, 3)))
    decay = rng.uniform(0.06, 0.12)
    log.append(S.modulation(1 / (2 * np.pi * decay), 0, 0, "sharp onset, exponential decay"))
    return S.pulses(n, sr, onsets, 0.002, decay), flat


def _jackhammer(n, sr, d, t, flat, rng, log):
    """A fast train of sharp impulses."""
    rate = rng.uniform(10, 14)
    log.append(S.modulation(rate, 0, 0, "impulse train rate"))
    onsets = np.arange(rng.uniform(0, 1 / rate), d, 1 / rate)
    return S.pulses(n, sr, onsets, 0.002, 0.015), flat


def _siren(n, sr, d, t, flat, rng, log):
    """Slow sinusoidal frequency modulation, steady level."""
    rate = rng.uniform(0.8, 2.0)
    # 0.4 octave sinusoidal FM: slope peaks at 2*pi*rate*0.4 oct/s, both ways.
    log += [S.modulation(rate, 0, 0, "FM (siren) rate"),
            S.sweep(0.8 * np.pi * rate, "rising FM, peak slope"),
            S.sweep(-0.8 * np.pi * rate, "falling FM, peak slope")]
    return np.ones(n), 0.4 * np.sin(2 * np.pi * rate * t + rng.uniform(0, 6.3))


def _street_music(n, sr, d, t, flat, rng, log):
    """Notes: pitch steps with percussive onsets."""
    rate = rng.uniform(3, 5)
    log.append(S.modulation(rate, 0, 0, "note rate (percussive onsets, pitch steps)"))
    onsets = np.arange(rng.uniform(0, 1 / rate), d, 1 / rate)
    steps = rng.choice([-7, -5, -3, 0, 2, 4, 7], len(onsets)) / 12.0
    fm = np.zeros(n)
    for o, s in zip(onsets, steps):
        fm[t >= o] = s
    return S.pulses(n, sr, onsets, 0.005, 0.15) + 0.05, fm


# Each class's pattern: (n samples, sample rate, duration s, times, a flat trajectory, the
# clip's generator, the planted-modulation log) -> (envelope, log2 frequency multiplier).
_PATTERNS = {
    "air_conditioner": _air_conditioner,
    "car_horn": _car_horn,
    "children_playing": _children_playing,
    "dog_bark": _dog_bark,
    "drilling": _drilling,
    "engine_idling": _engine_idling,
    "gun_shot": _gun_shot,
    "jackhammer": _jackhammer,
    "siren": _siren,
    "street_music": _street_music,
}


def pattern(cls: str, n: int, sr: int, rng: np.random.Generator,
            log: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(envelope, log2 frequency multiplier) trajectories for one clip of class ``cls``.

    ``log``, if given, receives the planted modulations this clip carries
    (signals.modulation records; the carrier, drawn from a shared pool, carries none).
    """
    if cls not in _PATTERNS:
        raise ValueError(f"unknown class {cls!r}")
    return _PATTERNS[cls](n, sr, n / sr, S.times(n, sr), np.zeros(n), rng,
                          [] if log is None else log)


def clip(cls: str, sr: int, duration: float, rng: np.random.Generator,
         log: list | None = None) -> np.ndarray:
    """One mono clip of class ``cls`` at ``sr`` (float, peak about 0.1-0.8); see :func:`pattern`."""
    n = int(round(duration * sr))
    env, fm = pattern(cls, n, sr, rng, log)
    mult = 2.0 ** fm
    if rng.random() < 0.5:
        x = S.band_noise(S.loguniform(rng, 300, 1600) * mult, sr, rng, rng.uniform(0.5, 1.2), fmax=FMAX)
    else:
        x = S.harmonic(S.loguniform(rng, 120, 450) * mult, sr, rng, rng.uniform(0.5, 1.5), fmax=FMAX)
    x = x * env
    x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(10, 25))
    return S.normalize(x, S.loguniform(rng, 0.1, 0.8))


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    base = root / "UrbanSound8K"
    rows, per_clip = [], {}
    items = [(c, i) for c, cls in enumerate(CLASSES) for i in range(cfg["per_class"])]
    for class_id, i in track(items, desc="urbansound8k"):
        cls = CLASSES[class_id]
        rng = S.rng_for(seed, "urbansound8k", cls, i)
        # Slices of one source recording share an fsID and a fold, as in the real set.
        source = i // cfg["per_source"]
        fs_id = 100000 + 1000 * class_id + source
        fold = (source + class_id) % 10 + 1
        sr, subtype, channels = FORMATS[(i + class_id) % len(FORMATS)]
        duration = rng.uniform(*cfg["duration"])
        log = []
        x = clip(cls, sr, duration, rng, log)
        per_clip.setdefault(cls, []).append(log)
        if channels == 2:
            x = np.stack([x, 0.9 * np.roll(x, 3)], axis=1)
        slice_id = i % cfg["per_source"]
        name = f"{fs_id}-{class_id}-0-{slice_id}.wav"
        S.write_wav(base / "audio" / f"fold{fold}" / name, x, sr, subtype)
        start = round(slice_id * 4.0 + float(rng.uniform(0, 1)), 6)
        rows.append((name, fs_id, start, round(start + duration, 6), int(rng.integers(1, 3)),
                     fold, class_id, cls))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"])
    w.writerows(sorted(rows))
    (base / "metadata").mkdir(parents=True, exist_ok=True)
    (base / "metadata" / "UrbanSound8K.csv").write_text(buf.getvalue(), encoding="utf-8")
    S.write_planted(root, "urbansound8k", NOTE, {c: S.average_planted(v) for c, v in per_clip.items()})
