"""The Gabor layer: kernels, implementations, gradients, ranges, serialisation.

Backend-agnostic: tests/test_layers_jax.py runs this module again under JAX.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops
from scipy.signal import correlate2d

from benchmark import kernels as K
from benchmark.layers import (Bounds, GaborLayer, choose_implementation, find_gabor_layers,
                              mel_bins_per_octave, modulations, params_from_modulations)

BACKEND = keras.backend.backend()
IMPLS = ("dense", "separable")


def numpy_kernel(st, sf, F, g, shape, grid):
    """The kernel formula (see benchmark.kernels), evaluated point by point."""
    k_t, k_f = shape
    if grid == "centered":
        t = np.arange(k_t) - (k_t - 1) / 2
        f = np.arange(k_f) - (k_f - 1) / 2
    else:
        t = np.linspace(-math.ceil(k_t / 2) + 1, math.ceil(k_t / 2), k_t)
        f = np.linspace(-math.ceil(k_f / 2) + 1, math.ceil(k_f / 2), k_f)
    T, Fq = np.meshgrid(t, f, indexing="ij")
    env = np.exp(-T**2 / (2 * (st + 1e-3) ** 2) - Fq**2 / (2 * (sf + 1e-3) ** 2)) / (2 * np.pi * st * sf)
    phase = F * (T * np.cos(g) + Fq * np.sin(g))
    return env * np.cos(phase), env * np.sin(phase)


def random_params(n, seed=0):
    rng = np.random.default_rng(seed)
    return {"sigma_t": rng.uniform(0.5, 12, n), "sigma_f": rng.uniform(0.5, 6, n),
            "frequency": rng.uniform(0.05, 3.0, n), "orientation": rng.uniform(-np.pi, np.pi, n)}


def make_layer(filters=3, kernel_size=(11, 5), mel=12, **kw):
    layer = GaborLayer(filters, kernel_size=kernel_size, seed=kw.pop("seed", 1), **kw)
    layer.build((None, None, mel, 1))
    return layer


def np_out(layer, x):
    return ops.convert_to_numpy(layer(x))


@pytest.mark.parametrize("grid", ["centered", "reference"])
@pytest.mark.parametrize("shape", [(11, 5), (10, 4), (1, 1)])
def test_kernels_match_numpy_formula(grid, shape):
    p = random_params(4)
    re, im = K.gabor_kernels_np(p["sigma_t"], p["sigma_f"], p["frequency"], p["orientation"],
                                shape, grid)
    assert re.shape == im.shape == shape + (4,)
    for k in range(4):
        ref_re, ref_im = numpy_kernel(p["sigma_t"][k], p["sigma_f"][k], p["frequency"][k],
                                      p["orientation"][k], shape, grid)
        np.testing.assert_allclose(re[..., k], ref_re, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(im[..., k], ref_im, rtol=1e-5, atol=1e-7)


def test_layer_kernels_use_effective_params():
    layer = make_layer(grid="reference")
    p = layer.gabor_params()
    re, im = layer.kernels()
    ref_re, ref_im = numpy_kernel(*(p[n][1] for n in ("sigma_t", "sigma_f", "frequency", "orientation")),
                                  (11, 5), "reference")
    np.testing.assert_allclose(re[..., 1], ref_re, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(im[..., 1], ref_im, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", [(11, 5), (8, 4)])
def test_output_matches_scipy_correlate2d(impl, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 30, 12, 1)).astype("float32")
    layer = make_layer(kernel_size=shape, implementation=impl)
    y = np_out(layer, x)
    re, im = layer.kernels()
    assert y.shape == (2, 30, 12, 6)
    for b in range(2):
        for k in range(3):
            # 'same' correlation: scipy centres even kernels like Keras does ((K-1)//2 before).
            ref_re = correlate2d(x[b, :, :, 0], re[..., k], mode="full")
            ref_im = correlate2d(x[b, :, :, 0], im[..., k], mode="full")
            t0, f0 = shape[0] - 1 - (shape[0] - 1) // 2, shape[1] - 1 - (shape[1] - 1) // 2
            ref_re = ref_re[t0:t0 + 30, f0:f0 + 12]
            ref_im = ref_im[t0:t0 + 30, f0:f0 + 12]
            np.testing.assert_allclose(y[b, :, :, k], ref_re, atol=2e-6)       # real parts first
            np.testing.assert_allclose(y[b, :, :, 3 + k], ref_im, atol=2e-6)   # then imaginary


def test_output_modes():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 20, 12, 1)).astype("float32")
    outs = {m: np_out(make_layer(output_mode=m), x) for m in ("concat", "real", "imag", "abs")}
    np.testing.assert_allclose(outs["real"], outs["concat"][..., :3], atol=1e-6)
    np.testing.assert_allclose(outs["imag"], outs["concat"][..., 3:], atol=1e-6)
    np.testing.assert_allclose(outs["abs"], np.hypot(outs["real"], outs["imag"]), atol=1e-5)
    assert make_layer(output_mode="abs").compute_output_shape((None, 20, 12, 1)) == (None, 20, 12, 3)


def _loss_and_grads(layer, x, w):
    """Loss sum(y * w) and its gradients w.r.t. the raw variables, on any backend."""
    variables = layer.trainable_variables
    if BACKEND == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(layer(xt) * w)
        grads = tape.gradient(loss, variables + [xt])
        return float(loss), [g.numpy() for g in grads]
    if BACKEND == "jax":
        import jax

        def f(values, xin):
            y, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], xin)
            return (y * w).sum()

        values = [v.value for v in variables]
        loss, (gv, gx) = jax.value_and_grad(f, argnums=(0, 1))(values, x)
        return float(loss), [np.asarray(g) for g in gv] + [np.asarray(gx)]
    pytest.skip(f"no gradient helper for backend {BACKEND}")


@pytest.mark.parametrize("shape", [(11, 5), (8, 4)])
def test_implementations_agree_outputs_and_gradients(shape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 24, 10, 1)).astype("float32")
    w = rng.standard_normal((2, 24, 10, 6)).astype("float32")
    results = {}
    for impl in IMPLS:
        layer = make_layer(kernel_size=shape, mel=10, implementation=impl)
        results[impl] = (np_out(layer, x), _loss_and_grads(layer, x, w)[1])
    ref_y, ref_g = results["dense"]
    for impl in IMPLS[1:]:
        y, g = results[impl]
        assert np.max(np.abs(y - ref_y)) / np.max(np.abs(ref_y)) < 1e-4, impl
        for a, b in zip(g, ref_g):
            assert np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12) < 1e-4, impl


def test_gradients_nonzero_and_match_finite_differences():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 24, 10, 1)).astype("float32")
    w = rng.standard_normal((1, 24, 10, 4)).astype("float32")
    layer = make_layer(filters=2, mel=10, implementation="dense")
    layer.set_gabor_params(sigma_t=[3.0, 5.0], sigma_f=[2.0, 1.5], frequency=[0.8, 1.2],
                           orientation=[0.4, -1.1])
    _, grads = _loss_and_grads(layer, x, w)
    for var, g in zip(layer.trainable_variables, grads):
        assert np.all(np.abs(g) > 0), f"zero gradient for {var.name}"
        base = ops.convert_to_numpy(var).copy()
        for k in range(2):
            h = 1e-2
            vals = []
            for sign in (1, -1):
                v = base.copy()
                v[k] += sign * h
                var.assign(v)
                vals.append(float(np.sum(np_out(layer, x) * w)))
            var.assign(base)
            fd = (vals[0] - vals[1]) / (2 * h)
            assert abs(fd - g[k]) <= 2e-2 * abs(g[k]) + 1e-4, (var.name, k, fd, g[k])


@pytest.mark.parametrize("impl", IMPLS)
def test_extreme_parameters_give_finite_outputs(impl):
    rng = np.random.default_rng(7)
    x = (1e3 * rng.standard_normal((1, 20, 10, 1))).astype("float32")
    layer = make_layer(filters=4, mel=10, implementation=impl)
    lo_t, hi_t = layer.ranges()["sigma_t"]
    lo_f, hi_f = layer.ranges()["sigma_f"]
    # Every corner of the allowed ranges, and orientations far from (-π, π].
    layer.set_gabor_params(sigma_t=[lo_t, hi_t, lo_t, hi_t], sigma_f=[hi_f, lo_f, lo_f, hi_f],
                           frequency=[np.pi, 0.0, np.pi, 0.0],
                           orientation=[1e6, -1e6, 0.0, np.pi])
    p = layer.gabor_params()
    assert np.all(np.abs(p["orientation"]) <= np.pi)
    assert np.all(np.isfinite(np_out(layer, x)))
    # The bounds written straight into the weights (as the constraint leaves them).
    for name, bounds in layer.ranges().items():
        var = getattr(layer, f"_{name}")
        if bounds is not None:
            var.assign(np.array([bounds[0], bounds[1], bounds[0], bounds[1]], dtype="float32"))
    y = np_out(layer, x)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y)) > 0


def test_set_gabor_params_rejects_values_outside_the_ranges():
    layer = make_layer(filters=2)
    before = layer.gabor_params()
    for kwargs, match in [({"sigma_t": [0.0, 3.0]}, r"sigma_t must lie in \[0.1, 16\]"),
                          ({"sigma_f": [1e9, 2.0]}, "sigma_f must lie in"),
                          ({"frequency": [-0.1, 1.0]}, r"frequency must lie in \[0, 3.14159\]"),
                          ({"frequency": [1.0, 3.2]}, "frequency must lie in"),
                          ({"orientation": [np.inf, 0.0]}, "orientation must be finite")]:
        with pytest.raises(ValueError, match=match):
            layer.set_gabor_params(**kwargs)
    after = layer.gabor_params()
    for name in before:        # nothing half-applied
        np.testing.assert_array_equal(before[name], after[name])
    layer.set_gabor_params(sigma_t=[0.1, 16.0], frequency=[0.0, np.pi], orientation=[7.0, -7.0])


def test_weights_are_the_parameters_in_natural_units():
    layer = make_layer(filters=3)
    layer.set_gabor_params(sigma_t=[1.5, 2.5, 9.0], sigma_f=[0.5, 1.0, 4.0],
                           frequency=[0.01, 1.0, 3.0], orientation=[0.2, -0.4, 2.0])
    by_name = {v.name: v for v in layer.trainable_variables}
    assert set(by_name) == {"sigma_t", "sigma_f", "frequency", "orientation"}
    np.testing.assert_allclose(ops.convert_to_numpy(by_name["frequency"]), [0.01, 1.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(by_name["sigma_t"]), [1.5, 2.5, 9.0], rtol=1e-6)
    assert by_name["orientation"].constraint is None
    c = by_name["frequency"].constraint
    assert isinstance(c, Bounds) and (c.lo, c.hi) == (0.0, pytest.approx(np.pi))
    assert Bounds.from_config(c.get_config()).get_config() == c.get_config()
    clipped = ops.convert_to_numpy(c(np.array([-1.0, 0.5, 9.0], dtype="float32")))
    np.testing.assert_allclose(clipped, [0.0, 0.5, np.pi], rtol=1e-6)
    with pytest.raises(ValueError, match="lo <= hi"):
        Bounds(2.0, 1.0)


def _one_step(layer, x, w, optimizer):
    """One optimiser step on loss sum(y * w) (the backend's own gradient path)."""
    _, grads = _loss_and_grads(layer, x, w)
    variables = layer.trainable_variables
    optimizer.apply(grads[:len(variables)], variables)


def test_adam_moves_a_low_frequency_by_about_lr():
    # In natural units Adam's first step is lr per weight whatever the value;
    # behind a sigmoid a low F would move by about F·lr (the slowest filters).
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 24, 10, 1)).astype("float32")
    w = rng.standard_normal((2, 24, 10, 6)).astype("float32")
    layer = make_layer(filters=3, mel=10, implementation="dense")
    layer.set_gabor_params(sigma_t=[3.0, 4.0, 5.0], sigma_f=[2.0, 2.0, 3.0],
                           frequency=[0.01, 0.02, 0.5], orientation=[0.3, 1.2, -0.7])
    before = layer.gabor_params()["frequency"]
    lr = 1e-3
    _one_step(layer, x, w, keras.optimizers.Adam(learning_rate=lr))
    step = np.abs(layer.gabor_params()["frequency"] - before)
    np.testing.assert_allclose(step, lr, rtol=0.05)


