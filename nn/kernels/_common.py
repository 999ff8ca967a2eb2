"""Shared constants of the kernels: thread choice and aligned allocation.

Design notes are in the package docstring (`nn.kernels`).
"""

import numba
import numpy as np

_u = np.uint64  # unsigned index: numba skips the negative-index wraparound (see above)
_BLOCK = 16     # units per vector block (two AVX2 registers of float32)
PARALLEL_MIN_WORK = 1 << 23  # inner steps (nonzeros x units) below which a call runs serially
_AHEAD = 16     # iterations between a prefetch and the use of what it fetches



def _threads_for(work):
    """Threads for a call with ``work`` inner steps: 1 below `PARALLEL_MIN_WORK`."""
    if work < PARALLEL_MIN_WORK:
        return 1
    return numba.get_num_threads()


def empty_aligned(shape, dtype, align=64):
    """An uninitialised C-contiguous array whose data starts on a ``align``-byte boundary.

    A 16-unit float32 row is 64 bytes: aligned, it is one cache line, where NumPy's default
    (16-byte) alignment splits most rows over two. Parameters and optimizer slots of a wide
    first layer are allocated this way; the kernels work on any alignment."""
    return _aligned(np.empty, shape, dtype, align)


def zeros_aligned(shape, dtype, align=64):
    """As `empty_aligned`, filled with zeros (by the allocator: pages never touched cost no
    memory, as with ``np.zeros``)."""
    return _aligned(np.zeros, shape, dtype, align)


def aligned_copy(a, dtype=None, align=64):
    """A C-contiguous copy of ``a`` (cast to ``dtype``) starting on an ``align``-byte
    boundary, as `empty_aligned`: for weights and slots that replace aligned ones
    (`set_weights`, a loaded model)."""
    a = np.asarray(a)
    out = empty_aligned(a.shape, a.dtype if dtype is None else dtype, align)
    out[...] = a
    return out


def _aligned(allocate, shape, dtype, align):
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = allocate(nbytes + align, np.uint8)
    start = -buffer.ctypes.data % align
    return buffer[start:start + nbytes].view(dtype).reshape(shape)
