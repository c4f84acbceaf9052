"""``gaborbench gpu-check``: the GPU path of the benchmark, timed and exercised.

Runs on whichever Keras backend the machine has (TensorFlow, JAX or PyTorch;
see :func:`benchmark.backend.choose`), in three parts, each recorded even when
another fails:

1. **Layer timings.** Every ``GaborLayer`` implementation and a free
   ``Conv2D`` with the same kernel size and channels, at the paper
   configuration (batch 8, 400 frames, 64 mels, 64 filters of 111 x 9,
   ``concat``): forward, forward+backward w.r.t. the parameters (what ``fit``
   computes for a first layer) and w.r.t. input and parameters. Each function
   is compiled the backend's way (``tf.function``, with and without XLA on a
   GPU; ``jax.jit``; PyTorch eager), run twice to warm up, then timed
   ``--repeats`` times, waiting for the device after each call
   (``tf.test.experimental.sync_devices``, ``jax.block_until_ready``,
   ``torch.cuda.synchronize``); the median is reported.
2. **A ci grid with mixed precision and XLA on.** ci-profile cells on the
   synthetic twins through :func:`benchmark.grid.run_grid` (worker processes,
   one GPU each), with ``train.deterministic=false``: Keras turns XLA off under
   TensorFlow op determinism. Each cell's run file says what was applied.
3. **Determinism.** One ci cell with op determinism on (the ci default), run
   twice in fresh processes: metrics, loss history and learned Gabor
   parameters must be identical.

Writes ``<out>/gpu-<backend>.csv`` (timings, one row per layer x compiler x
measure) and ``<out>/gpu-<backend>-env.json`` (device, versions, flags, grid
and determinism outcomes); default ``results/bench``. Without a GPU it stops,
unless ``--cpu-ok`` (or ``GABORBENCH_GPU_CHECK_CPU_OK=1``), which runs
everything at small sizes on the CPU. The whole check keeps within
``--budget-s`` (default 480 s): parts that would not fit are skipped and
recorded as such.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from benchmark import backend, paths
from benchmark.errors import UserError
from benchmark.io import write_json, write_text
from benchmark.results import RunRecord

# The frameworks load inside functions, once benchmark.backend has chosen the backend; so do
# the training loop and the grid, because the command line imports this module to build
# its parser (gaborbench --help stays instant).

PAPER_SIZES = {"batch": 8, "frames": 400, "mel": 64, "filters": 64, "kernel": (111, 9)}
CPU_SIZES = {"batch": 2, "frames": 48, "mel": 16, "filters": 4, "kernel": (9, 5)}
MEASURES = ("fwd", "fwd_bwd_params", "fwd_bwd_all")
WARMUP = 2
CPU_OK_ENV = "GABORBENCH_GPU_CHECK_CPU_OK"
# XLA and mixed precision are the defaults of every profile on a GPU; op
# determinism is what the ci profile adds and what disables XLA on TensorFlow.
GRID_OVERRIDES = ("train.mixed_precision=true", "train.jit_compile=true",
                  "train.deterministic=false")
DEFAULT_DATASETS = ("urbansound8k", "ami", "voxceleb1")   # one per head: cnn, sad, xvector
DEFAULT_SYSTEMS = ("learnable_gabor", "free_cnn")


# --------------------------------------------------------------------------- timing


def layer_names() -> list[str]:
    from benchmark.layers import IMPLEMENTATIONS

    return ["free_conv"] + [f"gabor_{impl}" for impl in IMPLEMENTATIONS]


def _layers(sizes: dict) -> list[tuple[str, str, object]]:
    """(name, implementation used, layer) for the free Conv2D and each Gabor implementation."""
    import keras

    from benchmark.layers import IMPLEMENTATIONS, GaborLayer, choose_implementation

    k, kernel = sizes["filters"], tuple(sizes["kernel"])
    out = [("free_conv", "conv2d",
            keras.layers.Conv2D(2 * k, kernel, padding="same", use_bias=False))]
    for impl in IMPLEMENTATIONS:
        used = choose_implementation(kernel, k, sizes["mel"]) if impl == "auto" else impl
        out.append((f"gabor_{impl}", used,
                    GaborLayer(k, kernel_size=kernel, implementation=impl, seed=0)))
    return out


def _compilers(gpu: bool) -> list[str]:
    b = backend.name()
    if b == "tensorflow":
        # XLA slowed these convolutions on CPU; on a GPU it is what training uses.
        return ["tf.function", "xla"] if gpu else ["tf.function"]
    return {"jax": ["xla"], "torch": ["eager"]}.get(b, ["eager"])


def _functions(layer, x: np.ndarray, compiler: str) -> tuple[dict, object]:
    """The three timed callables of a built layer, and the call that waits for the device."""
    b = backend.name()
    by_backend = {"tensorflow": _tensorflow_functions, "jax": _jax_functions,
                  "torch": _torch_functions}
    if b not in by_backend:
        raise UserError(f"gpu-check does not know how to time the {b} backend")
    return by_backend[b](layer, x, compiler)


def _tensorflow_functions(layer, x: np.ndarray, compiler: str) -> tuple[dict, object]:
    """TensorFlow: tf.function (XLA when ``compiler`` is xla) and a device sync."""
    import tensorflow as tf

    xt = tf.constant(x)
    ws = layer.trainable_variables
    jit = compiler == "xla"
    fns = {"fwd": tf.function(lambda: layer(xt), jit_compile=jit),
           "fwd_bwd_params": tf.function(backend.tf_energy_gradient(layer, xt, ws, False),
                                         jit_compile=jit),
           "fwd_bwd_all": tf.function(backend.tf_energy_gradient(layer, xt, ws, True),
                                      jit_compile=jit)}
    return fns, lambda out: tf.test.experimental.sync_devices()


def _jax_functions(layer, x: np.ndarray, compiler: str) -> tuple[dict, object]:
    """JAX: jitted stateless calls and ``block_until_ready``."""
    import jax
    import jax.numpy as jnp

    tv = [v.value for v in layer.trainable_variables]
    ntv = [v.value for v in layer.non_trainable_variables]
    xj = jnp.asarray(x)

    def forward(tv, x):
        return layer.stateless_call(tv, ntv, x)[0]

    def loss(tv, x):
        y = forward(tv, x)
        return jnp.sum(y * y)

    fwd = jax.jit(forward)
    gp = jax.jit(jax.grad(loss, argnums=0))
    ga = jax.jit(jax.grad(loss, argnums=(0, 1)))
    fns = {"fwd": lambda: fwd(tv, xj), "fwd_bwd_params": lambda: gp(tv, xj),
           "fwd_bwd_all": lambda: ga(tv, xj)}
    return fns, jax.block_until_ready


def _torch_functions(layer, x: np.ndarray, compiler: str) -> tuple[dict, object]:
    """PyTorch: eager calls and a CUDA sync."""
    import keras
    import torch

    xt = keras.ops.convert_to_tensor(x)
    ws = [v.value for v in layer.trainable_variables]

    def fwd():
        with torch.no_grad():
            return layer(xt)

    def grads(wrt_input: bool):
        def step():
            xin = xt.detach().requires_grad_(True) if wrt_input else xt
            y = layer(xin)
            loss = (y * y).sum()
            return torch.autograd.grad(loss, ([xin] if wrt_input else []) + ws)
        return step

    def sync(out):
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    return {"fwd": fwd, "fwd_bwd_params": grads(False), "fwd_bwd_all": grads(True)}, sync


def _time(fn, sync, repeats: int) -> dict:
    t0 = time.perf_counter()
    sync(fn())
    first = 1000 * (time.perf_counter() - t0)   # compilation included
    for _ in range(WARMUP - 1):
        sync(fn())
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sync(fn())
        runs.append(1000 * (time.perf_counter() - t0))
    return {"median_ms": statistics.median(runs), "min_ms": min(runs), "max_ms": max(runs),
            "first_call_ms": first}


def time_layers(sizes: dict, repeats: int, gpu: bool, deadline: float,
                only=None) -> list[dict]:
    """One row per (layer, compiler, measure); a failure is a row with an error, not a stop."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((sizes["batch"], sizes["frames"], sizes["mel"], 1)).astype("float32")
    base = {"backend": backend.name(), "batch": sizes["batch"], "frames": sizes["frames"],
            "mel": sizes["mel"], "filters": sizes["filters"], "kernel_t": sizes["kernel"][0],
            "kernel_f": sizes["kernel"][1], "output_mode": "concat", "repeats": repeats}
    rows = []
    for compiler in _compilers(gpu):
        for name, used, layer in _layers(sizes):
            if only and name not in only:
                continue
            keras.utils.set_random_seed(0)
            head = {**base, "layer": name, "implementation": used, "compiler": compiler}
            try:
                layer(keras.ops.convert_to_tensor(x[:1]))   # build the weights
                fns, sync = _functions(layer, x, compiler)
            except Exception as e:  # noqa: BLE001 -- recorded, the other layers still run
                rows += [{**head, "measure": m, "error": _one_line(e)} for m in MEASURES]
                continue
            for measure in MEASURES:
                if time.monotonic() > deadline:
                    rows.append({**head, "measure": measure, "error": "skipped: time budget"})
                    continue
                try:
                    t = _time(fns[measure], sync, repeats)
                    rows.append({**head, "measure": measure,
                                 **{k: round(v, 3) for k, v in t.items()}, "error": ""})
                except Exception as e:  # noqa: BLE001 -- e.g. out of memory, an XLA refusal
                    rows.append({**head, "measure": measure, "error": _one_line(e)})
                print(_row_line(rows[-1]), flush=True)
    _add_ratios(rows)
    return rows


