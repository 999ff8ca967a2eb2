"""nn: a small, fast, from-scratch neural network framework with hand-written backprop.

The API mirrors Keras::

    from nn import models, layers, optimizers, losses, metrics, callbacks, regularizers
    from nn.datasets import imdb

Every layer, activation, loss and optimizer carries its own forward and backward pass; there
is no autograd. The math runs on one of two backends with the same functions (`nn.backend`):
numba-compiled kernels (the default) or plain NumPy (``NN_BACKEND=numpy``). A first `Dense`
layer fed a sparse multi-hot batch (`nn.sparse.CSRMatrix`) touches only its nonzeros.
"""

from . import (activations, callbacks, gradcheck, initializers, layers, losses, metrics,
               models, optimizers, preprocessing, regularizers, sparse)
from .backend import set_backend, use_backend
from .preprocessing import multi_hot, vectorize_sequences
from .sequences import Sequences
from .sparse import CSRMatrix

__version__ = "0.1.0"

__all__ = ["activations", "callbacks", "gradcheck", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "preprocessing", "regularizers", "sparse",
           "Sequences", "CSRMatrix", "multi_hot", "vectorize_sequences", "set_backend", "use_backend"]