def test_a_step_past_a_bound_stops_at_the_bound_during_fit():
    keras.utils.set_random_seed(0)
    inp = keras.Input((24, 10, 1))
    layer = GaborLayer(3, kernel_size=(11, 5), seed=1, implementation="separable")
    model = keras.Model(inp, layer(inp))
    layer.set_gabor_params(sigma_t=[0.2, 15.8, 3.0], sigma_f=[0.2, 15.8, 2.0],
                           frequency=[0.01, 3.1, 1.0], orientation=[0.0, 0.5, 1.0])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e4), loss="mse")
    x = np.random.default_rng(2).standard_normal((4, 24, 10, 1)).astype("float32")
    model.fit(x, np.zeros((4, 24, 10, 6), "float32") + 5.0, epochs=1, batch_size=4, verbose=0)
    p = layer.gabor_params()
    at_bound = 0
    for name, bounds in layer.ranges().items():
        if bounds is None:
            continue
        value = ops.convert_to_numpy(getattr(layer, f"_{name}"))   # the weight itself
        assert np.all((value >= np.float32(bounds[0])) & (value <= np.float32(bounds[1]))), name
        np.testing.assert_allclose(value, p[name], rtol=1e-6)
        at_bound += int(np.sum(np.isclose(value, bounds[0], rtol=1e-6)
                               | np.isclose(value, bounds[1], rtol=1e-6)))
    assert at_bound >= 3
    assert np.all(np.isfinite(np_out(layer, x)))


