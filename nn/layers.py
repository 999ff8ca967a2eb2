"""Layers: `Dense` (the notebook's) and `Dropout` (the overfitting notebook's).

A layer keeps its parameters and their gradients in two dicts with the same keys
(``params["kernel"]`` and ``grads["kernel"]``); `backward` overwrites ``grads``, it never
adds to them, so calling it twice is harmless. The products with the input go through
`nn.ops`, which handles dense and sparse batches alike. Fed a sparse batch, a layer's kernel
gradient is an `nn.row_sparse.RowSparseGrad`: only the rows of the features in the batch, which
the optimizers update without touching the others.
"""

import numbers

import numpy as np

from . import activations, backend, initializers, ops, regularizers
from .memory import empty_aligned
from .row_sparse import RowSparseGrad
from .sparse import CSRMatrix


class Layer:
    """Base class. Subclasses define `build`, `forward` and `backward`.

    ``activation`` is the layer's output activation (None for a layer without one), and
    ``has_weights`` whether it has parameters (saved, loaded and stepped by the optimizer),
    ``penalized`` whether it adds a weight penalty (`penalty`) to the loss."""

    activation = None
    has_weights = True
    penalized = False  # True: `penalty` adds to the loss

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

    def penalty(self):
        """The weight penalties' sum ``R(w)`` at the current weights (0.0 without any)."""
        return 0.0

    def rowwise(self, sparse):
        """True when inference (`forward` without ``training``) computes each output row from
        its own input row alone, by the same operations whatever rows are around it, so that
        any split of a batch's rows gives the same bits. ``sparse``: whether the input is a
        `CSRMatrix`. False unless a subclass knows better."""
        return False

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
    kernel_regularizer, bias_regularizer : str or `nn.regularizers.Regularizer`, optional
        A penalty ``R(w)`` on the weight (``regularizers.l2(0.001)``, ``"l2"``, ...): the model
        adds it to the loss, `backward` adds ``dR/dw`` to the weight's gradient. With a kernel
        penalty, a sparse batch's kernel gradient is dense (the penalty touches every row).
        Fixed at construction, as the model reads them when the layer is added.

    Shapes: x (n_samples, n_features), kernel (n_features, units), bias (units,),
    output (n_samples, units). ``x`` may be a sparse `nn.sparse.CSRMatrix`; then
    ``grads["kernel"]`` is an `nn.row_sparse.RowSparseGrad` of the rows of the features present.
    """

    def __init__(self, units, activation=None, input_shape=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", name=None,
                 input_dim=None, kernel_regularizer=None, bias_regularizer=None):
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
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self._penalties = [(key, r) for key, r in (("kernel", self.kernel_regularizer),
                                                   ("bias", self.bias_regularizer)) if r]
        self.penalized = bool(self._penalties)
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

    def rowwise(self, sparse):
        """`Layer.rowwise`, for the built-in activations (each acts on one number): a
        sparse input's product sums each row's nonzeros on their own, and so do the numba
        backend's one-call kernels for a narrow dense input; BLAS's products (a wide dense
        input, or any dense one on the NumPy backend) make no such promise."""
        if type(self.activation) not in activations.BUILT_IN:
            return False
        fast = backend.fused_dense(self.activation, self.params["kernel"])
        return sparse or (fast is not None and fast.rowwise(self.input_dim))

    def forward_and_logits(self, x, training=False):
        """(a, z): `forward`'s output and the pre-activation ``z = x @ W + b`` it came from,
        bit for bit (a loss that reads a sigmoid output's logits takes z)."""
        W, b, f = self.params["kernel"], self.params["bias"], self.activation
        ops.check_shapes(x, W, b)
        fast = backend.fused_dense(f, W)
        if fast is not None:  # fast path (numba backend): the two lines below, compiled
            a, z = fast.forward_and_logits(x, W, b)
        else:
            z = ops.affine(x, W, b)   # z = x @ W + b
            a = f.forward(z)          # a = f(z)
        if training:
            self._x, self._a = x, a
        return a, z

    def backward(self, da, need_dx=True):
        """From dL/da (n_samples, units), store dL/dW and dL/db in ``grads`` (overwriting
        them; with the penalties' dR/dw added) and return dL/dx (n_samples, n_features), or
        None without ``need_dx``."""
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
        fast = backend.fused_dense(f, W)
        if fast is not None:  # fast path (numba backend): the five lines below, compiled
            dW, db, dx = fast.backward(x, a, da, W, need_dx)
        else:                 # the math, as the NumPy backend runs it
            da = np.asarray(da, dtype=W.dtype)      # (a custom loss may hand over float64)
            dz = f.backward(a, da)                  # dL/dz = dL/da * f'(z)
            dW = ops.weight_grad(x, dz)             # dL/dW = x^T dz
            db = dz.sum(axis=0)                     # dL/db = sum over samples of dz
            dx = dz @ W.T if need_dx else None      # dL/dx = dz W^T
        self.grads["kernel"], self.grads["bias"] = dW, db
        for key, regularizer in self._penalties:    # dL/dw += dR/dw
            self.grads[key] = _plus(self.grads[key], regularizer.gradient(self.params[key]))
        return dx

    def penalty(self):
        total = 0.0
        for key, regularizer in self._penalties:
            total += float(regularizer(self.params[key]))
        return total

    def get_config(self):
        return {"name": self.name, "units": self.units, "activation": self.activation.name,
                "input_dim": self.input_dim,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(config["units"], activation=config["activation"],
                   input_dim=config.get("input_dim"), name=config.get("name"),
                   **{key: regularizers.get(config.get(key), custom_objects)
                      for key in ("kernel_regularizer", "bias_regularizer")})

    def __repr__(self):
        return f"Dense({self.units}, activation={self.activation.name!r})"


def _plus(grad, extra):
    """``grad + extra`` as a dense array, written into ``extra`` (a fresh array). A row-sparse
    ``grad`` adds its rows only: every other row of the sum is ``extra``'s, exactly."""
    if isinstance(grad, RowSparseGrad):
        extra[grad.rows] += grad.values
    else:
        extra += grad
    return extra


class Dropout(Layer):
    """Inverted dropout: in training, each input is zeroed with probability ``rate`` and the
    kept ones are scaled by ``1 / (1 - rate)``, so the output's expectation is the input; in
    inference (`predict`, `evaluate`, validation) the identity. As Keras's ``Dropout``.

    Parameters
    ----------
    rate : float in [0, 1)
        Fraction of the inputs dropped.
    seed : int, optional
        Seed of the layer's own generator of masks. None (the default) draws the masks from
        the model's generator, so the model's ``seed`` fixes them: the same seed, the same run.

    Shapes: input and output (n_samples, n_features), dense (a sparse input batch is refused:
    put Dropout after a Dense layer). No parameters.
    """

    has_weights = False

    def __init__(self, rate, seed=None, name=None):
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) \
                or not 0 <= rate < 1:
            raise ValueError(f"rate must be a number in [0, 1): the fraction of inputs to drop "
                             f"(0.5 drops half); got {rate!r}")
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, numbers.Integral) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None; got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        self.rng = None
        self.hold_mask = False  # True: training passes reuse the last mask (gradcheck)
        self._scale = None

    def build(self, input_dim, rng, dtype):
        self.input_dim = int(input_dim)
        self.rng = rng if self.seed is None else np.random.default_rng(self.seed)
        self.built = True

    def output_dim(self):
        return self.input_dim

    def forward(self, x, training=False):
        """x * m / (1 - rate) in training, m a fresh 0/1 mask keeping each entry with
        probability 1 - rate (the last mask while ``hold_mask``); x itself in inference."""
        if isinstance(x, CSRMatrix):
            raise TypeError("Dropout takes a dense input; a sparse batch (the multi-hot "
                            "input) goes to a Dense layer first: put Dropout after it")
        if not training:
            return x
        if self.rate == 0:
            self._scale = x.dtype.type(1)
            return x
        if not (self.hold_mask and self._scale is not None and self._scale.shape == x.shape):
            keep = self.rng.random(x.shape, dtype=np.float32) >= self.rate  # m
            self._scale = keep * x.dtype.type(1 / (1 - self.rate))          # m / (1 - rate)
        return x * self._scale

    def rowwise(self, sparse):
        """`Layer.rowwise`: inference passes the input through."""
        return True

    def backward(self, da, need_dx=True):
        """dL/dx = dL/da * m / (1 - rate), with the mask of the last training pass."""
        if self._scale is None:
            raise RuntimeError("backward called before a training forward pass")
        return da * self._scale if need_dx else None

    def get_config(self):
        return {"name": self.name, "rate": self.rate, "seed": self.seed}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(config["rate"], seed=config.get("seed"), name=config.get("name"))

    def __repr__(self):
        return f"Dropout({self.rate})"


CLASSES = {"Dense": Dense, "Dropout": Dropout}


def from_config(spec, custom_objects=None):
    """A new layer from ``{"class": name, "config": layer.get_config()}``; ValueError for a
    class nn does not have."""
    cls = CLASSES.get(spec.get("class"))
    if cls is None:
        raise ValueError(f"unknown layer class {spec.get('class')!r}; nn has "
                         f"{', '.join(CLASSES)}")
    return cls.from_config(spec["config"], custom_objects)
