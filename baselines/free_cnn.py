"""The topline: an unconstrained Conv2D with the Gabor bank's kernel size and channels."""

from benchmark.settings import FrontendSettings
from benchmark.systems import register_system

# Keras loads inside the factory: listing and checking systems (the CLI) imports no Keras.


@register_system("free_cnn", "unconstrained Conv2D, same kernel size and channels (topline)",
                 rank=50)
def build(config: FrontendSettings):
    import keras

    channels = 2 * config.filters if config.output_mode == "concat" else config.filters
    init = keras.initializers.GlorotUniform(seed=config.seed)
    return keras.layers.Conv2D(channels, config.kernel_size, padding="same", use_bias=False,
                               kernel_initializer=init, name="frontend_free_cnn")
