"""Text features for sparse models: multi-hot words and hashed n-grams of token sequences.

`vectorize_sequences` (alias `multi_hot`) is the notebook's encoding: a review becomes a row
with a 1 in the column of each distinct word id, as a sparse `nn.sparse.CSRMatrix`.

`hashed_ngrams` adds word pairs and triples, which tell "not good" from "good". There are
millions of them, so instead of a vocabulary each n-gram is hashed to one of ``n_features``
columns (the hashing trick), and a review becomes a multi-hot row with a 1 in the column of
each of its n-grams. A sparse model's arithmetic grows with the nonzeros, not the columns;
what wide input costs in time and memory is in docs/performance.md, "Width (hashed n-grams)".

The hash is fixed integer arithmetic on uint64 (the backends' ``ngram_hash``, after splitmix64):
for the n-gram of token ids ``t_1 .. t_n``::

    h = splitmix64(n);  h = splitmix64(h ^ t_i) for i = 1 .. n;  column = h mod n_features

with ``n_features`` a power of two, so ``mod`` keeps the low bits. The same tokens give the
same columns on every run, machine and platform (no Python ``hash``, no seed), so features
built once can be saved and reused, and a model trained on them serves new text.

`nb_weights` and `weight_columns` scale each column by its naive-Bayes log-count ratio,
computed from the training labels (NBSVM).

`frequency_order` and `renumber_columns` relabel the columns by how many training rows hold
them, most frequent first, as Keras numbers words by frequency rank: the same features in
another order, with the rows most batches touch together at the start of the first layer.
With ``min_df=2`` the columns of a single training row are also dropped.

References: Weinberger et al., "Feature hashing for large scale multitask learning" (2009);
Joulin et al., "Bag of tricks for efficient text classification" (fastText, 2016); Wang and
Manning, "Baselines and bigrams: simple, good sentiment and topic classification" (NBSVM,
2012).
"""

import numpy as np

from . import backend
from .sequences import Sequences, row_blocks
from .sparse import CSRMatrix

__all__ = ["vectorize_sequences", "multi_hot", "hashed_ngrams", "nb_weights",
           "weight_columns", "frequency_order", "renumber_columns"]

_INT32_MAX = np.iinfo(np.int32).max

def _check_tokens(tokens, offsets, dimension):
    """ValueError naming the first token outside [0, dimension), its sequence and position."""
    if tokens.size == 0 or (tokens.min() >= 0 and tokens.max() < dimension):
        return
    k = int(np.argmax((tokens < 0) | (tokens >= dimension)))
    row = int(np.searchsorted(offsets, k, side="right") - 1)
    raise ValueError(
        f"sequence values must be in [0, {dimension}) for dimension={dimension}; got "
        f"{tokens[k]} at position {k - int(offsets[row])} of sequence {row}. Use a larger "
        f"dimension, or keep fewer words (e.g. num_words={dimension} when loading)")


def vectorize_sequences(sequences, dimension=10000):
    """Multi-hot encode integer sequences: row ``i`` has a 1 in each column ``sequences[i]``
    names (repeats count once), as the Keras notebook's ``vectorize_sequences`` but sparse.

    Parameters
    ----------
    sequences : `nn.Sequences` (or anything with ``tokens`` and ``offsets``), or any iterable
        of integer sequences (a list of lists, Keras's object array).
    dimension : int, default 10000
        Number of columns; every token must be in [0, dimension).

    Returns
    -------
    CSRMatrix, shape (n_sequences, dimension), multi-hot, rows sorted.
    """
    if isinstance(dimension, (bool, np.bool_)) or not isinstance(dimension, (int, np.integer)):
        raise TypeError(f"dimension must be an integer; got {dimension!r}")
    if not 0 < dimension <= _INT32_MAX + 1:
        raise ValueError(f"dimension must be in [1, {_INT32_MAX + 1}]; got {dimension}")
    dimension = int(dimension)
    if isinstance(sequences, Sequences):
        seqs = Sequences(sequences.tokens, sequences.offsets)  # re-checks offsets, no copy
    elif hasattr(sequences, "tokens") and hasattr(sequences, "offsets"):
        tokens = np.asarray(sequences.tokens)
        if tokens.size and not np.issubdtype(tokens.dtype, np.integer):
            raise TypeError(f"sequences must hold integers; got dtype {tokens.dtype}")
        _check_tokens(tokens, np.asarray(sequences.offsets), dimension)  # before int32 cast
        seqs = Sequences(tokens, sequences.offsets)  # validates the offsets
    else:
        seqs = Sequences.from_lists(sequences)
    tokens, offsets = seqs.tokens, seqs.offsets
    _check_tokens(tokens, offsets, dimension)
    indptr, indices = _multi_hot_in_runs(tokens, offsets, dimension)
    return CSRMatrix._trusted(indptr, indices, (offsets.size - 1, dimension))


_RUN_TOKENS = 1 << 18  # tokens per call of the multi-hot kernel in `vectorize_sequences`


