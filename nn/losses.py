"""Losses: the value ``L(y, p)`` and its gradient ``dL/dp``, as Keras 3 computes them.

A loss is an object with ``__call__(y_true, y_pred, sample_weight=None) -> float`` and
``gradient(y_true, y_pred, sample_weight=None) -> dL/dp`` (the shape of ``y_pred``); subclass
`Loss` to write your own. The value is Keras's reduction "sum_over_batch_size": a loss per
sample ``l_i`` (the mean over the last axis of the loss per element), times the sample's
weight ``w_i`` when there are weights, summed and divided by the number of samples (not by
the sum of the weights): ``L = sum_i w_i l_i / n``. Without weights that is the mean over all
elements.

Shapes are taken as Keras takes them: when the ranks of ``y_true`` and ``y_pred`` differ by
one and the longer one ends in an axis of 1, that axis is added to the other (labels (n,) with
predictions (n, 1)). After that, binary crossentropy needs equal shapes and the regression
losses broadcast as NumPy (and Keras) do; anything else is a ValueError naming both shapes.
A 1-D pair is one sample of ``n`` outputs, as in Keras.

`BinaryCrossentropy` also has the fused gradient with respect to the *logits* of a sigmoid
output layer, ``dL/dz = (p - y) / n``: the sigmoid's ``p (1 - p)`` cancels the loss's
``1 / (p (1 - p))``, so nothing is divided by a number near zero. The model uses it whenever
the last layer is a sigmoid (and the loss does not take logits itself).
"""

import numpy as np

from . import activations, backend

