"""Layers. `Dense` is the only one the notebook needs.

A layer keeps its parameters and their gradients in two dicts with the same keys
(``params["kernel"]`` and ``grads["kernel"]``); `backward` overwrites ``grads``, it never
adds to them, so calling it twice is harmless. The products with the input go through
`nn.ops`, which handles dense and sparse batches alike. Fed a sparse batch, a layer's kernel
gradient is an `nn.row_sparse.RowSparseGrad`: only the rows of the features in the batch, which
the optimizers update without touching the others.
"""

import numpy as np

from . import activations, backend, initializers, ops
from .memory import empty_aligned


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
    ``grads["kernel"]`` is an `nn.row_sparse.RowSparseGrad` of the rows of the features present.
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
        kernel = empty_aligned(shape, dtype)
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
        """a = f(x @ W + b), shape (n_samples, units); keeps x and a for `backward` when
        ``training``."""
        W, b, f = self.params["kernel"], self.params["bias"], self.activation
        ops.check_shapes(x, W, b)
        fast = backend.fused_dense(f, W)
        if fast is not None:  # fast path (numba backend): x @ W + b and f in compiled calls
            a = fast.forward(x, W, b)
        else:                 # the math, as the NumPy backend runs it
            z = ops.affine(x, W, b)   # z = x @ W + b
            a = f.forward(z)          # a = f(z)
        if training:
            self._x, self._a = x, a
        return a

    def forward_and_logits(self, x, training=False):
        """(a, z): `forward`'s output and the pre-activation ``z = x @ W + b`` it came from,
        bit for bit (a loss that reads a sigmoid output's logits takes z)."""
        W, b, f = self.params["kernel"], self.params["bias"], self.activation
        ops.check_shapes(x, W, b)
        fast = backend.fused_dense(f, W)
        if fast is not None:  # fast path (numba backend): the two lines below, compiled
            z = fast.logits(x, W, b)
            a = fast.activate(z)
        else:
            z = ops.affine(x, W, b)   # z = x @ W + b
            a = f.forward(z)          # a = f(z)
        if training:
            self._x, self._a = x, a
        return a, z

    def backward(self, da, need_dx=True):
        """From dL/da (n_samples, units), store dL/dW and dL/db in ``grads`` (overwriting
        them) and return dL/dx (n_samples, n_features), or None without ``need_dx``."""
        return self._backward(da, self.activation, need_dx)

    def backward_from_dz(self, dz, need_dx=True):
        """As `backward`, starting from dL/dz, the gradient of the pre-activation
        ``z = x @ W + b`` (a loss fused with the output activation gives it directly)."""
        return self._backward(dz, activations.linear, need_dx)

    def _backward(self, da, f, need_dx):
        if self._x is None:
            raise RuntimeError("backward called before a training forward pass")
        x, a, W = self._x, self._a, self.params["kernel"]
        ops.check_shapes(x, W, a=a, da=da)
        da = np.asarray(da, dtype=W.dtype)  # a custom loss may hand over float64
        fast = backend.fused_dense(f, W)
        if fast is not None:  # fast path (numba backend): the four lines below, compiled
            dW, db, dx = fast.backward(x, a, da, W, need_dx)
        else:                 # the math, as the NumPy backend runs it
            dz = f.backward(a, da)                  # dL/dz = dL/da * f'(z)
            dW = ops.weight_grad(x, dz)             # dL/dW = x^T dz
            db = dz.sum(axis=0)                     # dL/db = sum over samples of dz
            dx = dz @ W.T if need_dx else None      # dL/dx = dz W^T
        self.grads["kernel"], self.grads["bias"] = dW, db
        return dx

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation.name,
                "input_dim": self.input_dim}

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation.name!r})"
