"""Optimizers: the update math and their own slot state, nothing else.

The base class owns the plumbing (walking the parameters, counting steps); a subclass writes
its hyperparameters and one `update_step(w, g, slots)` that changes ``w`` in place. Slot
state (RMSprop's velocity, Adam's moments) lives here, keyed by the parameter's name, never
on the layer. Formulas follow Keras 3 exactly, including where epsilon sits.

A layer fed a sparse batch hands over an `nn.row_sparse.RowSparseGrad`: the gradient is zero
outside ``g.rows``. `update_rows(w, g, slots)` takes those; by default it densifies the
gradient and calls `update_step`, which is exact. Plain SGD and RMSprop override it to touch
only ``g.rows``, so a step costs what the batch costs, whatever the width of the layer, and
still computes what the dense step computes.
"""

import numpy as np

from . import backend
from .memory import zeros_aligned
from .row_sparse import RowSparseGrad


class Optimizer:
    """Base class. ``apply(named_params)`` takes ``[(key, w, g), ...]`` and updates each ``w``."""

    name = "optimizer"
    slot_names = ()

    def __init__(self, learning_rate):
        _check_positive("learning_rate", learning_rate)
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.slots = {}

    def apply(self, named_params):
        for key, w, g in named_params:
            if key not in self.slots:
                self.slots[key] = {s: _zeros_like(w) for s in self.slot_names}
            if isinstance(g, RowSparseGrad):
                self.update_rows(w, g, self.slots[key])
            else:
                self.update_step(w, g, self.slots[key])
        self.iterations += 1

    def update_step(self, w, g, slots):
        raise NotImplementedError

    def update_rows(self, w, g, slots):
        """One step with a `RowSparseGrad` ``g``. The default densifies it (exact, not lazy):
        right for any optimizer whose weights move where the gradient is zero."""
        self.update_step(w, g.toarray(), slots)

    def get_slot(self, key, name):
        """The current value of slot ``name`` (e.g. "velocity") of parameter ``key``."""
        return self.slots[key][name]

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``w -= lr * g``. With momentum:
    ``m = momentum * m - lr * g``; ``w += m`` (or ``w += momentum * m - lr * g`` for Nesterov).

    A row-sparse gradient (`update_rows`) updates only its rows without momentum, exactly as
    the dense step (``w - lr * 0 = w``); with momentum every weight keeps moving, so it is
    densified.
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        super().__init__(learning_rate)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1]; got {momentum!r}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.slot_names = ("momentum",) if self.momentum else ()

    def update_step(self, w, g, slots):
        lr = w.dtype.type(self.learning_rate)
        if not self.momentum:
            w -= lr * g
            return
        m = slots["momentum"]
        m *= w.dtype.type(self.momentum)
        m -= lr * g
        if self.nesterov:
            w += w.dtype.type(self.momentum) * m - lr * g
        else:
            w += m

    def update_rows(self, w, g, slots):
        if self.momentum:
            return super().update_rows(w, g, slots)
        w[g.rows] -= w.dtype.type(self.learning_rate) * g.values

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop as Keras 3 computes it (epsilon *inside* the square root)::

        v = rho * v + (1 - rho) * g**2
        w -= learning_rate * g / sqrt(v + epsilon)

    with every constant rounded to the weights' dtype first. ``lr=`` is accepted as the old
    Keras 2 name of ``learning_rate``. On the numba backend the step is one fused compiled
    pass over ``w``, ``g`` and ``v``, bitwise the same as the NumPy lines.

    Row-sparse gradients are applied lazily (`update_rows`): only the rows in the batch are
    touched. Where the gradient is zero the dense step only decays the velocity,
    ``v = rho * v``, and leaves ``w`` unchanged; so a row's velocity is decayed by
    ``rho ** k`` for the k steps it missed when it is next touched, and then stepped as
    usual. A second slot, ``velocity_step``, records for each row how many steps its
    velocity has taken; it is saved with the model, so a reloaded model continues exactly.
    The result equals the dense update except for the rounding of ``rho ** k`` (one rounding
    instead of k), far below the float32 noise of training. Read the velocity through
    `get_slot`, which applies the decay still owed.
    """

    name = "rmsprop"
    slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, lr=None):
        super().__init__(_keras2_lr(learning_rate, lr, 0.001))
        if not 0 <= rho <= 1:  # Keras takes any rho; outside [0, 1] the velocity goes negative
            raise ValueError(f"rho must be in [0, 1]; got {rho!r}")
        _check_positive("epsilon", epsilon)
        self.rho = float(rho)
        self.epsilon = float(epsilon)

    def _constants(self, dtype):
        """learning_rate, rho, 1 - rho and epsilon rounded to ``dtype``, as Keras rounds them
        (1 - rho is computed in float64 first)."""
        f = np.dtype(dtype).type
        return f(self.learning_rate), f(self.rho), f(1.0 - self.rho), f(self.epsilon)

    def update_step(self, w, g, slots):
        v, g = slots["velocity"], np.ascontiguousarray(g, dtype=w.dtype)
        steps = slots.pop("velocity_step", None)
        if steps is not None:  # after lazy steps: first the decay every row still owes
            self._catch_up(v, steps)
        fast = backend.get().fused
        if fast is not None:  # fast path (numba backend): the two lines below in one pass
            fast.rmsprop_update(w, g, v, self.learning_rate, self.rho, self.epsilon)
            return
        lr, rho, one_minus_rho, eps = self._constants(w.dtype)
        v[...] = rho * v + one_minus_rho * g**2    # v = rho v + (1 - rho) g^2
        w -= lr * g / np.sqrt(v + eps)            # w -= lr g / sqrt(v + epsilon)

    def update_rows(self, w, g, slots):
        if g.rows.size == w.shape[0]:  # every row (rows are distinct): the dense step
            return self.update_step(w, g.values, slots)
        v, t = slots["velocity"], self.iterations
        steps, dtype = slots.get("velocity_step"), _step_dtype(t)
        if steps is None:  # the velocity is current now
            steps = slots["velocity_step"] = np.full(w.shape[0], t, dtype)
        elif steps.dtype != dtype:  # loaded from an older save, or past 2**31 - 2 steps
            steps = slots["velocity_step"] = steps.astype(dtype)
        fast = backend.get().fused
        if fast is not None:  # fast path (numba backend): the lines below, row by row
            fast.rmsprop_update_rows(w, v, steps, g.rows, g.values, t, self.learning_rate,
                                     self.rho, self.epsilon)
            return
        lr, rho, one_minus_rho, eps = self._constants(w.dtype)
        j, g_j = g.rows, g.values.astype(w.dtype, copy=False)
        v_j = v[j] * self._decay(t - steps[j], w.dtype)  # the decay owed: rho ** missed
        v_j = rho * v_j + one_minus_rho * g_j**2        # then the usual step
        v[j] = v_j
        w[j] -= lr * g_j / np.sqrt(v_j + eps)
        steps[j] = t + 1

    def _decay(self, missed, dtype):
        """rho ** missed per row, as a column (n_rows, 1) in ``dtype`` (rho rounded to the
        dtype first, the power taken in float64 and rounded once)."""
        rho = np.float64(np.dtype(dtype).type(self.rho))
        return np.power(rho, np.maximum(missed, 0).astype(np.float64)).astype(dtype)[:, None]

    def _catch_up(self, v, steps):
        """Apply to every row of ``v`` the decay it owes for the steps it missed; ``steps``
        becomes the current step."""
        fast = backend.get().fused
        if fast is not None:  # fast path (numba backend): the same, in one compiled pass
            fast.rmsprop_catch_up(v, steps, self.iterations, self.rho)
            return
        v *= self._decay(self.iterations - steps, v.dtype)
        np.maximum(steps, self.iterations, out=steps)

    def get_slot(self, key, name):
        """The current value of slot ``name`` of parameter ``key``; for "velocity", with the
        decay still owed by rows a lazy step skipped (a copy; the state is unchanged)."""
        slots = self.slots[key]
        if name != "velocity" or "velocity_step" not in slots:
            return slots[name]
        v = slots["velocity"].copy()
        self._catch_up(v, slots["velocity_step"].copy())
        return v

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam as Keras 3 computes it (epsilon *outside* the square root)::

        t = iterations + 1
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        w -= alpha * m / (sqrt(v) + epsilon)

    Every line in the weights' dtype, alpha included: ``beta**t``, ``1 - beta**t`` and alpha
    are each rounded to float32 for float32 weights, as Keras computes them, so a step
    matches Keras to the last bit or so.

    The momentum ``m`` moves every weight even where the gradient is zero, so a row-sparse
    gradient is densified (exact, not lazy).
    """

    name = "adam"
    slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, lr=None):
        super().__init__(_keras2_lr(learning_rate, lr, 0.001))
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{name} must be in [0, 1); got {beta!r}")
        _check_positive("epsilon", epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def update_step(self, w, g, slots):
        f = w.dtype.type
        alpha = self._step_size(f)
        m, v = slots["m"], slots["v"]
        m += (g - m) * f(1 - self.beta_1)
        v += (g * g - v) * f(1 - self.beta_2)
        w -= alpha * m / (np.sqrt(v) + f(self.epsilon))

    def _step_size(self, f):
        """alpha in the weights' dtype ``f``, every operation rounded to it as Keras rounds
        (beta**t is one correctly rounded power of the rounded beta, as TensorFlow's scalar
        pow gives it; numpy's float32 power is not always correctly rounded)."""
        t = np.float64(self.iterations + 1)
        beta_1_power = f(np.power(np.float64(f(self.beta_1)), t))
        beta_2_power = f(np.power(np.float64(f(self.beta_2)), t))
        return f(self.learning_rate) * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


def _zeros_like(w):
    """Zeros shaped like ``w``; 2-D slots get rows on cache lines, like the layers' kernels."""
    return zeros_aligned(w.shape, w.dtype) if w.ndim == 2 else np.zeros_like(w)


def _step_dtype(iterations):
    """int32 for `RMSprop`'s ``velocity_step`` while it can count the steps (fewer than
    2**31 - 2), int64 beyond that: a lazy step reads one entry per row, at random, so half
    the memory is fewer cache misses (docs/performance.md, "Lazy RMSprop")."""
    return np.int32 if iterations < np.iinfo(np.int32).max - 1 else np.int64


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}")


def _keras2_lr(learning_rate, lr, default):
    if lr is None:
        return learning_rate
    if learning_rate != default and learning_rate != lr:
        raise ValueError(f"got both learning_rate={learning_rate!r} and lr={lr!r}; "
                         "pass only learning_rate (lr is the old Keras 2 name)")
    return lr


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam}


def get(identifier):
    """A fresh optimizer by name ("rmsprop", "sgd", "adam") or an `Optimizer` unchanged."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        try:
            return _BY_NAME[identifier.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {identifier!r}; expected one of "
                             f"{sorted(_BY_NAME)} or an nn.optimizers.Optimizer") from None
    raise TypeError(f"optimizer must be a name or an nn.optimizers.Optimizer; "
                    f"got {type(identifier).__name__}")


def from_config(config):
    """An optimizer from its `get_config()` dict, e.g. ``{"name": "rmsprop", "rho": 0.9}``."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in _BY_NAME:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(_BY_NAME)}")
    return _BY_NAME[name](**config)
