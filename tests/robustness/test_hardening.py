"""Property tests over bad input: every call works and gives a sane result, or raises
ValueError/TypeError with a message, and a refused call changes nothing.

Hypothesis drives `fit`, `evaluate`, `predict` and `train_on_batch` with random shapes, dtypes,
NaN and inf, values too large for float32, empty arrays, wrong label values and bad batch sizes;
the `CSRMatrix` constructor and `vectorize_sequences` with out-of-range and negative indices,
broken row pointers and bad values; and `imdb.load_data` with random argument values. Each test
computes on its own whether the input is valid, so it checks both directions: valid input must
work (and agree with an independent NumPy computation), invalid input must be refused.

The sparse properties run a second time in a subprocess with ``NUMBA_DISABLE_JIT=1``: there
the kernels are plain Python, where an out-of-bounds index raises instead of reading or
writing stray memory, so a matrix that passed validation but could make a compiled kernel
stray would fail loudly. Examples per test: ``NN_HARDENING_EXAMPLES`` (default 100).
"""

import numbers
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nn import callbacks, layers, models, optimizers
from nn.datasets import imdb
from nn.sequences import Sequences
from nn.preprocessing import vectorize_sequences
from nn.sparse import CSRMatrix

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("NN_HARDENING_EXAMPLES", "100"))
NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
fuzz = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

INPUT_DIM = 3
GOOD_DTYPES = [np.float16, np.float32, np.float64, np.int8, np.int64, np.uint8, np.bool_]
BAD_DTYPES = [np.complex64, object, np.str_]
GOOD_VALUES = [0.0, 1.0, -1.0, 0.5, 3.0, -250.0, 1e4]
BAD_VALUES = [np.nan, np.inf, -np.inf, 1e300]  # 1e300 is fine for a float64 model
GOOD_LABELS = [0.0, 1.0]
BAD_LABELS = [2.0, -1.0, np.nan, np.inf, 1e300]
GOOD_BATCH_SIZES = [1, 2, 3, 32, 10**9, 10**30, np.int64(2)]
BAD_BATCH_SIZES = [0, -1, 2.5, True, None, "4"]


def is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def cast(values, shape, dtype):
    """``values`` as an array of ``shape`` and ``dtype``, as a user could build it (NaN cast to
    an integer type gives whatever NumPy gives)."""
    a = np.array(values, dtype=np.float64).reshape(shape)
    if dtype is object:
        return a.astype(object)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return a.astype(dtype)


@st.composite
def arrays(draw, shape, values, bad_values, faulty):
    """An array of ``shape``; with ``faulty``, it may hold ``bad_values`` or a bad dtype."""
    size = int(np.prod(shape))
    pool = values + bad_values if faulty else values
    data = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
    dtypes = GOOD_DTYPES + (BAD_DTYPES if faulty else [])
    return cast(data, shape, draw(st.sampled_from(dtypes)))


def fits(a, dtype):
    """Whether a numeric array is finite and inside ``dtype``'s range."""
    if a.dtype.kind != "f" or a.size == 0:
        return True
    with np.errstate(all="ignore"):
        return bool(np.isfinite(a).all() and np.abs(a).max() <= np.finfo(dtype).max)


def numeric(a):
    return a.dtype.kind in "biuf"


def build_model(units, sigmoid, dtype, built, metrics):
    model = models.Sequential(seed=0, dtype=dtype)
    model.add(layers.Dense(4, activation="relu", bias_initializer="ones",
                           input_shape=(INPUT_DIM,) if built else None))
    model.add(layers.Dense(units, activation="sigmoid" if sigmoid else "linear"))
    model.compile(optimizer=optimizers.RMSprop(0.01),
                  loss="binary_crossentropy" if sigmoid else "mse",
                  metrics=["accuracy"] if metrics else None)
    return model


