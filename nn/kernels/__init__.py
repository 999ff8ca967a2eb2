"""Compiled kernels for sparse multi-hot input, and their NumPy reference twins.

One package, one module per kind of kernel: `forward` (``X @ W + b``), `backward` (the
weight gradient), `gather` (batch rows), `csr` (building and sorting), `columns`
(renumbering columns), `ngrams` (hashed n-grams), `rmsprop` (optimizer steps), `dense` (a
small dense layer's forward and backward in one call), `losses` (crossentropy and accuracy
in one pass); `_vector` holds the LLVM vector blocks they share and `_common` the thread
choice and aligned allocation. The sparse kernels are imported here (callers write
``kernels.spmm_ones(...)``); `dense` and `losses` are used as modules.

A first `Dense` layer fed a multi-hot batch ``X`` (CSR, all values 1) needs two products:
``Z = X @ W + b`` forward and ``dW = X.T @ delta`` backward. Both touch one 16-float row of
``W`` (or ``dW``) per nonzero, so they cost O(nnz * units) instead of the dense
O(n_rows * n_features * units). Only the rows of ``dW`` whose feature occurs in the batch are
nonzero, so the backward kernel used in training (`spmm_t_rows_ones`) returns just those
rows, and the optimizer updates just those rows of ``W`` (`rmsprop_update_rows`): training
costs O(nnz * units) per step whatever the width. The kernels here are ``@njit(cache=True)``
free functions over plain arrays (CSR as ``indptr`` int64, ``indices`` int32, ``data`` or
none), in the manner of lenskit/csr: a SciPy object cannot enter compiled code, and plain
arrays keep each kernel replaceable. Every kernel ``f`` has a plain-NumPy twin
``f_reference`` with the same signature and result, used by the property tests and the
benchmark.

The kernels trust their input: `nn.sparse.CSRMatrix` validates it once, so nothing here
checks bounds. Preconditions: ``0 <= indices < n_features``, ``indptr`` non-decreasing from 0
to ``len(indices)``, for the ``spmm_t*`` kernels each row's ``indices`` sorted, and 2-D
arrays C-contiguous.

Design notes (2-vCPU AMD EPYC VM, AVX2, 512 KB L2 per core, so the 640 KB ``W`` of the IMDB
model lives in L3):

- Rows of ``W`` are added 16 floats at a time by `_add4` / `_add1`, which emit LLVM vector
  code directly (``<16 x float>`` loads, adds, one store). Numba switches LLVM's SLP
  vectorizer off (it miscompiled, numba PR #8852), so a 16-element loop with a constant trip
  count is fully unrolled and stays scalar, and a loop with a runtime trip count is
  vectorized with runtime overlap checks and a remainder loop around every 16 floats; the
  hand-written block has neither, and runs 1.5x faster in a plain (serial) function than
  the loop did inside ``prange``. The Python versions beside the intrinsics compute the same
  thing lane by lane, so results are bitwise equal with ``NUMBA_DISABLE_JIT=1``. A 16-unit
  layer (the common width) gets loops of its own: testing the width inside the nonzero loop
  cost 25%, and a general loop over blocks 70%; other widths take whole blocks of 16, then
  the rest unit by unit with the same association. Index arithmetic stays unsigned
  (``_u``): numba wraps negative indices with a per-element select, and types uint64 +
  int64 as float64. Layers and optimizer slots start rows on 64-byte boundaries
  (`empty_aligned`), so a 16-float row is one cache line instead of two: 10-20% faster on
  the IMDB width, more on wide inputs.
- Forward, four ``W`` rows are added pairwise before touching the output row, which cuts
  the loop-carried store-to-load chain through ``Z[i]`` by four. The order of additions is
  fixed, so results are deterministic.
- A 2**20-row layer's ``W`` and velocity (64 MB each) live in main memory, and a batch
  touches ~80,000 of their rows at random. The row indices are known ahead, so the forward,
  the row-sparse backward and the lazy RMSprop step ask for rows ``_AHEAD`` nonzeros (or
  rows) before using them (`_prefetch`, LLVM's prefetch hint): the lazy step ran 2x faster,
  the others ~20%. On the IMDB width everything is in cache and the hint changes nothing.
- Threads. Every kernel has a serial body; a ``prange`` version runs it on row ranges only
  when a call has at least ``PARALLEL_MIN_WORK`` inner steps (nonzeros x units). On this
  2-core machine a parallel region costs ~5 us when both cores are free, but when another
  process holds one core the region waits for the OS to schedule its second thread: 8-12 ms
  per call, measured on every kernel, 50-100x the ~100 us of work in a batch of 512 reviews.
  Even with both cores free, two threads gained nothing on a batch of 512 reviews (forward
  84 vs 96 us, backward 205 vs 157 us: the split costs what it saves), while a forward over
  all 25,000 reviews runs 2x faster. Training batches therefore run on one thread, which
  also keeps numba's and OpenBLAS's threads from fighting (PERFORMANCE.md); only large calls
  (``predict`` on a whole split, building n-grams) use all threads. The public kernels are
  thin Python wrappers that make this choice: numba cannot cache a function that calls
  ``get_num_threads()`` itself. Serial and parallel paths give the same bits. The lazy
  RMSprop step deals blocks of 1,024 rows to the threads in turn: its rows are distinct,
  and in frequency order the first ones are cached, so halves would not balance. Running
  a 2**20-row layer's kernels on two threads for every batch gained ~13% per epoch on a
  quiet machine but made epochs 3-5x slower whenever another process held a core: they
  stay serial below ``PARALLEL_MIN_WORK`` like the others.
- The backward passes are deterministic: bitwise the same on every run and for any thread
  count, with no float atomics and no per-thread partial sums: every ``dW`` row is summed
  in sample order by one thread. `spmm_t_rows_ones` keeps only the rows of the features
  present: a bitmap marks them (a row's neighbouring columns share a 64-bit word, so bits
  are gathered in a register first), a prefix popcount ranks them, a separate pass stores
  each nonzero's rank (no load waits for a store, so the CPU overlaps many), then the
  delta rows are added into rank-indexed rows, 512 KB of rows at a time
  (`_spmm_t_ranked`): each chunk is zeroed and filled while it sits in L2, every sample
  resuming at its own cursor in its sorted row, so the values need no separate zeroing
  pass (the 5 MB calloc per batch at 2**20 columns cost ~0.7 ms with its page faults) and
  the adds no longer miss L2 (2x faster than scattering over all rows). When the batch has at least as many
  nonzeros as ``W`` has rows (the IMDB notebook: 66,000 in a batch, 10,000 rows) nearly
  every row is touched, and the dense scatter, with no ranking, is cheaper: then every row
  is listed. Transposing the batch (a counting sort by column) so that each row is summed
  from cache-resident delta rows was measured 1.5-2x slower, on both widths. In parallel,
  each thread owns a contiguous range of rows cut so that the ranges hold about equal
  numbers of nonzeros, and finds each sample's columns in its range by binary search in
  the sorted CSR row.
- The lazy RMSprop step is bound by memory latency: at 2**20 rows a batch touches ~78,000
  random rows of ``W`` and of the velocity, ~10 ns per 64-byte line on this machine
  whatever the prefetch distance, and touching both costs more than twice one of them.
  ``velocity_step`` is int32 (half the lines, 15-30% of the step), rho**k comes from a
  64-entry table (each entry as `_power` computes it) and the decay is folded into the
  vector step (`_rmsprop16_decayed`, x1 for a row that skipped nothing: exact). The 64 MB
  arrays are backed by transparent huge pages (numpy madvises allocations of 4 MB or
  more, also through `empty_aligned`; checked in /proc/self/smaps).
- `multi_hot_csr` and `csr_sort_rows` sort without comparisons: a counting sort by column,
  then reading the columns back in order refills each row sorted. Linear time, and it
  compiles in a fraction of the time numba's ``np.sort`` takes. `hashed_ngrams_csr` sorts
  each row's hashed columns with a radix sort on bytes, in memory proportional to the
  n-grams, not to the width.

References: lenskit/csr (numba CSR kernels with SciPy twins); PERFORMANCE.md in this repo;
splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
"""

