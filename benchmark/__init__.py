"""gabor-bench: learnable spectro-temporal (Gabor / STRF) frontends under one harness.

Data flows one way through the package:

    recipes -> download -> adapters/prepare -> features -> frontend (layers,
    baselines) -> heads -> train -> metrics -> results (run JSON) -> report

Importing the package is cheap: Keras/TensorFlow load only when a module that
needs them is imported.
"""

import os

__version__ = "0.1.0"

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512
# VNNI/BF16/AMX. On an AVX2 machine its Eigen kernels ran the demo's small
# convolutions 2.5x slower (zebra finch learnable Gabor: 104 -> 42 ms a step, one
# thread), and oneDNN is run-to-run identical at a fixed thread count. This must be
# set before TensorFlow is imported; an explicit setting is respected, and each run
# records which kernels it used (provenance.device).
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# TensorFlow, absl and CUDA print a dozen start-up lines to stderr on every command;
# they are held back unless GABORBENCH_VERBOSE=1 (``gaborbench --verbose`` sets it, and
# worker processes inherit it). TF_CPP_MIN_LOG_LEVEL=2 drops TensorFlow's later info
# and warning lines; the absl lines written before absl::InitializeLog ignore it, so
# the framework's import is filtered at file-descriptor level (benchmark.backend).
if os.environ.get("GABORBENCH_VERBOSE", "") in ("", "0"):
    from benchmark import backend as _backend

    _backend.quiet_framework_imports()
