"""`CSRMatrix`: a sparse input matrix in compressed sparse row form, validated once.

A `Dense` layer fed a `CSRMatrix` touches only its nonzeros (`nn.ops`): its products cost
O(nnz * units), not O(n_rows * n_features * units) (`nn.preprocessing.vectorize_sequences`
builds one; sizes in docs/performance.md, "Memory").

The matrix is validated when it is built, with vectorised NumPy checks; the backend's kernels
trust it from then on, so a matrix's arrays are its own copies and read-only: an edit after
validation (``m.indices[0] = 2**31 - 1``) raises ValueError instead of reaching the kernels
unchecked. Each row's column indices are kept sorted (unsorted input is sorted into a copy).
Duplicate column indices within a row are kept, and every product adds them up, exactly as
``scipy.sparse`` does.

SciPy is optional: `CSRMatrix.from_scipy` / `CSRMatrix.to_scipy` convert both ways without
densifying, and `as_sparse_input` recognises SciPy matrices without importing SciPy.
"""

import sys

import numpy as np

from . import backend

__all__ = ["CSRMatrix", "csr_matrix", "as_sparse_input"]

_INT32_MAX = np.iinfo(np.int32).max


def _int_array(name, a, what_to_do):
    """``a`` as a 1-D integer array (not yet cast); TypeError for non-integers."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"{name} must hold integers; got dtype {a.dtype}. {what_to_do}")
    return a


def _row_of(indptr, position):
    """The row holding nonzero number ``position``."""
    return int(np.searchsorted(indptr, position, side="right") - 1)


class CSRMatrix:
    """A sparse matrix in compressed sparse row form, validated once at construction.

    Row ``i`` has its nonzeros in columns ``indices[indptr[i]:indptr[i + 1]]`` (sorted), with
    values ``data[indptr[i]:indptr[i + 1]]``, or all 1 when ``data`` is None (multi-hot).

    Parameters
    ----------
    indptr : array_like of int, shape (n_rows + 1,)
        Start of each row in ``indices``, then ``nnz``; stored as int64.
    indices : array_like of int, shape (nnz,)
        Column of each nonzero, in [0, n_features); stored as int32.
    shape : (n_rows, n_features)
    data : array_like of float, shape (nnz,), optional
        Value of each nonzero (finite). None (the default) means every value is 1. Float16,
        integer and boolean values are stored as float32; float32 and float64 are kept.

    The matrix keeps its own copies of the arrays, marked read-only: an in-place edit
    (``m.indices[0] = 7``) raises ``ValueError: assignment destination is read-only``, so
    nothing changed after validation reaches the kernels, which trust it. The caller's arrays
    are always copied, never wrapped, even when their dtypes already match: their flags stay
    as they were, and later edits to them do not reach the matrix either. Slices of a matrix
    are read-only views of its arrays, `take` (and every training batch) builds new read-only
    arrays, and `to_scipy` returns writable copies.

    ``dtype`` is the dtype of ``data``, or float32 for a multi-hot matrix (what `toarray`
    gives by default).
    """

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr, indices, shape, data=None):
        shape = self._check_shape(shape)
        n_rows, n_features = shape
        if n_features - 1 > _INT32_MAX:
            raise ValueError(f"n_features must be at most {_INT32_MAX + 1} (int32 indices); "
                             f"got {n_features}")
        indptr = _int_array("indptr", indptr, "Pass row offsets as an integer array.")
        if indptr.size and indptr.dtype == np.uint64 and indptr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"indptr values must fit in int64; got {indptr.max()}")
        indptr = np.array(indptr, dtype=np.int64)
        indices = _int_array("indices", indices, "Pass column numbers as an integer array.")
        if indptr.size != n_rows + 1:
            raise ValueError(f"indptr must have n_rows + 1 = {n_rows + 1} entries for shape "
                             f"{shape}; got {indptr.size}")
        if indptr[0] != 0:
            raise ValueError(f"indptr must start at 0; got {indptr[0]}")
        if indptr[-1] != indices.size:
            raise ValueError(f"indptr must end at len(indices) = {indices.size}; got "
                             f"{indptr[-1]}")
        steps = np.diff(indptr)
        if steps.size and steps.min() < 0:
            k = int(np.argmax(steps < 0))
            raise ValueError(f"indptr must be non-decreasing; got {indptr[k]} then "
                             f"{indptr[k + 1]} at positions {k} and {k + 1}")
        if indices.size and (indices.min() < 0 or indices.max() >= n_features):
            k = int(np.argmax((indices < 0) | (indices >= n_features)))
            raise ValueError(f"indices must be in [0, {n_features}) for shape {shape}; got "
                             f"{indices[k]} at position {k} (row {_row_of(indptr, k)}). "
                             f"Check the column numbers or enlarge n_features.")
        if data is not None:
            data = self._check_data(data, indices.size, indptr)  # a copy
        if _rows_sorted(indptr, indices):
            indices = np.array(indices, dtype=np.int32)  # a copy; values checked to fit
        else:  # sorted into new arrays
            indices, data = backend.get().csr_sort_rows(
                indptr, np.ascontiguousarray(indices, dtype=np.int32), data, n_features)
        _freeze(indptr, indices, data)
        self.indptr, self.indices, self.data, self.shape = indptr, indices, data, shape

    @staticmethod
    def _check_shape(shape):
        try:
            n_rows, n_features = shape
        except (TypeError, ValueError):
            raise ValueError(f"shape must be (n_rows, n_features); got {shape!r}") from None
        for name, value in (("n_rows", n_rows), ("n_features", n_features)):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"shape must hold integers; got {name}={value!r}")
            if value < 0:
                raise ValueError(f"shape must be non-negative; got {name}={value}")
        return int(n_rows), int(n_features)

    @staticmethod
    def _check_data(data, nnz, indptr):
        data = np.asarray(data)
        if data.ndim != 1 or data.size != nnz:
            raise ValueError(f"data must have one value per nonzero, shape ({nnz},); got "
                             f"shape {data.shape}")
        if data.dtype in (np.float32, np.float64):
            data = data.copy()
        elif data.dtype == bool or np.issubdtype(data.dtype, np.integer) \
                or data.dtype == np.float16:
            data = data.astype(np.float32)
        else:
            raise TypeError(f"data must hold real numbers (float32 or float64); got dtype "
                            f"{data.dtype}")
        # NaN propagates through min and max, so they find NaN and inf without a temporary.
        if nnz and not (np.isfinite(data.min()) and np.isfinite(data.max())):
            finite = np.isfinite(data)
            if not finite.all():
                k = int(np.argmin(finite))
                raise ValueError(f"data must be finite; got {data[k]} at position {k} "
                                 f"(row {_row_of(indptr, k)})")
        return data

    @classmethod
    def _trusted(cls, indptr, indices, shape, data=None):
        """Wrap arrays already known valid, no checks, no copy: results of our own kernels,
        or views of another matrix's arrays. The matrix holds read-only views of them; the
        arrays passed keep their flags (a buffer refilled batch after batch stays writable
        to its owner)."""
        indptr, indices, data = _read_only(indptr), _read_only(indices), _read_only(data)
        m = object.__new__(cls)
        m.indptr, m.indices, m.data, m.shape = indptr, indices, data, shape
        return m

    def __getstate__(self):
        return (self.indptr, self.indices, self.data, self.shape)

    def __setstate__(self, state):
        """Unpickled (or deep-copied) arrays come back writable: read-only again."""
        indptr, indices, data, shape = state
        _freeze(indptr, indices, data)
        self.indptr, self.indices, self.data, self.shape = indptr, indices, data, shape

    # -- SciPy interop -------------------------------------------------------------------

    @classmethod
    def from_scipy(cls, m):
        """From any ``scipy.sparse`` matrix or array (other formats go through ``.tocsr()``;
        never densified). Values that are all 1 become a multi-hot matrix (``data=None``)."""
        if getattr(m, "ndim", 2) != 2:
            raise ValueError(f"expected a 2-D sparse matrix; got {m.ndim}-D")
        if getattr(m, "format", None) != "csr":
            m = m.tocsr()
        data = np.asarray(m.data)
        if data.size == 0 or (data.dtype != object and np.all(data == 1)):
            data = None
        return cls(m.indptr, m.indices, m.shape, data=data)

    @classmethod
    def from_dense(cls, a):
        """The nonzeros of a 2-D array ``a`` (finite numbers), rows sorted; values kept as
        ``a``'s float32 or float64 (other dtypes as float32), never multi-hot."""
        a = np.asarray(a)
        if a.ndim != 2:
            raise ValueError(f"expected a 2-D array; got shape {a.shape}")
        rows, cols = np.nonzero(a)
        indptr = np.zeros(a.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=a.shape[0]), out=indptr[1:])
        return cls(indptr, cols, a.shape, data=a[rows, cols])

    def to_scipy(self):
        """A ``scipy.sparse.csr_matrix`` with the same entries (multi-hot values as float32).

        Its arrays are writable copies: SciPy edits its own arrays in place (``sort_indices``,
        ``sum_duplicates``, ``m.data *= 2``), and must not reach this matrix's."""
        import scipy.sparse

        data = np.ones(self.nnz, np.float32) if self.data is None else self.data
        return scipy.sparse.csr_matrix((data, self.indices, self.indptr), shape=self.shape,
                                       copy=True)

    # -- Properties ----------------------------------------------------------------------

    @property
    def nnz(self):
        return self.indices.size

    @property
    def dtype(self):
        return np.dtype(np.float32) if self.data is None else self.data.dtype

    @property
    def is_multi_hot(self):
        return self.data is None

    @property
    def ndim(self):
        return 2

    @property
    def nbytes(self):
        data = 0 if self.data is None else self.data.nbytes
        return self.indptr.nbytes + self.indices.nbytes + data

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        kind = "multi-hot" if self.data is None else f"dtype={self.data.dtype}"
        return (f"CSRMatrix(shape={self.shape}, nnz={self.nnz:,}, {kind}, "
                f"{self.nbytes / 1e6:.1f} MB)")

    # -- Rows ----------------------------------------------------------------------------

    def take(self, rows):
        """The rows ``rows`` (integers, negatives counting from the end, or a boolean mask)
        as a new `CSRMatrix`, gathered by the backend's `gather_rows`."""
        return self._take_valid(self._row_numbers(rows))

    def _take_valid(self, rows):
        """`take` for int64 ``rows`` known to lie in [0, n_rows)."""
        indptr, indices, data = backend.get().gather_rows(self.indptr, self.indices,
                                                          self.data, rows)
        return CSRMatrix._trusted(indptr, indices, (rows.size, self.shape[1]), data)

    def _row_numbers(self, rows):
        n = self.shape[0]
        rows = np.asarray(rows)
        if rows.dtype == bool:
            if rows.shape != (n,):
                raise IndexError(f"a boolean row mask must have shape ({n},); got {rows.shape}")
            return np.flatnonzero(rows).astype(np.int64)
        if rows.ndim != 1:
            raise IndexError(f"rows must be a 1-D array of row numbers; got shape {rows.shape}")
        if rows.size == 0:
            return np.zeros(0, np.int64)
        if not np.issubdtype(rows.dtype, np.integer):
            raise TypeError(f"rows must be integers or a boolean mask; got dtype {rows.dtype}")
        lo, hi = rows.min(), rows.max()
        if lo < -n or hi >= n:
            k = int(np.argmax((rows < -n) | (rows >= n)))
            raise IndexError(f"row {rows[k]} at position {k} is out of range for {n} rows "
                             f"(valid: -{n} to {n - 1})")
        rows = rows.astype(np.int64, copy=False)
        if lo < 0:
            rows = np.where(rows < 0, rows + n, rows)
        return rows

    def __getitem__(self, key):
        if isinstance(key, tuple):
            raise TypeError("CSRMatrix supports row selection only (x[rows] or x[start:stop]); "
                            "convert with toarray() or to_scipy() for column indexing")
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                return self.take(np.arange(start, stop, step))
            stop = max(start, stop)
            lo, hi = self.indptr[start], self.indptr[stop]
            data = None if self.data is None else self.data[lo:hi]
            return CSRMatrix._trusted(self.indptr[start:stop + 1] - lo, self.indices[lo:hi],
                                      (stop - start, self.shape[1]), data)
        if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
            return self.take(np.array([key]))
        return self.take(key)

    # -- Dense ---------------------------------------------------------------------------

    def toarray(self, dtype=np.float32):
        """The dense matrix, shape (n_rows, n_features); duplicate entries are summed."""
        out = np.zeros(self.shape, dtype=dtype)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        values = 1 if self.data is None else self.data
        np.add.at(out, (rows, self.indices), values)
        return out


