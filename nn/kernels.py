"""Compiled kernels for sparse multi-hot input, and their NumPy reference twins.

A first `Dense` layer fed a multi-hot batch ``X`` (CSR, all values 1) needs two products:
``Z = X @ W + b`` forward and ``dW = X.T @ delta`` backward. Both touch one 16-float row of
``W`` (or ``dW``) per nonzero, so they cost O(nnz * units) instead of the dense
O(n_rows * n_features * units). The kernels here are ``@njit(cache=True)`` free functions over
plain arrays (CSR as ``indptr`` int64, ``indices`` int32, ``data`` or none), in the manner of
lenskit/csr: a SciPy object cannot enter compiled code, and plain arrays keep each kernel
replaceable. Every kernel ``f`` has a plain-NumPy twin ``f_reference`` with the same
signature and result, used by the property tests and the benchmark.

The kernels trust their input: `nn.sparse.CSRMatrix` validates it once, so nothing here
checks bounds. Preconditions: ``0 <= indices < n_features``, ``indptr`` non-decreasing from 0
to ``len(indices)``, and, for the ``spmm_t*`` kernels, each row's ``indices`` sorted.

Design notes (measured on a 2-vCPU AMD EPYC VM, 512 KB L2 per core, so the 640 KB ``W`` of
the IMDB model lives in L3; benchmarks/bench_kernels.py):

- Rows of ``W`` are added with an inner loop over ``units`` in blocks of at most 16, written
  with unsigned indices (``_u``). Numba wraps negative indices, so a signed ``W[j, u]``
  compiles to a per-element select that blocks vector loads; an unsigned index cannot be
  negative. The block length is capped (``m = min(units - u0, 16)`` on unsigned values) so
  that LLVM knows the loop is short and vectorizes it 8 floats at a time instead of 32, which
  would leave a 16-unit layer entirely to the scalar remainder loop. Numba switches LLVM's SLP
  vectorizer off (it miscompiled, numba PR #8852), so a fully unrolled 16-element loop stays
  scalar; the loop vectorizer is what we get. Inside a ``prange`` body numba marks
  non-aliasing arrays ``noalias``, which removes LLVM's runtime overlap checks, so the hot
  loops live there. Keep index arithmetic all-unsigned: numba types uint64 + int64 as float64.
- The forward pass adds four ``W`` rows pairwise before touching the output row, which cuts
  the loop-carried store-to-load chain through ``Z[i]`` by four (~1.9x faster than one row at
  a time). The order of the additions is fixed, so results are deterministic.
- The backward pass must be deterministic: bitwise the same on every run and for any thread
  count, so no float atomics and no per-thread partial sums whose grouping depends on the
  thread count. Each thread owns a contiguous range of ``dW`` rows (features), cut so that
  the ranges hold about equal numbers of nonzeros; it scans every sample row, finds its
  column range by binary search in the sorted CSR row, and adds ``delta[i]`` into its own
  ``dW`` rows in sample order. Every ``dW[j]`` is thus summed in sample order whatever the
  cut, so the result equals the sequential one bit for bit. Per-thread ``dW`` buffers summed
  in a fixed order, and a counting-sort transpose, were both slower (the benchmark's
  alternatives table). The public ``spmm_t*`` are thin Python wrappers that pass the thread
  count in: numba cannot cache a function that calls ``get_num_threads()`` itself.
- `multi_hot_csr` and `csr_sort_rows` sort without comparisons: a counting sort by column,
  then reading the columns back in order refills each row sorted. Linear time, and it
  compiles in a fraction of the time numba's ``np.sort`` takes.

References: lenskit/csr (numba CSR kernels with SciPy twins); PERFORMANCE.md in this repo.
"""

import numba
import numpy as np
from numba import njit, prange

_u = np.uint64  # unsigned index: numba skips the negative-index wraparound (see above)
_BLOCK = 16     # units per inner block (two AVX2 vectors of float32)

__all__ = [
    "spmm_ones", "spmm", "spmm_t_ones", "spmm_t", "gather_rows", "gather_rows_data",
    "multi_hot_csr", "rmsprop_update", "csr_sort_rows", "csr_sort_rows_data",
]


