"""Everything that depends on the Keras backend, in one module.

Keras 3 runs the project's models unchanged on TensorFlow, JAX and PyTorch, but
seeding, op determinism, thread pools, device queries, mixed precision and XLA
are spelled differently by each. The rest of the code asks this module instead
of importing a framework itself.

Importing this module imports no framework, and no function imports TensorFlow
unless TensorFlow is the backend: a machine whose only framework is JAX (or
PyTorch), as GPU machines often are, must run every command. The backend is
Keras's: ``KERAS_BACKEND`` or ``~/.keras/keras.json``, fixed when Keras is
first imported.

Call :func:`setup` first in a process, before anything touches a device: JAX
reads its XLA flags when it first initialises a device, TensorFlow fixes its
thread pools and GPU memory policy at the same moment, and cuBLAS reads its
workspace setting when it starts.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.metadata
import importlib.util
import os
import platform
import re
import sys
import tempfile

from benchmark.errors import UserError

BACKENDS = ("tensorflow", "jax", "torch")

# XLA:GPU flag that swaps atomics-based scatter and reduction kernels for
# deterministic ones and pins autotuning (--xla_gpu_exclude_nondeterministic_ops
# is its subset); CPU builds of jaxlib accept and ignore it.
JAX_DETERMINISTIC_FLAG = "--xla_gpu_deterministic_ops=true"
JAX_ONE_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")
# cuBLAS is deterministic only with a fixed workspace; NVIDIA's documented value.
CUBLAS_WORKSPACE = ":4096:8"


def name() -> str:
    """The Keras backend of this process: "tensorflow", "jax" or "torch"."""
    import keras

    return keras.backend.backend()


def installed() -> list[str]:
    """The backends whose framework is installed, in :data:`BACKENDS` order."""
    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


def choose(preferred: str | None = None) -> str:
    """Fix the backend before Keras is imported, and return it.

    ``preferred`` None or "auto": ``$KERAS_BACKEND`` when its framework is
    installed, else the first installed of TensorFlow, JAX, PyTorch (so that a
    Makefile default of tensorflow still runs on a JAX-only machine). Once Keras
    is imported its backend can no longer change: asking for another is an error.
    """
    if preferred not in (None, "auto", *BACKENDS):
        raise UserError(f"unknown backend {preferred!r} (use auto, {', '.join(BACKENDS)})")
    if "keras" in sys.modules:
        current = name()
        if preferred not in (None, "auto") and preferred != current:
            raise UserError(f"Keras already runs on {current} in this process; start a new one "
                            f"with KERAS_BACKEND={preferred}")
        return current
    have = installed()
    if preferred in (None, "auto"):
        env = os.environ.get("KERAS_BACKEND")
        if env in have:
            return env
        if not have:
            raise UserError(f"none of {', '.join(BACKENDS)} is installed: install one of them")
        chosen = have[0]
    elif preferred not in have:
        raise UserError(f"backend {preferred} is asked for but {preferred} is not installed "
                        f"(installed: {', '.join(have) or 'none'})")
    else:
        chosen = preferred
    os.environ["KERAS_BACKEND"] = chosen
    return chosen


def version(package: str | None = None) -> str:
    """Installed version of ``package`` (default: the backend's framework), or "absent"."""
    try:
        return importlib.metadata.version(package or name())
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def tensorboard_available() -> bool:
    """Whether ``keras.callbacks.TensorBoard`` can work: it writes through
    ``tf.summary`` whatever the backend, so it needs TensorFlow installed."""
    return importlib.util.find_spec("tensorflow") is not None


# --------------------------------------------------------------------------- setup


def _jax_initialised() -> bool:
    """Whether JAX has created its device clients (after which XLA_FLAGS is ignored)."""
    try:
        from jax._src import xla_bridge
    except ImportError:
        return False
    probe = getattr(xla_bridge, "backends_are_initialized", None)
    return bool(probe()) if probe is not None else bool(getattr(xla_bridge, "_backends", None))


def _add_xla_flags(*flags: str) -> None:
    current = os.environ.get("XLA_FLAGS", "").split()
    os.environ["XLA_FLAGS"] = " ".join(current + [f for f in flags if f not in current])


def setup(seed: int, deterministic: bool, threads: int | None = None) -> str:
    """Seed every generator and set determinism and thread pools for this process.

    Args:
        seed: seeds Python, NumPy and the backend through
            ``keras.utils.set_random_seed`` (which also resets Keras's global
            seed generator, so layers built without a seed draw the same weights).
        deterministic: ask the backend for run-to-run identical kernels, at some
            speed cost on a GPU.
        threads: intra-op threads on the CPU (None: the framework's default).

    Returns one line for the run record saying what reruns can be expected to
    reproduce on this backend, and what could not be made deterministic.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, received seed={seed!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, received threads={threads!r}")
    backend = name()
    notes: list[str] = []
    if backend == "jax":
        notes += _setup_jax(deterministic, threads)
    elif backend == "torch":
        notes += _setup_torch(deterministic, threads)
    elif backend == "tensorflow":
        notes += _setup_tensorflow(deterministic, threads)
    else:
        notes.append(f"unknown backend {backend!r}: seeded only")
    import keras

    keras.utils.set_random_seed(int(seed))
    return f"{backend}: seed {seed}; " + "; ".join(notes)


def _setup_tensorflow(deterministic: bool, threads: int | None) -> list[str]:
    import tensorflow as tf

    notes = []
    try:
        # GPUs shared by several grid workers: take memory as needed, not all at once.
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
        if threads is not None:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started in this process: its settings stay
        notes.append("thread pools and GPU memory policy were already fixed in this process")
    try:  # there is no public way to ask, nor to turn it off again
        from tensorflow.python.framework.config import is_op_determinism_enabled
    except ImportError:
        def is_op_determinism_enabled():
            return False
    if deterministic or is_op_determinism_enabled():
        tf.config.experimental.enable_op_determinism()
        if not deterministic:
            notes.append("op determinism stays on: enabled earlier in this process")
        notes.append("op determinism on: reruns on the same device and software are identical "
                     "(an op without a deterministic GPU kernel raises an error; Keras turns XLA "
                     "off under op determinism)")
    else:
        notes.append("op determinism off: GPU reductions and cuDNN algorithm choices may differ "
                     "between reruns")
    return notes


def _setup_jax(deterministic: bool, threads: int | None) -> list[str]:
    notes = []
    started = _jax_initialised()
    if not started:
        # Grid workers may share a GPU: allocate on demand instead of 75% up front.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if deterministic:
            _add_xla_flags(JAX_DETERMINISTIC_FLAG)
        if threads == 1:
            _add_xla_flags(*JAX_ONE_THREAD_FLAGS)
    # The flag acts when JAX starts: what is in XLA_FLAGS now is what the process runs with,
    # unless JAX started before it was added (only possible when we could not add it).
    on = JAX_DETERMINISTIC_FLAG in os.environ.get("XLA_FLAGS", "").split()
    if on:
        notes.append("XLA deterministic ops on: reruns on the same device and software are "
                     "identical (XLA:CPU is deterministic by itself)"
                     + ("" if deterministic else "; set in XLA_FLAGS although not asked for"))
    elif deterministic:
        notes.append("XLA deterministic ops could not be set (JAX had already started in this "
                     "process): CPU reruns are identical, GPU reruns may differ in the last bits")
    else:
        notes.append("XLA deterministic ops off: CPU reruns are identical, GPU reruns may differ "
                     "(atomic reductions, autotuned kernels)")
    if threads is not None and threads != 1:
        notes.append(f"{threads} threads asked, but XLA:CPU sizes its pool from the cores this "
                     "process may use (restrict them with taskset)")
    elif threads == 1 and started:
        notes.append("one thread asked, but JAX had already started with its default pool")
    return notes


def _setup_torch(deterministic: bool, threads: int | None) -> list[str]:
    import torch

    notes = []
    if threads is not None:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # only settable before the first parallel work
            pass
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        # warn_only: an op without a deterministic CUDA kernel warns instead of
        # stopping a benchmark run; the statement below says so.
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        notes.append("deterministic algorithms on (warn only): reruns on the same device are "
                     "identical except through ops PyTorch warns about")
    else:
        torch.use_deterministic_algorithms(False)
        notes.append("deterministic algorithms off: GPU reruns may differ (atomic adds, cuDNN "
                     "algorithm choice)")
    return notes


# --------------------------------------------------------------------------- devices


def _jax_gpus() -> list:
    import jax

    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform in this jaxlib, or no GPU found
        return []


def gpu_present() -> bool:
    """Whether the backend sees a GPU (CUDA or ROCm)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        return bool(_jax_gpus())
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def gpu_count() -> int:
    """How many GPUs the backend sees."""
    return len(_gpu_names_and_capabilities()[0])


def _gpu_names_and_capabilities() -> tuple[list[str], list[tuple[int, int] | None], str]:
    """(device names, compute capabilities, "cuda"/"rocm") of the backend's GPUs."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        details = [tf.config.experimental.get_device_details(g)
                   for g in tf.config.list_physical_devices("GPU")]
        return ([d.get("device_name", "GPU") for d in details],
                [d.get("compute_capability") for d in details],
                "rocm" if tf.test.is_built_with_rocm() else "cuda")
    if backend == "jax":
        gpus = _jax_gpus()
        caps = []
        for d in gpus:
            cc = getattr(d, "compute_capability", None)
            try:
                caps.append(tuple(int(p) for p in str(cc).split(".")[:2]) if cc else None)
            except ValueError:
                caps.append(None)
        kind = ""
        if gpus:
            version_text = str(getattr(gpus[0].client, "platform_version", "")).lower()
            kind = "rocm" if "rocm" in version_text else "cuda"
        return [d.device_kind for d in gpus], caps, kind
    if backend == "torch":
        import torch

        if not torch.cuda.is_available():
            return [], [], ""
        n = torch.cuda.device_count()
        return ([torch.cuda.get_device_name(i) for i in range(n)],
                [tuple(torch.cuda.get_device_capability(i)) for i in range(n)],
                "rocm" if getattr(torch.version, "hip", None) else "cuda")
    return [], [], ""


def cpu_threads() -> int:
    """Intra-op threads the backend uses on the CPU."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        # 0 means "not set in this process": TensorFlow then takes TF_NUM_INTRAOP_THREADS
        # from the environment (how grid workers are limited), and only then the cores.
        return (tf.config.threading.get_intra_op_parallelism_threads()
                or _env_threads("TF_NUM_INTRAOP_THREADS") or _usable_cores())
    if backend == "torch":
        import torch

        return int(torch.get_num_threads())
    if backend == "jax" and all(f in os.environ.get("XLA_FLAGS", "").split()
                                for f in JAX_ONE_THREAD_FLAGS):
        return 1
    return _usable_cores()


def _env_threads(var: str) -> int | None:
    try:
        n = int(os.environ.get(var, ""))
    except ValueError:
        return None
    return n if n > 0 else None


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def device_description() -> str:
    """One line naming the compute device, e.g. "NVIDIA H200 (jax 0.7.2, cuda)"
    or "cpu x86_64 (tensorflow 2.21.0, 2 threads)"."""
    backend = name()
    names, _, kind = _gpu_names_and_capabilities()
    if names:
        shown = names[0] if len(set(names)) == 1 else ", ".join(names)
        count = f"{len(names)} x " if len(names) > 1 else ""
        return f"{count}{shown} ({backend} {version()}, {kind})"
    kernels = ", oneDNN" if backend == "tensorflow" and tf_onednn() else ""
    return f"cpu {platform.machine()} ({backend} {version()}, {cpu_threads()} threads{kernels})"


def tf_onednn() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels (TF_ENABLE_ONEDNN_OPTS at import)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def supports_mixed_precision() -> bool:
    """Whether float16 compute pays off: a GPU with tensor cores (compute capability
    7.0 or more; ROCm GPUs are taken as able). On a CPU float16 is emulated and slower."""
    names, caps, kind = _gpu_names_and_capabilities()
    if not names:
        return False
    if kind == "rocm":
        return True
    return all(c is None or tuple(c) >= (7, 0) for c in caps)


def jit_compile_option(want: bool) -> bool:
    """What to pass as ``model.compile(jit_compile=...)`` when XLA is ``want``-ed.

    - tensorflow: ``want`` (XLA on a GPU; on a CPU it slowed these convolutions).
      Keras itself turns it off when op determinism is on.
    - jax: always True. JAX compiles with XLA; ``False`` would make Keras run
      the model op by op, orders of magnitude slower, on any device.
    - torch: always False. Keras would use ``torch.compile``, which is not XLA,
      needs a compiler toolchain at run time and recompiles for every new batch
      shape (last partial batch, evaluation windows); the runs stay eager.
    """
    backend = name()
    if backend == "jax":
        return True
    if backend == "torch":
        return False
    return bool(want)


def tf_energy_gradient(layer, x, weights, wrt_input: bool):
    """TensorFlow: a step computing the gradient of sum(layer(x)²) with respect to the
    layer's ``weights`` (and ``x`` first, when ``wrt_input``), undecorated so the caller
    chooses its ``tf.function`` options. The timed backward pass of bench and gpu-check."""
    import tensorflow as tf

    def step():
        with tf.GradientTape() as tape:
            if wrt_input:
                tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, ([x] if wrt_input else []) + list(weights))
    return step


