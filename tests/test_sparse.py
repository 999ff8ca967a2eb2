"""`nn.sparse`: CSRMatrix validation and API, vectorize_sequences, SciPy interop."""

import subprocess
import sys

import numpy as np
import pytest

from nn import Sequences
from nn.sparse import CSRMatrix, as_sparse_input, csr_matrix, multi_hot, vectorize_sequences


def notebook_vectorize(sequences, dimension=10000):
    """The Keras notebook's dense multi-hot encoder, the reference."""
    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        results[i, sequence] = 1.0
    return results


def small():
    """[[0, 2, 0], [0, 0, 0], [1, 0, 3]] with explicit values."""
    return CSRMatrix([0, 2, 2, 4], [0, 2, 0, 2], (3, 3), data=[1.0, 2.0, 3.0, 4.0])


# -- Construction and validation -------------------------------------------------------------

def test_construction_casts_and_owns_arrays():
    indptr, indices = np.array([0, 2, 3]), np.array([1, 4, 0], dtype=np.int16)
    m = CSRMatrix(indptr, indices, (2, 5))
    assert m.indptr.dtype == np.int64 and m.indices.dtype == np.int32
    assert m.data is None and m.is_multi_hot and m.dtype == np.float32
    indices[0] = 99  # the matrix holds its own copy
    assert m.indices[0] == 1
    assert m.shape == (2, 5) and len(m) == 2 and m.nnz == 3 and m.ndim == 2
    assert m.nbytes == 3 * 8 + 3 * 4
    np.testing.assert_array_equal(m.toarray(), [[0, 1, 0, 0, 1], [1, 0, 0, 0, 0]])


@pytest.mark.parametrize("indptr, indices, shape, data, error, words", [
    ([0, 1], [0, 1], (2, 3), None, ValueError, ["n_rows + 1 = 3", "got 2"]),
    ([1, 1, 2], [0, 1], (2, 3), None, ValueError, ["start at 0", "got 1"]),
    ([0, 1, 3], [0, 1], (2, 3), None, ValueError, ["end at len(indices) = 2", "got 3"]),
    ([0, 2, 1, 2], [0, 1], (3, 3), None, ValueError, ["non-decreasing", "2 then 1"]),
    ([0, 1, 2], [0, 3], (2, 3), None, ValueError, ["[0, 3)", "got 3 at position 1 (row 1)"]),
    ([0, 1, 2], [-1, 0], (2, 3), None, ValueError, ["got -1 at position 0 (row 0)"]),
    ([0.0, 1.0, 2.0], [0, 1], (2, 3), None, TypeError, ["indptr", "float64"]),
    ([0, 1, 2], [0.0, 1.0], (2, 3), None, TypeError, ["indices", "float64"]),
    ([0, 1, 2], [True, False], (2, 3), None, TypeError, ["indices", "bool"]),
    ([0, 1, 2], np.array([0, 1], dtype=object), (2, 3), None, TypeError, ["indices"]),
    ([0, 1, 2], [[0, 1]], (2, 3), None, ValueError, ["1-D"]),
    ([0, 1, 2], [0, 1], (2, 3), [1.0], ValueError, ["one value per nonzero", "(2,)"]),
    ([0, 1, 2], [0, 1], (2, 3), [1.0, np.nan], ValueError, ["finite", "nan at position 1"]),
    ([0, 1, 2], [0, 1], (2, 3), [np.inf, 1], ValueError, ["finite", "inf at position 0"]),
    ([0, 1, 2], [0, 1], (2, 3), [1j, 1], TypeError, ["complex"]),
    ([0, 1, 2], [0, 1], (2, -3), None, ValueError, ["non-negative", "n_features=-3"]),
    ([0, 1, 2], [0, 1], (2, 3.0), None, TypeError, ["integers", "n_features=3.0"]),
    ([0, 1, 2], [0, 1], (2, 3, 4), None, ValueError, ["(n_rows, n_features)"]),
    ([0, 1, 2], [0, 1], 6, None, ValueError, ["(n_rows, n_features)"]),
])
def test_bad_input_raises_helpful_errors(indptr, indices, shape, data, error, words):
    with pytest.raises(error) as info:
        CSRMatrix(indptr, indices, shape, data=data)
    for word in words:
        assert word in str(info.value)


