"""Every registered system (one file in baselines/ each): parametrised over the registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from benchmark.errors import UserError
from benchmark.layers import GaborLayer, find_gabor_layers, mel_bins_per_octave, modulations
from benchmark.registry import (FrontendConfig, get_system, system_names, systems,
                                trainable_count)

SMALL = FrontendConfig(filters=4, kernel_size=(9, 5), n_mels=12, seed=0)
NAMES = system_names()

# Trainable first-layer parameters at the paper configuration (64 filters, 111 x 9).
PAPER_COUNTS = {"mel": 0, "fixed_gabor": 0, "cortical_gabor": 0, "learnable_gabor": 4 * 64,
                "free_cnn": 111 * 9 * 128}


def test_the_five_systems_are_registered_in_order():
    assert NAMES[:5] == ["mel", "fixed_gabor", "cortical_gabor", "learnable_gabor", "free_cnn"]


def test_unknown_system_suggests_a_name():
    with pytest.raises(UserError, match="did you mean 'free_cnn'"):
        get_system("free_cn")


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_maps_shape(name):
    layer = get_system(name).build(SMALL)
    x = np.random.default_rng(0).standard_normal((2, 16, 12, 1)).astype("float32")
    y = ops.convert_to_numpy(layer(x))
    assert y.ndim == 4 and y.shape[:2] == (2, 16)
    assert np.all(np.isfinite(y))
    gabor = find_gabor_layers(layer)
    assert bool(gabor) == get_system(name).gabor


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_paper_configuration(name):
    count = trainable_count(get_system(name).build(FrontendConfig()), n_mels=64)
    if name in PAPER_COUNTS:
        assert count == PAPER_COUNTS[name]
    elif get_system(name).learnable_gabor:
        assert count >= 4 * 64


@pytest.mark.parametrize("name", NAMES)
def test_serialisation_round_trip(name, tmp_path):
    inp = keras.Input((16, 12, 1))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(get_system(name).build(SMALL)(inp)))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((2, 16, 12, 1)).astype("float32")
    before = ops.convert_to_numpy(model(x))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), before, rtol=1e-6, atol=1e-6)
    assert len(loaded.trainable_weights) == len(model.trainable_weights)


def _toy_problem(n=32, seed=0):
    """Class = direction of a frequency sweep (a spectro-temporal cue)."""
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal((n, 16, 12, 1)).astype("float32")
    y = np.arange(n) % 2
    for i in range(n):
        for t in range(16):
            f = (t * 12 // 16) if y[i] else (11 - t * 12 // 16)
            x[i, t, f, 0] += 1.0
    return x, y.astype("float32")


@pytest.mark.parametrize("name", NAMES)
def test_one_training_step_lowers_the_loss(name):
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 12, 1))
    h = get_system(name).build(SMALL)(inp)
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(h))
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    x, y = _toy_problem()
    before = float(model.evaluate(x, y, verbose=0))
    model.train_on_batch(x, y)
    after = float(model.evaluate(x, y, verbose=0))
    assert after < before


def test_learnable_gabor_parameters_move_and_frozen_ones_do_not():
    x, y = _toy_problem()
    moved = {}
    for name in ("learnable_gabor", "fixed_gabor", "cortical_gabor"):
        keras.utils.set_random_seed(0)
        inp = keras.Input((16, 12, 1))
        layer = get_system(name).build(SMALL)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(layer(inp)))
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(h))
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy")
        before = layer.gabor_params()
        model.train_on_batch(x, y)
        after = layer.gabor_params()
        moved[name] = max(np.max(np.abs(after[k] - before[k])) for k in before)
    assert moved["learnable_gabor"] > 0
    assert moved["fixed_gabor"] == 0 and moved["cortical_gabor"] == 0


def test_cortical_filters_land_on_the_grid():
    from baselines.cortical_gabor import cortical_grid

    cfg = FrontendConfig()
    layer = get_system("cortical_gabor").build(cfg)
    assert isinstance(layer, GaborLayer) and not layer.trainable
    bpo = mel_bins_per_octave(cfg.n_mels, cfg.fmin, cfg.fmax)
    m = modulations(layer.gabor_params(), cfg.frame_rate_hz, bpo)
    rates, scales, direction = cortical_grid(cfg.filters)
    assert len(rates) == cfg.filters
    assert set(np.round(rates, 2)) <= set(np.round(2.0 ** np.arange(1, 5.01, 0.5), 2))
    # Points the kernel grid can represent (within Nyquist on both axes and on the
    # norm) come back exactly; the others sit at the limit, never beyond it.
    w_t = 2 * np.pi * rates / cfg.frame_rate_hz
    w_f = 2 * np.pi * scales / bpo
    ok = (w_f < np.pi) & (np.hypot(w_t, w_f) < np.pi * 0.999)
    assert ok.sum() >= cfg.filters // 2
    np.testing.assert_allclose(m["temporal_hz"][ok], rates[ok], rtol=1e-4)
    np.testing.assert_allclose(m["spectral_cyc_per_oct"][ok], scales[ok], rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(m["direction"][ok & (scales > 0)], direction[ok & (scales > 0)])
    assert np.all(m["spectral_cyc_per_oct"] <= bpo / 2 + 1e-6)
    assert np.all(m["temporal_hz"] <= cfg.frame_rate_hz / 2 + 1e-6)


def test_describe_systems_lists_every_system_with_counts():
    from benchmark.registry import describe_systems

    text = describe_systems()
    for s in systems():
        assert s.name in text
    assert "127,872" in text and "256" in text


@pytest.mark.parametrize("name", ["learnable_gabor", "fixed_gabor"])
def test_gabor_systems_follow_the_configured_initialisation(name):
    # The same seed at a 25 ms hop: "physical" keeps the reference's Hz, "reference" its grid units.
    ref = get_system(name).build(FrontendConfig(seed=3))
    ref.build((None, None, 64, 1))
    layers = {}
    for init in ("reference", "physical"):
        layers[init] = get_system(name).build(FrontendConfig(seed=3, frame_rate_hz=40.0, init=init))
        layers[init].build((None, None, 64, 1))
    bpo = mel_bins_per_octave(64, 0, 8000)
    m_ref = modulations(ref.gabor_params(), 100.0, bpo)
    np.testing.assert_allclose(layers["reference"].gabor_params()["frequency"],
                               ref.gabor_params()["frequency"], rtol=1e-6)
    phys = layers["physical"].gabor_params()
    ok = phys["frequency"] < np.pi - 1e-4
    assert ok.sum() > 32
    np.testing.assert_allclose(modulations(phys, 40.0, bpo)["temporal_hz"][ok], m_ref["temporal_hz"][ok],
                               rtol=1e-4)
    assert layers["physical"].get_config()["init"] == "physical"


@pytest.mark.parametrize("name", ["learnable_gabor", "fixed_gabor", "cortical_gabor"])
def test_gabor_systems_build_on_the_configured_grid(name):
    layer = get_system(name).build(FrontendConfig(seed=0, grid="reference"))
    assert layer.grid == "reference" and layer.get_config()["grid"] == "reference"
    assert get_system(name).build(FrontendConfig(seed=0)).grid == "centered"


def test_cortical_filters_keep_their_rates_on_the_reference_grid():
    # The authors' grid spaces taps K/(K-1) grid units apart, so a carrier of ω rad per
    # grid unit advances ω·K/(K-1) per frame: the bank must divide by that to stay on
    # the same Hz and cycles/octave. Measured here from the taps' phase, not from units.
    from benchmark import kernels

    cfg = FrontendConfig(grid="reference")
    p = get_system("cortical_gabor").build(cfg).gabor_params()
    centred = get_system("cortical_gabor").build(FrontendConfig()).gabor_params()
    bpo = mel_bins_per_octave(cfg.n_mels, cfg.fmin, cfg.fmax)
    step_t = np.diff(kernels.grid(cfg.kernel_size[0], "reference"))[0]
    step_f = np.diff(kernels.grid(cfg.kernel_size[1], "reference"))[0]
    assert step_f == pytest.approx(9 / 8)
    per_frame = {k: np.abs(q["frequency"] * np.cos(q["orientation"])) * s
                 for k, q, s in (("ref", p, step_t), ("cen", centred, 1.0))}
    per_band = {k: np.abs(q["frequency"] * np.sin(q["orientation"])) * s
                for k, q, s in (("ref", p, step_f), ("cen", centred, 1.0))}
    ok = centred["frequency"] < np.pi * 0.999   # points within Nyquist on both grids
    np.testing.assert_allclose(per_frame["ref"][ok] / (2 * np.pi) * cfg.frame_rate_hz,
                               per_frame["cen"][ok] / (2 * np.pi) * cfg.frame_rate_hz, rtol=1e-4)
    np.testing.assert_allclose(per_band["ref"][ok] / (2 * np.pi) * bpo,
                               per_band["cen"][ok] / (2 * np.pi) * bpo, rtol=1e-4, atol=1e-6)
    # the grid-unit values differ by the spacing: the conversion is not a no-op
    assert not np.allclose(p["frequency"][ok], centred["frequency"][ok])
