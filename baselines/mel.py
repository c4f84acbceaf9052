"""The floor: log-mel straight into the task head."""

import keras

from benchmark.registry import FrontendConfig, register_system


@register_system("mel", "log-mel straight into the task head (floor)", rank=10)
def build(config: FrontendConfig):
    return keras.layers.Identity(name="frontend_mel")
