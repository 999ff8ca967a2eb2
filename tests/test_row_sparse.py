"""`nn.row_sparse.RowSparseGrad`: a gradient stored as some rows, seen by NumPy as the dense
array."""

import numpy as np

from nn.row_sparse import RowSparseGrad


def test_row_sparse_grad_looks_dense_to_numpy():
    g = RowSparseGrad(np.array([1, 3], np.int32), np.ones((2, 2), np.float32), (4, 2))
    dense = np.zeros((4, 2), np.float32)
    dense[[1, 3]] = 1
    assert np.array_equal(g.toarray(), dense) and np.array_equal(np.asarray(g), dense)
    assert np.asarray(g, dtype=np.float64).dtype == np.float64
    assert isinstance(g.copy(), np.ndarray) and np.array_equal(g.copy(), dense)
    assert np.linalg.norm(g) == 2.0 and np.max(np.abs(g - dense)) == 0
    assert g.shape == (4, 2) and g.dtype == np.float32 and g.ndim == 2 and g.size == 8
    assert "rows=2" in repr(g)


def test_a_gradient_of_a_product_is_formed_once_when_first_read():
    calls = []

    def form():
        calls.append(1)
        return np.full((2, 2), 3.0, np.float32)

    factors = (np.array([0, 1], np.int64), np.array([1], np.int32), None, np.ones((1, 2)))
    g = RowSparseGrad.of_product(np.array([0, 1], np.int32), (2, 2), factors, form)
    assert g.product is factors and not calls
    assert g.shape == (2, 2) and g.rows.tolist() == [0, 1] and not calls
    assert g.dtype == np.float32 and np.array_equal(g.toarray(), np.full((2, 2), 3.0))
    assert g.values is g.values and len(calls) == 1
    assert RowSparseGrad(g.rows, g.values, g.shape).product is None
