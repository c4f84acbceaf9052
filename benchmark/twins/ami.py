"""AMI twin: Mix-Headset meetings with pyannote-style RTTM/UEM references and lists.

A meeting is speakers taking turns of speech-like sentences (signals.speech),
with pauses, occasional overlaps and non-speech events (knocks, typing, paper)
over a noise floor. The reference is every spoken sentence, as RTTM turns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.twins import signals as S

SR = 16000
SIZES = {  # meetings per split, meeting seconds, speakers per meeting
    "tiny": dict(train=1, dev=1, test=1, duration=(12.0, 15.0), speakers=3),
    "demo": dict(train=4, dev=1, test=2, duration=(60.0, 90.0), speakers=4),
}
PREFIX = {"train": ("ES", 2002), "dev": ("IS", 1008), "test": ("TS", 3003)}


def events(n: int, sr: int, rng: np.random.Generator, per_minute: float) -> np.ndarray:
    """Non-speech sounds: door knocks, typing bursts, paper rustles, at random times."""
    x = np.zeros(n)
    for _ in range(rng.poisson(per_minute * n / sr / 60)):
        kind = rng.integers(3)
        d = rng.uniform(0.4, 2.0)
        m = min(int(d * sr), n)
        i = int(rng.integers(0, n - m + 1))
        if kind == 0:  # knocks: a few low, damped impacts
            env = S.pulses(m, sr, np.arange(rng.integers(2, 5)) * rng.uniform(0.12, 0.2), 0.001, 0.03)
            y = S.band_noise(np.full(m, S.loguniform(rng, 150, 400)), sr, rng, 1.5)
        elif kind == 1:  # typing: an irregular train of clicks
            onsets = np.cumsum(rng.uniform(0.06, 0.2, int(d * 10)))
            env = S.pulses(m, sr, onsets[onsets < d], 0.0005, 0.008)
            y = S.band_noise(np.full(m, S.loguniform(rng, 1500, 4000)), sr, rng, 1.5)
        else:  # paper: a slowly varying broadband rustle
            env = S.hann_window(m) * (0.6 + 0.4 * S.am(m, sr, rng.uniform(1, 3), 1.0, rng))
            y = S.band_noise(np.full(m, S.loguniform(rng, 1000, 3000)), sr, rng, 3.0)
        x[i:i + m] += S.normalize(y * env, rng.uniform(0.05, 0.3))
    return x


def conversation(n: int, sr: int, speakers: dict, rng: np.random.Generator,
                 overlap: float, room=None) -> tuple[np.ndarray, list]:
    """Turn-taking speech over ``n`` samples: (audio, [(start, end, speaker)]).

    Times are rounded to 10 ms before synthesis, so the written reference is
    exactly where the speech is. ``room(x, speaker)`` may colour each sentence.
    """
    duration = n / sr
    x = np.zeros(n)
    turns, names, prev = [], list(speakers), None
    t = round(rng.uniform(0.3, 1.5), 2)
    while True:
        others = [s for s in names if s != prev] or names  # a new voice takes the floor
        spk = others[int(rng.integers(len(others)))]
        for _ in range(int(rng.integers(1, 4))):  # sentences in this turn
            d = round(rng.uniform(0.8, 3.5), 2)
            if t + d > duration - 0.3:
                return x, turns
            y = S.speech(speakers[spk], d, sr, rng) * speakers[spk]["gain"]
            if room is not None:
                y = room(y, spk)
            i = int(round(t * sr))
            x[i:i + len(y)] += y[: n - i]
            turns.append((t, round(t + d, 2), spk))
            t = round(t + d + rng.uniform(0.25, 0.6), 2)
        prev = spk
        r = rng.random()
        gap = -rng.uniform(0.3, 1.0) if r < overlap else rng.uniform(1.5, 4.0) if r < overlap + 0.25 \
            else rng.uniform(0.0, 0.8)
        t = max(round(t + gap, 2), 0.0)


def meeting_speakers(rng: np.random.Generator, k: int, prefix: str) -> dict:
    out = {}
    for j in range(k):
        spk = S.make_speaker(rng) | {"gain": S.loguniform(rng, 0.4, 1.0)}
        out[f"{prefix}{'FM'[j % 2]}EE{int(rng.integers(1, 100)):03d}"] = spk
    return out


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    jobs = []
    for split in ("train", "dev", "test"):
        letters, number = PREFIX[split]
        jobs += [(split, f"{letters}{number + k // 4}{'abcd'[k % 4]}") for k in range(cfg[split])]
    for split, meeting in track(jobs, desc="ami"):
        rng = S.rng_for(seed, "ami", meeting)
        n = int(rng.uniform(*cfg["duration"]) * SR)
        speakers = meeting_speakers(rng, cfg["speakers"], "")
        speech, turns = conversation(n, SR, speakers, rng, overlap=0.1)
        x = speech + events(n, SR, rng, per_minute=6)
        x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(15, 25), ref=S.rms(speech[speech != 0]))
        S.write_wav(root / "amicorpus" / meeting / "audio" / f"{meeting}.Mix-Headset.wav",
                    S.normalize(x, 0.8), SR)
        S.write_lines(root / "rttms" / split / f"{meeting}.rttm",
                      [f"SPEAKER {meeting} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>"
                       for s, e, spk in turns])
        S.write_lines(root / "uems" / split / f"{meeting}.uem", [f"{meeting} 1 0.000 {n / SR:.3f}"])
    for split in ("train", "dev", "test"):
        S.write_lines(root / "lists" / f"{split}.meetings.txt", [m for s, m in jobs if s == split])
