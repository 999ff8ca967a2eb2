"""Layers. `Dense` is the only one the notebook needs.

A layer keeps its parameters and their gradients in two dicts with the same keys
(``params["kernel"]`` and ``grads["kernel"]``); `backward` overwrites ``grads``, it never
adds to them, so calling it twice is harmless. The products with the input go through
`nn.ops`, which handles dense and sparse batches alike. Fed a sparse batch, a layer's kernel
gradient is an `nn.sparse.RowSparseGrad`: only the rows of the features in the batch, which
the optimizers update without touching the others.
"""

import numpy as np

from . import activations, initializers, kernels, ops


class Layer:
    """Base class. Subclasses define `build`, `forward` and `backward`."""

    def __init__(self, name=None):
        self.name = name
        self.params = {}
        self.grads = {}
        self.built = False
        self.input_dim = None

    def build(self, input_dim, rng, dtype):
        raise NotImplementedError

    def forward(self, x, training=False):
        raise NotImplementedError

    def backward(self, da, need_dx=True):
        raise NotImplementedError

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    def output_dim(self):
        raise NotImplementedError

    def get_config(self):
        return {"name": self.name}


class Dense(Layer):
    """Fully connected layer: ``a = activation(x @ kernel + bias)``.

    Parameters
    ----------
    units : int
        Output size.
    activation : str, Activation or None
        "relu", "sigmoid", "tanh", "linear" (None means linear).
    input_shape : tuple (n_features,), optional
        Input size of a first layer; otherwise taken from the first batch seen.
    kernel_initializer, bias_initializer : str or callable f(shape, rng, dtype)
        Defaults "glorot_uniform" and "zeros", as in Keras.

    Shapes: x (n_samples, n_features), kernel (n_features, units), bias (units,),
    output (n_samples, units). ``x`` may be a sparse `nn.sparse.CSRMatrix`; then
    ``grads["kernel"]`` is an `nn.sparse.RowSparseGrad` of the rows of the features present.
    """

    def __init__(self, units, activation=None, input_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", name=None,
                 input_dim=None):
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive integer; got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        if input_shape is not None:
            if isinstance(input_shape, (int, np.integer)):
                input_shape = (input_shape,)
            input_shape = tuple(input_shape)
            if len(input_shape) != 1 or not isinstance(input_shape[0], (int, np.integer)) \
                    or input_shape[0] < 1:
                raise ValueError(f"Dense takes a 1-D input_shape such as (10000,); "
                                 f"got {input_shape!r}")
            input_dim = input_shape[0]
        self.input_dim = None if input_dim is None else int(input_dim)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self._x = None
        self._a = None

    def build(self, input_dim, rng, dtype):
        self.input_dim = int(input_dim)
        shape = (self.input_dim, self.units)
        # Rows on cache-line boundaries: a sparse batch reads and writes whole kernel rows.
        kernel = kernels.empty_aligned(shape, dtype)
        kernel[...] = self.kernel_initializer(shape, rng, dtype)
        self.params = {"kernel": kernel,
                       "bias": self.bias_initializer((self.units,), rng, dtype)}
        # np.zeros, not zeros_like: pages never written cost no memory (a 2**20-row kernel's
        # gradient is row-sparse once training starts).
        self.grads = {k: np.zeros(v.shape, v.dtype) for k, v in self.params.items()}
        self.built = True

    def output_dim(self):
        return self.units

    def forward(self, x, training=False):
        """a = f(x @ W + b); keeps x and a for backward when training."""
        a = ops.dense_forward(x, self.params["kernel"], self.params["bias"], self.activation)
        if training:
            self._x, self._a = x, a
        return a

    def backward(self, da, need_dx=True):
        """From dL/da, store dL/dW and dL/db and return dL/dx (None if not needed)."""
        return self._backward(da, self.activation, need_dx)

    def backward_z(self, dz, need_dx=True):
        """From dL/dz (the pre-activation gradient), store dL/dW, dL/db; return dL/dx."""
        return self._backward(dz, activations.linear, need_dx)

    def _backward(self, da, activation, need_dx):
        if self._x is None:
            raise RuntimeError("backward called before a training forward pass")
        # dL/dz = dL/da * f'(z)  (f' from the output a: see nn.activations)
        # dL/dW = x^T dz ;  dL/db = sum over samples of dz ;  dL/dx = dz W^T
        dW, db, dx = ops.dense_backward(self._x, self._a, da, self.params["kernel"],
                                        activation, need_dx)
        self.grads["kernel"], self.grads["bias"] = dW, db
        return dx

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation.name,
                "input_dim": self.input_dim}

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation.name!r})"