def test_params_round_trip_and_shapes():
    layer = make_layer(filters=5)
    p = random_params(5, seed=9)
    layer.set_gabor_params(**p)
    got = layer.gabor_params()
    assert set(got) == {"sigma_t", "sigma_f", "frequency", "orientation"}
    for name in got:
        assert got[name].shape == (5,) and got[name].dtype.kind == "f"
        np.testing.assert_allclose(got[name], p[name], rtol=1e-4, atol=1e-5)
    re, im = layer.kernels()
    assert re.shape == im.shape == (11, 5, 5)
    with pytest.raises(ValueError, match="unknown Gabor parameter"):
        layer.set_gabor_params(theta=np.zeros(5))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        layer.set_gabor_params(sigma_t=np.ones(3))


def test_reference_initialisation_ranges_and_seeds():
    a, b, c = (make_layer(filters=64, seed=s).gabor_params() for s in (3, 3, 4))
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["frequency"], c["frequency"])
    assert np.all((a["sigma_t"] >= 2 - 1e-4) & (a["sigma_t"] <= 2 * 1.41**6 + 1e-3))
    assert np.all((a["frequency"] <= np.pi / 2 + 1e-5) & (a["frequency"] >= np.pi / 2 * 1.41**-5 - 1e-5))
    keras.utils.set_random_seed(11)
    d = make_layer(filters=8, seed=None).gabor_params()
    keras.utils.set_random_seed(11)
    e = make_layer(filters=8, seed=None).gabor_params()
    np.testing.assert_array_equal(d["orientation"], e["orientation"])