def reference_forward(model, x, logits=False):
    """The model's outputs computed in float64 from its weights, and an error bound for its
    own dtype (each product's rounding error is at most eps times the sum of |terms|); with
    ``logits``, the output layer's pre-activation z instead of its outputs."""
    (W1, b1, W2, b2) = [w.astype(np.float64) for w in model.get_weights()]
    x = np.asarray(x, dtype=model.dtype).astype(np.float64)
    h = np.maximum(x @ W1 + b1, 0)
    z = h @ W2 + b2
    scale = ((np.abs(x) @ np.abs(W1) + np.abs(b1)) @ np.abs(W2) + np.abs(b2))
    eps = 1e-12 if model.dtype == np.float64 else 1e-5
    if model.layers[-1].activation.name == "sigmoid" and not logits:
        return 1 / (1 + np.exp(-z)), eps * scale / 4 + 1e-7
    return z, eps * scale + 1e-7


def our_warnings(caught):
    return [w for w in caught if issubclass(w.category, RuntimeWarning)
            and ("NaN or infinite" in str(w.message) or "diverged" in str(w.message))]


def dense_twin_of(x):
    return x.toarray(np.float64) if isinstance(x, CSRMatrix) else x


# --- fit / evaluate / predict / train_on_batch ----------------------------------------------

FAULTS = ["x values", "x shape", "x kind", "n", "d", "y values", "y shape", "batch_size",
          "epochs", "validation_split"]


