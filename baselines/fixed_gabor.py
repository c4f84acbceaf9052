"""The Gabor layer with the learnable system's random initialisation, frozen."""

from baselines.learnable_gabor import gabor_layer
from benchmark.settings import FrontendSettings
from benchmark.systems import register_system


@register_system("fixed_gabor", "Gabor bank, the learnable system's initialisation, frozen", rank=20)
def build(config: FrontendSettings):
    return gabor_layer(config, trainable=False, name="frontend_fixed_gabor")
