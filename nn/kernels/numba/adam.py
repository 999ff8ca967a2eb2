"""Optimizer steps: Adam, dense, with a gradient that is zero outside some rows, and straight
from a sparse product, in place.

The formulas are those of `nn.optimizers.Adam`, whose NumPy lines run on the NumPy backend;
every kernel here gives their bits. Adam's momentum moves every weight, also where the
gradient is zero, so there is no lazy step: a row-sparse gradient steps every row, the absent
ones with g = 0, as the densified NumPy step does. Why the kernels look as they do:
docs/performance.md, "Adam on the fast path".
"""

import functools

import numpy as np
from numba import njit, prange

from ._common import SIMD_WIDTH, _threads_for, _unsigned
from ._vector import _adam16
from .product import _by_columns, _column_sum, _row_cuts

@njit(cache=True)
def _adam_span(w1, g1, m1, v1, o, og, n, alpha, consts):
    """The Adam step on w1, m1, v1[o:o+n] with the gradient g1[og:og+n]: 16 at a time in
    vector code, then one at a time in the same order of operations."""
    c1, c2, eps = consts[0], consts[1], consts[2]
    k, kg, end = _unsigned(o), _unsigned(og), _unsigned(o) + _unsigned(n)
    while k + _unsigned(SIMD_WIDTH) <= end:
        _adam16(w1, k, g1, kg, m1, k, v1, k, alpha, c1, c2, eps)
        k += _unsigned(SIMD_WIDTH)
        kg += _unsigned(SIMD_WIDTH)
    while k < end:
        gk = g1[kg]
        mk = m1[k] + (gk - m1[k]) * c1           # m += (g - m) (1 - beta_1)
        vk = v1[k] + (gk * gk - v1[k]) * c2      # v += (g^2 - v) (1 - beta_2)
        m1[k] = mk
        v1[k] = vk
        w1[k] -= (alpha * mk) / (np.sqrt(vk) + eps)  # w -= alpha m / (sqrt(v) + eps)
        k += _unsigned(1)
        kg += _unsigned(1)


@njit(cache=True)
def _adam_serial(w1, g1, m1, v1, alpha, consts):
    _adam_span(w1, g1, m1, v1, 0, 0, w1.size, alpha, consts)


@njit(parallel=True, cache=True)
def _adam_parallel(w1, g1, m1, v1, alpha, consts, n_parts):
    n = w1.size
    for p in prange(n_parts):
        k0, k1 = p * n // n_parts, (p + 1) * n // n_parts
        _adam_span(w1, g1, m1, v1, k0, k0, k1 - k0, alpha, consts)


@functools.lru_cache(maxsize=64)
def _adam_consts(dtype, beta_1, beta_2, epsilon):
    """1 - beta_1, 1 - beta_2 (each computed in float64, then rounded) and epsilon in the
    arrays' dtype, as `nn.optimizers.Adam` rounds them. Cached per setting (read-only)."""
    consts = np.array([1.0 - beta_1, 1.0 - beta_2, epsilon], dtype=dtype)
    consts.setflags(write=False)
    return consts


def adam_update(w, g, m, v, alpha, beta_1, beta_2, epsilon):
    """One fused, in-place Keras 3 Adam step over contiguous arrays of one shape and dtype:

        m <- m + (g - m) * (1 - beta_1)
        v <- v + (g**2 - v) * (1 - beta_2)
        w <- w - alpha * m / (sqrt(v) + epsilon)      (epsilon outside the root)

    ``alpha`` is the bias-corrected step size, computed by the caller in the arrays' dtype
    (`nn.optimizers.Adam._step_size`). All arithmetic is in the arrays' dtype, in the order
    of the NumPy lines of `nn.optimizers.Adam.update_step`, so it gives their bits.
    Elementwise, so any split across threads gives the same bits. Returns None.
    """
    consts = _adam_consts(w.dtype, beta_1, beta_2, epsilon)
    alpha = w.dtype.type(alpha)
    threads = _threads_for(w.size)
    # flat views: the kernels are elementwise, and one array type compiles once, not per ndim
    w, g, m, v = w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1)
    if threads == 1:
        _adam_serial(w, g, m, v, alpha, consts)
    else:
        _adam_parallel(w, g, m, v, alpha, consts, 4 * threads)


@njit(cache=True)
def _adam_rows(w, m, v, rows, g_rows, alpha, consts, j0, j1):
    """The Adam step on rows j0..j1 of ``w``, ``m``, ``v``: a row listed in ``rows``
    (increasing) with its gradient row, any other with a row of zeros."""
    units = w.shape[1]
    w1, m1, v1, g1 = w.reshape(-1), m.reshape(-1), v.reshape(-1), g_rows.reshape(-1)
    zero = np.zeros(units, w.dtype)
    s = np.searchsorted(rows, j0)
    for j in range(j0, j1):
        o = _unsigned(j) * _unsigned(units)
        if s < rows.size and rows[s] == j:
            _adam_span(w1, g1, m1, v1, o, _unsigned(s) * _unsigned(units), units, alpha, consts)
            s += 1
        else:
            _adam_span(w1, zero, m1, v1, o, _unsigned(0), units, alpha, consts)


