"""``gaborbench bench``: what the Gabor layer and the input pipeline cost.

Times forward and forward+backward passes (gradients w.r.t. input and
parameters, and w.r.t. parameters only — what ``fit`` computes for a first
layer) of every GaborLayer implementation, a free Conv2D with the same kernel
size and channels, and a layer that rebuilds its kernels with a Python loop
over filters as the original PyTorch code does (kept here for the comparison
only). Everything runs in one process under ``tf.function`` with warm-up runs;
absolute CPU times are noisy, so the ratios to the free Conv2D measured in the
same run are the figures to quote. Beside wall-clock times the tables give the
process's CPU time per call (all threads), which is less disturbed by other
processes sharing the machine.

The loss of every timed backward pass is quadratic in the output,
``sum(y**2)``. Peak memory of one training step (forward and backward w.r.t.
the parameters) is measured in a fresh subprocess per implementation: on a GPU
TensorFlow's own allocator statistics (``get_memory_info`` peak minus the
memory in use before the step), on CPU the growth of the process's resident
set (Linux ``VmHWM`` after the step minus ``VmRSS`` before it, the
high-water mark reset just before; ``getrusage`` where that reset is not
available).

Writes ``results/bench/{layer,sweep,pipeline}.csv``, ``sweep.png`` and
``environment.json``, and ``memory.csv``.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark import backend, paths
from benchmark import kernels as K
from benchmark.config import resolve_config
from benchmark.errors import UserError
from benchmark.features import compute_logmel
from benchmark.io import probe_writable, write_json, write_text
from benchmark.systems import get_system

# Keras, TensorFlow, matplotlib and the modules built on Keras (layers, heads) load inside
# the functions that time or plot: the command line answers a mistake without their
# start-up (seconds).

PAPER = {"batch": 8, "frames": 400, "mel": 64, "filters": 64, "kernel": (111, 9)}
IMPLS = ("dense", "separable", "auto")
LOSS = "sum(y**2) over the layer output"


@dataclass(frozen=True)
class Timing:
    median_ms: float
    min_ms: float
    max_ms: float
    cpu_ms: float = float("nan")     # median process CPU time (all threads)


def _time(fn, repeats: int, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        fn()
    runs, cpu = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        fn()
        runs.append(1000 * (time.perf_counter() - t0))
        cpu.append(1000 * (time.process_time() - c0))
    return Timing(statistics.median(runs), min(runs), max(runs), statistics.median(cpu))


def _loop_reference_layer(filters: int, kernel_size: tuple[int, int]):
    """A layer that builds each filter's kernel in a Python loop, as the original code does."""
    import keras
    from keras import ops

    class LoopBuiltGabor(keras.layers.Layer):
        def build(self, input_shape):
            rng = np.random.default_rng(0)
            self.p = [self.add_weight(shape=(filters,), initializer=keras.initializers.Constant(v))
                      for v in (rng.uniform(2, 10, filters), rng.uniform(2, 6, filters),
                                rng.uniform(0.2, 1.5, filters), rng.uniform(-3, 3, filters))]

        def call(self, x):
            re, im = [], []
            for k in range(filters):   # the per-filter loop of the original implementation
                r, i = K.gabor_kernels(*(p[k:k + 1] for p in self.p), kernel_size)
                re.append(r[..., 0])
                im.append(i[..., 0])
            kernel = ops.stack(re + im, axis=-1)[:, :, None, :]
            return ops.conv(x, kernel, padding="same")

    return LoopBuiltGabor()


def _make_layer(kind: str, filters: int, kernel: tuple[int, int]):
    import keras

    from benchmark.layers import GaborLayer

    if kind == "free_conv":
        return keras.layers.Conv2D(2 * filters, kernel, padding="same", use_bias=False)
    if kind == "loop_reference":
        return _loop_reference_layer(filters, kernel)
    return GaborLayer(filters, kernel_size=kernel, implementation=kind, seed=0)


def _measure(kind, shape, filters, kernel, repeats, what=("fwd", "fwd_bwd_all", "fwd_bwd_params"),
             layout="time_mel"):
    import tensorflow as tf

    batch, frames, mel = shape
    dims = (batch, frames, mel, 1) if layout == "time_mel" else (batch, mel, frames, 1)
    k = kernel if layout == "time_mel" else kernel[::-1]
    x = tf.random.stateless_normal(dims, seed=(1, 2))
    layer = _make_layer(kind, filters, k)
    layer(x)
    weights = layer.trainable_variables

    fns = {"fwd": tf.function(lambda: layer(x)),
           "fwd_bwd_all": tf.function(backend.tf_energy_gradient(layer, x, weights, True)),
           "fwd_bwd_params": tf.function(backend.tf_energy_gradient(layer, x, weights, False))}
    return {w: _time(fns[w], repeats) for w in what}


