"""Aligned allocation: arrays whose data starts on a cache-line boundary.

A 16-unit float32 row is 64 bytes. Aligned, it is one cache line; with NumPy's default 16-byte
alignment most rows straddle two. Layers allocate their kernels here and optimizers their 2-D
slots, so a sparse batch that reads and writes whole rows touches one line per row. Nothing
here depends on the backend: every kernel also works on unaligned arrays.
"""

import math

import numpy as np

CACHE_LINE = 64  # bytes


def empty_aligned(shape, dtype, align=CACHE_LINE):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype`` whose data starts on an
    ``align``-byte boundary."""
    return _aligned(np.empty, shape, dtype, align)


def zeros_aligned(shape, dtype, align=CACHE_LINE):
    """As `empty_aligned`, filled with zeros by the allocator: pages never touched cost no
    memory, as with ``np.zeros``."""
    return _aligned(np.zeros, shape, dtype, align)


def aligned_copy(a, dtype=None, align=CACHE_LINE):
    """A C-contiguous copy of ``a`` (cast to ``dtype`` if given) on an ``align``-byte
    boundary: for weights and slots that replace aligned ones (`set_weights`, a loaded
    model)."""
    a = np.asarray(a)
    out = empty_aligned(a.shape, a.dtype if dtype is None else dtype, align)
    out[...] = a
    return out


def _aligned(allocate, shape, dtype, align):
    # Called for every sparse batch's weight gradient: plain-Python arithmetic and the
    # array interface, not np.prod and .ctypes (microseconds each).
    try:
        shape = tuple(shape)
    except TypeError:  # one number
        shape = (shape,)
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    buffer = allocate(nbytes + align, np.uint8)
    start = -buffer.__array_interface__["data"][0] % align
    return buffer[start:start + nbytes].view(dtype).reshape(shape)
