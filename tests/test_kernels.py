"""Property tests: every compiled kernel in `nn.kernels` equals its NumPy reference twin.

Inputs come from a hypothesis strategy that draws CSR matrices (after lenskit/csr's): zero
rows, empty rows, a single row or column, wide and narrow shapes, duplicate columns, float32
and float64. Float sums may be taken in another order by a kernel and its twin, so they are
compared with a tolerance for the dtype; the weight-gradient kernels must moreover be
deterministic, and are compared bit for bit across calls and thread counts.

tests/test_kernels_nojit.py runs this file again with ``NUMBA_DISABLE_JIT=1`` (the kernels'
Python source); ``NN_KERNEL_TEST_EXAMPLES`` sets the number of hypothesis examples.
"""

import os

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn import kernels
from helpers import with_threads

JIT = not numba.config.DISABLE_JIT
EXAMPLES = int(os.environ.get("NN_KERNEL_TEST_EXAMPLES", 60 if JIT else 15))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)
DTYPES = st.sampled_from([np.float32, np.float64])


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


@st.composite
def csr(draw, max_rows=12, max_cols=40, max_row_nnz=10, sorted_rows=True):
    """(indptr int64, indices int32, n_cols) with rows sorted by column (or not) and possibly
    duplicate columns within a row."""
    n_rows = draw(st.integers(0, max_rows))
    n_cols = draw(st.sampled_from([1, 2, 3, max_cols, 10 * max_cols]))
    lengths = draw(st.lists(st.integers(0, max_row_nnz), min_size=n_rows, max_size=n_rows))
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):  # concentrated on a few columns: duplicates likely
        indices = rng.integers(0, min(n_cols, 3), indptr[-1])
    else:
        indices = rng.integers(0, n_cols, indptr[-1])
    if sorted_rows:
        rows = np.repeat(np.arange(n_rows), lengths)
        indices = indices[np.lexsort((indices, rows))]
    return indptr, indices.astype(np.int32), n_cols