@st.composite
def model_calls(draw):
    """A call with its arguments: about a third have no fault, the rest one or two."""
    faults = set(draw(st.lists(st.sampled_from(FAULTS), max_size=2))) \
        if draw(st.integers(0, 2)) else set()
    call = draw(st.sampled_from(["fit", "evaluate", "predict", "train_on_batch"]))
    units = draw(st.sampled_from([1, 1, 2]))
    sigmoid = draw(st.booleans())
    config = dict(units=units, sigmoid=sigmoid, dtype=draw(st.sampled_from(["float32",
                                                                            "float64"])),
                  built=draw(st.booleans()), metrics=draw(st.booleans()))
    n = draw(st.sampled_from([0, 1, 2, 5, 7] if "n" in faults else [1, 2, 5, 7]))
    d = draw(st.sampled_from([0, 2, INPUT_DIM]) if "d" in faults else st.just(INPUT_DIM))
    x_shape = draw(st.sampled_from([(n,), (n, d, 1)])) if "x shape" in faults else (n, d)
    x = draw(arrays(x_shape, GOOD_VALUES, BAD_VALUES, "x values" in faults))
    kinds = ["array", "list", "sparse"] + (["none", "sequences"] if "x kind" in faults else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "list":
        x = x.tolist()
    elif kind == "sparse" and numeric(x) and x.ndim == 2 and fits(x, np.float64):
        rows, cols = np.nonzero(x)
        values = x[rows, cols]
        data = None if np.all(values == 1) else values
        x = CSRMatrix(np.r_[0, np.cumsum(np.bincount(rows, minlength=len(x)))], cols,
                      x.shape, data=data)
    elif kind == "none":
        x = None
    elif kind == "sequences":
        x = Sequences.from_lists([[1, 2], [3]])
    y_shape = draw(st.sampled_from([(n, 3), (n + 1,), ()]) if "y shape" in faults
                   else st.sampled_from([(n, units)] + ([(n,)] if units == 1 else [])))
    labels = GOOD_LABELS + ([0.5] if sigmoid else [250.0])
    y = draw(arrays(y_shape, labels, BAD_LABELS, "y values" in faults))
    kwargs = {"batch_size": draw(st.sampled_from(BAD_BATCH_SIZES if "batch_size" in faults
                                                 else GOOD_BATCH_SIZES))}
    if call == "fit":
        kwargs["epochs"] = draw(st.sampled_from([-1, 1.0, "2"] if "epochs" in faults
                                                else [0, 1, 2]))
        kwargs["validation_split"] = draw(st.sampled_from(
            [1.0, 1.5, -0.1, "x", True] if "validation_split" in faults else [0.0, 0.0, 0.5]))
    elif call == "train_on_batch":
        kwargs = {}
    return call, config, x, y, kwargs


def expected_valid(call, config, x, y, kwargs):
    """Whether the call should work, decided without the library's own checks."""
    dtype = np.dtype(config["dtype"])
    if x is None or isinstance(x, Sequences):
        return False
    if isinstance(x, CSRMatrix):
        n, d = x.shape
        if x.data is not None and not fits(x.data, dtype):
            return False
    else:
        x = np.asarray(x)
        if not numeric(x) or x.ndim != 2 or not fits(x, dtype):
            return False
        n, d = x.shape
    if n == 0 or d == 0 or (config["built"] and d != INPUT_DIM):
        return False
    if "batch_size" in kwargs and not (is_int(kwargs["batch_size"])
                                       and kwargs["batch_size"] >= 1):
        return False
    if call == "predict":
        return True
    if not numeric(y) or y.ndim not in (1, 2) or len(y) != n or not fits(y, dtype):
        return False
    if (y.ndim == 1 and config["units"] != 1) or (y.ndim == 2 and y.shape[1] != config["units"]):
        return False
    if config["sigmoid"] and not np.all((y >= 0) & (y <= 1)):
        return False
    if call == "fit":
        if not (is_int(kwargs["epochs"]) and kwargs["epochs"] >= 0):
            return False
        split = kwargs["validation_split"]
        if not isinstance(split, float) or not 0 <= split < 1:
            return False
        if split and int(n * (1 - split)) in (0, n):
            return False
    return True


def check_result(model, call, x, y, kwargs, result, warned):
    """A call that worked gave a sane result: right shapes and dtypes, finite values unless
    a warning said why not, and agreement with an independent computation."""
    units = model.layers[-1].units
    sigmoid = model.layers[-1].activation.name == "sigmoid"
    x_dense = dense_twin_of(x)
    n = len(x_dense)
    # The same batches as the call itself, so evaluate's metrics see the very same outputs.
    p = result if call == "predict" else model.predict(x, batch_size=kwargs.get("batch_size", n))
    assert p.shape == (n, units) and p.dtype == model.dtype
    weights_finite = all(np.isfinite(w).all() for w in model.get_weights())
    if not weights_finite or not np.isfinite(p).all():
        # train_on_batch reports through the loss it returns; the next call warns.
        assert warned or call == "train_on_batch", "NaN or inf outputs without a warning"
        return
    if sigmoid:
        assert np.all((p >= 0) & (p <= 1))
    expected, tolerance = reference_forward(model, x_dense)
    assert np.all(np.abs(p - expected) <= tolerance), (p, expected)
    if call in ("evaluate", "train_on_batch", "fit"):
        y = np.asarray(y, dtype=model.dtype).reshape(n, units)
    if call == "evaluate":
        loss = result[0] if isinstance(result, list) else result
        if not np.isfinite(loss):
            assert warned, "a NaN or inf loss without a warning"
            return
        y = y.astype(np.float64)
        if sigmoid:  # from the logits z, as Keras on TensorFlow: no clip of p
            z, _ = reference_forward(model, x_dense, logits=True)
            expected_loss = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))))
        else:
            expected_loss = np.mean((p.astype(np.float64) - y) ** 2)
        assert loss == pytest.approx(expected_loss, rel=1e-3, abs=1e-5)
        if isinstance(result, list):
            accuracy = np.mean((p > 0.5) == y)
            assert result[1] == pytest.approx(accuracy, abs=1e-6)
    elif call == "fit":
        losses = result.history.get("loss", [])
        assert len(losses) == kwargs["epochs"]
        assert all(np.isfinite(losses)) or warned
    elif call == "train_on_batch":
        assert isinstance(result, float)


