"""Train and evaluate one system on one dataset: one cell of the grid.

``run_cell`` reads top to bottom:

1. resolve and check the configuration (before any data is touched);
2. claim the cell (a lock under ``<out>/.locks/``: array tasks, ``--jobs`` workers
   and two grids started on one folder never train the same cell at once; the
   second waits, then skips), and skip it if a run file with the same
   configuration hash exists;
3. load the data (a synthetic twin or the real dataset, never one for the
   other), its cached log-mel features and, when the protocol adds noise, the
   noise corpus;
4. let the task (:mod:`benchmark.tasks`) build its splits, batches and head;
5. fit, validating every epoch with the task's own metric, keeping the best
   weights, stopping early, checkpointing when asked;
6. score the test split and write the run file last, atomically: a run killed
   at any point leaves no result and runs again (resuming from its last
   checkpoint when checkpoints are on).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

from benchmark import backend, paths, results
from benchmark.config import PERMUTED_SUFFIX, RunConfig, resolve_config
from benchmark.errors import UserError
from benchmark.features import extract_features
from benchmark.io import file_lock, probe_writable, read_json, remove_stale_temporaries, write_json
from benchmark.predict import file_sha256
from benchmark.prepare import prepare
from benchmark.systems import get_system
from benchmark.tasks.base import NoiseBank, check_classes
from benchmark.twins import ensure_twin
from benchmark.units import mel_bins_per_octave

# Keras, and the modules built on it (heads, layers), load inside the functions that
# build or fit a model: a cell skipped as already done, and a configuration error, are
# answered without TensorFlow's start-up (seconds).

PLANTED_FILE = "PLANTED_MODULATIONS.json"


# ---------------------------------------------------------------------------
# One run


def run_cell(dataset: str, system: str, seed: int = 0, fold: int | None = None,
             profile: str = "demo", data: str | None = None, out=None, overrides=(),
             progress: bool = True) -> Path:
    """Train and evaluate one (dataset, system, seed, fold); return the run JSON's path.

    Skips (and says so) when a run JSON with the same configuration hash exists.
    """
    cfg = resolve_config(dataset, system, profile, list(overrides), seed=seed, fold=fold,
                         data=data)
    out = check_out(out)
    rpath = results.run_path(out, dataset, row_name(cfg), seed, cfg.fold)
    chash = cfg.hash()
    cell = f"{dataset}/{system} seed {seed}{'' if cfg.fold is None else f' fold {cfg.fold}'}"
    # The claim: an flock, which the kernel releases when its holder dies (killed, cancelled,
    # requeued), so no stale claim outlives a run; the run file is checked again once held.
    with file_lock(results.cell_lock_path(out, rpath),
                   waiting=f"{cell} is being run by another process; waiting for it to end"):
        if rpath.exists():
            old = results.RunRecord.configured_hash(rpath)
            if old == chash:
                print(f"skip {cell}: {rpath} already holds config {chash}")
                return rpath
            print(f"{cell}: the configuration changed ({old} -> {chash}); running again")
        return train_and_score(cfg, out, progress)


def row_name(cfg: RunConfig) -> str:
    """The system name a run is filed and reported under.

    A label-permuted run (``train.permute_labels``) is the null of its system, not
    one of its seeds: it gets its own row, ``<system>+permuted``, so it neither
    overwrites the real run of the same seed nor enters that system's cells.
    """
    return cfg.system + PERMUTED_SUFFIX if cfg.train.permute_labels else cfg.system


def check_out(out) -> Path:
    """The results root, refused early when it names a file."""
    out = Path(out) if out is not None else results.default_out()
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")

    return probe_writable(out)  # a read-only or full --out is said now, not after training


def train_and_score(cfg: RunConfig, out: Path, progress: bool) -> Path:
    t0 = time.perf_counter()
    task_cls = cfg.task_class
    system = get_system(cfg.system)
    prepared, root = load_data(cfg.dataset, cfg.data, cfg.twin, progress)
    # Faults the manifest alone shows are said before the features are computed (minutes
    # on real data): a missing noise corpus, a test class that training lacks.
    noise = load_noise(cfg, progress)
    check_splits_early(task_cls, cfg, prepared)
    store = extract_features(prepared, cfg.features, progress=progress)
    task = task_cls(cfg, prepared, store, noise)

    runtime = backend.setup(cfg.seed, cfg.train.deterministic)
    model, frontend_name, mixed = build(cfg, task, system)
    row = row_name(cfg)
    ckpt = (results.checkpoint_dir(out, cfg.dataset, row, cfg.seed, cfg.fold)
            if cfg.train.checkpoint else None)
    model, state = _resume(cfg, model, ckpt)
    monitor = _fit(cfg, task, model, state, ckpt, results.logs_dir(out, cfg.dataset, row, cfg.seed,
                                                                   cfg.fold), progress)

    metrics = task.test(model)
    mpath = results.model_path(out, cfg.dataset, row, cfg.seed, cfg.fold)
    model_sha256 = save_model(model, mpath)
    record = results.RunRecord(
        dataset=cfg.dataset, task=cfg.task, system=row, seed=cfg.seed, fold=cfg.fold,
        profile=cfg.profile, data_source=prepared.source, config_hash=cfg.hash(),
        config=cfg.to_json(),
        run={"splits": task.splits.protocol, "n_train": len(task.splits.train),
             "n_val": len(task.splits.val), "n_test": len(task.splits.test),
             "dataset_protocol": prepared.protocol, "mixed_precision": mixed,
             "jit_compile": bool(getattr(model, "jit_compile", False)),
             "noise": None if noise is None else noise.source,
             "resumed_from_epoch": state.resumed_from, "model_sha256": model_sha256,
             **task.record()},
        metrics=metrics, main_metric=task.main_metric,
        history=_history(monitor),
        params={"frontend_trainable": count_params(model.get_layer(frontend_name).trainable_weights),
                "total_trainable": count_params(model.trainable_weights)},
        gabor=gabor_record(model, cfg, system.learnable_gabor, state.gabor_init),
        planted=planted_truth(root) if prepared.source == "twin" else None,
        features={"sample_rate": int(cfg.features.sample_rate), "n_mels": int(cfg.features.n_mels),
                  "fmin": float(cfg.features.fmin), "fmax": float(cfg.features.fmax_hz),
                  "hop_ms": float(cfg.features.hop_ms), "win_ms": float(cfg.features.win_ms)},
        wall_time_s=float(time.perf_counter() - t0),
        provenance=results.provenance(
            data_checksum=prepared.checksum, data_root=str(root),
            twin=({"size": cfg.twin.size, "seed": cfg.twin.seed} if cfg.data == "twin" else None),
            skipped_inputs=len(prepared.skips) + len(getattr(store, "failed", [])),
            determinism=runtime),
        model_path=str(mpath.relative_to(out)),
        outputs=task.outputs,
    )
    rpath = results.run_path(out, cfg.dataset, row, cfg.seed, cfg.fold)
    results.write_run(rpath, record)
    if ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    return rpath


def _resume(cfg: RunConfig, model, ckpt: Path | None):
    """(model, resume state): the checkpoint's model where one of this configuration exists."""
    gabor_init = gabor_params(model)
    state = Resume.load(ckpt, cfg.hash(), gabor_init) if ckpt is not None else Resume.fresh(gabor_init)
    if state.model is not None:
        model = state.model
        print(f"resuming {cfg.dataset}/{cfg.system} seed {cfg.seed} after epoch {state.epoch}")
    elif ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        write_json(ckpt / "run.json", {"config_hash": cfg.hash(), "gabor_init": gabor_init})
    return model, state


