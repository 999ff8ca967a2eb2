"""The RMSprop step taken straight from a sparse product (`rmsprop_update_product`) and the
unformed weight gradient a wide `Dense` layer hands the optimizer (`RowSparseGrad.of_product`).

The fused step sums each row of ``g = X.T @ delta`` in row order into a one-row buffer and
steps it at once: it must give the bits of forming ``g`` with `spmm_t` and taking the dense
step (`rmsprop_update`), for any thread count, and agree with the NumPy backend's formulas
to rounding. A layer wide enough to leave its gradient unformed must train to the same bits
as one that forms it.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

numba = pytest.importorskip("numba")

import nn  # noqa: E402  (after the skip without numba)
import nn.kernels.numpy as numpy_backend  # noqa: E402
from nn import layers, models, optimizers  # noqa: E402
from nn.kernels.numba import _common, fused, product, rmsprop  # noqa: E402
from nn.kernels.numba.backward import spmm_t  # noqa: E402
from nn.row_sparse import RowSparseGrad  # noqa: E402
from nn.sparse import CSRMatrix  # noqa: E402

PROPERTY = settings.get_profile("kernels")
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
HYPER = (1e-2, 0.9, 1e-7)  # learning_rate, rho, epsilon


@st.composite
def product_problem(draw, csr_problems):
    """A CSR problem (tests/kernels/conftest.py) widened to units around the vector block and
    the wide layers (64), with weights and a velocity of at least 0.1 (so that a gradient
    that is a rounding of 0 moves w by little) of its dtype."""
    p = draw(csr_problems())
    units = draw(st.sampled_from([1, 16, 17, 40, 64, 80]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n_rows, n_cols, dtype = p["indptr"].size - 1, p["n_cols"], p["dtype"]
    p["delta"] = rng.standard_normal((n_rows, units)).astype(dtype)
    p["w"] = rng.standard_normal((n_cols, units)).astype(dtype)
    p["v"] = (np.abs(rng.standard_normal((n_cols, units))) + 0.1).astype(dtype)
    return p


def fused_step(p, values, threads=None, with_threads=None):
    w, v = p["w"].copy(), p["v"].copy()
    args = (w, v, p["indptr"], p["indices"], values, p["delta"], *HYPER)
    if threads is None:
        rmsprop.rmsprop_update_product(*args)
    else:
        with_threads(threads, rmsprop.rmsprop_update_product, *args)
    return w, v


def formed_step(p, values):
    w, v = p["w"].copy(), p["v"].copy()
    g = spmm_t(p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
    fused.rmsprop_update(w, g, v, *HYPER)
    return w, v


@PROPERTY
@given(data=st.data())
def test_the_step_from_the_product_gives_the_bits_of_the_formed_gradient(
        csr_problems, assert_bitwise_equal, tolerance, data):
    p = data.draw(product_problem(csr_problems))
    for values in (None, p["data"]):
        got = fused_step(p, values)
        for a, b in zip(got, formed_step(p, values), strict=True):
            assert_bitwise_equal(a, b)
        # The NumPy backend's gradient (summed in float64) and RMSprop's NumPy lines.
        w, v = p["w"].copy(), p["v"].copy()
        g = numpy_backend.spmm_t(p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
        opt = optimizers.RMSprop(*HYPER[:2], epsilon=HYPER[2])
        opt.slots["w"] = {"velocity": v}
        with nn.use_backend("numpy"):
            opt.apply([("w", w, g)])
        # w moves by lr * g / sqrt(v + eps): where g is a rounding of 0 that step is noise.
        np.testing.assert_allclose(got[1], v, **tolerance(p["dtype"]))
        np.testing.assert_allclose(got[0], w, rtol=tolerance(p["dtype"])["rtol"],
                                   atol=10 * HYPER[0] * tolerance(p["dtype"])["atol"] ** 0.5)


@PROPERTY
@given(data=st.data())
def test_the_step_from_the_product_gives_the_same_bits_for_any_thread_count(
        csr_problems, with_threads, assert_bitwise_equal, data):
    p = data.draw(product_problem(csr_problems))
    for values in (None, p["data"]):
        serial = fused_step(p, values, 1, with_threads)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_common, "PARALLEL_MIN_WORK", 0)
            parallel = fused_step(p, values, MAX_THREADS, with_threads)
        for a, b in zip(serial, parallel, strict=True):
            assert_bitwise_equal(a, b)


@pytest.mark.parametrize("n_parts", [1, 2, 3, 8])
def test_row_cuts_partition_the_rows(n_parts):
    column_ptr = np.concatenate([[0], np.cumsum(np.random.default_rng(0).integers(0, 9, 50))])
    cuts = product._row_cuts(column_ptr, n_parts)
    assert cuts[0] == 0 and cuts[-1] == 50 and np.all(np.diff(cuts) >= 0)
    assert cuts.size == n_parts + 1


def test_by_columns_lists_each_columns_samples_in_row_order():
    indptr = np.array([0, 3, 3, 5, 7], np.int64)
    indices = np.array([0, 2, 4, 2, 3, 0, 2], np.int32)
    column_ptr, samples, order = product._by_columns(indptr, indices, 5)
    assert column_ptr.tolist() == [0, 2, 2, 5, 6, 7]
    assert samples.tolist() == [0, 3, 0, 2, 3, 2, 0]
    assert order.tolist() == [0, 5, 1, 3, 6, 4, 2]


def imdb_like_batch(n_rows, n_features, row_nnz, seed=0):
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(n_features) + 5.0)
    rows = [np.unique(rng.choice(n_features, size=row_nnz, p=p / p.sum()))
            for _ in range(n_rows)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    return CSRMatrix(indptr, np.concatenate(rows), (n_rows, n_features))


def train(units, product_min_units, x, y, optimizer="rmsprop"):
    """A model's weights after 2 epochs, its last kernel gradient formed or not."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fused, "PRODUCT_MIN_UNITS", product_min_units)
        model = models.Sequential(seed=3)
        model.add(layers.Dense(units, activation="relu", input_shape=(x.shape[1],)))
        model.add(layers.Dense(8, activation="relu"))
        model.add(layers.Dense(1, activation="sigmoid"))
        opt = optimizers.RMSprop(1e-3) if optimizer == "rmsprop" else optimizers.SGD(0.1)
        model.compile(optimizer=opt, loss="binary_crossentropy")
        with nn.use_backend("numba"):
            model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    return model