@fuzz
@given(model_calls())
def test_fit_evaluate_predict_work_or_refuse_cleanly(args):
    call, config, x, y, kwargs = args
    model = build_model(**config)
    valid = expected_valid(call, config, x, y, kwargs)
    event(f"{call} {'works' if valid else 'refused'}")
    was_built = model.built
    before = model.get_weights()
    call_args = (x,) if call == "predict" else (x, y)
    if call in ("fit", "evaluate"):
        kwargs = dict(kwargs, verbose=0)
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            result = getattr(model, call)(*call_args, **kwargs)
        except (ValueError, TypeError) as exc:
            assert not valid, f"valid input refused: {exc!r}"
            assert len(str(exc)) > 10
            assert model.built == was_built and model.optimizer.iterations == 0
            for w, w0 in zip(model.get_weights(), before):
                np.testing.assert_array_equal(w, w0)
            return
        assert valid, f"{call} accepted invalid input"
        check_result(model, call, x, y, kwargs, result, bool(our_warnings(caught)))


def test_refused_fit_leaves_an_unbuilt_model_unbuilt(separable_data):
    model = build_model(1, True, "float32", built=False, metrics=False)
    x, y = separable_data(n=10, d=5)
    for bad in [dict(y=y[:3]), dict(validation_split=2.0), dict(initial_epoch=-1),
                dict(validation_data=(x[:, :4], y)), dict(callbacks=[object()])]:
        with pytest.raises((ValueError, TypeError)):
            model.fit(x, bad.pop("y", y), verbose=0, **bad)
        assert not model.built
    model.fit(np.ones((4, 7)), np.ones(4), verbose=0)  # any feature count still works
    assert model.input_dim == 7


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(initial_epoch=-3), ValueError, "initial_epoch must be 0 or more; got -3"),
    (dict(initial_epoch="1"), TypeError, "initial_epoch must be an integer"),
    (dict(validation_split="0.2"), TypeError, "validation_split must be a number"),
    (dict(shuffle="no"), TypeError, "shuffle must be True or False; got 'no'"),
    (dict(callbacks=callbacks.TerminateOnNaN()), TypeError, r"callbacks must be a list.*\[cb\]"),
    (dict(verbose=np.array([1, 2])), ValueError, "verbose must be 0, 1 or 2"),
])
def test_fit_arguments_are_checked(separable_data, kwargs, error, message):
    model = build_model(1, True, "float32", built=True, metrics=False)
    x, y = separable_data(n=10, d=INPUT_DIM)
    with pytest.raises(error, match=message):
        model.fit(x, y, **{"verbose": 0, **kwargs})


def test_values_too_large_for_float32_are_refused_not_turned_into_nan():
    model = build_model(1, True, "float32", built=True, metrics=False)
    x = np.ones((3, INPUT_DIM))
    x[1, 2] = -1e300
    with pytest.raises(ValueError, match=r"x holds -1e\+300 at index \(1, 2\), too large for "
                                         r"the model's float32 .*dtype='float64'"):
        model.predict(x)
    sparse = CSRMatrix([0, 1, 2], [0, 2], (2, INPUT_DIM), data=[1.0, 1e39])
    with pytest.raises(ValueError, match=r"x holds 1e\+39 at row 1, column 2, too large"):
        model.predict(sparse)
    with pytest.raises(ValueError, match=r"y holds 1e\+300 at index \(0, 0\)"):
        mse = build_model(1, False, "float32", built=True, metrics=False)
        mse.fit(np.ones((2, INPUT_DIM)), [1e300, 0], verbose=0)
    big = build_model(1, True, "float64", built=True, metrics=False)
    assert np.isfinite(big.predict(x)).all()  # float64 models take them


