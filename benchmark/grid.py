"""The grid: every dataset x system x seed (x fold) cell of a profile.

``gaborbench reproduce`` runs the cells (resuming: a cell whose run file exists
with the same configuration is skipped by ``run_cell`` itself), then builds the
report. ``gaborbench plan`` prints the same cells as ``gaborbench run``
commands, as a shell script or a SLURM job array, for machines where the grid
should be spread over a cluster; there is no scheduler of our own.

Parallelism. ``--jobs N`` runs cells in N worker processes started with
"spawn" (TensorFlow is not fork-safe). With GPUs present each worker is pinned
to one GPU through ``CUDA_VISIBLE_DEVICES``, set before TensorFlow is imported
(workers share GPUs round-robin when N exceeds the GPU count); without GPUs each
worker's thread pools are limited to cores // N so that the workers do not fight
over the cores. A single long run that should use every GPU of one machine is a
different matter: ``tf.distribute.MirroredStrategy`` splits each batch over the
GPUs when the model is built and fitted inside its scope. The command line has
no switch for it (the run configuration has no distribution setting); from
Python, with the TensorFlow backend::

    import tensorflow as tf
    from benchmark.train import run_cell
    with tf.distribute.MirroredStrategy().scope():
        run_cell("voxceleb1", "learnable_gabor", profile="paper")

Keep ``train.batch_size`` the global batch (it is divided among the GPUs).

Failures. A cell that raises is reported with its reason, logged as JSON at
``<out>/logs/failed/<dataset>/<system>/seed<N>[_fold<K>].json`` (removed when
the cell later succeeds), and the grid goes on; the exit status is 1 when any
cell failed. Real datasets that are absent are never replaced by twins: their
cells are skipped, ``<out>/runs/<dataset>/MISSING.json`` records why, and the
report shows them as "not run" (this alone does not make the exit status
non-zero).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shlex
import shutil
import subprocess
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from benchmark import paths
from benchmark.data import TWIN_MARKER
from benchmark.errors import UserError, printable
from benchmark.io import write_json

MISSING_FILE = "MISSING.json"


@dataclass(frozen=True)
class Cell:
    dataset: str
    system: str
    seed: int = 0
    fold: int | None = None

    @property
    def name(self) -> str:
        fold = "" if self.fold is None else f"_fold{self.fold}"
        return f"{self.dataset}/{self.system}/seed{self.seed}{fold}"


# --------------------------------------------------------------------------- cells


def default_data_source(profile: str) -> str:
    """The paper profiles (paper, paper-window) run on real data; ci and demo on the twins."""
    return "real" if profile.startswith("paper") else "twin"


def select_cells(profile: str, datasets=(), systems=()) -> list[Cell]:
    """The profile's cells, optionally restricted to some datasets and systems."""
    from benchmark.config import grid_cells

    cells = [Cell(d, s, int(seed), None if fold is None else int(fold))
             for d, s, seed, fold in grid_cells(profile)]
    for what, wanted, known in (("dataset", datasets, {c.dataset for c in cells}),
                                ("system", systems, {c.system for c in cells})):
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise UserError(f"{what} {', '.join(unknown)} is not in the {profile!r} grid "
                            f"(it has: {', '.join(sorted(known))})")
    if datasets:
        cells = [c for c in cells if c.dataset in set(datasets)]
    if systems:
        cells = [c for c in cells if c.system in set(systems)]
    return cells


def _out_root(out) -> Path:
    return Path(out) if out else paths.RESULTS_DIR


def _run_file(out: Path, cell: Cell) -> Path:
    from benchmark.results import run_path

    return Path(run_path(out, cell.dataset, cell.system, cell.seed, cell.fold))


def is_done(out: Path, cell: Cell, profile: str, data: str | None) -> bool:
    """Whether the cell's run file exists with the configuration it would run now
    (the test ``run_cell`` itself applies before skipping)."""
    from benchmark.config import resolve_config
    from benchmark.results import RunRecord

    path = _run_file(out, cell)
    if not path.is_file():
        return False
    try:
        cfg = resolve_config(cell.dataset, cell.system, profile, seed=cell.seed, fold=cell.fold,
                             data=data)
        return RunRecord.configured_hash(path) == cfg.hash()
    except Exception:  # unreadable or unresolvable: it will run (and say why if it fails)
        return False


def failure_path(out: Path, cell: Cell) -> Path:
    return out / "logs" / "failed" / f"{cell.name}.json"


# ------------------------------------------------------------------- real data check


