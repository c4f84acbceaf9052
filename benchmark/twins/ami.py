"""AMI twin: Mix-Headset meetings with pyannote-style RTTM/UEM references and lists.

A meeting is eSpeak NG voices (benchmark.twins.tts) taking turns of sentences
drawn from a fixed word list, with pauses, occasional overlaps and non-speech
events (knocks, typing, paper) over a noise floor; speakers sit at levels 20 dB
apart and meetings at recording levels 19 dB apart. The reference is every
spoken sentence's audible span, as RTTM turns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.twins import signals as S
from benchmark.twins.tts import MEETING_WORDS, VARIANTS, f0_estimate, make_voice, sentence, synthesize, trim

SR = 16000
SIZES = {  # meetings per split, meeting seconds, speakers per meeting
    "tiny": dict(train=1, dev=1, test=1, duration=(12.0, 15.0), speakers=3),
    "demo": dict(train=4, dev=1, test=6, duration=(60.0, 90.0), speakers=4),
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


def plan(duration: float, speakers: dict, rng: np.random.Generator, overlap: float,
         words: dict) -> list[tuple[str, str, int, float, float]]:
    """Sentences of a conversation, more than fill ``duration``.

    Each is (speaker, text, syllables, level in dB, gap after it in s); a
    negative gap overlaps the next sentence with this one.
    """
    names, prev, out, spoken = list(speakers), None, [], 0.0
    while spoken < 1.5 * duration:
        others = [s for s in names if s != prev] or names  # a new voice takes the floor
        spk = others[int(rng.integers(len(others)))]
        for k in range(int(rng.integers(1, 4))):  # sentences in this turn
            text, syllables = sentence(rng, words, 2, 10)
            out.append([spk, text, syllables, speakers[spk]["level"] + rng.normal(0, 2),
                        rng.uniform(0.25, 0.6)])
            spoken += syllables / 4.0 + 0.4
        prev = spk
        r = rng.random()
        out[-1][4] = -rng.uniform(0.3, 1.0) if r < overlap else rng.uniform(1.5, 4.0) \
            if r < overlap + 0.25 else rng.uniform(0.0, 0.8)
    return [tuple(x) for x in out]


def conversation(n: int, sr: int, speakers: dict, rng: np.random.Generator, overlap: float,
                 words: dict = MEETING_WORDS, room=None) -> tuple[np.ndarray, list, dict]:
    """Turn-taking eSpeak NG speech over ``n`` samples: (audio, [(start, end, speaker)], stats).

    Every sentence is trimmed to its audible span and placed on a 10 ms grid, so
    the written reference is exactly where the speech is. ``room(x, speaker)``
    may colour each sentence (its tail then runs past the reference, as a
    room's does). ``stats`` holds the drawn syllable counts, the spoken
    durations and the speakers' measured pitch, for the planted modulations.
    """
    duration = n / sr
    sentences = plan(duration, speakers, rng, overlap, words)
    audio = synthesize([(speakers[spk], text) for spk, text, *_ in sentences], sr)
    x = np.zeros(n)
    turns, stats = [], {"syllables": 0, "seconds": 0.0, "f0": {}, "texts": []}
    t, last_start = round(rng.uniform(0.3, 1.5), 2), 0.0
    for (spk, text, syllables, level, gap), y in zip(sentences, audio):
        y = trim(y, sr)
        d = np.ceil(len(y) / sr * 100) / 100
        if t + d > duration - 0.3:
            break
        if d < 0.1:  # nothing audible came out: no reference turn either
            continue
        stats["syllables"] += syllables
        stats["texts"].append(text)
        stats["seconds"] += len(y) / sr
        stats["f0"].setdefault(spk, []).append(f0_estimate(y, sr))
        y = y / S.rms(y) * 0.05 * 10 ** (level / 20)
        if room is not None:
            y = room(y, spk)
        i = int(round(t * sr))
        x[i:i + len(y)] += y[: n - i]
        turns.append((t, round(t + d, 2), spk))
        last_start = t
        # An overlap starts the next sentence inside this one, never before it starts.
        t = round(max(t + d + gap, last_start + 0.2), 2)
    return x, turns, stats


def meeting_speakers(rng: np.random.Generator, k: int, prefix: str) -> dict:
    """``k`` eSpeak NG voices (distinct variants), each at its own level (dB, spread over 20 dB)."""
    out = {}
    variants = rng.permutation(VARIANTS)
    for j in range(k):
        voice = make_voice(rng, (variants[j % len(variants)],)) | {"level": rng.uniform(-10, 10)}
        out[f"{prefix}{'FM'[j % 2]}EE{int(rng.integers(1, 100)):03d}"] = voice
    return out


def speech_planted(stats: list[dict]) -> dict:
    """The planted-modulation record of a speech-activity twin: one class, 'speech'.

    Syllabic rate = drawn syllables / spoken seconds (eSpeak's word timing);
    the pitch harmonics' spacing is given at 500 Hz (the first formant region),
    where harmonics k·f0 sit f0/(500·ln 2) octaves apart.
    """
    syll = sum(s["syllables"] for s in stats) / max(sum(s["seconds"] for s in stats), 1e-9)
    f0 = float(np.nanmedian([v for s in stats for vals in s["f0"].values() for v in vals]))
    return {"speech": [S.modulation(syll, 0.0, 0, "syllabic AM rate (syllables per second of speech)"),
                       S.modulation(0.0, 500 * np.log(2) / f0, 0,
                                    f"pitch harmonic spacing at 500 Hz (median f0 {f0:.0f} Hz)")]}


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    jobs = []
    for split in ("train", "dev", "test"):
        letters, number = PREFIX[split]
        jobs += [(split, f"{letters}{number + k // 4}{'abcd'[k % 4]}") for k in range(cfg[split])]
    stats = []
    for split, meeting in track(jobs, desc="ami"):
        rng = S.rng_for(seed, "ami", meeting)
        n = int(rng.uniform(*cfg["duration"]) * SR)
        speakers = meeting_speakers(rng, cfg["speakers"], "")
        speech, turns, st = conversation(n, SR, speakers, rng, overlap=0.1)
        stats.append(st)
        x = speech + events(n, SR, rng, per_minute=6)
        x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(15, 25), ref=S.rms(speech[speech != 0]))
        # Recording levels differ between meetings as well as between speakers.
        S.write_wav(root / "amicorpus" / meeting / "audio" / f"{meeting}.Mix-Headset.wav",
                    S.normalize(x, S.loguniform(rng, 0.1, 0.9)), SR)
        S.write_lines(root / "rttms" / split / f"{meeting}.rttm",
                      [f"SPEAKER {meeting} 1 {s:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>"
                       for s, e, spk in turns])
        S.write_lines(root / "uems" / split / f"{meeting}.uem", [f"{meeting} 1 0.000 {n / SR:.3f}"])
    for split in ("train", "dev", "test"):
        S.write_lines(root / "lists" / f"{split}.meetings.txt", [m for s, m in jobs if s == split])
    S.write_planted(root, "ami", "eSpeak NG sentences in turns: syllabic-rate AM and pitch harmonics "
                    "mark speech; knocks, typing and rustles are the non-speech", speech_planted(stats))
