"""Zebra finch twin: 44.1 kHz stereo 16-bit WAVs in nested folders, real file names.

Every call is a harmonic stack (noise for Wsst) on the bird's own pitch with a
per-clip jitter, so pitch identifies birds, not call types. Types differ in
shape over time: sweep direction (Tuck down, Thuk up), FM contour (Distance
arch vs Long Tonal flat), duration (Tet vs Long Tonal), repetition (Nest,
Begging), vibrato (Whine) and syllable sequences (Song).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.twins import signals as S

SR = 44100
# Call type -> the codes its files use (cycled, as the archive mixes spellings).
CODES = {
    "Distance": ("DC",), "Wsst": ("AggC", "Ag"), "Song": ("So", "Song"),
    "Nest": ("NestC", "Ne", "NeKakleC", "NeSeq"), "Tet": ("TetC", "Te", "Tet"),
    "Tuck": ("TukC",), "Thuk": ("ThuC", "ThukC"), "Whine": ("WhineC", "Whi", "WC"),
    "Distress": ("DisC",), "Begging": ("Beggseq", "BeggSeq"), "Long Tonal": ("LTC",),
}
CHICK_CALLS = ("Begging", "Long Tonal")
COLOURS = ("Bla", "Blu", "Gre", "Ora", "Pin", "Red", "Whi", "Yel", "Bro", "LBl", "Vio", "DGr")
SIZES = {  # birds, clips per (bird, type) spread so that every type reaches several birds
    "tiny": dict(birds=5, per_type=3, span=(0.5, 0.7)),  # 3 birds a type: one always trains
    "demo": dict(birds=10, per_type=24, span=(0.6, 1.0)),
}


def make_bird(rng: np.random.Generator) -> dict:
    return {"f0": S.loguniform(rng, 450, 900), "rolloff": rng.uniform(0.6, 1.4),
            "tempo": rng.uniform(0.85, 1.15)}


def elements(call: str, bird: dict, rng: np.random.Generator):
    """(onset, duration, kind, log2-FM shape function of u in [0,1]) for each element."""
    k = bird["tempo"]
    flat = lambda u: 0 * u  # noqa: E731
    one = lambda d, shape, kind="harm": [(0.0, d * k, kind, shape)]  # noqa: E731
    if call == "Distance":
        return one(rng.uniform(0.18, 0.25), lambda u: 0.35 * np.sin(np.pi * u))
    if call == "Long Tonal":
        return one(rng.uniform(0.18, 0.25), flat)
    if call == "Tet":
        return one(rng.uniform(0.04, 0.06), flat)
    if call == "Tuck":
        return one(rng.uniform(0.04, 0.06), lambda u: 0.3 - 0.6 * u)
    if call == "Thuk":
        return one(rng.uniform(0.04, 0.06), lambda u: -0.3 + 0.6 * u)
    if call == "Wsst":
        return one(rng.uniform(0.25, 0.35), flat, "noise")
    if call == "Whine":
        rate, phase = rng.uniform(10, 14), rng.uniform(0, 6.3)
        d = rng.uniform(0.35, 0.45) * k
        return [(0.0, d, "harm", lambda u: 0.12 * np.sin(2 * np.pi * rate * d * u + phase))]
    if call == "Distress":
        return one(rng.uniform(0.3, 0.4), lambda u: 0.4 - 0.8 * u)
    if call == "Nest":
        gap = rng.uniform(0.08, 0.12) * k
        return [(i * gap, 0.05 * k, "harm", flat) for i in range(int(rng.integers(3, 6)))]
    if call == "Begging":
        gap = rng.uniform(0.1, 0.125) * k
        return [(i * gap, 0.06 * k, "harm", lambda u: -0.25 + 0.5 * u)
                for i in range(int(rng.integers(4, 7)))]
    if call == "Song":
        shapes = [lambda u: -0.3 + 0.6 * u, lambda u: 0.3 - 0.6 * u, flat, None]
        out, t = [], 0.0
        for _ in range(int(rng.integers(4, 7))):
            d = rng.uniform(0.06, 0.1) * k
            s = shapes[int(rng.integers(4))]
            out.append((t, d, "noise" if s is None else "harm", s or flat))
            t += d + 0.03
        return out
    raise ValueError(f"unknown call type {call!r}")


def call(call_type: str, bird: dict, sr: int, duration: float | None,
         rng: np.random.Generator) -> np.ndarray:
    """A mono clip holding one call (or call sequence) of ``bird``.

    ``duration`` None: the call plus random margins; else a fixed-length clip.
    """
    parts = elements(call_type, bird, rng)
    length = max(o + d for o, d, _, _ in parts)
    if duration is None:
        duration = length + rng.uniform(0.15, 0.4)
    n = int(round(duration * sr))
    start = rng.uniform(0.02, max(duration - length - 0.02, 0.03))
    f0 = bird["f0"] * 2.0 ** rng.uniform(-0.25, 0.25)
    x = np.zeros(n)
    for onset, d, kind, shape in parts:
        i = int((start + onset) * sr)
        m = min(int(d * sr), n - i)
        if m <= 8:
            continue
        u = np.linspace(0, 1, m)
        traj = f0 * 2.0 ** shape(u)
        if kind == "noise":
            y = S.band_noise(2.5 * traj, sr, rng, width_oct=2.0, fmax=9000)
            env = np.minimum(u / 0.4, 1.0) * np.minimum((1 - u) / 0.05, 1.0)  # slow rise
        else:
            y = S.harmonic(traj, sr, rng, bird["rolloff"], fmax=9000)
            env = np.minimum(np.minimum(u, 1 - u) * d / 0.005, 1.0)  # 5 ms ramps
        x[i:i + m] += y * env
    x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(15, 30), ref=S.rms(x[x != 0]) if x.any() else 1.0)
    return S.normalize(x, S.loguniform(rng, 0.2, 0.8))


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    brng = S.rng_for(seed, "zebra_finch", "birds")
    names = []
    while len(names) < cfg["birds"]:
        c1, c2 = brng.choice(COLOURS, 2, replace=False)
        name = f"{c1}{c2}{int(brng.integers(1000, 10000))}"
        if name not in names:
            names.append(name)
    birds = {b: make_bird(S.rng_for(seed, "zebra_finch", b)) for b in names}
    items = []
    for t, call_type in enumerate(CODES):
        for i in range(cfg["per_type"]):
            items.append((call_type, names[(t + i) % len(names)], i))
    for call_type, bird, i in track(items, desc="zebra_finch"):
        rng = S.rng_for(seed, "zebra_finch", call_type, i)
        x = call(call_type, birds[bird], SR, None, rng)
        # Two microphones: a slightly delayed, quieter copy with its own noise.
        right = 0.8 * np.roll(x, 7) + 0.003 * rng.standard_normal(len(x))
        code = CODES[call_type][i % len(CODES[call_type])]
        date = f"11{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        folder = "ChickVocalizations" if call_type in CHICK_CALLS else "AdultVocalizations"
        path = root / folder / bird / f"{bird}_{date}-{code}-{i + 1:02d}.wav"
        S.write_wav(path, np.stack([x, right], axis=1), SR, "PCM_16")
