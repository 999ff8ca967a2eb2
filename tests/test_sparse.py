"""`nn.sparse`: CSRMatrix validation and API, vectorize_sequences, SciPy interop. What calls
the backend's primitives (sorting rows, taking rows, multi-hot rows) runs on both backends
(`backend_in_use`)."""

import subprocess
import sys

import numpy as np
import pytest

from nn import Sequences
from nn.preprocessing import multi_hot, vectorize_sequences
from nn.sparse import CSRMatrix, as_sparse_input, csr_matrix


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


def test_unsorted_rows_are_sorted_and_duplicates_kept(backend_in_use):
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

def test_take_and_getitem_match_dense(backend_in_use):
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

def test_vectorize_sequences_matches_notebook(backend_in_use):
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
            "from nn.preprocessing import vectorize_sequences\nfrom nn.sparse import as_sparse_input\n"
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


def test_multi_hot_matrix_drives_kernels_like_dense(backend):
    m = vectorize_sequences([[1, 4, 4], [], [0, 2, 3, 4]], dimension=5)
    rng = np.random.default_rng(0)
    W, b, delta = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal((3, 3))
    x = m.toarray(np.float64)
    np.testing.assert_allclose(backend.spmm(m.indptr, m.indices, m.data, W, b), x @ W + b)
    np.testing.assert_allclose(backend.spmm_t(m.indptr, m.indices, m.data, delta, 5),
                               x.T @ delta)


# -- Read-only arrays ------------------------------------------------------------------------

def every_kind_of_matrix():
    """One matrix from each way of making one; all must hold read-only arrays."""
    from nn.preprocessing import hashed_ngrams, nb_weights, weight_columns

    sorted_rows = CSRMatrix([0, 2, 3], [1, 4, 0], (2, 5))
    x = hashed_ngrams([[1, 2, 3], [3, 2]], ngram_range=(1, 2), n_features=64)
    yield "sorted", sorted_rows
    yield "unsorted", CSRMatrix([0, 2, 3], [4, 1, 0], (2, 5))
    yield "unsorted with data", CSRMatrix([0, 2, 3], [4, 1, 0], (2, 5), data=[1.0, 2, 3])
    yield "int data", CSRMatrix([0, 1], [0], (1, 1), data=np.array([2], np.int64))
    yield "vectorize_sequences", vectorize_sequences([[1, 2, 2], [0]], dimension=5)
    yield "take", small().take([2, 0, 2])
    yield "take multi-hot", sorted_rows.take([1, 0])
    yield "slice", small()[1:3]
    yield "step slice", small()[::2]
    yield "hashed_ngrams", x
    yield "weight_columns", weight_columns(x, nb_weights(x, np.array([0, 1])))


def arrays_of(m):
    return [(name, getattr(m, name)) for name in ("indptr", "indices", "data")
            if getattr(m, name) is not None]


def test_matrix_arrays_are_read_only():
    for kind, m in every_kind_of_matrix():
        for name, a in arrays_of(m):
            assert not a.flags.writeable, f"{kind}: {name} is writable"


@pytest.mark.parametrize("edit", [
    lambda m: m.indices.__setitem__(0, 2**31 - 1),  # would reach the kernels unchecked
    lambda m: m.indices.fill(0),
    lambda m: np.add(m.indices, 1, out=m.indices),
    lambda m: m.indptr.__setitem__(1, 10**9),
    lambda m: m.data.__setitem__(0, np.nan),
    lambda m: m.data.__imul__(2),
])
def test_in_place_edits_raise(edit):
    for kind, m in (("built", small()), ("taken", small().take([2, 0])),
                    ("sliced", small()[1:])):
        before = m.toarray(np.float64)
        with pytest.raises(ValueError, match="read-only"):
            edit(m)
        np.testing.assert_array_equal(m.toarray(np.float64), before, err_msg=kind)


