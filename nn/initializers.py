"""Weight initializers, each drawing from an explicit ``np.random.Generator``.

Keras's defaults for `Dense`: ``glorot_uniform`` for the kernel, ``zeros`` for the bias.
Glorot & Bengio (2010): U(-limit, limit) with ``limit = sqrt(6 / (fan_in + fan_out))``.
"""

import numpy as np


def glorot_uniform(shape, rng, dtype):
    fan_in, fan_out = shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, rng, dtype):
    # Keras draws from a normal truncated at 2 std; its std is sqrt(2 / (fan_in + fan_out)).
    fan_in, fan_out = shape
    std = np.sqrt(2.0 / (fan_in + fan_out))
    w = rng.standard_normal(size=shape)
    while np.any(bad := np.abs(w) > 2):
        w[bad] = rng.standard_normal(size=int(bad.sum()))
    return (w * std / 0.87962566103423978).astype(dtype)


def he_uniform(shape, rng, dtype):
    limit = np.sqrt(6.0 / shape[0])
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, rng, dtype):
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng, dtype):
    return np.ones(shape, dtype=dtype)


_BY_NAME = {f.__name__: f for f in (glorot_uniform, glorot_normal, he_uniform, zeros, ones)}


def get(identifier):
    """An initializer ``f(shape, rng, dtype)`` by name, or a callable of that form unchanged."""
    if callable(identifier):
        return identifier
    try:
        return _BY_NAME[identifier]
    except (KeyError, TypeError):
        raise ValueError(f"unknown initializer {identifier!r}; expected one of "
                         f"{sorted(_BY_NAME)} or a callable f(shape, rng, dtype)") from None