def _add_ratios(rows: list[dict]) -> None:
    ref = {(r["compiler"], r["measure"]): r.get("median_ms") for r in rows
           if r["layer"] == "free_conv" and not r.get("error")}
    for r in rows:
        denom = ref.get((r["compiler"], r["measure"]))
        r["ratio_to_free_conv"] = (round(r["median_ms"] / denom, 3)
                                   if denom and r.get("median_ms") is not None else "")


def _row_line(r: dict) -> str:
    what = f"  {r['layer']:16s} {r['compiler']:11s} {r['measure']:15s}"
    if r.get("error"):
        return f"{what} {r['error']}"
    return f"{what} {r['median_ms']:10.2f} ms (first call {r['first_call_ms']:.0f} ms)"


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300] if text else ''}".rstrip(": ")


# --------------------------------------------------------------------------- grid


def _grid_runner(cell, profile: str, data, out: str, progress: bool) -> dict:
    """``benchmark.grid`` runner applying :data:`GRID_OVERRIDES` (and ``--set``); never raises."""
    from benchmark.train import run_cell

    start = time.time()
    extra = tuple(os.environ.get("GABORBENCH_GPU_CHECK_SET", "").split())
    try:
        path = run_cell(cell.dataset, cell.system, seed=cell.seed, fold=cell.fold, profile=profile,
                        data=data, out=Path(out), overrides=GRID_OVERRIDES + extra,
                        progress=progress)
        return {"ok": True, "path": str(path), "seconds": time.time() - start}
    except Exception as e:  # noqa: BLE001 -- reported in the check's record
        return {"ok": False, "error": _one_line(e), "traceback": traceback.format_exc(),
                "seconds": time.time() - start}