def test_other_shapes_get_messages():
    model = build_model(1, True, "float32", built=False, metrics=False)
    with pytest.raises(ValueError, match=r"x has 0 features \(shape \(3, 0\)\)"):
        model.predict(np.zeros((3, 0)))
    with pytest.raises(ValueError, match="x is not a rectangular array"):
        model.predict([[1.0, 2.0], [3.0]])
    with pytest.raises(ValueError, match=r"y is a single number \(1.0\); expected 1 targets"):
        model.fit(np.ones((1, INPUT_DIM)), 1.0, verbose=0)


# --- divergence ----------------------------------------------------------------------------

def diverged_model(separable_data):
    x, y = separable_data(n=64, d=INPUT_DIM)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(INPUT_DIM,)),
                               layers.Dense(1)], seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning, match="training diverged"):
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert not all(np.isfinite(w).all() for w in model.get_weights())
    return model, x, y


def test_a_diverged_model_says_so_when_used_and_is_not_saved(tmp_path, separable_data):
    model, x, y = diverged_model(separable_data)
    with np.errstate(all="ignore"):
        with pytest.warns(RuntimeWarning, match="output of predict is NaN or infinite: the "
                                                "model's weights are NaN or infinite"):
            model.predict(x)
        with pytest.warns(RuntimeWarning, match="evaluate loss is NaN or infinite: .*diverged"):
            assert not np.isfinite(model.evaluate(x, y, verbose=0))
    for save in (model.save, model.save_weights):
        with pytest.raises(ValueError, match="not saving: dense/kernel holds NaN or inf"):
            save(tmp_path / "diverged.npz")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_skips_diverged_epochs_and_terminate_on_nan_stops(tmp_path, separable_data):
    x, y = separable_data(n=64, d=INPUT_DIM)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(INPUT_DIM,)),
                               layers.Dense(1)], seed=0)
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    ckpt = callbacks.ModelCheckpoint(tmp_path / "w{epoch}.npz")
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                            callbacks=[ckpt, callbacks.TerminateOnNaN()])
    messages = [str(w.message) for w in caught]
    assert any("ModelCheckpoint: not saving epoch 1" in m for m in messages)
    assert any("training diverged" in m for m in messages)
    assert len(history.history["loss"]) == 1 and list(tmp_path.iterdir()) == []


def test_weights_with_nan_are_refused_on_load(tmp_path):
    model = build_model(1, True, "float32", built=True, metrics=False)
    weights = model.get_weights()
    weights[0][1, 2] = np.nan
    np.savez(tmp_path / "w.npz", **{"dense/kernel": weights[0], "dense/bias": weights[1],
                                    "dense_1/kernel": weights[2], "dense_1/bias": weights[3]})
    with pytest.raises(ValueError, match=r"dense/kernel contains nan at index \(1, 2\); "
                                         "weights must be finite"):
        model.load_weights(tmp_path / "w.npz")


def test_inputs_too_large_for_the_arithmetic_are_reported():
    model = build_model(1, False, "float32", built=True, metrics=False)
    x = np.full((2, INPUT_DIM), 3e38, dtype=np.float32)
    with np.errstate(all="ignore"), \
            pytest.warns(RuntimeWarning, match=r"inputs \(or targets\) are too large"):
        model.predict(x)


# --- sparse constructors -------------------------------------------------------------------

INDEX_DTYPES = [np.int64, np.int32, np.int16, np.uint8, np.uint64, np.float64, np.bool_, object]
DATA_VALUES = [1.0, -2.5, 0.0, 3.0, 7.0, np.nan, np.inf, 1e300]


