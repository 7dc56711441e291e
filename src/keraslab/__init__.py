"""keraslab: advanced and generative deep learning on Keras 3, on any backend."""

__version__ = "0.1.0"