def test_out_of_range_index_names_value_position_row_and_shape():
    indptr = np.arange(0, 25001 * 20, 20)
    indices = np.tile(np.arange(20), 25000)
    indices[17] = 10003
    with pytest.raises(ValueError, match=r"indices must be in \[0, 10000\) for shape "
                                         r"\(25000, 10000\); got 10003 at position 17 \(row 0\)"):
        CSRMatrix(indptr, indices, (25000, 10000))


def test_unsorted_rows_are_sorted_and_duplicates_kept():
    indptr = [0, 3, 3, 6]
    indices = [2, 0, 2, 1, 1, 0]
    data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    m = CSRMatrix(indptr, indices, (3, 3), data=data)
    np.testing.assert_array_equal(m.indices, [0, 2, 2, 0, 1, 1])
    np.testing.assert_array_equal(m.data, [2.0, 1.0, 3.0, 6.0, 4.0, 5.0])  # stable
    np.testing.assert_array_equal(m.toarray(), [[2, 0, 4], [0, 0, 0], [6, 9, 0]])
    ones = CSRMatrix(indptr, indices, (3, 3))
    np.testing.assert_array_equal(ones.indices, [0, 2, 2, 0, 1, 1])
    np.testing.assert_array_equal(ones.toarray(), [[1, 0, 2], [0, 0, 0], [1, 2, 0]])


def test_data_dtypes():
    assert CSRMatrix([0, 1], [0], (1, 1), data=np.array([2], np.int64)).dtype == np.float32
    assert CSRMatrix([0, 1], [0], (1, 1), data=np.array([1], np.float16)).dtype == np.float32
    assert CSRMatrix([0, 1], [0], (1, 1), data=np.array([1.5], np.float64)).dtype == np.float64
    m = CSRMatrix([0, 1], [0], (1, 1), data=np.array([1.5], np.float32))
    assert m.dtype == np.float32 and not m.is_multi_hot


def test_empty_matrices():
    for shape in ((0, 5), (3, 0), (0, 0), (4, 7)):
        m = CSRMatrix(np.zeros(shape[0] + 1, np.int64), [], shape)
        assert m.shape == shape and m.nnz == 0
        np.testing.assert_array_equal(m.toarray(), np.zeros(shape, np.float32))
        assert m.take([]).shape == (0, shape[1])
        assert m[0:0].shape == (0, shape[1])


def test_repr_and_alias():
    assert csr_matrix is CSRMatrix
    text = repr(vectorize_sequences([[1, 2], [3]], dimension=10))
    assert "shape=(2, 10)" in text and "nnz=3" in text and "multi-hot" in text
    assert "float64" in repr(small())


# -- Rows ------------------------------------------------------------------------------------

def test_take_and_getitem_match_dense():
    rng = np.random.default_rng(0)
    dense = (rng.random((30, 12)) < 0.3) * rng.integers(1, 5, (30, 12))
    rows, cols = np.nonzero(dense)
    m = CSRMatrix(np.r_[0, np.cumsum(np.count_nonzero(dense, axis=1))], cols, dense.shape,
                  data=dense[rows, cols].astype(np.float64))
    multi = CSRMatrix(m.indptr, m.indices, m.shape)
    for key in ([3, 3, 0, 29], np.array([-1, -30, 5]), np.arange(30) % 2 == 0,
                slice(None), slice(5, 17), slice(20, 3), slice(None, None, 3), slice(-4, None),
                slice(None, None, -1), 7, np.int64(-2), []):
        expected = dense[key] if not isinstance(key, (int, np.integer)) else dense[[key]]
        got = m[key]
        assert isinstance(got, CSRMatrix)
        np.testing.assert_array_equal(got.toarray(np.float64), expected)
        np.testing.assert_array_equal(multi[key].toarray(np.float64), expected != 0)
    np.testing.assert_array_equal(m.take([2, 2]).toarray(np.float64), dense[[2, 2]])