def _run_summary(path: Path) -> dict:
    run = RunRecord.load(path).to_json()
    extra = run.get("run", {})
    return {"config_hash": run["config_hash"], "metrics": run["metrics"],
            "epochs": len(run["history"]["epoch"]), "wall_time_s": round(run["wall_time_s"], 1),
            "mixed_precision": extra.get("mixed_precision"), "jit_compile": extra.get("jit_compile"),
            "device": run["provenance"].get("device"),
            "determinism": run["provenance"].get("determinism")}


def run_grid_check(work: Path, datasets, systems, jobs: int, extra_overrides=()) -> list[dict]:
    """The ci cells of ``datasets`` x ``systems`` through benchmark.grid; one record per cell."""
    from benchmark import grid

    n_gpus = backend.gpu_count()
    if n_gpus and not grid.visible_gpus():
        # The grid finds GPUs with nvidia-smi; where it is missing its workers would be
        # hidden from every GPU (CUDA_VISIBLE_DEVICES=-1). Name the backend's GPUs instead.
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(n_gpus))
    cells = grid.select_cells("ci", datasets, systems)
    grid._warm_data(cells, "ci", "twin")  # twins built once, before workers race for them
    os.environ["GABORBENCH_GPU_CHECK_SET"] = " ".join(extra_overrides)  # read by spawned workers
    outcome = grid.run_grid(cells, profile="ci", data="twin", out=work, jobs=jobs,
                            runner=_grid_runner)
    records = []
    for cell, res in outcome.items():
        rec = {"cell": cell.name, "ok": bool(res["ok"]), "seconds": round(res.get("seconds", 0), 1)}
        if res["ok"]:
            rec.update(_run_summary(Path(res["path"])))
        else:
            rec["error"] = res.get("error", "")
        records.append(rec)
    return records