EPSILON = 1e-7  # Keras's backend.epsilon()


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """``(x1, x2)`` with the last axis of 1 dropped from the longer one (or, when the other
    is 1-D and ``expand_rank_1``, added to the shorter one) if their ranks differ by one:
    Keras's rule (keras/src/losses/loss.py), used by every loss and metric here."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def aligned(y_true, y_pred, name, same_shape=False):
    """``y_true`` and ``y_pred`` as arrays of shapes Keras would pair (see the module
    docstring); ValueError naming both shapes when they do not pair."""
    y, p = squeeze_or_expand_to_same_rank(np.asarray(y_true), np.asarray(y_pred))
    if p.ndim == 0:
        raise ValueError(f"{name} needs arrays of at least one dimension (n_samples, ...); "
                         f"got y_pred of shape {p.shape}")
    if same_shape and y.shape != p.shape:
        raise ValueError(f"{name}: y_true and y_pred must have the same shape (an axis of 1 "
                         f"at the end aside); got y_true {np.shape(y_true)} and y_pred "
                         f"{np.shape(y_pred)}")
    try:
        np.broadcast_shapes(y.shape, p.shape)
    except ValueError:
        raise ValueError(f"{name}: y_true of shape {np.shape(y_true)} does not fit y_pred of "
                         f"shape {np.shape(y_pred)}; give one label per output, "
                         "(n_samples, units)") from None
    return y, p


def _weights(values, sample_weight):
    """The per-sample values and the weights, paired as Keras pairs them."""
    w = np.asarray(sample_weight, dtype=values.dtype if values.dtype.kind == "f" else None)
    v, w = squeeze_or_expand_to_same_rank(values, w)
    try:
        shape = np.broadcast_shapes(v.shape, w.shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} does not fit "
                         f"{values.shape} per-sample losses; give one weight per sample, "
                         "shape (n_samples,), or one number") from None
    return v, w, shape


def reduce(values, sample_weight=None):
    """Keras's "sum_over_batch_size" of per-sample ``values``: ``sum(w l) / n``, with ``n``
    the number of weighted values (0.0 for none); the plain mean without weights."""
    if sample_weight is None:
        return np.mean(values)
    v, w, shape = _weights(values, sample_weight)
    return np.sum(v * w) / max(int(np.prod(shape)), 1)


def _sum_to_shape(g, shape):
    """``g`` summed over the axes that broadcasting added to an array of ``shape``."""
    if g.shape == shape:
        return g
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, k in enumerate(shape) if k == 1 and g.shape[i] != 1),
                 keepdims=True)


def reduce_gradient(values_shape, dtype, sample_weight):
    """dL/dl for ``L = reduce(l, sample_weight)``: an array of ``values_shape`` (``w / n``
    for one weight per sample)."""
    v, w, shape = _weights(np.zeros(values_shape, dtype), sample_weight)
    # each value's weight, summed over the copies that broadcasting made of the value
    c = _sum_to_shape(np.broadcast_to(w, shape), v.shape) / max(int(np.prod(shape)), 1)
    return c.reshape(values_shape).astype(dtype, copy=False)


class Loss:
    """Base class. Subclasses define `__call__` (the value) and `gradient` (dL/dp), both
    taking ``sample_weight=None`` (one weight per sample, (n_samples,), or one number)."""

    name = "loss"

    def __call__(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def gradient(self, y_true, y_pred, sample_weight=None):
        raise NotImplementedError

    def fused_gradient(self, y_true, y_pred, activation, sample_weight=None):
        """dL/dz through the output activation in one stable step, or None if there is none."""
        return None

    def check_targets(self, y):
        """Raise ValueError if ``y`` holds values this loss cannot take."""

    def get_config(self):
        return {"name": self.name}

    def __repr__(self):
        return f"{type(self).__name__}()"


class ElementwiseLoss(Loss):
    """A loss whose value per element is ``elementwise(y, p)`` with derivative
    ``derivative(y, p)`` = d/dp; the loss per sample is their mean over the last axis and the
    value `reduce` of those (Keras's "sum_over_batch_size")."""

    same_shape = False  # True: y_true and y_pred must have one shape (else they broadcast)

    def elementwise(self, y, p):
        raise NotImplementedError

    def derivative(self, y, p):
        raise NotImplementedError

    def __call__(self, y_true, y_pred, sample_weight=None):
        y, p = aligned(y_true, y_pred, self.name, self.same_shape)
        if sample_weight is None:  # the mean over all elements
            return float(np.mean(self.elementwise(y, p)))
        per_sample = np.mean(self.elementwise(y, p), axis=-1)
        return float(reduce(per_sample, sample_weight))

    # dL/dp_ij = c_i dl/dp_ij / units, with c_i = dL/dl_i (1 / n without weights)
    def gradient(self, y_true, y_pred, sample_weight=None):
        y, p = aligned(y_true, y_pred, self.name, self.same_shape)
        d = self.derivative(y, p)
        if sample_weight is None:
            g = d / np.asarray(d.size, dtype=d.dtype)
        else:
            c = reduce_gradient(d.shape[:-1], d.dtype, sample_weight)
            g = d * (c[..., None] / d.shape[-1])
        return _sum_to_shape(g, p.shape).reshape(np.shape(y_pred))


class BinaryCrossentropy(ElementwiseLoss):
    """l = -(y log p + (1 - y) log(1 - p)), with p clipped to [1e-7, 1 - 1e-7] as in Keras.

    ``label_smoothing`` s in [0, 1] moves the labels towards 1/2 first:
    ``y -> y (1 - s) + s / 2``. ``from_logits=True``: ``y_pred`` holds logits z and the loss
    is that of ``p = sigmoid(z)``, computed without clipping as
    ``max(z, 0) - z y + log(1 + exp(-|z|))`` (TensorFlow's
    ``sigmoid_cross_entropy_with_logits``). ``y_true`` and ``y_pred`` must have one shape
    (an axis of 1 at the end aside).
    """

    name = "binary_crossentropy"
    same_shape = True

    def __init__(self, from_logits=False, label_smoothing=0.0):
        if not isinstance(from_logits, (bool, np.bool_)):
            raise ValueError(f"from_logits must be True or False; got {from_logits!r}")
        if (isinstance(label_smoothing, (bool, np.bool_))
                or not isinstance(label_smoothing, (int, float, np.integer, np.floating))
                or not 0 <= label_smoothing <= 1):
            raise ValueError(f"label_smoothing must be a number in [0, 1]; got "
                             f"{label_smoothing!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def smoothed(self, y):
        """The labels the loss compares with: ``y (1 - s) + s / 2``."""
        s = self.label_smoothing
        return y * (1 - s) + 0.5 * s if s else y

    def elementwise(self, y, p):
        y = self.smoothed(y)
        if self.from_logits:
            z = p
            return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        p = np.clip(p, EPSILON, 1 - EPSILON)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    def derivative(self, y, p):
        y = self.smoothed(y)
        if self.from_logits:
            # dl/dz = sigmoid(z) - y
            return activations.sigmoid.forward(p) - y
        # dl/dp = (p - y) / (p (1 - p))   (zero where the clip is active)
        q = np.clip(p, EPSILON, 1 - EPSILON)
        inside = (p > EPSILON) & (p < 1 - EPSILON)
        return np.where(inside, (q - y) / (q * (1 - q)), 0).astype(p.dtype)

    def with_options(self, from_logits=None, label_smoothing=None):
        """This loss, or a new one with the options given (None keeps this one's)."""
        if from_logits is None and label_smoothing is None:
            return self
        return BinaryCrossentropy(
            self.from_logits if from_logits is None else from_logits,
            self.label_smoothing if label_smoothing is None else label_smoothing)

    def __call__(self, y_true, y_pred, sample_weight=None, *, from_logits=None,
                 label_smoothing=None):
        """The loss; ``from_logits`` / ``label_smoothing`` given here (the function form,
        ``binary_crossentropy(y, p, from_logits=True)``) replace this loss's for the call."""
        loss = self.with_options(from_logits, label_smoothing)
        if loss is not self:
            return loss(y_true, y_pred, sample_weight)
        fast = backend.get().fused
        if (fast is not None and sample_weight is None and not self.label_smoothing
                and fast.accepts(y_true, y_pred)):  # fast path: one compiled pass
            if self.from_logits:
                return float(fast.binary_crossentropy_from_logits(y_true, y_pred))
            return float(fast.binary_crossentropy(y_true, y_pred, EPSILON))
        return super().__call__(y_true, y_pred, sample_weight)

    def gradient(self, y_true, y_pred, sample_weight=None, *, from_logits=None,
                 label_smoothing=None):
        """dL/dp (dL/dz with ``from_logits``), the shape of ``y_pred``."""
        loss = self.with_options(from_logits, label_smoothing)
        return super(BinaryCrossentropy, loss).gradient(y_true, y_pred, sample_weight)

    # with p = sigmoid(z):  dL/dz = (p - y) / n   (c_i (p - y) / units with weights)
    def fused_gradient(self, y_true, y_pred, activation, sample_weight=None):
        if not isinstance(activation, activations.Sigmoid) or self.from_logits:
            return None
        if (sample_weight is None and not self.label_smoothing
                and isinstance(y_true, np.ndarray) and isinstance(y_pred, np.ndarray)
                and y_true.shape == y_pred.shape):  # shapes paired already (fit's batches)
            return (y_pred - y_true) / np.asarray(y_pred.size, dtype=y_pred.dtype)
        y, p = aligned(y_true, y_pred, self.name, same_shape=True)
        y = self.smoothed(y)
        if sample_weight is None:
            dz = (p - y) / np.asarray(p.size, dtype=p.dtype)
        else:
            c = reduce_gradient(p.shape[:-1], p.dtype, sample_weight)
            dz = (p - y) * (c[..., None] / p.shape[-1])
        return dz.reshape(np.shape(y_pred))

    def check_targets(self, y):
        bad = np.flatnonzero((y < 0) | (y > 1))
        if bad.size:
            i = bad[0]
            raise ValueError(f"labels must be between 0 and 1 for binary_crossentropy; got "
                             f"{y.flat[i].item()!r} at index {i // (y.size // len(y))}")

    def get_config(self):
        return {"name": self.name, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}

    def __repr__(self):
        return (f"BinaryCrossentropy(from_logits={self.from_logits}, "
                f"label_smoothing={self.label_smoothing})")


class MeanSquaredError(ElementwiseLoss):
    """l = (p - y)^2."""

    name = "mean_squared_error"

    def elementwise(self, y, p):
        return np.square(p - y)

    # dl/dp = 2 (p - y)
    def derivative(self, y, p):
        return 2 * (p - y)


class MeanAbsoluteError(ElementwiseLoss):
    """l = |p - y|. Its derivative at p == y is 0, as TensorFlow's (the sign of 0)."""

    name = "mean_absolute_error"

    def elementwise(self, y, p):
        return np.abs(p - y)

    # dl/dp = sign(p - y)
    def derivative(self, y, p):
        return np.sign(p - y)


binary_crossentropy = BinaryCrossentropy()
mean_squared_error = MeanSquaredError()
mean_absolute_error = MeanAbsoluteError()

_BY_NAME = {"binary_crossentropy": binary_crossentropy, "bce": binary_crossentropy,
            "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
            "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error}
_CLASSES = {"binary_crossentropy": BinaryCrossentropy}  # losses with options in get_config


def get(identifier):
    """A loss by name ("binary_crossentropy", "bce", "mean_squared_error", "mse",
    "mean_absolute_error", "mae"), by `Loss.get_config()` dict (``{"name": ...,
    <options>}``), or the instance or `Loss` subclass itself."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict):
        options = dict(identifier)
        name = options.pop("name", None)
        if not options:
            return get(name)
        if not isinstance(name, str) or name.lower() not in _CLASSES:
            raise ValueError(f"loss config {identifier!r} has options, which only "
                             f"{sorted(_CLASSES)} take")
        try:
            return _CLASSES[name.lower()](**options)
        except TypeError as e:
            raise ValueError(f"bad options in loss config {identifier!r}: {e}") from None
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
            "Write it as a subclass of nn.losses.Loss with __call__(y_true, y_pred, "
            "sample_weight=None) returning the mean loss and gradient(y_true, y_pred, "
            "sample_weight=None) returning dL/dy_pred (same shape as y_pred), then pass an "
            "instance: model.compile(loss=MyLoss(), ...)")
    raise TypeError(f"loss must be a name or an nn.losses.Loss; got {type(identifier).__name__}")