def test_take_rejects_bad_rows():
    m = small()
    with pytest.raises(IndexError, match=r"row 3 at position 1 is out of range for 3 rows"):
        m.take([0, 3])
    with pytest.raises(IndexError, match="out of range"):
        m.take([-4])
    with pytest.raises(TypeError, match="integers or a boolean mask"):
        m.take([0.0, 1.0])
    with pytest.raises(IndexError, match="boolean row mask must have shape"):
        m.take([True, False])
    with pytest.raises(IndexError, match="1-D"):
        m.take([[0, 1]])
    with pytest.raises(TypeError, match="row selection only"):
        m[0, 1]
    with pytest.raises(IndexError):
        m[5]


def test_slices_are_views():
    m = vectorize_sequences([[1, 2], [3], [0, 4]], dimension=5)
    part = m[1:3]
    assert part.indices.base is not None and np.shares_memory(part.indices, m.indices)
    np.testing.assert_array_equal(part.indptr, [0, 1, 3])


def test_toarray_dtype():
    m = small()
    assert m.toarray().dtype == np.float32
    out = m.toarray(np.float64)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[1, 0, 2], [0, 0, 0], [3, 0, 4]])


# -- vectorize_sequences ---------------------------------------------------------------------

def test_vectorize_sequences_matches_notebook():
    rng = np.random.default_rng(0)
    lists = [rng.integers(0, 50, rng.integers(0, 30)).tolist() for _ in range(40)]
    lists[3] = []
    lists[4] = [7, 7, 7, 1, 7]  # repeats count once
    expected = notebook_vectorize(lists, dimension=50)
    for source in (lists, Sequences.from_lists(lists), np.array(lists, dtype=object)):
        m = vectorize_sequences(source, dimension=50)
        assert m.is_multi_hot and m.shape == (40, 50)
        np.testing.assert_array_equal(m.toarray(np.float64), expected)
        for i in range(0, 40, 7):  # sorted and distinct within a row
            row = m.indices[m.indptr[i]:m.indptr[i + 1]]
            assert np.all(np.diff(row) > 0)
    assert multi_hot is vectorize_sequences


def test_vectorize_sequences_default_dimension_and_duck_typing():
    class Ragged:  # anything with tokens and offsets
        tokens = np.array([9999, 0, 5, 5], dtype=np.int64)
        offsets = np.array([0, 1, 4])

    m = vectorize_sequences(Ragged())
    assert m.shape == (2, 10000)
    np.testing.assert_array_equal(m.indices, [9999, 0, 5])
    np.testing.assert_array_equal(m.indptr, [0, 1, 3])


@pytest.mark.parametrize("sequences, dimension, message", [
    ([[1, 2], [3, 10003]], 10000, r"in \[0, 10000\) for dimension=10000; got 10003 at "
                                  r"position 1 of sequence 1"),
    ([[1, 2], [], [-1]], 10, r"got -1 at position 0 of sequence 2"),
    ([[5, 10]], 10, r"got 10 at position 1 of sequence 0"),
])
def test_vectorize_sequences_out_of_range(sequences, dimension, message):
    with pytest.raises(ValueError, match=message):
        vectorize_sequences(sequences, dimension=dimension)


def test_vectorize_sequences_out_of_range_beyond_int32_in_duck_type():
    class Ragged:
        tokens = np.array([1, 2**32 + 1], dtype=np.int64)  # would wrap to 1 as int32
        offsets = np.array([0, 2])

    with pytest.raises(ValueError, match="got 4294967297 at position 1 of sequence 0"):
        vectorize_sequences(Ragged(), dimension=10)


@pytest.mark.parametrize("dimension, error", [(0, ValueError), (-5, ValueError),
                                              (10.0, TypeError), (True, TypeError)])
