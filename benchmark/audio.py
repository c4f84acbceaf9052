"""Decoding audio files into float32 waveforms at a chosen sample rate.

soundfile (libsndfile) reads every WAV flavour the datasets use (8-bit unsigned
through 32/64-bit float, mono or multichannel) plus FLAC and OGG; TensorFlow's
``decode_wav`` reads 16-bit PCM only, so it is not used. Resampling uses soxr.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

# Frames decoded at a time when scanning a whole file: bounds memory on
# hour-long recordings (AMI meetings) while keeping the per-call overhead small.
_BLOCK_FRAMES = 1 << 20
EMPTY = "empty audio (0 samples)"
# Sample rates a recording can have. A header is only a claim: a 100 kB file claiming
# 1 Hz would be resampled 16,000-fold (gigabytes) before anything else noticed.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000


class AudioError(Exception):
    """A file that cannot be used as audio; ``reason`` says why in a few words."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class AudioInfo:
    sample_rate: int
    channels: int
    frames: int
    subtype: str      # e.g. PCM_16, PCM_U8, FLOAT
    format: str       # e.g. WAV, FLAC

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def audio_info(path: str | os.PathLike) -> AudioInfo:
    """Header metadata only (no decoding). Raises AudioError if unreadable."""
    try:
        info = sf.info(str(path))
    except Exception as e:  # libsndfile raises several types for bad headers
        raise AudioError(path, f"unreadable: {_short(e)}") from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioError(path, f"bad header (rate {info.samplerate}, channels {info.channels})")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"sample rate {info.samplerate} Hz is outside "
                               f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz (a damaged or forged header)")
    return AudioInfo(int(info.samplerate), int(info.channels), int(info.frames),
                     str(info.subtype), str(info.format))


def check_audio(path: str | os.PathLike) -> AudioInfo:
    """Decode the whole file block by block; return its info with the decoded frame count.

    The frame count is what was actually decoded, not what the header claims
    (truncated files often claim more). Raises AudioError for unreadable,
    empty or non-finite (NaN/Inf) audio.
    """
    info = audio_info(path)
    frames = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                if not np.isfinite(block).all():
                    raise AudioError(path, f"contains NaN or Inf samples (near {frames / info.sample_rate:.2f} s)")
                frames += len(block)
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(path, f"decode failed after {frames} frames: {_short(e)}") from None
    if frames == 0:
        raise AudioError(path, EMPTY)
    return AudioInfo(info.sample_rate, info.channels, frames, info.subtype, info.format)


def load_audio(
    path: str | os.PathLike,
    sample_rate: int,
    *,
    mono: bool = True,
    duration: float | None = None,
    offset: float = 0.0,
) -> np.ndarray:
    """Decode ``path`` to float32 at ``sample_rate``.

    Returns shape (samples,) when ``mono`` (channels averaged), else
    (samples, channels). ``offset`` (seconds) skips the start; ``duration``
    (seconds) crops, or zero-pads a file that ends early, to exactly
    ``round(duration * sample_rate)`` samples.
    """
    info = audio_info(path)
    if info.frames == 0:
        # a header with no samples (or a 0-byte data chunk): nothing to zero-pad
        raise AudioError(path, EMPTY)
    sr_in = info.sample_rate
    start = max(0, int(round(offset * sr_in)))
    # Read a few extra input frames so the resampler's edge does not eat the end.
    frames = -1 if duration is None else int(np.ceil(duration * sr_in)) + 16
    try:
        x, _ = sf.read(str(path), start=start, frames=frames, dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(path, f"decode failed: {_short(e)}") from None
    if x.size == 0 and (start == 0 or duration is None):
        # the header may claim frames the file does not hold
        raise AudioError(path, EMPTY if start == 0 else f"no audio after offset {offset} s")
    if not np.isfinite(x).all():
        raise AudioError(path, "contains NaN or Inf samples")
    if mono:
        # A matrix-vector product: NumPy's mean over a short axis is ~100x slower.
        ch = x.shape[1]
        x = x[:, 0] if ch == 1 else x @ np.full(ch, 1.0 / ch, dtype=np.float32)
    if sr_in != sample_rate and len(x):
        # soxr is a band-limited resampler: it low-pass filters before
        # decimating, so energy above the new Nyquist (e.g. 8-22 kHz when going
        # from 44.1 to 16 kHz) is removed rather than aliased into the band the
        # mel filters see. Naive interpolation would fold it back down.
        x = soxr.resample(x, sr_in, sample_rate, quality="HQ")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if duration is not None:
        x = fit_length(x, int(round(duration * sample_rate)))
    return x


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``x`` along its first axis to exactly ``n`` samples."""
    if n < 0:
        raise ValueError(f"length must be >= 0, got {n}")
    if len(x) >= n:
        return x[:n]
    pad = [(0, n - len(x))] + [(0, 0)] * (x.ndim - 1)
    return np.pad(x, pad)


def file_fingerprint(path: str | os.PathLike, *, edge_bytes: int = 1 << 16) -> str:
    """A cheap content fingerprint: size plus the first and last ``edge_bytes``.

    Distinguishes two copies of a dataset with equal metadata but different
    audio (e.g. synthetic twins with different seeds) without reading gigabytes.
    """
    h = hashlib.sha1()
    size = os.path.getsize(path)
    h.update(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(edge_bytes))
        if size > 2 * edge_bytes:
            f.seek(size - edge_bytes)
            h.update(f.read(edge_bytes))
        elif size > edge_bytes:
            h.update(f.read())
    return h.hexdigest()[:16]


def _short(e: Exception) -> str:
    msg = " ".join(str(e).split())
    return (msg[:200] + "...") if len(msg) > 200 else (msg or type(e).__name__)
