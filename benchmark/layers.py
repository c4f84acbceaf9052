"""The learnable Gabor (STRF) layer.

    >>> import keras
    >>> from benchmark.layers import GaborLayer
    >>> x = keras.Input((None, 64, 1))           # (batch, time, mel, 1) log-mel
    >>> y = GaborLayer(64, kernel_size=(111, 9))(x)   # (batch, time, mel, 128)

The four trainable weights are the parameters themselves, in natural units, as
the original code trains them: a reparametrisation (sigmoid, exp) would change
the optimiser's steps — with Adam a sigmoid-bounded F moves by about F·lr near
0, so the low-modulation filters would learn slowest. Their ranges are held by
weight constraints (:class:`Bounds`), a projection the optimiser applies after
every update, so no training step can make the kernels NaN or infinite:

- ``sigma_t`` in [0.1, max(K_t, 16)] frames, ``sigma_f`` in [0.1, max(K_f, 16)]
  mel bins (the upper bound covers the reference initialisation, at most
  2·1.41^6 ≈ 15.8);
- ``frequency`` in [0, π] radians per grid unit (π is the Nyquist limit), so
  both components F·cos γ and F·sin γ stay within Nyquist;
- ``orientation``: free (it enters only through cos and sin); reported
  wrapped to (-π, π].
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from benchmark import kernels as K
from benchmark.kernels import reference_init, sigma_bounds  # noqa: F401  (re-exported)

OUTPUT_MODES = ("real", "imag", "concat", "abs")
IMPLEMENTATIONS = ("dense", "separable", "auto")
PARAM_NAMES = ("sigma_t", "sigma_f", "frequency", "orientation")
SIGMA_MIN = K.SIGMA_MIN
SIGMA_MAX_FLOOR = K.SIGMA_MAX_FLOOR
# Version of the layer's weights and config. 2: natural-unit weights with
# constraints (1, unversioned, stored sigmoid pre-activations).
SCHEMA = 2


@keras.saving.register_keras_serializable(package="gabor_bench")
class Bounds(keras.constraints.Constraint):
    """Clip a weight into [lo, hi] after each optimiser update (a projection)."""

    def __init__(self, lo: float, hi: float):
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
            raise ValueError(f"Bounds needs finite lo <= hi, received lo={lo!r}, hi={hi!r}")
        self.lo = lo
        self.hi = hi

    def __call__(self, w):
        return ops.clip(w, self.lo, self.hi)

    def get_config(self):
        return {"lo": self.lo, "hi": self.hi}


@keras.saving.register_keras_serializable(package="gabor_bench")
class GaborLayer(keras.layers.Layer):
    """Learnable 2-D Gabor filterbank on (batch, time, mel, 1) spectrograms.

    Args:
        filters: number of complex Gabor filters K.
        kernel_size: (time taps, mel taps); the reference uses (111, 9).
        output_mode: ``concat`` (2K channels: every real part, then every
            imaginary part, filter order kept), ``real``, ``imag`` or ``abs``
            (modulus; K channels each).
        grid: ``centered`` (integer-spaced, centred on 0) or ``reference`` (the
            original code's grid, for exact parity).
        implementation: ``dense`` (one 2-D convolution), ``separable`` (a time
            pass and a mel pass, see :meth:`_separable`) or ``auto`` (the
            fastest for the shape, see :func:`choose_implementation`). Both
            compute the same function.
        seed: seed of the initialisation (None: Keras' global seed).
        init: ``reference`` (the original code's distribution, in grid units)
            or ``physical`` (the same distribution in seconds, octaves, Hz and
            cycles/octave at the reference's 100 frames/s and 64 mels on
            0-8 kHz, mapped to this layer's ``frame_rate_hz`` and
            ``bins_per_octave``; see :func:`benchmark.kernels.initial_params`).
        frame_rate_hz: frames per second of the input (needed by ``physical``).
        bins_per_octave: mel bands per octave of the input (needed by
            ``physical``; :func:`benchmark.units.mel_bins_per_octave`).

    The output keeps time and mel sizes ('same' padding, stride 1). The
    separable path needs a known number of mel bands; where a traced shape
    leaves it unknown the layer falls back to dense, which computes the same
    function.
    """

    def __init__(self, filters, kernel_size=(111, 9), output_mode="concat", grid="centered",
                 implementation="auto", seed=None, init="reference", frame_rate_hz=None,
                 bins_per_octave=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, (int, np.integer)) or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"filters must be a positive integer, received filters={filters!r}")
        if (not isinstance(kernel_size, (tuple, list)) or len(kernel_size) != 2
                or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in kernel_size)):
            raise ValueError("kernel_size must be two positive integers (time, mel), "
                             f"received kernel_size={kernel_size!r}")
        if output_mode not in OUTPUT_MODES:
            raise ValueError(f"output_mode must be one of {OUTPUT_MODES}, "
                             f"received output_mode={output_mode!r}")
        if grid not in K.GRIDS:
            raise ValueError(f"grid must be one of {K.GRIDS}, received grid={grid!r}")
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation must be one of {IMPLEMENTATIONS}, "
                             f"received implementation={implementation!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise ValueError(f"seed must be an integer or None, received seed={seed!r}")
        if init not in K.INITS:
            raise ValueError(f"init must be one of {K.INITS}, received init={init!r}")
        for name, value in (("frame_rate_hz", frame_rate_hz), ("bins_per_octave", bins_per_octave)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value <= 0):
                raise ValueError(f"{name} must be a positive number or None, received {name}={value!r}")
            if value is None and init == "physical":
                raise ValueError(f"init='physical' needs {name} (the input's frames per second "
                                 "and mel bands per octave), received None")
        self.filters = int(filters)
        self.kernel_size = (int(kernel_size[0]), int(kernel_size[1]))
        self.output_mode = output_mode
        self.grid = grid
        self.implementation = implementation
        self.seed = None if seed is None else int(seed)
        self.init = init
        self.frame_rate_hz = None if frame_rate_hz is None else float(frame_rate_hz)
        self.bins_per_octave = None if bins_per_octave is None else float(bins_per_octave)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: 1})

    # -- state -------------------------------------------------------------
    def ranges(self) -> dict[str, tuple[float, float] | None]:
        """(lo, hi) of each parameter; None where it is free."""
        (lt, ht), (lf, hf) = sigma_bounds(self.kernel_size)
        return {"sigma_t": (lt, ht), "sigma_f": (lf, hf), "frequency": (0.0, K.FREQUENCY_MAX),
                "orientation": None}

    def build(self, input_shape):
        if input_shape[-1] != 1:
            raise ValueError("GaborLayer expects one input channel (batch, time, mel, 1), "
                             f"received input_shape={tuple(input_shape)}")
        seed = self.seed
        if seed is None:
            # Draw from Keras' global seed so keras.utils.set_random_seed makes it reproducible.
            seed = int(ops.convert_to_numpy(keras.random.randint((), 0, 2**31 - 1)))
        init = K.initial_params(self.filters, np.random.default_rng(seed), self.init,
                                self.kernel_size, self.frame_rate_hz, self.bins_per_octave)
        for name, bounds in self.ranges().items():
            setattr(self, f"_{name}", self.add_weight(
                name=name, shape=(self.filters,),
                initializer=keras.initializers.Constant(init[name].astype("float32")),
                constraint=None if bounds is None else Bounds(*bounds), trainable=True))

    def effective_params(self):
        """The four parameter weights (sigma_t, sigma_f, frequency, orientation) as tensors."""
        return tuple(ops.convert_to_tensor(getattr(self, f"_{name}")) for name in PARAM_NAMES)

    def gabor_params(self) -> dict[str, np.ndarray]:
        """Parameter values as float NumPy arrays of shape (filters,), natural units."""
        self._require_built()
        out = {name: np.asarray(ops.convert_to_numpy(getattr(self, f"_{name}")), dtype="float64")
               for name in PARAM_NAMES}
        wrapped = np.mod(out["orientation"] + np.pi, 2 * np.pi) - np.pi   # [-π, π)
        out["orientation"] = np.where(wrapped == -np.pi, np.pi, wrapped)
        return out

    def set_gabor_params(self, **params) -> None:
        """Set any of sigma_t, sigma_f, frequency, orientation (arrays of shape (filters,)).

        Raises ValueError for values outside the parameter ranges (see
        :meth:`ranges`; :func:`benchmark.kernels.clip_to_ranges` clips into them).
        """
        self._require_built()
        unknown = set(params) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown Gabor parameter(s) {sorted(unknown)}; expected {PARAM_NAMES}")
        ranges = self.ranges()
        checked = {}
        for name, value in params.items():
            value = np.asarray(value, dtype="float64")
            if value.shape not in ((), (self.filters,)):
                raise ValueError(f"{name} must have shape ({self.filters},), received {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be finite, received {value}")
            bounds = ranges[name]
            # float32 rounding of a bound must not reject the bound itself.
            if bounds is not None and np.any((value < bounds[0] - 1e-6) | (value > bounds[1] + 1e-6)):
                raise ValueError(f"{name} must lie in [{bounds[0]:g}, {bounds[1]:g}] for kernel_size="
                                 f"{self.kernel_size}, received {value}")
            if bounds is not None:
                value = np.clip(value, *bounds)
            checked[name] = np.broadcast_to(value, (self.filters,)).astype("float32")
        for name, value in checked.items():
            getattr(self, f"_{name}").assign(value)

    def kernels(self) -> tuple[np.ndarray, np.ndarray]:
        """(real, imag) kernels as NumPy arrays of shape (K_t, K_f, filters)."""
        self._require_built()
        re, im = K.gabor_kernels(*self.effective_params(), self.kernel_size, self.grid)
        return ops.convert_to_numpy(re), ops.convert_to_numpy(im)

    def _require_built(self):
        if not self.built:
            raise ValueError("the layer has no weights yet: call it on an input or "
                             "call layer.build((None, time, mel, 1)) first")

    # -- computation -------------------------------------------------------
    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        impl = self.implementation
        if impl == "auto":
            impl = choose_implementation(self.kernel_size, self.filters, x.shape[2] or 64)
        if x.shape[2] is None:
            impl = "dense"          # the mel-axis matrices need a known number of bands
        params = self.effective_params()
        y = self._dense(x, params) if impl == "dense" else self._separable(x, params)
        return self._combine(y)

    def _combine(self, y):
        """``y`` holds every real part, then every imaginary part, on its last axis."""
        if self.output_mode == "concat":
            return y
        re, im = y[..., : self.filters], y[..., self.filters:]
        if self.output_mode == "real":
            return re
        if self.output_mode == "imag":
            return im
        return ops.sqrt(ops.square(re) + ops.square(im) + 1e-12)

    def _dense(self, x, params):
        re, im = K.gabor_kernels(*params, self.kernel_size, self.grid)
        kernel = ops.concatenate([re, im], axis=-1)[:, :, None, :]   # (K_t, K_f, 1, 2K)
        kernel = ops.cast(kernel, x.dtype)
        return ops.conv(x, kernel, strides=1, padding="same")

    def _separable(self, x, params):
        """The time pass as one matrix product, then the mel pass as one per filter.

        The time factors act on every mel band alike, so the time pass is a
        single GEMM of the (K_t, batch·frames·mel) matrix of shifted input
        frames — built from the one-channel input, which is cheap — with the
        (K_t, K) factors; it leaves each filter's output as a contiguous
        (batch·frames, mel) block, the layout the mel pass needs, without a
        transpose. The mel pass mixes each filter's (cos, sin) pair with banded
        'same'-correlation matrices, [u_c, u_s] @ [[Tc', Ts'], [-Ts', Tc']] =
        [re, im], as two batched products. One transpose puts the filters last.
        The parameter gradients flow through the small factors only.
        """
        ct, st, cf, sf = K.separable_factors(*params, self.kernel_size, self.grid)
        k_t = self.kernel_size[0]
        batch, frames, mel = ops.shape(x)[0], ops.shape(x)[1], x.shape[2]
        k = self.filters
        before = (k_t - 1) // 2
        # Time-major, so that one gather (whose gradient is a cheap scatter-add)
        # lays the shifted frames out as (K_t, frames·batch·mel).
        xt = ops.pad(ops.transpose(x[..., 0], (1, 0, 2)), [(before, k_t - 1 - before), (0, 0), (0, 0)])
        shifted = ops.take(xt, _shift_indices(k_t, frames), axis=0)          # (K_t, T, B, M)
        shifted = ops.reshape(shifted, (k_t, -1))
        dtype = x.dtype
        uc = ops.reshape(ops.matmul(ops.transpose(ops.cast(ct, dtype)), shifted), (k, -1, mel))
        us = ops.reshape(ops.matmul(ops.transpose(ops.cast(st, dtype)), shifted), (k, -1, mel))
        tc = ops.transpose(ops.cast(K.same_correlation_matrix(cf, mel), dtype), (0, 2, 1))  # (K,M,M)
        ts = ops.transpose(ops.cast(K.same_correlation_matrix(sf, mel), dtype), (0, 2, 1))
        y = (ops.matmul(uc, ops.concatenate([tc, ts], axis=2))
             + ops.matmul(us, ops.concatenate([-ts, tc], axis=2)))                 # (K, T·B, 2M)
        y = ops.transpose(ops.reshape(y, (k, frames, batch, 2, mel)), (2, 1, 4, 3, 0))  # (B,T,M,2,K)
        return ops.reshape(y, (batch, frames, mel, 2 * k))

    # -- Keras plumbing ----------------------------------------------------
    def compute_output_shape(self, input_shape):
        channels = 2 * self.filters if self.output_mode == "concat" else self.filters
        return tuple(input_shape[:3]) + (channels,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "output_mode": self.output_mode,
            "grid": self.grid,
            "implementation": self.implementation,
            "seed": self.seed,
            "init": self.init,
            "frame_rate_hz": self.frame_rate_hz,
            "bins_per_octave": self.bins_per_octave,
            "schema": SCHEMA,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        schema = config.pop("schema", 1)
        if schema != SCHEMA:
            raise ValueError(
                f"this GaborLayer was saved with weight schema {schema}, and this version reads "
                f"schema {SCHEMA} only (schema 1 stored sigmoid pre-activations, schema 2 the "
                "parameters in natural units): retrain the model, or rebuild the layer and "
                "set_gabor_params() from the saved run's Gabor parameters")
        config["kernel_size"] = tuple(config["kernel_size"])
        return cls(**config)


def _shift_indices(k_t: int, frames):
    """(K_t, frames) indices: row j holds frames j .. j+frames-1 of the padded input."""
    if isinstance(frames, (int, np.integer)):
        return ops.convert_to_tensor((np.arange(k_t)[:, None] + np.arange(int(frames))[None, :])
                                     .astype("int32"))
    return ops.arange(k_t, dtype="int32")[:, None] + ops.arange(frames, dtype="int32")[None, :]


def choose_implementation(kernel_size: tuple[int, int], filters: int, n_mels: int = 64) -> str:
    """The implementation ``auto`` uses: a cost model checked by ``gaborbench bench``.

    Per output position and filter, the direct convolution costs K_t·K_f
    multiply-adds and the separable path about K_t + 2·n_mels (the time taps
    plus the dense mel-axis matrices), run at roughly a third of the
    efficiency (it also moves the output through a transpose and a gather).
    So the separable path wins once K_t·K_f > 3·(K_t + 2·n_mels): the paper's
    111x9 bank on 64 mels, but not 51x9 or 25x9 (the crossover of the CPU
    sweep).
    """
    k_t, k_f = kernel_size
    return "separable" if k_t * k_f > 3 * (k_t + 2 * n_mels) else "dense"


def find_gabor_layers(model) -> list[GaborLayer]:
    """Every GaborLayer inside a layer or model (depth-first)."""
    found: list[GaborLayer] = []

    def visit(layer):
        if isinstance(layer, GaborLayer):
            found.append(layer)
            return
        for sub in getattr(layer, "_layers", None) or getattr(layer, "layers", None) or []:
            visit(sub)

    visit(model)
    return found


# Unit conversions live in benchmark.units (NumPy only); re-exported for callers of the layer.
from benchmark.units import mel_bins_per_octave, modulations, params_from_modulations  # noqa: E402,F401