def test_vectorize_sequences_bad_dimension(dimension, error):
    with pytest.raises(error, match="dimension"):
        vectorize_sequences([[1]], dimension=dimension)


def test_vectorize_sequences_rejects_non_integers():
    with pytest.raises(TypeError, match="integers"):
        vectorize_sequences([[1.5, 2.0]], dimension=10)


def test_vectorize_sequences_empty():
    m = vectorize_sequences([], dimension=10)
    assert m.shape == (0, 10) and m.nnz == 0
    m = vectorize_sequences([[], []], dimension=10)
    assert m.shape == (2, 10) and m.nnz == 0


# -- as_sparse_input and SciPy ---------------------------------------------------------------

def test_as_sparse_input_without_scipy_objects():
    m = small()
    assert as_sparse_input(m) is m
    assert as_sparse_input(np.zeros((2, 2))) is None
    assert as_sparse_input([[1, 2]]) is None


def test_as_sparse_input_does_not_import_scipy():
    code = ("import sys, builtins\n"
            "real_import = builtins.__import__\n"
            "def guarded(name, *args, **kwargs):\n"
            "    if name.startswith('scipy'):\n"
            "        raise ImportError('scipy blocked')\n"
            "    return real_import(name, *args, **kwargs)\n"
            "builtins.__import__ = guarded\n"
            "import numpy as np\n"
            "from nn.sparse import as_sparse_input, vectorize_sequences\n"
            "assert as_sparse_input(np.zeros((2, 2))) is None\n"
            "m = vectorize_sequences([[1, 2]], dimension=4)\n"
            "assert as_sparse_input(m) is m\n"
            "assert 'scipy.sparse' not in sys.modules\n"
            "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_scipy_round_trip():
    sp = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    dense = (rng.random((20, 15)) < 0.3) * rng.standard_normal((20, 15))
    for make in (sp.csr_matrix, sp.csr_array, sp.coo_matrix, sp.csc_array):
        source = make(dense)
        m = CSRMatrix.from_scipy(source)
        assert as_sparse_input(source).nnz == m.nnz
        np.testing.assert_array_equal(m.toarray(np.float64), dense)
        back = m.to_scipy()
        assert sp.issparse(back) and back.format == "csr"
        np.testing.assert_array_equal(back.toarray(), dense)


def test_scipy_unsorted_duplicates_and_ones():
    sp = pytest.importorskip("scipy.sparse")
    s = sp.csr_matrix((np.array([1.0, 2.0, 3.0]), np.array([2, 0, 2]), np.array([0, 3])),
                      shape=(1, 3))
    m = CSRMatrix.from_scipy(s)
    np.testing.assert_array_equal(m.indices, [0, 2, 2])
    np.testing.assert_array_equal(m.toarray(np.float64), s.toarray())  # duplicates summed
    ones = CSRMatrix.from_scipy(sp.csr_matrix(np.eye(3)))
    assert ones.is_multi_hot and ones.nnz == 3
    np.testing.assert_array_equal(ones.to_scipy().toarray(), np.eye(3))


def test_from_scipy_validates():
    sp = pytest.importorskip("scipy.sparse")
    bad = sp.csr_matrix((np.array([np.nan]), np.array([0]), np.array([0, 1])), shape=(1, 2))
    with pytest.raises(ValueError, match="finite"):
        CSRMatrix.from_scipy(bad)


def test_multi_hot_matrix_drives_kernels_like_dense():
    from nn import kernels
    m = vectorize_sequences([[1, 4, 4], [], [0, 2, 3, 4]], dimension=5)
    rng = np.random.default_rng(0)
    W, b, delta = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal((3, 3))
    x = m.toarray(np.float64)
    np.testing.assert_allclose(kernels.spmm_ones(m.indptr, m.indices, W, b), x @ W + b)
    np.testing.assert_allclose(kernels.spmm_t_ones(m.indptr, m.indices, delta, 5), x.T @ delta)
