"""The Gabor layer with the reference random initialisation, frozen."""

from benchmark.layers import GaborLayer
from benchmark.registry import FrontendConfig, register_system


@register_system("fixed_gabor", "Gabor bank, random reference init, frozen", rank=20, gabor=True)
def build(config: FrontendConfig):
    return GaborLayer(config.filters, kernel_size=config.kernel_size,
                      output_mode=config.output_mode, seed=config.seed,
                      trainable=False, name="frontend_fixed_gabor")