csr_matrix = CSRMatrix


_CHECK_CHUNK = 1 << 20  # nonzeros per step of the vectorised checks: bounded temporaries


def _freeze(*arrays):
    """Mark arrays that a matrix owns (its own copies) read-only; None is skipped."""
    for a in arrays:
        if a is not None:
            a.flags.writeable = False


def _read_only(a):
    """A read-only view of ``a`` (``a`` itself if None or already read-only)."""
    if a is None or not a.flags.writeable:
        return a
    view = a.view()
    view.flags.writeable = False
    return view


def _rows_sorted(indptr, indices):
    """Whether every row's column indices are non-decreasing (vectorised, block by block)."""
    for start in range(0, indices.size - 1, _CHECK_CHUNK):
        stop = min(start + _CHECK_CHUNK, indices.size - 1)
        drops = np.flatnonzero(indices[start + 1:stop + 1] < indices[start:stop])
        if drops.size:
            # A drop from the last entry of one row to the first of the next is allowed.
            after = drops + (start + 1)
            at = np.searchsorted(indptr, after)
            if not np.array_equal(indptr[np.minimum(at, indptr.size - 1)], after):
                return False
    return True


def as_sparse_input(x):
    """``x`` as a `CSRMatrix` if it is one or is a ``scipy.sparse`` matrix/array, else None.

    SciPy is looked up in ``sys.modules`` only: if the caller never imported it, ``x`` cannot
    be a SciPy matrix, and importing it here would slow down every process that never uses it.
    """
    if isinstance(x, CSRMatrix):
        return x
    sp = sys.modules.get("scipy.sparse")
    if sp is not None and sp.issparse(x):
        return CSRMatrix.from_scipy(x)
    return None
