"""Metrics: functions ``fn(y_true, y_pred)`` returning a per-sample or scalar value.

A metric has no gradient; the model averages it over the samples of an epoch, weighting each
batch by its size, as Keras does. "accuracy", "acc" and "binary_accuracy" all mean
`binary_accuracy` (threshold 0.5), the metric Keras picks for a binary crossentropy model;
the history key is the name you gave (or the function's ``__name__``).
"""

import numpy as np

from . import backend


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-sample fraction of outputs where ``(y_pred > threshold) == y_true`` (as Keras)."""
    fast = backend.get().fused
    if fast is not None and fast.accepts(y_true, y_pred):  # fast path: one compiled pass
        return fast.binary_accuracy(y_true, y_pred, threshold)
    return np.mean((y_pred > threshold) == y_true, axis=-1)


def mean_squared_error(y_true, y_pred):
    return np.mean(np.square(y_pred - y_true), axis=-1)


def mean_absolute_error(y_true, y_pred):
    return np.mean(np.abs(y_pred - y_true), axis=-1)


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