def test_index_edit_after_validation_is_refused():
    m = vectorize_sequences([[1, 2], [3]], dimension=5)
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        m.indices[0] = 2_000_000_000  # would make the kernels write out of bounds
    with pytest.raises(ValueError, match="assignment destination is read-only"):
        m.indptr[-1] = 10**12
    np.testing.assert_array_equal(m.indices, [1, 2, 3])


def test_callers_arrays_stay_writable_and_unshared():
    # dtypes the matrix stores as they are: a lazy implementation could wrap them
    indptr = np.array([0, 2, 3], np.int64)
    indices = np.array([1, 4, 0], np.int32)
    for data in (None, np.array([1.0, 2.0, 3.0], np.float32),
                 np.array([1.0, 2.0, 3.0], np.float64)):
        m = CSRMatrix(indptr, indices, (2, 5), data=data)
        for name, mine in (("indptr", indptr), ("indices", indices), ("data", data)):
            if mine is None:
                continue
            assert mine.flags.writeable, f"the caller's {name} was made read-only"
            assert not np.shares_memory(mine, getattr(m, name))
        before = m.toarray(np.float64)
        indices[0] = 3  # the caller edits its own array: the matrix does not change
        np.testing.assert_array_equal(m.toarray(np.float64), before)
        indices[0] = 1
    unsorted = np.array([4, 1, 0], np.int32)  # sorted into the matrix, not in place
    m = CSRMatrix(indptr, unsorted, (2, 5))
    np.testing.assert_array_equal(unsorted, [4, 1, 0])
    assert unsorted.flags.writeable and not m.indices.flags.writeable


def test_sequences_stay_writable():
    seqs = Sequences.from_lists([[1, 2], [3]])
    m = vectorize_sequences(seqs, dimension=5)
    assert seqs.tokens.flags.writeable and seqs.offsets.flags.writeable
    assert not np.shares_memory(seqs.offsets, m.indptr)


def test_pickle_and_copies_stay_read_only():
    import copy
    import pickle

    m = small()
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m), copy.copy(m)):
        np.testing.assert_array_equal(other.toarray(np.float64), m.toarray(np.float64))
        for name, a in arrays_of(other):
            assert not a.flags.writeable, name


def test_scipy_in_and_out_leave_writable_independent_arrays():
    sp = pytest.importorskip("scipy.sparse")
    source = sp.csr_matrix(np.array([[0, 2.0, 1.0], [3.0, 0, 0]]))
    m = CSRMatrix.from_scipy(source)
    for a in (source.data, source.indices, source.indptr):
        assert a.flags.writeable
        assert not any(np.shares_memory(a, b) for _, b in arrays_of(m))
    assert all(not a.flags.writeable for _, a in arrays_of(m))
    for back in (m.to_scipy(), vectorize_sequences([[2, 0], [1]], dimension=3).to_scipy()):
        before = m.toarray(np.float64)
        back.data *= 2  # SciPy edits its arrays in place; the matrix must not see it
        back.sort_indices()
        back.sum_duplicates()
        np.testing.assert_array_equal(m.toarray(np.float64), before)