# --------------------------------------------------------------------------------------
# Forward: Z = X @ W + b
# --------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def spmm_ones(indptr, indices, W, b):
    """Z = X @ W + b for a multi-hot CSR ``X`` (all values 1).

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    W : float (n_features, units), C-contiguous;  b : float (units,)

    Returns
    -------
    Z : (n_rows, units), W's dtype. Duplicate indices in a row are added twice.
    """
    n_rows = indptr.size - 1
    units = W.shape[1]
    Z = np.empty((n_rows, units), W.dtype)
    one, four = _u(1), _u(4)
    for i in prange(n_rows):
        ii = _u(i)
        start, end = _u(indptr[i]), _u(indptr[i + 1])
        for u0 in range(0, units, _BLOCK):
            uu = _u(u0)
            m = _u(units - u0)
            if m > _u(_BLOCK):
                m = _u(_BLOCK)
            for u in range(m):
                Z[ii, uu + u] = b[uu + u]
            k = start
            while k + four <= end:  # four rows at a time, added pairwise
                j0, j1 = _u(indices[k]), _u(indices[k + one])
                j2, j3 = _u(indices[k + _u(2)]), _u(indices[k + _u(3)])
                for u in range(m):
                    c = uu + u
                    Z[ii, c] += (W[j0, c] + W[j1, c]) + (W[j2, c] + W[j3, c])
                k += four
            while k < end:
                j = _u(indices[k])
                for u in range(m):
                    Z[ii, uu + u] += W[j, uu + u]
                k += one
    return Z


def spmm_ones_reference(indptr, indices, W, b):
    """NumPy twin of `spmm_ones`."""
    n_rows = indptr.size - 1
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    Z[:] = b
    np.add.at(Z, rows, W[indices])
    return Z


@njit(parallel=True, cache=True)
def spmm(indptr, indices, data, W, b):
    """Z = X @ W + b for a CSR ``X`` with values ``data`` (nnz,). Shapes as `spmm_ones`."""
    n_rows = indptr.size - 1
    units = W.shape[1]
    Z = np.empty((n_rows, units), W.dtype)
    one, four = _u(1), _u(4)
    for i in prange(n_rows):
        ii = _u(i)
        start, end = _u(indptr[i]), _u(indptr[i + 1])
        for u0 in range(0, units, _BLOCK):
            uu = _u(u0)
            m = _u(units - u0)
            if m > _u(_BLOCK):
                m = _u(_BLOCK)
            for u in range(m):
                Z[ii, uu + u] = b[uu + u]
            k = start
            while k + four <= end:
                j0, j1 = _u(indices[k]), _u(indices[k + one])
                j2, j3 = _u(indices[k + _u(2)]), _u(indices[k + _u(3)])
                x0, x1 = data[k], data[k + one]
                x2, x3 = data[k + _u(2)], data[k + _u(3)]
                for u in range(m):
                    c = uu + u
                    Z[ii, c] += (x0 * W[j0, c] + x1 * W[j1, c]) + (x2 * W[j2, c] + x3 * W[j3, c])
                k += four
            while k < end:
                j = _u(indices[k])
                x = data[k]
                for u in range(m):
                    Z[ii, uu + u] += x * W[j, uu + u]
                k += one
    return Z


def spmm_reference(indptr, indices, data, W, b):
    """NumPy twin of `spmm`."""
    n_rows = indptr.size - 1
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    Z[:] = b
    np.add.at(Z, rows, (data[:, None] * W[indices]).astype(W.dtype, copy=False))
    return Z


