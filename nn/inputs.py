"""Checks on what users pass to `fit`, `evaluate` and `predict`, done once per call.

Every problem becomes a `ValueError` or `TypeError` that names the bad value and says what was
expected. Dense float input of any dtype is accepted without copying it whole: batches are
cast to the model's dtype one at a time. Sparse input (`nn.sparse.CSRMatrix`, or a
``scipy.sparse`` matrix, converted without densifying) was validated when it was built.
"""

import numbers

import numpy as np

from . import ops

_CHUNK = 1 << 22  # elements per finiteness check, to bound the temporary

# What NaN or infinite weights (or a NaN training loss) mean, and what to do: every message
# about it ends with this.
DIVERGED = ("training diverged (lower the learning rate, or check the inputs; "
            "callbacks.TerminateOnNaN stops it early)")


def prepare_x(x, name="x", dtype=None):
    """Return (x, n_samples, n_features) for a 2-D dense array or a sparse matrix.

    ``dtype`` is the model's dtype: values too large for it (float64 ``1e300`` in a float32
    model) are refused, as they would become inf when batches are cast.
    """
    if x is None:
        raise ValueError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    x, is_sparse = ops.as_input(x)
    if not is_sparse:
        if hasattr(x, "offsets") and hasattr(x, "tokens"):
            raise TypeError(f"{name} is a ragged list of sequences; turn it into a matrix "
                            "first, e.g. nn.preprocessing.vectorize_sequences(x, dimension=10000)")
        x = _as_array(x, name)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_samples, n_features); got shape {x.shape}")
        check_finite(x, name, dtype)
    elif x.data is not None and dtype is not None:
        _check_sparse_range(x, name, dtype)
    n, d = x.shape
    if n == 0:
        raise ValueError(f"{name} is empty (0 samples); expected at least one sample")
    if d == 0:
        raise ValueError(f"{name} has 0 features (shape {x.shape}); expected at least one "
                         "column")
    return x, n, d


def _as_array(a, name):
    try:
        return np.asarray(a)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} is not a rectangular array ({exc}); every row must have "
                         "the same length") from exc


