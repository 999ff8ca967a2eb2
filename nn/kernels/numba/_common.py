"""Constants the numba kernels share, and the choice of thread count.

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
