"""gabor-bench: learnable spectro-temporal (Gabor / STRF) frontends under one harness.

Data flows one way through the package:

    recipes -> download -> adapters/prepare -> features -> frontend (layers,
    baselines) -> heads -> train -> metrics -> results (run JSON) -> report

Importing the package is cheap: Keras/TensorFlow load only when a module that
needs them is imported.
"""

__version__ = "0.1.0"
