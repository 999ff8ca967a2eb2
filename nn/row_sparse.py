"""`RowSparseGrad`: a weight gradient that is zero outside some rows.

A `Dense` layer fed a sparse batch has the weight gradient ``dW = x.T @ dz``, whose row j is
zero for every feature j absent from the batch. Stored as just the other rows, a
2**20-feature layer's gradient costs what the batch costs, and the optimizers update just
those rows (`nn.optimizers`).
"""

import numpy as np


class RowSparseGrad:
    """A gradient that is zero outside some rows: ``dW[rows] = values``, every other row 0.

    Parameters
    ----------
    rows : int32 array (n_rows,), distinct, increasing
    values : array (n_rows, units), the gradient's rows
    shape : (n_features, units), the shape of the dense gradient

    ``np.asarray(g)`` (and any NumPy function given ``g``) sees the dense array, so code
    written for dense gradients keeps working: ``np.linalg.norm(g)``, ``g - dW``. For the
    same reason `copy` returns a dense array; `toarray` says so explicitly.
    """

    __slots__ = ("rows", "values", "shape")

    def __init__(self, rows, values, shape):
        self.rows, self.values, self.shape = rows, values, tuple(shape)

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def ndim(self):
        return 2

    @property
    def size(self):
        return self.shape[0] * self.shape[1]

    def toarray(self):
        """The dense gradient, shape (n_features, units)."""
        out = np.zeros(self.shape, self.values.dtype)
        out[self.rows] = self.values
        return out

    def copy(self):
        """A dense copy (as `toarray`), like ``ndarray.copy`` of the dense gradient."""
        return self.toarray()

    def __array__(self, dtype=None, copy=None):
        dense = self.toarray()
        return dense if dtype is None else dense.astype(dtype, copy=False)

    def __repr__(self):
        return (f"RowSparseGrad(shape={self.shape}, rows={self.rows.size:,}, "
                f"dtype={self.values.dtype})")
