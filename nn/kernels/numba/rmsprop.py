"""Optimizer steps: RMSprop, dense, lazy by rows, and straight from a sparse product, in place.

The formulas are those of `nn.optimizers.RMSprop`, whose NumPy lines run on the NumPy backend.
Why the lazy step looks as it does: docs/performance.md, "Lazy RMSprop".
"""

import functools

import numpy as np
from numba import njit, prange

from ._common import PREFETCH_DISTANCE, SIMD_WIDTH, _memory_work, _threads_for, _unsigned
from ._vector import _prefetch, _rmsprop16, _rmsprop16_decayed
from .product import _by_columns, _column_sum, _row_cuts

@njit(cache=True)
def _rmsprop_dense(w1, g1, v1, consts, k0, k1):
    """The RMSprop step on elements [k0, k1) of flat w, g, v: 16 at a time in vector code."""
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    k = _unsigned(k0)
    while k + _unsigned(SIMD_WIDTH) <= _unsigned(k1):
        _rmsprop16(w1, k, g1, k, v1, k, lr, r, one_minus_r, eps)
        k += _unsigned(SIMD_WIDTH)
    while k < _unsigned(k1):
        gk = g1[k]
        vk = r * v1[k] + one_minus_r * (gk * gk)
        v1[k] = vk
        w1[k] -= (lr * gk) / np.sqrt(vk + eps)
        k += _unsigned(1)


@njit(cache=True)
def _rmsprop_serial(w, g, v, consts):
    _rmsprop_dense(w.reshape(-1), g.reshape(-1), v.reshape(-1), consts, 0, w.size)


