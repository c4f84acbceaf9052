"""The learnable Gabor (STRF) layer and unit conversions for its parameters.

    >>> import keras
    >>> from benchmark.layers import GaborLayer
    >>> x = keras.Input((None, 64, 1))           # (batch, time, mel, 1) log-mel
    >>> y = GaborLayer(64, kernel_size=(111, 9))(x)   # (batch, time, mel, 128)

Parameters and their ranges (held there by construction, so no input or
training step can make the kernels NaN or infinite):

- ``sigma_t`` in [0.1, max(K_t, 16)] frames, ``sigma_f`` in [0.1, max(K_f, 16)]
  mel bins: a sigmoid of an unconstrained variable. The upper bound covers the
  reference initialisation (at most 2·1.41^6 ≈ 15.8).
- ``frequency`` in [0, π] radians per grid unit (π is the Nyquist limit), also a
  sigmoid; both components F·cos γ and F·sin γ therefore stay within Nyquist.
- ``orientation``: any real number (it enters only through cos and sin);
  reported wrapped to (-π, π].
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from benchmark import kernels as K

OUTPUT_MODES = ("real", "imag", "concat", "abs")
IMPLEMENTATIONS = ("dense", "separable", "fft", "auto")
PARAM_NAMES = ("sigma_t", "sigma_f", "frequency", "orientation")
SIGMA_MIN = 0.1
SIGMA_MAX_FLOOR = 16.0


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p) - np.log1p(-p)


def sigma_bounds(kernel_size: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
    """(lo, hi) of sigma_t and of sigma_f for a kernel size (time, freq)."""
    k_t, k_f = kernel_size
    return (SIGMA_MIN, max(float(k_t), SIGMA_MAX_FLOOR)), (SIGMA_MIN, max(float(k_f), SIGMA_MAX_FLOOR))


def reference_init(filters: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The original code's initialisation.

    F = (π/2)·1.41^(−U(0,5)); σ_f, σ_t = 2·1.41^U(0,6); γ ~ U(−π, π).
    """
    return {
        "sigma_t": 2.0 * 1.41 ** rng.uniform(0, 6, filters),
        "sigma_f": 2.0 * 1.41 ** rng.uniform(0, 6, filters),
        "frequency": (np.pi / 2) * 1.41 ** (-rng.uniform(0, 5, filters)),
        "orientation": rng.uniform(-np.pi, np.pi, filters),
    }


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
        implementation: ``dense`` (one 2-D convolution), ``separable`` (time
            convolution then a banded mel-axis matrix), ``fft`` (time axis in
            the Fourier domain) or ``auto`` (the fastest for the shape, see
            :func:`choose_implementation`). All give the same result.
        seed: seed of the reference initialisation (None: Keras' global seed).

    The output keeps time and mel sizes ('same' padding, stride 1). The
    separable and fft paths need a known number of mel bands, and fft a known
    number of frames; where a traced shape leaves them unknown the layer falls
    back to separable (then dense), which computes the same function.
    """

    def __init__(self, filters, kernel_size=(111, 9), output_mode="concat", grid="centered",
                 implementation="auto", seed=None, **kwargs):
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
        self.filters = int(filters)
        self.kernel_size = (int(kernel_size[0]), int(kernel_size[1]))
        self.output_mode = output_mode
        self.grid = grid
        self.implementation = implementation
        self.seed = None if seed is None else int(seed)
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: 1})

    # -- state -------------------------------------------------------------
    def build(self, input_shape):
        if input_shape[-1] != 1:
            raise ValueError("GaborLayer expects one input channel (batch, time, mel, 1), "
                             f"received input_shape={tuple(input_shape)}")
        seed = self.seed
        if seed is None:
            # Draw from Keras' global seed so keras.utils.set_random_seed makes it reproducible.
            seed = int(ops.convert_to_numpy(keras.random.randint((), 0, 2**31 - 1)))
        init = self._to_raw(reference_init(self.filters, np.random.default_rng(seed)))
        for name in PARAM_NAMES:
            value = init[name]
            setattr(self, f"_{name}", self.add_weight(
                name=name, shape=(self.filters,),
                initializer=keras.initializers.Constant(value), trainable=True))

    def _to_raw(self, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        (lt, ht), (lf, hf) = sigma_bounds(self.kernel_size)
        p = {k: np.asarray(v, dtype="float64").reshape(self.filters) for k, v in params.items()}
        return {
            "sigma_t": _logit((p["sigma_t"] - lt) / (ht - lt)).astype("float32"),
            "sigma_f": _logit((p["sigma_f"] - lf) / (hf - lf)).astype("float32"),
            "frequency": _logit(p["frequency"] / np.pi).astype("float32"),
            "orientation": p["orientation"].astype("float32"),
        }

    def effective_params(self):
        """The four parameters as backend tensors, mapped into their valid ranges."""
        (lt, ht), (lf, hf) = sigma_bounds(self.kernel_size)
        return (
            lt + (ht - lt) * ops.sigmoid(self._sigma_t),
            lf + (hf - lf) * ops.sigmoid(self._sigma_f),
            math.pi * ops.sigmoid(self._frequency),
            ops.convert_to_tensor(self._orientation),
        )

    def gabor_params(self) -> dict[str, np.ndarray]:
        """Effective parameter values as float NumPy arrays of shape (filters,)."""
        self._require_built()
        values = [np.asarray(ops.convert_to_numpy(v), dtype="float64") for v in self.effective_params()]
        out = dict(zip(PARAM_NAMES, values))
        wrapped = np.mod(out["orientation"] + np.pi, 2 * np.pi) - np.pi   # [-π, π)
        out["orientation"] = np.where(wrapped == -np.pi, np.pi, wrapped)
        return out

    def set_gabor_params(self, **params) -> None:
        """Set any of sigma_t, sigma_f, frequency, orientation (arrays of shape (filters,)).

        Values outside the valid ranges are clipped into them.
        """
        self._require_built()
        unknown = set(params) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown Gabor parameter(s) {sorted(unknown)}; expected {PARAM_NAMES}")
        current = self.gabor_params()
        for name, value in params.items():
            value = np.asarray(value, dtype="float64")
            if value.shape not in ((), (self.filters,)):
                raise ValueError(f"{name} must have shape ({self.filters},), received {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"{name} must be finite, received {value}")
            current[name] = np.broadcast_to(value, (self.filters,))
        raw = self._to_raw(current)
        for name in params:
            getattr(self, f"_{name}").assign(raw[name])

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
        if impl != "dense" and x.shape[2] is None:
            impl = "dense"          # the mel-axis matrices need a known number of bands
        if impl == "fft" and x.shape[1] is None:
            impl = "separable"      # the transform length needs a known number of frames
        params = self.effective_params()
        y = {"dense": self._dense, "separable": self._separable, "fft": self._fft}[impl](x, params)
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
        """Time convolution to 2K channels, then the mel axis as one batched matmul.

        The time step is an ordinary convolution (fast in oneDNN/cuDNN) run in
        a (batch, mel, time) layout, where its weight gradient is cheapest. The
        mel step mixes each filter's (cos, sin) pair with banded 'same'
        correlation matrices: [u_c, u_s] @ [[Tc', Ts'], [-Ts', Tc']] = [re, im].
        """
        ct, st, cf, sf = K.separable_factors(*params, self.kernel_size, self.grid)
        batch, frames, mel = ops.shape(x)[0], ops.shape(x)[1], x.shape[2]
        k = self.filters
        kernel = ops.cast(ops.concatenate([ct, st], axis=-1)[None, :, None, :], x.dtype)  # (1,K_t,1,2K)
        u = ops.conv(ops.transpose(x, (0, 2, 1, 3)), kernel, strides=1, padding="same")  # (B,M,T,2K)
        u = ops.reshape(u, (batch, mel, frames, 2, k))
        u = ops.reshape(ops.transpose(u, (4, 0, 2, 3, 1)), (k, -1, 2 * mel))           # (K,BT,2M)
        tc = ops.transpose(ops.cast(K.same_correlation_matrix(cf, mel), x.dtype), (0, 2, 1))
        ts = ops.transpose(ops.cast(K.same_correlation_matrix(sf, mel), x.dtype), (0, 2, 1))
        w = ops.concatenate([ops.concatenate([tc, ts], axis=2),
                             ops.concatenate([-ts, tc], axis=2)], axis=1)               # (K,2M,2M)
        y = ops.matmul(u, w)                                                            # (K,BT,2M)
        y = ops.transpose(ops.reshape(y, (k, batch, frames, 2, mel)), (1, 2, 4, 3, 0))  # (B,T,M,2,K)
        return ops.reshape(y, (batch, frames, mel, 2 * k))

    def _fft(self, x, params):
        ct, st, cf, sf = K.separable_factors(*params, self.kernel_size, self.grid)
        k_t = self.kernel_size[0]
        mel = x.shape[2]
        frames = ops.shape(x)[1]
        n_fft = K.fast_fft_length(int(x.shape[1]) + k_t - 1)
        dtype = x.dtype
        cos_tab, sin_tab = (ops.cast(ops.convert_to_tensor(t), dtype) for t in K.dft_phase(k_t, n_fft))
        # Spectra of the time factors (filters, freqs): H = sum_i g[i] e^{i phase[i]}.
        ct_, st_ = ops.transpose(ops.cast(ct, dtype)), ops.transpose(ops.cast(st, dtype))
        c_re, c_im = ops.matmul(ct_, cos_tab), ops.matmul(ct_, sin_tab)
        s_re, s_im = ops.matmul(st_, cos_tab), ops.matmul(st_, sin_tab)

        xt = ops.transpose(x[..., 0], (0, 2, 1))                   # (B, M, T)
        xt = ops.pad(xt, [(0, 0), (0, 0), (0, n_fft - int(x.shape[1]))])
        x_re, x_im = ops.rfft(xt)                                    # (B, M, F)
        # Mel mixing commutes with the time transform, so apply it to the
        # one-channel spectrum before it fans out to the filters.
        tc = ops.cast(K.same_correlation_matrix(cf, mel), dtype)    # (K, M, M)
        ts = ops.cast(K.same_correlation_matrix(sf, mel), dtype)

        def mel_mix(t, u):
            return ops.einsum("knm,bmf->bknf", t, u)                 # (B, K, M, F)

        vc = (mel_mix(tc, x_re), mel_mix(tc, x_im))
        vs = (mel_mix(ts, x_re), mel_mix(ts, x_im))
        c = (c_re[None, :, None, :], c_im[None, :, None, :])
        s = (s_re[None, :, None, :], s_im[None, :, None, :])

        def cmul(a, b):
            return a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]

        # real = (x*ct)*cf - (x*st)*sf ; imag = (x*st)*cf + (x*ct)*sf  (each real)
        cc, ss, sc, cs = cmul(c, vc), cmul(s, vs), cmul(s, vc), cmul(c, vs)
        spec = (ops.stack([cc[0] - ss[0], sc[0] + cs[0]], axis=1),
                ops.stack([cc[1] - ss[1], sc[1] + cs[1]], axis=1))   # (B, 2, K, M, F)
        y = ops.irfft(spec, fft_length=n_fft)[..., :frames]          # (B, 2, K, M, T)
        y = ops.transpose(y, (0, 4, 3, 1, 2))                        # (B, T, M, 2, K)
        return ops.reshape(y, (ops.shape(x)[0], frames, mel, 2 * self.filters))

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
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel_size"] = tuple(config["kernel_size"])
        return cls(**config)


def choose_implementation(kernel_size: tuple[int, int], filters: int, n_mels: int = 64) -> str:
    """The implementation ``auto`` uses: a cost model checked by ``gaborbench bench``.

    Per output position and filter, the direct convolution costs K_t·K_f
    multiply-adds and the separable path about K_t + 2·n_mels (time taps plus
    the dense mel-axis matrix), run at roughly a third of the efficiency (it
    also moves the output through two transposes). So the separable path wins
    once K_t·K_f > 3·(K_t + 2·n_mels): the paper's 111x9 bank on 64 mels, but
    not 51x9 or 25x9 (the crossover measured on the CPU sweep). The Fourier path
    computes the same function (an independent formulation the tests check the
    others against, and a candidate where FFTs are cheap); on CPU it never wins
    (see the README's performance section), so ``auto`` does not pick it.
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
