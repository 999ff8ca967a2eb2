"""Check backprop against central differences, parameter by parameter.

For a parameter entry ``w``, the numerical gradient is the fourth-order central difference
``(-L(w+2h) + 8 L(w+h) - 8 L(w-h) + L(w-2h)) / (12 h)``: its truncation error is O(h^4), so
a step of h = 1e-4 keeps both rounding (~1e-16 / h) and truncation error far below 1e-6,
while staying small enough not to jump across a ReLU kink in most cases (a kink within 2h of
an entry's pre-activation shows up as a large error for that entry). The error is reported relative to the larger of
the two gradients: ``|g_backprop - g_numeric| / max(|g_backprop|, |g_numeric|, 1e-5)``.
Gradients below 1e-5 are thus compared in absolute terms: there the float64 rounding of the
loss (~1e-16 per term, ~1e-12 once divided by h) is all a difference can resolve.
Run it on a float64 model (``Sequential(..., dtype="float64")``): in float32 the rounding of
the loss alone is ~1e-7, so differences are only good to about 1e-3.

    report = nn.gradcheck.check_gradients(model, x, y)
    print(report)                    # a table: parameter, shape, entries checked, errors
    assert report.max_rel_error < 1e-6
"""

import numpy as np

from . import ops

FLOOR = 1e-5  # smallest gradient magnitude compared in relative terms


class GradcheckReport:
    """Rows of (parameter, shape, entries checked, worst absolute and relative error)."""

    def __init__(self, rows):
        self.rows = rows

    @property
    def max_rel_error(self):
        return max(row["max_rel_error"] for row in self.rows)

    def __getitem__(self, parameter):
        return next(row for row in self.rows if row["parameter"] == parameter)

    def __str__(self):
        lines = [f"{'parameter':<22}{'shape':<16}{'checked':>8}{'max abs err':>14}"
                 f"{'max rel err':>14}"]
        for r in self.rows:
            lines.append(f"{r['parameter']:<22}{str(r['shape']):<16}{r['checked']:>8}"
                         f"{r['max_abs_error']:>14.2e}{r['max_rel_error']:>14.2e}")
        return "\n".join(lines)


def backprop_gradients(model, x, y):
    """The gradients backprop computes for one batch, ``{"dense/kernel": dW, ...}``, as
    dense arrays (a sparse input's row-sparse kernel gradient is densified)."""
    p = model._forward(x, training=True)
    model._backward(y, p)
    return {key: np.array(g) for key, _, g in model._named_params()}


def check_gradients(model, x, y, max_entries=64, eps=None, seed=0):
    """Compare backprop gradients of a compiled model on (x, y) with central differences.

    Parameters
    ----------
    model : Sequential, compiled (its loss is differentiated)
    x : array (n_samples, n_features) or sparse matrix;  y : array (n_samples,) or (n, units)
    max_entries : int
        Entries checked per parameter, chosen at random (all when the parameter is smaller).
    eps : float, optional
        Step h; default 1e-4 for float64 models, 1e-2 for float32.
    seed : int
        Seed for choosing the entries.

    Returns
    -------
    GradcheckReport
    """
    model._check_compiled("check_gradients")
    x, y = model._check_data(x, y, "x", "y")
    x = ops.slice_rows(x, 0, len(y), model.dtype)
    if eps is None:
        eps = 1e-4 if model.dtype == np.float64 else 1e-2
    analytic = backprop_gradients(model, x, y)
    rng = np.random.default_rng(seed)

    def loss():
        return model.loss(y, model._forward(x))

    rows = []
    for key, w, _ in model._named_params():
        flat = w.reshape(-1)  # a view: changing it changes the layer's weights
        picks = np.arange(flat.size) if flat.size <= max_entries \
            else rng.choice(flat.size, size=max_entries, replace=False)
        g = analytic[key].reshape(-1)[picks]
        numeric = np.empty(picks.size)
        for j, i in enumerate(picks):
            original = flat[i]
            values = []
            for step in (2 * eps, eps, -eps, -2 * eps):
                flat[i] = original + step
                values.append(loss())
            flat[i] = original
            f2, f1, fm1, fm2 = values
            numeric[j] = (-f2 + 8 * f1 - 8 * fm1 + fm2) / (12 * eps)
        abs_err = np.abs(g - numeric)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(g), np.abs(numeric)), FLOOR)
        rows.append({"parameter": key, "shape": w.shape, "checked": int(picks.size),
                     "max_abs_error": float(abs_err.max()),
                     "max_rel_error": float(rel_err.max())})
    return GradcheckReport(rows)
