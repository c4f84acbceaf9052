"""The system under test: a learnable Gabor (STRF) bank, 4 parameters per filter."""

from benchmark.layers import GaborLayer
from benchmark.registry import FrontendConfig, register_system


@register_system("learnable_gabor", "learnable Gabor bank (4 params per filter)", rank=40,
                 gabor=True, learnable_gabor=True)
def build(config: FrontendConfig):
    return GaborLayer(config.filters, kernel_size=config.kernel_size,
                      output_mode=config.output_mode, seed=config.seed,
                      name="frontend_learnable_gabor")
