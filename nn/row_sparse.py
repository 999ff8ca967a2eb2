"""`RowSparseGrad`: a weight gradient that is zero outside some rows.

A `Dense` layer fed a sparse batch has the weight gradient ``dW = x.T @ dz``, whose row j is
zero for every feature j absent from the batch. Stored as just the other rows, a
2**20-feature layer's gradient costs what the batch costs, and the optimizers update just
those rows (`nn.optimizers`).

The numba backend may hand over such a gradient unformed, as the product ``x.T @ dz`` it is
(`RowSparseGrad.of_product`): RMSprop then takes its step from the product, row by row,
without the gradient ever being written to memory; anything else that reads ``values`` gets
them formed on first use, the same numbers.
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

    ``product`` is None, or for a gradient made by `of_product` the factors
    ``(indptr, indices, data, delta)`` of ``dW = X.T @ delta`` (X a CSR matrix, ``data`` None
    when multi-hot), which an optimizer may step from directly.
    """

    __slots__ = ("rows", "_values", "shape", "product", "_form")

    def __init__(self, rows, values, shape):
        self.rows, self._values, self.shape = rows, values, tuple(shape)
        self.product, self._form = None, None

    @classmethod
    def of_product(cls, rows, shape, product, form):
        """A gradient whose ``values`` are ``form()``, called on first use (never, when the
        optimizer steps from ``product``, the factors ``(indptr, indices, data, delta)`` of
        ``X.T @ delta`` restricted to ``rows``). The factors must not change afterwards."""
        g = cls(rows, None, shape)
        g.product, g._form = product, form
        return g

    @property
    def values(self):
        """The gradient's rows, (n_rows, units); formed now if they were not yet."""
        if self._values is None:
            self._values, self._form = self._form(), None
        return self._values

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
