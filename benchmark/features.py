"""Log-mel features, computed once per (dataset manifest, feature config) and cached.

Every clip is computed on its own: Hann-windowed STFT (centred frames, zero
padded), power spectrum, Slaney mel filterbank (librosa's default), then
10*log10 with a fixed floor, optionally clamped to the clip's own maximum minus
``top_db`` and shifted by a statistic of the clip's own level (``level``).
Nothing depends on the other clips of a batch or dataset, so every system and
seed reads the same cached numbers.

Level normalisation exists because recording level is not a property of the
sound: a model that standardises its input with training-set statistics learns
the training data's level, and a speech-activity model trained on loud
synthetic meetings missed nearly all speech in real AMI recordings 20-40 dB
quieter. Subtracting a per-clip statistic makes a clip's features invariant to
a gain; with it, the floor is relative to the clip's peak (``top_db`` below it,
or ``amin`` read as a ratio to it), so digital silence moves with the gain too.
Measured (demo profile, ``mel`` system, 3 seeds, trained on the AMI twin, scored
on the 14 real AMI excerpts of tests/data/real; all-speech hypothesis 64.0 %):
DetER 99.0 % with ``none``, 68.7 % ``clip_p95``, 54.6 % ``clip_mean``, 47.7 %
``band_mean``, at the same error on the twin's own test set (2.3-3.0 %). A
per-band mean also removes a fixed channel response (the real recordings'
spectral tilt differs from the twin's by about 8 dB across bands), but it
removes a stationary sound's spectral shape too: for clip classification,
where that shape can be the class evidence, a scalar shift is the safer kind.

The analysis window is also a modulation filter: each frame's power is the
signal's power envelope weighted by the squared window, so temporal modulations
faster than the window are averaged away before any frontend sees them
(:func:`modulation_transfer_db`). The default 25 ms Hann window passes the
power envelope to -3 dB at 37 Hz; the original code's effective window
(``window="fft"``: Hann over the whole 2048-sample FFT, 128 ms at 16 kHz, because
its mel layer is never given a window length) is -3 dB at 7.2 Hz, -6 dB at 10 Hz
and -29 dB at 20 Hz, so filters learned on its features cannot show fast
temporal modulation whatever they learn.

Frame ``i`` of a clip is centred at ``i * hop / sample_rate`` seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from benchmark import paths, units
from benchmark.audio import AudioError, load_audio
from benchmark.data import PreparedDataset, Skip
from benchmark.errors import UserError
from benchmark.io import file_lock, read_json, write_json

# Bump when the computation changes, so old caches are not reused.
FEATURE_VERSION = 2

# Per-clip level normalisation: what is subtracted from the clip's log-mel (dB).
LEVELS = {
    "none": "nothing: absolute dB re full scale",
    "clip_mean": "the clip's mean log-mel (over frames and bands)",
    "clip_p95": "the 95th percentile of the clip's frame energies (mean log-mel per frame): "
                "anchors the loud, active part, whatever the share of silence",
    "band_mean": "each band's mean over the clip's frames (cepstral mean normalisation on "
                 "log-mel: removes a gain and a fixed channel response)",
}


# The analysis window: what multiplies each FFT frame.
WINDOWS = {
    "win_ms": "a Hann window of win_ms, centred in the n_fft frame (zero-padded)",
    "fft": "a Hann window over the whole n_fft frame: the original code's effective window "
           "(its mel layer is never passed the 25 ms window length it declares)",
}


@dataclass(frozen=True, kw_only=True)
class FeatureConfig:
    sample_rate: int = 16000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int | None = None          # None: next power of two >= the window
    fmin: float = 0.0
    fmax: float | None = None         # None: sample_rate / 2
    clip_seconds: float | None = None  # pad/trim every clip to this length (clip tasks)
    amin: float = 1e-10               # power floor before the log (-100 dB)
    top_db: float | None = None       # if set, clamp each clip to its own max - top_db
    level: str = "none"               # per-clip level normalisation: a key of LEVELS
    # (with a level normalisation and no top_db, amin is a ratio to the clip's peak)
    window: str = "win_ms"            # the analysis window: a key of WINDOWS
    # where a clip shorter than clip_seconds gets its zeros: "end", or "start" (as Arnault
    # et al.'s urban-sound code pads, so every clip ends at the same frame)
    pad: str = "end"

    def __post_init__(self):
        def bad(field, why):
            raise UserError(f"feature config: {field}={getattr(self, field)!r} {why}")

        if self.sample_rate <= 0:
            bad("sample_rate", "must be positive")
        if self.n_mels <= 0:
            bad("n_mels", "must be positive")
        if self.hop_ms <= 0 or self.hop_length < 1:
            bad("hop_ms", "must give a hop of at least one sample")
        if self.win_ms <= 0 or self._declared_win < 2:
            bad("win_ms", "must give a window of at least two samples")
        if self.n_fft is not None and self.n_fft < self._declared_win:
            bad("n_fft", f"must be >= the window length ({self._declared_win} samples)")
        if self.window not in WINDOWS:
            bad("window", f"must be one of {', '.join(WINDOWS)}")
        if self.pad not in ("end", "start"):
            bad("pad", "must be end or start")
        if not 0 <= self.fmin < self.fmax_hz <= self.sample_rate / 2:
            bad("fmin", f"and fmax must satisfy 0 <= fmin < fmax <= sample_rate/2 ({self.sample_rate / 2:g})")
        if self.clip_seconds is not None and self.clip_seconds <= 0:
            bad("clip_seconds", "must be positive or None")
        if self.amin <= 0:
            bad("amin", "must be positive")
        if self.top_db is not None and self.top_db <= 0:
            bad("top_db", "must be positive or None")
        if self.level not in LEVELS:
            bad("level", f"must be one of {', '.join(LEVELS)}")

    @property
    def _declared_win(self) -> int:
        return int(round(self.win_ms * self.sample_rate / 1000))

    @property
    def win_length(self) -> int:
        """Samples of the Hann window actually applied (the whole FFT frame for ``fft``)."""
        return self.fft_size if self.window == "fft" else self._declared_win

    @property
    def hop_length(self) -> int:
        return int(round(self.hop_ms * self.sample_rate / 1000))

    @property
    def fft_size(self) -> int:
        return self.n_fft if self.n_fft is not None else 1 << (self._declared_win - 1).bit_length()

    @property
    def fmax_hz(self) -> float:
        return float(self.fmax) if self.fmax is not None else self.sample_rate / 2

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a waveform of ``n_samples`` (centred framing)."""
        return 1 + n_samples // self.hop_length

    def hash(self) -> str:
        """A stable short hash of the fields (and the computation's version)."""
        blob = json.dumps({"v": FEATURE_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- mel scale

# The scale itself lives in benchmark.units (NumPy only, shared with the report).
from benchmark.units import hz_to_mel, mel_to_hz  # noqa: E402,F401


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """(n_fft//2 + 1, n_mels) triangular filters, Slaney area normalisation."""
    n_fft = config.fft_size
    fft_hz = np.linspace(0, config.sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(config.fmin), hz_to_mel(config.fmax_hz), config.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]  # equal area per filter
    return weights.T


def mel_bins_per_octave(config: FeatureConfig, at_hz: float) -> float:
    """Local density of mel bins per octave at ``at_hz`` (see :mod:`benchmark.units`)."""
    return float(units.bins_per_octave_at(config.n_mels, config.fmin, config.fmax_hz, at_hz))


def mel_center_hz(config: FeatureConfig) -> np.ndarray:
    """Centre frequency of each mel bin (Hz)."""
    return units.mel_center_hz(config.n_mels, config.fmin, config.fmax_hz)


# ---------------------------------------------------------------- log-mel

_CHUNK_FRAMES = 4096  # frames per FFT call: bounds memory on hour-long files


@dataclass(frozen=True)
class _Plan:
    window: np.ndarray
    mel: np.ndarray


_plans: dict[FeatureConfig, _Plan] = {}


def _plan(config: FeatureConfig) -> _Plan:
    plan = _plans.get(config)
    if plan is None:
        n_fft, win = config.fft_size, config.win_length
        import scipy.signal  # here: importing it costs a second, which a CLI error should not wait for

        w = scipy.signal.get_window("hann", win, fftbins=True)  # periodic Hann
        left = (n_fft - win) // 2
        window = np.zeros(n_fft)
        window[left:left + win] = w  # centred in the FFT frame, as librosa does
        plan = _plans[config] = _Plan(window, mel_filterbank(config))
    return plan


def compute_logmel(waveform: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Log-mel (dB) of one mono waveform at ``config.sample_rate``: (frames, n_mels) float32."""
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a mono waveform (samples,), got shape {x.shape}")
    plan = _plan(config)
    n_fft, hop = config.fft_size, config.hop_length
    x = np.pad(x, n_fft // 2)
    n_frames = 1 + (len(x) - n_fft) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    assert len(frames) == n_frames
    out = np.empty((n_frames, config.n_mels), dtype=np.float64)
    for s in range(0, n_frames, _CHUNK_FRAMES):
        spec = np.fft.rfft(frames[s:s + _CHUNK_FRAMES] * plan.window, axis=1)
        power = spec.real ** 2 + spec.imag ** 2
        out[s:s + _CHUNK_FRAMES] = power @ plan.mel
    if config.level == "none":
        db = 10.0 * np.log10(np.maximum(out, config.amin))
        if config.top_db is not None and len(db):
            db = np.maximum(db, db.max() - config.top_db)  # this clip's own max only
    else:
        # An absolute floor stays put while a gain moves the signal, so quiet
        # bins and digital silence (padding) would break the invariance: the
        # floor is relative to this clip's peak (top_db below it, or amin read
        # as a ratio to it), and is the only floor.
        depth_db = config.top_db if config.top_db is not None else -10.0 * np.log10(config.amin)
        peak = float(out.max()) if out.size else 0.0
        floor = peak * 10.0 ** (-depth_db / 10.0) if peak > 0 else config.amin
        db = 10.0 * np.log10(np.maximum(out, floor))
        if len(db):
            db -= clip_level(db, config.level)  # in float64: the shift must not add rounding
    return db.astype(np.float32)


def clip_level(db: np.ndarray, level: str) -> np.ndarray | float:
    """The statistic ``level`` subtracts from a clip's (frames, n_mels) log-mel."""
    if level == "clip_mean":
        return float(db.mean())
    if level == "clip_p95":
        return float(np.percentile(db.mean(axis=1), 95))
    if level == "band_mean":
        return db.mean(axis=0, keepdims=True)
    raise ValueError(f"unknown level normalisation {level!r} (known: {', '.join(LEVELS)})")


def modulation_transfer_db(config: FeatureConfig, freqs_hz) -> np.ndarray:
    """What the analysis window passes of a temporal modulation of the power envelope (dB).

    A frame's expected power is the signal's power envelope weighted by the squared
    window (exactly so for a noise carrier, whose frequency components are
    uncorrelated), so a power envelope ``1 + m cos(2π f t)`` comes out of the frame
    sequence as ``1 + m T(f) cos(...)`` with ``T(f) = |Σ w²[n] e^{-2πi f n / sr}| / Σ w²``.
    Returns ``20 log10 T`` at each frequency in Hz (0 dB at 0 Hz); the frame rate's own
    Nyquist limit comes on top.
    """
    w2 = _plan(config).window ** 2
    n = np.arange(len(w2)) / config.sample_rate
    f = np.atleast_1d(np.asarray(freqs_hz, dtype=np.float64))
    t = np.abs(np.exp(-2j * np.pi * f[:, None] * n[None, :]) @ w2) / w2.sum()
    return 20.0 * np.log10(np.maximum(t, 1e-12)).reshape(np.shape(freqs_hz))


def logmel_file(path: str | os.PathLike, config: FeatureConfig) -> np.ndarray:
    """Decode a file at the config's rate (padded/trimmed to clip_seconds) and return its log-mel."""
    if config.clip_seconds is not None and config.pad == "start":
        n = int(round(config.clip_seconds * config.sample_rate))
        x = load_audio(path, config.sample_rate)[:n]   # clips: the whole file is short
        x = np.concatenate([np.zeros(n - len(x), x.dtype), x])
    else:
        x = load_audio(path, config.sample_rate, duration=config.clip_seconds)
    return compute_logmel(x, config)


# ---------------------------------------------------------------- cache

class FeatureStore:
    """Read-only view of one cached extraction: log-mel frames by example id."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder)
        meta = read_json(self.path / "index.json")
        self.config = FeatureConfig(**meta["config"])
        self.dataset = meta["dataset"]
        self.checksum = meta["checksum"]
        self._index = {k: (int(o), int(n)) for k, (o, n) in meta["index"].items()}
        self.ids = list(meta["ids"])
        self.failed = [Skip(**s) for s in meta["failed"]]
        self._total = int(meta["total_frames"])

    @cached_property
    def _frames(self) -> np.ndarray:
        if self._total == 0:
            return np.zeros((0, self.config.n_mels), np.float32)
        return np.memmap(self.path / "frames.f32", dtype="<f4", mode="r",
                         shape=(self._total, self.config.n_mels))

    @property
    def frame_rate_hz(self) -> float:
        return self.config.frame_rate_hz

    def get(self, id: str) -> np.ndarray:
        """(frames, n_mels) float32 log-mel of one example."""
        try:
            offset, n = self._index[id]
        except KeyError:
            why = " (it failed to decode)" if any(s.path == id for s in self.failed) else ""
            raise KeyError(f"no features for {id!r}{why}") from None
        return np.array(self._frames[offset:offset + n])

    def n_frames(self, id: str) -> int:
        return self._index[id][1]

    def __contains__(self, id: object) -> bool:
        return id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"FeatureStore({self.dataset!r}, {len(self)} clips, {self.path})"


def cache_folder(prepared: PreparedDataset, config: FeatureConfig) -> Path:
    return paths.features_dir() / prepared.name / f"{prepared.checksum}-{config.hash()}"


def _is_complete(folder: Path) -> bool:
    try:
        meta = read_json(folder / "index.json")
        size = (folder / "frames.f32").stat().st_size
    except (OSError, ValueError):
        return False
    return meta.get("complete") is True and size == 4 * meta["total_frames"] * meta["config"]["n_mels"]


def extract_features(prepared: PreparedDataset, config: FeatureConfig, *,
                     progress: bool = True) -> FeatureStore:
    """Compute (or reuse) the log-mel of every example of ``prepared``.

    The cache folder appears only once complete (built in a temporary folder,
    then renamed), so an interrupted run leaves nothing a later run would
    accept. A lock serialises concurrent extractions of the same key (parallel
    grid jobs) so the work is done once. Files that fail to decode are recorded
    in ``FeatureStore.failed``, not raised.
    """
    folder = cache_folder(prepared, config)
    if _is_complete(folder):
        return FeatureStore(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    # file_lock neither truncates nor follows a link planted at the lock path
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if _is_complete(folder):  # another process finished while we waited
            return FeatureStore(folder)
        # Holding the lock, any leftover temporary folder is from a killed run.
        for stale in folder.parent.glob(f".{folder.name}.tmp*"):
            shutil.rmtree(stale, ignore_errors=True)
        if folder.exists():  # incomplete (should not happen): rebuild it
            shutil.rmtree(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp", dir=folder.parent))
        try:
            _extract_into(tmp, prepared, config, progress)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return FeatureStore(folder)


def _extract_into(tmp: Path, prepared: PreparedDataset, config: FeatureConfig, progress: bool) -> None:
    root = Path(prepared.root)
    index: dict[str, tuple[int, int]] = {}
    failed: list[dict] = []
    offset = 0
    examples = prepared.examples
    with open(tmp / "frames.f32", "wb") as out:
        for ex in tqdm(examples, desc=f"log-mel {prepared.name}", unit="clip",
                       disable=not progress, leave=False):
            path = Path(ex.path) if os.path.isabs(ex.path) else root / ex.path
            try:
                feats = logmel_file(path, config)
            except AudioError as e:
                failed.append({"path": ex.id, "reason": e.reason})
                continue
            out.write(np.ascontiguousarray(feats, dtype="<f4").tobytes())
            index[ex.id] = (offset, len(feats))
            offset += len(feats)
    write_json(tmp / "index.json", {
        "complete": True,
        "version": FEATURE_VERSION,
        "dataset": prepared.name,
        "source": prepared.source,
        "checksum": prepared.checksum,
        "config": dataclasses.asdict(config),
        "frame_rate_hz": config.frame_rate_hz,
        "total_frames": offset,
        "ids": [ex.id for ex in examples if ex.id in index],
        "index": index,
        "failed": failed,
    }, indent=None)
