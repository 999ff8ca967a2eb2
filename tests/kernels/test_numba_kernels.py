"""What only the numba backend has: threads, serial and parallel paths, chunking, and the
LLVM vector blocks.

Its contract (`nn.kernels.numba`): results are bitwise the same on every run and for any
thread count, and a call takes its parallel path only above `PARALLEL_MIN_WORK` inner steps.
Here every parallel path is forced (``PARALLEL_MIN_WORK = 0``) on small inputs and must give
the serial bits; the helpers that cut and rank the work are checked on their own.
"""

import contextlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

numba = pytest.importorskip("numba")

import nn.kernels.numba as numba_backend  # noqa: E402  (after the skip without numba)
import nn.kernels.numpy as numpy_backend  # noqa: E402
from nn.kernels.numba import _common, _vector, backward  # noqa: E402

PROPERTY = settings.get_profile("kernels")
JIT = not numba.config.DISABLE_JIT
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)


@contextlib.contextmanager
def parallel_always():
    """A block in which every kernel takes its parallel path, however small the call."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_common, "PARALLEL_MIN_WORK", 0)
        yield


def as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


def imdb_like(n_rows, n_features, row_nnz, seed=0):
    """Sorted distinct Zipf-distributed columns per row, as a multi-hot review matrix."""
    rng = np.random.default_rng(seed)
    p = 1.0 / (np.arange(n_features) + 5.0)
    tokens = rng.choice(n_features, size=n_rows * row_nnz, p=p / p.sum()).astype(np.int32)
    offsets = np.arange(0, n_rows * row_nnz + 1, row_nnz, dtype=np.int64)
    return numba_backend.multi_hot_csr(tokens, offsets, n_features)


def product_calls(p):
    """Every product of problem ``p``, multi-hot and valued: [(function, args)]."""
    calls = []
    for values in (None, p["data"]):
        calls += [(numba_backend.spmm, (p["indptr"], p["indices"], values, p["W"], p["b"])),
                  (numba_backend.spmm_t, (p["indptr"], p["indices"], values, p["delta"],
                                          p["n_cols"])),
                  (numba_backend.spmm_t_rows, (p["indptr"], p["indices"], values, p["delta"],
                                               p["n_cols"]))]
    return calls


# -- Threads and parallel paths -------------------------------------------------------------

@PROPERTY
@given(data=st.data())
def test_spmm_t_gives_the_same_bits_for_any_thread_count(csr_problems, with_threads,
                                                         assert_bitwise_equal, data):
    p = data.draw(csr_problems())
    for values in (None, p["data"]):
        args = (p["indptr"], p["indices"], values, p["delta"], p["n_cols"])
        first = with_threads(MAX_THREADS, numba_backend.spmm_t, *args)
        assert_bitwise_equal(first, with_threads(MAX_THREADS, numba_backend.spmm_t, *args))
        assert_bitwise_equal(first, with_threads(1, numba_backend.spmm_t, *args))


@PROPERTY
@given(data=st.data())
def test_parallel_paths_give_the_serial_bits(csr_problems, with_threads, assert_bitwise_equal,
                                             data):
    """Each output row is one thread's, summed in a fixed order: the thread count and the
    serial/parallel choice never change a bit."""
    p = data.draw(csr_problems())
    for fn, args in product_calls(p):
        serial = fn(*args)
        with parallel_always():
            parallel = with_threads(MAX_THREADS, fn, *args)
        for a, b in zip(as_tuple(serial), as_tuple(parallel), strict=True):
            assert_bitwise_equal(a, b)


def test_spmm_t_same_bits_where_threads_split_the_work(with_threads, assert_bitwise_equal):
    """A larger batch in which both threads own many nonzeros (and float32 rounding shows)."""
    n_rows, n_features = (256, 3000) if JIT else (24, 300)
    indptr, indices = imdb_like(n_rows, n_features, 60)
    rng = np.random.default_rng(1)
    delta = rng.standard_normal((n_rows, 16)).astype(np.float32)
    for values in (None, rng.standard_normal(indices.size).astype(np.float32)):
        args = (indptr, indices, values, delta, n_features)
        runs = [with_threads(n, numba_backend.spmm_t, *args)
                for n in (MAX_THREADS, MAX_THREADS, 1, MAX_THREADS)]
        for run in runs[1:]:
            assert_bitwise_equal(runs[0], run)


def fake_proc(tmp_path, loadavg, own_states):
    """A /proc/loadavg with ``loadavg`` and a /proc/self/task whose threads are in
    ``own_states`` ("R" running, "S" sleeping)."""
    (tmp_path / "loadavg").write_bytes(loadavg)
    for tid, state in enumerate(own_states, start=100):
        (tmp_path / "task" / str(tid)).mkdir(parents=True)
        (tmp_path / "task" / str(tid) / "stat").write_text(
            f"{tid} (python3 (x)) {state} 1 {tid} 1 0 -1 4194560 5 0 0 0 7 1 0 0 20 0 3 0\n")
    return {"LOADAVG": str(tmp_path / "loadavg"), "TASKS": str(tmp_path / "task")}


@pytest.mark.parametrize("loadavg, own, others", [
    (b"0.50 0.40 0.30 1/120 4242\n", "RS", 0),      # the caller alone
    (b"2.00 1.10 0.90 2/130 4243\n", "RS", 1),      # one thread of another process
    (b"2.00 1.10 0.90 2/130 4243\n", "RRS", 0),     # our OpenMP worker still spinning
    (b"9.00 9.00 9.00 64/300 4244\n", "RSS", 63)])
def test_free_cpus_leave_out_those_other_processes_run_on(tmp_path, monkeypatch, loadavg, own,
                                                           others):
    cpus = len(os.sched_getaffinity(0))
    for name, path in fake_proc(tmp_path, loadavg, own).items():
        monkeypatch.setattr(_common, name, path)
    assert _common._free_cpus() == max(1, cpus - others)


@pytest.mark.parametrize("text", [None, b"", b"not a loadavg line"])
def test_free_cpus_are_all_cpus_where_the_load_cannot_be_read(tmp_path, monkeypatch, text):
    path = tmp_path / "loadavg"
    if text is not None:
        path.write_bytes(text)
    monkeypatch.setattr(_common, "LOADAVG", str(path))
    monkeypatch.setattr(_common, "TASKS", str(tmp_path / "no such folder"))
    assert _common._free_cpus() == len(os.sched_getaffinity(0))


def test_rows_of_a_table_beyond_the_caches_count_for_more_work(monkeypatch):
    table = np.empty((1000, 16), np.float32)  # 64,000 bytes
    monkeypatch.setattr(_common, "CACHED_BYTES", table.nbytes)
    assert _common._memory_work(table, 10) == 10 * 16
    monkeypatch.setattr(_common, "CACHED_BYTES", table.nbytes - 1)
    assert _common._memory_work(table, 10) == 10 * 16 * _common.MEMORY_ROW_WEIGHT


def test_large_calls_take_only_the_free_cpus(monkeypatch):
    big = _common.PARALLEL_MIN_WORK
    monkeypatch.setattr(_common, "_free_cpus", lambda: 1)  # another process holds the rest
    assert _common._threads_for(big) == 1
    monkeypatch.setattr(_common, "_free_cpus", lambda: 1000)
    assert _common._threads_for(big) == numba.get_num_threads()
    assert _common._threads_for(big - 1) == 1


def test_large_calls_run_in_parallel_and_agree_with_the_numpy_backend(monkeypatch,
                                                                      with_threads):
    monkeypatch.setattr(_common, "PARALLEL_MIN_WORK", 0)
    n_rows, n_features = (300, 4000) if JIT else (20, 300)
    indptr, indices = imdb_like(n_rows, n_features, 50)
    rng = np.random.default_rng(5)
    W = rng.standard_normal((n_features, 16)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    delta = rng.standard_normal((n_rows, 16)).astype(np.float32)
    rows = rng.integers(0, n_rows, 64).astype(np.int64)
    for n in (1, MAX_THREADS):
        args = (indptr, indices, None, W, b)
        np.testing.assert_allclose(with_threads(n, numba_backend.spmm, *args),
                                   numpy_backend.spmm(*args), rtol=1e-5, atol=1e-5)
        args = (indptr, indices, None, delta, 10 * n_features)
        got = with_threads(n, numba_backend.spmm_t_rows, *args)
        want = numpy_backend.spmm_t_rows(*args)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
        args = (indptr, indices, None, rows)
        for g, w in zip(with_threads(n, numba_backend.gather_rows, *args)[:2],
                        numpy_backend.gather_rows(*args)[:2]):
            np.testing.assert_array_equal(g, w)


@PROPERTY
@given(data=st.data())
def test_csr_renumber_columns_same_bits_for_any_thread_count(csr_matrices, with_threads,
                                                            data):
    indptr, indices, n_cols = data.draw(csr_matrices())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    columns = rng.permutation(n_cols).astype(np.int32)
    columns[rng.random(n_cols) < 0.3] = -1
    values = np.arange(indices.size, dtype=np.float32)
    args = (indptr, indices, values, columns)
    one = with_threads(1, numba_backend.csr_renumber_columns, *args)
    for a, b in zip(with_threads(MAX_THREADS, numba_backend.csr_renumber_columns, *args), one,
                    strict=True):
        assert a.tobytes() == b.tobytes()


def test_hashed_ngrams_same_result_for_any_thread_count(with_threads):
    rng = np.random.default_rng(2)
    lengths = rng.integers(0, 300, 200)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = rng.integers(0, 5000, offsets[-1]).astype(np.int32)
    args = (tokens, offsets, 1, 3, 2**16)
    one = with_threads(1, numba_backend.hashed_ngrams_csr, *args)
    two = with_threads(MAX_THREADS, numba_backend.hashed_ngrams_csr, *args)
    for a, b in zip(one, two, strict=True):
        assert a.tobytes() == b.tobytes()


# -- How the backward products cut and rank the work ----------------------------------------

@pytest.mark.parametrize("n_parts", [1, 2, 3, 7])
def test_feature_cuts_partition_the_features(n_parts):
    indptr, indices = imdb_like(50, 1000, 40)
    cuts = backward._feature_cuts(indices, 1000, n_parts)
    assert cuts[0] == 0 and cuts[-1] == 1000 and np.all(np.diff(cuts) >= 0)
    assert cuts.size == n_parts + 1
    if n_parts == 2:  # Zipf: the nonzeros' median column is far below the middle feature
        below = np.count_nonzero(indices < cuts[1]) / indices.size
        assert 0.35 < below < 0.65 and cuts[1] < 500


@PROPERTY
@given(data=st.data(), chunk_bytes=st.sampled_from([1, 64, 200]))
def test_spmm_t_rows_made_in_small_chunks_give_the_same_bits(csr_problems, with_threads,
                                                             assert_bitwise_equal, data,
                                                             chunk_bytes):
    """`_spmm_t_ranked` makes the rows a chunk at a time; how many never changes a bit."""
    p = data.draw(csr_problems())
    args = (p["indptr"], p["indices"], p["data"], p["delta"], p["n_cols"])
    want = numba_backend.spmm_t_rows(*args)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backward, "_CHUNK_BYTES", chunk_bytes)
        for a, b in zip(want, numba_backend.spmm_t_rows(*args), strict=True):  # serial
            assert_bitwise_equal(a, b)
        with parallel_always():
            for a, b in zip(want, with_threads(MAX_THREADS, numba_backend.spmm_t_rows, *args),
                            strict=True):
                assert_bitwise_equal(a, b)


def test_distinct_columns_of_a_wide_batch():
    indices = np.array([5, 64, 2**20 - 1, 0, 5, 63], np.int32)
    rows, bits, below = backward._distinct_columns(indices, 2**20)
    assert rows.tolist() == [0, 5, 63, 64, 2**20 - 1]
    rank = np.empty(6, np.uint32)
    backward._column_ranks(indices, bits, below, rank, 0, 6)
    assert rank.tolist() == [1, 3, 4, 0, 1, 2]


# -- RMSprop steps --------------------------------------------------------------------------

def lazy_steps(rng, shape, dtype, step_dtype, steps, min_rows=0):
    """A lazy RMSprop state (w, v, v_step) and ``steps`` batches of distinct increasing rows
    with their gradients: [(rows, g_rows, step)]."""
    n_features, units = shape
    w = rng.standard_normal(shape).astype(dtype)
    v = np.abs(rng.standard_normal(shape)).astype(dtype)
    v_step = rng.integers(0, 50, n_features).astype(step_dtype)
    batches = []
    for step in steps:
        rows = np.sort(rng.choice(n_features, rng.integers(min_rows, n_features + 1),
                                  replace=False)).astype(np.int32)
        batches.append((rows, rng.standard_normal((rows.size, units)).astype(dtype), step))
    return (w, v, v_step), batches


@PROPERTY
@given(st.sampled_from([(1, 1), (50, 3), (3000, 16), (2500, 17)]),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([np.int32, np.int64]),
       st.integers(0, 2**32 - 1))
def test_parallel_rmsprop_update_rows_gives_the_serial_bits(with_threads, assert_bitwise_equal,
                                                            shape, dtype, step_dtype, seed):
    """The parallel lazy step deals blocks of rows to the threads; the rows are distinct, so
    every row gets the serial step, bit for bit (several blocks: up to 3000 rows)."""
    state, batches = lazy_steps(np.random.default_rng(seed), shape, dtype, step_dtype,
                                (60, 61, 130))
    parallel = [a.copy() for a in state]
    for rows, g, step in batches:
        assert numba_backend.fused.rmsprop_update_rows(*state, rows, g, step, 1e-2, 0.9,
                                                       1e-7) is None  # in place
        with parallel_always():
            with_threads(MAX_THREADS, numba_backend.fused.rmsprop_update_rows, *parallel,
                         rows, g, step, 1e-2, 0.9, 1e-7)
        for a, b in zip(state, parallel, strict=True):
            assert_bitwise_equal(a, b)


@PROPERTY
@given(st.sampled_from([(1, 1), (6, 3), (40, 16), (33, 17)]),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_rmsprop_update_rows_takes_int32_and_int64_step_counts_alike(assert_bitwise_equal,
                                                                     shape, dtype, seed):
    """`RMSprop` keeps ``velocity_step`` in int32 and widens it to int64 past 2**31 - 2
    steps; the kernel gives the same bits for both (rows skip up to 75 steps: rho ** k from
    its table, k < 64, and beyond it)."""
    (w, v, v_step), batches = lazy_steps(np.random.default_rng(seed), shape, dtype, np.int32,
                                         (60, 61, 75), min_rows=1)
    wide = [w.copy(), v.copy(), v_step.astype(np.int64)]
    for rows, g, step in batches:
        numba_backend.fused.rmsprop_update_rows(w, v, v_step, rows, g, step, 1e-2, 0.9, 1e-7)
        numba_backend.fused.rmsprop_update_rows(*wide, rows, g, step, 1e-2, 0.9, 1e-7)
        assert np.all(v_step[rows] == step + 1)
    numba_backend.fused.rmsprop_catch_up(v, v_step, 90, 0.9)
    numba_backend.fused.rmsprop_catch_up(wide[1], wide[2], 90, 0.9)
    assert v_step.dtype == np.int32 and wide[2].dtype == np.int64
    assert np.all(v_step == 90) and np.array_equal(v_step, wide[2])
    assert_bitwise_equal(w, wide[0])
    assert_bitwise_equal(v, wide[1])


def test_parallel_dense_rmsprop_step_gives_the_serial_bits(with_threads, assert_bitwise_equal):
    rng = np.random.default_rng(3)
    w, g, v = (rng.standard_normal((300, 17)).astype(np.float32) for _ in range(3))
    v = np.abs(v)
    parallel = [w.copy(), g, v.copy()]
    assert numba_backend.fused.rmsprop_update(w, g, v, 1e-2, 0.9, 1e-7) is None  # in place
    with parallel_always():
        with_threads(MAX_THREADS, numba_backend.fused.rmsprop_update, *parallel, 1e-2, 0.9,
                     1e-7)
    assert_bitwise_equal(w, parallel[0])
    assert_bitwise_equal(v, parallel[2])


# -- The LLVM vector blocks -----------------------------------------------------------------

@numba.njit
def vector_sums(z, w, offsets, x):
    """z[0:16] += 4 rows of w; z[16:32] += 1 row; z[32:48] += 4 rows times x; z[48:64] += 1
    row times x[0] (rows at ``offsets``, uint64 like the kernels')."""
    o0, o1, o2, o3 = offsets[0], offsets[1], offsets[2], offsets[3]
    _vector._add4(z, np.uint64(0), w, o0, o1, o2, o3)
    _vector._add1(z, np.uint64(16), w, o0)
    _vector._axpy4(z, np.uint64(32), w, o0, o1, o2, o3, x[0], x[1], x[2], x[3])
    _vector._axpy1(z, np.uint64(48), w, o0, x[0])
    _vector._prefetch(w, o1)  # a hint: changes nothing


@numba.njit
def vector_rmsprop(w, g, v, f, consts):
    """The RMSprop step on elements 0:16, and the decayed one on 16:32."""
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    _vector._rmsprop16(w, np.uint64(0), g, np.uint64(0), v, np.uint64(0), lr, r, one_minus_r,
                       eps)
    _vector._rmsprop16_decayed(w, np.uint64(16), g, np.uint64(16), v, np.uint64(16), f, lr, r,
                               one_minus_r, eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vector_blocks_compute_the_numpy_expressions_bit_for_bit(dtype):
    """Each block adds its terms pairwise, ``(a + b) + (c + d)``, in the dtype, as NumPy does
    lane by lane; the RMSprop blocks use IEEE sqrt and division, so they round alike."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(100).astype(dtype)
    x = rng.standard_normal(4).astype(dtype)
    offsets = np.array([3, 40, 17, 84], np.uint64)
    z = rng.standard_normal(64).astype(dtype)
    want = z.copy()
    r = [w[o:o + 16] for o in offsets.astype(np.int64)]
    want[0:16] += (r[0] + r[1]) + (r[2] + r[3])
    want[16:32] += r[0]
    want[32:48] += (x[0] * r[0] + x[1] * r[1]) + (x[2] * r[2] + x[3] * r[3])
    want[48:64] += x[0] * r[0]
    vector_sums(z, w, offsets, x)
    assert z.tobytes() == want.tobytes()

    consts = np.array([1e-2, 0.9, 1 - 0.9, 1e-7], dtype)
    lr, rho, one_minus_rho, eps = consts
    f = dtype(0.9**5)
    w, g = rng.standard_normal((2, 32)).astype(dtype)
    v = np.abs(rng.standard_normal(32)).astype(dtype)
    want_w, want_v = w.copy(), v.copy()
    want_v[16:] *= f
    want_v[:] = rho * want_v + one_minus_rho * (g * g)
    want_w -= (lr * g) / np.sqrt(want_v + eps)
    vector_rmsprop(w, g, v, f, consts)
    assert v.tobytes() == want_v.tobytes() and w.tobytes() == want_w.tobytes()
