"""Template: copy to baselines/<your_system>.py and edit. Files starting with '_' are not loaded.

A system is a factory that returns a Keras layer mapping log-mel input
(batch, time, mel, 1) to (batch, time, mel', channels). Registering it is all
it takes: `gaborbench list systems`, the tests, `gaborbench run`/`reproduce`,
the tables and the plots pick it up with no other edit.
"""

import keras

from benchmark.registry import FrontendConfig, register_system


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