@njit(parallel=True, cache=True)
def _adam_rows_parallel(w, m, v, rows, g_rows, alpha, consts, n_parts):
    n = w.shape[0]
    for p in prange(n_parts):
        _adam_rows(w, m, v, rows, g_rows, alpha, consts, p * n // n_parts,
                   (p + 1) * n // n_parts)


def adam_update_rows(w, m, v, rows, g_rows, alpha, beta_1, beta_2, epsilon):
    """`adam_update` with a gradient that is zero outside ``rows``: ``g[rows] = g_rows``,
    every other row 0, never formed. Every row of ``w``, ``m`` and ``v`` steps (the momentum
    moves a weight whose gradient is zero), each as `adam_update` steps it, so the result is
    bitwise that of the dense step on the densified gradient.

    Parameters
    ----------
    w, m, v : (n_features, units), C-contiguous, one dtype
    rows : int (n_rows,) distinct and increasing;  g_rows : (n_rows, units), the gradient's rows
    alpha : the step size in w's dtype;  beta_1, beta_2, epsilon : float
    """
    consts = _adam_consts(w.dtype, beta_1, beta_2, epsilon)
    alpha = w.dtype.type(alpha)
    g_rows = np.ascontiguousarray(g_rows, dtype=w.dtype)
    threads = _threads_for(w.size)
    if threads == 1:
        _adam_rows(w, m, v, rows, g_rows, alpha, consts, 0, w.shape[0])
    else:
        _adam_rows_parallel(w, m, v, rows, g_rows, alpha, consts, 4 * threads)


@njit(cache=True)
def _adam_product_rows(w, m, v, column_ptr, samples, order, data, delta, alpha, consts, j0,
                       j1):
    """Rows j0..j1: each row's gradient summed into a one-row buffer, then stepped."""
    units = w.shape[1]
    w1, m1, v1, delta_f = w.reshape(-1), m.reshape(-1), v.reshape(-1), delta.reshape(-1)
    g = np.empty(units, w.dtype)
    for j in range(j0, j1):
        _column_sum(g, j, column_ptr, samples, order, data, delta_f, units)
        _adam_span(w1, g, m1, v1, _unsigned(j) * _unsigned(units), 0, units, alpha, consts)


@njit(cache=True)
def _adam_product_serial(w, m, v, indptr, indices, data, delta, alpha, consts):
    column_ptr, samples, order = _by_columns(indptr, indices, w.shape[0])
    _adam_product_rows(w, m, v, column_ptr, samples, order, data, delta, alpha, consts, 0,
                       w.shape[0])


@njit(parallel=True, cache=True)
def _adam_product_parallel(w, m, v, indptr, indices, data, delta, alpha, consts, n_parts):
    column_ptr, samples, order = _by_columns(indptr, indices, w.shape[0])
    cuts = _row_cuts(column_ptr, n_parts)
    for p in prange(n_parts):  # disjoint rows: each row summed and stepped by one thread
        _adam_product_rows(w, m, v, column_ptr, samples, order, data, delta, alpha, consts,
                           cuts[p], cuts[p + 1])


def adam_update_product(w, m, v, indptr, indices, data, delta, alpha, beta_1, beta_2, epsilon,
                        threads=None):
    """`adam_update` with the gradient ``g = X.T @ delta`` of a CSR ``X`` (``data`` None:
    multi-hot), which is never formed: each row of ``g`` is summed into a buffer of one row,
    in row order of ``X``, then the step is taken on that row of ``w``, ``m`` and ``v``. So
    the result is bitwise that of ``adam_update(w, spmm_t(indptr, indices, data, delta,
    n_features), m, v, ...)``, for any thread count (each row is one thread's). Every row
    steps, one of no nonzero with g = 0.

    Parameters
    ----------
    w, m, v : (n_features, units), C-contiguous, one dtype;  indptr : int64 (n_rows + 1,)
    indices : int32 (nnz,) in [0, n_features);  data : (nnz,) w's dtype or None
    delta : (n_rows, units), w's dtype;  alpha : the step size in w's dtype
    beta_1, beta_2, epsilon : float
    threads : int or None, the threads to use; None chooses by the size of the call
        (`_threads_for`)
    """
    consts = _adam_consts(w.dtype, beta_1, beta_2, epsilon)
    alpha = w.dtype.type(alpha)
    delta = np.ascontiguousarray(delta, dtype=w.dtype)
    if threads is None:
        threads = _threads_for(indices.size * w.shape[1] + w.size)
    if threads == 1:
        _adam_product_serial(w, m, v, indptr, indices, data, delta, alpha, consts)
    else:
        _adam_product_parallel(w, m, v, indptr, indices, data, delta, alpha, consts, threads)
