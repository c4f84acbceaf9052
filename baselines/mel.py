"""The floor: log-mel straight into the task head."""

from benchmark.settings import FrontendSettings
from benchmark.systems import register_system

# Keras loads inside the factory: listing and checking systems (the CLI) imports no Keras.


@register_system("mel", "log-mel straight into the task head (floor)", rank=10)
def build(config: FrontendSettings):
    import keras

    return keras.layers.Identity(name="frontend_mel")
