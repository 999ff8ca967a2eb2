"""Hashed n-grams on both backends: ``ngram_hash`` pinned by golden values and by the
documented formula in Python integers, and ``hashed_ngrams_csr`` against a Python loop over
every n-gram and against the other backend."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

PROPERTY = settings.get_profile("kernels")

REVIEW = [1, 14, 22, 16, 43]  # the first words of IMDB's first training review


def test_ngram_hash_golden_values(backend, python_ngram_hash):
    """A change of hash would move every saved hashed feature."""
    tokens = np.array(REVIEW, np.int32)
    assert int(backend.ngram_hash(tokens, 0, 2)) == 9738464085201010460
    assert int(backend.ngram_hash(tokens, 0, 2)) == python_ngram_hash(REVIEW[:2])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_ngram_hash_follows_the_documented_formula(backend, python_ngram_hash,
                                                   assert_backends_agree, n):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 2**31 - 1, 40).astype(np.int32)  # every bit of an int32 id
    for start in (0, 7, 40 - n):
        h = backend.ngram_hash(tokens, start, n)
        assert int(h) == python_ngram_hash(tokens[start:start + n].tolist())
        assert_backends_agree("ngram_hash", (tokens, start, n), h)


@PROPERTY
@given(data=st.data(), ngram_range=st.sampled_from([(1, 1), (1, 2), (2, 3), (1, 4)]),
       n_features=st.sampled_from([1, 4, 2**10, 2**20]))
def test_hashed_ngrams_csr_has_a_column_per_distinct_hashed_ngram(
        backend, token_sequences, python_ngram_hash, assert_backends_agree, data, ngram_range,
        n_features):
    tokens, offsets, _ = data.draw(token_sequences())
    tokens = np.abs(tokens).astype(np.int32)
    args = (tokens, offsets, *ngram_range, n_features)
    indptr, indices = backend.hashed_ngrams_csr(*args)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert indptr.size == offsets.size and indptr[0] == 0 and indptr[-1] == indices.size
    lo, hi = ngram_range
    for i in range(offsets.size - 1):
        seq = tokens[offsets[i]:offsets[i + 1]].tolist()
        want = {python_ngram_hash(seq[s:s + n]) % n_features  # never spanning two sequences
                for n in range(lo, hi + 1) for s in range(len(seq) - n + 1)}
        assert indices[indptr[i]:indptr[i + 1]].tolist() == sorted(want)
    assert_backends_agree("hashed_ngrams_csr", args, (indptr, indices))
