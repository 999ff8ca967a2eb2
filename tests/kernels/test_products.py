"""The sparse products of both backends: ``spmm`` (Z = X @ W + b), ``spmm_t`` (dW = X.T @
delta), ``spmm_t_rows`` (the rows of dW that can be nonzero) and ``sampled_product`` (delta @
W.T at X's nonzeros), against the dense NumPy
product and against each other, on hypothesis-drawn CSR matrices.

Each is checked multi-hot (``data=None``), with unit values and with drawn values, in float32
and float64. A backend may sum in another order than the dense product, so floats are
compared to the dtype's tolerance; the row numbers of ``spmm_t_rows`` exactly.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTY = settings.get_profile("kernels")


def dense_matrix(p, data):
    """The CSR matrix of problem ``p`` with values ``data`` (None: ones) as a dense float64
    array; duplicate columns in a row add up."""
    n_rows = p["indptr"].size - 1
    rows = np.repeat(np.arange(n_rows), np.diff(p["indptr"]))
    X = np.zeros((n_rows, p["n_cols"]))
    np.add.at(X, (rows, p["indices"]), 1.0 if data is None else data.astype(np.float64))
    return X


def value_choices(p):
    """Multi-hot, explicit ones, and the drawn values."""
    return None, np.ones(p["indices"].size, p["dtype"]), p["data"]


@PROPERTY
@given(data=st.data())
def test_spmm_is_the_dense_product_plus_bias(backend, csr_problems, tolerance,
                                             assert_backends_agree, data):
    p = data.draw(csr_problems())
    for values in value_choices(p):
        args = (p["indptr"], p["indices"], values, p["W"], p["b"])
        Z = backend.spmm(*args)
        assert Z.dtype == p["dtype"] and Z.shape == (p["indptr"].size - 1, p["W"].shape[1])
        want = dense_matrix(p, values) @ p["W"].astype(np.float64) + p["b"]
        np.testing.assert_allclose(Z, want, **tolerance(p["dtype"]))
        assert_backends_agree("spmm", args, Z)


@PROPERTY
@given(data=st.data())
def test_spmm_t_is_the_dense_transposed_product(backend, csr_problems, tolerance,
                                                assert_backends_agree, assert_bitwise_equal,
                                                data):
    p = data.draw(csr_problems())
    for values in value_choices(p):
        args = (p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
        dW = backend.spmm_t(*args)
        assert dW.dtype == p["dtype"] and dW.shape == (p["n_cols"], p["delta"].shape[1])
        want = dense_matrix(p, values).T @ p["delta"].astype(np.float64)
        np.testing.assert_allclose(dW, want, **tolerance(p["dtype"]))
        assert_bitwise_equal(dW, backend.spmm_t(*args))  # the same bits on every call
        assert_backends_agree("spmm_t", args, dW)


@PROPERTY
@given(data=st.data())
def test_spmm_t_rows_are_the_rows_of_the_dense_gradient_that_can_be_nonzero(
        backend, csr_problems, tolerance, assert_backends_agree, assert_bitwise_equal, data):
    p = data.draw(csr_problems())
    if p["n_cols"] > p["indices"].size:  # wide: exactly the distinct columns
        want_rows = np.unique(p["indices"])
    else:                                 # as many nonzeros as columns: every row
        want_rows = np.arange(p["n_cols"])
    for values in value_choices(p):
        args = (p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
        rows, dW_rows = backend.spmm_t_rows(*args)
        assert rows.dtype == np.int32 and dW_rows.dtype == p["dtype"]
        np.testing.assert_array_equal(rows, want_rows)
        want = (dense_matrix(p, values).T @ p["delta"].astype(np.float64))[want_rows]
        np.testing.assert_allclose(dW_rows, want, **tolerance(p["dtype"]))
        assert_bitwise_equal(dW_rows, backend.spmm_t(*args)[rows])  # the same sums, in one order
        assert_backends_agree("spmm_t_rows", args, (rows, dW_rows))


@PROPERTY
@given(data=st.data())
def test_sampled_product_is_the_dense_product_at_the_nonzeros(backend, csr_problems, tolerance,
                                                              assert_backends_agree, data):
    p = data.draw(csr_problems())
    args = (p["indptr"], p["indices"], p["delta"], p["W"])
    got = backend.sampled_product(*args)
    assert got.dtype == p["dtype"] and got.shape == p["indices"].shape
    rows = np.repeat(np.arange(p["indptr"].size - 1), np.diff(p["indptr"]))
    full = p["delta"].astype(np.float64) @ p["W"].astype(np.float64).T
    np.testing.assert_allclose(got, full[rows, p["indices"]], **tolerance(p["dtype"]))
    assert_backends_agree("sampled_product", args, got)
