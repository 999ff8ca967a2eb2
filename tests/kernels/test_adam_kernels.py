"""Adam's fused steps (`nn.kernels.numba.adam`) against Adam's NumPy lines, bit for bit.

`nn.optimizers.Adam` runs on each backend (the numba one takes the fused kernels, the NumPy one
its own lines) with a dense gradient, a `RowSparseGrad` of some rows and one left unformed as
``X.T @ delta`` (`RowSparseGrad.of_product`); the oracle is the NumPy lines written out here,
on the densified gradient, with the step size Adam computes. Elementwise in the weights'
dtype, in the same order, so nothing may round differently: float32 and float64, any thread
count. The numba backend never forms a dense gradient for this.
"""

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn import layers, models, optimizers
from nn.row_sparse import RowSparseGrad
from nn.sparse import CSRMatrix

PROPERTY = settings.get_profile("kernels")
KINDS = ("dense", "rows", "product")


def adam_lines(w, g, m, v, alpha, beta_1, beta_2, epsilon):
    """The oracle: `nn.optimizers.Adam.update_step`'s NumPy lines, in place."""
    f = w.dtype.type
    m += (g - m) * f(1 - beta_1)              # m += (g - m) (1 - beta_1)
    v += (g * g - v) * f(1 - beta_2)          # v += (g^2 - v) (1 - beta_2)
    w -= alpha * m / (np.sqrt(v) + f(epsilon))  # w -= alpha m / (sqrt(v) + epsilon)


@st.composite
def adam_problem(draw, csr_problems):
    """A CSR problem (tests/kernels/conftest.py) with moments ``m`` and ``v`` (v >= 0, some
    zero), hyperparameters, a first step count and one kind of gradient."""
    p = draw(csr_problems())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape, dtype = p["W"].shape, p["dtype"]
    p["m"] = (0.1 * rng.standard_normal(shape)).astype(dtype)
    p["v"] = (np.abs(rng.standard_normal(shape)) * rng.integers(0, 2, shape)).astype(dtype)
    p["kind"] = draw(st.sampled_from(KINDS))
    p["hyper"] = {"learning_rate": draw(st.sampled_from([1e-3, 0.1])),
                  "beta_1": draw(st.sampled_from([0.9, 0.5, 0.0])),
                  "beta_2": draw(st.sampled_from([0.999, 0.9])),
                  "epsilon": draw(st.sampled_from([1e-7, 1e-3]))}
    p["iterations"] = draw(st.sampled_from([0, 1, 1000]))
    p["seed"] = draw(st.integers(0, 2**32 - 1))
    return p


def gradients(p, spmm_t, n_steps=2):
    """(grads, formed): ``n_steps`` gradients of the problem's kind (new objects each call,
    the same numbers): dense arrays, `RowSparseGrad`s of random rows (none, some or all, with
    -0.0 among the values), or unformed products formed by ``spmm_t`` on first read, which
    appends to the list ``formed``."""
    rng = np.random.default_rng(p["seed"])
    shape, dtype, grads, formed = p["W"].shape, p["dtype"], [], []
    for step in range(n_steps):
        if p["kind"] == "dense":
            grads.append(rng.standard_normal(shape).astype(dtype))
        elif p["kind"] == "rows":
            n_rows = rng.integers(0, shape[0] + 1)
            rows = np.sort(rng.choice(shape[0], n_rows, replace=False)).astype(np.int32)
            values = rng.standard_normal((n_rows, shape[1])).astype(dtype)
            values[values < -1.5] = -0.0
            grads.append(RowSparseGrad(rows, values, shape))
        else:
            data = None if step == 0 else p["data"]
            delta = (p["delta"] * dtype(step + 1)).astype(dtype)
            form = functools.partial(spmm_t, p["indptr"], p["indices"], data, delta, shape[0])
            grads.append(RowSparseGrad.of_product(
                np.arange(shape[0], dtype=np.int32), shape,
                (p["indptr"], p["indices"], data, delta),
                lambda form=form: formed.append(1) or form()))
    return grads, formed


@PROPERTY
@given(data=st.data())
def test_adam_steps_give_the_numpy_lines_bits(backend, csr_problems, assert_bitwise_equal,
                                              data):
    p = data.draw(adam_problem(csr_problems))
    hyper, dtype = p["hyper"], p["dtype"]
    opt = optimizers.Adam(**hyper)
    opt.iterations = p["iterations"]
    w = p["W"].copy()
    opt.slots["w"] = {"m": p["m"].copy(), "v": p["v"].copy()}
    want_w, want_m, want_v = p["W"].copy(), p["m"].copy(), p["v"].copy()
    grads, formed = gradients(p, backend.spmm_t)
    with nn.use_backend(backend.__name__.rpartition(".")[2]):
        for g, g_oracle in zip(grads, gradients(p, backend.spmm_t)[0], strict=True):
            alpha = opt._step_size(np.dtype(dtype).type)
            opt.apply([("w", w, g)])
            adam_lines(want_w, np.asarray(g_oracle), want_m, want_v, alpha, hyper["beta_1"],
                       hyper["beta_2"], hyper["epsilon"])
            assert_bitwise_equal(w, want_w)
            assert_bitwise_equal(opt.slots["w"]["m"], want_m)
            assert_bitwise_equal(opt.slots["w"]["v"], want_v)
    if p["kind"] == "product" and backend.fused is not None:
        assert formed == [], "the numba backend formed the product"


