"""Property tests: the compiled small-layer and loss kernels (`nn.kernels.dense`,
`nn.kernels.losses`) equal their NumPy twins, and `nn.ops` sends each case to the right one.

tests/test_kernels_nojit.py runs this file again with ``NUMBA_DISABLE_JIT=1``.
"""

import os

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn import activations, layers, losses, metrics, models, ops
from nn.kernels import dense as dk
from nn.kernels import losses as lk

JIT = not numba.config.DISABLE_JIT
EXAMPLES = int(os.environ.get("NN_KERNEL_TEST_EXAMPLES", 60 if JIT else 15))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
CODES = [dk.LINEAR, dk.RELU, dk.SIGMOID, dk.TANH]


def tolerance(dtype):
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@st.composite
def layer_problem(draw):
    """x (n, d), W (d, u), b, da (n, u) of one dtype; widths around the 16-float block."""
    n = draw(st.sampled_from([0, 1, 3, 17, 64]))
    d = draw(st.sampled_from([1, 3, 4, 5, 16, 17, 33]))
    u = draw(st.sampled_from([1, 2, 15, 16, 17, 32, 40]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, d)).astype(dtype)
    if draw(st.booleans()):  # a relu layer's output: many exact zeros
        x = np.maximum(x, 0)
    return {"x": x, "W": rng.standard_normal((d, u)).astype(dtype),
            "b": rng.standard_normal(u).astype(dtype),
            "da": rng.standard_normal((n, u)).astype(dtype),
            "act": draw(st.sampled_from(CODES)), "dtype": dtype}


@PROPERTY
@given(layer_problem())
def test_dense_forward_matches_reference(p):
    got = dk.dense_forward(p["x"], p["W"], p["b"], p["act"])
    want = dk.dense_forward_reference(p["x"], p["W"], p["b"], p["act"])
    assert got.dtype == p["dtype"] and got.shape == want.shape
    np.testing.assert_allclose(got, want, **tolerance(p["dtype"]))


@PROPERTY
@given(layer_problem(), st.booleans())
def test_dense_backward_matches_reference(p, need_dx):
    a = dk.dense_forward_reference(p["x"], p["W"], p["b"], p["act"])
    got = dk.dense_backward(p["x"], a, p["da"], p["W"], p["act"], need_dx)
    want = dk.dense_backward_reference(p["x"], a, p["da"], p["W"], p["act"], need_dx)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == p["dtype"] and g.shape == w.shape
        np.testing.assert_allclose(g, w, **tolerance(p["dtype"]))
    again = dk.dense_backward(p["x"], a, p["da"], p["W"], p["act"], need_dx)
    for g, h in zip(got, again):  # fixed summation order: the same bits every call
        assert np.array_equal(g, h)


@PROPERTY
@given(layer_problem())
def test_activation_kernels_match_reference(p):
    z = p["x"] @ p["W"]
    a = dk.activate(z.copy(), p["act"])
    np.testing.assert_allclose(a, dk._activate_reference(z, p["act"]), **tolerance(p["dtype"]))
    dz, db = dk.activation_backward(a, p["da"], p["act"])
    want_dz, want_db = dk.activation_backward_reference(a, p["da"], p["act"])
    np.testing.assert_allclose(dz, want_dz, **tolerance(p["dtype"]))
    np.testing.assert_allclose(db, want_db, **tolerance(p["dtype"]))


def test_relu_and_sigmoid_kernels_keep_nan_and_saturate_like_numpy():
    z = np.array([[np.nan, -1.0, 0.0, 2.0, -1e4, 1e4, -0.0]], np.float32)
    for code, act in [(dk.RELU, activations.relu), (dk.SIGMOID, activations.sigmoid),
                      (dk.TANH, activations.tanh)]:
        got = dk.activate(z.copy(), code)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(z))
        np.testing.assert_allclose(got, act.forward(z), rtol=1e-6, atol=0)


