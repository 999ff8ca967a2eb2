"""Property tests of `nn.kernels.columns`: renumbering the columns of a CSR matrix equals its
NumPy twin, for permutations and for maps that drop columns, with and without values.

Drawn maps: a permutation of the columns, a permutation with some columns dropped (-1), and
everything dropped; matrices with empty rows, duplicate columns (which must keep their order
and values) and widths past one radix byte. tests/test_kernels_nojit.py runs this file again
with ``NUMBA_DISABLE_JIT=1``.
"""

import os

import numba
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn.kernels import columns as ck
from helpers import with_threads

JIT = not numba.config.DISABLE_JIT
EXAMPLES = int(os.environ.get("NN_KERNEL_TEST_EXAMPLES", 60 if JIT else 15))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
MAX_THREADS = min(2, numba.config.NUMBA_NUM_THREADS)


@st.composite
def renumbering(draw):
    """(indptr int64, indices int32 with rows sorted, columns int32 (n_cols,))."""
    n_rows = draw(st.integers(0, 12))
    n_cols = draw(st.sampled_from([1, 2, 3, 40, 300, 70000]))  # 1 to 3 radix bytes
    lengths = draw(st.lists(st.integers(0, 12), min_size=n_rows, max_size=n_rows))
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(lengths, out=indptr[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    high = min(n_cols, 3) if draw(st.booleans()) else n_cols  # few columns: duplicates
    indices = rng.integers(0, high, indptr[-1])
    rows = np.repeat(np.arange(n_rows), lengths)
    indices = indices[np.lexsort((indices, rows))].astype(np.int32)
    drop = draw(st.sampled_from([0.0, 0.3, 1.0]))
    kept = rng.random(n_cols) >= drop
    columns = np.full(n_cols, -1, np.int32)
    columns[kept] = rng.permutation(int(kept.sum()))
    return indptr, indices, columns


def assert_same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


@PROPERTY
@given(renumbering())
def test_csr_renumber_columns_matches_reference(p):
    indptr, indices, columns = p
    got = ck.csr_renumber_columns(indptr, indices, columns)
    assert got[0].dtype == np.int64 and got[1].dtype == np.int32
    assert_same(got, ck.csr_renumber_columns_reference(indptr, indices, columns))


@PROPERTY
@given(renumbering(), st.sampled_from([np.float32, np.float64]))
def test_csr_renumber_columns_data_matches_reference(p, dtype):
    indptr, indices, columns = p
    data = np.arange(indices.size).astype(dtype)  # distinct values reveal a stable order
    got = ck.csr_renumber_columns_data(indptr, indices, data, columns)
    assert got[2].dtype == dtype
    assert_same(got, ck.csr_renumber_columns_data_reference(indptr, indices, data, columns))


@PROPERTY
@given(renumbering())
def test_rows_come_out_sorted_and_hold_the_renamed_columns(p):
    indptr, indices, columns = p
    out_indptr, out_indices = ck.csr_renumber_columns(indptr, indices, columns)
    for i in range(indptr.size - 1):
        row = out_indices[out_indptr[i]:out_indptr[i + 1]]
        assert np.all(np.diff(row) >= 0)
        new = columns[indices[indptr[i]:indptr[i + 1]]]
        np.testing.assert_array_equal(row, np.sort(new[new >= 0]))


@PROPERTY
@given(renumbering())
def test_same_bits_for_any_thread_count(p):
    indptr, indices, columns = p
    data = np.arange(indices.size, dtype=np.float32)
    one = with_threads(1, ck.csr_renumber_columns_data, indptr, indices, data, columns)
    assert_same(with_threads(MAX_THREADS, ck.csr_renumber_columns_data, indptr, indices, data,
                             columns), one)


def test_wide_rows_need_every_radix_byte():
    """Columns near 2**31 - 1 take four byte passes; an odd count ends in the scratch."""
    indptr = np.array([0, 5], np.int64)
    indices = np.arange(5, dtype=np.int32)
    for top in (255, 2**16 - 1, 2**24 - 1, 2**31 - 1):  # 1, 2, 3, 4 passes
        columns = np.array([top, 7, 0, top - 1, 300 % top], np.int32)
        want = ck.csr_renumber_columns_reference(indptr, indices, columns)
        assert_same(ck.csr_renumber_columns(indptr, indices, columns), want)
