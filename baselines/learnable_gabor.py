"""The system under test: a learnable Gabor (STRF) bank, 4 parameters per filter."""

from benchmark.settings import FrontendSettings
from benchmark.systems import register_system
from benchmark.units import mel_bins_per_octave

# Keras loads inside the factory: listing and checking systems (the CLI) imports no Keras.


def gabor_layer(config: FrontendSettings, **kwargs):
    """A GaborLayer for ``config``: its size, output mode, grid, seed and initialisation.

    The frame rate and mel bands per octave always travel with the layer, so a
    ``physical`` initialisation can place the filters in Hz and cycles/octave.
    """
    from benchmark.layers import GaborLayer

    return GaborLayer(config.filters, kernel_size=config.kernel_size,
                      output_mode=config.output_mode, grid=config.grid, seed=config.seed,
                      init=config.init,
                      frame_rate_hz=float(config.frame_rate_hz),
                      bins_per_octave=mel_bins_per_octave(config.n_mels, config.fmin, config.fmax),
                      **kwargs)


@register_system("learnable_gabor", "learnable Gabor bank (4 params per filter)", rank=40,
                 learnable_gabor=True)
def build(config: FrontendSettings):
    return gabor_layer(config, name="frontend_learnable_gabor")
