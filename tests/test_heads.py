"""Each task head takes any channel count, trains a step, and saves/loads; the shared model pieces."""

import keras
import numpy as np
import pytest

from benchmark.heads import (AAMLoss, ScaledAdam, build_model, cnn_head, embedding_model, sad_head,
                             xvector_head)
from benchmark.tasks.clip import CnnHead
from benchmark.tasks.speaker import XvectorHead
from benchmark.tasks.speech_activity import SadHead

N_MELS, T = 12, 20
HEADS = {
    "sad": lambda x: sad_head(x, SadHead(compress=4, lstm_units=4, lstm_layers=1, dense_units=(4,))),
    "xvector": lambda x: xvector_head(x, XvectorHead(compress=4, tdnn_channels=4,
                                                     tdnn_pooling_channels=8, embedding=4), 3),
    "cnn": lambda x: cnn_head(x, CnnHead(conv_channels=(4, 8)), 3),
}
LOSSES = {"sad": keras.losses.BinaryCrossentropy(), "xvector": AAMLoss(0.05, 10.0),
          "cnn": keras.losses.CategoricalCrossentropy()}


def _channels(c: int) -> keras.layers.Layer:
    # A frontend emitting C channels on a halved mel axis (stands in for any system).
    return keras.layers.Conv2D(c, (3, 3), strides=(1, 2), padding="same", name=f"front{c}")


def _targets(head: str):
    if head == "sad":
        return (np.random.default_rng(1).random((4, T)) > 0.5).astype("float32")
    if head == "xvector":
        return np.array([0, 1, 2, 0], "float32")
    return np.eye(3, dtype="float32")[[0, 1, 2, 0]]


@pytest.mark.parametrize("channels", [1, 16, 128])
@pytest.mark.parametrize("head", list(HEADS))
def test_head_builds_and_trains_one_step(head, channels):
    keras.utils.set_random_seed(0)
    model = build_model(_channels(channels), HEADS[head], N_MELS,
                        norm=(np.zeros(N_MELS), np.ones(N_MELS)))
    x = np.random.default_rng(0).normal(size=(4, T, N_MELS)).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=LOSSES[head])
    model.run_eagerly = True  # tracing costs more than these tiny steps
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(x, _targets(head))
    assert np.isfinite(loss)
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
    out = model.predict_on_batch(x)
    assert out.shape == ((4, T) if head == "sad" else (4, 3))
    if head == "sad":
        assert np.all((out >= 0) & (out <= 1))
    elif head == "cnn":
        np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-5)
    else:
        assert np.all(np.abs(out) <= 1.0 + 1e-6)  # cosines
        assert embedding_model(model).predict_on_batch(x).shape == (4, 4)


@pytest.mark.parametrize("head", list(HEADS))
def test_a_nonlinearity_follows_every_frontend(head):
    """Frontend then a linear first head layer would be one linear map without it."""
    model = build_model(_channels(5), HEADS[head], N_MELS)
    names = [layer.name for layer in model.layers]
    i = names.index("front5")
    assert names[i + 1:i + 3] == ["frontend_bn", "frontend_act"]
    act = model.get_layer("frontend_act")
    x = np.array([-2.0, 3.0], "float32")
    assert np.allclose(keras.ops.convert_to_numpy(act(x)), [-0.2, 3.0])


def test_sad_head_accepts_any_length():
    model = build_model(_channels(2), HEADS["sad"], N_MELS)
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


@pytest.mark.parametrize("scale", [0.0, 1.0, 5.0])
def test_frontend_learning_rate_scale(scale):
    """Adam normalises gradients, so the scale must act on the step, not on the gradient."""
    keras.utils.set_random_seed(0)
    model = build_model(_channels(3), HEADS["cnn"], N_MELS)
    opt = ScaledAdam(learning_rate=1e-3, scaled_prefix="front3/", scale=scale)
    model.compile(optimizer=opt, loss=LOSSES["cnn"])
    front = model.get_layer("front3").kernel
    head = model.get_layer("classes").kernel
    f0, h0 = np.array(front), np.array(head)
    x = np.random.default_rng(0).normal(size=(4, T, N_MELS)).astype("float32")
    model.train_on_batch(x, _targets("cnn"))
    # Adam's first step moves every weight by about lr (its sign): the frontend by scale x lr.
    df, dh = np.abs(np.array(front) - f0), np.abs(np.array(head) - h0)
    assert np.median(dh[dh > 0]) == pytest.approx(1e-3, rel=0.05)
    assert np.median(df) == pytest.approx(scale * 1e-3, rel=0.05, abs=1e-9)


def test_saved_model_round_trips(tmp_path):
    model = build_model(_channels(3), HEADS["xvector"], N_MELS,
                        norm=(np.full(N_MELS, 2.0), np.full(N_MELS, 4.0)))
    model.compile(optimizer=ScaledAdam(learning_rate=1e-3, scaled_prefix="front3/", scale=2.0),
                  loss=LOSSES["xvector"])
    x = np.random.default_rng(0).normal(size=(2, T, N_MELS)).astype("float32")
    model.train_on_batch(x, np.array([0, 1], "float32"))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6)
    assert loaded.optimizer.scale == 2.0 and loaded.optimizer.scaled_prefix == "front3/"
