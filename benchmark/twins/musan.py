"""MUSAN twin: ``musan/<noise|music|speech>/<sub-source>/<category>-<sub-source>-NNNN.wav``.

A handful of 16 kHz mono recordings a few seconds long, in the real corpus's
folders (with their ANNOTATIONS and LICENSE files): stationary coloured noise
(spectral tilt from white to brown), non-stationary noise (clatter: random
impacts; bursts: gated noise of random lengths), music-like tones (harmonic
notes stepping in pitch with percussive onsets, sometimes chords), and a little
eSpeak NG speech so the speech folder exists as in the real corpus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.twins import signals as S
from benchmark.twins.tts import MEETING_WORDS, f0_estimate, make_voice, sentence, synthesize, trim

SR = 16000
SIZES = {  # (category, sub-source) -> files; seconds per file
    "tiny": dict(files={("noise", "free-sound"): 2, ("noise", "sound-bible"): 2, ("music", "fma"): 1,
                        ("music", "jamendo"): 1, ("speech", "librivox"): 1}, duration=(2.0, 3.0)),
    "demo": dict(files={("noise", "free-sound"): 6, ("noise", "sound-bible"): 4, ("music", "fma"): 3,
                        ("music", "hd-classical"): 2, ("music", "jamendo"): 2, ("speech", "librivox"): 2,
                        ("speech", "us-gov"): 1}, duration=(3.0, 6.0)),
}
NOISE_KINDS = ("stationary", "clatter", "bursts")


def coloured_noise(n: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Gaussian noise with power spectrum ~ f^-alpha, alpha in [0, 2] (white to brown)."""
    alpha = rng.uniform(0.0, 2.0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=float)
    spec[1:] /= f[1:] ** (alpha / 2)
    spec[0] = 0
    x = np.fft.irfft(spec, n)
    return x / (np.std(x) + 1e-12), alpha


def noise(kind: str, n: int, rng: np.random.Generator, log: list) -> np.ndarray:
    floor, _ = coloured_noise(n, rng)
    if kind == "stationary":
        # Slow, shallow level drift only: the spectrum carries it, not the time course.
        log.append(S.modulation(0.0, 0.0, 0, "stationary coloured noise"))
        return floor * S.am(n, SR, rng.uniform(0.1, 0.3), 0.1, rng)
    if kind == "clatter":
        rate = rng.uniform(2.0, 12.0)  # impacts per second, Poisson
        onsets = np.cumsum(rng.exponential(1 / rate, int(rate * n / SR * 2) + 4))
        onsets = onsets[onsets < n / SR]
        y = np.zeros(n)
        for o in onsets:  # each impact rings at its own pitch
            m = min(int(0.25 * SR), n - int(o * SR))
            body = S.band_noise(np.full(m, S.loguniform(rng, 300, 4000)), SR, rng, 1.0)
            y[int(o * SR):int(o * SR) + m] += body * S.pulses(m, SR, [0.0], 0.001, rng.uniform(0.01, 0.05))
        log.append(S.modulation(len(onsets) / (n / SR), 0.0, 0, "clatter: random impacts per second"))
        return S.normalize(y, 1.0) + 0.05 * floor
    if kind == "bursts":
        spans, t = [], rng.uniform(0, 0.5)
        while t < n / SR:
            d = rng.uniform(0.1, 0.8)
            spans.append((t, t + d))
            t += d + rng.uniform(0.1, 1.0)
        log.append(S.modulation(len(spans) / (n / SR), 0.0, 0, "noise bursts per second"))
        return floor * (S.gate(n, SR, spans, ramp=0.02) + 0.05)
    raise ValueError(f"unknown noise kind {kind!r}")


