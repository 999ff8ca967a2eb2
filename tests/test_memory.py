"""`nn.memory`: arrays whose data starts on a cache-line boundary."""

import numpy as np
import pytest

from nn.memory import CACHE_LINE, aligned_copy, empty_aligned, zeros_aligned


@pytest.mark.parametrize("shape, dtype", [((7, 16), np.float32), ((3,), np.float64),
                                          ((0, 16), np.float32), (5, np.int32)])
def test_aligned_arrays_start_on_cache_lines(shape, dtype):
    want_shape = (shape,) if np.ndim(shape) == 0 else shape
    for a in (zeros_aligned(shape, dtype), empty_aligned(shape, dtype)):
        assert a.shape == want_shape and a.dtype == dtype and a.flags.c_contiguous
        if a.size:  # an empty array has no data to align
            assert a.ctypes.data % CACHE_LINE == 0
    assert not zeros_aligned(shape, dtype).any()


def test_aligned_copy_is_an_aligned_contiguous_copy():
    a = np.arange(48, dtype=np.float64).reshape(6, 8)[:, ::2]  # not contiguous
    for dtype in (None, np.float32):
        b = aligned_copy(a, dtype)
        assert b.ctypes.data % CACHE_LINE == 0 and b.flags.c_contiguous
        assert b.dtype == (a.dtype if dtype is None else dtype)
        np.testing.assert_array_equal(b, a)
        assert not np.shares_memory(a, b)