@njit(parallel=True, cache=True)
def _rmsprop_parallel(w, g, v, consts, n_parts):
    w1, g1, v1 = w.reshape(-1), g.reshape(-1), v.reshape(-1)
    n = w1.size
    for p in prange(n_parts):
        _rmsprop_dense(w1, g1, v1, consts, p * n // n_parts, (p + 1) * n // n_parts)


@functools.lru_cache(maxsize=64)
def _rmsprop_consts(dtype, learning_rate, rho, epsilon):
    """The scalars rounded to the arrays' dtype, as Keras does: lr, rho, 1 - rho, epsilon.
    Cached per setting (read-only), so a step does not build it again."""
    consts = np.array([learning_rate, rho, 1.0 - rho, epsilon], dtype=dtype)
    consts.setflags(write=False)
    return consts


def rmsprop_update(w, g, v, learning_rate, rho, epsilon):
    """One fused, in-place Keras 3 RMSprop step over contiguous arrays of one shape and dtype:

        v <- rho * v + (1 - rho) * g**2
        w <- w - learning_rate * g / sqrt(v + epsilon)      (epsilon inside the root)

    All arithmetic is in the arrays' dtype, in Keras's order, so it matches the NumPy lines
    of `nn.optimizers.RMSprop.update_step` (and Keras) to the last bit. Elementwise, so any
    split across threads gives the same bits. Returns None.
    """
    consts = _rmsprop_consts(w.dtype, learning_rate, rho, epsilon)
    threads = _threads_for(w.size)
    if w.ndim != 1:  # flat views: elementwise kernels, compiled once, not once per ndim
        w, g, v = w.reshape(-1), g.reshape(-1), v.reshape(-1)
    if threads == 1:
        _rmsprop_serial(w, g, v, consts)
    else:
        _rmsprop_parallel(w, g, v, consts, 4 * threads)


@njit(cache=True)
def _power(x, n):
    """x ** n for a float64 x and an integer n >= 0, by repeated squaring (deterministic)."""
    result = 1.0
    while n > 0:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


_DECAYS = 64  # rho ** k for k below this comes from a table: one load instead of a loop


@njit(cache=True)
def _decay_table(consts):
    """rho ** k for 0 <= k < _DECAYS, each as `_power` computes it, in the arrays' dtype."""
    table = np.empty(_DECAYS, consts.dtype)
    for k in range(_DECAYS):
        table[k] = _power(np.float64(consts[1]), k)
    return table


@njit(cache=True)
def _rmsprop_rows(w, v, v_step, rows, g_rows, step, consts):
    """The lazy step on ``rows``. A wide layer's rows are far apart in memory, so the time
    goes to fetching them: each row's ``w``, ``v`` and ``v_step`` are asked for `PREFETCH_DISTANCE`
    rows early, and the decay is folded into the step (``v * f``, with f = 1 for a row
    that missed nothing: exact) instead of a pass of its own over the row."""
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    table = _decay_table(consts)
    decay = np.empty(1, w.dtype)  # rho ** skipped beyond the table, rounded to the dtype
    units = _unsigned(w.shape[1])
    w1, v1, g1 = w.reshape(-1), v.reshape(-1), g_rows.reshape(-1)
    for s in range(rows.size):
        if s + PREFETCH_DISTANCE < rows.size:
            ahead = _unsigned(rows[s + PREFETCH_DISTANCE])
            _prefetch(v_step, ahead)
            _prefetch(w1, ahead * units)
            _prefetch(v1, ahead * units)
        j = rows[s]
        skipped = max(step - v_step[j], 0)
        v_step[j] = step + 1
        if skipped < _DECAYS:
            f = table[skipped]
        else:
            decay[0] = _power(np.float64(r), skipped)
            f = decay[0]
        o, og = _unsigned(j) * units, _unsigned(s) * units
        c = _unsigned(0)
        while c + _unsigned(SIMD_WIDTH) <= units:
            _rmsprop16_decayed(w1, o + c, g1, og + c, v1, o + c, f, lr, r, one_minus_r, eps)
            c += _unsigned(SIMD_WIDTH)
        while c < units:
            gk = g1[og + c]
            vk = r * (v1[o + c] * f) + one_minus_r * (gk * gk)
            v1[o + c] = vk
            w1[o + c] -= (lr * gk) / np.sqrt(vk + eps)
            c += _unsigned(1)


_ROWS_BLOCK = 1024  # rows of a lazy step that one thread takes at a time


@njit(parallel=True, cache=True)
def _rmsprop_rows_parallel(w, v, v_step, rows, g_rows, step, consts, n_parts):
    """`_rmsprop_rows` on blocks of `_ROWS_BLOCK` consecutive ``rows``, part p taking every
    n_parts-th block: the rows are distinct, so the parts touch disjoint rows and the result
    is the serial one, bit for bit. Dealt in turn, not cut in halves, because ``rows`` is
    increasing and a frequency-ordered layer's first rows are in cache: cut in halves, the
    first half would hold most cheap rows and finish early."""
    n_blocks = (rows.size + _ROWS_BLOCK - 1) // _ROWS_BLOCK
    for p in prange(n_parts):
        for blk in range(p, n_blocks, n_parts):
            r0, r1 = blk * _ROWS_BLOCK, min((blk + 1) * _ROWS_BLOCK, rows.size)
            _rmsprop_rows(w, v, v_step, rows[r0:r1], g_rows[r0:r1], step, consts)


def rmsprop_update_rows(w, v, v_step, rows, g_rows, step, learning_rate, rho, epsilon):
    """Step ``step`` (0-based) of RMSprop for a gradient that is zero outside ``rows``,
    touching only those rows of ``w`` and ``v``: lazily, yet as the dense step computes.

    ``v_step[j]`` counts the steps already applied to ``v[j]``. In the steps a row missed,
    the dense update computed ``v <- rho * v + (1 - rho) * 0 = rho * v`` (exactly: adding a
    zero product does not round) and ``w <- w - 0 / sqrt(v + epsilon) = w`` (exactly: epsilon
    > 0). So a row that missed ``k = step - v_step[j]`` steps is first decayed by
    ``rho ** k``, then takes the usual step (`rmsprop_update`), and ``v_step[j]`` becomes
    ``step + 1``. ``rho ** k`` is computed in float64 by repeated squaring and rounded once
    to the arrays' dtype, where the dense update rounds after each of its k multiplications:
    the two velocities differ by at most ~k/2 units in the last place (k = 1 is bitwise
    equal), far below the effect of epsilon; every other operation is the same in the same
    order.

    Parameters
    ----------
    w, v : (n_features, units), C-contiguous, one dtype;  v_step : int32 or int64 (n_features,)
    rows : int (n_rows,) distinct;  g_rows : (n_rows, units), the gradient's rows
    step : int;  learning_rate, rho, epsilon : float
    """
    consts = _rmsprop_consts(w.dtype, learning_rate, rho, epsilon)
    g_rows = np.ascontiguousarray(g_rows, dtype=w.dtype)
    threads = _threads_for(_memory_work(w, rows.size))
    if threads == 1:
        _rmsprop_rows(w, v, v_step, rows, g_rows, step, consts)
    else:
        _rmsprop_rows_parallel(w, v, v_step, rows, g_rows, step, consts, threads)


@njit(cache=True)
def _rmsprop_catch_up(v, v_step, step, r):
    units = _unsigned(v.shape[1])
    v1 = v.reshape(-1)
    decay = np.empty(1, v.dtype)
    for j in range(v.shape[0]):
        skipped = step - v_step[j]
        if skipped > 0:
            decay[0] = _power(np.float64(r), skipped)
            f = decay[0]
            o = _unsigned(j) * units
            for u in range(units):
                v1[o + u] *= f
            v_step[j] = step


def rmsprop_catch_up(v, v_step, step, rho):
    """Apply to every row of ``v`` the decay it owes for the steps before ``step``, as
    `rmsprop_update_rows` would when the row is next touched; ``v_step`` becomes ``step``."""
    _rmsprop_catch_up(v, v_step, step, v.dtype.type(rho))


@njit(cache=True)
def _rmsprop_product_rows(w1, v1, column_ptr, samples, order, data, delta_f, units, g, consts,
                          j0, j1):
    """The RMSprop step on rows j0..j1 of ``w`` and ``v`` (flat), each row's gradient summed
    into ``g`` (one row, reused) from the delta rows of the column's samples, in row order,
    then stepped: the gradient row is never written to memory."""
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    U = _unsigned(units)
    full = U - U % _unsigned(SIMD_WIDTH)
    for j in range(j0, j1):
        _column_sum(g, j, column_ptr, samples, order, data, delta_f, units)
        o, c = _unsigned(j) * U, _unsigned(0)
        while c < full:
            _rmsprop16(w1, o + c, g, c, v1, o + c, lr, r, one_minus_r, eps)
            c += _unsigned(SIMD_WIDTH)
        while c < U:
            gk = g[c]
            vk = r * v1[o + c] + one_minus_r * (gk * gk)
            v1[o + c] = vk
            w1[o + c] -= (lr * gk) / np.sqrt(vk + eps)
            c += _unsigned(1)


@njit(cache=True)
def _rmsprop_product_serial(w, v, indptr, indices, data, delta, consts):
    column_ptr, samples, order = _by_columns(indptr, indices, w.shape[0])
    g = np.empty(w.shape[1], w.dtype)
    _rmsprop_product_rows(w.reshape(-1), v.reshape(-1), column_ptr, samples, order, data,
                          delta.reshape(-1), w.shape[1], g, consts, 0, w.shape[0])


@njit(parallel=True, cache=True)
def _rmsprop_product_parallel(w, v, indptr, indices, data, delta, consts, n_parts):
    column_ptr, samples, order = _by_columns(indptr, indices, w.shape[0])
    cuts = _row_cuts(column_ptr, n_parts)
    w1, v1, delta_f = w.reshape(-1), v.reshape(-1), delta.reshape(-1)
    for p in prange(n_parts):  # disjoint rows: each row summed and stepped by one thread
        g = np.empty(w.shape[1], w.dtype)
        _rmsprop_product_rows(w1, v1, column_ptr, samples, order, data, delta_f, w.shape[1], g,
                              consts, cuts[p], cuts[p + 1])


def rmsprop_update_product(w, v, indptr, indices, data, delta, learning_rate, rho, epsilon,
                           threads=None):
    """`rmsprop_update` with the gradient ``g = X.T @ delta`` of a CSR ``X`` (``data`` None:
    multi-hot), which is never formed: each row of ``g`` is summed into a buffer of one row,
    in row order of ``X``, then the step is taken on that row of ``w`` and ``v``. So the
    result is bitwise that of ``rmsprop_update(w, spmm_t(indptr, indices, data, delta,
    n_features), v, ...)``, for any thread count (each row is one thread's), without writing
    the gradient and reading it back. Every row takes the step, as the dense step does (a row
    of no nonzero has g = 0: ``v <- rho * v``, ``w`` unchanged).

    Parameters
    ----------
    w, v : (n_features, units), C-contiguous, one dtype;  indptr : int64 (n_rows + 1,)
    indices : int32 (nnz,) in [0, n_features);  data : (nnz,) w's dtype or None
    delta : (n_rows, units), w's dtype, C-contiguous;  learning_rate, rho, epsilon : float
    threads : int or None, the threads to use; None chooses by the size of the call, as
        every kernel does (`_threads_for`)
    """
    consts = _rmsprop_consts(w.dtype, learning_rate, rho, epsilon)
    delta = np.ascontiguousarray(delta, dtype=w.dtype)
    if threads is None:
        threads = _threads_for(indices.size * w.shape[1] + w.size)
    if threads == 1:
        _rmsprop_product_serial(w, v, indptr, indices, data, delta, consts)
    else:
        _rmsprop_product_parallel(w, v, indptr, indices, data, delta, consts, threads)
