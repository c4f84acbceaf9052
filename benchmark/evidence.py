"""Evidence maps: where in modulation space a dataset's classes differ, read from its data.

A planted list says what a generator put in, not what tells its classes apart.
The evidence map reads the latter from the written files: a few hundred log-mel
patches, read through the real adapter's manifest and the task's own feature
settings, each taken to the magnitude of its 2-D DFT on the grid the kernels'
modulation is read on (:func:`benchmark.kernels.kernel_transfer`: the same
zero-padding, so bin (i, j) is the same cycles per tap for a patch and for a
kernel). Per cell, how well the log magnitude separates the classes: the
one-vs-rest ROC AUC of each class, as ``|2 AUC - 1|`` (0: no separation, 1:
perfect), averaged over the classes; the same map with the labels shuffled gives
the floor (its largest value) that chance alone reaches in any cell.

Labels: a clip's label (clip tasks, speaker identity); for speech activity, a
patch is ``speech`` when most of its frames lie inside reference speech, else
``non-speech``. Deterministic per seed, cached per (manifest, features, patches,
seed) under the cache root. NumPy and SciPy only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from benchmark import paths
from benchmark.audio import load_audio
from benchmark.data import Example, PreparedDataset
from benchmark.features import FeatureConfig, compute_logmel
from benchmark.io import atomic_path
from benchmark.kernels import kernel_transfer

VERSION = 3
PATCHES = 300
PATCH_SECONDS = 1.0     # longest patch; shorter files give shorter patches
SEED = 0
PAD = (256, 128)        # kernel_transfer's default: one grid for kernels and data


@dataclass(frozen=True)
class EvidenceMap:
    separation: np.ndarray    # (PAD[0], PAD[1]) in [0, 1], cycles per tap as kernel_transfer
    nu_t: np.ndarray          # signed cycles per frame of the rows
    nu_f: np.ndarray          # signed cycles per band of the columns
    classes: tuple[str, ...]
    n_patches: int
    floor: float              # the largest value of the same map with the labels shuffled

    @property
    def excess(self) -> np.ndarray:
        """Separation above the shuffled-label floor: a finite sample's |2 AUC - 1| is above
        0 in every cell, class information or not; only what exceeds chance counts."""
        return np.maximum(self.separation - self.floor, 0.0)

    def at(self, temporal_cyc_per_tap, spectral_cyc_per_tap) -> np.ndarray:
        """Separation at (ν_t, ν_f) points, nearest bin (the map is symmetric under ν -> -ν)."""
        n_t, n_f = self.separation.shape
        i = np.rint(np.asarray(temporal_cyc_per_tap, dtype=float) * n_t).astype(int) % n_t
        j = np.rint(np.asarray(spectral_cyc_per_tap, dtype=float) * n_f).astype(int) % n_f
        return self.separation[i, j]


def _label(ex: Example, start: float, length: float) -> str | None:
    if ex.label is not None:
        return str(ex.label)
    if ex.segments is None:
        return None
    inside = sum(max(0.0, min(e, start + length) - max(s, start)) for s, e in ex.segments)
    return "speech" if inside > length / 2 else "non-speech"


def _patches(prepared: PreparedDataset, cfg: FeatureConfig, n: int, seed: int):
    """(log-mel patches, labels): ``n`` patches, one per drawn (example, offset)."""
    rng = np.random.default_rng(seed)
    usable = [e for e in prepared.examples if e.label is not None or e.segments is not None]
    if not usable:
        return [], []
    root = Path(prepared.root)
    mels, labels = [], []
    for k in rng.integers(0, len(usable), size=n):
        ex = usable[int(k)]
        total = float(ex.duration or PATCH_SECONDS)
        length = min(PATCH_SECONDS, total)
        start = float(rng.uniform(0.0, max(total - length, 0.0)))
        label = _label(ex, start, length)
        if label is None:
            continue
        x = load_audio(root / ex.path, cfg.sample_rate, offset=start, duration=length)
        mels.append(compute_logmel(x, cfg))
        labels.append(label)
    return mels, labels


def _spectra(mels: list[np.ndarray]) -> np.ndarray:
    """log |2-D DFT| of each patch (Hann on both axes, mean removed), zero-padded to PAD."""
    t = min(m.shape[0] for m in mels)
    out = []
    for m in mels:
        m = m[:t].astype("float64")
        w = np.hanning(m.shape[0])[:, None] * np.hanning(m.shape[1])[None, :]
        mag, _, _ = kernel_transfer(((m - m.mean()) * w)[..., None], np.zeros(m.shape + (1,)), PAD)
        out.append(np.log(mag[..., 0] + 1e-6).astype("float32"))
    return np.stack(out)


def separation_map(spectra: np.ndarray, labels, ranks: np.ndarray | None = None) -> np.ndarray:
    """Per cell, mean over classes of |2 AUC - 1| of one class against the rest."""
    labels = np.asarray(labels)
    flat = spectra.reshape(len(spectra), -1)
    ranks = rankdata(flat, axis=0) if ranks is None else ranks
    out = np.zeros(flat.shape[1])
    classes = [c for c in np.unique(labels) if 0 < (labels == c).sum() < len(labels)]
    for c in classes:
        pos = labels == c
        n_p, n_n = int(pos.sum()), int((~pos).sum())
        auc = (ranks[pos].sum(axis=0) - n_p * (n_p + 1) / 2) / (n_p * n_n)
        out += np.abs(2 * auc - 1)
    return (out / max(len(classes), 1)).reshape(spectra.shape[1:])


def _cache_path(prepared: PreparedDataset, cfg: FeatureConfig, n: int, seed: int) -> Path:
    key = json.dumps([VERSION, prepared.name, prepared.checksum, cfg.hash(), n, seed, PAD,
                      PATCH_SECONDS])
    return paths.evidence_dir() / f"{prepared.name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"


def evidence_map(prepared: PreparedDataset, cfg: FeatureConfig, n: int = PATCHES,
                 seed: int = SEED, cache: bool = True) -> EvidenceMap | None:
    """The dataset's evidence map (None when fewer than two classes have patches)."""
    path = _cache_path(prepared, cfg, n, seed)
    nu_t, nu_f = np.fft.fftfreq(PAD[0]), np.fft.fftfreq(PAD[1])
    if cache and path.exists():
        z = np.load(path, allow_pickle=False)
        return EvidenceMap(z["separation"], nu_t, nu_f, tuple(str(c) for c in z["classes"]),
                           int(z["n_patches"]), float(z["floor"]))
    mels, labels = _patches(prepared, cfg, n, seed)
    if len(set(labels)) < 2:
        return None
    spectra = _spectra(mels)
    ranks = rankdata(spectra.reshape(len(spectra), -1), axis=0)
    sep = separation_map(spectra, labels, ranks).astype("float32")
    shuffled = np.random.default_rng(seed + 1).permutation(np.asarray(labels))
    floor = float(separation_map(spectra, shuffled, ranks).max())
    classes = tuple(sorted(set(labels)))
    if cache:   # atomic: a report running beside another never reads half a map
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, separation=sep, classes=np.array(classes), n_patches=len(labels),
                     floor=floor)
    return EvidenceMap(sep, nu_t, nu_f, classes, len(labels), floor)