# --------------------------------------------------------------------------- determinism


def run_determinism_check(work: Path, dataset: str, system: str, timeout_s: float,
                          extra_overrides=()) -> dict:
    """The same ci cell (op determinism on) twice in fresh processes; compare the records."""
    env = dict(os.environ, KERAS_BACKEND=backend.name(),
               PYTHONPATH=os.pathsep.join([str(paths.REPO_ROOT)] +
                                          [p for p in [os.environ.get("PYTHONPATH")] if p]))
    summaries, runs = [], []
    for i in (1, 2):
        out = work / f"determinism{i}"
        argv = [sys.executable, "-m", "benchmark.cli", "run", "--dataset", dataset, "--system",
                system, "--profile", "ci", "--out", str(out)]
        for item in extra_overrides:
            argv += ["--set", item]
        left = timeout_s / (3 - i)
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=left)
        except subprocess.TimeoutExpired:
            return {"cell": f"{dataset}/{system}", "identical": None,
                    "error": f"run {i} exceeded {left:.0f} s"}
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            return {"cell": f"{dataset}/{system}", "identical": None,
                    "error": f"run {i} failed: {tail[-1] if tail else proc.returncode}"}
        path = next(out.glob("runs/*/*/*.json"))
        runs.append(RunRecord.load(path).to_json())
        summaries.append(_run_summary(path))
    a, b = runs
    same = {"metrics": a["metrics"] == b["metrics"],
            "loss_history": a["history"] == b["history"],
            "gabor_params": (a.get("gabor") or {}).get("final") == (b.get("gabor") or {}).get("final")}
    return {"cell": f"{dataset}/{system}", "identical": all(same.values()), "same": same,
            "max_abs_loss_difference": float(np.max(np.abs(np.subtract(
                a["history"]["loss"], b["history"]["loss"])))),
            "determinism": summaries[0]["determinism"], "jit_compile": summaries[0]["jit_compile"],
            "mixed_precision": summaries[0]["mixed_precision"],
            "metrics": [s["metrics"] for s in summaries]}


# --------------------------------------------------------------------------- the check


