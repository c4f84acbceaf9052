"""CHiME-5 twin: far-field U01 CH1 audio and the JSON transcriptions.

The speech is the AMI twin's (eSpeak NG voices taking turns) with kitchen
words, and harder: every sentence is reverberated in the room (a synthetic
exponential-decay impulse response, RT60 0.3-0.7 s), more
turns overlap, the noise floor is 0-8 dB below the speech, and the kitchen adds
clanks and background music (harmonic, note-stepping, non-speech). The U01
clock runs a few centiseconds after the session clock, as the per-device
times in the real transcriptions do; a few utterances lack U01 times.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from benchmark.twins import signals as S
from benchmark.twins.ami import conversation, events, meeting_speakers, speech_planted
from benchmark.twins.tts import KITCHEN_WORDS

SR = 16000
SIZES = {
    "tiny": dict(train=("S03",), dev=("S02",), eval=("S01",), duration=(12.0, 15.0), speakers=4),
    "demo": dict(train=("S03", "S04", "S05"), dev=("S02",), eval=("S01", "S21"),
                 duration=(60.0, 80.0), speakers=4),
}


def clock(seconds: float) -> str:
    """Seconds to the transcriptions' 'H:MM:SS.ss'."""
    cs = int(round(seconds * 100))
    h, rest = divmod(cs, 360000)
    m, rest = divmod(rest, 6000)
    return f"{h}:{m:02d}:{rest / 100:05.2f}"


def kitchen(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Clanks (inharmonic, ringing) and stretches of background music."""
    x = np.zeros(n)
    for _ in range(rng.poisson(10 * n / sr / 60)):
        m = min(int(rng.uniform(0.3, 0.8) * sr), n)
        i = int(rng.integers(0, n - m + 1))
        ratios = np.array([1.0, 2.76, 5.40, 8.93])
        y = S.partials(np.full(m, S.loguniform(rng, 400, 1500)), sr, ratios, [1, .6, .4, .2], rng)
        x[i:i + m] += S.normalize(y * S.pulses(m, sr, [0.0], 0.001, 0.12), rng.uniform(0.1, 0.4))
    m = int(min(n, rng.uniform(0.3, 0.6) * n))
    i = int(rng.integers(0, n - m + 1))
    rate = rng.uniform(2, 4)
    onsets = np.arange(0, m / sr, 1 / rate)
    steps = np.repeat(rng.choice([0, 2, 4, 5, 7, 9], len(onsets)) / 12.0, int(sr / rate) + 1)[:m]
    music = S.harmonic(S.loguniform(rng, 200, 400) * 2.0 ** steps, sr, rng, 1.2, fmax=4000)
    x[i:i + m] += S.normalize(music * (S.pulses(m, sr, onsets, 0.01, 0.3) + 0.2), 0.1)
    return x


def write(root: Path, size: str, seed: int, track) -> None:
    cfg = SIZES[size]
    base = root / "CHiME5"
    jobs = [(folder, s) for folder in ("train", "dev", "eval") for s in cfg[folder]]
    stats = []
    for folder, session in track(jobs, desc="chime5"):
        rng = S.rng_for(seed, "chime5", session)
        n = int(rng.uniform(*cfg["duration"]) * SR)
        speakers = meeting_speakers(rng, cfg["speakers"], "")
        names = {spk: f"P{int(session[1:]) * 4 + j:02d}" for j, spk in enumerate(speakers)}
        rt60 = rng.uniform(0.3, 0.7)
        rooms = {spk: S.rng_for(seed, "chime5", session, spk) for spk in speakers}

        def room(y, spk):
            return S.reverb(y, SR, rt60, rooms[spk], direct=rng.uniform(0.1, 0.4))

        speech, turns, st = conversation(n, SR, speakers, rng, overlap=0.3, words=KITCHEN_WORDS, room=room)
        stats.append(st)
        x = speech + events(n, SR, rng, per_minute=6) + kitchen(n, SR, rng)
        x = S.add_noise(x, S.pink_noise(n, rng), rng.uniform(0, 8), ref=S.rms(speech[speech != 0]))
        S.write_wav(base / "audio" / folder / f"{session}_U01.CH1.wav",
                    S.normalize(x, S.loguniform(rng, 0.1, 0.9)), SR)
        # The audio is on the U01 clock; 'original' is the session clock, slightly earlier.
        lag = round(rng.uniform(0.01, 0.03), 2)
        utts = []
        for (s, e, spk), text in zip(turns, st["texts"]):
            start = {"original": clock(s - lag), "U02": clock(s - lag + 0.04)}
            end = {"original": clock(e - lag), "U02": clock(e - lag + 0.04)}
            if rng.random() > 0.1:
                start["U01"], end["U01"] = clock(s), clock(e)
            utts.append({
                "end_time": end, "start_time": start, "speaker": names[spk], "ref": names[spk],
                "location": str(rng.choice(["kitchen", "dining", "living"])),
                "session_id": session,
                "words": text,
            })
        path = base / "transcriptions" / folder / f"{session}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(utts, indent=4, sort_keys=True) + "\n", encoding="utf-8")
    S.write_planted(root, "chime5", "reverberant eSpeak NG sentences in a noisy kitchen: syllabic-rate AM "
                    "and pitch harmonics mark speech; clanks, music and noise are the non-speech",
                    speech_planted(stats))
