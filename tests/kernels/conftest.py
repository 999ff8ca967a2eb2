"""Shared by the backend tests: hypothesis strategies that draw CSR matrices and ragged token
sequences (after lenskit/csr's), float tolerances, the check that the two backends agree, and
the ``"kernels"`` hypothesis profile.

Each test of a primitive takes the `backend` fixture (tests/conftest.py) and checks that
backend against an independent oracle (a dense NumPy product, ``np.unique``, a Python loop),
then `assert_backends_agree` checks it against the other backend on the same input.

Strategies are fixtures returning the strategy function (tests draw with ``st.data()``), so
that no test module imports another. ``NN_KERNEL_TEST_EXAMPLES`` sets the number of examples
per property (default 60; 15 with ``NUMBA_DISABLE_JIT=1``, where test_nojit.py runs this
folder again on the numba kernels' Python source).
"""

import importlib
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")
settings.register_profile(
    "kernels", deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
    max_examples=int(os.environ.get("NN_KERNEL_TEST_EXAMPLES", 15 if NO_JIT else 60)))

DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def csr(draw, max_rows=12, max_cols=40, max_row_nnz=10, sorted_rows=True):
    """(indptr int64, indices int32, n_cols) with rows sorted by column (or not) and possibly
    duplicate columns within a row; zero rows, empty rows, one column, wide and narrow."""
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


def _normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@st.composite
def csr_problem(draw, **csr_options):
    """A CSR matrix with a weight matrix, bias, values and delta of a drawn dtype and width
    (widths around the 16-float vector block): a dict with indptr, indices, n_cols, dtype,
    W (n_cols, units), b (units,), data (nnz,) and delta (n_rows, units)."""
    indptr, indices, n_cols = draw(csr(**csr_options))
    dtype = draw(DTYPES)
    units = draw(st.sampled_from([1, 3, 16, 17, 40]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {"indptr": indptr, "indices": indices, "n_cols": n_cols, "dtype": dtype,
            "W": _normal(rng, (n_cols, units), dtype), "b": _normal(rng, units, dtype),
            "data": _normal(rng, indices.size, dtype),
            "delta": _normal(rng, (indptr.size - 1, units), dtype)}


@st.composite
def ragged_tokens(draw):
    """(tokens int32, offsets int64, dimension), with repeats and, half the time, tokens
    outside [0, dimension) (negative ones too)."""
    dimension = draw(st.sampled_from([1, 2, 5, 50, 1000]))
    lengths = draw(st.lists(st.integers(0, 15), max_size=12))
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low, high = draw(st.sampled_from([(0, dimension), (-3, dimension + 3)]))
    tokens = rng.integers(low, high, offsets[-1]).astype(np.int32)
    return tokens, offsets, dimension


@pytest.fixture(scope="session")
def csr_matrices():
    """The strategy `csr(max_rows=12, max_cols=40, max_row_nnz=10, sorted_rows=True)`."""
    return csr


@pytest.fixture(scope="session")
def csr_problems():
    """The strategy `csr_problem(**csr_options)`."""
    return csr_problem


@pytest.fixture(scope="session")
def token_sequences():
    """The strategy `ragged_tokens()`."""
    return ragged_tokens


@pytest.fixture(scope="session")
def float_dtypes():
    """The strategy drawing float32 or float64."""
    return DTYPES


@pytest.fixture(scope="session")
def tolerance():
    """``tolerance(dtype) -> {"rtol", "atol"}`` for sums of a few terms taken in another
    order (or in float64): 1e-5 for float32, 1e-12 for float64."""
    def for_dtype(dtype):
        if np.dtype(dtype) == np.float32:
            return {"rtol": 1e-5, "atol": 1e-5}
        return {"rtol": 1e-12, "atol": 1e-12}
    return for_dtype


@pytest.fixture(scope="session")
def assert_bitwise_equal():
    """``assert_bitwise_equal(a, b)``: same dtype, shape and bytes."""
    def check(a, b):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    return check


@pytest.fixture(scope="session")
def assert_backends_agree(backend, tolerance):
    """``assert_backends_agree(name, args, got)``: ``got``, what `backend`'s function ``name``
    returned for ``args``, equals what the other backend's returns: the same dtypes, shapes
    and None-ness, integers exactly, floats to `tolerance`. Does nothing where numba (so the
    other backend) is missing."""
    other_name = "numba" if backend.__name__.endswith("numpy") else "numpy"
    try:
        other = importlib.import_module(f"nn.kernels.{other_name}")
    except ImportError:
        other = None

    def check(name, args, got):
        if other is None:
            return
        want = getattr(other, name)(*args)
        got, want = (v if isinstance(v, tuple) else (v,) for v in (got, want))
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            if g is None or w is None:
                assert g is None and w is None, name
            elif np.issubdtype(np.asarray(g).dtype, np.floating):
                assert g.dtype == w.dtype and g.shape == w.shape, name
                np.testing.assert_allclose(g, w, err_msg=name, **tolerance(g.dtype))
            elif isinstance(g, np.ndarray):  # integers, exactly
                assert g.dtype == w.dtype and g.shape == w.shape, name
                np.testing.assert_array_equal(g, w, err_msg=name)
            else:  # a hash: a Python int from one backend, a NumPy uint64 from the other
                assert int(g) == int(w), name
    return check
