"""Template: copy to baselines/<your_system>.py and edit. Files starting with '_' are not loaded.

A system is a factory that returns a Keras layer mapping log-mel input
(batch, time, mel, 1) to (batch, time, mel', channels). Registering it is all
it takes: `gaborbench list systems`, the tests, `gaborbench run`/`reproduce`,
the tables and the plots pick it up with no other edit.

Give the decorator the name as a string literal: the command line checks names
by reading the decorators, before Keras loads. A file that fails to import (or
reuses a name) is left out with one line naming it; `pytest tests/test_systems.py`
says why.

A layer class of your own must be registered for serialisation: every run saves
its model as ``.keras`` (for `gaborbench predict` and checkpoint resume), and
loading it back finds the class only through that registration. Without it,
``tests/test_systems.py::test_serialisation_round_trip`` fails with "Could not
locate class". Decorate the class with
``@keras.saving.register_keras_serializable(package="baselines")`` and give it a
``get_config()`` that returns its constructor arguments, as ``MyLayer`` below.
"""

import keras

from benchmark.registry import FrontendConfig, register_system


@keras.saving.register_keras_serializable(package="baselines")
class MyLayer(keras.layers.Layer):
    """Only needed for a layer of your own; built-in Keras layers are registered already."""

    def __init__(self, channels: int, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.conv = keras.layers.Conv2D(channels, (5, 5), padding="same")

    def build(self, input_shape):
        self.conv.build(input_shape)  # sub-layers built here, so that saved weights load back

    def call(self, x):
        return self.conv(x)

    def get_config(self):
        # every constructor argument, so that from_config(get_config()) rebuilds the layer
        return {**super().get_config(), "channels": self.channels}


@register_system(
    "my_system",                        # the name used on the command line and in tables
    "one line saying what it is",       # shown by `gaborbench list systems`
    rank=100,                           # position in tables (mel=10 ... free_cnn=50)
    gabor=False,                        # True if it holds a benchmark.layers.GaborLayer
    learnable_gabor=False,              # True if that layer is trained (filter plots)
)
def build(config: FrontendConfig):
    # config.filters, config.kernel_size (time, mel), config.output_mode,
    # config.frame_rate_hz, config.n_mels, config.fmin, config.fmax, config.seed,
    # config.init and config.grid (Gabor initialisation and kernel grid)
    channels = 2 * config.filters if config.output_mode == "concat" else config.filters
    return keras.layers.Conv2D(channels, (5, 5), padding="same", name="frontend_my_system")
    # or, with a layer of your own: return MyLayer(channels, name="frontend_my_system")
