"""Forward: ``Z = X @ W + b`` for a CSR ``X``.

Why four nonzeros at a time, a loop of its own for 16 units, and prefetching:
docs/performance.md, "Forward", "Vector blocks" and "Prefetching".
"""

import numpy as np
from numba import njit, prange

from ._common import PREFETCH_DISTANCE, SIMD_WIDTH, _threads_for, _unsigned, _width
from ._vector import _add1, _add4, _axpy1, _axpy4, _prefetch

@njit(cache=True)
def _spmm_rows16(indptr, indices, data, Wf, b, Zf, r0, r1):
    """Rows r0..r1 of Z = X @ W + b for 16 units (flat W and Z): each nonzero is one vector
    block."""
    units, one, four = _unsigned(SIMD_WIDTH), _unsigned(1), _unsigned(4)
    last, lead = _unsigned(indptr[r1]), _unsigned(PREFETCH_DISTANCE + 4)
    ahead = last - lead if last > lead else _unsigned(0)  # from there on, nothing left to fetch
    for i in range(r0, r1):
        zi = _unsigned(i) * units
        for u in range(units):
            Zf[zi + u] = b[u]
        k, end = _unsigned(indptr[i]), _unsigned(indptr[i + 1])
        while k + four <= end:
            if k < ahead:  # W rows of the nonzeros PREFETCH_DISTANCE on (the next row's, near its end)
                for q in range(4):
                    _prefetch(Wf, _unsigned(indices[k + _unsigned(PREFETCH_DISTANCE + q)]) * units)
            o0, o1 = _unsigned(indices[k]) * units, _unsigned(indices[k + one]) * units
            o2, o3 = _unsigned(indices[k + _unsigned(2)]) * units, _unsigned(indices[k + _unsigned(3)]) * units
            if data is None:
                _add4(Zf, zi, Wf, o0, o1, o2, o3)
            else:
                _axpy4(Zf, zi, Wf, o0, o1, o2, o3,
                       data[k], data[k + one], data[k + _unsigned(2)], data[k + _unsigned(3)])
            k += four
        while k < end:
            if data is None:
                _add1(Zf, zi, Wf, _unsigned(indices[k]) * units)
            else:
                _axpy1(Zf, zi, Wf, _unsigned(indices[k]) * units, data[k])
            k += one


@njit(cache=True)
def _spmm_rows_any(indptr, indices, data, Wf, b, Zf, units, r0, r1):
    """As `_spmm_rows16` for any width: whole blocks of 16, then the rest unit by unit,
    with the same association."""
    units = _unsigned(units)
    full, one, four = units - units % _unsigned(SIMD_WIDTH), _unsigned(1), _unsigned(4)
    for i in range(r0, r1):
        zi = _unsigned(i) * units
        for u in range(units):
            Zf[zi + u] = b[u]
        k, end = _unsigned(indptr[i]), _unsigned(indptr[i + 1])
        while k + four <= end:
            o0, o1 = _unsigned(indices[k]) * units, _unsigned(indices[k + one]) * units
            o2, o3 = _unsigned(indices[k + _unsigned(2)]) * units, _unsigned(indices[k + _unsigned(3)]) * units
            c = _unsigned(0)
            if data is None:
                while c < full:
                    _add4(Zf, zi + c, Wf, o0 + c, o1 + c, o2 + c, o3 + c)
                    c += _unsigned(SIMD_WIDTH)
                while c < units:
                    Zf[zi + c] += (Wf[o0 + c] + Wf[o1 + c]) + (Wf[o2 + c] + Wf[o3 + c])
                    c += one
            else:
                x0, x1, x2, x3 = data[k], data[k + one], data[k + _unsigned(2)], data[k + _unsigned(3)]
                while c < full:
                    _axpy4(Zf, zi + c, Wf, o0 + c, o1 + c, o2 + c, o3 + c, x0, x1, x2, x3)
                    c += _unsigned(SIMD_WIDTH)
                while c < units:
                    Zf[zi + c] += ((x0 * Wf[o0 + c] + x1 * Wf[o1 + c])
                                   + (x2 * Wf[o2 + c] + x3 * Wf[o3 + c]))
                    c += one
            k += four
        while k < end:
            o, c = _unsigned(indices[k]) * units, _unsigned(0)
            if data is None:
                while c < full:
                    _add1(Zf, zi + c, Wf, o + c)
                    c += _unsigned(SIMD_WIDTH)
                while c < units:
                    Zf[zi + c] += Wf[o + c]
                    c += one
            else:
                x = data[k]
                while c < full:
                    _axpy1(Zf, zi + c, Wf, o + c, x)
                    c += _unsigned(SIMD_WIDTH)
                while c < units:
                    Zf[zi + c] += x * Wf[o + c]
                    c += one
            k += one


@njit(cache=True)
def _spmm_rows(indptr, indices, data, W, b, Z, r0, r1, width):
    """Rows r0..r1 of Z = X @ W + b (``data`` None: multi-hot). Four nonzeros at a time,
    added pairwise; blocks of 16 units in vector code. ``width`` is `_width(W)`: None
    compiles the 16-unit loops alone, an int the loops for any width alone."""
    Wf, Zf = W.reshape(-1), Z.reshape(-1)
    if width is None:
        _spmm_rows16(indptr, indices, data, Wf, b, Zf, r0, r1)
    else:
        _spmm_rows_any(indptr, indices, data, Wf, b, Zf, width, r0, r1)


@njit(cache=True)
def _spmm_serial_width(indptr, indices, data, W, b, width):
    Z = np.empty((indptr.size - 1, W.shape[1]), W.dtype)
    _spmm_rows(indptr, indices, data, W, b, Z, 0, indptr.size - 1, width)
    return Z


def _spmm_serial(indptr, indices, data, W, b):
    """`spmm` on one thread."""
    return _spmm_serial_width(indptr, indices, data, W, b, _width(W))


@njit(parallel=True, cache=True)
def _spmm_parallel(indptr, indices, data, W, b, n_parts, width):
    n_rows = indptr.size - 1
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    for p in prange(n_parts):  # contiguous row ranges; each row is one thread's
        _spmm_rows(indptr, indices, data, W, b, Z, p * n_rows // n_parts,
                   (p + 1) * n_rows // n_parts, width)
    return Z


def spmm(indptr, indices, data, W, b):
    """Z = X @ W + b for a CSR ``X``; ``data`` None means every value is 1 (multi-hot).

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,);  data : W's dtype (nnz,) or None
    W : float (n_features, units), C-contiguous;  b : float (units,)

    Returns
    -------
    Z : (n_rows, units), W's dtype. Duplicate indices in a row are added twice. Each row is
    computed by one thread in a fixed order: the same bits for any thread count.
    """
    threads = _threads_for(indices.size * W.shape[1])
    if threads == 1:
        return _spmm_serial(indptr, indices, data, W, b)
    return _spmm_parallel(indptr, indices, data, W, b, 4 * threads, _width(W))


@njit(cache=True)
def sampled_product(indptr, indices, A, B):
    """The entries of ``A @ B.T`` at the nonzeros of X: ``out[k] = A[i] . B[indices[k]]`` for
    every nonzero k of row i, summed over units in order. A (n_rows, units), B (n_cols, units),
    C-contiguous, one dtype; returns (nnz,) in that dtype."""
    out = np.empty(indices.size, A.dtype)
    for i in range(indptr.size - 1):
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            total = A.dtype.type(0)
            for u in range(A.shape[1]):
                total += A[i, u] * B[j, u]
            out[k] = total
    return out
