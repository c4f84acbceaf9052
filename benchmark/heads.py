"""Task heads, shared by every system.

Every model is ``log-mel (batch, time, n_mels) -> frontend -> nonlinearity ->
head``. The frontend emits ``(batch, time, mel', C)`` with whatever ``C`` it
likes; each head adapts to it, so the only difference between two rows of a
table is the frontend. The same nonlinearity (per-channel batch normalisation,
then a leaky ReLU) follows every frontend in every head: without it a linear
frontend followed by a linear first head layer is a single linear map, and the
frontend's structure would not matter. Written with ``keras.ops`` only, so models run on TensorFlow and JAX.
"""

from __future__ import annotations

import keras
from keras import layers, ops


# Batch-norm momentum 0.9 is PyTorch's default (0.1 there), which the reused recipes
# ran with; Keras's 0.99 leaves the moving statistics far behind on short runs.


@keras.saving.register_keras_serializable(package="gaborbench")
class FrameFlatten(layers.Layer):
    """(batch, time, mel, C) -> (batch, time, mel*C): one vector per frame."""

    def call(self, x):
        s = ops.shape(x)
        return ops.reshape(x, (s[0], s[1], x.shape[2] * x.shape[3]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[2] * input_shape[3])


@keras.saving.register_keras_serializable(package="gaborbench")
class StatsPooling(layers.Layer):
    """Mean and standard deviation over time, concatenated (x-vector pooling)."""

    def call(self, x):
        mean = ops.mean(x, axis=1)
        std = ops.sqrt(ops.maximum(ops.var(x, axis=1), 1e-6))
        return ops.concatenate([mean, std], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])


