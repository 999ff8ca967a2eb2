"""Optimizers: the update math and their own slot state, nothing else.

The base class owns the plumbing (walking the parameters, clipping the gradients, weight
decay, counting steps); a subclass writes its hyperparameters and one
`update_step(w, g, slots)` that changes ``w`` in place. Slot state (RMSprop's velocity,
Adam's moments) lives here, keyed by the parameter's name, never on the layer. Formulas
follow Keras 3 exactly, including where epsilon sits.

A layer fed a sparse batch hands over an `nn.row_sparse.RowSparseGrad`: the gradient is zero
outside ``g.rows``. `update_rows(w, g, slots)` takes those; by default it densifies the
gradient and calls `update_step`, which is exact. Plain SGD and RMSprop override it to touch
only ``g.rows``, so a step costs what the batch costs, whatever the width of the layer, and
still computes what the dense step computes. Adam moves every weight (its momentum), so its
`update_rows` steps every row, but on the numba backend without forming the dense gradient.
With a clip or a weight decay on, a row-sparse gradient is densified and the dense step
taken (exact).
"""

import re

import numpy as np

from . import backend
from .memory import zeros_aligned
from .row_sparse import RowSparseGrad


class Optimizer:
    """Base class. ``apply(named_params)`` takes ``[(key, w, g), ...]`` and updates each ``w``.

    Every optimizer takes Keras's options, applied here in Keras's order before the
    subclass's `update_step`:

    1. Clip the gradients (at most one of the three; None, the default, clips nothing)::

           clipnorm:        g = g * clipnorm / max(||g||, clipnorm)    (each parameter's norm)
           global_clipnorm: g = g * clipnorm * min(1 / N, 1 / clipnorm),
                            N = sqrt(sum of ||g||**2 over all parameters)
           clipvalue:       g = clip(g, -clipvalue, clipvalue)

    2. Decoupled weight decay, on the weights before the step (not through the gradient,
       so the optimizer's moments never see it)::

           w -= w * weight_decay * learning_rate

       for every parameter except those excluded by `exclude_from_weight_decay`.
    3. The subclass's step with the clipped gradient.

    Each in the weights' dtype (float32 weights: every operation rounded to float32). A
    clip or a weight decay needs every row of a row-sparse gradient (a norm sums over all
    gradients, the decay moves every weight), so with either on, a `RowSparseGrad` is
    densified (``g.toarray()``) and the dense step taken: exactly the dense result, at the
    dense step's cost.
    """

    name = "optimizer"
    slot_names = ()

    def __init__(self, learning_rate, *, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None):
        _check_positive("learning_rate", learning_rate)
        self.learning_rate = float(learning_rate)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                 "global_clipnorm": global_clipnorm}
        for name, value in clips.items():
            if value is not None:
                _check_positive(name, value, "; pass None for no clipping")
        chosen = {name: value for name, value in clips.items() if value is not None}
        if len(chosen) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set; "
                             f"got {', '.join(f'{k}={v!r}' for k, v in chosen.items())}")
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            None if v is None else float(v) for v in clips.values())
        if weight_decay is not None:
            if isinstance(weight_decay, bool) or not isinstance(weight_decay, _NUMBERS) \
                    or not np.isfinite(weight_decay) or weight_decay < 0:
                raise ValueError(f"weight_decay must be a number >= 0; got {weight_decay!r} "
                                 "(None for no weight decay)")
            weight_decay = float(weight_decay)
        self.weight_decay = weight_decay
        self.iterations = 0
        self.slots = {}
        self.exclude_from_weight_decay()

    def apply(self, named_params):
        named_params = list(named_params)
        if self.clipnorm is not None or self.global_clipnorm is not None \
                or self.clipvalue is not None:
            grads = self._clip_gradients([g for _, _, g in named_params])
            named_params = [(key, w, g) for (key, w, _), g in zip(named_params, grads)]
        all_slots = self.slots
        for key, w, g in named_params:
            slots = all_slots.get(key)
            if slots is None:
                slots = all_slots[key] = {s: _zeros_like(w) for s in self.slot_names}
            if self.weight_decay and self._use_weight_decay(key, w):
                # w -= w * weight_decay * learning_rate: every row moves, so the dense step
                f = w.dtype.type
                w -= w * f(self.weight_decay) * f(self.learning_rate)
                g = _dense(g)
            if isinstance(g, RowSparseGrad):
                self.update_rows(w, g, slots)
            else:
                self.update_step(w, g, slots)
        self.iterations += 1

    def _clip_gradients(self, grads):
        """The gradients clipped as the class docstring says (new arrays; the layers' own
        gradients are left as they are), or ``grads`` unchanged without a clip."""
        if self.clipnorm is not None:
            return [clip_by_norm(_dense(g), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            return clip_by_global_norm([_dense(g) for g in grads], self.global_clipnorm)
        if self.clipvalue is not None:
            return [_clip_by_value(_dense(g), self.clipvalue) for g in grads]
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keep parameters out of weight decay (Keras's method of that name). Each call
        replaces the exclusions of the previous one.

        var_names : list of str. A parameter whose name ``"<layer>/<param>"`` (e.g.
            ``"dense_1/bias"``) contains a match of any of them (a regular-expression
            search, as Keras's) is excluded: ``var_names=["bias"]`` excludes every bias.
        var_list : list of parameter arrays (``layer.params["bias"]``), excluded by
            identity. Each is remembered by its name at the first step that sees it, and
            saved with the model from then on (`get_config`).
        """
        names = _strings("var_names", var_names)
        for name in names:
            try:
                re.compile(name)
            except re.error as e:
                raise ValueError(f"var_names holds {name!r}, not a regular expression ({e}); "
                                 "escape it with re.escape") from None
        if var_list is not None and (isinstance(var_list, np.ndarray)
                                     or not all(isinstance(a, np.ndarray) for a in var_list)):
            raise TypeError("var_list must be a list of parameter arrays "
                            "(e.g. [model.layers[0].params['bias']]); "
                            f"got {type(var_list).__name__}; for names use var_names=")
        self._exclude_names = names
        self._exclude_pattern = re.compile("|".join(names)) if names else None
        self._exclude_arrays = list(var_list or [])
        self._excluded_keys = set()

    def _use_weight_decay(self, key, w):
        if not self.weight_decay:  # None, or 0 (which would leave w as it is)
            return False
        if any(w is a for a in self._exclude_arrays):
            self._excluded_keys.add(key)
        return key not in self._excluded_keys and not (
            self._exclude_pattern is not None and self._exclude_pattern.search(key))

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
        """The settings as a JSON-able dict for `from_config`; the exclusions from weight
        decay, when there are any, as ``"exclude_from_weight_decay"``: the ``var_names``,
        then each parameter met from ``var_list`` as an exact name."""
        config = {"name": self.name, "learning_rate": self.learning_rate,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}
        excluded = self._exclude_names + [f"^{re.escape(k)}$" for k in sorted(self._excluded_keys)]
        if excluded:
            config["exclude_from_weight_decay"] = excluded
        return config

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def clip_by_norm(g, clipnorm):
    """``g * clipnorm / max(||g||, clipnorm)`` in g's dtype, in Keras's (TensorFlow's)
    order: a gradient whose norm is within ``clipnorm`` is unchanged but for rounding."""
    c = g.dtype.type(clipnorm)
    return g * c / np.maximum(np.sqrt(np.sum(g * g)), c)


def clip_by_global_norm(grads, clipnorm):
    """Every gradient times ``clipnorm * min(1 / N, 1 / clipnorm)``, N the norm of all of
    them together, as Keras computes it (a non-finite N makes every gradient NaN)."""
    squared_norms = [np.sum(np.square(g)) for g in grads]
    norm = np.sqrt(np.sum(np.stack(squared_norms)))
    f = norm.dtype.type
    with np.errstate(divide="ignore"):  # N = 0: 1 / N = inf, and the min picks 1 / clipnorm
        scale = f(clipnorm) * np.minimum(f(1) / norm, f(1.0 / clipnorm))
    scale = scale + (norm - norm)
    return [g * scale for g in grads]


def _clip_by_value(g, clipvalue):
    c = g.dtype.type(clipvalue)
    return np.clip(g, -c, c)


def _dense(g):
    return g.toarray() if isinstance(g, RowSparseGrad) else g


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Without momentum: ``w -= lr * g``. With momentum:
    ``m = momentum * m - lr * g``; ``w += m`` (or ``w += momentum * m - lr * g`` for Nesterov).

    A row-sparse gradient (`update_rows`) updates only its rows without momentum, exactly as
    the dense step (``w - lr * 0 = w``); with momentum every weight keeps moving, so it is
    densified.

    ``**options``: ``weight_decay``, ``clipnorm``, ``clipvalue``, ``global_clipnorm``, as
    `Optimizer` applies them.
    """

    name = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **options):
        super().__init__(learning_rate, **options)
        _check_fraction("momentum", momentum)
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

    ``centered=True`` also keeps the mean gradient ``a`` and divides by the gradient's
    estimated standard deviation instead of its root mean square (slot "average_gradient")::

        a = rho * a + (1 - rho) * g
        w -= learning_rate * g / sqrt(v - a**2 + epsilon)

    ``momentum > 0`` accumulates the steps (slot "momentum"), Keras's plain momentum::

        m = momentum * m + learning_rate * g / sqrt(...)
        w -= m

    with every constant rounded to the weights' dtype first. ``rho`` is in [0, 1] (Keras
    takes any value; outside [0, 1] the velocity can go negative and the step NaN);
    ``momentum`` in [0, 1]. ``**options``: ``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm``, as `Optimizer` applies them. ``lr=`` is accepted as the old
    Keras 2 name of ``learning_rate``. On the numba backend the step is one fused compiled
    pass over ``w``, ``g`` and ``v``, bitwise the same as the NumPy lines.

    The fast path and the lazy step are for plain RMSprop (not centered, no momentum). With
    either option the NumPy lines run on both backends and a row-sparse gradient is
    densified (exact): momentum keeps moving a weight after its gradient is back to zero,
    which the lazy step's shortcut below does not allow for. A clip or a weight decay
    (`Optimizer`) still takes the fused dense step, a row-sparse gradient densified first.

    Plain RMSprop applies row-sparse gradients lazily (`update_rows`): only the rows in the
    batch are touched. Where the gradient is zero the dense step only decays the velocity,
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

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, lr=None, **options):
        super().__init__(_keras2_lr(learning_rate, lr, 0.001), **options)
        _check_fraction("rho", rho)  # Keras takes any rho; outside [0, 1], v can go negative
        _check_fraction("momentum", momentum)
        _check_positive("epsilon", epsilon)
        self.rho, self.momentum, self.epsilon = float(rho), float(momentum), float(epsilon)
        self.centered = bool(centered)
        self.slot_names = ("velocity",) + ("average_gradient",) * self.centered \
            + ("momentum",) * (self.momentum > 0)
        self._plain = not self.centered and not self.momentum  # the fast and lazy paths

    def _constants(self, dtype):
        """learning_rate, rho, 1 - rho and epsilon rounded to ``dtype``, as Keras rounds them
        (1 - rho is computed in float64 first)."""
        f = np.dtype(dtype).type
        return f(self.learning_rate), f(self.rho), f(1.0 - self.rho), f(self.epsilon)

    def update_step(self, w, g, slots):
        v = slots["velocity"]
        if not (isinstance(g, np.ndarray) and g.dtype == w.dtype and g.flags.c_contiguous):
            g = np.ascontiguousarray(g, dtype=w.dtype)
        if "velocity_step" in slots:  # after lazy steps: first the decay every row still owes
            self._catch_up(v, slots.pop("velocity_step"))
        fast = backend.get().fused
        if fast is not None and self._plain:  # fast path (numba backend): plain, in one pass
            fast.rmsprop_update(w, g, v, self.learning_rate, self.rho, self.epsilon)
            return
        lr, rho, one_minus_rho, eps = self._constants(w.dtype)
        v[...] = rho * v + one_minus_rho * g**2        # v = rho v + (1 - rho) g^2
        if self.centered:
            a = slots["average_gradient"]
            a[...] = rho * a + one_minus_rho * g       # a = rho a + (1 - rho) g
            denominator = v - a**2 + eps               # v - a^2 + epsilon
        else:
            denominator = v + eps                      # v + epsilon
        increment = lr * g / np.sqrt(denominator)      # lr g / sqrt(...)
        if self.momentum:
            m = slots["momentum"]
            m[...] = w.dtype.type(self.momentum) * m + increment  # m = momentum m + increment
            w -= m
        else:
            w -= increment

    def update_rows(self, w, g, slots):
        if not self._plain:  # centered or momentum: every weight moves, so the dense step
            return super().update_rows(w, g, slots)
        if g.rows.size == w.shape[0]:  # every row (rows are distinct): the dense step
            fast = backend.get().fused
            if fast is not None and g.product is not None:
                # fast path (numba backend): update_step's fused step, each row of the
                # unformed g = x.T @ dz summed and stepped in turn (never stored)
                v, steps = slots["velocity"], slots.pop("velocity_step", None)
                if steps is not None:  # after lazy steps: first the decay every row owes
                    self._catch_up(v, steps)
                fast.rmsprop_update_product(w, v, *g.product, self.learning_rate, self.rho,
                                            self.epsilon)
                return
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
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """Adam as Keras 3 computes it (epsilon *outside* the square root)::

        t = iterations + 1
        alpha = learning_rate * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g**2 - v) * (1 - beta_2)
        w -= alpha * m / (sqrt(v) + epsilon)

    ``amsgrad=True`` divides by the largest ``v`` so far instead (slot "v_hat")::

        v_hat = max(v_hat, v)
        w -= alpha * m / (sqrt(v_hat) + epsilon)

    Every line in the weights' dtype (the gradient is cast to it first), alpha included:
    ``beta**t``, ``1 - beta**t`` and alpha are each rounded to float32 for float32 weights,
    as Keras computes them, so a step matches Keras to the last bit or so. On the numba
    backend the step is one fused compiled pass over ``w``, ``g``, ``m`` and ``v``, bitwise
    the same as the NumPy lines; with ``amsgrad`` the NumPy lines run on both backends.

    The momentum ``m`` moves every weight even where the gradient is zero, so a row-sparse
    gradient steps every row (exact, not lazy): the NumPy backend densifies it; the numba
    backend steps the rows it lists with their gradient and every other row with g = 0,
    and an unformed ``x.T @ dz`` (`RowSparseGrad.of_product`) row by row from the product,
    never forming the dense gradient: the same bits. ``**options``: ``weight_decay``,
    ``clipnorm``, ``clipvalue``, ``global_clipnorm``, as `Optimizer` applies them.
    """

    name = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, lr=None, **options):
        super().__init__(_keras2_lr(learning_rate, lr, 0.001), **options)
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{name} must be in [0, 1); got {beta!r}")
        _check_positive("epsilon", epsilon)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "v_hat") if self.amsgrad else ("m", "v")
        self._alpha = (None, None)  # (its inputs, alpha): `_step_size` once per step

    def update_step(self, w, g, slots):
        f = w.dtype.type
        alpha = self._step_size(f)
        m, v, g = slots["m"], slots["v"], np.ascontiguousarray(g, dtype=w.dtype)
        fast = backend.get().fused
        if fast is not None and not self.amsgrad:  # fast path (numba backend): in one pass
            fast.adam_update(w, g, m, v, alpha, self.beta_1, self.beta_2, self.epsilon)
            return
        m += (g - m) * f(1 - self.beta_1)
        v += (g * g - v) * f(1 - self.beta_2)
        if self.amsgrad:
            v = np.maximum(slots["v_hat"], v, out=slots["v_hat"])  # v_hat = max(v_hat, v)
        w -= alpha * m / (np.sqrt(v) + f(self.epsilon))

    def update_rows(self, w, g, slots):
        fast = backend.get().fused
        if fast is None or self.amsgrad:  # the NumPy lines on the densified gradient
            return super().update_rows(w, g, slots)
        if g.product is None and g.rows.size == w.shape[0]:  # every row (rows are distinct)
            return self.update_step(w, g.values, slots)
        # fast path (numba backend): update_step's fused step, every row, g = 0 outside g.rows
        alpha, m, v = self._step_size(w.dtype.type), slots["m"], slots["v"]
        if g.product is not None and g.rows.size == w.shape[0]:
            # each row of the unformed g = x.T @ dz summed and stepped in turn (never stored)
            fast.adam_update_product(w, m, v, *g.product, alpha, self.beta_1, self.beta_2,
                                     self.epsilon)
        else:
            fast.adam_update_rows(w, m, v, g.rows, g.values, alpha, self.beta_1, self.beta_2,
                                  self.epsilon)

    def _step_size(self, f):
        """alpha in the weights' dtype ``f``, every operation rounded to it as Keras rounds
        (beta**t is one correctly rounded power of the rounded beta, as TensorFlow's scalar
        pow gives it; numpy's float32 power is not always correctly rounded). Computed once
        per step: every parameter of the step shares it."""
        inputs = (self.iterations, f, self.learning_rate, self.beta_1, self.beta_2)
        if self._alpha[0] != inputs:
            t = np.float64(self.iterations + 1)
            beta_1_power = f(np.power(np.float64(f(self.beta_1)), t))
            beta_2_power = f(np.power(np.float64(f(self.beta_2)), t))
            alpha = f(self.learning_rate) * np.sqrt(f(1) - beta_2_power) / (f(1) - beta_1_power)
            self._alpha = (inputs, alpha)
        return self._alpha[1]

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