def missing_reason(dataset: str) -> str | None:
    """Why the real ``dataset`` cannot be used (None when it is present).

    Present means every path the recipe ``expect``s exists in the dataset
    folder. A folder holding a synthetic twin counts as missing: a twin never
    stands in for real data.
    """
    root = paths.data_dir(dataset)
    if (root / TWIN_MARKER).exists():
        return (f"{root} holds a synthetic twin, not the real dataset; "
                f"remove it and {_how_to_get(dataset)}")
    if not root.is_dir() or not any(root.iterdir()):
        return f"real data not found at {root}; {_how_to_get(dataset)}"
    absent = [e for e in _expected(dataset) if not (root / e).exists()]
    if absent:
        return f"{root} is incomplete (no {', '.join(absent)}); {_how_to_get(dataset)}"
    return None


def _expected(dataset: str) -> tuple[str, ...]:
    try:
        from benchmark.recipes import load_recipe

        return load_recipe(dataset).expect
    except Exception:  # no recipe: a non-empty folder is all we can check
        return ()


def _how_to_get(dataset: str) -> str:
    """The recipe's manual steps when it can only be obtained by hand, else the download command."""
    try:
        from benchmark.recipes import load_recipe

        recipe = load_recipe(dataset)
    except Exception:  # a broken recipe must not hide the missing-data message
        recipe = None
    if recipe is not None and recipe.manual:
        steps = " ".join(step.strip() for s in recipe.sources for step in s.steps)
        return f"it must be downloaded by hand (datasets/{dataset}/README.md): {steps}"
    return f"get it with `gaborbench download {dataset}`"


def mark_missing(out: Path, datasets) -> dict[str, str]:
    """Write MISSING.json for each absent real dataset; clear stale markers of present ones."""
    missing = {}
    for d in sorted(set(datasets)):
        marker = out / "runs" / d / MISSING_FILE
        reason = missing_reason(d)
        if reason is None:
            marker.unlink(missing_ok=True)
        else:
            missing[d] = reason
            write_json(marker, {"dataset": d, "reason": reason})
    return missing


# --------------------------------------------------------------------------- workers


def visible_gpus() -> list[str]:
    """GPU ids usable by workers, found without importing TensorFlow."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    if shutil.which("nvidia-smi") is None:
        # No nvidia-smi (a ROCm machine, a container without it): ask the backend, so that
        # workers are not silently pinned to the CPU.
        from benchmark import backend

        return [str(i) for i in range(backend.gpu_count())]
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def worker_env(slot: int, jobs: int, gpus: list[str], cores: int) -> dict[str, str]:
    """Environment for worker ``slot`` of ``jobs``: one GPU each, or a share of the cores."""
    if gpus:
        return {"CUDA_VISIBLE_DEVICES": gpus[slot % len(gpus)]}
    n = str(max(1, cores // max(1, jobs)))
    return {"CUDA_VISIBLE_DEVICES": "-1", "OMP_NUM_THREADS": n,
            "TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": "1"}


_worker: dict = {}   # in a worker process: its slot number and the parent's event queue


def _init_worker(slots, jobs: int, gpus: list[str], cores: int, parent: int | None = None,
                 events=None) -> None:
    # Runs in the fresh worker before anything imports TensorFlow.
    _die_with_parent(parent)
    slot = slots.get()
    _worker.update(slot=slot, events=events)
    os.environ.update(worker_env(slot, jobs, gpus, cores))


def _tell(cell: Cell, what: str) -> None:
    """From a worker: tell the grid process that ``cell`` started (training is silent in
    workers, whose progress bars would interleave)."""
    events = _worker.get("events")
    if events is not None:
        try:
            events.put_nowait((_worker["slot"] + 1, cell.name, what))
        except Exception:  # noqa: BLE001 -- progress lines are never worth a failed cell
            pass


def _die_with_parent(parent: int | None = None) -> None:
    """Linux: end this worker when the grid process dies (even by SIGKILL), so that a
    killed grid leaves no orphan training in the background to race its resumption.

    The death signal only covers a parent that dies after it is set: a grid killed
    while this worker was still starting (spawn takes a second or more) has already
    gone, so the parent is checked once more afterwards."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent is not None and os.getppid() != parent:
        os._exit(1)  # orphaned before the signal was set: nothing to run for


def _stop_workers(pool) -> None:
    """Kill the pool's worker processes now: a grid that stops (an error, Ctrl-C, a
    SIGTERM) must not leave them training unattended, and the executor's own shutdown
    would wait for each running cell to finish."""
    for p in list(getattr(pool, "_processes", {}).values()):
        try:
            p.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for p in list(getattr(pool, "_processes", {}).values()):
        try:
            p.join(timeout=10)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass


class Terminated(UserError):
    """SIGTERM or SIGHUP reached the grid process (its workers were stopped)."""


