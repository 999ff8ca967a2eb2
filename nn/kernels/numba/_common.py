"""Constants the numba kernels share, the choice of thread count and of the loops for a width.

Why these values: docs/performance.md, "The numba kernels" ("Vector blocks", "Prefetching",
"Threads").
"""

import os

import numba
import numpy as np

_unsigned = np.uint64  # index type: numba skips the negative-index wraparound of signed ints
SIMD_WIDTH = 16        # floats per LLVM vector block (`_vector`): one 16-unit float32 row
PARALLEL_MIN_WORK = 1 << 23  # inner steps (nonzeros x units) below which a call runs serially
PREFETCH_DISTANCE = 16  # iterations between a prefetch and the use of what it fetches
LOADAVG = "/proc/loadavg"  # Linux: its 4th field is "runnable threads/all threads"
TASKS = "/proc/self/task"  # Linux: this process's threads, each with its state in <id>/stat
CACHED_BYTES = 1 << 25  # 32 MB, a large L3: the rows of a larger table come from memory
MEMORY_ROW_WEIGHT = 16  # inner steps a row fetched from memory counts for (~100 ns vs ~6 ns)


def _threads_for(work):
    """Threads for a call with ``work`` inner steps: 1 below `PARALLEL_MIN_WORK`, else as many
    of numba's threads as there are CPUs free now (`_free_cpus`): a parallel region whose
    thread has no CPU waits until the OS gives it one. Results are the same for any count."""
    if work < PARALLEL_MIN_WORK:
        return 1
    return max(1, min(numba.get_num_threads(), _free_cpus()))


def _memory_work(table, rows):
    """The inner steps to count (`_threads_for`) for a call that touches ``rows`` scattered
    rows of ``table``: ``rows * units``, weighted by `MEMORY_ROW_WEIGHT` when the table is
    larger than `CACHED_BYTES`, where each row waits for main memory and a second thread
    doubles the fetches in flight."""
    work = rows * table.shape[1]
    return work * MEMORY_ROW_WEIGHT if table.nbytes > CACHED_BYTES else work


def _free_cpus():
    """The CPUs this process may run on, less those that other processes' threads run on now:
    the runnable threads of the machine (`LOADAVG`, "R/T") less this process's own (state R
    in ``TASKS``: the caller, and worker threads of numba's OpenMP or of OpenBLAS that still
    spin a few milliseconds after their last call). All of them where these cannot be read
    (not Linux). At least 1."""
    if hasattr(os, "sched_getaffinity"):
        cpus = len(os.sched_getaffinity(0))
    else:
        cpus = os.cpu_count() or 1
    try:
        with open(LOADAVG, "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
        if running <= 1:  # the caller alone (16 us); reading each thread's state costs more
            return cpus
        own = 0
        for task in os.listdir(TASKS):
            try:
                with open(os.path.join(TASKS, task, "stat"), "rb") as f:
                    own += f.read().rpartition(b")")[2].split()[0] == b"R"
            except OSError:  # the thread has ended
                pass
    except (OSError, ValueError, IndexError):
        return cpus
    return max(1, cpus - max(running - max(own, 1), 0))


def _width(a):
    """None when the last axis of ``a`` (``W`` or ``delta``) is 16 units, else its length: the
    last argument of the kernels that have a loop for 16 units and one for any width. A None
    argument prunes the branch it guards when numba compiles, so a call compiles one loop."""
    return None if a.shape[1] == SIMD_WIDTH else a.shape[1]