@keras.saving.register_keras_serializable(package="gaborbench")
class CosineClassifier(layers.Layer):
    """Cosine between the L2-normalised embedding and each class's weight vector.

    Training adds the additive angular margin in :class:`AAMLoss`; the outputs'
    argmax is the predicted class either way.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", name="w")

    def call(self, x):
        x = x / ops.maximum(ops.norm(x, axis=-1, keepdims=True), 1e-6)
        w = self.w / ops.maximum(ops.norm(self.w, axis=0, keepdims=True), 1e-6)
        return ops.clip(ops.matmul(x, ops.cast(w, x.dtype)), -1.0, 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return super().get_config() | {"units": self.units}


@keras.saving.register_keras_serializable(package="gaborbench")
class AAMLoss(keras.losses.Loss):
    """Additive angular margin softmax (ArcFace): s·cos(θ + m) for the target class."""

    def __init__(self, margin=0.05, scale=10.0, name="aam_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.margin = margin
        self.scale = scale

    def call(self, y_true, y_pred):
        cos = ops.cast(y_pred, "float32")
        n = ops.shape(cos)[-1]
        onehot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), n)
        theta = ops.arccos(ops.clip(cos, -1.0 + 1e-6, 1.0 - 1e-6))
        logits = self.scale * ops.where(onehot > 0, ops.cos(theta + self.margin), cos)
        return keras.losses.categorical_crossentropy(onehot, logits, from_logits=True)

    def get_config(self):
        return {"margin": self.margin, "scale": self.scale, "name": self.name}


def sad_head(x, h):
    """pyannote PyanNet-like: per-frame compress -> BiLSTM -> Dense -> sigmoid per frame."""
    x = layers.Dense(h.compress, name="compress")(FrameFlatten(name="frame_flatten")(x))
    for i in range(h.lstm_layers):
        x = layers.Bidirectional(layers.LSTM(h.lstm_units, return_sequences=True),
                                 name=f"bilstm{i + 1}")(x)
    for i, units in enumerate(h.dense_units):
        x = layers.Dense(units, activation="tanh", name=f"ff{i + 1}")(x)
    x = layers.Dense(1, activation="sigmoid", dtype="float32", name="speech")(x)
    return layers.Reshape((-1,), name="frame_scores")(x)


def xvector_head(x, h, n_classes: int):
    """x-vector TDNN over time, statistics pooling, embedding, cosine classifier."""
    x = layers.Dense(h.compress, name="compress")(FrameFlatten(name="frame_flatten")(x))
    # Frame contexts [-2,2], [-2,0,2], [-3,0,3], [0], [0]: kernel sizes and dilations.
    for i, (k, d, c) in enumerate([(5, 1, h.tdnn_channels), (3, 2, h.tdnn_channels),
                                   (3, 3, h.tdnn_channels), (1, 1, h.tdnn_channels),
                                   (1, 1, h.tdnn_pooling_channels)]):
        x = layers.Conv1D(c, k, dilation_rate=d, padding="same", name=f"tdnn{i + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"tdnn{i + 1}_bn")(layers.ReLU()(x))
    x = StatsPooling(name="stats_pooling")(x)
    emb = layers.Dense(h.embedding, name="embedding")(x)
    x = layers.BatchNormalization(momentum=0.9, name="embedding_bn")(layers.ReLU()(emb))
    return CosineClassifier(n_classes, dtype="float32", name="classifier")(x)


def cnn_head(x, h, n_classes: int):
    """CNN10-like: blocks of two 3x3 conv + BN + ReLU, 2x2 average pooling."""
    for i, c in enumerate(h.conv_channels):
        for j in range(2):
            x = layers.Conv2D(c, 3, padding="same", use_bias=False, name=f"conv{i + 1}_{j + 1}")(x)
            x = layers.ReLU()(layers.BatchNormalization(momentum=0.9, name=f"conv{i + 1}_{j + 1}_bn")(x))
        # 'same' keeps a one-band frontend output (mel' = 1) valid after pooling.
        x = layers.AveragePooling2D(2, padding="same", name=f"pool{i + 1}")(x)
        x = layers.Dropout(h.dropout)(x)
    # As in CNN10: mean over frequency, then max + mean over time.
    x = FreqMean(name="freq_mean")(x)
    x = layers.Add(name="time_pool")([layers.GlobalMaxPooling1D()(x),
                                      layers.GlobalAveragePooling1D()(x)])
    x = layers.Dropout(h.final_dropout)(x)
    x = layers.Dense(h.conv_channels[-1], activation="relu", name="fc")(x)
    return layers.Dense(n_classes, activation="softmax", dtype="float32", name="classes")(x)


@keras.saving.register_keras_serializable(package="gaborbench")
class FreqMean(layers.Layer):
    """(batch, time, mel, C) -> (batch, time, C)."""

    def call(self, x):
        return ops.mean(x, axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[3])


def build_model(frontend_layer, head, n_mels: int, n_frames: int | None = None,
                norm: tuple | None = None, name: str = "model") -> keras.Model:
    """log-mel (batch, time, n_mels) -> frontend -> nonlinearity -> ``head(x)``.

    ``norm`` = (mean, variance) per mel band of the training features: the
    standardisation is part of the saved model, so a loaded model takes raw log-mel.
    """
    inp = keras.Input((n_frames, n_mels), name="logmel")
    x = inp
    if norm is not None:
        x = layers.Normalization(axis=-1, mean=norm[0], variance=norm[1], name="standardize")(x)
    x = layers.Reshape((-1, n_mels, 1), name="add_channel")(x)
    x = frontend_layer(x)
    if len(x.shape) != 4:
        raise ValueError(f"frontend {frontend_layer.name!r} must emit (batch, time, mel, C); "
                         f"got shape {x.shape}")
    x = layers.BatchNormalization(momentum=0.9, name="frontend_bn")(x)
    x = layers.LeakyReLU(negative_slope=0.1, name="frontend_act")(x)
    return keras.Model(inp, head(x), name=name)


def embedding_model(model: keras.Model) -> keras.Model:
    """The speaker model cut at its embedding layer (for verification scores)."""
    return keras.Model(model.inputs, model.get_layer("embedding").output)


def _scaled(base):
    """``base`` optimizer whose variables under ``scaled_prefix`` step at ``scale`` x the rate.

    The scale multiplies the learning rate of each update (``update_step``), not
    the gradient: Adam normalises gradients, so scaling them would do nothing.
    """

    class Scaled(base):
        def __init__(self, *args, scaled_prefix: str = "", scale: float = 1.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.scaled_prefix, self.scale = scaled_prefix, float(scale)

        def build(self, var_list):
            super().build(var_list)
            # Backends hand update_step their own variable objects; the index is what they share.
            self._scaled = {i for i, v in enumerate(var_list)
                            if v.path.startswith(self.scaled_prefix)}

        def update_step(self, gradient, variable, learning_rate):
            if self._get_variable_index(variable) in self._scaled:
                learning_rate = learning_rate * self.scale
            return super().update_step(gradient, variable, learning_rate)

        def _backend_update_step(self, grads, trainable_variables, learning_rate):
            # PyTorch's fused multi-tensor updates bypass update_step: use the per-variable path.
            if keras.backend.backend() == "torch":
                for g, v in zip(grads, trainable_variables):
                    self.update_step(g, v, learning_rate)
                return
            return super()._backend_update_step(grads, trainable_variables, learning_rate)

        def get_config(self):
            return super().get_config() | {"scaled_prefix": self.scaled_prefix, "scale": self.scale}

    Scaled.__name__ = Scaled.__qualname__ = f"Scaled{base.__name__}"
    return keras.saving.register_keras_serializable(package="gaborbench")(Scaled)


ScaledSGD = _scaled(keras.optimizers.SGD)
ScaledAdam = _scaled(keras.optimizers.Adam)