def _fit(cfg: RunConfig, task, model, state: "Resume", ckpt: Path | None, logdir: Path,
         progress: bool) -> "Monitor":
    """Train from the state's epoch on; the model ends with the best validation's weights."""
    import keras

    batches = task.train_batches()
    monitor = Monitor(task, batches, task.direction, cfg.train.patience, ckpt, state)
    callbacks = [monitor]
    if backend.tensorboard_available():  # Keras' TensorBoard callback needs TensorFlow
        callbacks.append(keras.callbacks.TensorBoard(str(logdir), write_graph=False,
                                                     profile_batch=0))
    if state.epoch < cfg.train.epochs and not state.stopped(cfg.train.patience):
        model.fit(_as_pydataset(batches), epochs=cfg.train.epochs, initial_epoch=state.epoch,
                  callbacks=callbacks, verbose=1 if progress else 0)
    if monitor.best_weights is not None:
        model.set_weights(monitor.best_weights)
    return monitor


def _history(monitor: "Monitor") -> dict:
    return {**monitor.hist, "best_epoch": int(monitor.best_epoch),
            # the best validation at the last epoch: the run may still have been improving
            "selected_last_epoch": bool(monitor.hist.get("epoch"))
            and int(monitor.best_epoch) == int(monitor.hist["epoch"][-1])}