def _kernel_build_ms(filters, kernel, repeats):
    import tensorflow as tf

    from benchmark.layers import GaborLayer
    layer = GaborLayer(filters, kernel_size=kernel, implementation="separable", seed=0)
    layer.build((None, None, PAPER["mel"], 1))

    @tf.function
    def build():
        ct, st, cf, sf = K.separable_factors(*layer.effective_params(), kernel)
        return ct, st, K.same_correlation_matrix(cf, PAPER["mel"]), K.same_correlation_matrix(sf, PAPER["mel"])

    return _time(build, repeats).median_ms


def _environment() -> dict:
    import keras
    import tensorflow as tf

    return {
        "backend": keras.backend.backend(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn": "on" if backend.tf_onednn() else "off",
        "xla": "off (tf.function without jit_compile: XLA on CPU slows these kernels)",
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or os.cpu_count(),
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "layout": "layer API (batch, time, mel, 1) unless the row says otherwise",
    }


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def bench_layer(repeats: int) -> list[dict]:
    """Paper configuration: every implementation and the two comparisons."""
    shape = (PAPER["batch"], PAPER["frames"], PAPER["mel"])
    rows = []
    kinds = [("free_conv", "time_mel"), ("free_conv", "mel_time"), *((i, "time_mel") for i in IMPLS),
             ("loop_reference", "time_mel")]
    for kind, layout in kinds:
        t = _measure(kind, shape, PAPER["filters"], PAPER["kernel"], repeats, layout=layout)
        row = {"system": kind, "layout": layout}
        for w, tm in t.items():
            row[f"{w}_ms"] = round(tm.median_ms, 1)
            row[f"{w}_min_ms"] = round(tm.min_ms, 1)
            row[f"{w}_max_ms"] = round(tm.max_ms, 1)
            row[f"{w}_cpu_ms"] = round(tm.cpu_ms, 1)
        rows.append(row)
        print(f"  {kind:15s} {layout:9s} " + "  ".join(f"{w} {tm.median_ms:8.1f} ms" for w, tm in t.items()),
              flush=True)
    base = next(r for r in rows if r["system"] == "free_conv" and r["layout"] == "time_mel")
    for r in rows:
        for w in ("fwd", "fwd_bwd_all", "fwd_bwd_params"):
            r[f"{w}_ratio_to_free_conv"] = round(r[f"{w}_ms"] / base[f"{w}_ms"], 3)
            r[f"{w}_cpu_ratio_to_free_conv"] = round(r[f"{w}_cpu_ms"] / base[f"{w}_cpu_ms"], 3)
    return rows


def bench_sweep(repeats: int, quick: bool) -> list[dict]:
    """Forward+backward w.r.t. parameters over kernel sizes and filter counts."""
    from benchmark.layers import choose_implementation

    shape = (PAPER["batch"], PAPER["frames"], PAPER["mel"])
    kernels = [(5, 5), (25, 9), (111, 9)] if quick else [(3, 3), (9, 9), (25, 5), (51, 9), (111, 9), (111, 21)]
    filter_counts = [16, 64] if quick else [16, 32, 64]
    rows = []
    for filters in filter_counts:
        for kernel in kernels:
            times = {}
            for kind in ("free_conv", "dense", "separable"):
                times[kind] = _measure(kind, shape, filters, kernel, repeats,
                                       what=("fwd_bwd_params",))["fwd_bwd_params"].median_ms
            best = min(("dense", "separable"), key=times.get)
            auto = choose_implementation(kernel, filters, PAPER["mel"])
            rows.append({"filters": filters, "kernel_t": kernel[0], "kernel_f": kernel[1],
                         **{f"{k}_ms": round(v, 1) for k, v in times.items()},
                         "best": best, "auto": auto,
                         "auto_over_best": round(times[auto] / times[best], 3)})
            print(f"  filters {filters:3d} kernel {kernel[0]:3d}x{kernel[1]:<3d} "
                  + "  ".join(f"{k} {v:7.1f}" for k, v in times.items())
                  + f"  best {best}, auto {auto} ({times[auto] / times[best]:.2f}x)", flush=True)
    return rows


def bench_pipeline(repeats: int) -> list[dict]:
    """Feature extraction throughput, and training steps with features cached vs computed per batch."""
    import keras

    from benchmark.heads import build_model, cnn_head
    rows = []
    config = resolve_config("urbansound8k", "learnable_gabor", "demo")
    fcfg = config.features
    rng = np.random.default_rng(0)
    seconds = fcfg.clip_seconds or 2.0
    clips = rng.standard_normal((32, int(seconds * fcfg.sample_rate))).astype("float32")
    t0 = time.perf_counter()
    feats = np.stack([compute_logmel(c, fcfg) for c in clips])
    per_clip = (time.perf_counter() - t0) / len(clips)
    rows.append({"measure": "feature_extraction_clips_per_s", "system": "",
                 "value": round(1 / per_clip, 1), "unit": f"clips/s ({seconds:g} s clips)"})
    labels = rng.integers(0, 10, len(clips))
    batch = 16
    for system in ("learnable_gabor", "free_cnn"):
        cfg = resolve_config("urbansound8k", system, "demo")
        keras.utils.set_random_seed(0)
        frontend = get_system(system).build(cfg.frontend)
        model = build_model(frontend, lambda x, h=cfg.head: cnn_head(x, h, 10), fcfg.n_mels)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        xb, yb = feats[:batch, ..., None], labels[:batch]
        step = _time(lambda: model.train_on_batch(xb, yb), repeats)
        rows.append({"measure": "train_step_ms_cached_features", "system": system,
                     "value": round(step.median_ms, 1), "unit": f"ms per step (batch {batch})"})

        def uncached():
            fb = np.stack([compute_logmel(c, fcfg) for c in clips[:batch]])[..., None]
            model.train_on_batch(fb, yb)

        step_u = _time(uncached, repeats)
        rows.append({"measure": "train_step_ms_features_per_batch", "system": system,
                     "value": round(step_u.median_ms, 1), "unit": f"ms per step (batch {batch})"})
        print(f"  {system:16s} step {step.median_ms:7.1f} ms cached, {step_u.median_ms:7.1f} ms "
              "computing features per batch", flush=True)
    return rows


# --- peak memory of one training step ----------------------------------------

def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def memory_probe(kind: str, config: dict | None = None) -> dict:
    """Peak memory of one training step of ``kind`` (this process); ``config`` defaults to PAPER."""
    import tensorflow as tf

    config = {**PAPER, **(config or {})}
    batch, frames, mel = config["batch"], config["frames"], config["mel"]
    x = tf.random.stateless_normal((batch, frames, mel, 1), seed=(1, 2))
    layer = _make_layer(kind, config["filters"], tuple(config["kernel"]))
    layer.build(x.shape)
    weights = layer.trainable_variables

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, weights)

    step.get_concrete_function()          # trace outside the measured step
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
        before = tf.config.experimental.get_memory_info("GPU:0")["current"]
        [g.numpy() for g in step()]
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        return {"system": kind, "peak_mib": round((peak - before) / 2**20, 1),
                "method": "tf.config.experimental.get_memory_info (GPU:0) peak - current before"}
    before = _status_kib("VmRSS")
    if before is not None and _reset_peak_rss():
        [g.numpy() for g in step()]
        peak = _status_kib("VmHWM")
        method = "process VmHWM after the step - VmRSS before it (high-water mark reset)"
    else:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        [g.numpy() for g in step()]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        method = "getrusage ru_maxrss growth over the step"
    return {"system": kind, "peak_mib": round((peak - before) / 1024, 1), "method": method}