@st.composite
def predictions(draw):
    n = draw(st.integers(0, 40))
    units = draw(st.sampled_from([1, 2, 5]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    edges = np.array([0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-7], dtype)
    p = rng.uniform(0, 1, (n, units)).astype(dtype)
    mask = rng.random((n, units)) < 0.3
    p[mask] = rng.choice(edges, mask.sum())
    y = rng.choice(np.array([0.0, 1.0, 0.5], dtype), (n, units))
    return y, p


@PROPERTY
@given(predictions())
def test_loss_and_accuracy_kernels_match_reference(yp):
    y, p = yp
    got = lk.binary_crossentropy(y, p, losses.EPSILON)
    if p.size:
        want = lk.binary_crossentropy_reference(y, p, losses.EPSILON)
        np.testing.assert_allclose(got, want, rtol=1e-5 if p.dtype == np.float32 else 1e-12)
    else:  # NumPy's mean of nothing is nan (with a warning); the kernel's is 0
        assert got == 0.0
    np.testing.assert_array_equal(lk.binary_accuracy(y, p, 0.5),
                                  lk.binary_accuracy_reference(y, p, 0.5))


def test_loss_kernel_keeps_nan():
    y = np.array([[1.0], [0.0]], np.float32)
    p = np.array([[np.nan], [0.3]], np.float32)
    assert np.isnan(losses.binary_crossentropy(y, p))


def test_losses_and_metrics_take_numpy_for_what_the_kernels_do_not_accept():
    y = np.array([1.0, 0.0, 1.0])            # 1-D, float64
    p = np.array([0.9, 0.2, 0.4], np.float32)  # another dtype
    assert not lk.accepts(y, p)
    assert losses.binary_crossentropy(y, p) == pytest.approx(
        lk.binary_crossentropy_reference(y, p, losses.EPSILON))
    assert metrics.binary_accuracy(y, p) == pytest.approx(2 / 3)


class HalvedReLU(activations.ReLU):
    """A subclass with its own math: must not be mistaken for the built-in relu."""

    def forward(self, z):
        return np.maximum(z, 0) / 2

    def backward(self, a, da):
        return np.where(a > 0, da / 2, 0).astype(da.dtype)


@pytest.mark.parametrize("width", [4, ops.NARROW_FEATURES + 1])  # kernel path and BLAS path
def test_ops_dispatch_gives_the_layers_numpy_result(width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, width)).astype(np.float32)
    W = rng.standard_normal((width, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    da = rng.standard_normal((9, 16)).astype(np.float32)
    for act in [activations.relu, activations.sigmoid, activations.tanh, activations.linear,
                HalvedReLU()]:
        a = ops.dense_forward(x, W, b, act)
        np.testing.assert_allclose(a, act.forward(x @ W + b), rtol=2e-5, atol=2e-5)
        dW, db, dx = ops.dense_backward(x, a, da, W, act)
        dz = act.backward(a, da)
        np.testing.assert_allclose(dW, x.T @ dz, rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(db, dz.sum(axis=0), rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(dx, dz @ W.T, rtol=2e-5, atol=2e-5)
        assert ops.dense_backward(x, a, da, W, act, need_dx=False)[2] is None


def test_a_custom_activation_subclass_trains_with_its_own_math():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    runs = []
    for act in [HalvedReLU(), "relu"]:
        model = models.Sequential(seed=3)
        model.add(layers.Dense(4, activation=act, input_shape=(5,)))
        model.add(layers.Dense(1, activation="sigmoid"))
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        runs.append(model.get_weights()[0])
    assert not np.allclose(runs[0], runs[1])  # the halved relu really ran


def test_ops_backward_takes_a_gradient_of_another_dtype_or_layout():
    """A custom loss may return float64 (or a transposed view) for a float32 model: the
    compiled kernels get the layer's dtype, contiguous, and the result is NumPy's."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 16)).astype(np.float32)
    W = rng.standard_normal((16, 16)).astype(np.float32)
    a = ops.dense_forward(x, W, np.zeros(16, np.float32), activations.relu)
    for da in (rng.standard_normal((7, 16)), rng.standard_normal((16, 7)).astype(np.float32).T):
        dW, db, dx = ops.dense_backward(x, a, da, W, activations.relu)
        dz = activations.relu.backward(a, da.astype(np.float32))
        assert dW.dtype == np.float32
        np.testing.assert_allclose(dW, x.T @ dz, rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(db, dz.sum(axis=0), rtol=2e-5, atol=2e-5)
        np.testing.assert_allclose(dx, dz @ W.T, rtol=2e-5, atol=2e-5)