@PROPERTY
@given(data=st.data())
def test_the_fused_steps_give_the_same_bits_for_any_thread_count(
        csr_problems, with_threads, assert_bitwise_equal, data):
    from nn.kernels.numba import _common, adam
    from nn.kernels.numba.backward import spmm_t

    p = data.draw(adam_problem(csr_problems))
    hyper = dict(p["hyper"])
    alpha = np.dtype(p["dtype"]).type(hyper.pop("learning_rate"))
    betas_eps = tuple(hyper.values())
    g = gradients(dict(p, kind="rows"), spmm_t, 1)[0][0]

    def run_all(threads):
        """The dense, the row-sparse and the two product steps (multi-hot, valued)."""
        steps = []
        for kind in ("dense", "rows", "multi-hot", "valued"):
            w, m, v = p["W"].copy(), p["m"].copy(), p["v"].copy()
            if kind == "dense":
                with_threads(threads, adam.adam_update, w, g.toarray(), m, v, alpha,
                             *betas_eps)
            elif kind == "rows":
                with_threads(threads, adam.adam_update_rows, w, m, v, g.rows, g.values, alpha,
                             *betas_eps)
            else:
                values = None if kind == "multi-hot" else p["data"]
                adam.adam_update_product(w, m, v, p["indptr"], p["indices"], values, p["delta"],
                                         alpha, *betas_eps, threads=threads)
            steps.append((w, m, v))
        return steps

    serial = run_all(1)
    for a, b in zip(serial[0], serial[1], strict=True):  # rows: the densified step's bits
        assert_bitwise_equal(a, b)
    for values, got in zip((None, p["data"]), serial[2:]):  # product: the formed step's bits
        w, m, v = p["W"].copy(), p["m"].copy(), p["v"].copy()
        formed = spmm_t(p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
        adam_lines(w, formed, m, v, alpha, *betas_eps)
        for a, b in zip(got, (w, m, v), strict=True):
            assert_bitwise_equal(a, b)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_common, "PARALLEL_MIN_WORK", 0)
        parallel = run_all(2)
    for one, two in zip(serial, parallel, strict=True):
        for a, b in zip(one, two, strict=True):
            assert_bitwise_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_amsgrad_takes_the_numpy_lines_on_both_backends(dtype):
    rng = np.random.default_rng(5)
    shape = (30, 17)
    w0 = rng.standard_normal(shape).astype(dtype)
    grads = []
    for _ in range(3):
        rows = np.sort(rng.choice(30, 12, replace=False)).astype(np.int32)
        grads.append(RowSparseGrad(rows, rng.standard_normal((12, 17)).astype(dtype), shape))
    runs = []
    for name in ("numpy", "numba"):
        opt, w = optimizers.Adam(0.01, amsgrad=True), w0.copy()
        with nn.use_backend(name):
            for g in grads:
                opt.apply([("w", w, g)])
        runs.append((w, opt.slots["w"]["v_hat"]))
    for a, b in zip(*runs, strict=True):
        assert a.dtype == dtype and a.tobytes() == b.tobytes()


def test_a_wide_layer_trains_with_adam_to_the_same_bits_formed_or_not():
    """A 64-unit sparse first layer leaves its gradient unformed (`PRODUCT_MIN_UNITS`);
    Adam's step from the product must train to the weights of the formed gradient."""
    pytest.importorskip("numba")
    from nn.kernels.numba import fused

    rng = np.random.default_rng(0)
    rows = [np.unique(rng.integers(0, 200, 30)) for _ in range(96)]
    indptr = np.concatenate([[0], np.cumsum([r.size for r in rows])])
    x = CSRMatrix(indptr, np.concatenate(rows), (96, 200))
    y = (np.arange(96) % 2).astype(np.float32)
    trained = []
    for product_min_units in (64, 10**9):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(fused, "PRODUCT_MIN_UNITS", product_min_units)
            model = models.Sequential(seed=3)
            model.add(layers.Dense(64, activation="relu", input_shape=(200,)))
            model.add(layers.Dense(8, activation="relu"))
            model.add(layers.Dense(1, activation="sigmoid"))
            model.compile(optimizer=optimizers.Adam(1e-3), loss="binary_crossentropy")
            with nn.use_backend("numba"):
                model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        trained.append(model)
    assert trained[0].layers[0].grads["kernel"].product is not None
    for a, b in zip(trained[0].get_weights(), trained[1].get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()
