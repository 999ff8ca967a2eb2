"""Building and rearranging CSR matrices on both backends: ``gather_rows``, ``multi_hot_csr``,
``csr_sort_rows`` and ``csr_renumber_columns``, each against a row-by-row Python oracle and
against the other backend, exactly.

Values, where there are any, are distinct (0, 1, 2, ...), so they reveal the order in which
duplicate columns come out: every sort here is stable.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTY = settings.get_profile("kernels")


def row_slices(indptr):
    return [slice(indptr[i], indptr[i + 1]) for i in range(indptr.size - 1)]


def assert_csr_rows(indptr, indices, data, want_rows):
    """(indptr, indices, data) hold ``want_rows``, a list of (columns, values or None)."""
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    np.testing.assert_array_equal(np.diff(indptr), [len(cols) for cols, _ in want_rows])
    assert indptr[0] == 0 and indptr[-1] == indices.size
    for s, (cols, values) in zip(row_slices(indptr), want_rows):
        np.testing.assert_array_equal(indices[s], cols)
        if values is None:
            assert data is None
        else:
            np.testing.assert_array_equal(data[s], values)


@PROPERTY
@given(data=st.data())
def test_gather_rows_takes_the_rows_in_order(backend, csr_matrices, float_dtypes,
                                             assert_backends_agree, data):
    indptr, indices, _ = data.draw(csr_matrices())
    n_rows = indptr.size - 1
    rows = np.array(data.draw(st.lists(st.integers(0, n_rows - 1), max_size=20))
                    if n_rows else [], np.int64)
    values = np.arange(indices.size).astype(data.draw(float_dtypes))
    slices = row_slices(indptr)
    for vals in (None, values):
        args = (indptr, indices, vals, rows)
        got = backend.gather_rows(*args)
        want = [(indices[slices[r]], None if vals is None else vals[slices[r]]) for r in rows]
        assert_csr_rows(*got, want)
        if vals is not None:
            assert got[2].dtype == vals.dtype
        assert_backends_agree("gather_rows", args, got)


@PROPERTY
@given(data=st.data())
def test_multi_hot_csr_holds_each_rows_distinct_tokens_in_range(backend, token_sequences,
                                                                 assert_backends_agree, data):
    tokens, offsets, dimension = args = data.draw(token_sequences())
    indptr, indices = backend.multi_hot_csr(*args)
    want = []
    for s in row_slices(offsets):
        row = tokens[s]
        want.append((np.unique(row[(row >= 0) & (row < dimension)]), None))
    assert_csr_rows(indptr, indices, None, want)
    assert_backends_agree("multi_hot_csr", args, (indptr, indices))


@PROPERTY
@given(data=st.data())
def test_csr_sort_rows_sorts_each_row_stably(backend, csr_matrices, float_dtypes,
                                             assert_backends_agree, data):
    indptr, indices, n_cols = data.draw(csr_matrices(sorted_rows=False))
    values = np.arange(indices.size).astype(data.draw(float_dtypes))
    for vals in (None, values):
        args = (indptr, indices, vals, n_cols)
        got_indices, got_values = backend.csr_sort_rows(*args)
        want = []
        for s in row_slices(indptr):
            order = np.argsort(indices[s], kind="stable")
            want.append((indices[s][order], None if vals is None else vals[s][order]))
        assert_csr_rows(indptr, got_indices, got_values, want)
        assert_backends_agree("csr_sort_rows", args, (got_indices, got_values))


@st.composite
def renumbering(draw):
    """(indptr int64, indices int32 with rows sorted, columns int32 (n_cols,)): a permutation
    of the columns, one with some columns dropped (-1), or every column dropped; widths of 1
    to 3 radix bytes, empty rows, duplicate columns."""
    n_rows = draw(st.integers(0, 12))
    n_cols = draw(st.sampled_from([1, 2, 3, 40, 300, 70000]))
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


def renumbered_rows(indptr, indices, values, columns):
    """Each row's kept new columns, sorted stably, with their values (or None)."""
    want = []
    for s in row_slices(indptr):
        new = columns[indices[s]]
        keep = new >= 0
        order = np.argsort(new[keep], kind="stable")
        want.append((new[keep][order], None if values is None else values[s][keep][order]))
    return want


@PROPERTY
@given(renumbering(), st.sampled_from([None, np.float32, np.float64]))
def test_csr_renumber_columns_renames_drops_and_sorts_again(backend, assert_backends_agree,
                                                            p, dtype):
    indptr, indices, columns = p
    values = None if dtype is None else np.arange(indices.size).astype(dtype)
    args = (indptr, indices, values, columns)
    got = backend.csr_renumber_columns(*args)
    assert_csr_rows(*got, renumbered_rows(indptr, indices, values, columns))
    if dtype is not None:
        assert got[2].dtype == dtype
    assert_backends_agree("csr_renumber_columns", args, got)


@pytest.mark.parametrize("top", [255, 2**16 - 1, 2**24 - 1, 2**31 - 1])  # 1 to 4 radix bytes
def test_renumbering_to_wide_columns_needs_every_radix_byte(backend, top):
    """Columns near 2**31 - 1 take four byte passes of the numba backend's radix sort; an odd
    count of passes ends in the scratch."""
    indptr = np.array([0, 5], np.int64)
    indices = np.arange(5, dtype=np.int32)
    columns = np.array([top, 7, 0, top - 1, 300 % top], np.int32)
    values = np.arange(5, dtype=np.float32)
    got = backend.csr_renumber_columns(indptr, indices, values, columns)
    assert_csr_rows(*got, renumbered_rows(indptr, indices, values, columns))