# ---------------------------------------------------------------------------
# Data


def load_data(dataset: str, data: str, twin, progress: bool):
    """The prepared manifest and root folder of a dataset's twin or real copy."""
    if data == "twin":
        root = ensure_twin(dataset, size=twin.size, seed=twin.seed)
    else:
        root = paths.data_dir(dataset)
        if not root.is_dir() or not any(root.iterdir()):
            raise UserError(
                f"real {dataset} data not found at {root}: run `gaborbench download "
                f"{dataset}` (manual datasets: see datasets/{dataset}/README.md), "
                f"or pass --data twin to run on its synthetic twin")
    prepared = prepare(dataset, root, progress=progress)
    if prepared.source != data:
        raise UserError(f"{root} holds {prepared.source} data but the run asks for {data} data")
    return prepared, root


def check_splits_early(task_cls, cfg: RunConfig, prepared) -> None:
    """The task's splits and class check on every manifest example (those that later fail
    to decode can only shrink the splits), before any feature is computed."""
    if task_cls.output != "clip":
        return
    probe = task_cls.__new__(task_cls)  # make_splits reads cfg and prepared only
    probe.cfg, probe.prepared, probe.store, probe.noise = cfg, prepared, None, None
    where = cfg.dataset if cfg.fold is None else f"{cfg.dataset} fold {cfg.fold}"
    check_classes(probe.make_splits(list(prepared.examples), cfg.fold), where)


def load_noise(cfg: RunConfig, progress: bool):
    """The noise corpus's log-mel spectra (noise and music, never its speech), if the protocol adds noise."""
    if getattr(cfg.protocol, "noise_prob", 0.0) <= 0:
        return None

    try:
        prepared, root = load_data("musan", cfg.data, cfg.twin, progress)
    except UserError as e:
        raise UserError(f"{e} (the noise corpus for augmentation; or turn augmentation off "
                        f"with --set protocol.noise_prob=0)") from None
    store = extract_features(prepared, cfg.features, progress=progress)
    spectra = [store.get(e.id) for e in prepared.examples
               if e.label in ("noise", "music") and e.id in store]
    return NoiseBank(spectra, f"musan ({prepared.source}, {len(spectra)} files)", cfg.features.level)


def planted_truth(root) -> dict | None:
    """A twin's planted class evidence (modulations), if its generator wrote one."""
    try:
        return read_json(Path(root) / PLANTED_FILE) if (Path(root) / PLANTED_FILE).is_file() else None
    except (OSError, ValueError):
        return None


def _as_pydataset(batches):
    import keras

    class Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)

        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    return Batches()


# ---------------------------------------------------------------------------
# Model


