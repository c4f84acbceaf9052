"""Train and evaluate one system on one dataset: one cell of the grid.

``run_cell`` resolves the configuration, loads the data (a synthetic twin or
the real dataset, never one for the other), reads cached log-mel features,
builds frontend + task head, fits with early stopping on the validation split's
main metric, scores the test split and writes the run JSON last, atomically: a
run killed at any point leaves no result and simply runs again.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmark import paths, results
from benchmark.errors import UserError
from benchmark.io import read_json, write_json
from benchmark.tasks import RunConfig, TaskSpec, resolve_config

if TYPE_CHECKING:
    from benchmark.features import FeatureConfig
    from benchmark.registry import FrontendConfig

# ---------------------------------------------------------------------------
# Data: examples per split, labels, features in memory


@dataclass
class Splits:
    train: list
    val: list
    test: list
    protocol: str


def make_splits(examples: list, fold: int | None) -> Splits:
    """train / validation / test lists of examples.

    Split-based datasets use their official train / dev / test. Fold-based ones
    test on ``fold`` and validate on the next fold (cyclically), which is one of
    the training folds, never the test fold; with fewer than three folds the
    validation set is a deterministic group-wise tenth of the training folds.
    """
    if fold is None:
        by = {s: [e for e in examples if e.split == s] for s in ("train", "dev", "test")}
        if not by["train"] or not by["test"]:
            raise UserError("the dataset has no train or no test examples: check its split lists")
        if by["dev"]:
            return Splits(by["train"], by["dev"], by["test"], "official train/dev/test")
        train, val = _group_holdout(by["train"])
        return Splits(train, val, by["test"], "official train/test; validation = 10% of "
                                               "training groups")
    folds = sorted({e.fold for e in examples if e.fold is not None})
    if fold not in folds:
        raise UserError(f"fold {fold} does not exist in this dataset (folds: {folds})")
    test = [e for e in examples if e.fold == fold]
    rest = [e for e in examples if e.fold != fold and e.fold is not None]
    if len(folds) >= 3:
        val_fold = folds[(folds.index(fold) + 1) % len(folds)]
        val = [e for e in rest if e.fold == val_fold]
        train = [e for e in rest if e.fold != val_fold]
        return Splits(train, val, test, f"test fold {fold}, validation fold {val_fold}, "
                                        f"training folds {[f for f in folds if f not in (fold, val_fold)]}")
    train, val = _group_holdout(rest)
    return Splits(train, val, test, f"test fold {fold}; validation = 10% of training groups")


def _group_holdout(examples: list, fraction: float = 0.1) -> tuple[list, list]:
    import hashlib

    groups = sorted({e.group or e.id for e in examples},
                    key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n_val = max(1, round(len(groups) * fraction)) if len(groups) > 1 else 0
    val_groups = set(groups[:n_val])
    return ([e for e in examples if (e.group or e.id) not in val_groups],
            [e for e in examples if (e.group or e.id) in val_groups])


def fix_length(x: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Crop ``n`` frames from ``offset`` or pad at the end with the clip's minimum."""
    x = x[offset:offset + n]
    if len(x) < n:
        fill = x.min() if len(x) else 0.0
        x = np.concatenate([x, np.full((n - len(x), x.shape[1]), fill, x.dtype)])
    return x


def window_starts(n_frames: int, chunk: int, hop: int) -> list[int]:
    """Starts of ``chunk``-frame windows every ``hop`` frames, the last one flush with the end."""
    starts = list(range(0, max(1, n_frames - chunk + 1), hop))
    if starts[-1] + chunk < n_frames:
        starts.append(n_frames - chunk)
    return starts


