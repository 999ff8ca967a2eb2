"""Row gathers (shuffled mini-batches) of a CSR matrix."""

import numpy as np
from numba import njit, prange

from ._common import _threads_for, _unsigned

_WORK_PER_VALUE = 16  # a copied value weighs as much as one nonzero of a 16-unit layer

@njit(cache=True)
def _gathered_indptr(indptr, rows):
    new_indptr = np.empty(rows.size + 1, np.int64)
    new_indptr[0] = 0
    for r in range(rows.size):
        new_indptr[r + 1] = new_indptr[r] + (indptr[rows[r] + 1] - indptr[rows[r]])
    return new_indptr


@njit(cache=True)
def _gather_part(indptr, values, rows, new_indptr, out, r0, r1):
    for r in range(r0, r1):
        src, dst = _unsigned(indptr[rows[r]]), _unsigned(new_indptr[r])
        for k in range(_unsigned(new_indptr[r + 1]) - dst):
            out[dst + k] = values[src + k]


@njit(cache=True)
def _gather_serial(indptr, values, rows, new_indptr):
    out = np.empty(new_indptr[-1], values.dtype)
    _gather_part(indptr, values, rows, new_indptr, out, 0, rows.size)
    return out


@njit(parallel=True, cache=True)
def _gather_parallel(indptr, values, rows, new_indptr, n_parts):
    out = np.empty(new_indptr[-1], values.dtype)
    n = rows.size
    for p in prange(n_parts):
        _gather_part(indptr, values, rows, new_indptr, out, p * n // n_parts,
                     (p + 1) * n // n_parts)
    return out


def _gather(indptr, values, rows, new_indptr):
    """``values`` (indices or data) of the CSR rows ``rows``, laid out by ``new_indptr``."""
    threads = _threads_for(int(new_indptr[-1]) * _WORK_PER_VALUE)
    if threads == 1:
        return _gather_serial(indptr, values, rows, new_indptr)
    return _gather_parallel(indptr, values, rows, new_indptr, 4 * threads)


def gather_rows(indptr, indices, data, rows):
    """The CSR rows ``rows`` (int64, each in [0, n_rows)), in that order: (new_indptr,
    new_indices, new_data), ``new_data`` None when ``data`` is None (multi-hot)."""
    new_indptr = _gathered_indptr(indptr, rows)
    new_data = None if data is None else _gather(indptr, data, rows, new_indptr)
    return new_indptr, _gather(indptr, indices, rows, new_indptr), new_data
