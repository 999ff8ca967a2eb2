"""Hashed n-gram multi-hot rows.

The hash is built on splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
generators", 2014).
"""

import numba
import numpy as np
from numba import njit, prange

from ._common import _unsigned
from .csr import _radix_sort

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, splitmix64's increment


@njit(cache=True)
def _splitmix64(x):
    """splitmix64's output function of the state ``x`` (uint64): a bijection whose output
    bits each depend on every input bit."""
    z = x + _unsigned(_GOLDEN)
    z = (z ^ (z >> _unsigned(30))) * _unsigned(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _unsigned(27))) * _unsigned(0x94D049BB133111EB)
    return z ^ (z >> _unsigned(31))


@njit(cache=True)
def ngram_hash(tokens, start, n):
    """The 64-bit hash of the n-gram ``tokens[start:start + n]`` (non-negative int32 ids):
    ``h = splitmix64(n)``, then ``h = splitmix64(h ^ t)`` for each token ``t`` in order.
    Pure uint64 arithmetic, so the same on every run, machine and platform."""
    h = _splitmix64(_unsigned(n))
    for k in range(start, start + n):
        h = _splitmix64(h ^ _unsigned(tokens[k]))
    return h


@njit(cache=True)
def _sort_unique(a, lo, hi, scratch, count, n_bits):
    """Sort ``a[lo:hi]`` (non-negative, below 2**n_bits) by `_radix_sort`, using
    ``scratch[:hi - lo]`` and ``count`` (257,); keep one of each value at ``a[lo:]``; return
    how many."""
    _radix_sort(a, a, False, lo, hi, scratch, scratch, count, n_bits)
    kept = 0
    for k in range(lo, hi):  # writing a[lo + kept] never passes k
        if kept == 0 or a[k] != a[lo + kept - 1]:
            a[lo + kept] = a[k]
            kept += 1
    return kept


@njit(cache=True)
def _ngram_rows(tokens, offsets, n_min, n_max, n_features, bound, cols, counts, r0, r1):
    """Hash the n-grams of rows r0..r1 into ``cols[bound[i]:]``, then sort and deduplicate
    each row in place; ``counts[i]`` = columns kept."""
    mask = _unsigned(n_features - 1)
    n_bits = 0
    while (1 << n_bits) < n_features:
        n_bits += 1
    longest = 0
    for i in range(r0, r1):
        longest = max(longest, bound[i + 1] - bound[i])
    scratch = np.empty(longest, np.int32)
    count = np.empty(257, np.int64)
    for i in range(r0, r1):
        p = bound[i]
        for n in range(n_min, n_max + 1):
            for s in range(offsets[i], offsets[i + 1] - n + 1):
                cols[p] = np.int32(ngram_hash(tokens, s, n) & mask)
                p += 1
        counts[i] = _sort_unique(cols, bound[i], p, scratch, count, n_bits)


@njit(parallel=True, cache=True)
def _hashed_ngrams(tokens, offsets, n_min, n_max, n_features, n_parts):
    n_rows = offsets.size - 1
    bound = np.zeros(n_rows + 1, np.int64)  # where each row's n-grams go before dedup
    for i in range(n_rows):
        length = offsets[i + 1] - offsets[i]
        c = 0
        for n in range(n_min, n_max + 1):
            c += max(0, length - n + 1)
        bound[i + 1] = bound[i] + c
    cols = np.empty(bound[n_rows], np.int32)
    counts = np.zeros(n_rows, np.int64)
    for p in prange(n_parts):
        _ngram_rows(tokens, offsets, n_min, n_max, n_features, bound, cols, counts,
                    p * n_rows // n_parts, (p + 1) * n_rows // n_parts)
    indptr = np.zeros(n_rows + 1, np.int64)
    for i in range(n_rows):
        indptr[i + 1] = indptr[i] + counts[i]
    indices = np.empty(indptr[n_rows], np.int32)
    for p in prange(n_parts):
        for i in range(p * n_rows // n_parts, (p + 1) * n_rows // n_parts):
            for k in range(counts[i]):
                indices[indptr[i] + k] = cols[bound[i] + k]
    return indptr, indices


def hashed_ngrams_csr(tokens, offsets, n_min, n_max, n_features):
    """Multi-hot CSR of the hashed n-grams of ragged token sequences, in one compiled pass.

    Row ``i`` has a 1 in column ``ngram_hash(g) & (n_features - 1)`` for every n-gram ``g``
    of ``n_min <= n <= n_max`` consecutive tokens of sequence ``i`` (an n-gram never spans
    two sequences); rows sorted, each column once. Rows are independent, so they are built
    in parallel, with the same result for any thread count.

    Parameters
    ----------
    tokens : int32 (n_tokens,), non-negative;  offsets : int64 (n_rows + 1,)
    n_min, n_max : int, 1 <= n_min <= n_max;  n_features : int, a power of two <= 2**31

    Returns
    -------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    """
    threads = numba.get_num_threads()
    n_parts = 1 if threads == 1 else 8 * threads  # rows differ in length: several per thread
    with np.errstate(over="ignore"):  # uint64 wraparound is the point (NUMBA_DISABLE_JIT)
        return _hashed_ngrams(tokens, offsets, n_min, n_max, n_features, n_parts)