def prepare_y(y, n_samples, units, dtype, loss=None, name="y"):
    """Return y as a (n_samples, units) array of ``dtype``, checked against the loss."""
    if y is None:
        raise ValueError(f"{name} is None; expected {n_samples} targets")
    y = _as_array(y, name)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {y.dtype}")
    if y.ndim == 0:
        raise ValueError(f"{name} is a single number ({y.item()!r}); expected {n_samples} "
                         "targets, shape (n_samples,) or (n_samples, units)")
    if len(y) != n_samples:
        raise ValueError(f"x and {name} must have the same number of samples; got "
                         f"{n_samples} in x and {len(y)} in {name}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != units:
        raise ValueError(f"{name} has shape {y.shape} but the model outputs "
                         f"({n_samples}, {units})")
    check_finite(y, name, dtype)
    y = y.astype(dtype, copy=False)
    if loss is not None:
        loss.check_targets(y)
    return y


def _limit(dtype, target):
    """The largest magnitude of ``target`` if casting ``dtype`` to it can overflow, else None."""
    if target is None:
        return None
    limit = np.finfo(target).max
    return limit if limit < np.finfo(dtype).max else None


def check_finite(x, name, dtype=None,
                 fix="inputs and targets must be finite (replace or drop NaN and inf)"):
    """Raise ValueError naming the first NaN or inf in a dense float array, or the first value
    too large for ``dtype`` (the dtype it will be cast to), chunk by chunk."""
    if x.dtype.kind != "f" or x.size == 0:
        return
    limit = _limit(x.dtype, dtype)
    rows = max(1, _CHUNK // max(x.shape[1] if x.ndim == 2 else 1, 1))
    for start in range(0, len(x), rows):
        chunk = x[start:start + rows]
        lo, hi = chunk.min(), chunk.max()  # NaN propagates through both: no temporaries
        if np.isfinite(lo) and np.isfinite(hi) and (limit is None
                                                     or -limit <= lo <= hi <= limit):
            continue
        finite = np.isfinite(chunk)
        if not finite.all():
            where = np.argwhere(~finite)[0]
            where[0] += start
            raise ValueError(f"{name} contains {x[tuple(where)]} at index "
                             f"{tuple(where.tolist())}; {fix}")
        where = np.argwhere(np.abs(chunk) > limit)[0]
        where[0] += start
        raise ValueError(f"{name} holds {x[tuple(where)].item()!r} at index "
                         f"{tuple(where.tolist())}, too large for the model's "
                         f"{np.dtype(dtype).name} (largest {limit:.4g}); scale the values, or "
                         "build the model with dtype='float64'")


def _check_sparse_range(x, name, dtype):
    """ValueError naming the first stored value of a sparse ``x`` that ``dtype`` cannot hold."""
    limit = _limit(x.data.dtype, dtype)
    if limit is None or x.nnz == 0 or max(-x.data.min(), x.data.max()) <= limit:
        return  # (min and max need no temporary of nnz values, as abs would)
    k = int(np.argmax(np.abs(x.data) > limit))
    row = int(np.searchsorted(x.indptr, k, side="right") - 1)
    raise ValueError(f"{name} holds {x.data[k].item()!r} at row {row}, column {x.indices[k]}, "
                     f"too large for the model's {np.dtype(dtype).name} (largest "
                     f"{limit:.4g}); scale the values, or build the model with dtype='float64'")


def check_integer(value, name, minimum):
    """``value`` as an int: TypeError unless it is an integer (a bool is not), ValueError if
    it is below ``minimum`` (0 or 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    if value < minimum:
        least = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise ValueError(f"{name} must be {least}; got {value}")
    return int(value)


def check_batch_size(batch_size):
    return check_integer(batch_size, "batch_size", minimum=1)


def check_epochs(epochs):
    return check_integer(epochs, "epochs", minimum=0)


def check_initial_epoch(initial_epoch):
    return check_integer(initial_epoch, "initial_epoch", minimum=0)


def check_validation_split(validation_split):
    if not isinstance(validation_split, numbers.Real):
        raise TypeError(f"validation_split must be a number in [0, 1); got "
                        f"{validation_split!r}")
    if not 0 <= validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1); got {validation_split!r}")
    return float(validation_split)


def check_shuffle(shuffle):
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
    return bool(shuffle)


def check_callbacks(callbacks):
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list; got {type(callbacks).__name__} (wrap a "
                        "single callback: callbacks=[cb])")
    return list(callbacks)


def check_verbose(verbose):
    if not isinstance(verbose, numbers.Real) or verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    return verbose


def prepare_sample_weight(sample_weight, n_samples, dtype, name="sample_weight"):
    """``sample_weight`` as a (n_samples,) array of ``dtype``, or None when it is None.

    One weight per sample, shape (n_samples,) or (n_samples, 1), finite and not negative;
    anything else is a ValueError or TypeError naming the bad value.
    """
    if sample_weight is None:
        return None
    w = _as_array(sample_weight, name)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {w.dtype}")
    if w.ndim == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.ndim != 1:
        raise ValueError(f"{name} must hold one weight per sample, shape ({n_samples},); "
                         f"got shape {w.shape}")
    if len(w) != n_samples:
        raise ValueError(f"x and {name} must have the same number of samples; got "
                         f"{n_samples} in x and {len(w)} in {name}")
    check_finite(w, name, dtype, fix="weights must be finite numbers, 0 or more")
    negative = np.flatnonzero(w < 0)
    if negative.size:
        i = negative[0]
        raise ValueError(f"{name} holds {w[i].item()!r} at index {i}; weights must be 0 or "
                         "more (0 leaves a sample out)")
    return w.astype(dtype, copy=False)


def class_sample_weights(class_weight, y, dtype):
    """The weight of each sample's class: ``class_weight[c_i]`` as a (n_samples,) array.

    ``y`` is (n_samples, units): the class of a sample is its label rounded to an integer
    when ``units`` is 1, the index of its largest label otherwise (Keras's rule, in
    keras/src/trainers/data_adapters/data_adapter_utils.py). ``class_weight`` maps integer
    classes (``1`` or ``1.0``, as Keras looks them up) to finite weights, 0 or more, and
    must name every class that occurs: Keras 3 would weight a class it lacks by 1.0; here
    that is a ValueError.
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}}, e.g. "
                        f"{{0: 1.0, 1: 3.0}}; got {type(class_weight).__name__}")
    table = {}
    for c, w in class_weight.items():
        if isinstance(c, bool) or not isinstance(c, numbers.Real) or not float(c).is_integer():
            raise TypeError(f"class_weight keys must be integer classes; got {c!r}")
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not np.isfinite(w) \
                or w < 0:
            raise ValueError(f"class_weight[{c}] must be a finite number, 0 or more; got {w!r}")
        table[int(c)] = w
    classes = np.argmax(y, axis=1) if y.shape[1] != 1 else np.round(y[:, 0]).astype(np.int64)
    missing = sorted(set(np.unique(classes).tolist()) - set(table))
    if missing:
        i = int(np.flatnonzero(classes == missing[0])[0])
        raise ValueError(f"class_weight has no weight for class {missing[0]} (the class of "
                         f"sample {i}); it has {sorted(table)}. Give every class a weight, "
                         "e.g. {0: 1.0, 1: 3.0} (Keras 3 would silently weight it 1.0)")
    keys = np.array(sorted(table))
    weights = np.array([table[k] for k in keys], dtype=dtype)
    return weights[np.searchsorted(keys, classes)]