# --------------------------------------------------------------------------------------
# Backward: dW = X.T @ delta, deterministic
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _feature_cuts(indices, n_features, n_parts):
    """Cut [0, n_features) into ``n_parts`` contiguous ranges holding about equally many
    nonzeros, estimated from ~1000 evenly spaced ``indices`` counted in bins of 2**shift
    features. Returns (n_parts + 1,) bounds. Only speed depends on the cut, never results."""
    cuts = np.empty(n_parts + 1, np.int64)
    for p in range(n_parts + 1):
        cuts[p] = p * n_features // n_parts
    if n_parts == 1 or indices.size == 0:
        return cuts
    shift = 0
    while (n_features - 1) >> shift >= 1024:
        shift += 1
    hist = np.zeros(((n_features - 1) >> shift) + 1, np.int64)
    step = max(1, indices.size // 1024)
    total = 0
    for k in range(0, indices.size, step):
        hist[indices[k] >> shift] += 1
        total += 1
    seen = 0
    p = 1
    for bin_ in range(hist.size):
        seen += hist[bin_]
        while p < n_parts and seen * n_parts >= p * total:
            cuts[p] = min(n_features, (bin_ + 1) << shift)
            p += 1
    return cuts


@njit(cache=True)
def _lower_bound(a, lo, hi, x):
    """First k in [lo, hi] with a[k] >= x, or hi (``a[lo:hi]`` sorted). Written so that
    LLVM can use a conditional move instead of an unpredictable branch."""
    if lo >= hi:
        return lo
    base, n = lo, hi - lo
    while n > 1:
        half = n >> 1
        if a[base + half] < x:
            base += half
        n -= half
    if a[base] < x:
        base += 1
    return base


@njit(parallel=True, cache=True)
def _spmm_t_ones(indptr, indices, delta, n_features, n_parts):
    n_rows, units = delta.shape
    dW = np.empty((n_features, units), delta.dtype)
    cuts = _feature_cuts(indices, n_features, n_parts)
    one = _u(1)
    for p in prange(n_parts):
        f0, f1 = cuts[p], cuts[p + 1]
        for j in range(_u(f0), _u(f1)):
            for u in range(_u(units)):
                dW[j, u] = 0
        for u0 in range(0, units, _BLOCK):
            uu = _u(u0)
            m = _u(units - u0)
            if m > _u(_BLOCK):
                m = _u(_BLOCK)
            for i in range(n_rows):
                ii = _u(i)
                start, end = indptr[i], indptr[i + 1]
                if f0 > 0:
                    start = _lower_bound(indices, start, end, f0)
                if f1 < n_features:
                    end = _lower_bound(indices, start, end, f1)
                k = _u(start)
                while k < _u(end):
                    j = _u(indices[k])
                    for u in range(m):
                        dW[j, uu + u] += delta[ii, uu + u]
                    k += one
    return dW


def spmm_t_ones(indptr, indices, delta, n_features):
    """dW = X.T @ delta for a multi-hot CSR ``X`` whose rows are sorted by column.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), sorted within each row
    delta : float (n_rows, units), C-contiguous;  n_features : int

    Returns
    -------
    dW : (n_features, units), delta's dtype; bitwise identical for any thread count.
    """
    # The thread count is read here: numba cannot cache a function that calls
    # get_num_threads() itself.
    n_parts = max(1, min(numba.get_num_threads(), n_features))
    return _spmm_t_ones(indptr, indices, delta, n_features, n_parts)


def spmm_t_ones_reference(indptr, indices, delta, n_features):
    """NumPy twin of `spmm_t_ones` (rows need not be sorted)."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    dW = np.zeros((n_features, delta.shape[1]), delta.dtype)
    np.add.at(dW, indices, delta[rows])
    return dW


@njit(parallel=True, cache=True)
def _spmm_t(indptr, indices, data, delta, n_features, n_parts):
    n_rows, units = delta.shape
    dW = np.empty((n_features, units), delta.dtype)
    cuts = _feature_cuts(indices, n_features, n_parts)
    one = _u(1)
    for p in prange(n_parts):
        f0, f1 = cuts[p], cuts[p + 1]
        for j in range(_u(f0), _u(f1)):
            for u in range(_u(units)):
                dW[j, u] = 0
        for u0 in range(0, units, _BLOCK):
            uu = _u(u0)
            m = _u(units - u0)
            if m > _u(_BLOCK):
                m = _u(_BLOCK)
            for i in range(n_rows):
                ii = _u(i)
                start, end = indptr[i], indptr[i + 1]
                if f0 > 0:
                    start = _lower_bound(indices, start, end, f0)
                if f1 < n_features:
                    end = _lower_bound(indices, start, end, f1)
                k = _u(start)
                while k < _u(end):
                    j = _u(indices[k])
                    x = data[k]
                    for u in range(m):
                        dW[j, uu + u] += x * delta[ii, uu + u]
                    k += one
    return dW


def spmm_t(indptr, indices, data, delta, n_features):
    """dW = X.T @ delta for a CSR ``X`` with values ``data``; as `spmm_t_ones` otherwise."""
    # The thread count is read here: numba cannot cache a function that calls
    # get_num_threads() itself.
    n_parts = max(1, min(numba.get_num_threads(), n_features))
    return _spmm_t(indptr, indices, data, delta, n_features, n_parts)


def spmm_t_reference(indptr, indices, data, delta, n_features):
    """NumPy twin of `spmm_t`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    dW = np.zeros((n_features, delta.shape[1]), delta.dtype)
    np.add.at(dW, indices, (data[:, None] * delta[rows]).astype(delta.dtype, copy=False))
    return dW


# --------------------------------------------------------------------------------------
# Row gathers (shuffled mini-batches)
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _gathered_indptr(indptr, rows):
    new_indptr = np.empty(rows.size + 1, np.int64)
    new_indptr[0] = 0
    for r in range(rows.size):
        new_indptr[r + 1] = new_indptr[r] + (indptr[rows[r] + 1] - indptr[rows[r]])
    return new_indptr


@njit(parallel=True, cache=True)
def gather_rows(indptr, indices, rows):
    """The CSR rows ``rows`` (int64, each in [0, n_rows)) as (new_indptr, new_indices)."""
    new_indptr = _gathered_indptr(indptr, rows)
    new_indices = np.empty(new_indptr[-1], indices.dtype)
    for r in prange(rows.size):
        src, dst = _u(indptr[rows[r]]), _u(new_indptr[r])
        for k in range(_u(new_indptr[r + 1]) - dst):
            new_indices[dst + k] = indices[src + k]
    return new_indptr, new_indices


def _gather_positions(indptr, rows):
    lengths = (indptr[1:] - indptr[:-1])[rows]
    new_indptr = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    positions = np.repeat(indptr[rows] - new_indptr[:-1], lengths) + np.arange(new_indptr[-1])
    return new_indptr, positions


def gather_rows_reference(indptr, indices, rows):
    """NumPy twin of `gather_rows`."""
    new_indptr, positions = _gather_positions(indptr, rows)
    return new_indptr, indices[positions]


@njit(parallel=True, cache=True)
def gather_rows_data(indptr, indices, data, rows):
    """As `gather_rows`, also gathering ``data``: (new_indptr, new_indices, new_data)."""
    new_indptr = _gathered_indptr(indptr, rows)
    new_indices = np.empty(new_indptr[-1], indices.dtype)
    new_data = np.empty(new_indptr[-1], data.dtype)
    for r in prange(rows.size):
        src, dst = _u(indptr[rows[r]]), _u(new_indptr[r])
        for k in range(_u(new_indptr[r + 1]) - dst):
            new_indices[dst + k] = indices[src + k]
            new_data[dst + k] = data[src + k]
    return new_indptr, new_indices, new_data


def gather_rows_data_reference(indptr, indices, data, rows):
    """NumPy twin of `gather_rows_data`."""
    new_indptr, positions = _gather_positions(indptr, rows)
    return new_indptr, indices[positions], data[positions]


# --------------------------------------------------------------------------------------
# Building and sorting CSR
# --------------------------------------------------------------------------------------

@njit(cache=True)
def multi_hot_csr(tokens, offsets, dimension):
    """Multi-hot CSR rows from ragged token sequences, in one compiled call.

    Row ``i`` holds the distinct tokens of ``tokens[offsets[i]:offsets[i + 1]]`` that lie in
    [0, dimension), sorted. Tokens outside that range are dropped here; the public wrapper
    (`nn.sparse.vectorize_sequences`) rejects them before calling this.

    No comparison sort: a counting sort lists each token's rows (in row order), and reading
    the tokens back in increasing order refills the rows already sorted; a row repeated
    within one token's list is a duplicate and is skipped. O(n_tokens + dimension + n_rows).

    Parameters
    ----------
    tokens : int32 (n_tokens,);  offsets : int64 (n_rows + 1,);  dimension : int

    Returns
    -------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    """
    n_rows = offsets.size - 1
    colptr = np.zeros(dimension + 1, np.int64)
    for k in range(tokens.size):
        t = tokens[k]
        if 0 <= t < dimension:
            colptr[t + 1] += 1
    for t in range(dimension):
        colptr[t + 1] += colptr[t]
    rows = np.empty(colptr[dimension], np.int32)  # each token's rows, in row order
    fill = colptr[:-1].copy()
    for i in range(n_rows):
        for k in range(offsets[i], offsets[i + 1]):
            t = tokens[k]
            if 0 <= t < dimension:
                rows[fill[t]] = i
                fill[t] += 1
    indptr = np.zeros(n_rows + 1, np.int64)
    for t in range(dimension):
        previous = -1
        for p in range(colptr[t], colptr[t + 1]):
            if rows[p] != previous:
                previous = rows[p]
                indptr[previous + 1] += 1
    for i in range(n_rows):
        indptr[i + 1] += indptr[i]
    indices = np.empty(indptr[n_rows], np.int32)
    fill = indptr[:-1].copy()
    for t in range(dimension):
        previous = -1
        for p in range(colptr[t], colptr[t + 1]):
            if rows[p] != previous:
                previous = rows[p]
                indices[fill[previous]] = t
                fill[previous] += 1
    return indptr, indices


def multi_hot_csr_reference(tokens, offsets, dimension):
    """NumPy twin of `multi_hot_csr`."""
    n_rows = offsets.size - 1
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(offsets))
    tokens = tokens.astype(np.int64)
    keep = (tokens >= 0) & (tokens < dimension)
    keys = np.unique(rows[keep] * dimension + tokens[keep])
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(keys // dimension, minlength=n_rows), out=indptr[1:])
    return indptr, (keys % dimension).astype(np.int32)


@njit(cache=True)
def _row_order(indptr, indices, n_cols):
    """Positions of the nonzeros in (row, column) order, stable: a counting sort by column,
    then by row. The argsort of a CSR whose rows are unsorted, in O(nnz + n_cols + n_rows)."""
    n_rows = indptr.size - 1
    colptr = np.zeros(n_cols + 1, np.int64)
    for k in range(indices.size):
        colptr[indices[k] + 1] += 1
    for j in range(n_cols):
        colptr[j + 1] += colptr[j]
    by_column = np.empty(indices.size, np.int64)  # positions, by column then row
    row_of = np.empty(indices.size, np.int64)
    fill = colptr[:-1].copy()
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            p = fill[indices[k]]
            by_column[p] = k
            row_of[p] = i
            fill[indices[k]] += 1
    order = np.empty(indices.size, np.int64)
    fill = indptr[:-1].copy()
    for p in range(indices.size):
        i = row_of[p]
        order[fill[i]] = by_column[p]
        fill[i] += 1
    return order


@njit(cache=True)
def csr_sort_rows(indptr, indices, n_cols):
    """A copy of ``indices`` with each CSR row sorted by column (``indices < n_cols``)."""
    return indices[_row_order(indptr, indices, n_cols)]


def csr_sort_rows_reference(indptr, indices, n_cols):
    """NumPy twin of `csr_sort_rows`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    return indices[np.lexsort((indices, rows))]


@njit(cache=True)
def csr_sort_rows_data(indptr, indices, data, n_cols):
    """Copies of ``indices`` and ``data`` with each row sorted by column; stable, so equal
    columns (duplicates) keep their order."""
    order = _row_order(indptr, indices, n_cols)
    return indices[order], data[order]


def csr_sort_rows_data_reference(indptr, indices, data, n_cols):
    """NumPy twin of `csr_sort_rows_data`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = np.lexsort((indices, rows))
    return indices[order], data[order]


# --------------------------------------------------------------------------------------
# Optimizer step
# --------------------------------------------------------------------------------------

@njit(parallel=True, cache=True)
def rmsprop_update(w, g, v, learning_rate, rho, epsilon):
    """One fused, in-place Keras 3 RMSprop step over contiguous arrays of one shape and dtype:

        v <- rho * v + (1 - rho) * g**2
        w <- w - learning_rate * g / sqrt(v + epsilon)      (epsilon inside the root)

    All arithmetic is in the arrays' dtype, in Keras's order, so it matches
    `rmsprop_update_reference` (and Keras) to the last bit.
    """
    consts = np.empty(4, w.dtype)  # the scalars, rounded to the arrays' dtype like Keras
    consts[0] = learning_rate
    consts[1] = rho
    consts[2] = 1.0 - rho
    consts[3] = epsilon
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    w1, g1, v1 = w.reshape(-1), g.reshape(-1), v.reshape(-1)
    for k in prange(w1.size):
        gk = g1[k]
        vk = r * v1[k] + one_minus_r * (gk * gk)
        v1[k] = vk
        w1[k] -= (lr * gk) / np.sqrt(vk + eps)


def rmsprop_update_reference(w, g, v, learning_rate, rho, epsilon):
    """NumPy twin of `rmsprop_update` (in place)."""
    dt = w.dtype.type
    lr, r, one_minus_r, eps = dt(learning_rate), dt(rho), dt(1.0 - rho), dt(epsilon)
    v *= r
    v += one_minus_r * (g * g)
    w -= (lr * g) / np.sqrt(v + eps)
