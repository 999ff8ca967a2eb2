"""Backward: ``dW = X.T @ delta`` for a CSR ``X``, deterministic.

How the row-sparse gradient is built, and what was measured against it: docs/performance.md,
"Backward: the weight gradient and the row-sparse gradient".
"""

import numpy as np
from numba import njit, prange

from ...memory import empty_aligned, zeros_aligned
from ._common import PREFETCH_DISTANCE, SIMD_WIDTH, _threads_for, _unsigned, _width
from ._vector import _add1, _axpy1, _prefetch

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


@njit(cache=True)
def _popcount(x):
    """Set bits of a uint64 (SWAR; LLVM turns it into one popcnt)."""
    x = x - ((x >> _unsigned(1)) & _unsigned(0x5555555555555555))
    x = (x & _unsigned(0x3333333333333333)) + ((x >> _unsigned(2)) & _unsigned(0x3333333333333333))
    x = (x + (x >> _unsigned(4))) & _unsigned(0x0F0F0F0F0F0F0F0F)
    return (x * _unsigned(0x0101010101010101)) >> _unsigned(56)


@njit(cache=True)
def _distinct_columns(indices, n_features):
    """The distinct columns of a CSR matrix, increasing, and what ranks them: a bitmap of
    the columns present (``bits``) and the number of set bits before each 64-bit word
    (``below``); column j's rank is ``below[j >> 6]`` plus the set bits of its word below
    it. O(nnz + n_features / 64): nothing of length n_features. The bitmap is set one
    nonzero at a time, in one pass over ``indices``."""
    n_words = (n_features + 63) >> 6
    bits = np.zeros(n_words, np.uint64)
    for k in range(indices.size):
        j = _unsigned(indices[k])
        bits[j >> _unsigned(6)] |= _unsigned(1) << (j & _unsigned(63))
    below = np.empty(n_words, np.uint64)
    n_cols = _unsigned(0)
    for w in range(n_words):
        below[w] = n_cols
        n_cols += _popcount(bits[w])
    rows = np.empty(n_cols, np.int32)
    r = 0
    for w in range(n_words):
        x = bits[w]
        while x != _unsigned(0):
            low = x & (~x + _unsigned(1))  # lowest set bit; its index is popcount(low - 1)
            rows[r] = np.int32(_unsigned(w) * _unsigned(64) + _popcount(low - _unsigned(1)))
            r += 1
            x ^= low
    return rows, bits, below


@njit(cache=True)
def _column_ranks(indices, bits, below, rank, k0, k1):
    """rank[k] = the rank of column indices[k] among the distinct columns, for k0 <= k < k1.
    A pass of its own: no load in it waits for a store, so the CPU overlaps many."""
    for k in range(k0, k1):
        j = _unsigned(indices[k])
        w = j >> _unsigned(6)
        rank[k] = np.uint32(below[w] + _popcount(bits[w] & ((_unsigned(1) << (j & _unsigned(63))) - _unsigned(1))))


@njit(cache=True)
def _add_delta(out_f, o, delta_f, di, units, data, k):
    """out_f[o : o + units] += delta_f[di : di + units] (times data[k] unless data is None):
    whole vector blocks of 16, then unit by unit."""
    full, one, c = units - units % _unsigned(SIMD_WIDTH), _unsigned(1), _unsigned(0)
    if data is None:
        while c < full:
            _add1(out_f, o + c, delta_f, di + c)
            c += _unsigned(SIMD_WIDTH)
        while c < units:
            out_f[o + c] += delta_f[di + c]
            c += one
    else:
        x = data[k]
        while c < full:
            _axpy1(out_f, o + c, delta_f, di + c, x)
            c += _unsigned(SIMD_WIDTH)
        while c < units:
            out_f[o + c] += x * delta_f[di + c]
            c += one


