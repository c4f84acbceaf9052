"""Template: copy to baselines/<your_system>.py and edit. Files starting with '_' are not loaded.

A system is a factory that returns a Keras layer mapping log-mel input
(batch, time, mel, 1) to (batch, time, mel', channels). Registering it is all
it takes: `gaborbench list systems`, the tests, `gaborbench run`/`reproduce`,
the tables and the plots pick it up with no other edit.

A file that fails to import (or reuses a name) is left out with one line
naming it; `pytest tests/test_systems.py` says why.

Build Keras objects inside the factory (import keras there): listing and
checking systems, and the report, import no Keras.

A layer class of your own must be registered for serialisation: every run saves
its model as ``.keras`` (for `gaborbench predict` and checkpoint resume), and
loading it back finds the class only through that registration. Without it,
``tests/test_systems.py::test_serialisation_round_trip`` fails with "Could not
locate class". Define the class inside a cached function, as ``my_layer_class``
below, decorate it with ``@keras.saving.register_keras_serializable(package="baselines")``,
give it a ``get_config()`` that returns its constructor arguments, and name the
function in ``layers=`` so that a saved model can be loaded before any factory ran.
"""

import functools

from benchmark.settings import FrontendSettings
from benchmark.systems import register_system


@functools.cache
def my_layer_class():
    """Only needed for a layer of your own; built-in Keras layers are registered already."""
    import keras

    @keras.saving.register_keras_serializable(package="baselines")
    class MyLayer(keras.layers.Layer):
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

    return MyLayer


@register_system(
    "my_system",                        # the name used on the command line and in tables
    "one line saying what it is",       # shown by `gaborbench list systems`
    rank=100,                           # position in tables (mel=10 ... free_cnn=50)
    learnable_gabor=False,              # True if it holds a trained benchmark.layers.GaborLayer
    layers="baselines.my_system:my_layer_class",  # only with a layer class of your own
)
def build(config: FrontendSettings):
    # config.filters, config.kernel_size (time, mel), config.output_mode,
    # config.frame_rate_hz, config.n_mels, config.fmin, config.fmax, config.seed,
    # config.init and config.grid (Gabor initialisation and kernel grid)
    import keras

    channels = 2 * config.filters if config.output_mode == "concat" else config.filters
    return keras.layers.Conv2D(channels, (5, 5), padding="same", name="frontend_my_system")
    # or, with a layer of your own: return my_layer_class()(channels, name="frontend_my_system")