@st.composite
def csr_arguments(draw):
    n_rows, n_features = draw(st.integers(0, 5)), draw(st.integers(0, 6))
    counts = draw(st.lists(st.integers(0, 4), min_size=n_rows, max_size=n_rows))
    indptr = [0] + np.cumsum(counts, dtype=np.int64).tolist()
    nnz = indptr[-1]
    indices = draw(st.lists(st.one_of(st.integers(0, max(n_features - 1, 0)),
                                      st.integers(-3, n_features + 2)),
                            min_size=nnz, max_size=nnz))
    data = draw(st.one_of(st.none(), st.lists(st.sampled_from(DATA_VALUES), min_size=nnz,
                                              max_size=nnz)))
    shape = (n_rows, n_features)
    mutation = draw(st.sampled_from(["none"] * 6 + [
        "rows+1", "rows-1", "swap", "start", "end", "data length", "shape float", "shape 3",
        "shape negative", "indptr dtype", "indices dtype", "data dtype", "indices 2-D"]))
    if mutation == "rows+1":
        shape = (n_rows + 1, n_features)
    elif mutation == "rows-1":
        shape = (n_rows - 1, n_features)
    elif mutation == "swap" and len(indptr) > 2:
        i = draw(st.integers(1, len(indptr) - 2))
        indptr[i] = indptr[i] + draw(st.integers(-3, 3))
    elif mutation == "start":
        indptr[0] = draw(st.sampled_from([-1, 1]))
    elif mutation == "end":
        indptr[-1] += draw(st.sampled_from([-1, 1]))
    elif mutation == "data length":
        data = (data or []) + [1.0]
    elif mutation == "shape float":
        shape = (n_rows, float(n_features))
    elif mutation == "shape 3":
        shape = (n_rows, n_features, 1)
    elif mutation == "shape negative":
        shape = (n_rows, -1)
    indptr = np.array(indptr, dtype=np.int64)
    indices = np.array(indices, dtype=np.int64)
    if mutation == "indptr dtype":
        indptr = cast(indptr, indptr.shape, draw(st.sampled_from(INDEX_DTYPES)))
    elif mutation == "indices dtype":
        indices = cast(indices, indices.shape, draw(st.sampled_from(INDEX_DTYPES)))
    elif mutation == "indices 2-D":
        indices = indices.reshape(1, -1)
    if data is not None:
        data = np.array(data, dtype=np.float64)
        if mutation == "data dtype":
            data = cast(data, data.shape, draw(st.sampled_from(GOOD_DTYPES + BAD_DTYPES)))
    return indptr, indices, shape, data


def csr_valid(indptr, indices, shape, data):
    """The CSR rules, written out independently of nn.sparse."""
    if not (isinstance(shape, tuple) and len(shape) == 2 and all(map(is_int, shape))
            and min(shape) >= 0):
        return False
    n_rows, n_features = shape
    integer = lambda a: a.dtype.kind in "iu" or a.size == 0
    if indptr.ndim != 1 or not integer(indptr) or len(indptr) != n_rows + 1:
        return False
    if indptr[0] != 0 or indptr[-1] != indices.size or np.any(np.diff(indptr.astype(float)) < 0):
        return False
    if indices.ndim != 1 or not integer(indices):
        return False
    if indices.size and (indices.min() < 0 or indices.max() >= n_features):
        return False
    if data is not None:
        if data.ndim != 1 or data.size != indices.size or data.dtype.kind not in "biuf":
            return False
        if data.dtype.kind == "f" and data.dtype.itemsize > 8:  # long double
            return False
        if not np.all(np.isfinite(data.astype(np.float64))):
            return False
    return True


def dense_of(indptr, indices, shape, data):
    """The matrix the arrays describe, duplicates summed, by a Python loop."""
    out = np.zeros(shape)
    for row in range(shape[0]):
        for k in range(int(indptr[row]), int(indptr[row + 1])):
            out[row, int(indices[k])] += 1.0 if data is None else float(data[k])
    return out