def music(n: int, rng: np.random.Generator, log: list) -> np.ndarray:
    """Notes on a scale: harmonic stacks stepping in pitch, percussive onsets, sometimes a chord."""
    rate = rng.uniform(1.5, 6.0)  # notes per second
    onsets = np.arange(rng.uniform(0, 1 / rate), n / SR, 1 / rate)
    steps = rng.choice([0, 2, 4, 5, 7, 9, 11, 12], len(onsets)) / 12.0
    # Each note holds its pitch from its onset to the next one.
    note = np.floor((S.times(n, SR) - onsets[0]) * rate).astype(int)
    semis = steps[np.clip(note, 0, len(onsets) - 1)]
    f0 = S.loguniform(rng, 130, 520)
    y = S.harmonic(f0 * 2.0 ** semis, SR, rng, rng.uniform(0.8, 2.0), fmax=6000)
    if rng.random() < 0.5:  # a fifth above: a chord
        y += 0.6 * S.harmonic(1.5 * f0 * 2.0 ** semis, SR, rng, 1.5, fmax=6000)
    env = S.pulses(n, SR, onsets, 0.01, rng.uniform(0.15, 0.5)) + 0.15
    log += [S.modulation(rate, 0.0, 0, "note rate (percussive onsets)"),
            S.modulation(0.0, 1000 * np.log(2) / f0, 0, "harmonic spacing at 1 kHz of the lowest voice")]
    return y * env


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    base = root / "musan"
    jobs = [(cat, src, i) for (cat, src), k in cfg["files"].items() for i in range(k)]
    per_clip = {}
    # Noise kinds cycle over all noise files, so even the tiny twin has each kind.
    kinds = iter(NOISE_KINDS * len(jobs))
    for cat, src, i in track(jobs, desc="musan"):
        rng = S.rng_for(seed, "musan", cat, src, i)
        n = int(round(rng.uniform(*cfg["duration"]) * SR))
        log = []
        if cat == "noise":
            kind = next(kinds)
            x = noise(kind, n, rng, log)
            per_clip.setdefault(f"noise/{kind}", []).append(log)
        elif cat == "music":
            x = music(n, rng, log)
            per_clip.setdefault("music", []).append(log)
        else:
            voice = make_voice(rng)
            texts = [sentence(rng, MEETING_WORDS, 6, 12) for _ in range(4)]
            spoken = [trim(y, SR) for y in synthesize([(voice, t) for t, _ in texts], SR)]
            # Sentences with short pauses, cut to the file's length, as a read audiobook.
            gap = np.zeros(int(0.3 * SR))
            x = np.concatenate([part for y in spoken for part in (y, gap)])[:n]
            x = np.pad(x, (0, n - len(x)))
            seconds = sum(len(y) for y in spoken) / SR
            f0 = f0_estimate(np.concatenate(spoken), SR)
            log += [S.modulation(sum(s for _, s in texts) / seconds, 0.0, 0, "syllabic AM rate"),
                    S.modulation(0.0, 500 * np.log(2) / f0, 0, "pitch harmonic spacing at 500 Hz")]
            per_clip.setdefault("speech", []).append(log)
        name = f"{cat}-{src}-{i:04d}.wav"
        S.write_wav(base / cat / src / name, S.normalize(x, S.loguniform(rng, 0.1, 0.9)), SR)
    for cat, src in cfg["files"]:
        folder = base / cat / src
        (folder / "LICENSE").write_text(
            f"Synthetic stand-in for MUSAN {cat}/{src}: generated by gabor-bench, no third-party audio.\n",
            encoding="utf-8")
        names = sorted(p.stem for p in folder.glob("*.wav"))
        S.write_lines(folder / "ANNOTATIONS", [f"{name} synthetic" for name in names])
    # Noise kinds are listed apart: the label is 'noise' for all, but what carries each differs.
    classes = {}
    for key, logs in per_clip.items():
        classes.setdefault(key.split("/")[0], []).extend(S.average_planted(logs))
    S.write_planted(root, "musan", "augmentation corpus: stationary noise carries no modulation; "
                    "clatter and bursts their event rates; music its note rate and harmonics", classes)
