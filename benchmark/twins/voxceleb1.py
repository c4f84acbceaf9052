"""VoxCeleb1 twin: ``wav/idXXXXX/<video>/NNNNN.wav``, iden_split.txt, veri_test2.txt.

Speakers are speech-like voices (signals.speech) differing in pitch, vocal
tract scale, syllable rate and glide habits. Identification speakers (id10001...)
split by video: the last video is test, the one before dev, the rest train.
Verification speakers (id10270..., as in the real test set) never appear in
iden_split.txt; their trials mix target and non-target pairs.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np

from benchmark.twins import signals as S

SR = 16000
SIZES = {
    "tiny": dict(iden=4, videos=3, per_video=1, veri=2, veri_utts=3, duration=(0.8, 1.2)),
    "demo": dict(iden=16, videos=4, per_video=3, veri=4, veri_utts=6, duration=(1.5, 2.5)),
}
ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))


def _video_id(rng: np.random.Generator) -> str:
    return "".join(rng.choice(ALPHABET, 11))


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    jobs = []  # (speaker, video, utterance number, split code or None)
    for s in range(cfg["iden"] + cfg["veri"]):
        iden = s < cfg["iden"]
        spk = f"id{10001 + s}" if iden else f"id{10270 + s - cfg['iden']}"
        vrng = S.rng_for(seed, "voxceleb1", spk, "videos")
        if iden:
            for v in range(cfg["videos"]):
                code = "3" if v == cfg["videos"] - 1 else "2" if v == cfg["videos"] - 2 else "1"
                video = _video_id(vrng)
                jobs += [(spk, video, u + 1, code) for u in range(cfg["per_video"])]
        else:
            videos = [_video_id(vrng) for _ in range(2)]
            jobs += [(spk, videos[u % 2], u // 2 + 1, None) for u in range(cfg["veri_utts"])]
    speakers = {spk: S.make_speaker(S.rng_for(seed, "voxceleb1", spk)) for spk, *_ in jobs}
    iden_lines, veri_utts = [], []
    for spk, video, utt, code in track(jobs, desc="voxceleb1"):
        rel = f"{spk}/{video}/{utt:05d}.wav"
        rng = S.rng_for(seed, "voxceleb1", rel)
        n = int(rng.uniform(*cfg["duration"]) * SR)
        lead = int(rng.uniform(0.05, 0.2) * SR)
        x = np.zeros(n)
        x[lead:] = S.speech(speakers[spk], (n - lead) / SR, SR, rng)
        # Interview-like channel: background noise at 10-30 dB SNR.
        x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(10, 30))
        S.write_wav(root / "wav" / rel, S.normalize(x, S.loguniform(rng, 0.2, 0.9)), SR)
        if code is None:
            veri_utts.append((spk, rel))
        else:
            iden_lines.append(f"{code} {rel}")
    pairs = list(combinations(veri_utts, 2))
    target = [(a, b) for a, b in pairs if a[0] == b[0]]
    nontarget = [(a, b) for a, b in pairs if a[0] != b[0]]
    rng = S.rng_for(seed, "voxceleb1", "trials")
    chosen = sorted(rng.choice(len(nontarget), min(len(target), len(nontarget)), replace=False))
    trials = [(1, a, b) for a, b in target] + [(0, *nontarget[i]) for i in chosen]
    order = rng.permutation(len(trials))
    S.write_lines(root / "iden_split.txt", iden_lines)
    S.write_lines(root / "veri_test2.txt",
                  [f"{trials[i][0]} {trials[i][1][1]} {trials[i][2][1]}" for i in order])
