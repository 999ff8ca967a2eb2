"""`nn.preprocessing`: hashed n-gram features (columns pinned by golden values and by the
documented hash in Python integers), Naive Bayes weights, and renumbering columns by document
frequency. The math tests run on both backends (`backend_in_use`).

The backends' own tests of `ngram_hash` and `hashed_ngrams_csr` are in
tests/kernels/test_ngrams.py.
"""

import numpy as np
import pytest

from nn import Sequences, layers, models, preprocessing
from nn.sparse import CSRMatrix

REVIEW = [1, 14, 22, 16, 43]  # the first words of IMDB's first training review


def test_golden_columns_are_the_same_on_every_machine(backend_in_use):
    """Hard-coded columns for 2**20 features: a change of hash breaks saved features."""
    x = preprocessing.hashed_ngrams([REVIEW], ngram_range=(1, 3), n_features=2**20)
    unigrams = [717342, 178197, 842020, 1023182, 454220]  # 1, 14, 22, 16, 43
    bigrams = [933660, 290856, 805362, 488924]            # (1, 14), (14, 22), ...
    trigrams = [271690, 417074, 948011]                   # (1, 14, 22), ...
    assert x.indices.tolist() == sorted(unigrams + bigrams + trigrams)
    assert x.indptr.tolist() == [0, 12]


@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 2), (1, 3), (2, 4)])
@pytest.mark.parametrize("n_features", [1, 2, 2**10, 2**20, 2**31])
def test_columns_are_the_hashes_of_every_ngram(backend_in_use, python_ngram_hash, ngram_range,
                                               n_features):
    rng = np.random.default_rng(1)
    seqs = [rng.integers(0, 90000, size).tolist() for size in (0, 1, 2, 3, 17, 60)]
    x = preprocessing.hashed_ngrams(seqs, ngram_range=ngram_range, n_features=n_features)
    assert x.shape == (len(seqs), n_features) and x.is_multi_hot
    lo, hi = ngram_range
    for i, seq in enumerate(seqs):
        expected = {python_ngram_hash(seq[s:s + n]) % n_features
                    for n in range(lo, hi + 1) for s in range(len(seq) - n + 1)}
        assert x.indices[x.indptr[i]:x.indptr[i + 1]].tolist() == sorted(expected)


def test_ngrams_never_span_two_sequences(backend_in_use):
    x = preprocessing.hashed_ngrams([[5], [6], [5, 6]], ngram_range=(2, 2), n_features=2**20)
    assert np.diff(x.indptr).tolist() == [0, 0, 1]


def test_accepts_the_loaders_sequences_and_lists_alike():
    seqs = [[1, 2, 3], [3, 2, 1, 2, 3], []]
    a = preprocessing.hashed_ngrams(seqs)
    b = preprocessing.hashed_ngrams(Sequences.from_lists(seqs))
    assert isinstance(a, CSRMatrix) and a.shape == (3, 2**20)
    np.testing.assert_array_equal(a.indptr, b.indptr)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.dtype == np.int32 and a.indptr.dtype == np.int64


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="power of two .* got 1000000. Try 2\\*\\*20"):
        preprocessing.hashed_ngrams([[1, 2]], n_features=1_000_000)
    with pytest.raises(ValueError, match="power of two"):
        preprocessing.hashed_ngrams([[1, 2]], n_features=2**32)
    with pytest.raises(TypeError, match="n_features must be an integer"):
        preprocessing.hashed_ngrams([[1, 2]], n_features=1024.0)
    with pytest.raises(ValueError, match=r"1 <= min_n <= max_n <= 8; got \(2, 1\)"):
        preprocessing.hashed_ngrams([[1, 2]], ngram_range=(2, 1))
    with pytest.raises(ValueError, match="must be a pair"):
        preprocessing.hashed_ngrams([[1, 2]], ngram_range=2)
    with pytest.raises(TypeError, match="must hold integers"):
        preprocessing.hashed_ngrams([[1, 2]], ngram_range=(1, 2.0))
    with pytest.raises(ValueError, match="non-negative .* got -4 at position 1 of sequence 1"):
        preprocessing.hashed_ngrams([[1, 2], [3, -4]])


