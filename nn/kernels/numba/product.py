"""The rows of an unformed sparse product ``g = X.T @ delta``, one at a time.

An optimizer that steps from the product (`rmsprop.rmsprop_update_product`,
`adam.adam_update_product`) never writes the weight gradient: it groups X's nonzeros by column
(`_by_columns`), sums each row of ``g`` into a buffer of one row (`_column_sum`), in the order
`backward.spmm_t` sums it (so the same bits), and steps that row at once. `_row_cuts` deals
the rows to threads.
"""

import numpy as np
from numba import njit

from ._common import SIMD_WIDTH, _unsigned
from ._vector import _add1, _add4_in_order, _axpy1


@njit(cache=True)
def _by_columns(indptr, indices, n_features):
    """The nonzeros of a CSR matrix grouped by column, a stable counting sort: nonzeros
    ``column_ptr[j]:column_ptr[j + 1]`` of ``order`` (positions in ``indices``) and
    ``samples`` (their rows) are column j's, in row order."""
    nnz = indices.size
    column_ptr = np.zeros(n_features + 1, np.int64)
    for k in range(nnz):
        column_ptr[_unsigned(indices[k]) + _unsigned(1)] += 1
    for j in range(n_features):
        column_ptr[j + 1] += column_ptr[j]
    fill = column_ptr[:-1].copy()
    samples = np.empty(nnz, np.int32)
    order = np.empty(nnz, np.int64)
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            j = _unsigned(indices[k])
            p = fill[j]
            samples[p] = i
            order[p] = k
            fill[j] = p + 1
    return column_ptr, samples, order


@njit(cache=True)
def _column_sum(g, j, column_ptr, samples, order, data, delta_f, units):
    """g[:] = row j of X.T @ delta: the delta rows of column j's samples (times their values
    unless ``data`` is None) added in row order, as `spmm_t` adds them, four at a time where
    the width is whole vector blocks (`_add4_in_order` rounds as four single adds)."""
    U = _unsigned(units)
    full, four = U - U % _unsigned(SIMD_WIDTH), _unsigned(4)
    for c in range(units):
        g[c] = 0
    p, end = _unsigned(column_ptr[j]), _unsigned(column_ptr[j + 1])
    if data is None and full == U:
        while p + four <= end:
            o0, o1 = _unsigned(samples[p]) * U, _unsigned(samples[p + _unsigned(1)]) * U
            o2, o3 = (_unsigned(samples[p + _unsigned(2)]) * U,
                      _unsigned(samples[p + _unsigned(3)]) * U)
            c = _unsigned(0)
            while c < U:
                _add4_in_order(g, c, delta_f, o0 + c, o1 + c, o2 + c, o3 + c)
                c += _unsigned(SIMD_WIDTH)
            p += four
    while p < end:
        o, c = _unsigned(samples[p]) * U, _unsigned(0)
        if data is None:
            while c < full:
                _add1(g, c, delta_f, o + c)
                c += _unsigned(SIMD_WIDTH)
            while c < U:
                g[c] += delta_f[o + c]
                c += _unsigned(1)
        else:
            x = data[order[p]]
            while c < full:
                _axpy1(g, c, delta_f, o + c, x)
                c += _unsigned(SIMD_WIDTH)
            while c < U:
                g[c] += x * delta_f[o + c]
                c += _unsigned(1)
        p += _unsigned(1)


_ROW_COST = 4  # a row's step costs about as much as adding this many delta rows into it


@njit(cache=True)
def _row_cuts(column_ptr, n_parts):
    """Cut the rows into ``n_parts`` contiguous ranges of about equal work, each row costing
    its nonzeros plus `_ROW_COST`: (n_parts + 1,) bounds. Only speed depends on the cut."""
    n = column_ptr.size - 1
    total = column_ptr[n] + _ROW_COST * n
    cuts = np.empty(n_parts + 1, np.int64)
    cuts[0], cuts[n_parts] = 0, n
    j = 0
    for p in range(1, n_parts):
        while j < n and (column_ptr[j] + _ROW_COST * j) * n_parts < p * total:
            j += 1
        cuts[p] = j
    return cuts
