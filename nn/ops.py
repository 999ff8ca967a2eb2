"""The products of a `Dense` layer, for any input: the one place that tells sparse from dense.

A layer computes ``z = x @ W + b`` forward and ``dW = x.T @ dz`` backward. ``x`` is a sparse
`nn.sparse.CSRMatrix` (the backend's sparse primitives touch only its nonzeros) or a dense
NumPy array (NumPy does the product). Layers and the training loop call these functions and
never look at the input type, as scikit-learn's ``safe_sparse_dot``.
"""

import numpy as np

from . import backend
from .row_sparse import RowSparseGrad
from .sparse import CSRMatrix, as_sparse_input


def check_shapes(x, W, b=None, a=None, da=None):
    """ValueError unless ``x @ W + b`` (and, given, the output ``a`` and dL/da ``da``) fit:
    the backends' kernels trust their input, so a mismatch must be caught here."""
    units = W.shape[1]
    if x.ndim != 2 or x.shape[1] != W.shape[0] or (b is not None and b.shape != (units,)):
        raise ValueError(f"shapes do not fit x @ W + b: x {x.shape}, W {W.shape}"
                         + ("" if b is None else f", b {b.shape}"))
    if a is not None and not (a.shape == da.shape == (x.shape[0], units)):
        raise ValueError(f"dL/da has shape {da.shape} and the layer's output {a.shape}; both "
                         f"must be (n_samples, units) = {(x.shape[0], units)} (a 1-D target y "
                         "against (n, 1) outputs broadcasts to (n, n): pass y as (n, 1))")


def affine(x, W, b):
    """z = x @ W + b, shape (n_samples, units), W's dtype."""
    if isinstance(x, CSRMatrix):
        return backend.get().spmm(x.indptr, x.indices, _values(x, W.dtype), W, b)
    return x @ W + b


def weight_grad(x, dz, rows_only=True):
    """dW = x.T @ dz, shape (n_features, units).

    For a sparse ``x`` with ``rows_only`` (the default), a `RowSparseGrad` holding just the
    rows of the features present in ``x`` (every other row of dW is zero): time and memory
    grow with the batch's nonzeros, not with n_features. Otherwise an array.
    """
    if not isinstance(x, CSRMatrix):
        return x.T @ dz
    B, values = backend.get(), _values(x, dz.dtype)
    if rows_only:
        rows, dW_rows = B.spmm_t_rows(x.indptr, x.indices, values, dz, x.shape[1])
        return RowSparseGrad(rows, dW_rows, (x.shape[1], dz.shape[1]))
    return B.spmm_t(x.indptr, x.indices, values, dz, x.shape[1])


def input_grad(x, dz, W):
    """dx = dz @ W.T, the gradient with respect to the layer's input, shape (n_samples,
    n_features). For a sparse ``x``, only at the features ``x`` holds: a `CSRMatrix` with
    ``x``'s rows and columns whose values are dL/dx there (training never needs it: the first
    layer skips dx)."""
    if not isinstance(x, CSRMatrix):
        return dz @ W.T
    dz, W = np.ascontiguousarray(dz, dtype=W.dtype), np.ascontiguousarray(W)
    values = backend.get().sampled_product(x.indptr, x.indices, dz, W)
    return CSRMatrix._trusted(x.indptr, x.indices, x.shape, values)


def _values(x, dtype):
    """The values of a sparse ``x`` as ``dtype``, or None for a multi-hot matrix."""
    return None if x.data is None else x.data.astype(dtype, copy=False)


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