def test_a_model_trains_on_wide_hashed_features(backend_in_use):
    """Positive reviews say "not bad", negative ones "not good": only the pairs separate."""
    rng = np.random.default_rng(3)
    good, bad, not_ = 10, 11, 12
    seqs, y = [], []
    for i in range(400):
        filler = rng.integers(100, 200, 8).tolist()
        label = i % 2
        pair = [not_, bad] if label else [not_, good]
        seqs.append(filler[:4] + pair + filler[4:] + [good, bad])
        y.append(label)
    y = np.array(y, np.float32)
    for ngram_range, expect_learned in (((1, 1), False), ((1, 2), True)):
        x = preprocessing.hashed_ngrams(seqs, ngram_range=ngram_range, n_features=2**20)
        model = models.Sequential(seed=0)
        model.add(layers.Dense(8, activation="relu", input_shape=(2**20,)))
        model.add(layers.Dense(1, activation="sigmoid"))
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x[:300], y[:300], epochs=20, batch_size=16, verbose=0)
        accuracy = model.evaluate(x[300:], y[300:], verbose=0)[1]
        assert (accuracy > 0.95) == expect_learned, (ngram_range, accuracy)


def test_nb_weights_are_the_log_count_ratio():
    x = CSRMatrix([0, 2, 3, 5], [0, 1, 1, 0, 2], (3, 4))  # rows: {0, 1}, {1}, {0, 2}
    y = np.array([1, 0, 1])
    r = preprocessing.nb_weights(x, y, alpha=1.0)
    p = 1 + np.array([2, 1, 1, 0])  # column counts over the positive rows 0 and 2
    q = 1 + np.array([0, 1, 0, 0])  # over the negative row 1
    np.testing.assert_allclose(r, np.log((p / p.sum()) / (q / q.sum())), rtol=1e-6)
    assert r.dtype == np.float32
    w = preprocessing.weight_columns(x, r)
    np.testing.assert_allclose(w.toarray(), x.toarray() * r, rtol=1e-6)
    assert w.indices is x.indices and w.data.dtype == np.float32
    with pytest.raises(ValueError, match="one label per row"):
        preprocessing.nb_weights(x, y[:2])
    with pytest.raises(ValueError, match="binary labels"):
        preprocessing.nb_weights(x, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="one value per column"):
        preprocessing.weight_columns(x, r[:3])


# -- Renumbering columns by document frequency ------------------------------------------------

def test_frequency_order_ranks_columns_by_rows_holding_them():
    # rows {1, 3}, {0, 1, 3, 3}, {3}: column 3 is in 3 rows (twice in one), 1 in 2, 0 in 1
    x = CSRMatrix([0, 2, 6, 7], [1, 3, 0, 1, 3, 3, 3], (3, 5))
    columns = preprocessing.frequency_order(x)
    assert columns.dtype == np.int32
    assert columns.tolist() == [2, 1, 3, 0, 4]  # 2 and 4 tie at 0 rows: by column number
    assert preprocessing.frequency_order(x, min_df=2).tolist() == [-1, 1, -1, 0, -1]
    assert preprocessing.frequency_order(x, min_df=4).tolist() == [-1] * 5


def test_renumber_columns_moves_each_column_and_keeps_rows_sorted(backend_in_use):
    x = CSRMatrix([0, 2, 6, 7], [1, 3, 0, 1, 3, 3, 3], (3, 5), data=np.arange(1.0, 8.0))
    columns = preprocessing.frequency_order(x)
    r = preprocessing.renumber_columns(x, columns)
    assert r.shape == (3, 5) and r.data.dtype == x.data.dtype
    np.testing.assert_array_equal(r.toarray()[:, columns], x.toarray())
    for i in range(3):
        assert np.all(np.diff(r.indices[r.indptr[i]:r.indptr[i + 1]]) >= 0)
    assert r.data[r.indptr[1]:r.indptr[2]].tolist() == [5.0, 6.0, 4.0, 3.0]  # repeats in order
    dropped = preprocessing.renumber_columns(x, preprocessing.frequency_order(x, min_df=2))
    assert dropped.shape == (3, 2)
    np.testing.assert_array_equal(dropped.toarray(), x.toarray()[:, [3, 1]])
    multi_hot = preprocessing.renumber_columns(CSRMatrix(x.indptr, x.indices, x.shape), columns)
    assert multi_hot.data is None and multi_hot.indices.tolist() == r.indices.tolist()