def build(cfg: RunConfig, task, system):
    """The compiled model, its frontend layer's name and whether the head runs in float16."""
    import keras

    from benchmark.heads import build_model

    gpu = backend.gpu_present()
    mixed = backend.supports_mixed_precision() and cfg.train.mixed_precision
    frontend = system.build(cfg.frontend)  # float32 always: the frontend is what is compared
    if mixed:  # the head (most of the compute) in float16, with loss scaling
        keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(frontend, task.build_head, cfg.features.n_mels, norm=task.norm,
                            name=f"{task.name}_model")
        model.compile(optimizer=make_optimizer(cfg.train, frontend), loss=task.loss(),
                      jit_compile=backend.jit_compile_option(gpu and cfg.train.jit_compile))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, frontend.name, mixed


def make_optimizer(train, frontend):
    """SGD (momentum 0.9) or Adam; the frontend's variables at ``frontend_lr_scale`` x the rate."""
    from benchmark.heads import ScaledAdam, ScaledSGD

    if train.frontend_lr_scale == 1.0:
        import keras

        return (keras.optimizers.SGD(train.learning_rate, momentum=0.9) if train.optimizer == "sgd"
                else keras.optimizers.Adam(train.learning_rate))
    cls = ScaledSGD if train.optimizer == "sgd" else ScaledAdam
    kw = {"momentum": 0.9} if train.optimizer == "sgd" else {}
    return cls(learning_rate=train.learning_rate, scaled_prefix=frontend.name + "/",
               scale=train.frontend_lr_scale, **kw)