def _csv(rows: list[dict]) -> str:
    fields = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def run_check(out: Path, *, cpu_ok: bool = False, repeats: int | None = None,
              datasets=DEFAULT_DATASETS, systems=DEFAULT_SYSTEMS, jobs: int | None = None,
              grid: bool = True, determinism: bool = True, budget_s: float = 480.0,
              work: Path | None = None, extra_overrides=(), layers=()) -> dict:
    """Run the check in this process (the backend must already be chosen); return its record."""
    start = time.monotonic()
    deadline = start + budget_s
    # Before anything touches a device; timings want the fast kernels, not the reproducible ones.
    setup_note = backend.setup(0, deterministic=False)
    gpu = backend.gpu_present()
    unknown = sorted(set(layers) - set(layer_names()))
    if unknown:
        raise UserError(f"unknown layer {', '.join(unknown)} (known: {', '.join(layer_names())})")
    if not gpu and not (cpu_ok or os.environ.get(CPU_OK_ENV) == "1"):
        raise UserError(f"no GPU visible to {backend.name()} ({backend.device_description()}); "
                        f"pass --cpu-ok (or set {CPU_OK_ENV}=1) to run the check at small sizes "
                        f"on the CPU")
    sizes = PAPER_SIZES if gpu else CPU_SIZES
    repeats = repeats or (10 if gpu else 3)
    jobs = jobs or (2 if gpu else 1)
    name = backend.name()
    out.mkdir(parents=True, exist_ok=True)
    record = {"backend": name, "environment": backend.environment(), "setup": setup_note,
              "sizes": {**sizes, "kernel": list(sizes["kernel"])}, "repeats": repeats,
              "warmup": WARMUP, "grid_overrides": list(GRID_OVERRIDES) + list(extra_overrides),
              "budget_s": budget_s, "command": " ".join(sys.argv)}
    print(f"gpu-check on {record['environment']['device']}: layer timings "
          f"(batch {sizes['batch']}, {sizes['frames']} frames, {sizes['mel']} mels, "
          f"{sizes['filters']} filters of {sizes['kernel'][0]}x{sizes['kernel'][1]}, concat; "
          f"median of {repeats})", flush=True)
    # Timings get at most 40% of the budget, so the grid and the determinism runs still fit.
    rows = time_layers(sizes, repeats, gpu, start + 0.4 * budget_s, only=set(layers))
    write_text(out / f"gpu-{name}.csv", _csv(rows))
    record["timing_errors"] = sorted({f"{r['layer']} {r['compiler']} {r['measure']}: {r['error']}"
                                      for r in rows if r.get("error")})
    env_path = out / f"gpu-{name}-env.json"
    # Written after each part, so a part that hangs or kills the process leaves the others'.
    write_json(env_path, {**record, "ok": None, "grid": "not reached", "determinism": "not reached"})

    tmp = Path(tempfile.mkdtemp(prefix="gpucheck-")) if work is None else Path(work)
    try:
        _grid_parts(record, env_path, tmp, deadline, datasets, systems, jobs, grid, determinism,
                    extra_overrides)
    finally:
        if work is None:
            shutil.rmtree(tmp, ignore_errors=True)
    record["wall_s"] = round(time.monotonic() - start, 1)
    record["ok"] = _ok(record)
    write_json(env_path, record)
    return record


def _grid_parts(record: dict, env_path: Path, tmp: Path, deadline: float, datasets, systems,
                jobs: int, grid: bool, determinism: bool, extra_overrides) -> None:
    """The ci grid, then the determinism runs, each while the budget leaves a minute."""
    if grid and deadline - time.monotonic() > 60:
        print(f"ci grid with mixed precision and XLA ({len(datasets)} datasets x "
              f"{len(systems)} systems, {jobs} worker(s))", flush=True)
        record["grid"] = run_grid_check(tmp / "grid", datasets, systems, jobs, extra_overrides)
        write_json(env_path, {**record, "ok": None, "determinism": "not reached"})
    else:
        record["grid"] = "skipped" + ("" if grid else " (--skip-grid)") + \
            ("" if not grid else ": time budget")
    left = deadline - time.monotonic()
    if determinism and left > 60:
        print(f"determinism: {datasets[0]}/{systems[0]} twice in fresh processes", flush=True)
        record["determinism"] = run_determinism_check(tmp, datasets[0], systems[0], left,
                                                      extra_overrides)
    else:
        record["determinism"] = "skipped" + (": time budget" if determinism
                                             else " (--skip-determinism)")


