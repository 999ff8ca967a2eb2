"""Losses: the value ``L(y, p)`` (mean over all elements, as Keras reports it) and its
gradient ``dL/dp``.

`BinaryCrossentropy` also has the fused gradient with respect to the *logits* of a sigmoid
output layer, ``dL/dz = (p - y) / n``: the sigmoid's ``p (1 - p)`` cancels the loss's
``1 / (p (1 - p))``, so nothing is divided by a number near zero. The model uses it whenever
the last layer is a sigmoid.

A loss is an object with ``__call__(y_true, y_pred) -> float`` and
``gradient(y_true, y_pred) -> dL/dp``; subclass `Loss` to write your own.
"""

import numpy as np

from . import activations, backend

EPSILON = 1e-7  # Keras's backend.epsilon()


class Loss:
    """Base class. Subclasses define `__call__` (the value) and `gradient` (dL/dp)."""

    name = "loss"

    def __call__(self, y_true, y_pred):
        raise NotImplementedError

    def gradient(self, y_true, y_pred):
        raise NotImplementedError

    def fused_gradient(self, y_true, y_pred, activation):
        """dL/dz through the output activation in one stable step, or None if there is none."""
        return None

    def check_targets(self, y):
        """Raise ValueError if ``y`` holds values this loss cannot take."""

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class BinaryCrossentropy(Loss):
    """L = -mean(y log p + (1 - y) log(1 - p)), with p clipped to [1e-7, 1 - 1e-7] as in Keras."""

    name = "binary_crossentropy"

    def __call__(self, y_true, y_pred):
        fast = backend.get().fused
        if fast is not None and fast.accepts(y_true, y_pred):  # fast path: one compiled pass
            return float(fast.binary_crossentropy(y_true, y_pred, EPSILON))
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return float(-np.mean(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)))

    # dL/dp = (p - y) / (p (1 - p)) / n   (zero where the clip is active)
    def gradient(self, y_true, y_pred):
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        inside = (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        return np.where(inside, (p - y_true) / (p * (1 - p)), 0).astype(y_pred.dtype) / y_pred.size

    # with p = sigmoid(z):  dL/dz = (p - y) / n
    def fused_gradient(self, y_true, y_pred, activation):
        if not isinstance(activation, activations.Sigmoid):
            return None
        return (y_pred - y_true) / np.asarray(y_pred.size, dtype=y_pred.dtype)

    def check_targets(self, y):
        bad = np.flatnonzero((y < 0) | (y > 1))
        if bad.size:
            i = bad[0]
            raise ValueError(f"labels must be between 0 and 1 for binary_crossentropy; got "
                             f"{y.flat[i].item()!r} at index {i // (y.size // len(y))}")


class MeanSquaredError(Loss):
    """L = mean((p - y)^2)."""

    name = "mean_squared_error"

    def __call__(self, y_true, y_pred):
        return float(np.mean(np.square(y_pred - y_true)))

    # dL/dp = 2 (p - y) / n
    def gradient(self, y_true, y_pred):
        return (2 * (y_pred - y_true)) / np.asarray(y_pred.size, dtype=y_pred.dtype)


binary_crossentropy = BinaryCrossentropy()
mean_squared_error = MeanSquaredError()

_BY_NAME = {"binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
            "mean_squared_error": mean_squared_error, "mse": mean_squared_error}


def get(identifier):
    """A loss by name ("binary_crossentropy", "mse", "mean_squared_error") or instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown loss {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or an nn.losses.Loss") from None
    if callable(identifier):
        name = getattr(identifier, "__name__", repr(identifier))
        raise TypeError(
            f"loss {name} is a plain function, and nn has no autograd to differentiate it. "
            "Write it as a subclass of nn.losses.Loss with __call__(y_true, y_pred) returning "
            "the mean loss and gradient(y_true, y_pred) returning dL/dy_pred (same shape as "
            "y_pred), then pass an instance: model.compile(loss=MyLoss(), ...)")
    raise TypeError(f"loss must be a name or an nn.losses.Loss; got {type(identifier).__name__}")