@contextmanager
def _workers_stop_with(pool):
    """While the pool runs: SIGTERM and SIGHUP become an exception in the main thread,
    and any exception (that one, Ctrl-C, an error) kills the workers before the
    executor's shutdown, which would otherwise wait for every running cell."""
    import signal
    import threading

    def handler(signum, frame):
        raise Terminated(f"stopped by {signal.Signals(signum).name}; the grid's workers were "
                         f"stopped too (finished cells are kept; rerun to resume)")

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)} if main else {}
    try:
        yield
    except BaseException:
        _stop_workers(pool)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run_cell(cell: Cell, profile: str, data: str | None, out: str, progress: bool) -> dict:
    """Run one cell; never raises, so one failure cannot stop the grid."""
    from benchmark.train import run_cell

    start = time.time()
    _tell(cell, "started")
    try:
        path = run_cell(cell.dataset, cell.system, seed=cell.seed, fold=cell.fold,
                        profile=profile, data=data, out=Path(out), progress=progress)
        return {"ok": True, "path": str(path), "seconds": time.time() - start}
    except BaseException as e:  # noqa: BLE001 -- reported, and the grid goes on
        if isinstance(e, KeyboardInterrupt):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        return {"ok": False, "error": f"{type(e).__name__}: {first}".rstrip(": "),
                "type": type(e).__name__, "traceback": traceback.format_exc(),
                "seconds": time.time() - start}


# --------------------------------------------------------------------------- the GPU guard

# A paper grid on the CPU takes months (the layer alone: 0.4-0.6 s a step on two cores,
# results/bench/), so the real-data profiles stop at once where the backend sees no GPU.
GPU_PROBE_TIMEOUT_S = 300
_FRAMEWORK = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
_INSTALL = {"tensorflow": "install the GPU build (pip install -e '.[gpu]' or make venv GPU=1)",
            "jax": "install JAX's CUDA build (pip install -U 'jax[cuda12]')",
            "torch": "install a CUDA build of PyTorch"}
# Device nodes of NVIDIA (CUDA), AMD (ROCm) and WSL GPUs: without any, no backend has a GPU.
_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg")