@njit(cache=True)
def _spmm_t_part(indptr, indices, data, delta, out, f0, f1, n_features, width):
    """Add every sample's delta row (times its value) into row ``indices[k]`` of ``out`` for
    each of its nonzeros k whose feature is in [f0, f1), in sample order (a dense dW).
    ``width`` is `_width(delta)`: None compiles the 16-unit loop alone."""
    n_rows = indptr.size - 1
    units = _unsigned(delta.shape[1])
    out_f, delta_f = out.reshape(-1), delta.reshape(-1)
    for i in range(n_rows):
        di = _unsigned(i) * units
        start, end = indptr[i], indptr[i + 1]
        if f0 > 0:
            start = _lower_bound(indices, start, end, f0)
        if f1 < n_features:
            end = _lower_bound(indices, start, end, f1)
        if width is None:  # the common width, 16: one vector block per nonzero
            for k in range(_unsigned(start), _unsigned(end)):
                if k + _unsigned(PREFETCH_DISTANCE) < _unsigned(end):
                    _prefetch(out_f, _unsigned(indices[k + _unsigned(PREFETCH_DISTANCE)]) * units)
                if data is None:
                    _add1(out_f, _unsigned(indices[k]) * units, delta_f, di)
                else:
                    _axpy1(out_f, _unsigned(indices[k]) * units, delta_f, di, data[k])
            continue
        for k in range(_unsigned(start), _unsigned(end)):
            _add_delta(out_f, _unsigned(indices[k]) * units, delta_f, di, units, data, k)


@njit(cache=True)
def _spmm_t_ranked(indptr, data, delta, out, rank, q0, q1, chunk, width):
    """Rows q0..q1 of the row-sparse dW: ``out[q] = sum of delta[i] (times its value) over
    the nonzeros k of sample i with rank[k] == q``, in sample order; ``out`` need not be
    zeroed. The rows are made ``chunk`` at a time (a chunk fits in L2): zeroed, then every
    sample adds its nonzeros ranked in the chunk, which lie next to each other in its sorted
    row; a cursor per sample remembers where its next chunk starts. ``width`` as in
    `_spmm_t_part`."""
    n_rows = indptr.size - 1
    units = _unsigned(delta.shape[1])
    out_f, delta_f = out.reshape(-1), delta.reshape(-1)
    cursor = np.empty(n_rows, np.int64)
    for i in range(n_rows):
        cursor[i] = _lower_bound(rank, indptr[i], indptr[i + 1], q0) if q0 > 0 else indptr[i]
    for c0 in range(q0, q1, chunk):
        c1 = min(c0 + chunk, q1)
        for q in range(_unsigned(c0) * units, _unsigned(c1) * units):
            out_f[q] = 0
        for i in range(n_rows):
            di = _unsigned(i) * units
            k, end = cursor[i], indptr[i + 1]
            while k < end and rank[k] < c1:
                if width is None:
                    if data is None:
                        _add1(out_f, _unsigned(rank[k]) * units, delta_f, di)
                    else:
                        _axpy1(out_f, _unsigned(rank[k]) * units, delta_f, di, data[k])
                else:
                    _add_delta(out_f, _unsigned(rank[k]) * units, delta_f, di, units, data, k)
                k += 1
            cursor[i] = k


@njit(cache=True)
def _spmm_t_serial(indptr, indices, data, delta, out, n_features, width):
    # f0 as an int64, not the literal 0: one compiled `_lower_bound` serves f0 and f1
    _spmm_t_part(indptr, indices, data, delta, out, np.int64(0), n_features, n_features, width)


@njit(parallel=True, cache=True)
def _spmm_t_parallel(indptr, indices, data, delta, out, n_features, n_parts, width):
    cuts = _feature_cuts(indices, n_features, n_parts)
    for p in prange(n_parts):
        _spmm_t_part(indptr, indices, data, delta, out, cuts[p], cuts[p + 1], n_features,
                     width)


@njit(cache=True)
def _rank_of(bits, below, f, n_cols):
    """The rank of feature f among the distinct columns (n_cols for f past the last word)."""
    w = _unsigned(f) >> _unsigned(6)
    if w >= _unsigned(bits.size):
        return n_cols
    return np.int64(below[w] + _popcount(bits[w] & ((_unsigned(1) << (_unsigned(f) & _unsigned(63))) - _unsigned(1))))


@njit(cache=True)
def _spmm_t_rows_serial(indptr, indices, data, delta, out, bits, below, chunk, width):
    rank = np.empty(indices.size, np.uint32)
    _column_ranks(indices, bits, below, rank, 0, indices.size)
    _spmm_t_ranked(indptr, data, delta, out, rank, np.int64(0), out.shape[0], chunk, width)


