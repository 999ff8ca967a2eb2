"""Check backprop against central differences, parameter by parameter.

For a parameter entry ``w``, the numerical gradient is the fourth-order central difference
``(-L(w+2h) + 8 L(w+h) - 8 L(w-h) + L(w-2h)) / (12 h)``: its truncation error is O(h^4), so
a step of h = 1e-4 keeps both rounding (~1e-16 / h) and truncation error far below 1e-6.
The error is reported relative to the larger of the two gradients:
``|g_backprop - g_numeric| / max(|g_backprop|, |g_numeric|, 1e-5)``.
Gradients below 1e-5 are thus compared in absolute terms: there the float64 rounding of the
loss (~1e-16 per term, ~1e-12 once divided by h) is all a difference can resolve.
Run it on a float64 model (``Sequential(..., dtype="float64")``): in float32 the rounding of
the loss alone is ~1e-7, so differences are only good to about 1e-3.

Which entries. Up to ``max_entries`` per parameter, chosen with ``seed``, preferring entries
whose backprop gradient is nonzero: all of them when there are at most ``max_entries``, the
rest of the sample drawn from the zero ones. A first layer on sparse multi-hot input has
mostly zero rows (words absent from the batch), where both sides are exactly 0 and a check
cannot fail. The ``nonzero`` column counts the checked entries with a nonzero gradient.

ReLU kinks. The difference assumes L is smooth on [w - 2h, w + 2h]. If a ReLU pre-activation
lies within reach of 0, the stencil straddles the kink and mixes two slopes: a large error
that is not a backprop bug. Each entry's difference is therefore taken with training forward
passes, and every ReLU layer's pattern ``a > 0`` at w + 2h, w + h, w - h and w - 2h is compared
with the pattern at w. If any differs, the entry is *at a kink*: it is counted in ``kinks``,
its errors go to ``max_abs_error_at_kinks`` / ``max_rel_error_at_kinks``, and it is left out
of ``max_abs_error`` / ``max_rel_error``, which cover the kink-free entries only. (A unit that
flips and flips back between two of the five points is not seen: that takes two kinks within
a step h, unlikely but not impossible.) An entry at a kink is not verified. A parameter whose
every checked entry is at a kink has ``max_abs_error`` and ``max_rel_error`` NaN, and so has
the report's ``max_rel_error``: ``report.max_rel_error < tol`` is then False, and the check
fails rather than pass on nothing; ``report.unverified`` names those parameters. Move off the
kinks with another batch, a smaller h, or non-zero biases (with zero biases a unit whose inputs
are all 0 sits exactly on its kink).

    report = nn.gradcheck.check_gradients(model, x, y)
    print(report)       # a table: parameter, shape, entries checked, nonzero, kinks, errors
    assert report.max_rel_error < 1e-6
"""

import numpy as np

from . import ops
from .activations import ReLU
from .layers import Dropout

FLOOR = 1e-5  # smallest gradient magnitude compared in relative terms


class GradcheckReport:
    """Rows of (parameter, shape, entries checked, of them nonzero and at a kink, worst
    absolute and relative error of the kink-free entries, worst errors at kinks)."""

    def __init__(self, rows):
        self.rows = rows

    @property
    def max_rel_error(self):
        """Worst kink-free relative error; NaN if some parameter had no kink-free entry."""
        errors = [row["max_rel_error"] for row in self.rows]
        return float("nan") if np.isnan(errors).any() else max(errors)

    @property
    def max_rel_error_at_kinks(self):
        return max(row["max_rel_error_at_kinks"] for row in self.rows)

    @property
    def kinks(self):
        return sum(row["kinks"] for row in self.rows)

    @property
    def unverified(self):
        """Parameters whose every checked entry was at a kink."""
        return [row["parameter"] for row in self.rows if np.isnan(row["max_rel_error"])]

    def __getitem__(self, parameter):
        return next(row for row in self.rows if row["parameter"] == parameter)

    def __str__(self):
        lines = [f"{'parameter':<22}{'shape':<16}{'checked':>8}{'nonzero':>8}{'kinks':>6}"
                 f"{'max abs err':>14}{'max rel err':>14}{'at kinks':>11}"]
        for r in self.rows:
            at_kinks = f"{r['max_rel_error_at_kinks']:>11.2e}" if r["kinks"] else f"{'-':>11}"
            lines.append(f"{r['parameter']:<22}{str(r['shape']):<16}{r['checked']:>8}"
                         f"{r['nonzero']:>8}{r['kinks']:>6}"
                         f"{r['max_abs_error']:>14.2e}{r['max_rel_error']:>14.2e}{at_kinks}")
        return "\n".join(lines)


def backprop_gradients(model, x, y, sample_weight=None):
    """The gradients backprop computes for one batch, ``{"dense/kernel": dW, ...}``, as
    dense arrays (a sparse input's row-sparse kernel gradient is densified). ``x``, ``y``
    and ``sample_weight`` are checked as `fit` checks them (a 1-D ``y`` becomes a column)."""
    return _backprop(model, *_checked(model, x, y, sample_weight, "backprop_gradients"))


def _checked(model, x, y, sample_weight, what):
    """(x, y, sample_weight) checked as `fit` checks them, x as one batch in the model's
    dtype."""
    model._check_compiled(what)
    x, y = model._check_data(x, y, "x", "y")
    sample_weight = model._check_weights(sample_weight, None, y)
    return ops.slice_rows(x, 0, len(y), model.dtype), y, sample_weight


