"""Every registered system (one file in baselines/ each): parametrised over the registry."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from benchmark.errors import UserError
from benchmark.layers import GaborLayer, find_gabor_layers, mel_bins_per_octave, modulations
from benchmark.settings import FrontendSettings
from benchmark.systems import (get_system, system_names, systems,
                                trainable_count)

SMALL = FrontendSettings(filters=4, kernel_size=(9, 5), n_mels=12, seed=0)
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
    assert bool(gabor) == ("gabor" in name)  # the Gabor systems are named so


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_paper_configuration(name):
    count = trainable_count(get_system(name).build(FrontendSettings()), n_mels=64)
    if name in PAPER_COUNTS:
        assert count == PAPER_COUNTS[name]
    elif get_system(name).learnable_gabor:
        assert count >= 4 * 64


REGISTER_HINT = ("a layer class of its own must be registered for serialisation: decorate it "
                 "with @keras.saving.register_keras_serializable(package=\"baselines\") and give "
                 "it a get_config() returning its constructor arguments (baselines/_template.py)")


def _round_trip(name: str, layer, path):
    """Save a model holding ``layer`` as .keras and load it back; fail saying how to register
    a custom layer when it cannot be (runs, predict and checkpoint resume all load it)."""
    inp = keras.Input((16, 12, 1))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(layer(inp)))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((2, 16, 12, 1)).astype("float32")
    before = ops.convert_to_numpy(model(x))
    try:
        model.save(path)
        loaded = keras.models.load_model(path)
    except Exception as e:  # noqa: BLE001 -- Keras raises TypeError or ValueError here
        text = str(e).strip() or type(e).__name__
        i = text.find("Could not locate")
        why = (text[i:] if i >= 0 else text).splitlines()[0].split(". ")[0]
        pytest.fail(f"system {name!r} does not survive a .keras round trip ({why}): "
                    f"{REGISTER_HINT}", pytrace=False)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), before, rtol=1e-6, atol=1e-6)
    assert len(loaded.trainable_weights) == len(model.trainable_weights)


@pytest.mark.parametrize("name", NAMES)
def test_serialisation_round_trip(name, tmp_path):
    _round_trip(name, get_system(name).build(SMALL), tmp_path / "m.keras")


def test_every_baseline_file_loads():
    from benchmark.systems import broken_baselines

    assert broken_baselines() == {}, "baseline files left out of every test and run"


def _scale_layer(register: bool):
    class Scale(keras.layers.Layer):
        def __init__(self, channels=3, **kwargs):
            super().__init__(**kwargs)
            self.channels = channels

        def build(self, shape):
            self.w = self.add_weight(shape=(self.channels,), initializer="ones")

        def call(self, x):
            return ops.concatenate([x] * self.channels, axis=-1) * self.w

        def get_config(self):
            return {**super().get_config(), "channels": self.channels}

    if register:
        Scale = keras.saving.register_keras_serializable(package="test_systems")(Scale)
    return Scale()


def test_an_unregistered_custom_layer_gets_the_registration_message(tmp_path):
    with pytest.raises(pytest.fail.Exception) as failed:
        _round_trip("custom", _scale_layer(register=False), tmp_path / "a.keras")
    message = str(failed.value)
    assert "Could not locate class 'Scale'" in message
    assert "@keras.saving.register_keras_serializable(package=\"baselines\")" in message
    assert "get_config()" in message
    _round_trip("custom", _scale_layer(register=True), tmp_path / "b.keras")  # registered: fine


@pytest.fixture
def extra_baselines(tmp_path, monkeypatch):
    """A second baselines folder (files written by the test) and a fresh registry."""
    import sys

    import baselines
    from benchmark import systems
    from benchmark.registry import Registry

    folder = tmp_path / "more_baselines"
    folder.mkdir()
    monkeypatch.setattr(baselines, "__path__", [*baselines.__path__, str(folder)])
    for mod in [m for m in sys.modules if m.startswith("baselines.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(systems, "SYSTEMS", Registry("system", ("baselines",), tolerant=True))
    yield folder


def test_broken_baseline_files_are_left_out_in_one_line_each(extra_baselines, capsys):
    from benchmark import systems as registry
    from benchmark.cli import main

    (extra_baselines / "zz_syntax.py").write_text("def build(config:\n", "utf-8")
    (extra_baselines / "zz_import.py").write_text("import no_such_module_here\n", "utf-8")
    (extra_baselines / "a_imports_then_fails.py").write_text(  # loads learnable_gabor early
        "import baselines.learnable_gabor\nraise RuntimeError('broken after its import')\n", "utf-8")
    (extra_baselines / "zz_twice.py").write_text(
        "from benchmark.systems import register_system\n"
        "@register_system('zz_fine', 'registered before the failure')\n"
        "def a(config): return None\n"
        "@register_system('mel', 'a name mel.py has')\n"
        "def b(config): return None\n", "utf-8")
    assert main(["list", "datasets"]) == 0
    assert "urbansound8k" in capsys.readouterr().out
    assert main(["list", "systems"]) == 0
    captured = capsys.readouterr()
    assert all(n in captured.out for n in ("mel", "learnable_gabor", "free_cnn"))
    assert "zz_fine" not in captured.out   # a file that failed is left out whole
    left_out = [line for line in captured.err.splitlines() if line.startswith("gaborbench: left out")]
    assert left_out == [
        "gaborbench: left out baselines/a_imports_then_fails.py: RuntimeError: broken after its "
        "import",
        "gaborbench: left out baselines/zz_import.py: ModuleNotFoundError: No module named "
        "'no_such_module_here'",
        "gaborbench: left out baselines/zz_syntax.py: SyntaxError: '(' was never closed (line 1)",
        "gaborbench: left out baselines/zz_twice.py: ValueError: system 'mel' is already "
        "registered by baselines/mel.py: give this one another name",
    ]
    assert set(registry.broken_baselines()) == {f"baselines/{n}.py" for n in (
        "a_imports_then_fails", "zz_import", "zz_syntax", "zz_twice")}
    assert registry.system_names()[:5] == ["mel", "fixed_gabor", "cortical_gabor",
                                           "learnable_gabor", "free_cnn"]
    with pytest.raises(UserError, match=r"zz_syntax.py was left out \(SyntaxError"):
        get_system("zz_fine")


def test_the_templates_custom_layer_round_trips(extra_baselines, tmp_path):
    from pathlib import Path

    import baselines

    text = (Path(baselines.__path__[0]) / "_template.py").read_text("utf-8")
    text = text.replace("    return keras.layers.Conv2D(channels, (5, 5), padding=\"same\", "
                        "name=\"frontend_my_system\")\n    # or, with a layer of your own: ", "    ")
    assert "return my_layer_class()(" in text
    (extra_baselines / "my_system.py").write_text(text, "utf-8")
    layer = get_system("my_system").build(SMALL)
    assert type(layer).__name__ == "MyLayer"
    _round_trip("my_system", layer, tmp_path / "m.keras")


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

    cfg = FrontendSettings()
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
    from benchmark.systems import describe_systems

    text = describe_systems(params=True)
    for s in systems():
        assert s.name in text
    assert "127,872" in text and "256" in text


@pytest.mark.parametrize("name", ["learnable_gabor", "fixed_gabor"])
def test_gabor_systems_follow_the_configured_initialisation(name):
    # The same seed at a 25 ms hop: "physical" keeps the reference's Hz, "reference" its grid units.
    ref = get_system(name).build(FrontendSettings(seed=3))
    ref.build((None, None, 64, 1))
    layers = {}
    for init in ("reference", "physical"):
        layers[init] = get_system(name).build(FrontendSettings(seed=3, frame_rate_hz=40.0, init=init))
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
    layer = get_system(name).build(FrontendSettings(seed=0, grid="reference"))
    assert layer.grid == "reference" and layer.get_config()["grid"] == "reference"
    assert get_system(name).build(FrontendSettings(seed=0)).grid == "centered"


def test_cortical_filters_keep_their_rates_on_the_reference_grid():
    # The authors' grid spaces taps K/(K-1) grid units apart, so a carrier of ω rad per
    # grid unit advances ω·K/(K-1) per frame: the bank must divide by that to stay on
    # the same Hz and cycles/octave. Measured here from the taps' phase, not from units.
    from benchmark import kernels

    cfg = FrontendSettings(grid="reference")
    p = get_system("cortical_gabor").build(cfg).gabor_params()
    centred = get_system("cortical_gabor").build(FrontendSettings()).gabor_params()
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
