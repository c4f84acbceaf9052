"""The topline: an unconstrained Conv2D with the Gabor bank's kernel size and channels."""

import keras

from benchmark.registry import FrontendConfig, register_system


@register_system("free_cnn", "unconstrained Conv2D, same kernel size and channels (topline)",
                 rank=50)
def build(config: FrontendConfig):
    channels = 2 * config.filters if config.output_mode == "concat" else config.filters
    init = keras.initializers.GlorotUniform(seed=config.seed)
    return keras.layers.Conv2D(channels, config.kernel_size, padding="same", use_bias=False,
                               kernel_initializer=init, name="frontend_free_cnn")