@fuzz
@given(csr_arguments(), st.data())
def test_csr_matrix_is_its_dense_twin_or_refused(args, draw):
    valid = csr_valid(*args)
    event("valid" if valid else "refused")
    try:
        m = CSRMatrix(*args)
    except (ValueError, TypeError) as exc:
        assert not valid, f"valid CSR refused: {exc!r}"
        assert len(str(exc)) > 10
        return
    assert valid, f"invalid CSR accepted: {args}"
    twin = dense_of(*args)
    np.testing.assert_array_equal(m.toarray(np.float64), twin)
    for row in range(m.shape[0]):
        assert np.all(np.diff(m.indices[m.indptr[row]:m.indptr[row + 1]]) >= 0)
    if m.shape[0]:  # rows, including negative and out-of-range ones
        rows = draw.draw(st.lists(st.integers(-m.shape[0] - 1, m.shape[0]), max_size=6))
        if all(-m.shape[0] <= r < m.shape[0] for r in rows):
            rows = np.array(rows, dtype=np.int64)
            np.testing.assert_array_equal(m.take(rows).toarray(np.float64), twin[rows])
        else:
            with pytest.raises(IndexError, match="out of range"):
                m.take(np.array(rows))
    if m.shape[0] and m.shape[1] and np.abs(twin).max(initial=0) < 1e6:
        # A model sees the same numbers as on the dense twin, and trains on them.
        model = build_model(1, True, "float64", built=False, metrics=False)
        np.testing.assert_allclose(model.predict(m), model.predict(twin), rtol=1e-12,
                                   atol=1e-12)
        model.fit(m, np.zeros(m.shape[0]), verbose=0, batch_size=2)
        assert all(np.isfinite(w).all() for w in model.get_weights())


@st.composite
def sequence_lists(draw):
    element = st.one_of(st.integers(-2, 12), st.sampled_from([2.0, 2.5, np.nan, 1e20, "3",
                                                               None, True]))
    length = draw(st.integers(0, 4))
    sequences = draw(st.lists(st.lists(st.integers(0, 11), max_size=5), max_size=length))
    if sequences and draw(st.booleans()):  # one bad element somewhere
        i = draw(st.integers(0, len(sequences) - 1))
        sequences[i] = sequences[i] + [draw(element)]
    return sequences, draw(st.sampled_from([12, 12, 12, 1, 0, -4, 2.0, None]))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")  # 1e20 -> int64
@fuzz
@given(sequence_lists())
def test_vectorize_sequences_is_the_notebook_encoder_or_refused(args):
    sequences, dimension = args
    flat = [v for s in sequences for v in s]
    valid = (is_int(dimension) and dimension >= 1 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
        and 0 <= v < dimension for v in flat))
    try:
        m = vectorize_sequences(sequences, dimension)
    except (ValueError, TypeError) as exc:
        assert not valid, f"valid sequences refused: {exc!r}"
        assert len(str(exc)) > 10
        return
    flat_ok = all(not isinstance(v, bool) for v in flat)  # True counts as 1 in NumPy
    assert valid or not flat_ok, f"invalid sequences accepted: {args}"
    expected = np.zeros((len(sequences), dimension))
    for i, s in enumerate(sequences):
        expected[i, [int(v) for v in s]] = 1.0
    np.testing.assert_array_equal(m.toarray(np.float64), expected)


@pytest.mark.skipif(NOJIT, reason="already running without the JIT")
def test_sparse_properties_hold_with_the_kernels_as_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", NN_HARDENING_EXAMPLES="40")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         str(Path(__file__).resolve()), "-k", "csr_matrix or vectorize"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "2 passed" in output, output[-4000:]


# --- the loader's arguments ----------------------------------------------------------------

RAW = {"train": ([[1, 2, 3, 4], [4, 4, 9, 2, 11, 12], [7, 2, 8, 4], [5, 2, 6, 5, 1], [1, 1]],
                 [1, 1, 1, 0, 0]),
       "test": ([[4], [5, 2, 10], [5, 3]], [1, 0, 0])}
OPTIONAL = {"num_words", "maxlen", "seed", "start_char", "oov_char"}
ODD_VALUES = [2.5, 1.0, "3", True, False, None, -1, -(2**40), 2**31, 2**32, 2**40, np.int64(4)]


