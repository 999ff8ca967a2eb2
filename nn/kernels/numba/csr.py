"""Building and sorting CSR matrices, by counting sorts (linear time, no comparisons)."""

import numpy as np
from numba import njit

@njit(cache=True)
def multi_hot_csr(tokens, offsets, dimension):
    """Multi-hot CSR rows from ragged token sequences, in one compiled call.

    Row ``i`` holds the distinct tokens of ``tokens[offsets[i]:offsets[i + 1]]`` that lie in
    [0, dimension), sorted. Tokens outside that range are dropped here; the public wrapper
    (`nn.preprocessing.vectorize_sequences`) rejects them before calling this.

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
def _sort_rows(indptr, indices, n_cols):
    return indices[_row_order(indptr, indices, n_cols)]


@njit(cache=True)
def _sort_rows_data(indptr, indices, data, n_cols):
    order = _row_order(indptr, indices, n_cols)
    return indices[order], data[order]


def csr_sort_rows(indptr, indices, data, n_cols):
    """Copies of ``indices`` (int32, each < ``n_cols``) and ``data`` (or None) with each CSR
    row sorted by column: (indices, data). Stable, so equal columns (duplicates) keep their
    order."""
    if data is None:
        return _sort_rows(indptr, indices, n_cols), None
    return _sort_rows_data(indptr, indices, data, n_cols)


@njit(cache=True)
def _radix_sort(keys, values, carry, lo, hi, key_scratch, value_scratch, count, n_bits):
    """Sort ``keys[lo:hi]`` (non-negative, below 2**n_bits) in place, stable, by an LSD radix
    sort on bytes; with ``carry``, ``values[lo:hi]`` move with their keys."""
    n = hi - lo
    src, dst = keys[lo:hi], key_scratch[:n]
    src_v, dst_v = values[lo:hi], value_scratch[:n]  # empty unless carry
    shift, passes = 0, 0
    while shift < n_bits:
        count[:] = 0
        for k in range(n):
            count[((src[k] >> shift) & 255) + 1] += 1
        for d in range(256):
            count[d + 1] += count[d]
        for k in range(n):
            d = (src[k] >> shift) & 255
            dst[count[d]] = src[k]
            if carry:
                dst_v[count[d]] = src_v[k]
            count[d] += 1
        src, dst = dst, src
        src_v, dst_v = dst_v, src_v
        shift += 8
        passes += 1
    if passes % 2:  # the sorted run is in the scratch: copy it back
        for k in range(n):
            keys[lo + k] = src[k]
            if carry:
                values[lo + k] = src_v[k]
