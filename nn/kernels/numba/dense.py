"""Small dense layers in one compiled call: ``a = f(x @ W + b)`` and its backward.

`dense_forward` does one layer's forward (product, bias, activation; `dense_forward_logits`
also keeps the pre-activation) and `dense_backward` its
backward (activation derivative, the three products), each in a single call; `activate` and
`activation_backward` do the activation part alone, for a sparse input whose products are the
sparse kernels'. They are for layers whose input is narrow (`fused.DenseLayer` sends dense
inputs wider than `fused.NARROW_FEATURES` to BLAS), and compute what the NumPy formulas of
`nn.layers.Dense` and `nn.activations` compute.

Activations are passed as codes: `LINEAR`, `RELU`, `SIGMOID`, `TANH` (`fused` maps the
activation classes to them). All arithmetic is in the arrays' dtype; every sum runs in a
fixed order, so results are deterministic (the last bit may differ from NumPy's, whose sums
run in another order).

Why one call: docs/performance.md, "Small dense layers and the loss in one call".
"""

import numpy as np
from numba import njit

from ._common import SIMD_WIDTH, _unsigned
from ._vector import _axpy1, _axpy4

LINEAR, RELU, SIGMOID, TANH = 0, 1, 2, 3


@njit(cache=True)
def _matmul_add(C, R, out):
    """out += C @ R, for C (m, K), R (K, u), out (m, u) C-contiguous (C may be a transposed
    view). Each output row is a sum of rows of R: whole blocks of 16 columns in vector code,
    four rows of R at a time; then the remaining columns one product at a time, every row's
    sum running beside the others' (one chain of dependent adds per row, not all in turn)."""
    m, K = C.shape
    u = R.shape[1]
    Rf, Of = R.reshape(-1), out.reshape(-1)
    blocks = u - u % SIMD_WIDTH
    U = _unsigned(u)
    for i in range(m):
        oi = _unsigned(i) * U
        for j in range(0, blocks, SIMD_WIDTH):
            J = _unsigned(j)
            k = 0
            while k + 4 <= K:
                o = _unsigned(k) * U + J
                _axpy4(Of, oi + J, Rf, o, o + U, o + U + U, o + U + U + U,
                       C[i, k], C[i, k + 1], C[i, k + 2], C[i, k + 3])
                k += 4
            while k < K:
                _axpy1(Of, oi + J, Rf, _unsigned(k) * U + J, C[i, k])
                k += 1
    if blocks < u:  # the tail columns: out[i, j] += C[i, k] R[k, j] in k order, all i at once
        s = np.empty(m, out.dtype)
        for j in range(blocks, u):
            for i in range(m):
                s[i] = out[i, j]
            for k in range(K):
                r = R[k, j]
                for i in range(m):
                    s[i] += C[i, k] * r
            for i in range(m):
                out[i, j] = s[i]


@njit(cache=True)
def _matmul_tn_add(x, R, out):
    """out += x.T @ R, for x (K, m), R (K, u), out (m, u) C-contiguous: bitwise
    ``_matmul_add(_transpose(x), R, out)``, without the transpose. Each row of ``out`` gets
    the same operations in the same order as there (blocks of four rows of R, then one by
    one; the tail columns one product at a time); only the loops are turned, so that the m
    rows' sums run side by side instead of one long chain of dependent adds at a time."""
    K, m = x.shape
    u = R.shape[1]
    Rf, Of = R.reshape(-1), out.reshape(-1)
    blocks = u - u % SIMD_WIDTH
    U = _unsigned(u)
    for j in range(0, blocks, SIMD_WIDTH):
        J = _unsigned(j)
        k = 0
        while k + 4 <= K:
            o = _unsigned(k) * U + J
            for i in range(m):
                _axpy4(Of, _unsigned(i) * U + J, Rf, o, o + U, o + U + U, o + U + U + U,
                       x[k, i], x[k + 1, i], x[k + 2, i], x[k + 3, i])
            k += 4
        while k < K:
            for i in range(m):
                _axpy1(Of, _unsigned(i) * U + J, Rf, _unsigned(k) * U + J, x[k, i])
            k += 1
    if blocks < u:
        s = np.empty(m, out.dtype)
        for j in range(blocks, u):
            for i in range(m):
                s[i] = out[i, j]
            for k in range(K):      # s[i] += x[k, i] * R[k, j], for every i at once
                r = R[k, j]
                for i in range(m):
                    s[i] += x[k, i] * r
            for i in range(m):
                out[i, j] = s[i]


