"""Real synthetic speech for the speech twins: eSpeak NG, run in a child process.

The library and its voice data come from the ``espeakng-loader`` wheel, so no
system package is needed. eSpeak NG keeps state between utterances inside one
process (its pitch-flutter phase, noise generator, ...), so the same sentence
synthesised twice in one process gives different samples. Determinism is
therefore had per *batch*: every batch runs in a fresh process that seeds the
library's random generator and synthesises its sentences in the given order,
so a batch's audio is a pure function of its requests. A batch costs one
process start (about 0.1 s); callers pass one batch per written file.

    voices = [make_voice(rng) for _ in range(3)]
    audio = synthesize([(voices[0], "so we need a remote control"), ...], sr=16000)
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from benchmark.errors import UserError

# eSpeak NG voice variants (espeak-ng-data/voices/!v): male, female and two
# formant-synthesiser (Klatt) families, for timbres beyond pitch and rate.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "klatt", "klatt2", "klatt3", "klatt4")
MALE = tuple(v for v in VARIANTS if not v.startswith("f"))
FEMALE = tuple(v for v in VARIANTS if v.startswith("f"))
SEED = 20211  # the library's own random generator (breath noise, jitter)

# Words with their syllable counts (standard British/American pronunciations),
# so a sentence's syllabic rate is known from what was drawn.
MEETING_WORDS = {
    "so": 1, "we": 1, "the": 1, "and": 1, "yeah": 1, "right": 1, "think": 1, "should": 1,
    "price": 1, "case": 1, "that": 1, "is": 1, "it": 1, "a": 1, "good": 1, "point": 1,
    "okay": 2, "maybe": 2, "meeting": 2, "budget": 2, "design": 2, "remote": 2,
    "control": 2, "button": 2, "project": 2, "market": 2, "people": 2, "really": 2,
    "about": 2, "colour": 2, "rubber": 2, "simple": 2, "target": 2, "agree": 2,
    "battery": 3, "important": 3, "interface": 3, "together": 3, "company": 3,
    "expensive": 3, "fashionable": 4, "manager": 3, "presentation": 4, "technical": 3,
}
KITCHEN_WORDS = {
    "yeah": 1, "so": 1, "the": 1, "is": 1, "what": 1, "do": 1, "you": 1, "want": 1,
    "I": 1, "think": 1, "we": 1, "need": 1, "more": 1, "salt": 1, "some": 1, "bread": 1,
    "okay": 2, "pasta": 2, "ready": 2, "water": 2, "kitchen": 2, "dinner": 2, "table": 2,
    "pepper": 2, "over": 2, "tomato": 3, "another": 3, "delicious": 3, "potatoes": 3,
}


def make_voice(rng: np.random.Generator, variants=VARIANTS) -> dict:
    """One speaker: voice variant, base pitch and pitch range (eSpeak 0-99), rate (words/min)."""
    return {"variant": str(rng.choice(variants)), "pitch": int(rng.integers(15, 90)),
            "range": int(rng.integers(20, 90)), "rate": int(rng.integers(130, 230))}


def sentence(rng: np.random.Generator, words: dict, lo: int = 3, hi: int = 12) -> tuple[str, int]:
    """(text, syllables) of ``lo``..``hi`` words drawn from ``words``."""
    vocab = list(words)
    chosen = [vocab[int(i)] for i in rng.integers(0, len(vocab), int(rng.integers(lo, hi + 1)))]
    return " ".join(chosen), sum(words[w] for w in chosen)


# The child: ctypes only (no NumPy), reading one JSON batch on stdin and writing
# the native sample rate, then every utterance as a length-prefixed int16 block.
_CHILD = r"""
import ctypes, json, struct, sys
req = json.load(sys.stdin)
lib = ctypes.CDLL(req["lib"])
lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                             ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
# AUDIO_OUTPUT_SYNCHRONOUS (2); espeakINITIALIZE_DONT_EXIT (0x8000): report, never exit().
sr = lib.espeak_Initialize(2, 0, req["data"].encode(), 0x8000)
if sr <= 0:
    sys.exit("espeak_Initialize failed")
chunks = []
CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
@CB
def collect(wav, n, events):
    if wav and n > 0:
        chunks.append(ctypes.string_at(wav, 2 * n))
    return 0
