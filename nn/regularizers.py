"""Weight penalties: L1, L2 and both, as Keras 3 computes them.

A regularizer passed to a layer (``Dense(16, kernel_regularizer=regularizers.l2(0.001))``)
adds a penalty on that weight to the loss the model minimises::

    L1:    R(w) = l1 * sum |w|          dR/dw = l1 * sign(w)
    L2:    R(w) = l2 * sum w^2          dR/dw = 2 * l2 * w
    L1L2:  R(w) = L1 + L2               dR/dw = the sum of both

The model adds ``R(w)`` to every batch's loss (the loss `fit` reports and `evaluate`'s, so
``val_loss`` includes it, as in Keras) and the layer adds ``dR/dw`` to the weight's gradient.
A penalty depends on every entry of ``w``: on a first layer fed a sparse batch, whose data
gradient has only the batch's rows, the penalty's gradient makes the whole gradient dense
(every row changes every step; exact, and as costly as a dense first layer's update).

Each regularizer computes in the weight's dtype (float32 by default), as Keras does.
"""

import math

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize"]


class Regularizer:
    """Base class: a penalty ``R(w)`` (`__call__`) and its gradient ``dR/dw`` (`gradient`).

    A subclass defines both, and `get_config` (the constructor's arguments as a dict) if it
    takes any; `gradient` returns a new array shaped and typed like ``w``."""

    def __call__(self, w):
        raise NotImplementedError

    def gradient(self, w):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class L1(Regularizer):
    """``R(w) = l1 * sum |w|``; ``l1`` a non-negative finite number (default 0.01)."""

    def __init__(self, l1=0.01):
        self.l1 = factor(0.01 if l1 is None else l1, "l1")

    def __call__(self, w):
        return w.dtype.type(self.l1) * np.sum(np.abs(w))

    def gradient(self, w):
        return w.dtype.type(self.l1) * np.sign(w)  # d|w|/dw = sign(w) (0 at w = 0)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``R(w) = l2 * sum w^2``; ``l2`` a non-negative finite number (default 0.01)."""

    def __init__(self, l2=0.01):
        self.l2 = factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, w):
        return w.dtype.type(self.l2) * np.sum(np.square(w))

    def gradient(self, w):
        return w.dtype.type(self.l2) * (2 * w)  # d(w^2)/dw = 2w

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``R(w) = l1 * sum |w| + l2 * sum w^2``; each factor non-negative and finite, default
    0 (as Keras's class; the function `l1_l2` defaults both to 0.01). A zero factor's term
    is left out."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = factor(0.0 if l1 is None else l1, "l1")
        self.l2 = factor(0.0 if l2 is None else l2, "l2")
        self._terms = [t for t, f in ((L1(self.l1), self.l1), (L2(self.l2), self.l2)) if f]

    def __call__(self, w):
        total = w.dtype.type(0)
        for term in self._terms:
            total = total + term(w)
        return total

    def gradient(self, w):
        grad = np.zeros_like(w)
        for term in self._terms:
            grad += term.gradient(w)
        return grad

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01):
    """`L1L2` with Keras's function defaults: 0.01 for both factors."""
    return L1L2(l1=l1, l2=l2)


def factor(value, name):
    """``value`` as a float if it is a non-negative finite number; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative finite number; got {value!r}")
    return float(value)


_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": l1_l2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier, custom_objects=None):
    """A `Regularizer` from a name (``"l1"``, ``"l2"``, ``"l1_l2"``, with Keras's default
    factors), a dict from `serialize` (its class looked up among L1, L2, L1L2 and the
    classes in ``custom_objects``, a dict of name to class), or a `Regularizer` unchanged;
    None stays None. ValueError for an unknown name, TypeError for anything else (a plain
    function has no gradient: subclass `Regularizer` and define ``gradient``)."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"unknown regularizer {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or an nn.regularizers.Regularizer")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict) and set(identifier) == {"class", "config"}:
        classes = {"L1": L1, "L2": L2, "L1L2": L1L2, **(custom_objects or {})}
        cls = classes.get(identifier["class"])
        if not (isinstance(cls, type) and issubclass(cls, Regularizer)):
            raise ValueError(f"unknown regularizer class {identifier['class']!r}: nn has L1, "
                             "L2 and L1L2; pass your own class in custom_objects")
        return cls.from_config(identifier["config"])
    raise TypeError(f"a regularizer must be a name such as 'l2' or an "
                    f"nn.regularizers.Regularizer (which defines its gradient); "
                    f"got {type(identifier).__name__}")


def serialize(regularizer):
    """``{"class": name, "config": {...}}`` for `get`, or None for None."""
    if regularizer is None:
        return None
    return {"class": type(regularizer).__name__, "config": regularizer.get_config()}
