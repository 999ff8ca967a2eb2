"""The numba backend's fused calls (`nn.kernels.numba.fused`) against the plain NumPy formulas
they replace: the same `Dense` layer, loss, metric or RMSprop step is run under
``nn.use_backend("numpy")`` and ``nn.use_backend("numba")`` on the same inputs.

Sums may run in another order on the two backends, so results agree to the dtype's rounding;
where no sum can round (integer-valued inputs: a ReLU or linear layer) or the code promises
it (the dense RMSprop step), bit for bit. Also: NaN passes through as NumPy lets it, what the
fused calls do not take (an activation subclass, another dtype or layout) takes the formula.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

numba = pytest.importorskip("numba")

import nn  # noqa: E402  (after the skip without numba)
from nn import activations, layers, losses, metrics, models, optimizers  # noqa: E402
from nn.kernels.numba import fused  # noqa: E402
from nn.row_sparse import RowSparseGrad  # noqa: E402
from nn.sparse import CSRMatrix  # noqa: E402

PROPERTY = settings.get_profile("kernels")
BACKENDS = ("numpy", "numba")
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh")
WIDE = fused.NARROW_FEATURES + 1  # a dense input this wide takes BLAS on the numba backend


def layer_tolerance(dtype):
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def dense_layer(activation, W, b):
    """A built `Dense` layer holding ``W`` and ``b``."""
    layer = layers.Dense(W.shape[1], activation=activation)
    layer.build(W.shape[0], np.random.default_rng(0), W.dtype)
    layer.params["kernel"][...] = W
    layer.params["bias"][...] = b
    return layer


def as_input(x, kind):
    """``x`` as a dense array, or as a `CSRMatrix` of its nonzeros for ``kind == "sparse"``."""
    if kind != "sparse":
        return x
    rows, cols = np.nonzero(x)
    indptr = np.concatenate([[0], np.cumsum(np.count_nonzero(x, axis=1))])
    return CSRMatrix(indptr, cols, x.shape, data=x[rows, cols])


def run_layer(backend_name, activation, W, b, x, da, need_dx=True):
    """(a, dW, db, dx) of a training forward and backward on ``backend_name``; dW dense."""
    layer = dense_layer(activation, W, b)
    with nn.use_backend(backend_name):
        a = layer.forward(x, training=True)
        dx = layer.backward(da, need_dx)
    dW = layer.grads["kernel"]
    assert isinstance(dW, RowSparseGrad) == isinstance(x, CSRMatrix)
    return a, np.asarray(dW), layer.grads["bias"], dx


def on_both_backends(fn, *args):
    return [fn(name, *args) for name in BACKENDS]


# -- Dense layers ---------------------------------------------------------------------------

@st.composite
def layer_problem(draw):
    """x (n, d), W (d, u), b, da (n, u) of one dtype; widths around the 16-float block, an
    input narrow (the one-call kernels), wide (BLAS) or sparse (the sparse products)."""
    kind = draw(st.sampled_from(["narrow", "wide", "sparse"]))
    n = draw(st.sampled_from([0, 1, 3, 17, 64]))
    d = WIDE if kind == "wide" else draw(st.sampled_from([1, 3, 4, 5, 16, 17, 33]))
    u = draw(st.sampled_from([1, 2, 15, 16, 17, 32, 40]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, d)).astype(dtype)
    if kind == "sparse" or draw(st.booleans()):  # a relu layer's output: many exact zeros
        x = np.maximum(x, 0)
    return {"x": as_input(x, kind), "W": rng.standard_normal((d, u)).astype(dtype),
            "b": rng.standard_normal(u).astype(dtype),
            "da": rng.standard_normal((n, u)).astype(dtype), "dtype": dtype,
            "activation": draw(st.sampled_from(ACTIVATIONS))}


@PROPERTY
@given(layer_problem(), st.booleans())
def test_dense_layer_forward_and_backward_match_the_numpy_formulas(p, need_dx):
    args = (p["activation"], p["W"], p["b"], p["x"], p["da"], need_dx)
    numpy_run, numba_run = on_both_backends(run_layer, *args)
    for got, want in zip(numba_run, numpy_run, strict=True):
        if not need_dx and want is None:
            assert got is None
            continue
        assert got.dtype == p["dtype"] and got.shape == want.shape
        np.testing.assert_allclose(got, want, **layer_tolerance(p["dtype"]))
    again = run_layer("numba", *args)  # every sum in a fixed order: the same bits each call
    for got, repeat in zip(numba_run, again):
        assert got is None or got.tobytes() == repeat.tobytes()


@pytest.mark.parametrize("kind, width", [("narrow", 5), ("wide", WIDE), ("sparse", 300)])
@pytest.mark.parametrize("activation", ["linear", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_and_linear_layers_give_numpys_bits_when_no_sum_rounds(kind, width, activation,
                                                                    dtype):
    """Small integers add up exactly in any order, so only the formulas could differ."""
    rng = np.random.default_rng(1)
    x = rng.integers(-3, 4, (33, width)).astype(dtype)
    if kind == "sparse":
        x[rng.random(x.shape) < 0.9] = 0
    W = rng.integers(-3, 4, (width, 17)).astype(dtype)
    b = rng.integers(-3, 4, 17).astype(dtype)
    da = rng.integers(-3, 4, (33, 17)).astype(dtype)
    numpy_run, numba_run = on_both_backends(run_layer, activation, W, b, as_input(x, kind), da)
    for got, want in zip(numba_run, numpy_run, strict=True):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert (numpy_run[0] == 0).any() and (numpy_run[0] != 0).any()  # both sides of the kink


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_keep_nan_and_saturate_like_numpy(activation):
    """A 1 x 1 kernel of 1 and a zero bias: z is x itself."""
    z = np.array([[np.nan], [-1.0], [0.0], [2.0], [-1e4], [1e4], [-0.0]], np.float32)
    W, b = np.ones((1, 1), np.float32), np.zeros(1, np.float32)
    want = activations.get(activation).forward(z)
    for name in BACKENDS:
        with nn.use_backend(name):
            a = dense_layer(activation, W, b).forward(z)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(z))
        np.testing.assert_allclose(a, want, rtol=1e-6, atol=0)


class HalvedReLU(activations.ReLU):
    """A subclass with its own math: must not be mistaken for the built-in relu."""

    def forward(self, z):
        return np.maximum(z, 0) / 2

    def backward(self, a, da):
        return np.where(a > 0, da / 2, 0).astype(da.dtype)


@pytest.mark.parametrize("width", [4, WIDE])  # the numba backend's kernel path and BLAS path
def test_an_activation_subclass_takes_the_formula_on_the_numba_backend(width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, width)).astype(np.float32)
    W = rng.standard_normal((width, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    da = rng.standard_normal((9, 16)).astype(np.float32)
    assert fused.dense_layer(HalvedReLU(), W) is None
    assert fused.dense_layer(activations.relu, W.astype(np.int32)) is None  # not a float
    numpy_run, numba_run = on_both_backends(run_layer, HalvedReLU(), W, b, x, da)
    for got, want in zip(numba_run, numpy_run, strict=True):  # one formula: the same bits
        assert got.tobytes() == want.tobytes()
    a, dW, db, dx = numba_run
    np.testing.assert_allclose(a, np.maximum(x @ W + b, 0) / 2, rtol=2e-5, atol=2e-5)
    dz = np.where(a > 0, da / 2, 0)
    np.testing.assert_allclose(dW, x.T @ dz, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(db, dz.sum(axis=0), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(dx, dz @ W.T, rtol=2e-5, atol=2e-5)


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
        with nn.use_backend("numba"):
            model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        runs.append(model.get_weights()[0])
    assert not np.allclose(runs[0], runs[1])  # the halved relu really ran


@pytest.mark.parametrize("backend_name", ["numpy", "numba"])
def test_backward_takes_a_gradient_of_another_dtype_or_layout(backend_name):
    """A custom loss may return float64 (or a transposed view) for a float32 model: the
    gradients are in the layer's dtype, as the formula in float32 gives them."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 16)).astype(np.float32)
    W = rng.standard_normal((16, 16)).astype(np.float32)
    b = np.zeros(16, np.float32)
    for da in (rng.standard_normal((7, 16)), rng.standard_normal((16, 7)).astype(np.float32).T):
        a, dW, db, dx = run_layer(backend_name, "relu", W, b, x, da)
        dz = activations.relu.backward(a, da.astype(np.float32))
        for got, want in ((dW, x.T @ dz), (db, dz.sum(axis=0)), (dx, dz @ W.T)):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("kind,width", [("dense", 16), ("dense", 80), ("sparse", 300)])