lib.espeak_SetSynthCallback(collect)
lib.espeak_ng_SetRandSeed(req["seed"])
out = sys.stdout.buffer
out.write(struct.pack("<i", sr))
for voice, rate, pitch, rng, text in req["items"]:
    if lib.espeak_SetVoiceByName(("en+" + voice).encode()) != 0:
        sys.exit("unknown eSpeak NG voice en+" + voice)
    # espeakRATE 1, espeakPITCH 3, espeakRANGE 4 (absolute values)
    for key, value in ((1, rate), (3, pitch), (4, rng)):
        lib.espeak_SetParameter(key, int(value), 0)
    data = text.encode()
    # position 0, POS_CHARACTER (1), no end, espeakCHARS_UTF8 (1)
    if lib.espeak_Synth(data, len(data) + 1, 0, 1, 0, 1, None, None) != 0:
        sys.exit("espeak_Synth failed for " + repr(text))
    lib.espeak_Synchronize()
    block = b"".join(chunks)
    chunks.clear()
    out.write(struct.pack("<i", len(block) // 2) + block)
out.flush()
"""


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError:
        raise UserError("the speech twins need eSpeak NG from the 'espeakng-loader' package: "
                        "pip install espeakng-loader (or reinstall gabor-bench).") from None
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def synthesize(requests, sr: int) -> list[np.ndarray]:
    """Synthesise ``[(voice, text), ...]`` in one fresh process; float arrays at ``sr``.

    Leading and trailing silence is kept as eSpeak writes it; see :func:`trim`.
    """
    if not requests:
        return []
    lib, data = _paths()
    items = [[v["variant"], v["rate"], v["pitch"], v["range"], text] for v, text in requests]
    payload = json.dumps({"lib": lib, "data": data, "seed": SEED, "items": items}).encode()
    # -I: the child ignores PYTHONPATH and the user site, so nothing but ctypes is imported.
    proc = subprocess.run([sys.executable, "-I", "-c", _CHILD], input=payload, capture_output=True)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise UserError(f"eSpeak NG speech synthesis failed: {' | '.join(tail) or proc.returncode}")
    buf = proc.stdout
    native = struct.unpack_from("<i", buf, 0)[0]
    pos, out = 4, []
    g = gcd(sr, native)
    for _ in items:
        n = struct.unpack_from("<i", buf, pos)[0]
        x = np.frombuffer(buf, dtype="<i2", count=n, offset=pos + 4).astype(np.float64) / 32768.0
        pos += 4 + 2 * n
        out.append(resample_poly(x, sr // g, native // g) if sr != native else x)
    return out


def trim(x: np.ndarray, sr: int, floor_db: float = -40.0) -> np.ndarray:
    """``x`` from its first to its last 10 ms frame within ``floor_db`` of the loudest one.

    The result is exactly the span a speech reference should cover.
    """
    hop = sr // 100
    frames = len(x) // hop
    if frames == 0:
        return x
    energy = np.sqrt(np.mean(x[: frames * hop].reshape(frames, hop) ** 2, axis=1)) + 1e-12
    loud = np.flatnonzero(20 * np.log10(energy / energy.max()) > floor_db)
    return x[loud[0] * hop:(loud[-1] + 1) * hop]


def f0_estimate(x: np.ndarray, sr: int, lo: float = 60.0, hi: float = 400.0) -> float:
    """Median pitch (Hz) over voiced 40 ms frames: the highest autocorrelation peak in range."""
    win, hop = int(0.04 * sr), int(0.01 * sr)
    if len(x) < win:
        return float("nan")
    starts = np.arange(0, len(x) - win + 1, hop)
    frames = x[starts[:, None] + np.arange(win)] * np.hanning(win)
    level = np.sqrt(np.mean(frames ** 2, axis=1))
    frames = frames[level > 0.5 * np.median(level[level > 0]) if np.any(level > 0) else level > 0]
    if not len(frames):
        return float("nan")
    spec = np.fft.rfft(frames, 2 * win, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :win]
    r /= r[:, :1] + 1e-12
    k0, k1 = int(sr / hi), int(sr / lo)
    best = k0 + np.argmax(r[:, k0:k1], axis=1)
    voiced = r[np.arange(len(r)), best] > 0.5
    return float(np.median(sr / best[voiced])) if np.any(voiced) else float("nan")
