"""The one place where a layer's matrix products meet their input type.

A `Dense` layer computes ``z = x @ W + b`` forward and ``dW = x.T @ delta`` backward. ``x``
is either a dense NumPy batch (BLAS does the work) or a sparse `nn.sparse.CSRMatrix`
(numba kernels in `nn.kernels` do it, touching only the nonzeros). Layers, models and the
training loop call these functions and never look at the input type themselves.
"""

import numpy as np

from . import kernels
from .sparse import CSRMatrix, RowSparseGrad, as_sparse_input


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