def _backend_name() -> str:
    """The Keras backend the runs will use, found without importing Keras."""
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    import json

    config = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "keras.json"
    try:
        return str(json.loads(config.read_text()).get("backend") or "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def accelerator_count() -> tuple[int, str, str]:
    """(GPUs the Keras backend sees, the backend, why none when none).

    Answered without a framework where the machine decides it (CUDA_VISIBLE_DEVICES hides
    every GPU; Linux without a GPU device node); else the backend is asked in a child
    process, so that this one starts no device (JAX reads its XLA flags once, when it does).
    """
    name = _backend_name()
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and not [g for g in env.split(",") if g.strip() not in ("", "-1")]:
        return 0, name, f"CUDA_VISIBLE_DEVICES={env!r} hides every GPU"
    if sys.platform.startswith("linux") and not any(os.path.exists(p) for p in _GPU_NODES):
        return 0, name, "no GPU device in /dev"
    code = "from benchmark import backend; print('GPUS', backend.name(), backend.gpu_count())"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(paths.REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env=env, timeout=GPU_PROBE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as e:
        return 0, name, f"asking {_FRAMEWORK.get(name, name)} failed: {type(e).__name__}"
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "GPUS" and parts[2].isdigit():
            n = int(parts[2])
            return n, parts[1], "" if n else "a GPU device exists, but this build does not use it"
    last = (done.stderr.strip().splitlines() or ["no answer"])[-1][:200]
    return 0, name, f"asking {_FRAMEWORK.get(name, name)} failed: {last}"


def require_accelerator(profile: str, allow_cpu: bool = False) -> None:
    """Stop a real-data profile's grid (paper, paper-window) at once where the backend sees
    no GPU, with one line naming the remedy; ci and demo always run, as does --allow-cpu."""
    if allow_cpu or default_data_source(profile) != "real":
        return
    n, name, why = accelerator_count()
    if n:
        return
    framework = _FRAMEWORK.get(name, name)
    raise UserError(f"no GPU visible to {framework}{f' ({why})' if why else ''}: "
                    f"{_INSTALL.get(name, f'install a GPU build of {framework}')} and check "
                    f"nvidia-smi, or pass --allow-cpu to run the {profile} grid on the CPU anyway")


# --------------------------------------------------------------------------- the estimate

# Milliseconds per optimiser step of a paper-profile run on one GPU, for the device-hour
# estimate. results/bench/ has no usable figure: it holds 2-core CPU timings of the layer
# alone at batch 8 (layer.csv), and demo-sized training steps on the CPU (pipeline.csv), not a
# paper model's step at batch 64 on a GPU. 100 ms is an assumption (a current data-centre GPU,
# host-side batch assembly and augmentation included); each line gives its step count, so a
# measured figure rescales it.
PAPER_STEP_MS = 100.0

# Training examples per epoch on the real data where an epoch is one pass over the training
# split (no train.steps_per_epoch, no protocol.chunks_per_epoch): the datasets' published
# counts less the test fold and the validation fold (the next one) or the held-out speakers.
REAL_TRAIN_ITEMS = {
    "urbansound8k": 6986,   # 8,732 clips in 10 folds; 8 folds train
    "esc50": 1200,          # 2,000 clips in 5 folds; 3 folds train
    "zebra_finch": 2043,    # 3,405 calls (cleaned) in 5 bird-grouped folds; 3 folds train
    "voxceleb1": 134000,    # 138,361 iden_split train utterances less the 40 trial speakers' (~4,400)
}
NOISE_CORPUS = "musan"      # mixed into training by protocols with noise_prob > 0


@dataclass(frozen=True)
class DatasetLoad:
    """What a grid asks of one dataset: its runs, their length, and its download."""

    dataset: str
    runs: int
    epochs: int
    steps_per_epoch: int | None    # None: not known without the data
    archive_bytes: int | None      # the recipe's declared size (None: not stated in numbers)
    present: bool = False          # already under GABORBENCH_HOME


def declared_bytes(size: str) -> int | None:
    """Bytes of a recipe's declared size ("about 35-40 GB (...)": the upper figure)."""
    import re

    m = re.search(r"(\d+(?:\.\d+)?)(?:\s*[-–]\s*(\d+(?:\.\d+)?))?\s*([KMGT])B\b", size)
    if m is None:
        return None
    return int(float(m[2] or m[1]) * 1000 ** ("KMGT".index(m[3]) + 1))


def estimate(loads: list[DatasetLoad], step_ms: float = PAPER_STEP_MS) -> dict:
    """Runs, optimiser steps and device-hours per dataset and in total, and the disk the
    datasets' archives declare (all, and those not yet present). Pure arithmetic."""
    rows, steps_total, unknown = [], 0, []
    for ld in loads:
        steps = None if ld.steps_per_epoch is None else ld.runs * ld.epochs * ld.steps_per_epoch
        if ld.runs and steps is None:
            unknown.append(ld.dataset)
        steps_total += steps or 0
        rows.append({"dataset": ld.dataset, "runs": ld.runs, "epochs": ld.epochs,
                     "steps_per_epoch": ld.steps_per_epoch, "steps": steps,
                     "hours": None if steps is None else steps * step_ms / 3.6e6})
    sized = [ld for ld in loads if ld.archive_bytes is not None]
    return {"rows": rows, "runs": sum(ld.runs for ld in loads), "steps": steps_total,
            "hours": steps_total * step_ms / 3.6e6, "step_ms": step_ms, "unknown_steps": unknown,
            "disk_declared": sum(ld.archive_bytes for ld in sized),
            "disk_needed": sum(ld.archive_bytes for ld in sized if not ld.present),
            "disk_unsized": [ld.dataset for ld in loads if ld.archive_bytes is None]}


def _gb(n: int) -> str:
    return f"{n / 1e9:,.1f} GB"


def estimate_lines(loads: list[DatasetLoad], free_bytes: int | None, home, *,
                   step_ms: float = PAPER_STEP_MS, done: int = 0) -> list[str]:
    """The estimate as lines of text (the grid prints them; plan as shell comments)."""
    e = estimate(loads, step_ms)
    lines = [f"{e['runs']} runs to do" + (f" ({done} already done, not counted)" if done else "")
             + (": " + ", ".join(f"{r['dataset']} {r['runs']}" for r in e["rows"] if r["runs"])
                if e["runs"] else "")]
    for r in e["rows"]:
        if not r["runs"]:
            continue
        if r["steps"] is None:
            lines.append(f"  {r['dataset']:<13} {r['runs']:>4} runs x {r['epochs']} epochs x ? steps "
                         f"(the epoch's length depends on the data)")
        else:
            lines.append(f"  {r['dataset']:<13} {r['runs']:>4} runs x {r['epochs']:>3} epochs x "
                         f"{r['steps_per_epoch']:>5} steps = {r['steps']:>11,} steps  "
                         f"{r['hours']:>8,.1f} device-hours")
    lines.append(f"  about {e['hours']:,.0f} device-hours in all at an assumed {step_ms:g} ms a "
                 f"training step on one GPU (grid.PAPER_STEP_MS; not measured), at most: early "
                 f"stopping ends runs sooner, and evaluation is not counted; --jobs N on N GPUs "
                 f"divides the wall time by N"
                 + (f"; not counted: {', '.join(e['unknown_steps'])}" if e["unknown_steps"] else ""))
    noise = any(ld.dataset == NOISE_CORPUS and not ld.runs for ld in loads)
    disk = (f"disk: the datasets' archives declare {_gb(e['disk_declared'])}"
            + (f" ({NOISE_CORPUS}, the noise mixed into training, included)" if noise else "")
            + f", "
            f"{_gb(e['disk_needed'])} of it not yet under {home}")
    if e["disk_unsized"]:
        disk += f" ({', '.join(e['disk_unsized'])}: no size in numbers, not counted)"
    if free_bytes is None:
        disk += "; free space unknown"
    else:
        disk += f"; {_gb(free_bytes)} free there"
        if free_bytes < e["disk_needed"]:
            disk += f": SHORT by {_gb(e['disk_needed'] - free_bytes)}"
    lines.append(disk + " (extracted copies and feature caches need about as much again)")
    return lines


def free_bytes_at(folder: Path) -> int | None:
    """Free space where ``folder`` is or would be created (its nearest existing parent)."""
    p = Path(folder).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def grid_loads(cells: list[Cell], profile: str, data: str | None,
               datasets=None, all_cells: list[Cell] | None = None) -> list[DatasetLoad]:
    """Each dataset's load for ``cells`` (configurations read, no framework imported).

    ``datasets``: those whose download counts (default: the cells'), plus the noise corpus
    when a protocol mixes it in; ``all_cells``: the grid's cells, done or not, whose
    configurations say the epochs and the noise where ``cells`` has none of a dataset."""
    from benchmark.config import resolve_config
    from benchmark.recipes import load_recipe

    runs: dict[str, int] = {}
    first: dict[str, Cell] = {}
    for c in cells:
        runs[c.dataset] = runs.get(c.dataset, 0) + 1
    for c in [*cells, *(all_cells or ())]:
        first.setdefault(c.dataset, c)
    names = list(dict.fromkeys([*(datasets if datasets is not None else runs)]))
    noise = False
    loads = []
    for d in names:
        epochs, steps = 0, None
        c = first.get(d)
        if c is not None:
            cfg = resolve_config(d, c.system, profile, seed=c.seed, fold=c.fold, data=data)
            t, p = cfg.train, cfg.protocol
            epochs = t.epochs
            if t.steps_per_epoch:
                steps = t.steps_per_epoch
            elif getattr(p, "chunks_per_epoch", 0):
                steps = -(-p.chunks_per_epoch // t.batch_size)
            elif d in REAL_TRAIN_ITEMS:
                steps = -(-REAL_TRAIN_ITEMS[d] // t.batch_size)
            noise = noise or getattr(p, "noise_prob", 0) > 0
        try:
            size = declared_bytes(load_recipe(d).size)
        except Exception:  # noqa: BLE001 -- a broken recipe is reported where it is used
            size = None
        loads.append(DatasetLoad(d, runs.get(d, 0), epochs, steps, size, missing_reason(d) is None))
    if noise and NOISE_CORPUS not in names:
        loads.append(DatasetLoad(NOISE_CORPUS, 0, 0, None,
                                 declared_bytes(load_recipe(NOISE_CORPUS).size),
                                 missing_reason(NOISE_CORPUS) is None))
    return loads


def _estimate_block(cells, profile, data, datasets=None, all_cells=None,
                    done: int = 0) -> list[str]:
    """The estimate's lines; never an exception (a grid must not stop for its estimate)."""
    try:
        loads = grid_loads(cells, profile, data, datasets, all_cells)
        return estimate_lines(loads, free_bytes_at(paths.home()), paths.home(), done=done)
    except Exception as e:  # noqa: BLE001
        return [f"(no estimate: {type(e).__name__}: {e})"]


# --------------------------------------------------------------------------- reproduce


def _warm_data(cells: list[Cell], profile: str, data: str | None) -> None:
    """Build each twin and prepared manifest once, here, before workers start: N
    workers asking for the same missing twin at once would each build it. Errors
    are left for the cells themselves to report."""
    from benchmark.prepare import prepare
    from benchmark.config import resolve_config
    from benchmark.twins import ensure_twin

    firsts = {}
    for c in cells:
        firsts.setdefault(c.dataset, c)
    for d, c in firsts.items():
        try:
            cfg = resolve_config(d, c.system, profile, seed=c.seed, fold=c.fold, data=data)
            if cfg.data == "twin":
                names = [d] + (["musan"] if getattr(cfg.protocol, "noise_prob", 0) > 0 else [])
                for name in names:  # the dataset, and the noise corpus its protocol mixes in
                    prepare(name, ensure_twin(name, size=cfg.twin.size, seed=cfg.twin.seed,
                                              progress=False), progress=False)
        except Exception:  # noqa: BLE001 -- the cell will fail with this error and say so
            pass


class _Progress:
    """The grid's bar and bookkeeping: each outcome recorded, a failure written beside the
    runs, and in pool mode one line per cell start and end naming its worker."""

    def __init__(self, total: int, profile: str, out: Path, events=None):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc="grid", unit="cell", dynamic_ncols=True)
        self.profile, self.out, self.events = profile, out, events
        self.results: dict[Cell, dict] = {}
        self.worker_of: dict[str, int] = {}
        self.unannounced: dict[str, float] = {}   # finished cells whose worker is not yet known

    def done(self, cell: Cell, res: dict) -> None:
        self.results[cell] = res
        if res["ok"]:
            failure_path(self.out, cell).unlink(missing_ok=True)
            if self.events is not None:
                self.unannounced[cell.name] = res.get("seconds", 0)
        else:
            write_json(failure_path(self.out, cell), {
                "dataset": cell.dataset, "system": cell.system, "seed": cell.seed,
                "fold": cell.fold, "profile": self.profile, "error": res["error"],
                "traceback": res.get("traceback", ""),
                "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            self.bar.write(f"FAILED {cell.name}: {res['error']}")
        self.bar.set_postfix_str(cell.name)
        self.bar.update(1)

    def show_events(self) -> None:
        # One line per cell start, naming the worker: training in workers is silent.
        while True:
            try:
                slot, name, what = self.events.get_nowait()
            except Exception:  # noqa: BLE001 -- queue.Empty, or a closed queue
                return
            self.worker_of[name] = slot
            self.bar.write(f"worker {slot}: {name} {what}")

    def announce(self) -> None:
        for name in [n for n in self.unannounced if n in self.worker_of]:
            self.bar.write(f"worker {self.worker_of[name]}: {name} done in "
                           f"{self.unannounced.pop(name):.0f} s")

    def settle(self) -> None:
        # A worker's "started" event can reach the queue after its result: give the last
        # ones a moment, so that every done line names its worker.
        deadline = time.monotonic() + 2.0
        while self.unannounced and time.monotonic() < deadline:
            time.sleep(0.02)
            self.show_events()
            self.announce()


def _outcome(fut) -> dict:
    """A finished future's result, or the failure it stands for."""
    try:
        return fut.result()
    except BrokenProcessPool as e:  # a worker died (killed, out of memory)
        return {"ok": False, "error": f"worker process died: {e}"}
    except Exception as e:  # the runner itself raised (or its result would not pickle)
        return {"ok": False, "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc()}


def _run_pool(cells: list[Cell], profile: str, data: str | None, out: Path, jobs: int,
              runner) -> dict[Cell, dict]:
    if runner is _run_cell:  # real training: the data must exist before the workers
        _warm_data(cells, profile, data)
    ctx = mp.get_context("spawn")
    slots, events = ctx.Queue(), ctx.Queue()
    for i in range(jobs):
        slots.put(i)
    progress = _Progress(len(cells), profile, out, events)
    try:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                                 initargs=(slots, jobs, visible_gpus(), os.cpu_count() or 1,
                                           os.getpid(), events)) as pool, \
                _workers_stop_with(pool):
            futures = {pool.submit(runner, c, profile, data, str(out), False): c for c in cells}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                progress.show_events()
                for fut in finished:
                    progress.done(futures[fut], _outcome(fut))
                progress.announce()
            progress.settle()
    finally:
        progress.bar.close()
    return progress.results


def run_grid(cells: list[Cell], *, profile: str, data: str | None, out: Path,
             jobs: int = 1, runner=_run_cell) -> dict[Cell, dict]:
    """Run ``cells`` (in ``jobs`` spawned processes when jobs > 1); return each cell's outcome."""
    jobs = min(jobs, len(cells))
    if jobs > 1:
        return _run_pool(cells, profile, data, out, jobs, runner)
    progress = _Progress(len(cells), profile, out)
    try:
        for cell in cells:
            progress.bar.set_postfix_str(cell.name)
            progress.done(cell, runner(cell, profile, data, str(out), True))
    finally:
        progress.bar.close()
    return progress.results


def _print_guard_estimate(args) -> None:
    """Beside the guard's one line, what the GPU is needed for: the grid's estimate (read
    from the configurations and recipes alone; nothing is written)."""
    try:
        cells = select_cells(args.profile, getattr(args, "dataset", None) or (),
                             getattr(args, "system", None) or ())
    except UserError:
        return  # a wrong --dataset is said when the GPU is there; the guard's line comes first
    data = args.data or default_data_source(args.profile)
    for line in ["estimate of the grid stopped here:",
                 *_estimate_block(cells, args.profile, data)]:
        print(line)


def cli_reproduce(args) -> int:
    profile = args.profile
    # First of all: a paper grid without a GPU stops here, in seconds.
    try:
        require_accelerator(profile, bool(getattr(args, "allow_cpu", False)))
    except UserError:
        _print_guard_estimate(args)
        raise
    data = args.data or default_data_source(profile)
    out = _out_root(args.out)
    from benchmark.io import probe_writable

    jobs = int(getattr(args, "jobs", 1))
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1 (got {jobs})")
    probe_writable(out)  # a read-only or full --out is refused before any cell runs
    cells = select_cells(profile, getattr(args, "dataset", None) or (),
                         getattr(args, "system", None) or ())

    selected, all_cells = list(dict.fromkeys(c.dataset for c in cells)), cells
    if data == "real":
        missing = mark_missing(out, {c.dataset for c in cells})
        for d, reason in missing.items():
            print(f"not running {d}: {reason}", file=sys.stderr)
        if missing:
            print(f"{len(missing)} dataset(s) missing ({', '.join(missing)}); their cells are "
                  f"skipped and marked 'not run' in the report", file=sys.stderr)
        cells = [c for c in cells if c.dataset not in missing]

    todo = [c for c in cells if not is_done(out, c, profile, data)]
    done_before = len(cells) - len(todo)
    print(f"{profile} grid on {data} data: {len(cells)} cells, "
          f"{done_before} of {len(cells)} already done (finished cells are skipped)")
    if data == "real":  # what it will do, before it starts: runs, device-hours, disk
        for line in _estimate_block(todo, profile, data, selected, all_cells, done=done_before):
            print(line)

    results = run_grid(cells, profile=profile, data=data, out=out, jobs=jobs)
    failed = [c for c, r in results.items() if not r["ok"]]

    from benchmark.report import build_report

    build_report(out / "runs", out)
    print(f"report written to {out}")
    if failed:
        print(f"{len(failed)} of {len(cells)} cells failed (details in {out / 'logs' / 'failed'}):",
              file=sys.stderr)
        for c in sorted(failed, key=lambda c: c.name):
            print(f"  {c.name}: {results[c]['error']}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- plan


def run_command(cell: Cell, profile: str, data: str | None, out: str | None) -> str:
    """The exact ``gaborbench run`` command of one cell."""
    argv = ["gaborbench", "run", "--dataset", cell.dataset, "--system", cell.system,
            "--seed", str(cell.seed)]
    if cell.fold is not None:
        argv += ["--fold", str(cell.fold)]
    argv += ["--profile", profile]
    if data:
        argv += ["--data", data]
    if out:
        argv += ["--out", out]
    return shlex.join(argv)


@dataclass(frozen=True)
class SlurmOptions:
    """The cluster's resources for ``plan --format slurm``. Unset fields are left out of the
    script, so that a stock cluster accepts it: no GRES (a cluster without a ``gpu`` GRES
    refuses ``--gres=gpu:1`` at submission), no CPU count (a node with fewer cores refuses a
    larger one), the site's default partition, time and memory."""

    partition: str | None = None
    time: str | None = None
    mem: str | None = None
    cpus_per_task: int | None = None
    gpus: str | None = None
    gres: str | None = None
    account: str | None = None
    extra: tuple[str, ...] = ()     # further #SBATCH lines ("--constraint=a100")
    report_job: bool = False        # the script submits a report job that waits for the array

    def directives(self, *, task: bool = True) -> list[str]:
        """``--name=value`` of each set field; ``task=False``: those a report job needs (no
        GPU, no CPU count, no extra lines)."""
        pairs = [("partition", self.partition), ("account", self.account), ("time", self.time),
                 ("mem", self.mem)]
        if task:
            pairs += [("cpus-per-task", self.cpus_per_task), ("gpus", self.gpus),
                      ("gres", self.gres)]
        out = [f"--{k}={v}" for k, v in pairs if v not in (None, "")]
        if task:
            out += [e.strip().removeprefix("#SBATCH").strip() for e in self.extra if e.strip()]
        return out


def _check_printable(values) -> None:
    # Arguments are shell-quoted, but a newline would still end a comment or #SBATCH line
    # (the report command is written in one) and run what follows: refuse control characters.
    for what, value in values:
        if value is not None and not str(value).isprintable():
            raise UserError(f"{what} {str(value)!r} holds control characters (a newline or tab "
                            f"would break the generated script); choose another")


def render_plan(cells: list[Cell], *, profile: str, fmt: str, data: str | None = None,
                out: str | None = None, slurm: SlurmOptions | None = None) -> str:
    """A shell script (one command per line) or a SLURM job-array script of the grid."""
    slurm = slurm or SlurmOptions()
    _check_printable([("--out", out), ("--profile", profile), ("--data", data)] + [
        (w, v) for c in cells for w, v in (("dataset", c.dataset), ("system", c.system))]
        + [("#SBATCH", d) for d in slurm.directives()])
    commands = [run_command(c, profile, data, out) for c in cells]
    report = shlex.join(["gaborbench", "report"] + (
        ["--runs", str(Path(out) / "runs"), "--out", out] if out else []))
    if not commands:
        raise UserError(f"the {profile!r} grid selection has no cells")
    if fmt == "shell":
        return "\n".join([
            "#!/usr/bin/env bash",
            f"# gaborbench {profile} grid: {len(commands)} runs, independent of each other;",
            "# run them in any order or in parallel. Finished runs are skipped on rerun.",
            *commands,
            f"# when all have finished: {report}",
        ]) + "\n"
    if fmt == "slurm":
        return _slurm_script(commands, report, profile, slurm)
    raise UserError(f"unknown plan format {fmt!r} (use shell or slurm)")


def _slurm_script(commands: list[str], report: str, profile: str, slurm: SlurmOptions) -> str:
    """The job-array script; with ``report_job``, run by hand it submits itself and the report."""
    array = "\n".join(f"  {shlex.quote(c)}" for c in commands)
    head = "\n".join(f"#SBATCH {d}" for d in [
        f"--job-name=gaborbench-{profile}", f"--array=0-{len(commands) - 1}",
        "--output=gaborbench-%A_%a.log", "--open-mode=append", "--requeue",
        *slurm.directives()])
    if slurm.report_job:
        report_opts = " ".join(shlex.quote(d) for d in [
            "--parsable", f"--job-name=gaborbench-{profile}-report",
            "--output=gaborbench-%j-report.log", *slurm.directives(task=False)])
        submit = f"""# Submit with `bash this.sh`: it submits the array, then a report job that starts
# when every task has ended (afterany: failed cells are reported as failed).
# `sbatch this.sh` submits the array alone.
# A requeued task (scontrol requeue, a preempted node) starts again from its beginning
# and resumes: finished cells are skipped, a cell is claimed by one process at a time, and
# paper runs resume from their last epoch's checkpoint.
set -euo pipefail

if [ -z "${{SLURM_JOB_ID:-}}" ]; then
  array=$(sbatch --parsable "$0")
  array=${{array%%;*}}
  report=$(sbatch {report_opts} --dependency="afterany:$array" --wrap {shlex.quote(report)})
  echo "submitted array $array and report job ${{report%%;*}}"
  exit 0
fi
"""
    else:
        submit = f"""# Submit from the repository, with its environment on PATH (e.g. source .venv/bin/activate),
# as `sbatch this.sh`; then, when the array has ended (sbatch --dependency=afterany:JOBID ...):
#   {report}
# (plan --report-job writes a script that submits that report job itself.)
# A requeued task (scontrol requeue, a preempted node) starts again from its beginning
# and resumes: finished cells are skipped, a cell is claimed by one process at a time, and
# paper runs resume from their last epoch's checkpoint.
set -euo pipefail
"""
    return f"""#!/usr/bin/env bash
{head}
# Resources: plan --partition/--time/--mem/--cpus-per-task/--gpus/--gres/--account/--sbatch.
{submit}
commands=(
{array}
)

echo "task $SLURM_ARRAY_TASK_ID (restart ${{SLURM_RESTART_COUNT:-0}}): ${{commands[$SLURM_ARRAY_TASK_ID]}}"
eval "${{commands[$SLURM_ARRAY_TASK_ID]}}"
"""


def cli_plan(args) -> int:
    """Print the grid's commands. ``--out`` is the results root the commands write to."""
    cells = select_cells(args.profile, getattr(args, "dataset", None) or (),
                         getattr(args, "system", None) or ())
    script = render_plan(cells, profile=args.profile, fmt=args.format,
                         data=getattr(args, "data", None), out=args.out,
                         slurm=slurm_options(args))
    data = getattr(args, "data", None) or default_data_source(args.profile)
    if data == "real":  # the estimate, as comments after the script's header
        head, _, rest = script.partition("\n# ")
        notes = "".join(f"# {printable(l)}\n" for l in [
            "estimate (runs, device-hours, disk; gaborbench reproduce prints it too):",
            *_estimate_block(cells, args.profile, data)])
        script = f"{head}\n{notes}# {rest}"
    sys.stdout.write(script)
    return 0


def slurm_options(args) -> SlurmOptions:
    """The plan command's cluster options (absent attributes: unset)."""
    return SlurmOptions(**{f: getattr(args, f, None) for f in (
        "partition", "time", "mem", "cpus_per_task", "gpus", "gres", "account")},
        extra=tuple(getattr(args, "sbatch", None) or ()),
        report_job=bool(getattr(args, "report_job", False)))


def _guard_main(argv: list[str]) -> int:
    """``python -m benchmark.grid --require-gpu [--allow-cpu]``: the paper grid's GPU check
    alone (``make reproduce`` runs it before downloading)."""
    if argv[:1] != ["--require-gpu"] or not set(argv[1:]) <= {"--allow-cpu"}:
        print("usage: python -m benchmark.grid --require-gpu [--allow-cpu]", file=sys.stderr)
        return 2
    try:
        require_accelerator("paper", "--allow-cpu" in argv)
    except UserError as e:
        print(f"gaborbench reproduce: error: {printable(str(e))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_guard_main(sys.argv[1:]))
