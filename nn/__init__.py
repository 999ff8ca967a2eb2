"""nn: a small, fast, from-scratch neural network framework with hand-written backprop.

The API mirrors Keras::

    from nn import models, layers, optimizers, losses, metrics, callbacks
    from nn.datasets import imdb

Every layer, activation, loss and optimizer carries its own forward and backward pass; there
is no autograd. A first `Dense` layer fed a sparse multi-hot batch (`nn.sparse`) runs on
numba kernels (`nn.kernels`) that touch only the nonzeros.
"""

from . import (activations, callbacks, gradcheck, initializers, layers, losses, metrics,
               models, optimizers, sparse)
from .sequences import Sequences
from .sparse import CSRMatrix, multi_hot, vectorize_sequences

__version__ = "0.1.0"

__all__ = ["activations", "callbacks", "gradcheck", "initializers", "layers", "losses",
           "metrics", "models", "optimizers", "sparse", "Sequences", "CSRMatrix",
           "multi_hot", "vectorize_sequences"]