@pytest.mark.parametrize("optimizer", ["rmsprop", "sgd"])
def test_a_layer_that_leaves_its_gradient_unformed_trains_to_the_same_bits(optimizer):
    """(Batches of 32 reviews of ~30 words over 200 columns: every row of dW is listed.)"""
    x = imdb_like_batch(96, 200, 30)
    y = (np.arange(96) % 2).astype(np.float32)
    unformed = train(64, 64, x, y, optimizer)
    formed = train(64, 10**9, x, y, optimizer)
    g = unformed.layers[0].grads["kernel"]
    assert isinstance(g, RowSparseGrad) and g.product is not None
    assert formed.layers[0].grads["kernel"].product is None
    for a, b in zip(unformed.get_weights(), formed.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
    # Read afterwards, the unformed gradient is the formed one, bit for bit.
    assert g.values.tobytes() == formed.layers[0].grads["kernel"].values.tobytes()


def test_a_narrow_or_row_sparse_gradient_is_formed():
    x = imdb_like_batch(4, 5000, 30)  # fewer nonzeros than columns: only the rows present
    layer = layers.Dense(64, activation="relu")
    layer.build(5000, np.random.default_rng(0), np.float32)
    with nn.use_backend("numba"):
        a = layer.forward(x, training=True)
        layer.backward(np.ones_like(a), need_dx=False)
    g = layer.grads["kernel"]
    assert g.product is None and g.rows.size < 5000