def test_kernels_run_on_read_only_arrays(backend):
    """Numba compiles (and caches) a read-only specialisation of each kernel; results equal
    the NumPy backend's on writable copies: bitwise for the gathers and sorts, to rounding
    for the products."""
    from nn.kernels import numpy as numpy_backend

    rng = np.random.default_rng(0)
    dense = (rng.random((40, 30)) < 0.2) * rng.standard_normal((40, 30))
    rows, cols = np.nonzero(dense)
    m = CSRMatrix(np.r_[0, np.cumsum(np.count_nonzero(dense, axis=1))], cols, dense.shape,
                  data=dense[rows, cols].astype(np.float32))
    assert all(not a.flags.writeable for _, a in arrays_of(m))
    W = rng.standard_normal((30, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    delta = rng.standard_normal((40, 16)).astype(np.float32)
    picks = np.array([5, 0, 39, 5], np.int64)
    p, i = m.indptr, m.indices
    tokens = np.array([3, 1, 3, 0, 2], np.int32)
    offsets = np.array([0, 3, 5], np.int64)
    tokens.flags.writeable = offsets.flags.writeable = False
    for d in (None, m.data):
        for name, args in [("spmm", (p, i, d, W, b)), ("spmm_t", (p, i, d, delta, 30)),
                           ("spmm_t_rows", (p, i, d, delta, 30)),
                           ("gather_rows", (p, i, d, picks)), ("csr_sort_rows", (p, i, d, 30)),
                           ("multi_hot_csr", (tokens, offsets, 4)),
                           ("hashed_ngrams_csr", (tokens, offsets, 1, 2, 64))]:
            got = getattr(backend, name)(*args)
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            want = getattr(numpy_backend, name)(*copies)
            for g, w in zip(got if isinstance(got, tuple) else [got],
                            want if isinstance(want, tuple) else [want], strict=True):
                if w is None:
                    assert g is None, name
                elif name.startswith("spmm"):
                    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=name)
    np.testing.assert_allclose(backend.spmm(p, i, None, W, b), (dense != 0) @ W + b,
                               rtol=1e-5, atol=1e-5)


def test_model_trains_saves_and_loads_on_read_only_input(tmp_path):
    from nn import layers, models

    rng = np.random.default_rng(0)
    x = vectorize_sequences([rng.integers(0, 50, 12).tolist() for _ in range(64)],
                            dimension=50)
    y = rng.integers(0, 2, 64).astype(np.float32)
    model = models.Sequential(seed=0)
    model.add(layers.Dense(16, activation="relu", input_shape=(50,)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["binary_accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=16, validation_data=(x[:16], y[:16]),
                        verbose=0)  # shuffled batches gathered from read-only arrays
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "m.npz")
    again = models.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    assert not x.indices.flags.writeable and not x.indptr.flags.writeable


def test_trusted_wraps_read_only_views_and_leaves_the_buffer_alone():
    indptr, indices = np.array([0, 1, 2], np.int64), np.array([3, 0], np.int32)
    m = CSRMatrix._trusted(indptr, indices, (2, 4))
    assert indptr.flags.writeable and indices.flags.writeable  # e.g. a reused buffer
    assert not m.indptr.flags.writeable and not m.indices.flags.writeable
    assert np.shares_memory(m.indices, indices)


def test_sort_check_and_vectorize_in_blocks(monkeypatch, backend_in_use):
    """The block-by-block paths (sortedness check, multi-hot runs) at tiny block sizes,
    against each row sorted (and made distinct) by NumPy."""
    import nn.preprocessing as preprocessing
    import nn.sparse as sparse

    rng = np.random.default_rng(1)
    for trial in range(60):
        monkeypatch.setattr(sparse, "_CHECK_CHUNK", int(rng.integers(1, 8)))
        monkeypatch.setattr(preprocessing, "_RUN_TOKENS", int(rng.integers(1, 40)))
        n_rows, width = int(rng.integers(0, 30)), int(rng.integers(1, 12))
        lists = [rng.integers(0, width, rng.integers(0, 9)).tolist() for _ in range(n_rows)]
        if trial % 2:
            lists = [sorted(set(row)) for row in lists]
        seqs = Sequences.from_lists(lists)
        m = CSRMatrix(seqs.offsets, seqs.tokens, (n_rows, width))
        np.testing.assert_array_equal(m.indices, [t for row in lists for t in sorted(row)])
        rows_sorted = all(row == sorted(row) for row in lists)
        assert sparse._rows_sorted(seqs.offsets, seqs.tokens) == rows_sorted
        v = vectorize_sequences(seqs, dimension=width)
        distinct = [sorted(set(row)) for row in lists]
        np.testing.assert_array_equal(v.indptr, np.cumsum([0] + [len(r) for r in distinct]))
        np.testing.assert_array_equal(v.indices, [t for row in distinct for t in row])
        assert not v.indices.flags.writeable