from ._common import PARALLEL_MIN_WORK, aligned_copy, empty_aligned, zeros_aligned
from .backward import (spmm_t, spmm_t_ones, spmm_t_ones_reference, spmm_t_reference,
                       spmm_t_rows, spmm_t_rows_ones, spmm_t_rows_ones_reference,
                       spmm_t_rows_reference)
from .columns import (csr_renumber_columns, csr_renumber_columns_data,
                      csr_renumber_columns_data_reference, csr_renumber_columns_reference)
from .csr import (csr_sort_rows, csr_sort_rows_data, csr_sort_rows_data_reference,
                  csr_sort_rows_reference, multi_hot_csr, multi_hot_csr_reference)
from .forward import spmm, spmm_ones, spmm_ones_reference, spmm_reference
from .gather import (gather_rows, gather_rows_data, gather_rows_data_reference,
                     gather_rows_reference)
from .ngrams import hashed_ngrams_csr, hashed_ngrams_csr_reference, ngram_hash
from .rmsprop import (rmsprop_catch_up, rmsprop_catch_up_reference, rmsprop_update,
                      rmsprop_update_reference, rmsprop_update_rows,
                      rmsprop_update_rows_reference)

__all__ = [
    "spmm_ones", "spmm", "spmm_t_ones", "spmm_t", "spmm_t_rows_ones", "spmm_t_rows",
    "gather_rows", "gather_rows_data", "multi_hot_csr", "csr_sort_rows", "csr_sort_rows_data",
    "csr_renumber_columns", "csr_renumber_columns_data",
    "hashed_ngrams_csr", "ngram_hash", "rmsprop_update", "rmsprop_update_rows",
    "rmsprop_catch_up", "empty_aligned", "zeros_aligned", "aligned_copy", "PARALLEL_MIN_WORK",
]