def _zeros_like(w):
    """Zeros shaped like ``w``; 2-D slots get rows on cache lines, like the layers' kernels."""
    return zeros_aligned(w.shape, w.dtype) if w.ndim == 2 else np.zeros_like(w)


def _step_dtype(iterations):
    """int32 for `RMSprop`'s ``velocity_step`` while it can count the steps (fewer than
    2**31 - 2), int64 beyond that: a lazy step reads one entry per row, at random, so half
    the memory is fewer cache misses (docs/performance.md, "Lazy RMSprop")."""
    return np.int32 if iterations < np.iinfo(np.int32).max - 1 else np.int64


_NUMBERS = (int, float, np.floating, np.integer)


def _check_positive(name, value, hint=""):
    if isinstance(value, bool) or not isinstance(value, _NUMBERS) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number; got {value!r}{hint}")


def _check_fraction(name, value):
    if isinstance(value, bool) or not isinstance(value, _NUMBERS) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1]; got {value!r}")


def _strings(name, values):
    """``values`` as a list of str; TypeError for a bare string, which would be taken letter
    by letter."""
    if values is None:
        return []
    if isinstance(values, str) or not all(isinstance(v, str) for v in values):
        raise TypeError(f"{name} must be a list of strings, e.g. ['bias']; got {values!r}")
    return list(values)


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
    excluded = config.pop("exclude_from_weight_decay", None)
    optimizer = _BY_NAME[name](**config)
    if excluded:
        optimizer.exclude_from_weight_decay(var_names=excluded)
    return optimizer