def frame_targets(segments, n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """1 where the frame's centre (frame i at i / frame rate) lies inside a segment."""
    t = np.arange(n_frames) / frame_rate_hz
    y = np.zeros(n_frames, np.float32)
    for start, end in segments or ():  # frames with start <= t < end; O(log n) per segment
        y[np.searchsorted(t, start, "left"):np.searchsorted(t, end, "left")] = 1.0
    return y


# ---------------------------------------------------------------------------
# Batches


def _keras():
    import keras

    return keras


class EpochBatches:
    """Deterministic batches: content depends on (seed, epoch, batch index) only.

    Wrapped into a ``keras.utils.PyDataset`` by :func:`_as_pydataset`; the
    training callback sets ``epoch`` at each epoch start, so a resumed run sees
    the same batches as an uninterrupted one.
    """

    def __init__(self, n_items: int, batch_size: int, load, seed: int, shuffle: bool):
        self.n, self.batch_size, self.load = n_items, batch_size, load
        self.seed, self.shuffle, self.epoch = seed, shuffle, 0

    def __len__(self):
        return max(1, math.ceil(self.n / self.batch_size))

    def __getitem__(self, i):
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
                 if self.shuffle else np.arange(self.n))
        idx = order[i * self.batch_size:(i + 1) * self.batch_size]
        return self.load(idx, np.random.default_rng([self.seed, self.epoch, i, 7]))


def _as_pydataset(batches: EpochBatches):
    keras = _keras()

    class _Dataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.batches = batches

        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    return _Dataset()


# ---------------------------------------------------------------------------
# Task-specific data and evaluation


class ClipTask:
    """Clip classification (bird calls, urban sound): fixed-length clips."""

    def __init__(self, cfg: RunConfig, store, splits: Splits, classes: list[str]):
        self.cfg, self.classes = cfg, classes
        self.index = {c: i for i, c in enumerate(classes)}
        clip = cfg.features.clip_seconds
        self.n_frames = (store.config.n_frames(int(round(clip * cfg.features.sample_rate))) if clip
                         else max(store.n_frames(e.id) for e in splits.train))
        self.x = {name: np.stack([fix_length(store.get(e.id), self.n_frames) for e in exs])
                  for name, exs in (("train", splits.train), ("val", splits.val),
                                    ("test", splits.test))}
        self.y = {name: np.array([self.index[e.label] for e in exs], np.int64)
                  for name, exs in (("train", splits.train), ("val", splits.val),
                                    ("test", splits.test))}
        self.norm = (self.x["train"].mean(axis=(0, 1)), self.x["train"].var(axis=(0, 1)))

    def train_batches(self) -> EpochBatches:
        t, x, y = self.cfg.train, self.x["train"], self.y["train"]
        k, mean = len(self.classes), self.norm[0]

        def load(idx, rng):
            xb, yb = x[idx].copy(), np.eye(k, dtype=np.float32)[y[idx]]
            for b in range(len(xb)):  # SpecAugment: stripes set to the training mean
                for _ in range(t.spec_time_stripes):
                    w = int(rng.integers(0, t.spec_time_width + 1))
                    s = int(rng.integers(0, max(1, xb.shape[1] - w)))
                    xb[b, s:s + w] = mean
                for _ in range(t.spec_freq_stripes):
                    w = int(rng.integers(0, t.spec_freq_width + 1))
                    s = int(rng.integers(0, max(1, xb.shape[2] - w)))
                    xb[b, :, s:s + w] = mean[s:s + w]
            if t.mixup_alpha > 0 and len(xb) > 1:
                lam = rng.beta(t.mixup_alpha, t.mixup_alpha, size=(len(xb), 1)).astype(np.float32)
                perm = rng.permutation(len(xb))
                xb = lam[:, :, None] * xb + (1 - lam[:, :, None]) * xb[perm]
                yb = lam * yb + (1 - lam) * yb[perm]
            return xb.astype(np.float32), yb

        return EpochBatches(len(x), t.batch_size, load, self.cfg.seed, shuffle=True)

    def eval_arrays(self, split: str):
        return self.x[split], np.eye(len(self.classes), dtype=np.float32)[self.y[split]]

    def val_main(self, model) -> tuple[float, float]:
        x, y1 = self.eval_arrays("val")
        p = _predict(model, x, self.cfg.train.batch_size)
        return _mean_loss(model, y1, p), float(np.mean(p.argmax(1) == self.y["val"]))

    def test_metrics(self, model, store) -> dict:
        from benchmark import metrics

        p = _predict(model, self.x["test"], self.cfg.train.batch_size)
        return metrics.classification_metrics(self.y["test"], p.argmax(1))


