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
# Every file lasts this long: clips of different lengths, zero-padded to a common
# one by the features, would give away the type by where the padding starts.
CLIP_SECONDS = 1.0
COLOURS = ("Bla", "Blu", "Gre", "Ora", "Pin", "Red", "Whi", "Yel", "Bro", "LBl", "Vio", "DGr")
SIZES = {  # birds, clips per (bird, type) spread so that every type reaches several birds
    "tiny": dict(birds=5, per_type=3, span=(0.5, 0.7)),  # 3 birds a type: one always trains
    "demo": dict(birds=10, per_type=120, span=(0.6, 1.0)),  # about 260 test clips a fold
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
                for i in range(int(rng.integers(3, 6)))]
    if call == "Song":
        shapes = [lambda u: -0.3 + 0.6 * u, lambda u: 0.3 - 0.6 * u, flat, None]
        out, t = [], 0.0
        for _ in range(int(rng.integers(3, 6))):
            d = rng.uniform(0.06, 0.1) * k
            s = shapes[int(rng.integers(4))]
            out.append((t, d, "noise" if s is None else "harm", s or flat))
            t += d + 0.03
        return out
    raise ValueError(f"unknown call type {call!r}")


def call(call_type: str, bird: dict, sr: int, duration: float,
         rng: np.random.Generator, log: list | None = None) -> np.ndarray:
    """A mono clip of ``duration`` seconds holding one call (or call sequence) of ``bird``.

    The call starts at a random onset and a noise floor fills the whole clip,
    so neither the clip's length nor where its energy stops says the type.
    ``log``, if given, receives (elements, f0) for :func:`planted`.
    """
    parts = elements(call_type, bird, rng)
    length = max(o + d for o, d, _, _ in parts)
    if length > duration - 0.04:
        raise ValueError(f"a {length:.2f} s {call_type} call does not fit a {duration} s clip")
    n = int(round(duration * sr))
    start = rng.uniform(0.02, max(duration - length - 0.02, 0.03))
    f0 = bird["f0"] * 2.0 ** rng.uniform(-0.25, 0.25)
    if log is not None:
        log.append((parts, f0))
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


BAND_HZ = 3000.0  # where the harmonic spacing is quoted: mid-range of the stacks' energy


def planted(call_type: str, parts, f0: float) -> list[dict]:
    """The modulations that carry ``call_type`` in one drawn clip (see PLANTED_MODULATIONS.json).

    A sweep of s octaves over d seconds is a slope of s/d oct/s; a flat
    element of d seconds is one envelope hump, quoted as 1/(2d) Hz; repeated
    elements give their repetition rate. Harmonic stacks carry the harmonic
    spacing at BAND_HZ, f·ln2/f0 cycles/octave; noise carries none.
    """
    harm = BAND_HZ * np.log(2) / f0
    onset, d, kind, shape = parts[0]
    spacing = 0.0 if kind == "noise" else harm
    slope = float(shape(np.array(1.0)) - shape(np.array(0.0))) / d
    if call_type in ("Tuck", "Thuk", "Distress"):
        return [S.sweep(slope, "FM sweep"),
                S.modulation(0.0, harm, 0, "harmonic stack spacing at 3 kHz")]
    if call_type == "Distance":  # 0.35 octave up in d/2, then down
        return [S.sweep(0.7 / d, "arch FM, rising half"), S.sweep(-0.7 / d, "arch FM, falling half"),
                S.modulation(0.0, harm, 0, "harmonic stack spacing at 3 kHz")]
    if call_type in ("Long Tonal", "Tet", "Wsst"):
        what = "noise burst, one envelope hump" if kind == "noise" else "flat harmonic element, one hump"
        return [S.modulation(1 / (2 * d), spacing, 0, what)]
    if call_type == "Whine":
        # elements() folds the vibrato rate into the shape; recover it from zero crossings.
        u = np.linspace(0, 1, 4001)
        crossings = np.count_nonzero(np.diff(np.sign(shape(u))) != 0)
        return [S.modulation(crossings / 2 / d, harm, 0, "vibrato (FM) rate")]
    if call_type in ("Nest", "Begging"):
        gap = parts[1][0] - parts[0][0] if len(parts) > 1 else d
        out = [S.modulation(1 / gap, harm, 0, "element repetition rate")]
        if call_type == "Begging":
            out.append(S.sweep(slope, "rising FM within each element"))
        return out
    if call_type == "Song":
        starts = [o for o, *_ in parts]
        rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else 1 / d
        return [S.modulation(rate, harm, 0, "syllable rate"),
                S.sweep(0.6 / d, "rising syllables"), S.sweep(-0.6 / d, "falling syllables")]
    raise ValueError(f"unknown call type {call_type!r}")


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
    per_clip = {}
    for call_type, bird, i in track(items, desc="zebra_finch"):
        rng = S.rng_for(seed, "zebra_finch", call_type, i)
        log = []
        x = call(call_type, birds[bird], SR, CLIP_SECONDS, rng, log)
        per_clip.setdefault(call_type, []).append(planted(call_type, *log[0]))
        # Two microphones: a slightly delayed, quieter copy with its own noise.
        right = 0.8 * np.roll(x, 7) + 0.003 * rng.standard_normal(len(x))
        code = CODES[call_type][i % len(CODES[call_type])]
        date = f"11{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}"
        folder = "ChickVocalizations" if call_type in CHICK_CALLS else "AdultVocalizations"
        path = root / folder / bird / f"{bird}_{date}-{code}-{i + 1:02d}.wav"
        S.write_wav(path, np.stack([x, right], axis=1), SR, "PCM_16")
    S.write_planted(root, "zebra_finch", "call types differ in FM sweep direction and slope, element "
                    "duration, repetition and vibrato rate; harmonic spacing follows the bird, not the type",
                    {t: S.average_planted(v) for t, v in per_clip.items()})
