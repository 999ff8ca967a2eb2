"""Activation functions: the forward map ``a = f(z)`` and its backward ``dL/dz``.

Every backward is written in terms of the activation's *output* ``a`` (all four of these can
be), so a layer only has to keep ``a`` for its backward pass. The derivative sits in a
one-line comment above each backward.

Look an activation up by name with `get("relu")`; ``None`` means linear, as in Keras.
"""

import numpy as np


class Activation:
    """Base class: ``forward(z) -> a`` and ``backward(a, da) -> dz``."""

    name = "activation"

    def forward(self, z):
        raise NotImplementedError

    def backward(self, a, da):
        raise NotImplementedError

    def __call__(self, z):
        return self.forward(z)

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class Linear(Activation):
    """a = z."""

    name = "linear"

    def forward(self, z):
        return z

    # dL/dz = dL/da
    def backward(self, a, da):
        return da


class ReLU(Activation):
    """a = max(z, 0)."""

    name = "relu"

    def forward(self, z):
        return np.maximum(z, 0, out=np.empty_like(z))

    # dL/dz = dL/da * [a > 0]
    def backward(self, a, da):
        return np.where(a > 0, da, np.zeros((), dtype=da.dtype))


class Sigmoid(Activation):
    """a = 1 / (1 + exp(-z)), computed without overflow for large |z|."""

    name = "sigmoid"

    def forward(self, z):
        # exp of a non-positive number never overflows: use exp(-|z|) on both branches.
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)

    # dL/dz = dL/da * a * (1 - a)
    def backward(self, a, da):
        return da * a * (1 - a)


class Tanh(Activation):
    """a = tanh(z)."""

    name = "tanh"

    def forward(self, z):
        return np.tanh(z)

    # dL/dz = dL/da * (1 - a^2)
    def backward(self, a, da):
        return da * (1 - a * a)


linear = Linear()
relu = ReLU()
sigmoid = Sigmoid()
tanh = Tanh()

_BY_NAME = {act.name: act for act in (linear, relu, sigmoid, tanh)}
BUILT_IN = (Linear, ReLU, Sigmoid, Tanh)  # the classes above: each acts on one number at a time


def get(identifier):
    """Return the activation named ``identifier`` ("relu", "sigmoid", "tanh", "linear"),
    an `Activation` instance unchanged, or linear for ``None``."""
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Activation):
        return identifier()
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]
        except KeyError:
            raise ValueError(f"unknown activation {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)}") from None
    if callable(identifier):
        raise TypeError(f"activation {identifier!r} is a plain function with no derivative; "
                        "pass one of the names " + str(sorted(_BY_NAME)) + " or an "
                        "nn.activations.Activation subclass that defines forward and backward")
    raise TypeError(f"activation must be a name or an nn.activations.Activation; "
                    f"got {type(identifier).__name__}")
