"""Small builders shared by the tests."""

import numba
import numpy as np

from nn import layers, models


def small_bias(shape, rng, dtype):
    """Non-zero biases, so no pre-activation sits exactly on a ReLU kink in gradient checks."""
    return rng.uniform(-0.5, 0.5, size=shape).astype(dtype)


def separable(n=600, d=20, seed=0):
    """A linearly separable binary problem: y = [x @ w > 0]."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    return x, (x @ w > 0).astype(np.float64)


def mlp(hidden=(16, 16), activation="relu", out_activation="sigmoid", input_dim=None,
        seed=0, dtype="float32", bias_initializer="zeros"):
    model = models.Sequential(seed=seed, dtype=dtype)
    for i, units in enumerate(hidden):
        kwargs = {"input_shape": (input_dim,)} if i == 0 and input_dim else {}
        model.add(layers.Dense(units, activation=activation,
                               bias_initializer=bias_initializer, **kwargs))
    kwargs = {"input_shape": (input_dim,)} if not hidden and input_dim else {}
    model.add(layers.Dense(1, activation=out_activation, **kwargs))
    return model


def with_threads(n, fn, *args):
    """fn(*args) with numba's thread count set to n (restored afterwards)."""
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        return fn(*args)
    finally:
        numba.set_num_threads(old)