def _ok(record: dict) -> bool:
    cells = record.get("grid") if isinstance(record.get("grid"), list) else []
    on_gpu = record["environment"]["gpu"]
    # on a GPU machine a cell that trained on the CPU has not checked the GPU path
    grid_ok = all(c["ok"] and not (on_gpu and str(c.get("device", "")).startswith("cpu"))
                  for c in cells)
    det = record.get("determinism")
    det_ok = not isinstance(det, dict) or det.get("identical") is True
    return not record["timing_errors"] and grid_ok and det_ok


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", choices=("auto", *backend.BACKENDS),
                   help="Keras backend (auto: $KERAS_BACKEND if installed, else the first "
                        "installed of tensorflow, jax, torch)")
    p.add_argument("--cpu-ok", action="store_true",
                   help=f"run at small sizes on the CPU when no GPU is visible (or {CPU_OK_ENV}=1)")
    p.add_argument("--out", default=None, help="output folder (default: results/bench)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed runs per measure after warm-up (default 10 on GPU, 3 on CPU)")
    p.add_argument("--layer", action="append", default=[],
                   help="time only this layer (repeatable; default: free_conv and every "
                        "gabor_<implementation>)")
    p.add_argument("--dataset", action="append", default=[],
                   help=f"grid dataset (repeatable; default {', '.join(DEFAULT_DATASETS)})")
    p.add_argument("--system", action="append", default=[],
                   help=f"grid system (repeatable; default {', '.join(DEFAULT_SYSTEMS)})")
    p.add_argument("--jobs", type=int, default=None,
                   help="grid worker processes (default 2 on GPU, 1 on CPU)")
    p.add_argument("--skip-grid", action="store_true", help="timings only, no ci grid")
    p.add_argument("--skip-determinism", action="store_true", help="no determinism reruns")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="wall-clock budget of the whole check in seconds (default 480)")
    p.add_argument("--work", default=None,
                   help="keep the grid's run files in this folder (default: a temporary one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra configuration override for the grid and determinism runs")


def cli_gpu_check(args) -> int:
    chosen = backend.choose(args.backend)
    print(f"gpu-check: Keras backend {chosen}", flush=True)
    out = Path(args.out) if args.out else paths.RESULTS_DIR / "bench"
    record = run_check(out, cpu_ok=args.cpu_ok, repeats=args.repeats,
                       datasets=tuple(args.dataset) or DEFAULT_DATASETS,
                       systems=tuple(args.system) or DEFAULT_SYSTEMS, jobs=args.jobs,
                       grid=not args.skip_grid, determinism=not args.skip_determinism,
                       budget_s=args.budget_s, work=Path(args.work) if args.work else None,
                       extra_overrides=tuple(args.set), layers=tuple(args.layer))
    print(json.dumps({k: record[k] for k in ("backend", "wall_s", "ok", "timing_errors")}))
    if isinstance(record.get("grid"), list):
        for c in record["grid"]:
            print(f"  {c['cell']}: " + ("ok" if c["ok"] else f"FAILED {c['error']}")
                  + (f", mixed precision {c['mixed_precision']}, XLA {c['jit_compile']}, "
                     f"{c['wall_time_s']} s" if c["ok"] else ""))
    det = record.get("determinism")
    if isinstance(det, dict):
        print(f"  determinism {det['cell']}: identical {det.get('identical')} "
              f"{det.get('error', '')}".rstrip())
    stem = out / f"gpu-{record['backend']}"
    print(f"wrote {stem}.csv and {stem}-env.json")
    return 0 if record["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.gpucheck", description=__doc__.split("\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return cli_gpu_check(args)
    except UserError as e:
        print(f"gpu-check: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