@njit(parallel=True, cache=True)
def _spmm_t_rows_parallel(indptr, indices, data, delta, out, n_features, bits, below, chunk,
                          n_parts, width):
    nnz, n_cols = indices.size, out.shape[0]
    cuts = _feature_cuts(indices, n_features, n_parts)
    rank = np.empty(nnz, np.uint32)
    for p in prange(n_parts):
        _column_ranks(indices, bits, below, rank, p * nnz // n_parts, (p + 1) * nnz // n_parts)
    for p in prange(n_parts):
        _spmm_t_ranked(indptr, data, delta, out, rank, _rank_of(bits, below, cuts[p], n_cols),
                       _rank_of(bits, below, cuts[p + 1], n_cols), chunk, width)


def _spmm_t_into(indptr, indices, data, delta, out, n_features):
    """out += X.T @ delta (a dense dW), on one thread or on feature ranges."""
    delta = np.ascontiguousarray(delta)
    threads = min(_threads_for(indices.size * delta.shape[1]), max(1, n_features))
    if threads == 1:
        _spmm_t_serial(indptr, indices, data, delta, out, n_features, _width(delta))
    else:
        _spmm_t_parallel(indptr, indices, data, delta, out, n_features, threads, _width(delta))
    return out


_CHUNK_BYTES = 1 << 19  # rows of dW made at a time by `_spmm_t_ranked`: L2's size


def spmm_t(indptr, indices, data, delta, n_features):
    """dW = X.T @ delta as a dense array, for a CSR ``X`` whose rows are sorted by column;
    ``data`` None means every value is 1. (`spmm_t_rows` gives only the rows that can be
    nonzero.)

    Each thread owns a contiguous range of ``dW`` rows, cut so that the ranges hold about
    equal numbers of nonzeros; it scans every sample row, finds its column range by binary
    search in the sorted CSR row, and adds ``delta[i]`` into its own rows in sample order.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), sorted within each row
    data : delta's dtype (nnz,) or None;  delta : float (n_rows, units);  n_features : int

    Returns
    -------
    dW : (n_features, units), delta's dtype; each row summed in sample order, so bitwise
    identical for any thread count.
    """
    dW = zeros_aligned((n_features, delta.shape[1]), delta.dtype)
    return _spmm_t_into(indptr, indices, data, delta, dW, n_features)


def spmm_t_rows(indptr, indices, data, delta, n_features):
    """The rows of dW = X.T @ delta that can be nonzero, for a CSR ``X`` (rows sorted by
    column; ``data`` None means every value is 1): (rows, values), with
    ``values[r] = dW[rows[r]]``.

    The rows of ``dW`` of features absent from ``X`` are zero and are never formed: a bitmap
    marks the features present, and a popcount of it gives each feature its rank among them,
    which is its row in ``values``. When ``X`` has at least as many nonzeros as columns,
    nearly every row is touched anyway and ``rows`` is every column (no ranking needed).
    Then as `spmm_t`, so ``values`` is bitwise ``spmm_t(...)[rows]``, for any
    thread count. Time O(nnz * units + n_features / 64), or O(nnz * units) when
    ``n_features <= nnz``.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), sorted within each row
    data : delta's dtype (nnz,) or None;  delta : float (n_rows, units);  n_features : int

    Returns
    -------
    rows : int32 (n_distinct,), the distinct columns of ``X`` (all columns when
        ``n_features <= nnz``), increasing
    values : (n_distinct, units), delta's dtype, rows 64-byte aligned
    """
    if n_features <= indices.size:  # nearly every row is touched: dense is cheaper
        rows = np.arange(n_features, dtype=np.int32)
        values = zeros_aligned((n_features, delta.shape[1]), delta.dtype)
        return rows, _spmm_t_into(indptr, indices, data, delta, values, n_features)
    delta = np.ascontiguousarray(delta)
    rows, bits, below = _distinct_columns(indices, n_features)
    values = empty_aligned((rows.size, delta.shape[1]), delta.dtype)  # zeroed chunk by chunk
    chunk = max(1, _CHUNK_BYTES // (delta.shape[1] * delta.itemsize))
    threads = min(_threads_for(indices.size * delta.shape[1]), max(1, n_features))
    if threads == 1:
        _spmm_t_rows_serial(indptr, indices, data, delta, values, bits, below, chunk,
                            _width(delta))
    else:
        _spmm_t_rows_parallel(indptr, indices, data, delta, values, n_features, bits, below,
                              chunk, threads, _width(delta))
    return rows, values