def environment() -> dict:
    """Backend, device, versions and the flags that shape the numbers (for env records)."""
    import keras

    env_keys = ("KERAS_BACKEND", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE",
                "XLA_PYTHON_CLIENT_MEM_FRACTION", "CUDA_VISIBLE_DEVICES", "TF_ENABLE_ONEDNN_OPTS",
                "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG")
    return {
        "backend": name(),
        "device": device_description(),
        "gpu": gpu_present(),
        "mixed_precision_supported": supports_mixed_precision(),
        "cpu_threads": cpu_threads(),
        "versions": {"keras": keras.__version__, "python": platform.python_version(),
                     **{p: version(p) for p in ("tensorflow", "jax", "jaxlib", "torch", "numpy")
                        if version(p) != "absent"}},
        "env": {k: os.environ[k] for k in env_keys if k in os.environ},
        "machine": platform.machine(),
        "platform": platform.platform(),
    }


# --------------------------------------------------------------------------- start-up lines

# What TensorFlow, XLA and CUDA print while the framework loads and finds its devices:
# absl's C++ log lines (written before absl::InitializeLog, so TF_CPP_MIN_LOG_LEVEL does
# not hold them back), their preamble, and the CPU-feature note's second line. Measured
# on TF 2.21: "oneDNN custom operations are on", "Could not find cuda drivers", "failed
# call to cuInit", twice each per process. A Python warning or traceback is kept.
_ABSL_LINE = re.compile(r"^(?P<level>[IWEF])\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] ")
_OLD_TF_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: (?P<level>[IWEF]) \S+:\d+\] ")
_STARTUP_ERRORS = ("cuInit", "Unable to register cu", "already been registered",
                   "computation placer already registered", "cuda drivers", "TensorRT")
