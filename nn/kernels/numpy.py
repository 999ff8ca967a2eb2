"""The NumPy backend: every sparse primitive `nn` needs, written as the math in plain NumPy.

This is the readable twin of the numba backend (`nn.kernels.numba`), with the same function
names, arguments and results (up to float rounding: sums may run in another order). It
imports nothing but NumPy, so `nn` runs where numba is not installed (``NN_BACKEND=numpy``),
and a learner can step through every line in a debugger. Layers, losses and optimizers keep
their own formulas in their own files; this module only holds what touches a sparse matrix.

A CSR matrix ``X`` of shape (n_rows, n_features) is three arrays: ``indptr`` int64
(n_rows + 1,), ``indices`` int32 (nnz,) and ``data`` (nnz,), or ``data=None`` when every value
is 1 (multi-hot). Row ``i`` holds the nonzeros ``indptr[i]:indptr[i + 1]``. The functions
trust their input (`nn.sparse.CSRMatrix` validates it once) and never modify it.
"""

import numpy as np

fused = None  # no fused calls: layers, losses and optimizers run their own NumPy formulas


def _row_of_each_nonzero(indptr):
    """The row number of every nonzero, shape (nnz,): ``i`` repeated ``len(row i)`` times."""
    return np.repeat(np.arange(indptr.size - 1), np.diff(indptr))


def _values(indices, data, dtype):
    """Every nonzero's value as ``dtype``: ``data``, or ones for a multi-hot matrix."""
    return np.ones(indices.size, dtype) if data is None else data.astype(dtype, copy=False)


def spmm(indptr, indices, data, W, b):
    """Z = X @ W + b: row i of Z is b plus the rows of W named in row i of X, each times its
    value. Returns (n_rows, units) in W's dtype."""
    terms = W[indices] * _values(indices, data, W.dtype)[:, None]  # one row of W per nonzero
    Z = np.empty((indptr.size - 1, W.shape[1]), W.dtype)
    Z[:] = b
    # Sum each row's terms: reduceat adds terms[start:next start]; an empty row has none.
    filled = np.diff(indptr) > 0
    if filled.any():
        Z[filled] += np.add.reduceat(terms, indptr[:-1][filled], axis=0)
    return Z


def spmm_t(indptr, indices, data, delta, n_features):
    """dW = X.T @ delta as a dense (n_features, units) array in delta's dtype: row j of dW
    is the sum of ``x_ij * delta[i]`` over the nonzeros (i, j) of column j."""
    return _scatter_rows(indptr, indices, data, delta, indices, n_features)


def spmm_t_rows(indptr, indices, data, delta, n_features):
    """The rows of dW = X.T @ delta that can be nonzero: (rows, values) with
    ``values[r] = dW[rows[r]]``. ``rows`` (int32, increasing) are the distinct columns of X,
    or every column when X has at least as many nonzeros as columns (as the numba backend
    chooses)."""
    if n_features <= indices.size:
        rows = np.arange(n_features, dtype=np.int32)
        return rows, _scatter_rows(indptr, indices, data, delta, indices, n_features)
    rows, rank = np.unique(indices, return_inverse=True)  # rank: each nonzero's row of values
    return rows.astype(np.int32), _scatter_rows(indptr, indices, data, delta, rank, rows.size)


def _scatter_rows(indptr, indices, data, delta, target, n_targets):
    """out[t] = sum of x_ij * delta[i] over the nonzeros whose ``target`` is t, shape
    (n_targets, units): one bincount per unit (a scatter-add, summed in float64)."""
    i = _row_of_each_nonzero(indptr)
    x = _values(indices, data, np.float64)
    out = np.empty((n_targets, delta.shape[1]), delta.dtype)
    for u in range(delta.shape[1]):
        out[:, u] = np.bincount(target, weights=x * delta[i, u], minlength=n_targets)
    return out


def sampled_product(indptr, indices, A, B):
    """The entries of ``A @ B.T`` at the nonzeros of X: ``out[k] = A[i] . B[indices[k]]`` for
    every nonzero k of row i (a sampled dense-dense product). A (n_rows, units), B
    (n_cols, units) of one dtype; returns (nnz,) in that dtype. With A = dL/dz and B = W it is
    dL/dx at the features X holds."""
    return np.einsum("ku,ku->k", A[_row_of_each_nonzero(indptr)], B[indices])


