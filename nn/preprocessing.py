"""Text features for sparse models: hashed n-grams of token sequences.

The notebook's features are single words (`nn.sparse.vectorize_sequences`), so "not good"
and "good" look alike to the model. Word pairs and triples carry that, but there are
millions of them; instead of a vocabulary, each n-gram is hashed to one of ``n_features``
columns (the hashing trick), and a review becomes a multi-hot row with a 1 in the column of
each of its n-grams. Width costs a sparse model almost nothing (`nn.kernels`), so 2**20
columns, where few n-grams collide, train about as fast as 2**14.

The hash is fixed integer arithmetic on uint64 (`nn.kernels.ngram_hash`, after splitmix64):
for the n-gram of token ids ``t_1 .. t_n``::

    h = splitmix64(n);  h = splitmix64(h ^ t_i) for i = 1 .. n;  column = h mod n_features

with ``n_features`` a power of two, so ``mod`` keeps the low bits. The same tokens give the
same columns on every run, machine and platform (no Python ``hash``, no seed), so features
built once can be saved and reused, and a model trained on them serves new text.

`nb_weights` and `weight_columns` add the one feature weighting that matters most for
sentiment: each column scaled by its naive-Bayes log-count ratio, computed from the training
labels (NBSVM). On IMDB, hashed word pairs give a 16-unit network about 90.9% test accuracy;
weighted, about 91.7%.

References: Weinberger et al., "Feature hashing for large scale multitask learning" (2009);
Joulin et al., "Bag of tricks for efficient text classification" (fastText, 2016); Wang and
Manning, "Baselines and bigrams: simple, good sentiment and topic classification" (NBSVM,
2012).
"""

import numpy as np

from . import kernels
from .sequences import Sequences
from .sparse import CSRMatrix

__all__ = ["hashed_ngrams", "nb_weights", "weight_columns"]

_MAX_N = 8  # longest n-gram; more is never useful for words and grows the work linearly


def hashed_ngrams(sequences, ngram_range=(1, 2), n_features=2**20):
    """Multi-hot rows of the hashed n-grams of each sequence, built in one compiled pass.

    Row ``i`` has a 1 in the column of every n-gram of ``n`` consecutive tokens of sequence
    ``i``, for ``ngram_range[0] <= n <= ngram_range[1]`` (an n-gram never spans two
    sequences; repeats count once). ``(1, 1)`` is single words, hashed; ``(1, 2)`` adds word
    pairs; ``(1, 3)`` triples.

    Parameters
    ----------
    sequences : `nn.Sequences` (what `nn.datasets.imdb.load_data` returns), anything with
        ``tokens`` and ``offsets``, or an iterable of integer sequences. Tokens must be
        non-negative.
    ngram_range : (int, int), default (1, 2)
        Smallest and largest n, 1 <= min <= max <= 8.
    n_features : int, default 2**20
        Number of columns, a power of two up to 2**31. Two n-grams share a column with
        probability about 1 / n_features each; IMDB's ~2.5 million distinct word pairs fill
        most of 2**20 columns once or twice.

    Returns
    -------
    CSRMatrix, shape (n_sequences, n_features), multi-hot, rows sorted.

    Examples
    --------
    >>> (x, y), _ = imdb.load_data(num_words=None)
    >>> x_train = hashed_ngrams(x, ngram_range=(1, 2), n_features=2**20)
    """
    n_min, n_max = _check_range(ngram_range)
    n_features = _check_n_features(n_features)
    seqs = _as_sequences(sequences)
    tokens, offsets = seqs.tokens, seqs.offsets
    if tokens.size and tokens.min() < 0:
        k = int(np.argmax(tokens < 0))
        row = int(np.searchsorted(offsets, k, side="right") - 1)
        raise ValueError(f"token ids must be non-negative to be hashed; got {tokens[k]} at "
                         f"position {k - int(offsets[row])} of sequence {row}")
    indptr, indices = kernels.hashed_ngrams_csr(tokens, offsets, n_min, n_max, n_features)
    return CSRMatrix._trusted(indptr, indices, (offsets.size - 1, n_features))


def nb_weights(x, y, alpha=1.0):
    """The naive-Bayes log-count ratio of each column, from training rows and their labels.

    With ``p = alpha + (sum of the rows labelled 1)`` and ``q = alpha + (sum of the rows
    labelled 0)``, ``r = log((p / sum(p)) / (q / sum(q)))``: positive for features more
    frequent in positive rows, about 0 for features that say nothing. Compute it on the
    training rows only (never on validation or test labels), then scale every split's
    columns by it with `weight_columns`.

    Parameters
    ----------
    x : CSRMatrix (n_samples, n_features), e.g. from `hashed_ngrams`
    y : array (n_samples,) of 0/1 labels
    alpha : float, default 1.0, the smoothing count

    Returns
    -------
    r : float32 array (n_features,)
    """
    y = np.asarray(y).reshape(-1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have one label per row of x ({x.shape[0]}); got {y.shape[0]}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold binary labels 0 and 1 for nb_weights")
    if not alpha > 0:
        raise ValueError(f"alpha must be positive; got {alpha!r}")
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    values = np.ones(x.nnz) if x.data is None else x.data.astype(np.float64)
    positive = y[rows] == 1
    p = alpha + np.bincount(x.indices[positive], values[positive], minlength=x.shape[1])
    q = alpha + np.bincount(x.indices[~positive], values[~positive], minlength=x.shape[1])
    return np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)


def weight_columns(x, weights):
    """``x`` with column j multiplied by ``weights[j]``: a CSRMatrix with values, float32
    (float64 if ``x`` has float64 values), sharing ``x``'s index arrays."""
    weights = np.asarray(weights)
    if weights.shape != (x.shape[1],):
        raise ValueError(f"weights must have one value per column, shape ({x.shape[1]},); got "
                         f"shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("weights must be finite")
    dtype = np.float64 if x.data is not None and x.data.dtype == np.float64 else np.float32
    values = weights.astype(dtype)[x.indices]
    if x.data is not None:
        values *= x.data
    return CSRMatrix._trusted(x.indptr, x.indices, x.shape, values)


def _check_range(ngram_range):
    try:
        n_min, n_max = ngram_range
    except (TypeError, ValueError):
        raise ValueError(f"ngram_range must be a pair (min_n, max_n) such as (1, 2); got "
                         f"{ngram_range!r}") from None
    for value in (n_min, n_max):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"ngram_range must hold integers; got {ngram_range!r}")
    if not 1 <= n_min <= n_max <= _MAX_N:
        raise ValueError(f"ngram_range must satisfy 1 <= min_n <= max_n <= {_MAX_N}; got "
                         f"{tuple(ngram_range)}")
    return int(n_min), int(n_max)


def _check_n_features(n_features):
    if isinstance(n_features, (bool, np.bool_)) or not isinstance(n_features, (int, np.integer)):
        raise TypeError(f"n_features must be an integer; got {n_features!r}")
    if not 1 <= n_features <= 2**31 or n_features & (n_features - 1):
        raise ValueError(f"n_features must be a power of two between 1 and 2**31 (the hash "
                         f"keeps its low bits); got {n_features}. Try 2**20 = 1048576")
    return int(n_features)


def _as_sequences(sequences):
    if isinstance(sequences, Sequences):
        return sequences
    if hasattr(sequences, "tokens") and hasattr(sequences, "offsets"):
        return Sequences(np.asarray(sequences.tokens), sequences.offsets)
    return Sequences.from_lists(sequences)