@pytest.mark.parametrize("kwargs, match", [
    ({"filters": 0}, "filters must be a positive integer, received filters=0"),
    ({"filters": 2.5}, "received filters=2.5"),
    ({"filters": 4, "kernel_size": (0, 3)}, "received kernel_size=\\(0, 3\\)"),
    ({"filters": 4, "output_mode": "complex"}, "received output_mode='complex'"),
    ({"filters": 4, "grid": "odd"}, "received grid='odd'"),
    ({"filters": 4, "implementation": "cuda"}, "received implementation='cuda'"),
    ({"filters": 4, "seed": "x"}, "received seed='x'"),
    ({"filters": 4, "implementation": "fft"}, "received implementation='fft'"),
    ({"filters": 4, "init": "uniform"}, "received init='uniform'"),
    ({"filters": 4, "init": "physical", "bins_per_octave": 12.0}, "needs frame_rate_hz"),
    ({"filters": 4, "init": "physical", "frame_rate_hz": 50.0}, "needs bins_per_octave"),
    ({"filters": 4, "frame_rate_hz": -1.0}, "received frame_rate_hz=-1.0"),
])
def test_init_validation_names_argument_and_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaborLayer(**kwargs)


def test_rejects_multichannel_input_and_unbuilt_access():
    with pytest.raises(ValueError):
        GaborLayer(2)(np.zeros((1, 10, 8, 2), "float32"))
    with pytest.raises(ValueError, match="no weights yet"):
        GaborLayer(2).gabor_params()


def test_config_round_trip():
    layer = GaborLayer(6, kernel_size=(21, 7), output_mode="abs", grid="reference",
                       implementation="separable", seed=5, init="physical", frame_rate_hz=40,
                       bins_per_octave=12.0, name="g")
    clone = GaborLayer.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.kernel_size == (21, 7) and clone.output_mode == "abs"
    assert (clone.init, clone.frame_rate_hz, clone.bins_per_octave) == ("physical", 40.0, 12.0)