def gather_rows(indptr, indices, data, rows):
    """The CSR rows ``rows`` (int64, in [0, n_rows)) in that order: (indptr, indices, data),
    ``data`` None when the input's is."""
    lengths = np.diff(indptr)[rows]
    new_indptr = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    # Position of each new nonzero in the old arrays: its row's old start plus its offset.
    offset = np.arange(new_indptr[-1]) - np.repeat(new_indptr[:-1], lengths)
    positions = np.repeat(indptr[rows], lengths) + offset
    return new_indptr, indices[positions], None if data is None else data[positions]


def multi_hot_csr(tokens, offsets, dimension):
    """Multi-hot CSR rows from ragged token sequences: row i holds the distinct tokens of
    ``tokens[offsets[i]:offsets[i + 1]]`` in [0, dimension), sorted. Returns (indptr
    int64, indices int32)."""
    rows = _row_of_each_nonzero(offsets)
    tokens = tokens.astype(np.int64)
    keep = (tokens >= 0) & (tokens < dimension)
    keys = np.unique(rows[keep] * dimension + tokens[keep])  # (row, token), sorted, once each
    return _csr_from_keys(keys, offsets.size - 1, dimension)


def _csr_from_keys(keys, n_rows, n_cols):
    """CSR (indptr, indices) of the sorted distinct keys ``row * n_cols + column``."""
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(keys // n_cols, minlength=n_rows), out=indptr[1:])
    return indptr, (keys % n_cols).astype(np.int32)


def csr_sort_rows(indptr, indices, data, n_cols):
    """Copies of ``indices`` and ``data`` (or None) with each row sorted by column, stable:
    duplicate columns keep their order. ``n_cols`` is unused here (the numba backend's
    counting sort needs it)."""
    order = np.lexsort((indices, _row_of_each_nonzero(indptr)))  # by row, then column
    return indices[order], None if data is None else data[order]


def csr_renumber_columns(indptr, indices, data, columns):
    """A CSR with column j renamed ``columns[j]`` and dropped where that is negative, each
    row sorted again (stable): (indptr, indices, data or None)."""
    rows = _row_of_each_nonzero(indptr)
    new = columns[indices].astype(np.int64)
    keep = new >= 0
    rows, new = rows[keep], new[keep]
    order = np.lexsort((new, rows))
    out_indptr = np.zeros(indptr.size, np.int64)
    np.cumsum(np.bincount(rows, minlength=indptr.size - 1), out=out_indptr[1:])
    out_data = None if data is None else data[keep][order]
    return out_indptr, new[order].astype(np.int32), out_data


_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, splitmix64's increment


def _splitmix64(x):
    """splitmix64's output function of uint64 ``x`` (elementwise; wraps modulo 2**64)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def ngram_hash(tokens, start, n):
    """The 64-bit hash of the n-gram ``tokens[start:start + n]``: ``h = splitmix64(n)``, then
    ``h = splitmix64(h ^ t)`` for each token t in order. An int in [0, 2**64)."""
    h = _splitmix64(np.uint64(n))
    for t in tokens[start:start + n]:
        h = _splitmix64(h ^ np.uint64(t))
    return int(h)


def hashed_ngrams_csr(tokens, offsets, n_min, n_max, n_features):
    """Multi-hot CSR of the hashed n-grams of ragged token sequences: row i has a 1 in column
    ``ngram_hash(g) & (n_features - 1)`` for every n-gram g of ``n_min <= n <= n_max``
    consecutive tokens of sequence i (never spanning two). Returns (indptr, indices)."""
    n_rows = offsets.size - 1
    row_of = _row_of_each_nonzero(offsets)
    t = tokens.astype(np.uint64)
    keys = [np.zeros(0, np.int64)]
    for n in range(n_min, n_max + 1):
        starts = np.arange(max(0, tokens.size - n + 1))
        starts = starts[row_of[starts] == row_of[starts + n - 1]]  # within one sequence
        h = _splitmix64(np.full(starts.size, n, np.uint64))  # every n-gram at once
        for q in range(n):
            h = _splitmix64(h ^ t[starts + q])
        cols = (h & np.uint64(n_features - 1)).astype(np.int64)
        keys.append(row_of[starts] * n_features + cols)
    return _csr_from_keys(np.unique(np.concatenate(keys)), n_rows, n_features)
