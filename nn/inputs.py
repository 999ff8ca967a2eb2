"""Checks on what users pass to `fit`, `evaluate` and `predict`, done once per call.

Every problem becomes a `ValueError` or `TypeError` that names the bad value and says what was
expected. Dense float input of any dtype is accepted without copying it whole: batches are
cast to the model's dtype one at a time. Sparse input (`nn.sparse.CSRMatrix`, or a
``scipy.sparse`` matrix, converted without densifying) was validated when it was built.
"""

import numbers

import numpy as np

from . import ops

_CHUNK = 1 << 22  # elements per finiteness check, to bound the temporary


def prepare_x(x, name="x"):
    """Return (x, n_samples, n_features) for a 2-D dense array or a sparse matrix."""
    if x is None:
        raise ValueError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    x, is_sparse = ops.as_input(x)
    if not is_sparse:
        if hasattr(x, "offsets") and hasattr(x, "tokens"):
            raise TypeError(f"{name} is a ragged list of sequences; turn it into a matrix "
                            "first, e.g. nn.sparse.vectorize_sequences(x, dimension=10000)")
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {x.shape}")
        check_finite(x, name)
    n, d = x.shape
    if n == 0:
        raise ValueError(f"{name} is empty (0 samples); expected at least one sample")
    return x, n, d


def prepare_y(y, n_samples, units, dtype, loss=None, name="y"):
    """Return y as a (n_samples, units) array of ``dtype``, checked against the loss."""
    if y is None:
        raise ValueError(f"{name} is None; expected {n_samples} targets")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {y.dtype}")
    if len(y) != n_samples:
        raise ValueError(f"x and {name} must have the same number of samples; got "
                         f"{n_samples} in x and {len(y)} in {name}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != units:
        raise ValueError(f"{name} has shape {y.shape} but the model outputs "
                         f"({n_samples}, {units})")
    y = y.astype(dtype, copy=False)
    check_finite(y, name)
    if loss is not None:
        loss.check_targets(y)
    return y


def check_finite(x, name):
    """Raise ValueError naming the first NaN or inf in a dense float array, chunk by chunk."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    rows = max(1, _CHUNK // max(x.shape[1] if x.ndim == 2 else 1, 1))
    for start in range(0, len(x), rows):
        chunk = x[start:start + rows]
        finite = np.isfinite(chunk)
        if not finite.all():
            where = np.argwhere(~finite)[0]
            where[0] += start
            raise ValueError(f"{name} contains {x[tuple(where)]} at index {tuple(where.tolist())}; "
                             "inputs and targets must be finite (replace or drop NaN and inf)")


def check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"batch_size must be an integer; got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    return int(batch_size)


def check_epochs(epochs):
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral):
        raise TypeError(f"epochs must be an integer; got {epochs!r}")
    if epochs < 0:
        raise ValueError(f"epochs must be 0 or more; got {epochs}")
    return int(epochs)


def check_verbose(verbose):
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    return verbose
