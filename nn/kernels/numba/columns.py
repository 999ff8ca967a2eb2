"""Renumbering the columns of a CSR matrix: relabel, drop, and sort each row again.

`nn.preprocessing.renumber_columns` moves the columns of hashed n-gram features so that the
most frequent come first (`nn.preprocessing.frequency_order`); the kernels here apply any
such map: column ``j`` becomes ``columns[j]``, or is dropped where ``columns[j] < 0``. The
new columns of a row come out in the old order, so each row is sorted again (the forward and
backward kernels need sorted rows), by an LSD radix sort on bytes in scratch memory the size
of one row, not of the matrix (docs/performance.md, "CSR building, renumbering and n-grams").
The sort is stable, so duplicate columns keep their order and their values. Rows are
independent: they are renumbered in parallel, with the same result for any thread count.
"""

import numba
import numpy as np
from numba import njit, prange

from .csr import _radix_sort


@njit(cache=True)
def _kept_per_row(indptr, indices, columns):
    """Entries of each row whose new column is not negative."""
    n_rows = indptr.size - 1
    counts = np.zeros(n_rows, np.int64)
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            if columns[indices[k]] >= 0:
                counts[i] += 1
    return counts


@njit(cache=True)
def _renumber_rows(indptr, indices, data, carry, columns, out_indptr, out_indices, out_data,
                   n_bits, r0, r1):
    """Rows r0..r1: write each kept entry's new column (and value) at ``out_indptr[i]:``,
    then sort the row."""
    longest = 0
    for i in range(r0, r1):
        longest = max(longest, out_indptr[i + 1] - out_indptr[i])
    key_scratch = np.empty(longest, np.int32)
    value_scratch = np.empty(longest if carry else 0, out_data.dtype)
    count = np.empty(257, np.int64)
    for i in range(r0, r1):
        p = out_indptr[i]
        for k in range(indptr[i], indptr[i + 1]):
            c = columns[indices[k]]
            if c >= 0:
                out_indices[p] = c
                if carry:
                    out_data[p] = data[k]
                p += 1
        _radix_sort(out_indices, out_data, carry, out_indptr[i], p, key_scratch,
                    value_scratch, count, n_bits)


@njit(parallel=True, cache=True)
def _renumber(indptr, indices, data, carry, columns, out_indptr, out_indices, out_data,
              n_bits, n_parts):
    n_rows = indptr.size - 1
    for p in prange(n_parts):
        _renumber_rows(indptr, indices, data, carry, columns, out_indptr, out_indices,
                       out_data, n_bits, p * n_rows // n_parts, (p + 1) * n_rows // n_parts)


def csr_renumber_columns(indptr, indices, data, columns):
    """A CSR with column ``j`` renamed ``columns[j]`` (dropped where negative), each row
    sorted again; ``data`` (float32 or float64, or None for multi-hot) moves with its
    columns, and equal columns keep their order.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), in [0, n_cols)
    data : (nnz,) or None;  columns : int32 (n_cols,), the new column of each, or -1 to drop

    Returns
    -------
    indptr : int64 (n_rows + 1,);  indices : int32 (kept,), each row sorted;  data or None
    """
    threads = numba.get_num_threads()
    n_parts = 1 if threads == 1 else 8 * threads  # rows differ in length: several per thread
    counts = _kept_per_row(indptr, indices, columns)
    out_indptr = np.zeros(indptr.size, np.int64)
    np.cumsum(counts, out=out_indptr[1:])
    out_indices = np.empty(out_indptr[-1], np.int32)
    carry = data is not None
    out_data = np.empty(out_indptr[-1] if carry else 0, data.dtype if carry else np.float32)
    n_bits = max(0, int(columns.max(initial=0))).bit_length()  # keys < 2**n_bits
    _renumber(indptr, indices, out_data if data is None else data, carry, columns, out_indptr,
              out_indices, out_data, n_bits, n_parts)
    return out_indptr, out_indices, out_data if carry else None