def count_params(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def gabor_params(model) -> dict | None:
    from benchmark.layers import find_gabor_layers

    found = find_gabor_layers(model)
    if not found:
        return None
    return {k: [float(v) for v in np.ravel(a)] for k, a in found[0].gabor_params().items()}


def gabor_record(model, cfg: RunConfig, learnable: bool, init: dict | None) -> dict | None:
    """Initial and final Gabor parameters, with what converts them to Hz and cycles/octave."""
    from benchmark.layers import find_gabor_layers

    found = find_gabor_layers(model)
    if not found or init is None:
        return None
    g, f = found[0], cfg.features  # the first Gabor layer is the one a hybrid frontend compares
    return {"init": init, "final": gabor_params(model),
            "kernel_size": [int(k) for k in getattr(g, "kernel_size", cfg.frontend.kernel_size)],
            "grid": str(getattr(g, "grid", "centered")),
            "frame_rate_hz": float(f.frame_rate_hz),
            "mel_bins_per_octave": mel_bins_per_octave(f.n_mels, f.fmin, f.fmax_hz),
            "n_mels": int(f.n_mels), "fmin": float(f.fmin), "fmax": float(f.fmax_hz),
            "learnable": bool(learnable)}


def save_model(model, path: Path) -> str:
    """Atomic: a per-process temporary file, renamed into place, removed on any failure
    (and, after a kill, by the next save beside it). Returns the saved file's sha256,
    which the run records so that ``predict`` can refuse a swapped model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.stem, ".tmp.keras")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")  # Keras wants .keras
    try:
        model.save(tmp)
        digest = file_sha256(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


# ---------------------------------------------------------------------------
# Early stopping, history and checkpoints


class Resume:
    """Where training starts: fresh, or after the last complete checkpoint of this configuration."""

    def __init__(self, gabor_init, model=None, epoch=0, state=None, best_weights=None):
        self.gabor_init, self.model, self.epoch = gabor_init, model, epoch
        self.state, self.best_weights = state or {}, best_weights
        self.resumed_from = epoch if model is not None else None

    @classmethod
    def fresh(cls, gabor_init):
        return cls(gabor_init)

    @classmethod
    def load(cls, ckpt: Path, chash: str, gabor_init) -> "Resume":
        try:
            tag, latest = read_json(ckpt / "run.json"), read_json(ckpt / "latest.json")
        except (OSError, ValueError):
            tag = latest = None
        if not tag or not latest or tag.get("config_hash") != chash:
            shutil.rmtree(ckpt, ignore_errors=True)  # another configuration's, or none
            return cls.fresh(gabor_init)
        import keras

        try:
            model = keras.saving.load_model(ckpt / latest["model"])
            best = np.load(ckpt / latest["best"])
            best_weights = [best[f"arr_{i}"] for i in range(len(best.files))]
        except Exception as e:  # a truncated or foreign file: start over rather than stay stuck
            print(f"warning: discarding the unreadable checkpoint in {ckpt} "
                  f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); starting over")
            shutil.rmtree(ckpt, ignore_errors=True)
            return cls.fresh(gabor_init)
        return cls(tag["gabor_init"], model, int(latest["epoch"]), latest["state"], best_weights)

    def stopped(self, patience: int) -> bool:
        return self.state.get("wait", 0) >= patience


def _monitor_base():
    import keras

    return keras.callbacks.Callback


class Monitor(_monitor_base()):
    """Validation main metric each epoch; best weights; patience; optional checkpoints."""

    def __init__(self, task, batches, direction: str, patience: int, ckpt: Path | None,
                 resume: Resume):
        super().__init__()
        s = resume.state
        self.task, self.batches, self.direction = task, batches, direction
        self.patience, self.ckpt = patience, ckpt
        self.hist = s.get("hist") or {"epoch": [], "loss": [], "val_loss": [], "val_main": [],
                                      "val_extra": []}
        self.best = s.get("best")
        self.best_epoch = s.get("best_epoch", 0)
        self.wait = s.get("wait", 0)
        self.best_weights = resume.best_weights

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        loss = float(logs.get("loss", float("nan")))
        if not math.isfinite(loss):
            raise UserError(f"training diverged at epoch {epoch + 1} (loss {loss}); "
                            f"lower train.learning_rate")
        v = self.task.validate(self.model, epoch + 1)
        logs["val_loss"], logs["val_main"] = v["val_loss"], v["val_main"]
        extra = {k: x for k, x in v.items() if k not in ("val_loss", "val_main")}
        for k, x in (("epoch", epoch + 1), ("loss", loss), ("val_loss", float(v["val_loss"])),
                     ("val_main", float(v["val_main"])), ("val_extra", extra)):
            self.hist[k].append(x)
        better = self.best is None or (v["val_main"] > self.best if self.direction == "max"
                                       else v["val_main"] < self.best)
        if better:
            self.best, self.best_epoch, self.wait = float(v["val_main"]), epoch + 1, 0
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.model.stop_training = True
        if self.ckpt is not None:
            self._save(epoch + 1)

    def _save(self, epoch):
        # Model (with optimizer state), best weights and this callback's state,
        # then the pointer that makes them current: a crash mid-save keeps the last.
        ckpt = self.ckpt
        ckpt.mkdir(parents=True, exist_ok=True)
        save_model(self.model, ckpt / f"epoch{epoch}.keras")
        best = ckpt / f"best{self.best_epoch}.npz"
        if self.best_epoch == epoch or not best.exists():
            tmp = ckpt / f".best{self.best_epoch}.{os.getpid()}.tmp.npz"
            try:
                np.savez(tmp, *self.best_weights)
                os.replace(tmp, best)
            finally:
                tmp.unlink(missing_ok=True)
        write_json(ckpt / "latest.json", {
            "epoch": epoch, "model": f"epoch{epoch}.keras", "best": best.name,
            "state": {"hist": self.hist, "best": self.best, "best_epoch": self.best_epoch,
                      "wait": self.wait}})
        keep = {f"epoch{epoch}.keras", best.name, "latest.json", "run.json"}
        for f in ckpt.iterdir():
            if f.name not in keep:
                f.unlink(missing_ok=True)


# ---------------------------------------------------------------------------
# Command line


def cli_run(args) -> int:
    path = run_cell(args.dataset, args.system, seed=args.seed, fold=args.fold,
                    profile=args.profile, data=args.data, out=args.out, overrides=args.set,
                    progress=True)
    run = results.RunRecord.load(path)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in run.metrics.items() if not isinstance(v, list))
    print(f"{run.dataset}/{run.system} seed {run.seed}: {shown}")
    print(f"run file: {path}")
    return 0
