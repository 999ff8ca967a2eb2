"""Binary crossentropy and binary accuracy over a batch, each in one compiled pass.

They compute what `nn.losses.BinaryCrossentropy` and `nn.metrics.binary_accuracy` compute in
NumPy, for the arrays `accepts` takes. Per element the arithmetic is NumPy's, in the arrays'
dtype; the crossentropy's mean is summed in float64. Why one pass: docs/performance.md,
"Small dense layers and the loss in one call".
"""

import numpy as np
from numba import njit


@njit(cache=True)
def _bce_sum(y, p, epsilon):
    one = p.dtype.type(1)
    lo, hi = p.dtype.type(epsilon), one - p.dtype.type(epsilon)
    total = np.float64(0.0)  # summed in float64 (also when run as Python)
    for k in range(p.size):
        q = min(max(p[k], lo), hi) if p[k] == p[k] else p[k]  # np.clip keeps NaN
        total += y[k] * np.log(q) + (one - y[k]) * np.log(one - q)
    return total


@njit(cache=True)
def binary_crossentropy(y, p, epsilon):
    """-mean(y log p + (1 - y) log(1 - p)) with p clipped to [epsilon, 1 - epsilon], as
    Keras computes it; ``y`` and ``p`` C-contiguous, same shape and dtype. A float (0.0
    for an empty batch, where NumPy's mean would be nan)."""
    return -_bce_sum(y.reshape(-1), p.reshape(-1), epsilon) / max(p.size, 1)


@njit(cache=True)
def binary_crossentropy_from_logits(y, z):
    """mean(max(z, 0) - z y + log(1 + exp(-|z|))): the crossentropy of sigmoid(z) computed
    from the logits ``z``, without clipping (TensorFlow's ``sigmoid_cross_entropy_with_logits``,
    which Keras uses for a sigmoid output). ``y``, ``z`` C-contiguous, one shape and dtype; per
    element in that dtype, the mean summed in float64; 0.0 for an empty batch."""
    y1, z1 = y.reshape(-1), z.reshape(-1)
    zero = z.dtype.type(0)
    e = np.empty(z1.size, z.dtype)
    for k in range(z1.size):  # a loop of its own: it compiles to vector code
        e[k] = np.exp(-abs(z1[k]))
    total = np.float64(0.0)
    for k in range(z1.size):
        total += max(z1[k], zero) - z1[k] * y1[k] + np.log1p(e[k])
    return total / max(z1.size, 1)


@njit(cache=True)
def binary_accuracy(y, p, threshold):
    """Per sample, the fraction of outputs with ``(p > threshold) == y``: shape
    (n_samples,) for ``y``, ``p`` of shape (n_samples, units), C-contiguous."""
    n, units = p.shape
    out = np.empty(n, np.float64)
    for i in range(n):
        hits = 0
        for j in range(units):
            hits += (1.0 if p[i, j] > threshold else 0.0) == y[i, j]
        out[i] = hits / units
    return out


def accepts(y, p):
    """Whether the kernels here take ``(y, p)`` as they are: C-contiguous float32 or float64
    arrays of one shape and dtype, 2-D (n_samples, units). Anything else takes NumPy."""
    return (isinstance(y, np.ndarray) and isinstance(p, np.ndarray) and p.ndim == 2
            and y.shape == p.shape and y.dtype == p.dtype
            and p.dtype in (np.float32, np.float64)
            and y.flags.c_contiguous and p.flags.c_contiguous)
