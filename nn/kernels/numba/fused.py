"""The numba backend's fused calls: several steps of a layer, loss, metric or optimizer in
one compiled call.

Each is the labelled fast branch beside a plain NumPy formula, in the file that owns the
formula: `nn.layers.Dense` (`dense_layer`), `nn.losses.BinaryCrossentropy`
(`binary_crossentropy`), `nn.metrics.binary_accuracy` (`binary_accuracy`),
`nn.optimizers.RMSprop` (`rmsprop_*`) and `nn.optimizers.Adam` (`adam_*`). Each computes what
its formula computes, in the arrays' dtype; where a sum runs in another order the last bit
may differ. The NumPy backend has no fused calls (``nn.kernels.numpy.fused is None``), so
there the formulas run as written.
"""

import functools

import numpy as np

from ... import activations
from ...row_sparse import RowSparseGrad
from . import adam, dense
from .backward import spmm_t, spmm_t_rows
from .forward import _spmm_serial, spmm
from .losses import (accepts, binary_accuracy, binary_crossentropy,
                     binary_crossentropy_from_logits)
from . import rmsprop
from .adam import adam_update, adam_update_rows
from .rmsprop import rmsprop_catch_up, rmsprop_update, rmsprop_update_rows

__all__ = ["dense_layer", "DenseLayer", "DENSE_LAYERS", "NARROW_FEATURES", "accepts",
           "adam_update", "adam_update_product", "adam_update_rows", "binary_accuracy",
           "binary_crossentropy", "binary_crossentropy_from_logits", "rmsprop_catch_up",
           "rmsprop_update", "rmsprop_update_product", "rmsprop_update_rows",
           "PRODUCT_MIN_UNITS"]

NARROW_FEATURES = 64  # dense inputs up to this wide take the one-call kernels; wider, BLAS
PRODUCT_MIN_UNITS = 64  # a sparse input's weight gradient this wide is left unformed (below)
# and its layer's products run on one thread (see `rmsprop_update_product`)


class DenseLayer:
    """The compiled forward and backward of ``a = f(x @ W + b)`` for one built-in f.

    ``x`` is a dense (n_samples, n_features) array or a `nn.sparse.CSRMatrix`. A narrow dense
    ``x`` (a hidden layer's input) runs product, bias and f in one call (`dense`); a sparse
    ``x`` runs the sparse product (`forward.spmm`; on one thread for `PRODUCT_MIN_UNITS` units
    or more), then f in one compiled pass, and its weight gradient may be left unformed
    (`_sparse_weight_grad`); a wide dense ``x`` uses BLAS for the product.
    """

    def __init__(self, code):
        self.code = code

    def forward(self, x, W, b):
        """a = f(x @ W + b), shape (n_samples, units), W's dtype."""
        if _narrow_dense(x, W):
            return dense.dense_forward(x, W, b, self.code)
        return dense.activate(self.logits(x, W, b), self.code)  # a fresh z: f in place

    def logits(self, x, W, b):
        """z = x @ W + b: the numbers `forward` activates, bit for bit."""
        if _narrow_dense(x, W):
            return dense.dense_forward(x, W, b, dense.LINEAR)
        if isinstance(x, np.ndarray):
            z = x @ W
            z += b
            return z
        if W.shape[1] >= PRODUCT_MIN_UNITS:  # one thread beside BLAS (rmsprop_update_product)
            return _spmm_serial(x.indptr, x.indices, _data(x, W.dtype), W, b)
        return spmm(x.indptr, x.indices, _data(x, W.dtype), W, b)

    def forward_and_logits(self, x, W, b):
        """(a, z): `forward`'s output and `logits`' numbers, bit for bit; one compiled call
        for a narrow dense ``x``."""
        if _narrow_dense(x, W):
            return dense.dense_forward_logits(x, W, b, self.code)
        z = self.logits(x, W, b)
        return self.activate(z), z

    def rowwise(self, n_features):
        """Whether a dense input ``n_features`` wide takes the one-call kernels, whose every
        output row is summed from its own input row alone (not BLAS, which is not bound to)."""
        return n_features <= NARROW_FEATURES

    def activate(self, z):
        """f(z) as a new array (``z`` unchanged): `forward`'s last step."""
        return dense.activate(z.copy(), self.code)

    def backward(self, x, a, da, W, need_dx):
        """(dW, db, dx) from dL/da, as `nn.layers.Dense.backward` computes them; dW is a
        `RowSparseGrad` for a sparse ``x``, dx None without ``need_dx``."""
        a = np.ascontiguousarray(a, dtype=W.dtype)
        da = np.ascontiguousarray(da, dtype=W.dtype)
        if _narrow_dense(x, W):
            dW, db, dx = dense.dense_backward(x, a, da, W, self.code, need_dx)
            return dW, db, dx if need_dx else None
        dz, db = dense.activation_backward(a, da, self.code)
        dW = x.T @ dz if isinstance(x, np.ndarray) else _sparse_weight_grad(x, dz)
        return dW, db, dz @ W.T if need_dx else None