_STARTUP_LINES = ("WARNING: All log messages before absl::InitializeLog() is called",
                  "To enable the following instructions:")
QUIET_MODULES = ("tensorflow", "keras", "jax", "torch")
VERBOSE_ENV = "GABORBENCH_VERBOSE"


def startup_noise(line: str) -> bool:
    """Whether a line of standard error is framework start-up chatter (info, warnings, and
    the known device-discovery errors of a machine without CUDA); fatal lines are kept."""
    if line.startswith(_STARTUP_LINES):
        return True
    m = _ABSL_LINE.match(line) or _OLD_TF_LINE.match(line)
    if m is None:
        return False
    return m["level"] in "IW" or (m["level"] == "E" and any(s in line for s in _STARTUP_ERRORS))


@contextlib.contextmanager
def quiet_startup():
    """Hold back file descriptor 2 (where the C++ libraries write) while the block runs,
    then write what it received minus :func:`startup_noise`."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr to filter
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = "".join(line for line in text.splitlines(keepends=True)
                           if not startup_noise(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs a framework's top-level import, and TensorFlow's device discovery (where
    CUDA prints), inside :func:`quiet_startup`."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self.loader  # the real loader from now on
        _QuietImports.active = True
        try:
            with quiet_startup():
                self.loader.exec_module(module)
                _discover_tf_devices()
        finally:
            _QuietImports.active = False


def _discover_tf_devices() -> None:
    # Listing physical devices runs cuInit but does not start the runtime: thread pools
    # and GPU memory growth can still be set afterwards (backend.setup).
    tf = sys.modules.get("tensorflow")
    if tf is None or _QuietImports.discovered:
        return
    _QuietImports.discovered = True
    try:
        tf.config.list_physical_devices()
    except Exception:  # noqa: BLE001 -- a broken device is reported where devices are used
        pass


class _QuietImports(importlib.abc.MetaPathFinder):
    active = False
    discovered = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in QUIET_MODULES or _QuietImports.active:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
_log_level_ours = False   # whether TF_CPP_MIN_LOG_LEVEL was set here, not by the caller


def quiet_framework_imports(on: bool = True) -> None:
    """Silence the frameworks' start-up lines (on, the default of the package) or show
    them (off: ``gaborbench --verbose``, or GABORBENCH_VERBOSE=1 in the environment,
    which worker processes inherit). Only imports that have not happened yet are affected.

    On also sets TF_CPP_MIN_LOG_LEVEL=2 (TensorFlow's later info and warning lines)
    unless the caller set it; off removes it again if it was set here."""
    global _log_level_ours
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietImports)]
    if on:
        sys.meta_path.insert(0, _QuietImports())
        if _LOG_LEVEL not in os.environ:
            os.environ[_LOG_LEVEL] = "2"
            _log_level_ours = True
    elif _log_level_ours:
        os.environ.pop(_LOG_LEVEL, None)
        _log_level_ours = False
