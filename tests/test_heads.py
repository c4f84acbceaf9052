"""Each task head takes any channel count, trains a step, and saves/loads."""

import keras
import numpy as np
import pytest

from benchmark.heads import AAMLoss, build_model, compile_model, embedding_model
from benchmark.tasks import TASKS, HeadSettings

TINY = HeadSettings(compress=4, lstm_units=4, lstm_layers=1, dense_units=(4,), tdnn_channels=4,
                    tdnn_pooling_channels=8, embedding=4, conv_channels=(4, 8))
N_MELS, T = 12, 20


def _channels(c: int) -> keras.layers.Layer:
    # A frontend emitting C channels on a halved mel axis (stands in for any system).
    return keras.layers.Conv2D(c, (3, 3), strides=(1, 2), padding="same", name=f"front{c}")


@pytest.mark.parametrize("channels", [1, 16, 128])
@pytest.mark.parametrize("task", ["speech_activity", "speaker", "urban_sound"])
def test_head_builds_and_trains_one_step(task, channels):
    keras.utils.set_random_seed(0)
    spec = TASKS[task]
    model = build_model(spec, _channels(channels), N_MELS, 3, TINY,
                        norm=(np.zeros(N_MELS), np.ones(N_MELS)))
    x = np.random.default_rng(0).normal(size=(4, T, N_MELS)).astype("float32")
    if spec.head == "sad":
        y = (np.random.default_rng(1).random((4, T)) > 0.5).astype("float32")
    elif spec.head == "xvector":
        y = np.array([0, 1, 2, 0], "float32")
    else:
        y = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    compile_model(model, spec, TINY, "adam", 1e-2)
    model.run_eagerly = True  # tracing costs more than these tiny steps
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    out = model.predict_on_batch(x)
    assert out.shape == ((4, T) if spec.head == "sad" else (4, 3))
    if spec.head == "sad":
        assert np.all((out >= 0) & (out <= 1))
    elif spec.head == "cnn":
        np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-5)
    else:
        assert np.all(np.abs(out) <= 1.0 + 1e-6)  # cosines
        assert embedding_model(model).predict_on_batch(x).shape == (4, TINY.embedding)


def test_sad_head_accepts_any_length():
    spec = TASKS["speech_activity"]
    model = build_model(spec, _channels(2), N_MELS, 1, TINY)
    for t in (7, 33):
        assert model.predict_on_batch(np.zeros((2, t, N_MELS), "float32")).shape == (2, t)


def test_aam_margin_penalises_the_target():
    cos = np.array([[0.8, 0.1, -0.2]], "float32")
    y = np.array([0], "float32")
    plain = float(AAMLoss(0.0, 10.0)(y, cos))
    margin = float(AAMLoss(0.2, 10.0)(y, cos))
    expected = -np.log(np.exp(8.0) / np.exp([8.0, 1.0, -2.0]).sum())
    assert plain == pytest.approx(expected, rel=1e-3)
    assert margin > plain


def test_saved_model_round_trips(tmp_path):
    spec = TASKS["speaker"]
    model = build_model(spec, _channels(3), N_MELS, 4, TINY,
                        norm=(np.full(N_MELS, 2.0), np.full(N_MELS, 4.0)))
    compile_model(model, spec, TINY, "sgd", 1e-2)
    x = np.random.default_rng(0).normal(size=(2, T, N_MELS)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