@njit(cache=True)
def _transpose(a):
    """A C-contiguous copy of a.T, so that `dense_backward`'s dx product uses the compiled
    layout of `_matmul_add` the forward uses (each array layout is compiled separately)."""
    t = np.empty((a.shape[1], a.shape[0]), a.dtype)
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            t[j, i] = a[i, j]
    return t


@njit(cache=True)
def _activate(z, act):
    """a = f(z) in place, for a flat array z."""
    if act == RELU:
        for k in range(z.size):
            if not z[k] > 0:  # max(z, 0); NaN stays NaN below, as np.maximum keeps it
                z[k] = 0 if z[k] == z[k] else z[k]
    elif act == SIGMOID:
        one = z.dtype.type(1)
        for k in range(z.size):
            e = np.exp(-abs(z[k]))  # exp of a non-positive number never overflows
            z[k] = one / (one + e) if z[k] >= 0 else e / (one + e)
    elif act == TANH:
        for k in range(z.size):
            z[k] = np.tanh(z[k])


@njit(cache=True)
def activate(z, act):
    """a = f(z), in place on a C-contiguous ``z``; returns ``z``."""
    _activate(z.reshape(-1), act)
    return z


@njit(cache=True)
def _activation_grad(a, da, act):
    """dL/dz = dL/da * f'(z), written with the output a = f(z) (flat arrays)."""
    dz = np.empty_like(da)
    one = da.dtype.type(1)
    for k in range(da.size):
        if act == RELU:      # f'(z) = [a > 0]
            dz[k] = da[k] if a[k] > 0 else 0
        elif act == SIGMOID:  # f'(z) = a (1 - a)
            dz[k] = da[k] * a[k] * (one - a[k])
        elif act == TANH:     # f'(z) = 1 - a^2
            dz[k] = da[k] * (one - a[k] * a[k])
        else:
            dz[k] = da[k]
    return dz


@njit(cache=True)
def _column_sums(dz):
    """db = sum over samples of dz, in sample order."""
    db = np.zeros(dz.shape[1], dz.dtype)
    for i in range(dz.shape[0]):
        for j in range(dz.shape[1]):
            db[j] += dz[i, j]
    return db


@njit(cache=True)
def activation_backward(a, da, act):
    """(dz, db): dL/dz = dL/da * f'(z) from the layer's output ``a``, and its column sums
    dL/db. For a layer whose weight gradient comes from elsewhere (a sparse input)."""
    dz = _activation_grad(a.reshape(-1), da.reshape(-1), act).reshape(da.shape)
    return dz, _column_sums(dz)


@njit(cache=True)
def _affine(x, W, b):
    """z = x @ W + b, a new (n_samples, units) array."""
    z = np.empty((x.shape[0], W.shape[1]), W.dtype)
    for i in range(x.shape[0]):  # loops, not z[i, :] = b: a slice store compiles far slower
        for j in range(W.shape[1]):
            z[i, j] = b[j]
    _matmul_add(x, W, z)
    return z


@njit(cache=True)
def dense_forward(x, W, b, act):
    """a = f(x @ W + b) for a dense batch ``x`` (n_samples, n_features), ``W`` (n_features,
    units), ``b`` (units,), all C-contiguous of one dtype. Returns a new (n_samples, units)."""
    z = _affine(x, W, b)
    _activate(z.reshape(-1), act)
    return z


@njit(cache=True)
def dense_forward_logits(x, W, b, act):
    """(a, z): `dense_forward`'s output and the pre-activation z = x @ W + b it activates,
    bit for bit, in one call (a loss that reads a sigmoid output's logits takes z)."""
    z = _affine(x, W, b)  # not dense_forward(..., LINEAR): a constant code compiles it again
    a = z.copy()
    _activate(a.reshape(-1), act)
    return a, z


@njit(cache=True)
def dense_backward(x, a, da, W, act, need_dx):
    """(dW, db, dx) of a = f(x @ W + b) from dL/da: dz = dL/da * f'(z), dW = x.T @ dz,
    db = sum over samples of dz, dx = dz @ W.T (zeros of shape (0, n_features) when not
    ``need_dx``). Arrays as in `dense_forward`, ``a`` the forward's output."""
    dz = _activation_grad(a.reshape(-1), da.reshape(-1), act).reshape(da.shape)
    dW = np.zeros(W.shape, W.dtype)
    _matmul_tn_add(x, dz, dW)
    if need_dx:
        dx = np.zeros(x.shape, W.dtype)
        _matmul_add(dz, _transpose(W), dx)
    else:
        dx = np.zeros((0, x.shape[1]), W.dtype)
    return dW, _column_sums(dz), dx
