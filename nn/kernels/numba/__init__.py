"""The numba backend: the sparse primitives of `nn.kernels.numpy`, compiled, plus fused calls.

Every public function here has a twin of the same name, arguments and results in the NumPy
backend (`nn.kernels.numpy`), which is the readable statement of what it computes; the tests
run one suite over both. The kernels are ``@njit(cache=True)`` free functions over plain
arrays (CSR as ``indptr`` int64, ``indices`` int32, ``data`` or None for multi-hot), one
module per kind: `forward` (``X @ W + b``), `backward` (``X.T @ delta``, dense or row-sparse),
`gather` (batch rows), `csr` (building and sorting rows), `columns` (renumbering columns),
`ngrams` (hashed n-grams), `rmsprop` and `adam` (optimizer steps; `product`, the rows of an
unformed weight gradient they step from), `dense` (a small dense layer in one call) and
`losses` (crossentropy and accuracy in one pass). `fused` gathers the calls that do several
steps of a layer, loss or optimizer at once; `_vector` holds the LLVM vector blocks the
kernels share and `_common` the thread choice.

Contract, shared by every kernel:

- The kernels trust their input; `nn.sparse.CSRMatrix` validates it once. Preconditions:
  ``0 <= indices < n_features``; ``indptr`` non-decreasing from 0 to ``len(indices)``; each
  row's ``indices`` sorted for the ``spmm_t*`` kernels; 2-D arrays C-contiguous.
- Results are deterministic: bitwise the same on every run and for any thread count (every
  output element is summed by one thread in a fixed order; no float atomics).
- A call runs on one thread unless it has at least `PARALLEL_MIN_WORK` inner steps
  (nonzeros x units); with ``NUMBA_DISABLE_JIT=1`` the same source runs as Python.

Why the kernels look the way they do, with measurements: docs/performance.md.
"""

from . import fused
from ._common import PARALLEL_MIN_WORK
from .backward import spmm_t, spmm_t_rows
from .columns import csr_renumber_columns
from .csr import csr_sort_rows, multi_hot_csr
from .forward import sampled_product, spmm
from .gather import gather_rows
from .ngrams import hashed_ngrams_csr, ngram_hash

__all__ = ["spmm", "spmm_t", "spmm_t_rows", "sampled_product", "gather_rows", "multi_hot_csr",
           "csr_sort_rows", "csr_renumber_columns", "hashed_ngrams_csr", "ngram_hash", "fused",
           "PARALLEL_MIN_WORK"]
