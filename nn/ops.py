"""The one place where a layer's matrix products meet their input type.

A `Dense` layer computes ``a = f(x @ W + b)`` forward and ``dW = x.T @ dz``, ``db``,
``dx = dz @ W.T`` backward. ``x`` is either a sparse `nn.sparse.CSRMatrix` (numba kernels in
`nn.kernels` touch only the nonzeros), a wide dense NumPy batch (BLAS does the products), or
a narrow dense batch such as a hidden layer's input (one compiled pass per layer,
`nn.kernels.dense`: at these sizes NumPy's per-call cost exceeds the arithmetic). Layers,
models and the training loop call these functions and never look at the input type.
Activations of other classes than the four built-in ones run their own NumPy code.
"""

import numpy as np

from . import activations, kernels
from .kernels import dense as dense_kernels
from .sparse import CSRMatrix, RowSparseGrad, as_sparse_input

# Dense inputs up to this many features take the compiled layer kernels; wider ones BLAS.
NARROW_FEATURES = 64

_ACTIVATION_CODES = {activations.Linear: dense_kernels.LINEAR,
                     activations.ReLU: dense_kernels.RELU,
                     activations.Sigmoid: dense_kernels.SIGMOID,
                     activations.Tanh: dense_kernels.TANH}


def _code(activation, W):
    """The kernel code of a built-in activation (exact class: a subclass may override its
    math), or None: then the activation's own forward/backward run."""
    if W.dtype not in (np.float32, np.float64):
        return None
    return _ACTIVATION_CODES.get(type(activation))


def _narrow(x, W):
    return (isinstance(x, np.ndarray) and x.shape[1] <= NARROW_FEATURES
            and x.dtype == W.dtype and x.flags.c_contiguous)


def _check_shapes(x, W, b=None, a=None, da=None):
    """The compiled kernels do not check bounds: a mismatch must raise here, not crash."""
    units = W.shape[1]
    if x.ndim != 2 or x.shape[1] != W.shape[0] or (b is not None and b.shape != (units,)):
        raise ValueError(f"shapes do not fit x @ W + b: x {x.shape}, W {W.shape}"
                         + ("" if b is None else f", b {b.shape}"))
    if a is not None and not (a.shape == da.shape == (x.shape[0], units)):
        raise ValueError(f"dL/da has shape {da.shape} and the layer's output {a.shape}; both "
                         f"must be (n_samples, units) = {(x.shape[0], units)} (a 1-D target y "
                         "against (n, 1) outputs broadcasts to (n, n): pass y as (n, 1))")


def dense_forward(x, W, b, activation):
    """a = activation(x @ W + b), shape (n_samples, units). Same values as
    ``activation.forward(affine(x, W, b))``, up to rounding in the last bit."""
    _check_shapes(x, W, b)
    code = _code(activation, W)
    if code is None:
        return activation.forward(affine(x, W, b))
    if _narrow(x, W):
        return dense_kernels.dense_forward(x, W, b, code)
    return dense_kernels.activate(affine(x, W, b), code)


def dense_backward(x, a, da, W, activation, need_dx=True):
    """(dW, db, dx) of ``a = activation(x @ W + b)`` from dL/da, with
    ``dz = activation.backward(a, da)``: dW = x.T @ dz (a `RowSparseGrad` for sparse x, see
    `weight_grad`), db = dz summed over samples, dx = dz @ W.T, or None without ``need_dx``."""
    _check_shapes(x, W, a=a, da=da)
    code = _code(activation, W)
    if code is not None:  # the kernels take one dtype (a custom loss may return float64)
        a, da = (np.ascontiguousarray(v, dtype=W.dtype) for v in (a, da))
    if code is not None and _narrow(x, W):
        dW, db, dx = dense_kernels.dense_backward(x, a, da, W, code, need_dx)
        return dW, db, dx if need_dx else None
    if code is None:
        dz = activation.backward(a, da)
        db = dz.sum(axis=0)
    else:
        dz, db = dense_kernels.activation_backward(a, da, code)
    return weight_grad(x, dz, rows_only=True), db, dz @ W.T if need_dx else None


def affine(x, W, b):
    """z = x @ W + b, shape (n_samples, units)."""
    if isinstance(x, CSRMatrix):
        if x.data is None:
            return kernels.spmm_ones(x.indptr, x.indices, W, b)
        return kernels.spmm(x.indptr, x.indices, x.data.astype(W.dtype, copy=False), W, b)
    z = x @ W
    z += b
    return z


def weight_grad(x, delta, rows_only=False):
    """dW = x.T @ delta, shape (n_features, units).

    With ``rows_only`` and a sparse ``x``, a `RowSparseGrad` holding just the rows of the
    features present in ``x`` (every other row of dW is zero): time and memory grow with
    the batch's nonzeros, not with n_features. Dense ``x`` always gives an array.
    """
    if isinstance(x, CSRMatrix):
        data = None if x.data is None else x.data.astype(delta.dtype, copy=False)
        if rows_only:
            if data is None:
                rows, values = kernels.spmm_t_rows_ones(x.indptr, x.indices, delta, x.shape[1])
            else:
                rows, values = kernels.spmm_t_rows(x.indptr, x.indices, data, delta,
                                                   x.shape[1])
            return RowSparseGrad(rows, values, (x.shape[1], delta.shape[1]))
        if data is None:
            return kernels.spmm_t_ones(x.indptr, x.indices, delta, x.shape[1])
        return kernels.spmm_t(x.indptr, x.indices, data, delta, x.shape[1])
    return x.T @ delta


def take_rows(x, rows, dtype):
    """The batch ``x[rows]``; a dense batch is cast to ``dtype`` (one batch at a time, so a
    large float64 input is never copied whole). ``rows`` are valid row numbers (the
    training loop's shuffle), so a sparse gather skips `CSRMatrix.take`'s checks."""
    if isinstance(x, CSRMatrix):
        return x._take_valid(np.asarray(rows, dtype=np.int64))
    return np.asarray(x[rows], dtype=dtype)


def slice_rows(x, start, stop, dtype):
    """The contiguous batch ``x[start:stop]`` (a view for dense input when dtypes agree)."""
    if isinstance(x, CSRMatrix):
        return x[start:stop]
    return np.asarray(x[start:stop], dtype=dtype)


def as_input(x):
    """Accept ``x`` as model input: a `CSRMatrix` (scipy sparse is converted, never
    densified) or a 2-D NumPy array. Returns (x, is_sparse)."""
    sparse = as_sparse_input(x)
    if sparse is not None:
        return sparse, True
    return x, False