def test_config_of_the_sigmoid_era_is_refused_clearly():
    config = GaborLayer(2, seed=0).get_config()
    assert config["schema"] == 2
    del config["schema"]             # as the first version wrote it
    with pytest.raises(ValueError, match="saved with weight schema 1"):
        GaborLayer.from_config(config)


@pytest.mark.parametrize("shape", [(None, 10, 1), (None, None, 1)])
def test_variable_length_input_falls_back_transparently(shape):
    inp = keras.Input(shape)
    model = keras.Model(inp, GaborLayer(2, kernel_size=(9, 3), implementation="separable", seed=0)(inp))
    x = np.random.default_rng(0).standard_normal((1, 17, 10, 1)).astype("float32")
    dense = make_layer(filters=2, kernel_size=(9, 3), mel=10, implementation="dense", seed=0)
    np.testing.assert_allclose(ops.convert_to_numpy(model(x)), np_out(dense, x), atol=1e-5)


def test_saved_model_loads_in_fresh_process(tmp_path):
    inp = keras.Input((40, 16, 1))
    y = GaborLayer(3, kernel_size=(11, 5), seed=2)(inp)
    y = keras.layers.GlobalAveragePooling2D()(y)
    model = keras.Model(inp, keras.layers.Dense(2)(y))
    x = np.random.default_rng(1).standard_normal((2, 40, 16, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", ops.convert_to_numpy(model(x)))
    model.save(tmp_path / "m.keras")
    code = (
        "import numpy as np, keras, benchmark.layers\n"
        f"m = keras.models.load_model({str(tmp_path / 'm.keras')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "out = keras.ops.convert_to_numpy(m(x))\n"
        "assert np.array_equal(out, y), np.abs(out - y).max()\n"
        "print('identical')\n"
    )
    env = dict(os.environ, KERAS_BACKEND=BACKEND)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "identical" in proc.stdout


def test_find_gabor_layers():
    inp = keras.Input((20, 8, 1))
    g = GaborLayer(2, kernel_size=(5, 3), seed=0)
    model = keras.Model(inp, keras.layers.Dense(1)(g(inp)))
    assert find_gabor_layers(model) == [g]
    assert find_gabor_layers(keras.layers.Dense(2)) == []


def test_auto_choice_follows_the_cost_model():
    assert choose_implementation((111, 9), 64, 64) == "separable"    # the paper's bank
    assert choose_implementation((9, 9), 64, 64) == "dense"
    assert choose_implementation((25, 9), 64, 64) == "dense"
    assert choose_implementation((51, 9), 64, 64) == "dense"         # measured crossover
    assert choose_implementation((111, 21), 64, 64) == "separable"
    assert choose_implementation((111, 1), 64, 64) == "dense"        # nothing to separate


# --- units -------------------------------------------------------------------

def test_mel_bins_per_octave():
    assert 14.0 < mel_bins_per_octave(64, 0, 8000) < 15.0
    # The linear part (below 1 kHz) has fewer bands per octave at lower frequency.
    assert mel_bins_per_octave(64, 0, 8000, at_hz=250) < mel_bins_per_octave(64, 0, 8000, at_hz=500)


def test_modulations_units_and_round_trip():
    rates = np.array([2.0, 8.0, 16.0, 0.0])
    scales = np.array([0.5, 1.0, 0.0, 2.0])
    direction = np.array([1, -1, 0, 0])
    freq, orient = params_from_modulations(rates, scales, direction, 100.0, 14.5)
    m = modulations({"frequency": freq, "orientation": orient}, 100.0, 14.5)
    np.testing.assert_allclose(m["temporal_hz"], rates, atol=1e-9)
    np.testing.assert_allclose(m["spectral_cyc_per_oct"], scales, atol=1e-9)
    np.testing.assert_array_equal(m["direction"], direction)
    # A pure temporal modulation of F rad/frame is F/(2π) cycles per frame.
    m = modulations({"frequency": np.array([np.pi / 2]), "orientation": np.array([0.0])}, 100.0, 14.5)
    assert m["temporal_hz"][0] == pytest.approx(25.0)


def test_upward_direction_means_rising_ridge():
    freq, orient = params_from_modulations([10.0], [1.0], [1], 100.0, 14.5)
    re, _ = K.gabor_kernels_np([8.0], [3.0], freq, orient, (21, 9))
    k = re[..., 0]
    # Ridges of an upward sweep run from (t, f) to (t+1, f+1), not to (t+1, f-1).
    corr_up = np.sum(k[1:, 1:] * k[:-1, :-1])
    corr_down = np.sum(k[1:, :-1] * k[:-1, 1:])
    assert corr_up > corr_down


# --- initialisation ---------------------------------------------------------

REF_BPO = K.REFERENCE_BINS_PER_OCTAVE


def test_reference_bins_per_octave_is_that_of_64_mels_on_0_8k():
    assert REF_BPO == pytest.approx(mel_bins_per_octave(64, 0, 8000)) and 14.3 < REF_BPO < 14.6


def test_physical_init_at_the_reference_setting_is_the_reference_init():
    ref = make_layer(filters=32, kernel_size=(111, 9), seed=4).gabor_params()
    phys = make_layer(filters=32, kernel_size=(111, 9), seed=4, init="physical",
                      frame_rate_hz=100.0, bins_per_octave=REF_BPO).gabor_params()
    for name in ref:
        np.testing.assert_allclose(phys[name], ref[name], rtol=2e-6, atol=2e-6)


def test_physical_init_keeps_physical_units_at_another_frame_rate():
    # 40 frames/s (25 ms hop) and 32 mels on 0-8 kHz against the reference setting.
    bpo = mel_bins_per_octave(32, 0, 8000)
    ref = make_layer(filters=64, kernel_size=(111, 9), seed=8).gabor_params()
    phys = make_layer(filters=64, kernel_size=(111, 9), seed=8, init="physical",
                      frame_rate_hz=40.0, bins_per_octave=bpo).gabor_params()
    m_ref = modulations(ref, 100.0, REF_BPO)
    m_phys = modulations(phys, 40.0, bpo)
    # Filters the 40 frames/s grid can hold (below its 20 Hz Nyquist) keep their
    # Hz, cycles/octave and direction; the others are clipped at F = π.
    ok = phys["frequency"] < np.pi - 1e-4
    assert 0 < ok.sum() < 64
    np.testing.assert_allclose(m_phys["temporal_hz"][ok], m_ref["temporal_hz"][ok], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(m_phys["spectral_cyc_per_oct"][ok], m_ref["spectral_cyc_per_oct"][ok],
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(m_phys["direction"], m_ref["direction"])
    np.testing.assert_allclose(phys["frequency"][~ok], np.pi, rtol=1e-6)
    assert np.all(m_phys["temporal_hz"] <= 20.0 + 1e-3)
    # Envelopes keep their widths in seconds and octaves.
    np.testing.assert_allclose(phys["sigma_t"] / 40.0, ref["sigma_t"] / 100.0, rtol=1e-5)
    np.testing.assert_allclose(phys["sigma_f"] / bpo, ref["sigma_f"] / REF_BPO, rtol=1e-5)
    # In grid units the reference init would put them elsewhere.
    assert np.median(modulations(ref, 40.0, bpo)["temporal_hz"]) < 0.5 * np.median(m_ref["temporal_hz"])


def test_initial_params_numpy_maths():
    rng = np.random.default_rng(0)
    p = K.reference_init(200, rng)
    there = K.rescale_setting(p, 50.0, 10.0)
    back = K.rescale_setting(there, 100.0, REF_BPO, from_frame_rate_hz=50.0, from_bins_per_octave=10.0)
    for name in p:
        np.testing.assert_allclose(np.cos(back[name]) if name == "orientation" else back[name],
                                   np.cos(p[name]) if name == "orientation" else p[name], rtol=1e-9)
    clipped = K.initial_params(200, np.random.default_rng(0), "physical", (11, 5), 400.0, 60.0)
    assert clipped["sigma_t"].max() == 16.0 and clipped["sigma_f"].max() == 16.0
    assert clipped["frequency"].max() <= np.pi
    with pytest.raises(ValueError, match="needs frame_rate_hz and bins_per_octave"):
        K.initial_params(4, rng, "physical")
    with pytest.raises(ValueError, match="init must be one of"):
        K.initial_params(4, rng, "glorot")


def test_kernels_module_imports_without_keras():
    code = ("import sys, benchmark.kernels as K\n"
            "re, im = K.gabor_kernels_np([3.0], [2.0], [1.0], [0.5], (11, 5))\n"
            "assert re.shape == (11, 5, 1) and K.grid_spacing(11, 'reference') > 1\n"
            "assert 'keras' not in sys.modules, 'keras was imported'\n"
            "assert 'tensorflow' not in sys.modules\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          env=dict(os.environ))
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]