@st.composite
def loader_arguments(draw):
    """Each argument a small int (or None where allowed), or now and then an odd value."""
    kwargs = {}
    for name in ("num_words", "skip_top", "maxlen", "seed", "start_char", "oov_char",
                 "index_from"):
        if draw(st.integers(0, 7)) == 0:
            kwargs[name] = draw(st.sampled_from(ODD_VALUES))
        elif name in OPTIONAL and draw(st.integers(0, 3)) == 0:
            kwargs[name] = None
        else:
            kwargs[name] = draw(st.integers(0, 16))
    return kwargs


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory, write_keras_npz):
    return write_keras_npz(tmp_path_factory.mktemp("imdb") / "imdb.npz", RAW)


def loader_argument_valid(name, value):
    if value is None:
        return name in OPTIONAL
    return is_int(value) and value >= 0 and (name != "seed" or value < 2**32)


def fits_int32(kwargs):
    largest_rank = max(w for x, _ in RAW.values() for s in x for w in s)
    return max(kwargs["start_char"] or 0, kwargs["oov_char"] or 0,
               kwargs["index_from"] + largest_rank) <= np.iinfo(np.int32).max


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(loader_arguments())
def test_loader_arguments_work_consistently_or_are_named(small_npz, keras_reference, kwargs):
    bad = [name for name, value in kwargs.items() if not loader_argument_valid(name, value)]
    valid = not bad
    event("valid" if valid else "refused")
    try:
        (x_train, y_train), (x_test, y_test) = imdb.load_data(path=small_npz, **kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        if bad:
            assert any(name in message for name in bad), message
        elif "int32" in message:  # valid arguments, but the indices they make do not fit
            assert not fits_int32(kwargs), message
        else:  # or maxlen drops every review of a split, as Keras's own code would
            assert "maxlen" in message, message
            with pytest.raises(ValueError):
                keras_reference(*RAW.values(), **kwargs)
        return
    assert valid, f"accepted {kwargs}"
    expected = keras_reference(*RAW.values(), **kwargs)
    for (x, y), (x_ref, y_ref) in zip([(x_train, y_train), (x_test, y_test)], expected):
        if kwargs["seed"] is None:  # a fresh random order: compare the pairs
            assert sorted(zip(map(tuple, x), y.tolist())) == sorted(zip(map(tuple, x_ref), y_ref))
        else:
            assert x.to_list() == x_ref and y.tolist() == y_ref
        assert y.dtype == np.int64 and set(y.tolist()) <= {0, 1}
        if kwargs["maxlen"]:
            assert all(len(s) < kwargs["maxlen"] for s in x)
        tokens = x.tokens
        kept = tokens[tokens != kwargs["oov_char"]] if kwargs["oov_char"] is not None else tokens
        assert np.all(kept >= kwargs["skip_top"]) and np.all(tokens >= 0)
        if kwargs["num_words"]:
            assert np.all(kept < kwargs["num_words"])


@pytest.mark.parametrize("path, error, message", [
    (5, TypeError, "path must be a file or folder name"),
    ("/nonexistent/imdb", FileNotFoundError, "no IMDB data at"),
])
def test_loader_path_argument(path, error, message):
    with pytest.raises(error, match=message):
        imdb.load_data(path=path)
    with pytest.raises(error):
        imdb.get_word_index(path=path)


@pytest.mark.parametrize("bad, error", [([["3"]], TypeError), ([[None]], TypeError),
                                        ({1: 2}, TypeError), ([[[1, 2]]], TypeError),
                                        ([[1e20]], ValueError), ([[1.5]], TypeError)])
def test_sequences_from_lists_refuses_what_is_not_flat_integers(bad, error):
    from nn.sequences import Sequences

    with pytest.raises(error, match="sequence"):
        Sequences.from_lists(bad)
