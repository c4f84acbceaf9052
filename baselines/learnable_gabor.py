"""The system under test: a learnable Gabor (STRF) bank, 4 parameters per filter."""

from benchmark.layers import GaborLayer, mel_bins_per_octave
from benchmark.registry import FrontendConfig, register_system


def gabor_layer(config: FrontendConfig, **kwargs) -> GaborLayer:
    """A GaborLayer for ``config``: its size, output mode, grid, seed and initialisation.

    The frame rate and mel bands per octave always travel with the layer, so a
    ``physical`` initialisation can place the filters in Hz and cycles/octave.
    """
    return GaborLayer(config.filters, kernel_size=config.kernel_size,
                      output_mode=config.output_mode, grid=config.grid, seed=config.seed,
                      init=config.init,
                      frame_rate_hz=float(config.frame_rate_hz),
                      bins_per_octave=mel_bins_per_octave(config.n_mels, config.fmin, config.fmax),
                      **kwargs)


@register_system("learnable_gabor", "learnable Gabor bank (4 params per filter)", rank=40,
                 gabor=True, learnable_gabor=True)
def build(config: FrontendConfig):
    return gabor_layer(config, name="frontend_learnable_gabor")