class SpeakerTask:
    """Speaker identification on the test split, verification EER on trials."""

    def __init__(self, cfg: RunConfig, store, splits: Splits, classes: list[str], trials):
        self.cfg, self.store, self.splits, self.trials = cfg, store, splits, trials
        self.index = {c: i for i, c in enumerate(classes)}
        self.n_classes = len(classes)
        self.chunk = max(4, round(cfg.train.chunk_seconds * store.frame_rate_hz))
        # Utterances are read per batch (VoxCeleb's features do not fit in memory).
        self.train_ids = [e.id for e in splits.train]
        self.train_y = np.array([self.index[e.label] for e in splits.train], np.int64)
        self.train_labels = {e.label for e in splits.train}
        # Validation: one deterministic centre crop per utterance.
        self.val_x = np.stack([fix_length(x, self.chunk, max(0, (len(x) - self.chunk) // 2))
                               for x in (store.get(e.id) for e in splits.val)])
        self.val_y = np.array([self.index[e.label] for e in splits.val], np.int64)
        # Standardisation statistics from (at most) 2000 training utterances, evenly spread.
        step = max(1, len(self.train_ids) // 2000)
        cat = np.concatenate([store.get(i) for i in self.train_ids[::step]])
        self.norm = (cat.mean(axis=0), cat.var(axis=0))

    def train_batches(self) -> EpochBatches:
        ids, ys, n, store = self.train_ids, self.train_y, self.chunk, self.store

        def load(idx, rng):
            xb = []
            for i in idx:
                x = store.get(ids[i])
                xb.append(fix_length(x, n, int(rng.integers(0, max(1, len(x) - n + 1)))))
            return np.stack(xb).astype(np.float32), ys[idx].astype(np.float32)

        return EpochBatches(len(ids), self.cfg.train.batch_size, load, self.cfg.seed, shuffle=True)

    def eval_arrays(self, split: str):
        return self.val_x, self.val_y.astype(np.float32)

    def val_main(self, model) -> tuple[float, float]:
        p = _predict(model, self.val_x, self.cfg.train.batch_size)
        return _mean_loss(model, self.val_y.astype(np.float32), p), \
            float(np.mean(p.argmax(1) == self.val_y))

    def _windows(self, x: np.ndarray) -> np.ndarray:
        hop = max(1, round(self.chunk * self.cfg.train.eval_hop_fraction))
        starts = range(0, max(1, len(x) - self.chunk + 1), hop)
        return np.stack([fix_length(x, self.chunk, s) for s in starts])

    def _utterance_outputs(self, model, ids: list[str]) -> np.ndarray:
        """Model outputs averaged over each utterance's sliding windows."""
        wins = [self._windows(self.store.get(i)) for i in ids]
        flat = _predict(model, np.concatenate(wins), self.cfg.train.batch_size)
        bounds = np.cumsum([0] + [len(w) for w in wins])
        return np.stack([flat[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])])

    def test_metrics(self, model, store) -> dict:
        from benchmark import metrics
        from benchmark.heads import embedding_model

        # Identification is scored on speakers the classifier knows (the
        # verification-only speakers have no class).
        test = [e for e in self.splits.test if e.label in self.index and e.label in self.train_labels]
        scores = self._utterance_outputs(model, [e.id for e in test])
        y = np.array([self.index[e.label] for e in test])
        out = {"accuracy": metrics.accuracy(y, scores.argmax(1))}
        trials = [t for t in self.trials if t.enroll in store and t.test in store]
        if trials and len({t.target for t in trials}) == 2:
            ids = sorted({t.enroll for t in trials} | {t.test for t in trials})
            emb = self._utterance_outputs(embedding_model(model), ids)
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)
            pos = {i: k for k, i in enumerate(ids)}
            cos = np.array([float(emb[pos[t.enroll]] @ emb[pos[t.test]]) for t in trials])
            lab = np.array([int(t.target) for t in trials])
            out["eer"] = metrics.equal_error_rate(cos, lab)
            if len(trials) >= 20:
                out["eer_ci95"] = list(metrics.eer_confidence_interval(
                    cos, lab, seed=self.cfg.seed, n_resamples=200))
        return out


class SadTask:
    """Speech activity detection: chunks for training, whole meetings for scoring."""

    def __init__(self, cfg: RunConfig, store, splits: Splits):
        self.cfg, self.store, self.splits = cfg, store, splits
        self.fr = store.frame_rate_hz
        self.chunk = max(4, round(cfg.train.chunk_seconds * self.fr))
        self.x = {e.id: store.get(e.id) for e in splits.train + splits.val + splits.test}
        self.y = {i: frame_targets(e.segments, len(self.x[i]), self.fr)
                  for e in splits.train + splits.val for i in [e.id]}
        cat = np.concatenate([self.x[e.id] for e in splits.train])
        self.norm = (cat.mean(axis=0), cat.var(axis=0))
        # Validation loss on fixed, non-overlapping dev chunks.
        vx, vy = [], []
        for e in splits.val:
            for s in range(0, max(1, len(self.x[e.id]) - self.chunk + 1), self.chunk):
                vx.append(fix_length(self.x[e.id], self.chunk, s))
                vy.append(fix_length(self.y[e.id][:, None], self.chunk, s)[:, 0])
        self.val_x, self.val_y = np.stack(vx), np.stack(vy)

    def train_batches(self) -> EpochBatches:
        ids = [e.id for e in self.splits.train]
        lengths = np.array([len(self.x[i]) for i in ids], np.float64)
        n_chunks = self.cfg.train.chunks_per_epoch or max(1, int(lengths.sum() // self.chunk))
        n = self.chunk

        def load(idx, rng):
            xb, yb = [], []
            for _ in idx:  # meetings drawn in proportion to their length
                m = ids[int(rng.choice(len(ids), p=lengths / lengths.sum()))]
                s = int(rng.integers(0, max(1, len(self.x[m]) - n + 1)))
                xb.append(fix_length(self.x[m], n, s))
                yb.append(fix_length(self.y[m][:, None], n, s)[:, 0])
            return np.stack(xb).astype(np.float32), np.stack(yb).astype(np.float32)

        return EpochBatches(n_chunks, self.cfg.train.batch_size, load, self.cfg.seed, shuffle=False)

    def eval_arrays(self, split: str):
        return self.val_x, self.val_y

    def scores(self, model, examples) -> dict:
        """Per-frame speech probability of whole files, by overlapping windows averaged."""
        hop = max(1, round(self.chunk * self.cfg.train.eval_hop_fraction))
        out = {}
        for e in examples:
            x = self.x[e.id]
            starts = window_starts(len(x), self.chunk, hop)
            p = _predict(model, np.stack([fix_length(x, self.chunk, s) for s in starts]),
                         self.cfg.train.batch_size)
            acc, cnt = np.zeros(len(x)), np.zeros(len(x))
            for s, row in zip(starts, p):
                m = min(self.chunk, len(x) - s)
                acc[s:s + m] += row[:m]
                cnt[s:s + m] += 1
            out[e.id] = acc / np.maximum(cnt, 1)
        return out

    @staticmethod
    def _ref(examples):
        return ({e.id: list(e.segments or ()) for e in examples},
                {e.id: e.uem for e in examples if e.uem is not None} or None)

    def val_main(self, model) -> tuple[float, float]:
        from benchmark import metrics

        p = _predict(model, self.val_x, self.cfg.train.batch_size)
        ref, uem = self._ref(self.splits.val)
        hyp = {i: metrics.binarize(s, self.fr) for i, s in self.scores(model, self.splits.val).items()}
        return _mean_loss(model, self.val_y, p), metrics.detection_error_rate(ref, hyp, uem)

    def test_metrics(self, model, store) -> dict:
        from benchmark import metrics

        ref, uem = self._ref(self.splits.val)
        params = metrics.tune_binarize(self.scores(model, self.splits.val), ref, uem, self.fr)
        self.binarize_params = params
        kw = {k: params[k] for k in ("onset", "offset", "min_duration_on", "min_duration_off")}
        ref, uem = self._ref(self.splits.test)
        hyp = {i: metrics.binarize(s, self.fr, **kw)
               for i, s in self.scores(model, self.splits.test).items()}
        return metrics.detection_metrics(ref, hyp, uem)


def _predict(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Inference in full batches: the last one is padded so no new graph is traced."""
    outs = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        n = len(xb)
        if n < batch_size and len(x) > batch_size:
            xb = np.concatenate([xb, np.zeros((batch_size - n, *xb.shape[1:]), xb.dtype)])
        outs.append(np.asarray(model.predict_on_batch(xb), np.float32)[:n])
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def _mean_loss(model, y: np.ndarray, p: np.ndarray) -> float:
    from keras import ops

    return float(ops.convert_to_numpy(model.loss(y, p)))


# ---------------------------------------------------------------------------
# Early stopping, history and checkpoints


def _history_callback(task, batches: EpochBatches, direction: str, patience: int,
                      ckpt: Path | None, state: dict | None):
    keras = _keras()

    class Monitor(keras.callbacks.Callback):
        """Validation main metric each epoch; best weights; patience; optional checkpoints."""

        def __init__(self):
            super().__init__()
            s = state or {}
            self.hist = s.get("hist") or {"epoch": [], "loss": [], "val_loss": [], "val_main": []}
            self.best = s.get("best")
            self.best_epoch = s.get("best_epoch", 0)
            self.wait = s.get("wait", 0)
            self.best_weights = None

        def on_epoch_begin(self, epoch, logs=None):
            batches.epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            logs = logs if logs is not None else {}
            loss = float(logs.get("loss", float("nan")))
            if not math.isfinite(loss):
                raise UserError(f"training diverged at epoch {epoch + 1} (loss {loss}); "
                                f"lower train.learning_rate")
            val_loss, val_main = task.val_main(self.model)
            logs["val_loss"], logs["val_main"] = val_loss, val_main
            for k, v in (("epoch", epoch + 1), ("loss", loss), ("val_loss", val_loss),
                         ("val_main", val_main)):
                self.hist[k].append(v)
            better = self.best is None or (val_main > self.best if direction == "max"
                                           else val_main < self.best)
            if better:
                self.best, self.best_epoch, self.wait = val_main, epoch + 1, 0
                self.best_weights = [np.array(w) for w in self.model.get_weights()]
            else:
                self.wait += 1
                if self.wait >= patience:
                    self.model.stop_training = True
            if ckpt is not None:
                self._save(epoch + 1)

        def _save(self, epoch):
            # Model (with optimizer state), best weights and this callback's state,
            # then the pointer that makes them current: a crash mid-save keeps the last.
            ckpt.mkdir(parents=True, exist_ok=True)
            self.model.save(ckpt / f"epoch{epoch}.keras")
            if self.best_epoch == epoch or not (ckpt / f"best{self.best_epoch}.npz").exists():
                np.savez(ckpt / f"best{self.best_epoch}.npz", *self.best_weights)
            write_json(ckpt / "latest.json", {
                "epoch": epoch, "model": f"epoch{epoch}.keras", "best": f"best{self.best_epoch}.npz",
                "state": {"hist": self.hist, "best": self.best, "best_epoch": self.best_epoch,
                          "wait": self.wait}})
            keep = {f"epoch{epoch}.keras", f"best{self.best_epoch}.npz", "latest.json", "run.json"}
            for f in ckpt.iterdir():
                if f.name not in keep:
                    f.unlink(missing_ok=True)

    return Monitor()


# ---------------------------------------------------------------------------
# Runtime


def _gpu_present() -> bool:
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:  # JAX-only installs: ask JAX
        try:
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        except Exception:
            return False


def _setup_runtime(seed: int, deterministic: bool) -> None:
    keras = _keras()
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # older TF: determinism is best effort there
            pass
    keras.mixed_precision.set_global_policy("float32")


def _load_data(cfg: RunConfig, progress: bool):
    from benchmark.prepare import prepare

    if cfg.data == "twin":
        from benchmark.twins import ensure_twin

        root = ensure_twin(cfg.dataset, size=cfg.twin.size, seed=cfg.twin.seed)
    else:
        root = paths.data_dir(cfg.dataset)
        if not root.is_dir() or not any(root.iterdir()):
            raise UserError(
                f"real {cfg.dataset} data not found at {root}: run `gaborbench download "
                f"{cfg.dataset}` (manual datasets: see datasets/{cfg.dataset}/README.md), "
                f"or pass --data twin to run on its synthetic twin")
    prepared = prepare(cfg.dataset, root, progress=progress)
    if prepared.source != cfg.data:
        raise UserError(f"{root} holds {prepared.source} data but the run asks for {cfg.data} data")
    return prepared, root


def _count_params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _gabor_info(model, cfg: RunConfig, fconf, learnable: bool, init: dict | None) -> dict | None:
    from benchmark.features import mel_bins_per_octave
    from benchmark.layers import find_gabor_layers

    found = find_gabor_layers(model)
    if not found or init is None:
        return None
    g = found[0]  # the first Gabor layer is the one a hybrid frontend compares
    return {"init": init, "final": _gabor_params(model),
            "kernel_size": [int(k) for k in getattr(g, "kernel_size", cfg.frontend.kernel_size)],
            "frame_rate_hz": float(fconf.frame_rate_hz),
            # bins/octave at 1 kHz, where the Slaney scale turns logarithmic
            "mel_bins_per_octave": mel_bins_per_octave(fconf, max(1000.0, fconf.fmin + 1.0)),
            "learnable": bool(learnable)}


def _gabor_params(model) -> dict | None:
    try:
        from benchmark.layers import find_gabor_layers
    except ImportError:
        return None
    found = find_gabor_layers(model)
    if not found:
        return None
    return {k: [float(v) for v in np.ravel(a)] for k, a in found[0].gabor_params().items()}


def _resume(ckpt: Path, chash: str, model, gabor_init):
    """Load the last complete checkpoint of this exact configuration, if any."""
    try:
        tag, latest = read_json(ckpt / "run.json"), read_json(ckpt / "latest.json")
    except (OSError, ValueError):
        tag = latest = None
    if not tag or not latest or tag.get("config_hash") != chash:
        shutil.rmtree(ckpt, ignore_errors=True)  # another configuration's, or none
        return model, None, 0, None, gabor_init
    import keras

    model = keras.saving.load_model(ckpt / latest["model"])
    best = np.load(ckpt / latest["best"])
    best_weights = [best[f"arr_{i}"] for i in range(len(best.files))]
    return model, latest["state"], int(latest["epoch"]), best_weights, tag["gabor_init"]


def _save_model(model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")  # Keras insists on the .keras suffix
    model.save(tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# One run


def frontend_config(cfg, fconf: FeatureConfig) -> FrontendConfig:
    """What a system's factory sees for a run configuration."""
    from benchmark.registry import FrontendConfig

    return FrontendConfig(filters=cfg.frontend.filters,
                          kernel_size=tuple(cfg.frontend.kernel_size),
                          output_mode=cfg.frontend.output_mode,
                          frame_rate_hz=float(fconf.frame_rate_hz), n_mels=fconf.n_mels,
                          fmin=float(fconf.fmin), fmax=float(fconf.fmax_hz), seed=cfg.seed)


def run_cell(dataset: str, system: str, seed: int = 0, fold: int | None = None,
             profile: str = "demo", data: str | None = None, out=None, overrides=(),
             progress: bool = True) -> Path:
    """Train and evaluate one (dataset, system, seed, fold); return the run JSON's path.

    Skips (and says so) when a run JSON with the same configuration hash exists.
    """
    cfg = resolve_config(dataset, system, profile, list(overrides), seed=seed, fold=fold,
                         data=data)
    out = Path(out) if out is not None else results.default_out()
    rpath = results.run_path(out, dataset, system, seed, cfg.fold)
    chash = cfg.hash()
    if rpath.exists():
        try:
            old = read_json(rpath).get("config_hash")
        except (OSError, ValueError):
            old = None
        cell = f"{dataset}/{system} seed {seed}{'' if cfg.fold is None else f' fold {cfg.fold}'}"
        if old == chash:
            print(f"skip {cell}: {rpath} already holds config {chash}")
            return rpath
        print(f"{cell}: the configuration changed ({old} -> {chash}); running again")
    return _train_and_score(cfg, chash, out, rpath, progress)


def _train_and_score(cfg: RunConfig, chash: str, out: Path, rpath: Path, progress: bool) -> Path:
    t0 = time.perf_counter()
    from benchmark.features import extract_features
    from benchmark.registry import get_system

    task: TaskSpec = cfg.task_spec
    system = get_system(cfg.system)
    prepared, root = _load_data(cfg, progress)
    fconf = cfg.features
    store = extract_features(prepared, fconf, progress=progress)

    examples = [e for e in prepared.examples if e.id in store]
    splits = make_splits(examples, cfg.fold)
    if task.output == "frame":
        data = SadTask(cfg, store, splits)
        n_classes = 1
    else:
        classes = sorted({e.label for e in examples if e.label is not None})
        if task.head == "xvector":
            data = SpeakerTask(cfg, store, splits, classes, prepared.trials)
        else:
            data = ClipTask(cfg, store, splits, classes)
        n_classes = len(classes)

    import keras

    from benchmark.heads import build_model, compile_model

    gpu = _gpu_present()
    mixed = gpu and cfg.train.mixed_precision
    _setup_runtime(cfg.seed, cfg.train.deterministic)
    frontend = system.build(frontend_config(cfg, fconf))  # float32 always: the frontend is what is compared
    if mixed:  # the head (most of the compute) in float16, with loss scaling
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(task, frontend, fconf.n_mels, n_classes, cfg.head, norm=data.norm)
        compile_model(model, task, cfg.head, cfg.train.optimizer, cfg.train.learning_rate,
                      jit_compile=gpu and cfg.train.jit_compile)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    ckpt = results.checkpoint_dir(out, cfg.dataset, cfg.system, cfg.seed, cfg.fold) \
        if cfg.train.checkpoint else None
    state, initial_epoch, best_weights = None, 0, None
    gabor_init = _gabor_params(model)
    frontend_name = frontend.name
    if ckpt is not None:
        model, state, initial_epoch, best_weights, gabor_init = _resume(
            ckpt, chash, model, gabor_init)
        if state is None:
            ckpt.mkdir(parents=True, exist_ok=True)
            write_json(ckpt / "run.json", {"config_hash": chash, "gabor_init": gabor_init})
        else:
            print(f"resuming {cfg.dataset}/{cfg.system} seed {cfg.seed} after epoch {initial_epoch}")
    frontend_layer = model.get_layer(frontend_name)

    batches = data.train_batches()
    monitor = _history_callback(data, batches, task.direction, cfg.train.patience, ckpt, state)
    monitor.best_weights = best_weights
    logdir = results.logs_dir(out, cfg.dataset, cfg.system, cfg.seed, cfg.fold)
    callbacks = [monitor, keras.callbacks.TensorBoard(str(logdir), write_graph=False,
                                                      profile_batch=0)]
    if initial_epoch < cfg.train.epochs and not (state and state.get("wait", 0) >= cfg.train.patience):
        model.fit(_as_pydataset(batches), epochs=cfg.train.epochs, initial_epoch=initial_epoch,
                  callbacks=callbacks, verbose=1 if progress else 0)
    if monitor.best_weights is not None:
        model.set_weights(monitor.best_weights)

    metrics = data.test_metrics(model, store)
    from benchmark.metrics import METRIC_DIRECTIONS

    mpath = results.model_path(out, cfg.dataset, cfg.system, cfg.seed, cfg.fold)
    _save_model(model, mpath)
    hist = monitor.hist
    skipped = len(prepared.skips) + len(getattr(store, "failed", []))
    twin = ({"size": cfg.twin.size, "seed": cfg.twin.seed} if cfg.data == "twin" else None)
    extra_cfg = {"splits": splits.protocol, "n_train": len(splits.train), "n_val": len(splits.val),
                 "n_test": len(splits.test), "dataset_protocol": prepared.protocol,
                 "mixed_precision": mixed, "jit_compile": bool(getattr(model, "jit_compile", False))}
    if task.output == "frame":
        extra_cfg["binarize"] = getattr(data, "binarize_params", None)
    else:
        extra_cfg["classes"] = classes  # output index -> label, for prediction
    run = {
        "schema_version": results.SCHEMA_VERSION,
        "dataset": cfg.dataset, "task": task.name, "system": cfg.system, "seed": cfg.seed,
        "fold": cfg.fold, "profile": cfg.profile, "data_source": prepared.source,
        "config_hash": chash, "config": cfg.to_json() | {"run": extra_cfg},
        "metrics": {k: (v if isinstance(v, list) else float(v)) for k, v in metrics.items()},
        "metric_directions": {k: METRIC_DIRECTIONS[k] for k in metrics if k in METRIC_DIRECTIONS},
        "main_metric": task.main_metric,
        "history": {**hist, "best_epoch": int(monitor.best_epoch)},
        "params": {"frontend_trainable": _count_params(frontend_layer.trainable_weights),
                   "total_trainable": _count_params(model.trainable_weights)},
        "gabor": _gabor_info(model, cfg, fconf, system.learnable_gabor, gabor_init),
        "features": {"sample_rate": int(fconf.sample_rate), "n_mels": int(fconf.n_mels),
                     "fmin": float(fconf.fmin), "fmax": float(fconf.fmax_hz),
                     "hop_ms": float(fconf.hop_ms), "win_ms": float(fconf.win_ms)},
        "wall_time_s": float(time.perf_counter() - t0),
        "provenance": results.provenance(data_checksum=prepared.checksum, data_root=str(root),
                                         twin=twin, skipped_inputs=skipped),
        "model_path": str(mpath.relative_to(out)),
    }
    results.write_run(rpath, run)
    if ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    return rpath


def cli_run(args) -> int:
    path = run_cell(args.dataset, args.system, seed=args.seed, fold=args.fold,
                    profile=args.profile, data=args.data, out=args.out, overrides=args.set,
                    progress=True)
    run = read_json(path)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in run["metrics"].items() if not isinstance(v, list))
    print(f"{run['dataset']}/{run['system']} seed {run['seed']}: {shown}")
    print(f"run file: {path}")
    return 0