def _multi_hot_in_runs(tokens, offsets, dimension):
    """(indptr, indices) as the backend's `multi_hot_csr` gives them for all rows, computed
    on runs of consecutive rows of about ``max(_RUN_TOKENS, dimension)`` tokens and written
    straight into the result: the kernel's scratch is one run's, not all rows' (why:
    docs/performance.md, "CSR building, renumbering and n-grams").

    The result is allocated for the worst case, one column per token (pages never written
    cost no memory), and shrunk in place once the size is known.
    """
    runs = row_blocks(offsets, max(_RUN_TOKENS, dimension))
    if len(runs) <= 1:
        return backend.get().multi_hot_csr(tokens, offsets, dimension)
    indptr = np.zeros(offsets.size, np.int64)
    indices = np.empty(tokens.size, np.int32)  # at most one column per token
    nnz = 0
    for lo, hi in runs:
        run = offsets[lo:hi + 1]
        run_indptr, run_indices = backend.get().multi_hot_csr(tokens[run[0]:run[-1]], run - run[0],
                                                        dimension)
        indptr[lo + 1:hi + 1] = run_indptr[1:] + nnz
        indices[nnz:nnz + run_indices.size] = run_indices
        nnz += run_indices.size
    indices.resize(nnz, refcheck=False)  # no view of it exists
    return indptr, indices


multi_hot = vectorize_sequences


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
    indptr, indices = backend.get().hashed_ngrams_csr(tokens, offsets, n_min, n_max, n_features)
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


def frequency_order(x, min_df=1):
    """The new column of each column of ``x``: its rank by document frequency.

    The document frequency of a column is the number of rows holding it (a row counts once).
    The most frequent column becomes 0, the next 1, and so on; equal frequencies keep their
    column order, so the result depends on ``x`` alone. Compute it on the training rows only,
    then apply the same map to every split with `renumber_columns`: a column's statistics
    must not come from the rows a model is judged on.

    Parameters
    ----------
    x : CSRMatrix (n_samples, n_features), the training rows, e.g. from `hashed_ngrams`
    min_df : int, default 1
        Columns held by fewer rows are dropped (new column -1): ``min_df=2`` removes the
        n-grams of a single training row, which a model can only memorize, and with 1 (the
        default) every column is kept, the unused ones last.

    Returns
    -------
    columns : int32 array (n_features,), a permutation of ``0 .. n_features - 1`` when
        ``min_df`` is 1; else the kept columns number ``0 .. n_kept - 1`` and the others -1.
    """
    if isinstance(min_df, (bool, np.bool_)) or not isinstance(min_df, (int, np.integer)) \
            or min_df < 1:
        raise ValueError(f"min_df must be a positive integer (1 keeps every column); got "
                         f"{min_df!r}")
    df = _document_frequency(x)
    # most frequent first, ties by column; 16-bit keys when they fit, which NumPy radix-sorts
    key = (-df).astype(np.int16 if x.shape[0] < 2**15 else np.int64)
    order = np.argsort(key, kind="stable")
    columns = np.empty(x.shape[1], np.int32)
    columns[order] = np.arange(x.shape[1], dtype=np.int32)
    if min_df > 1:
        columns[df < min_df] = -1
    return columns


def _document_frequency(x):
    """int64 array (n_features,): the number of rows of ``x`` holding each column (stored
    entries; a column repeated within a row counts once: rows are sorted, so repeats are
    neighbours)."""
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.int64)
    repeats = np.flatnonzero(x.indices[1:] == x.indices[:-1]) + 1
    repeats = repeats[~np.isin(repeats, x.indptr)]  # a row's first entry is never a repeat
    np.subtract.at(df, x.indices[repeats], 1)
    return df


def renumber_columns(x, columns):
    """``x`` with column j renamed ``columns[j]`` (dropped where it is -1), rows sorted.

    Values, if any, move with their columns. The width is the number of columns kept:
    ``n_features`` for a permutation. A model trained on the renumbered rows is the same
    model as one trained on ``x`` with its first layer's rows permuted (up to the random
    initial weights each row gets), so renumbering changes speed, not what can be learned.

    Parameters
    ----------
    x : CSRMatrix (n_samples, n_features)
    columns : int array (n_features,), from `frequency_order` on the training rows: the
        kept entries must number ``0 .. n_kept - 1``, each once; -1 drops a column

    Returns
    -------
    CSRMatrix, shape (n_samples, n_kept)

    Examples
    --------
    >>> columns = frequency_order(x_train)
    >>> x_train, x_test = renumber_columns(x_train, columns), renumber_columns(x_test, columns)
    """
    columns, n_kept = _check_columns(columns, x.shape[1])
    indptr, indices, data = backend.get().csr_renumber_columns(x.indptr, x.indices, x.data,
                                                               columns)
    return CSRMatrix._trusted(indptr, indices, (x.shape[0], n_kept), data)


def _check_columns(columns, n_features):
    """``columns`` as int32, and the number kept; errors name the first bad entry."""
    columns = np.asarray(columns)
    if columns.shape != (n_features,):
        raise ValueError(f"columns must have one entry per column of x, shape "
                         f"({n_features},); got shape {columns.shape}. Compute it with "
                         f"frequency_order on rows of the same width")
    if columns.size and not np.issubdtype(columns.dtype, np.integer):
        raise TypeError(f"columns must be integers; got dtype {columns.dtype}")
    kept = columns >= 0
    n_kept = int(kept.sum())
    if columns.size and (columns.min() < -1 or columns.max() >= n_kept):
        k = int(np.argmax((columns < -1) | (columns >= n_kept)))
        raise ValueError(f"columns must hold -1 (drop) or a new column in [0, {n_kept}) "
                         f"({n_kept} kept); got {columns[k]} at position {k}")
    uses = np.bincount(columns[kept], minlength=n_kept)
    if n_kept and uses.max() > 1:
        k = int(np.argmax(uses > 1))
        raise ValueError(f"columns must give each kept column a new number of its own; "
                         f"{k} is given to {int(uses[k])} columns")
    return columns.astype(np.int32), n_kept


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