def test_the_map_from_training_rows_applies_to_other_rows(backend_in_use):
    """Validation or test rows get the training rows' map: columns unseen in training go
    last (or are dropped with min_df), whatever their own frequency."""
    train = CSRMatrix([0, 1, 2], [2, 2], (2, 4))
    test = CSRMatrix([0, 3], [0, 1, 2], (1, 4))
    assert preprocessing.renumber_columns(
        test, preprocessing.frequency_order(train)).indices.tolist() == [0, 1, 2]
    assert preprocessing.renumber_columns(
        test, preprocessing.frequency_order(train, min_df=1)).shape == (1, 4)
    kept = preprocessing.renumber_columns(test, preprocessing.frequency_order(train, min_df=2))
    assert kept.shape == (1, 1) and kept.indices.tolist() == [0]


def test_renumbered_features_are_the_same_features(backend_in_use):
    """A layer on renumbered input, with its rows moved alike, computes the same outputs: the
    renumbering changes where a feature's weights live, not what the model can learn."""
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 300, rng.integers(1, 40)).tolist() for _ in range(64)]
    x = preprocessing.hashed_ngrams(seqs, ngram_range=(1, 2), n_features=2**12)
    columns = preprocessing.frequency_order(x[:40])
    r = preprocessing.renumber_columns(x, columns)
    W = rng.standard_normal((2**12, 16)).astype(np.float32)
    W_moved = np.empty_like(W)
    W_moved[columns] = W
    np.testing.assert_allclose(r.toarray() @ W_moved, x.toarray() @ W, rtol=1e-5, atol=1e-5)
    assert np.array_equal(preprocessing.frequency_order(x[:40]), columns)  # deterministic


def test_frequent_columns_come_first_in_hashed_reviews(backend_in_use):
    rng = np.random.default_rng(6)
    seqs = [(rng.zipf(1.3, 60) % 5000).tolist() for _ in range(200)]
    x = preprocessing.hashed_ngrams(seqs, ngram_range=(1, 2), n_features=2**16)
    r = preprocessing.renumber_columns(x, preprocessing.frequency_order(x))
    df = np.bincount(r.indices, minlength=r.shape[1])
    assert np.all(np.diff(df) <= 0)
    assert np.array_equal(np.sort(np.bincount(x.indices, minlength=2**16))[::-1], df)


def test_bad_renumbering_arguments_say_what_is_wrong():
    x = CSRMatrix([0, 2], [0, 2], (1, 3))
    with pytest.raises(ValueError, match="min_df must be a positive integer .* got 0"):
        preprocessing.frequency_order(x, min_df=0)
    with pytest.raises(ValueError, match="min_df must be a positive integer .* got 2.0"):
        preprocessing.frequency_order(x, min_df=2.0)
    with pytest.raises(ValueError, match=r"shape \(3,\); got shape \(2,\)"):
        preprocessing.renumber_columns(x, [0, 1])
    with pytest.raises(TypeError, match="columns must be integers; got dtype float64"):
        preprocessing.renumber_columns(x, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match=r"in \[0, 3\) \(3 kept\); got 3 at position 1"):
        preprocessing.renumber_columns(x, [0, 3, 1])
    with pytest.raises(ValueError, match=r"got -2 at position 2"):
        preprocessing.renumber_columns(x, [0, 1, -2])
    with pytest.raises(ValueError, match="1 is given to 2 columns"):
        preprocessing.renumber_columns(x, [1, 1, -1])
