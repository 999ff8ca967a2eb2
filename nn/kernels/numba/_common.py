"""Constants the numba kernels share, the choice of thread count and of the loops for a width.

Why these values: docs/performance.md, "The numba kernels" ("Vector blocks", "Prefetching",
"Threads").
"""

import numba
import numpy as np

_unsigned = np.uint64  # index type: numba skips the negative-index wraparound of signed ints
SIMD_WIDTH = 16        # floats per LLVM vector block (`_vector`): one 16-unit float32 row
PARALLEL_MIN_WORK = 1 << 23  # inner steps (nonzeros x units) below which a call runs serially
PREFETCH_DISTANCE = 16  # iterations between a prefetch and the use of what it fetches


def _threads_for(work):
    """Threads for a call with ``work`` inner steps: 1 below `PARALLEL_MIN_WORK`, else all of
    numba's threads."""
    if work < PARALLEL_MIN_WORK:
        return 1
    return numba.get_num_threads()


def _width(a):
    """None when the last axis of ``a`` (``W`` or ``delta``) is 16 units, else its length: the
    last argument of the kernels that have a loop for 16 units and one for any width. A None
    argument prunes the branch it guards when numba compiles, so a call compiles one loop."""
    return None if a.shape[1] == SIMD_WIDTH else a.shape[1]