def test_forward_and_logits_give_forwards_bits_and_the_z_it_activates(kind, width):
    """Dense.forward_and_logits gives what forward gives, and the z it came from, bit for
    bit, on both backends (the numba backend's one-call forward never hands z out)."""
    rng = np.random.default_rng(width)
    W = rng.standard_normal((width, 1)).astype(np.float32)
    b = rng.standard_normal(1).astype(np.float32)
    x = as_input(np.where(rng.random((30, width)) < 0.2, 1.0, 0.0).astype(np.float32), kind)
    layer = dense_layer("sigmoid", W, b)
    for name in BACKENDS:
        with nn.use_backend(name):
            p = layer.forward(x)
            a, z = layer.forward_and_logits(x)
            want_z = nn.ops.affine(x, W, b) if name == "numpy" else \
                fused.dense_layer(activations.linear, W).forward(x, W, b)
        np.testing.assert_array_equal(a, p)
        np.testing.assert_array_equal(z, want_z)
        np.testing.assert_allclose(activations.sigmoid.forward(z), p, rtol=1e-6)


# -- Loss and metric ------------------------------------------------------------------------

@st.composite
def predictions(draw):
    """(y, p) of one dtype, (n, units), with p on and near the clip's edges."""
    n = draw(st.integers(1, 40))
    units = draw(st.sampled_from([1, 2, 5]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    edges = np.array([0.0, 1.0, 1e-9, 1 - 1e-9, 0.5, 1e-7], dtype)
    p = rng.uniform(0, 1, (n, units)).astype(dtype)
    mask = rng.random((n, units)) < 0.3
    p[mask] = rng.choice(edges, mask.sum())
    y = rng.choice(np.array([0.0, 1.0, 0.5], dtype), (n, units))
    return y, p


def loss_and_accuracy(backend_name, y, p):
    with nn.use_backend(backend_name):
        return losses.binary_crossentropy(y, p), metrics.binary_accuracy(y, p)


@PROPERTY
@given(predictions())
def test_crossentropy_and_accuracy_match_the_numpy_formulas(yp):
    y, p = yp
    assert fused.accepts(y, p)
    (loss, accuracy), (fused_loss, fused_accuracy) = on_both_backends(loss_and_accuracy, y, p)
    np.testing.assert_allclose(fused_loss, loss, rtol=1e-5 if p.dtype == np.float32 else 1e-12)
    assert fused_accuracy.dtype == accuracy.dtype
    np.testing.assert_array_equal(fused_accuracy, accuracy)


@PROPERTY
@given(predictions())
def test_crossentropy_from_logits_is_tensorflows_formula(yp):
    y, p = yp
    z = ((p - 0.5) * 60).astype(p.dtype)  # logits to +-30, far past where p rounds to 1
    want = np.mean(np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z))), dtype=np.float64)
    got = fused.binary_crossentropy_from_logits(y, z)
    np.testing.assert_allclose(got, want, rtol=1e-5 if p.dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_crossentropy_is_a_float_summed_in_float64(dtype):
    """10**5 equal terms: summed one by one in float32 the mean would be ~5e-4 off."""
    y = np.ones((10**5, 1), dtype)
    p = np.full((10**5, 1), 0.7, dtype)
    loss, fused_loss = (run[0] for run in on_both_backends(loss_and_accuracy, y, p))
    assert type(loss) is type(fused_loss) is float
    term = -float(np.log(dtype(0.7)))  # each term in the dtype (the last bit may differ)
    assert fused_loss == pytest.approx(term, rel=1e-6 if dtype == np.float32 else 1e-12)


def test_crossentropy_of_an_empty_batch():
    """The fused call documents 0.0 where NumPy's mean of nothing is nan (with a warning)."""
    y = p = np.zeros((0, 1), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        (loss, _), (fused_loss, _) = on_both_backends(loss_and_accuracy, y, p)
    assert fused_loss == 0.0 and np.isnan(loss)


def test_crossentropy_keeps_nan():
    y = np.array([[1.0], [0.0]], np.float32)
    p = np.array([[np.nan], [0.3]], np.float32)
    for loss, _ in on_both_backends(loss_and_accuracy, y, p):
        assert np.isnan(loss)


def test_what_the_fused_calls_do_not_accept_takes_the_formula():
    y = np.array([1.0, 0.0, 1.0])              # 1-D, float64
    p = np.array([0.9, 0.2, 0.4], np.float32)  # another dtype
    assert not fused.accepts(y, p)
    assert not fused.accepts(np.ones((3, 2)), np.ones((2, 3)).T)  # not C-contiguous
    (loss, accuracy), (fused_loss, fused_accuracy) = on_both_backends(loss_and_accuracy, y, p)
    assert fused_loss == loss
    np.testing.assert_array_equal(fused_accuracy, accuracy)
    np.testing.assert_array_equal(accuracy, [1.0, 1.0, 0.0])  # one value per label (1-D)
    q = np.clip(p, 1e-7, 1 - 1e-7)
    assert loss == pytest.approx(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


# -- RMSprop --------------------------------------------------------------------------------

def rmsprop_steps(backend_name, w, grads, v, hyper):
    """``w`` and the velocity after an `RMSprop(**hyper)` step per gradient, starting from
    velocity ``v``, on ``backend_name``."""
    w = w.copy()
    opt = optimizers.RMSprop(**hyper)
    opt.slots["w"] = {"velocity": v.copy()}
    with nn.use_backend(backend_name):
        for g in grads:
            opt.apply([("w", w, g)])
    return w, opt.slots["w"]["velocity"]


@PROPERTY
@given(st.sampled_from([(1,), (7,), (5, 3), (40, 16)]),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([1e-3, 0.1]),
       st.sampled_from([0.9, 0.5]), st.sampled_from([1e-7, 1e-3]), st.integers(0, 2**32 - 1))
def test_dense_rmsprop_step_gives_the_formulas_bits(shape, dtype, learning_rate, rho, epsilon,
                                                    seed):
    """Elementwise, in the arrays' dtype and Keras's order: nothing to round differently."""
    rng = np.random.default_rng(seed)
    w, g = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    hyper = {"learning_rate": learning_rate, "rho": rho, "epsilon": epsilon}
    numpy_run, numba_run = on_both_backends(rmsprop_steps, w, [g] * 3, v, hyper)
    for got, want in zip(numba_run, numpy_run, strict=True):
        assert got.dtype == dtype and got.tobytes() == want.tobytes()
    assert not np.array_equal(numba_run[0], w)


@PROPERTY
@given(st.sampled_from([(1, 1), (6, 3), (40, 16), (33, 17)]),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([0.9, 0.5]),
       st.integers(0, 2**32 - 1))
def test_lazy_rmsprop_steps_and_catch_up_match_the_formulas(shape, dtype, rho, seed):
    """Rows skip 10 to 75 steps: rho ** k from the numba kernel's table (k < 64) and beyond
    it, by repeated squaring there and np.power in the formula (last bits may differ). A
    gradient over every row takes the dense step, after the decay every row owes."""
    rng = np.random.default_rng(seed)
    n_features, units = shape
    w = rng.standard_normal(shape).astype(dtype)
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    v_step = rng.integers(0, 50, n_features).astype(np.int32)
    runs = []
    for name in BACKENDS:
        opt = optimizers.RMSprop(learning_rate=1e-2, rho=rho)
        slots = opt.slots["w"] = {"velocity": v.copy(), "velocity_step": v_step.copy()}
        w_run, batch_rng = w.copy(), np.random.default_rng(seed)
        with nn.use_backend(name):
            for step in (60, 61, 75):
                rows = np.sort(batch_rng.choice(n_features,
                                                batch_rng.integers(1, n_features + 1),
                                                replace=False)).astype(np.int32)
                g = batch_rng.standard_normal((rows.size, units)).astype(dtype)
                opt.iterations = step
                opt.apply([("w", w_run, RowSparseGrad(rows, g, shape))])
                if rows.size < n_features:  # lazily: the rows are current, the rest owe
                    assert np.all(slots["velocity_step"][rows] == step + 1)
                else:                       # densely: every row is current
                    assert "velocity_step" not in slots
            steps = slots.get("velocity_step", np.full(n_features, 76, np.int32))
            opt.iterations = 90
            caught_up = opt.get_slot("w", "velocity")  # with the decay still owed
        runs.append((w_run, slots["velocity"], steps, caught_up))
    (w_numpy, v_numpy, steps_numpy, c_numpy), (w_numba, v_numba, steps_numba, c_numba) = runs
    np.testing.assert_array_equal(steps_numba, steps_numpy)
    rtol, atol = (1e-6, 1e-7) if dtype == np.float32 else (1e-14, 1e-15)
    for got, want in ((w_numba, w_numpy), (v_numba, v_numpy), (c_numba, c_numpy)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