def dense(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def problem(draw, **csr_options):
    """A CSR matrix with a weight matrix, bias, values and delta of a drawn dtype and width."""
    indptr, indices, n_cols = draw(csr(**csr_options))
    dtype = draw(DTYPES)
    units = draw(st.sampled_from([1, 3, 16, 17, 40]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {"indptr": indptr, "indices": indices, "n_cols": n_cols, "dtype": dtype,
            "W": dense(rng, (n_cols, units), dtype), "b": dense(rng, units, dtype),
            "data": dense(rng, indices.size, dtype),
            "delta": dense(rng, (indptr.size - 1, units), dtype)}


def assert_bitwise_equal(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


# -- Forward ---------------------------------------------------------------------------------

@PROPERTY
@given(problem())
def test_spmm_ones_matches_reference(p):
    Z = kernels.spmm_ones(p["indptr"], p["indices"], p["W"], p["b"])
    expected = kernels.spmm_ones_reference(p["indptr"], p["indices"], p["W"], p["b"])
    assert Z.dtype == p["dtype"] and Z.shape == expected.shape
    np.testing.assert_allclose(Z, expected, **tolerance(p["dtype"]))


@PROPERTY
@given(problem())
def test_spmm_matches_reference(p):
    args = (p["indptr"], p["indices"], p["data"], p["W"], p["b"])
    Z = kernels.spmm(*args)
    assert Z.dtype == p["dtype"]
    np.testing.assert_allclose(Z, kernels.spmm_reference(*args), **tolerance(p["dtype"]))


@PROPERTY
@given(problem())
def test_spmm_with_unit_values_equals_spmm_ones(p):
    ones = np.ones(p["indices"].size, p["dtype"])
    np.testing.assert_allclose(kernels.spmm(p["indptr"], p["indices"], ones, p["W"], p["b"]),
                               kernels.spmm_ones(p["indptr"], p["indices"], p["W"], p["b"]),
                               **tolerance(p["dtype"]))


def test_spmm_ones_on_dense_equivalent():
    """Against the dense product, which is what the layer means by x @ W + b."""
    rng = np.random.default_rng(0)
    x = (rng.random((7, 30)) < 0.3).astype(np.float64)
    indptr = np.r_[0, np.cumsum(x.sum(axis=1))].astype(np.int64)
    indices = np.nonzero(x)[1].astype(np.int32)
    W, b = rng.standard_normal((30, 5)), rng.standard_normal(5)
    np.testing.assert_allclose(kernels.spmm_ones(indptr, indices, W, b), x @ W + b, rtol=1e-12)


# -- Backward --------------------------------------------------------------------------------

@PROPERTY
@given(problem())
def test_spmm_t_ones_matches_reference(p):
    args = (p["indptr"], p["indices"], p["delta"], p["n_cols"])
    dW = kernels.spmm_t_ones(*args)
    expected = kernels.spmm_t_ones_reference(*args)
    assert dW.dtype == p["dtype"] and dW.shape == expected.shape
    np.testing.assert_allclose(dW, expected, **tolerance(p["dtype"]))


@PROPERTY
@given(problem())
def test_spmm_t_matches_reference(p):
    args = (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])
    dW = kernels.spmm_t(*args)
    assert dW.dtype == p["dtype"]
    np.testing.assert_allclose(dW, kernels.spmm_t_reference(*args), **tolerance(p["dtype"]))


@PROPERTY
@given(problem())
def test_spmm_t_kernels_are_deterministic(p):
    """Bitwise the same on a second call and with 1 thread instead of 2."""
    ones = (p["indptr"], p["indices"], p["delta"], p["n_cols"])
    valued = (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])
    for fn, args in ((kernels.spmm_t_ones, ones), (kernels.spmm_t, valued)):
        first = with_threads(MAX_THREADS, fn, *args)
        assert_bitwise_equal(first, with_threads(MAX_THREADS, fn, *args))
        assert_bitwise_equal(first, with_threads(1, fn, *args))


def imdb_like(n_rows, n_features, row_nnz, seed=0):
    """Sorted distinct Zipf-distributed columns per row, as a multi-hot review matrix."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(n_features) + 5.0)
    tokens = rng.choice(n_features, size=n_rows * row_nnz, p=p / p.sum()).astype(np.int32)
    offsets = np.arange(0, n_rows * row_nnz + 1, row_nnz, dtype=np.int64)
    return kernels.multi_hot_csr(tokens, offsets, n_features)


def test_spmm_t_ones_deterministic_where_threads_split_the_work():
    """A larger batch in which both threads own many nonzeros (and float32 rounding shows)."""
    n_rows, n_features = (256, 3000) if JIT else (24, 300)
    indptr, indices = imdb_like(n_rows, n_features, 60)
    rng = np.random.default_rng(1)
    delta = dense(rng, (n_rows, 16), np.float32)
    data = dense(rng, indices.size, np.float32)
    for fn, args in ((kernels.spmm_t_ones, (indptr, indices, delta, n_features)),
                     (kernels.spmm_t, (indptr, indices, data, delta, n_features))):
        runs = [with_threads(n, fn, *args) for n in (MAX_THREADS, MAX_THREADS, 1, MAX_THREADS)]
        for run in runs[1:]:
            assert_bitwise_equal(runs[0], run)


@pytest.mark.parametrize("n_parts", [1, 2, 3, 7])
def test_feature_cuts_partition_the_features(n_parts):
    indptr, indices = imdb_like(50, 1000, 40)
    cuts = kernels.backward._feature_cuts(indices, 1000, n_parts)
    assert cuts[0] == 0 and cuts[-1] == 1000 and np.all(np.diff(cuts) >= 0)
    assert cuts.size == n_parts + 1
    if n_parts == 2:  # Zipf: the nonzeros' median column is far below the middle feature
        below = np.count_nonzero(indices < cuts[1]) / indices.size
        assert 0.35 < below < 0.65 and cuts[1] < 500


# -- Gathers ---------------------------------------------------------------------------------

@st.composite
def gather_problem(draw):
    indptr, indices, n_cols = draw(csr())
    n_rows = indptr.size - 1
    rows = draw(st.lists(st.integers(0, n_rows - 1), max_size=20)) if n_rows else []
    data = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(indices.size)
    return indptr, indices, data.astype(draw(DTYPES)), np.array(rows, dtype=np.int64)


@PROPERTY
@given(gather_problem())
def test_gather_rows_matches_reference(p):
    indptr, indices, data, rows = p
    for got, want in zip(kernels.gather_rows(indptr, indices, rows),
                         kernels.gather_rows_reference(indptr, indices, rows)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    for got, want in zip(kernels.gather_rows_data(indptr, indices, data, rows),
                         kernels.gather_rows_data_reference(indptr, indices, data, rows)):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


# -- Building and sorting CSR ----------------------------------------------------------------

@st.composite
def ragged_tokens(draw):
    """(tokens int32, offsets int64, dimension), with repeats and some out-of-range tokens."""
    dimension = draw(st.sampled_from([1, 2, 5, 50, 1000]))
    lengths = draw(st.lists(st.integers(0, 15), max_size=12))
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low, high = draw(st.sampled_from([(0, dimension), (-3, dimension + 3)]))
    tokens = rng.integers(low, high, offsets[-1]).astype(np.int32)
    return tokens, offsets, dimension


@PROPERTY
@given(ragged_tokens())
def test_multi_hot_csr_matches_reference(p):
    indptr, indices = kernels.multi_hot_csr(*p)
    want_indptr, want_indices = kernels.multi_hot_csr_reference(*p)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    np.testing.assert_array_equal(indptr, want_indptr)
    np.testing.assert_array_equal(indices, want_indices)


@PROPERTY
@given(csr(sorted_rows=False), DTYPES)
def test_csr_sort_rows_matches_reference(p, dtype):
    indptr, indices, n_cols = p
    np.testing.assert_array_equal(kernels.csr_sort_rows(indptr, indices, n_cols),
                                  kernels.csr_sort_rows_reference(indptr, indices, n_cols))
    data = np.arange(indices.size).astype(dtype)  # distinct values reveal a stable order
    for got, want in zip(kernels.csr_sort_rows_data(indptr, indices, data, n_cols),
                         kernels.csr_sort_rows_data_reference(indptr, indices, data, n_cols)):
        np.testing.assert_array_equal(got, want)


# -- RMSprop ---------------------------------------------------------------------------------

@PROPERTY
@given(st.sampled_from([(1,), (7,), (5, 3), (40, 16)]), DTYPES,
       st.sampled_from([1e-3, 0.1]), st.sampled_from([0.9, 0.5]), st.sampled_from([1e-7, 1e-3]),
       st.integers(0, 2**32 - 1))
def test_rmsprop_update_matches_reference(shape, dtype, learning_rate, rho, epsilon, seed):
    rng = np.random.default_rng(seed)
    w, g = dense(rng, shape, dtype), dense(rng, shape, dtype)
    v = np.abs(dense(rng, shape, dtype))
    w_ref, v_ref = w.copy(), v.copy()
    for _ in range(3):  # a short trajectory, with the same gradient each step
        assert kernels.rmsprop_update(w, g, v, learning_rate, rho, epsilon) is None
        kernels.rmsprop_update_reference(w_ref, g, v_ref, learning_rate, rho, epsilon)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(v, v_ref, rtol=rtol)
    np.testing.assert_allclose(w, w_ref, rtol=rtol)
    assert w.dtype == dtype and v.dtype == dtype


def test_rmsprop_update_formula_keras():
    """One step by hand: epsilon inside the square root (Keras), not outside (PyTorch)."""
    w, g, v = np.array([1.0]), np.array([0.5]), np.array([0.2])
    kernels.rmsprop_update(w, g, v, 0.1, 0.9, 1e-2)
    v_expected = 0.9 * 0.2 + 0.1 * 0.25
    np.testing.assert_allclose(v, [v_expected], rtol=1e-15)
    np.testing.assert_allclose(w, [1.0 - 0.1 * 0.5 / np.sqrt(v_expected + 1e-2)], rtol=1e-15)


# -- Serial and parallel paths ---------------------------------------------------------------

@pytest.fixture
def parallel_always(monkeypatch):
    """Run every kernel on its parallel path, however small the call."""
    monkeypatch.setattr(kernels._common, "PARALLEL_MIN_WORK", 0)


@PROPERTY
@given(problem())
def test_parallel_paths_give_the_serial_bits(p):
    """Each output row is one thread's, summed in a fixed order: the thread count and the
    serial/parallel choice never change a bit."""
    calls = [(kernels.spmm_ones, (p["indptr"], p["indices"], p["W"], p["b"])),
             (kernels.spmm, (p["indptr"], p["indices"], p["data"], p["W"], p["b"])),
             (kernels.spmm_t_ones, (p["indptr"], p["indices"], p["delta"], p["n_cols"])),
             (kernels.spmm_t, (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])),
             (kernels.spmm_t_rows_ones, (p["indptr"], p["indices"], p["delta"], p["n_cols"])),
             (kernels.spmm_t_rows, (p["indptr"], p["indices"], p["data"], p["delta"],
                                    p["n_cols"]))]
    old = kernels._common.PARALLEL_MIN_WORK
    for fn, args in calls:
        serial = fn(*args)
        try:
            kernels._common.PARALLEL_MIN_WORK = 0
            parallel = with_threads(MAX_THREADS, fn, *args)
        finally:
            kernels._common.PARALLEL_MIN_WORK = old
        serial = serial if isinstance(serial, tuple) else (serial,)
        parallel = parallel if isinstance(parallel, tuple) else (parallel,)
        for a, b in zip(serial, parallel, strict=True):
            assert_bitwise_equal(a, b)


def test_large_calls_run_in_parallel_with_the_same_result(parallel_always):
    n_rows, n_features = (300, 4000) if JIT else (20, 300)
    indptr, indices = imdb_like(n_rows, n_features, 50)
    rng = np.random.default_rng(5)
    W, b = dense(rng, (n_features, 16), np.float32), dense(rng, 16, np.float32)
    delta = dense(rng, (n_rows, 16), np.float32)
    rows = rng.integers(0, n_rows, 64).astype(np.int64)
    for n in (1, MAX_THREADS):
        np.testing.assert_allclose(with_threads(n, kernels.spmm_ones, indptr, indices, W, b),
                                   kernels.spmm_ones_reference(indptr, indices, W, b),
                                   rtol=1e-5, atol=1e-5)
        got = with_threads(n, kernels.spmm_t_rows_ones, indptr, indices, delta, 10 * n_features)
        want = kernels.spmm_t_rows_ones_reference(indptr, indices, delta, 10 * n_features)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
        for g, w in zip(with_threads(n, kernels.gather_rows, indptr, indices, rows),
                        kernels.gather_rows_reference(indptr, indices, rows)):
            np.testing.assert_array_equal(g, w)


# -- Row-sparse weight gradient --------------------------------------------------------------

@PROPERTY
@given(problem())
def test_spmm_t_rows_match_reference_and_the_dense_rows(p):
    ones = (p["indptr"], p["indices"], p["delta"], p["n_cols"])
    valued = (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])
    for fn, ref, dense_fn, args in (
            (kernels.spmm_t_rows_ones, kernels.spmm_t_rows_ones_reference,
             kernels.spmm_t_ones, ones),
            (kernels.spmm_t_rows, kernels.spmm_t_rows_reference, kernels.spmm_t, valued)):
        rows, values = fn(*args)
        want_rows, want_values = ref(*args)
        assert rows.dtype == np.int32 and values.dtype == p["dtype"]
        np.testing.assert_array_equal(rows, want_rows)
        np.testing.assert_allclose(values, want_values, **tolerance(p["dtype"]))
        assert_bitwise_equal(values, dense_fn(*args)[rows])  # the same sums, in one order
        if p["n_cols"] > p["indices"].size:  # wide: exactly the distinct columns
            np.testing.assert_array_equal(rows, np.unique(p["indices"]))
        else:                                 # as many nonzeros as columns: every row
            np.testing.assert_array_equal(rows, np.arange(p["n_cols"]))


@PROPERTY
@given(problem(), st.sampled_from([1, 64, 200]))
def test_spmm_t_rows_made_in_small_chunks_give_the_same_bits(p, chunk_bytes):
    """`_spmm_t_ranked` makes the rows a chunk at a time; how many never changes a bit."""
    args = (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])
    want = kernels.spmm_t_rows(*args)
    old_chunk, old_work = kernels.backward._CHUNK_BYTES, kernels._common.PARALLEL_MIN_WORK
    try:
        kernels.backward._CHUNK_BYTES = chunk_bytes
        for work, threads in ((old_work, 1), (0, MAX_THREADS)):  # serial, then parallel
            kernels._common.PARALLEL_MIN_WORK = work
            for a, b in zip(want, with_threads(threads, kernels.spmm_t_rows, *args)):
                assert_bitwise_equal(a, b)
    finally:
        kernels.backward._CHUNK_BYTES = old_chunk
        kernels._common.PARALLEL_MIN_WORK = old_work


def test_distinct_columns_of_a_wide_batch():
    indices = np.array([5, 64, 2**20 - 1, 0, 5, 63], np.int32)
    rows, bits, below = kernels.backward._distinct_columns(indices, 2**20)
    assert rows.tolist() == [0, 5, 63, 64, 2**20 - 1]
    rank = np.empty(6, np.uint32)
    kernels.backward._column_ranks(indices, bits, below, rank, 0, 6)
    assert rank.tolist() == [1, 3, 4, 0, 1, 2]


def test_aligned_arrays_start_on_cache_lines():
    for shape, dtype in (((7, 16), np.float32), ((3,), np.float64), ((0, 16), np.float32)):
        a = kernels.zeros_aligned(shape, dtype)
        assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
        assert not a.any()
        if a.size:  # an empty array has no data to align
            assert a.ctypes.data % 64 == 0
            assert kernels.empty_aligned(shape, dtype).ctypes.data % 64 == 0


# -- Lazy RMSprop ----------------------------------------------------------------------------

@PROPERTY
@given(st.sampled_from([(1, 1), (6, 3), (40, 16), (33, 17)]), DTYPES,
       st.sampled_from([0.9, 0.5]), st.sampled_from([np.int32, np.int64]),
       st.integers(0, 2**32 - 1))
def test_rmsprop_update_rows_matches_reference(shape, dtype, rho, step_dtype, seed):
    rng = np.random.default_rng(seed)
    n_features, units = shape
    w = dense(rng, shape, dtype)
    v = np.abs(dense(rng, shape, dtype))
    # Rows skip 10 to 75 steps: rho ** k from the kernel's table (k < 64) and beyond it.
    v_step = rng.integers(0, 50, n_features).astype(step_dtype)
    w_ref, v_ref, step_ref = w.copy(), v.copy(), v_step.copy()
    for step in (60, 61, 75):
        rows = np.sort(rng.choice(n_features, rng.integers(1, n_features + 1),
                                  replace=False)).astype(np.int32)
        g = dense(rng, (rows.size, units), dtype)
        assert kernels.rmsprop_update_rows(w, v, v_step, rows, g, step, 1e-2, rho, 1e-7) is None
        kernels.rmsprop_update_rows_reference(w_ref, v_ref, step_ref, rows, g, step, 1e-2, rho,
                                              1e-7)
        np.testing.assert_array_equal(v_step, step_ref)
        assert np.all(v_step[rows] == step + 1)
    # rho ** k: repeated squaring in the kernel, np.power in the twin; last bits may differ.
    rtol, atol = (1e-6, 1e-7) if dtype == np.float32 else (1e-14, 1e-15)
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(w, w_ref, rtol=rtol, atol=atol)
    kernels.rmsprop_catch_up(v, v_step, 90, rho)
    kernels.rmsprop_catch_up_reference(v_ref, step_ref, 90, rho)
    np.testing.assert_allclose(v, v_ref, rtol=rtol, atol=atol)
    assert np.all(v_step == 90) and np.all(step_ref == 90)


@PROPERTY
@given(st.sampled_from([(1, 1), (50, 3), (3000, 16), (2500, 17)]), DTYPES,
       st.sampled_from([np.int32, np.int64]), st.integers(0, 2**32 - 1))
def test_parallel_rmsprop_update_rows_gives_the_serial_bits(shape, dtype, step_dtype, seed):
    """The parallel lazy step deals blocks of rows to the threads; the rows are distinct, so
    every row gets the serial step, bit for bit (several blocks: up to 3000 rows)."""
    rng = np.random.default_rng(seed)
    n_features, units = shape
    w, v = dense(rng, shape, dtype), np.abs(dense(rng, shape, dtype))
    v_step = rng.integers(0, 50, n_features).astype(step_dtype)
    parallel = [w.copy(), v.copy(), v_step.copy()]
    for step in (60, 61, 130):
        rows = np.sort(rng.choice(n_features, rng.integers(0, n_features + 1),
                                  replace=False)).astype(np.int32)
        g = dense(rng, (rows.size, units), dtype)
        kernels.rmsprop_update_rows(w, v, v_step, rows, g, step, 1e-2, 0.9, 1e-7)
        old = kernels._common.PARALLEL_MIN_WORK
        try:
            kernels._common.PARALLEL_MIN_WORK = 0
            with_threads(MAX_THREADS, kernels.rmsprop_update_rows, *parallel, rows, g, step,
                         1e-2, 0.9, 1e-7)
        finally:
            kernels._common.PARALLEL_MIN_WORK = old
        for a, b in zip((w, v, v_step), parallel, strict=True):
            assert_bitwise_equal(a, b)


def test_rmsprop_update_rows_decays_a_skipped_row_by_rho_to_the_k():
    w, v = np.zeros((2, 3), np.float32), np.full((2, 3), 0.5, np.float32)
    v_step = np.array([10, 10])
    g = np.ones((1, 3), np.float32)
    kernels.rmsprop_update_rows(w, v, v_step, np.array([1], np.int32), g, 14, 0.1, 0.5, 1e-7)
    # Row 1 missed steps 10..13: v = 0.5 * 0.5**4, then the step: v = 0.5 v + 0.5 g**2.
    np.testing.assert_allclose(v[1], 0.5 * (0.5 * 0.5**4) + 0.5, rtol=1e-7)
    np.testing.assert_allclose(w[1], -0.1 / np.sqrt(v[1] + 1e-7), rtol=1e-6)
    assert v_step.tolist() == [10, 15] and np.all(v[0] == 0.5) and np.all(w[0] == 0)


# -- Hashed n-grams --------------------------------------------------------------------------

@PROPERTY
@given(ragged_tokens(), st.sampled_from([(1, 1), (1, 2), (2, 3), (1, 4)]),
       st.sampled_from([1, 4, 2**10, 2**20]))
def test_hashed_ngrams_csr_matches_reference(p, ngram_range, n_features):
    tokens, offsets, _ = p
    tokens = np.abs(tokens).astype(np.int32)
    got = kernels.hashed_ngrams_csr(tokens, offsets, *ngram_range, n_features)
    want = kernels.hashed_ngrams_csr_reference(tokens, offsets, *ngram_range, n_features)
    assert got[0].dtype == np.int64 and got[1].dtype == np.int32
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
