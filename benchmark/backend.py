"""Backend-specific set-up (placeholder, superseded by the full module)."""

from __future__ import annotations


def setup(seed: int, deterministic: bool, threads=None) -> str:
    import keras

    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy("float32")
    return ""


def gpu_present() -> bool:
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except Exception:
        return False


def jit_compile_option(want: bool):
    return bool(want)
