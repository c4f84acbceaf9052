"""VoxCeleb1 twin: ``wav/idXXXXX/<video>/NNNNN.wav``, iden_split.txt, veri_test2.txt.

Speakers are eSpeak NG voices (benchmark.twins.tts), each a distinct
combination of voice variant, base pitch, pitch range and speaking rate,
reading sentences from a fixed word list. As in the real iden_split.txt every
speaker is listed there, split by video: the last video is test, the one
before dev, the rest train. The verification speakers (id10270..., as in the
real test set) are listed too, so a verification model must leave them out of
training on purpose; veri_test2.txt holds target and non-target trials on
their utterances only.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from benchmark.twins import signals as S
from benchmark.twins.tts import MEETING_WORDS, f0_estimate, make_voice, sentence, synthesize, trim

SR = 16000
SIZES = {
    "tiny": dict(iden=4, videos=3, per_video=1, veri=2, duration=(0.8, 1.2)),
    "demo": dict(iden=16, videos=4, per_video=3, veri=10, duration=(1.5, 2.5)),
}
ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))


def _video_id(rng: np.random.Generator) -> str:
    return "".join(rng.choice(ALPHABET, 11))


def voices(seed: int, speakers: list[str]) -> dict:
    """One eSpeak NG voice per speaker; no two share variant, pitch band and rate band."""
    rng = S.rng_for(seed, "voxceleb1", "voices")
    out, seen = {}, set()
    for spk in speakers:
        while True:
            v = make_voice(rng)
            key = (v["variant"], v["pitch"] // 10, v["rate"] // 20)
            if key not in seen:
                seen.add(key)
                out[spk] = v
                break
    return out


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    names = [f"id{10001 + s}" for s in range(cfg["iden"])] + [f"id{10270 + s}" for s in range(cfg["veri"])]
    veri = set(names[cfg["iden"]:])
    speakers = voices(seed, names)
    iden_lines, veri_utts, planted = [], [], {}
    for spk in track(names, desc="voxceleb1"):
        utterances, planted[spk] = _speaker(root, seed, spk, speakers[spk], cfg)
        iden_lines += [f"{code} {rel}" for code, rel in utterances]
        if spk in veri:
            veri_utts += [(spk, rel) for _, rel in utterances]
    S.write_lines(root / "iden_split.txt", iden_lines)
    S.write_lines(root / "veri_test2.txt", _trial_lines(seed, veri_utts))
    S.write_planted(root, "voxceleb1", "speaker identity: each speaker's syllabic rate and pitch "
                    "(harmonic spacing), from a distinct eSpeak NG voice", planted)


def _speaker(root: Path, seed: int, spk: str, voice: dict, cfg: dict) -> tuple[list, list]:
    """Write one speaker's utterances: ([(split code, relative path)], planted modulations)."""
    vrng = S.rng_for(seed, "voxceleb1", spk, "videos")
    jobs = []  # (video, utterance number, split code)
    for v in range(cfg["videos"]):
        code = "3" if v == cfg["videos"] - 1 else "2" if v == cfg["videos"] - 2 else "1"
        video = _video_id(vrng)
        jobs += [(video, u + 1, code) for u in range(cfg["per_video"])]
    # One synthesis batch per speaker: its audio depends on nothing else.
    plans = []
    for video, utt, _ in jobs:
        rng = S.rng_for(seed, "voxceleb1", spk, video, utt)
        duration = rng.uniform(*cfg["duration"])
        # Enough words to fill the utterance at this speaker's rate (1.5 syllables a word).
        words = int(np.ceil(duration * voice["rate"] / 60 * 1.3)) + 1
        plans.append((rng, duration, *sentence(rng, MEETING_WORDS, words, words + 2)))
    audio = synthesize([(voice, text) for *_, text, _ in plans], SR)
    syllables = seconds = 0.0
    f0, utterances = [], []
    for (video, utt, code), (rng, duration, text, syll), y in zip(jobs, plans, audio):
        y = trim(y, SR)
        syllables, seconds = syllables + syll, seconds + len(y) / SR
        f0.append(f0_estimate(y, SR))
        n = int(duration * SR)
        lead = int(rng.uniform(0.05, 0.2) * SR)
        x = np.zeros(n)
        part = y[: n - lead]  # an utterance is a stretch cut from longer speech
        x[lead:lead + len(part)] = part
        # Interview-like channel: background noise at 10-30 dB SNR.
        x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(10, 30))
        rel = f"{spk}/{video}/{utt:05d}.wav"
        S.write_wav(root / "wav" / rel, S.normalize(x, S.loguniform(rng, 0.2, 0.9)), SR)
        utterances.append((code, rel))
    pitch = float(np.nanmedian(f0))
    planted = [
        S.modulation(syllables / seconds, 0.0, 0,
                     f"syllabic AM rate (eSpeak rate {voice['rate']} words/min)"),
        S.modulation(0.0, 500 * np.log(2) / pitch, 0,
                     f"pitch harmonic spacing at 500 Hz (f0 {pitch:.0f} Hz, voice {voice['variant']}, "
                     f"eSpeak pitch {voice['pitch']})"),
    ]
    return utterances, planted


def _trial_lines(seed: int, veri_utts: list) -> list[str]:
    """veri_test2.txt: every same-speaker pair and as many different-speaker ones, shuffled."""
    pairs = list(combinations(veri_utts, 2))
    target = [(a, b) for a, b in pairs if a[0] == b[0]]
    nontarget = [(a, b) for a, b in pairs if a[0] != b[0]]
    rng = S.rng_for(seed, "voxceleb1", "trials")
    chosen = sorted(rng.choice(len(nontarget), min(len(target), len(nontarget)), replace=False))
    trials = [(1, a, b) for a, b in target] + [(0, *nontarget[i]) for i in chosen]
    order = rng.permutation(len(trials))
    return [f"{trials[i][0]} {trials[i][1][1]} {trials[i][2][1]}" for i in order]
