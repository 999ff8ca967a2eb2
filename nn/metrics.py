"""Metrics: functions ``fn(y_true, y_pred, sample_weight=None)`` returning one value per
sample (or one value for the batch).

A metric has no gradient. The model averages it over the samples of an epoch as Keras's
metric objects do (`weighted_sums`): without weights each sample counts once, so a batch
weighs by its size; with ``sample_weight`` the mean is ``sum(w m) / sum(w)`` (0 when the
weights sum to 0). The built-in functions take ``sample_weight`` for Keras's signature and
check that it fits, but return the values unweighted: the weighting is the averaging's.

Shapes are paired as Keras pairs them (`nn.losses.squeeze_or_expand_to_same_rank`): labels
(n,) with predictions (n, 1) are n samples; shapes that still differ broadcast, and a
ValueError names them when they cannot. "accuracy", "acc" and "binary_accuracy" all mean
`binary_accuracy` (threshold 0.5), the metric Keras picks for a binary crossentropy model;
the history key is the name you gave (or the function's ``__name__``).
"""

import numpy as np

from . import backend, losses
from .losses import squeeze_or_expand_to_same_rank


def _per_sample(values):
    """The mean over every axis but the first (Keras's per-sample values)."""
    return values.mean(axis=tuple(range(1, values.ndim))) if values.ndim > 1 else values


def weighted_sums(values, sample_weight=None):
    """``(sum_i w_i m_i, sum_i w_i)`` for a batch's metric ``values`` (per sample, or per
    output (n_samples, units), averaged per sample first), as Keras's ``Mean`` metric adds
    them up (keras/src/metrics/reduction_metrics.py): without weights, ``(sum_i m_i, n)``
    (one value for the batch counts once). The weighted mean over batches is the sum of the
    first over the sum of the second. ``sample_weight``: one number, (n_samples,) or
    (n_samples, 1); ValueError when it does not fit ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if sample_weight is None:
        values = _per_sample(values)
        return float(values.sum()), float(values.shape[0] if values.ndim else 1)
    w = np.asarray(sample_weight, dtype=np.float64)
    values, w = squeeze_or_expand_to_same_rank(values, w)
    if values.ndim > w.ndim:  # average the outputs of a sample before weighting it
        values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
    try:
        w = np.broadcast_to(w, values.shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not fit "
                         f"metric values of shape {np.shape(values)}; give one weight per "
                         "sample, shape (n_samples,), or one number") from None
    return float(_per_sample(values * w).sum()), float(_per_sample(w).sum())


def _checked(values, sample_weight):
    if sample_weight is not None:
        weighted_sums(values, sample_weight)  # raises when the weights do not fit
    return values


def binary_accuracy(y_true, y_pred, threshold=0.5, sample_weight=None):
    """Per sample, the fraction of outputs where ``(y_pred > threshold) == y_true`` (as
    Keras): shape (n_samples,) for (n_samples, units) predictions; for a 1-D pair, one value
    per label (Keras 3's function is elementwise). ``sample_weight`` is checked, not applied
    (see the module docstring)."""
    fast = backend.get().fused
    if fast is not None and fast.accepts(y_true, y_pred):  # fast path: one compiled pass
        return _checked(fast.binary_accuracy(y_true, y_pred, threshold), sample_weight)
    y, p = losses.aligned(y_true, y_pred, "binary_accuracy")
    hits = ((p > threshold) == y).astype(np.float64)
    return _checked(hits.mean(axis=-1) if hits.ndim > 1 else hits, sample_weight)


def mean_squared_error(y_true, y_pred, sample_weight=None):
    """Per sample, ``mean((p - y)^2)`` over the last axis (as Keras's function; one value
    for 1-D arrays). ``sample_weight`` is checked, not applied."""
    y, p = losses.aligned(y_true, y_pred, "mean_squared_error")
    values = np.mean(losses.mean_squared_error.elementwise(y, p), axis=-1)
    return _checked(values, sample_weight)


def mean_absolute_error(y_true, y_pred, sample_weight=None):
    """Per sample, ``mean(|p - y|)`` over the last axis (as Keras's function; one value for
    1-D arrays). ``sample_weight`` is checked, not applied."""
    y, p = losses.aligned(y_true, y_pred, "mean_absolute_error")
    values = np.mean(losses.mean_absolute_error.elementwise(y, p), axis=-1)
    return _checked(values, sample_weight)


_BY_NAME = {"accuracy": binary_accuracy, "acc": binary_accuracy,
            "binary_accuracy": binary_accuracy,
            "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
            "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error}


def get(identifier):
    """Return ``(name, fn)`` for a metric name or a callable ``fn(y_true, y_pred)``."""
    if isinstance(identifier, str):
        try:
            return identifier, _BY_NAME[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown metric {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or a callable fn(y_true, y_pred)") from None
    if callable(identifier):
        name = getattr(identifier, "__name__", None) or getattr(identifier, "name", None)
        return name or type(identifier).__name__, identifier
    raise TypeError(f"metric must be a name or a callable fn(y_true, y_pred); "
                    f"got {type(identifier).__name__}")