def bench_memory(kinds=("free_conv", "dense", "separable", "auto"), config: dict | None = None) -> list[dict]:
    """:func:`memory_probe` for each kind, each in a fresh Python process."""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(root)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    rows = []
    for kind in kinds:
        code = f"import json, benchmark.bench as b; print('MEMORY ' + json.dumps(b.memory_probe({kind!r}, {config!r})))"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                              cwd=root, timeout=1800)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("MEMORY ")]
        if proc.returncode != 0 or not lines:
            raise UserError(f"memory probe for {kind} failed:\n{proc.stderr[-2000:]}")
        row = json.loads(lines[-1][len("MEMORY "):])
        rows.append(row)
        print(f"  {kind:15s} peak {row['peak_mib']:8.1f} MiB", flush=True)
    base = next(r for r in rows if r["system"] == "free_conv")["peak_mib"]
    for r in rows:
        r["ratio_to_free_conv"] = round(r["peak_mib"] / base, 3) if base > 0 else float("nan")
    return rows


def _plot_sweep(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len({r["filters"] for r in rows}), figsize=(11, 3.6), squeeze=False)
    for ax, filters in zip(axes[0], sorted({r["filters"] for r in rows})):
        sub = [r for r in rows if r["filters"] == filters]
        x = [r["kernel_t"] * r["kernel_f"] for r in sub]
        for kind in ("free_conv", "dense", "separable"):
            ax.plot(x, [r[f"{kind}_ms"] for r in sub], marker="o", label=kind)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("kernel taps (time x mel)")
        ax.set_title(f"{filters} filters")
    axes[0][0].set_ylabel("forward+backward w.r.t. params (ms)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    with io.BytesIO() as buf:
        fig.savefig(buf, format="png", dpi=120, metadata={"Software": None})
        (out / "sweep.png").write_bytes(buf.getvalue())
    plt.close(fig)


def run_bench(out: Path, quick: bool = False) -> dict:
    import keras

    if keras.backend.backend() != "tensorflow":
        raise UserError("gaborbench bench times TensorFlow kernels: run it with KERAS_BACKEND=tensorflow")
    repeats = 3 if quick else 5
    out.mkdir(parents=True, exist_ok=True)
    env = _environment()
    print(f"gaborbench bench: {env['backend']} {env['tensorflow']}, {env['intra_op_threads']} threads, "
          f"oneDNN {env['onednn']}, XLA off")
    print("paper configuration (batch 8, 400 frames, 64 mels, 64 filters, 111x9, concat):")
    layer_rows = bench_layer(repeats)
    write_text(out / "layer.csv", _csv(layer_rows))
    gabor = {r["system"]: r for r in layer_rows}
    env["kernel_construction_ms"] = round(_kernel_build_ms(PAPER["filters"], PAPER["kernel"], repeats), 2)
    print(f"peak memory of one training step ({LOSS}; gradients w.r.t. parameters), "
          "a fresh process each:")
    memory_rows = bench_memory()
    write_text(out / "memory.csv", _csv(memory_rows))
    print("sweep (forward+backward w.r.t. parameters, ms):")
    sweep_rows = bench_sweep(3, quick)
    write_text(out / "sweep.csv", _csv(sweep_rows))
    _plot_sweep(sweep_rows, out)
    print("input pipeline (demo profile, urbansound8k settings):")
    pipe_rows = bench_pipeline(repeats)
    write_text(out / "pipeline.csv", _csv(pipe_rows))

    auto = gabor["auto"]
    loop = gabor["loop_reference"]
    steps = {r["system"]: r["value"] for r in pipe_rows if r["measure"] == "train_step_ms_cached_features"}
    memory = {r["system"]: r for r in memory_rows}
    env["loss"] = LOSS
    env["memory_method"] = memory_rows[0]["method"]
    targets = {
        "auto_fwd_bwd_params_ratio (<= 0.4, aim 0.25)": auto["fwd_bwd_params_ratio_to_free_conv"],
        "auto_fwd_bwd_params_cpu_time_ratio": auto["fwd_bwd_params_cpu_ratio_to_free_conv"],
        "auto_fwd_bwd_all_ratio (<= 0.08)": auto["fwd_bwd_all_ratio_to_free_conv"],
        "auto_fwd_bwd_all_cpu_time_ratio": auto["fwd_bwd_all_cpu_ratio_to_free_conv"],
        "auto_train_step_peak_memory_ratio": memory["auto"]["ratio_to_free_conv"],
        "speedup_over_loop_reference_fwd_bwd (>= 5)": round(loop["fwd_bwd_all_ms"] / auto["fwd_bwd_all_ms"], 2),
        "auto_worst_over_best_on_sweep (<= 1.10)": max(r["auto_over_best"] for r in sweep_rows),
        "kernel_construction_share_of_forward (< 0.05)": round(env["kernel_construction_ms"] / auto["fwd_ms"], 4),
        "train_step_learnable_over_free_cnn (<= 0.8)": round(steps["learnable_gabor"] / steps["free_cnn"], 3),
    }
    summary = {"environment": env, "targets": targets, "quick": quick}
    write_json(out / "environment.json", summary)
    print("targets:")
    for name, value in targets.items():
        print(f"  {name}: {value}")
    return summary


def cli_bench(args) -> int:
    out = Path(args.out) if args.out else paths.RESULTS_DIR / "bench"
    run_bench(probe_writable(out), quick=args.quick)  # an unwritable --out refused before timing
    print(f"wrote {out}/layer.csv, memory.csv, sweep.csv, pipeline.csv, sweep.png, environment.json")
    return 0