_CODES = {activations.Linear: dense.LINEAR, activations.ReLU: dense.RELU,
          activations.Sigmoid: dense.SIGMOID, activations.Tanh: dense.TANH}
# (activation class, weight dtype) -> calls: one dict lookup per layer and batch
DENSE_LAYERS = {(cls, np.dtype(dtype)): DenseLayer(code) for cls, code in _CODES.items()
                for dtype in (np.float32, np.float64)}


def dense_layer(activation, W):
    """The `DenseLayer` calls for ``activation`` and weights ``W``, or None: for any class but
    the four built-in ones exactly (a subclass may change the math) or non-float weights.
    (`nn.backend.fused_dense` reads `DENSE_LAYERS` itself.)"""
    return DENSE_LAYERS.get((type(activation), W.dtype))


def rmsprop_update_product(w, v, indptr, indices, data, delta, learning_rate, rho, epsilon):
    """`rmsprop.rmsprop_update_product` on one thread. It runs beside the BLAS products of the
    wide layer above, whose OpenBLAS worker threads keep spinning after each call: numba's
    threads would fight them for the cores (docs/performance.md, "Wide layers")."""
    rmsprop.rmsprop_update_product(w, v, indptr, indices, data, delta, learning_rate, rho,
                                   epsilon, threads=1)


def adam_update_product(w, m, v, indptr, indices, data, delta, alpha, beta_1, beta_2, epsilon):
    """`adam.adam_update_product` on one thread, for the reason `rmsprop_update_product`
    gives."""
    adam.adam_update_product(w, m, v, indptr, indices, data, delta, alpha, beta_1, beta_2,
                             epsilon, threads=1)


def _sparse_weight_grad(x, dz):
    """dW = x.T @ dz for a sparse ``x``, a `RowSparseGrad`. When every row of dW is
    listed (``x`` has at least as many nonzeros as columns) and dW is at least
    `PRODUCT_MIN_UNITS` wide, it is left unformed (`RowSparseGrad.of_product`): RMSprop steps
    from the product row by row (`rmsprop_update_product`), and anything else reading the
    values forms them with `spmm_t`, the same bits as `spmm_t_rows` gives."""
    n_features, data = x.shape[1], _data(x, dz.dtype)
    shape = (n_features, dz.shape[1])
    if n_features <= x.indices.size and dz.shape[1] >= PRODUCT_MIN_UNITS:
        form = functools.partial(spmm_t, x.indptr, x.indices, data, dz, n_features)
        return RowSparseGrad.of_product(np.arange(n_features, dtype=np.int32), shape,
                                        (x.indptr, x.indices, data, dz), form)
    return RowSparseGrad(*spmm_t_rows(x.indptr, x.indices, data, dz, n_features), shape)


def _narrow_dense(x, W):
    return (isinstance(x, np.ndarray) and x.shape[1] <= NARROW_FEATURES
            and x.dtype == W.dtype and x.flags.c_contiguous)


def _data(x, dtype):
    return None if x.data is None else x.data.astype(dtype, copy=False)
