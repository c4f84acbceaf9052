"""The Gabor layer with the learnable system's random initialisation, frozen."""

from baselines.learnable_gabor import gabor_layer
from benchmark.registry import FrontendConfig, register_system


@register_system("fixed_gabor", "Gabor bank, the learnable system's initialisation, frozen", rank=20,
                 gabor=True)
def build(config: FrontendConfig):
    return gabor_layer(config, trainable=False, name="frontend_fixed_gabor")