def _backprop(model, x, y, sample_weight=None):
    p = model._forward(x, training=True)
    if sample_weight is None:
        model._backward(y, p)
    else:
        model._backward(y, p, sample_weight)
    return {key: np.array(g) for key, _, g in model._named_params()}


def relu_patterns(model):
    """Each ReLU layer's ``a > 0`` from the last training forward pass."""
    return [layer._a > 0 for layer in model.layers
            if isinstance(getattr(layer, "activation", None), ReLU)]


def choose_entries(g, max_entries, rng):
    """Up to ``max_entries`` flat indices of ``g``: the nonzero ones first, then zero ones."""
    if g.size <= max_entries:
        return np.arange(g.size)
    nonzero = np.flatnonzero(g)
    if nonzero.size >= max_entries:
        return np.sort(rng.choice(nonzero, size=max_entries, replace=False))
    zero = np.flatnonzero(g == 0)
    fill = rng.choice(zero, size=max_entries - nonzero.size, replace=False)
    return np.sort(np.concatenate([nonzero, fill]))


def _worst(errors):
    return float(errors.max()) if errors.size else float("nan")


def check_gradients(model, x, y, max_entries=64, eps=None, seed=0, sample_weight=None):
    """Compare backprop gradients of a compiled model on (x, y) with central differences.

    Parameters
    ----------
    model : Sequential, compiled (its loss is differentiated)
    x : array (n_samples, n_features) or sparse matrix;  y : array (n_samples,) or (n, units)
    max_entries : int
        Entries checked per parameter (all when the parameter is smaller), entries with a
        nonzero backprop gradient first, the rest chosen at random among the zero ones.
    eps : float, optional
        Step h; default 1e-4 for float64 models, 1e-2 for float32.
    seed : int
        Seed for choosing the entries.
    sample_weight : array (n_samples,), optional
        Weights of the samples: the weighted loss (as `fit` computes it) is differentiated.

    The loss differentiated is the one `fit` minimises: with the layers' weight penalties
    (regularizers), and with each `Dropout` layer's mask drawn once and held fixed for every
    pass of the check. The model's random generators are left as they were: a check changes
    no later draw.

    Returns
    -------
    GradcheckReport
        One row per parameter: ``parameter``, ``shape``, ``checked``, ``nonzero`` (checked
        entries with a nonzero backprop gradient), ``kinks`` (checked entries whose stencil
        flips a ReLU unit), ``max_abs_error`` and ``max_rel_error`` over the kink-free entries
        (NaN if there are none), ``max_abs_error_at_kinks`` and ``max_rel_error_at_kinks``
        (0 if there are no kinks).
    """
    x, y, sample_weight = _checked(model, x, y, sample_weight, "check_gradients")
    if eps is None:
        eps = 1e-4 if model.dtype == np.float64 else 1e-2
    dropouts = [layer for layer in model.layers if isinstance(layer, Dropout)]
    generators = {id(g): (g, g.bit_generator.state)
                  for g in [model.rng] + [layer.rng for layer in dropouts] if g is not None}
    try:
        for layer in dropouts:
            layer.hold_mask = True  # every pass below reuses backprop's masks
        return _check(model, x, y, sample_weight, max_entries, eps, seed, dropouts)
    finally:
        for layer in dropouts:
            layer.hold_mask = False
        for g, state in generators.values():  # as if the check had drawn nothing
            g.bit_generator.state = state


def _check(model, x, y, sample_weight, max_entries, eps, seed, dropouts):
    for layer in dropouts:
        layer._scale = None  # a fresh mask, then held
    analytic = _backprop(model, x, y, sample_weight)
    at_w = relu_patterns(model)  # the patterns of backprop's own forward pass
    weighted = [layer for layer in model.layers if layer.has_weights]  # not Dropout
    caches = [(layer._x, layer._a) for layer in weighted]
    rng = np.random.default_rng(seed)

    def loss_and_flip():
        """L at the current weights, and whether any ReLU unit differs from its state at w."""
        p, z = model._outputs(x, training=True)
        flip = any(np.any(a != a0) for a, a0 in zip(relu_patterns(model), at_w))
        return model._loss_value(y, p, sample_weight, z), flip

    rows = []
    for key, w, _ in model._named_params():
        flat = w.reshape(-1)  # a view: changing it changes the layer's weights
        g_all = analytic[key].reshape(-1)
        picks = choose_entries(g_all, max_entries, rng)
        g = g_all[picks]
        numeric = np.empty(picks.size)
        kink = np.zeros(picks.size, bool)
        for j, i in enumerate(picks):
            original = flat[i]
            values = []
            for step in (2 * eps, eps, -eps, -2 * eps):
                flat[i] = original + step
                value, flip = loss_and_flip()
                values.append(value)
                kink[j] |= flip
            flat[i] = original
            f2, f1, fm1, fm2 = values
            numeric[j] = (-f2 + 8 * f1 - 8 * fm1 + fm2) / (12 * eps)
        abs_err = np.abs(g - numeric)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(g), np.abs(numeric)), FLOOR)
        rows.append({"parameter": key, "shape": w.shape, "checked": int(picks.size),
                     "nonzero": int(np.count_nonzero(g)), "kinks": int(kink.sum()),
                     "max_abs_error": _worst(abs_err[~kink]),
                     "max_rel_error": _worst(rel_err[~kink]),
                     "max_abs_error_at_kinks": float(abs_err[kink].max(initial=0.0)),
                     "max_rel_error_at_kinks": float(rel_err[kink].max(initial=0.0))})
    for layer, (x_cached, a_cached) in zip(weighted, caches):
        layer._x, layer._a = x_cached, a_cached  # as backprop left them, like the grads
    return GradcheckReport(rows)
