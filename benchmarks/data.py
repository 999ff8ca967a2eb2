"""The benchmark's input: IMDB-shaped multi-hot reviews as CSR arrays in one ``.npz``.

Every benchmark reads the same file (the DATA.npz contract):

    train_indptr  int64 (25001,)   train_indices int32 (nnz,)   train_labels float32 (25000,)
    test_indptr   int64 (25001,)   test_indices  int32 (nnz,)   test_labels  float32 (25000,)
    n_features    int64 ()         10000

All values are 1 (multi-hot), column indices sorted and distinct within a row, rows in Keras
order. The peers split it as the Keras book does: validation = train rows [:10000], training =
train rows [10000:].

Two sources:

- `imdb`: the real reviews through ``nn.datasets.imdb.load_data(num_words=10000)`` and
  ``nn.preprocessing.vectorize_sequences`` (needs the data, e.g.
  ``NN_DATA_DIR=/work/shared/data``).
- `synthetic`: the same shape without the data set: review lengths drawn log-normally, words
  from a Zipf-like law over the vocabulary (about 130 distinct words per review, like IMDB),
  and some from a positive or a negative word list according to the label, so that the book's
  model reaches about 85-90% test accuracy and overfits after a few epochs, as on IMDB.

The scaling benchmark also needs the reviews as token sequences (word order kept), to hash
their n-grams into inputs of any width: ``--tokens-out TOKENS.npz`` writes them::

    train_offsets int64 (25001,)   train_tokens int32 (n_tokens,)   train_labels float32
    test_offsets  int64 (25001,)   test_tokens  int32 (n_tokens,)   test_labels  float32
    vocabulary    int64 ()         (largest token id + 1)

from IMDB with its whole vocabulary (``num_words=None``, ~88,600 words), or the synthetic
reviews' tokens in the order drawn. `hashed_features` turns them into multi-hot CSR of hashed
unigrams and bigrams: ``nn.preprocessing.hashed_ngrams`` when nn has it, else `hash_ngrams`
here (NumPy: a splitmix64 hash of each n-gram, modulo the width, distinct per row).

    python -m benchmarks.data --source synthetic --out /tmp/DATA.npz --tokens-out /tmp/TOKENS.npz
"""

import argparse
import inspect
import time

import numpy as np

N_FEATURES = 10000


def synthetic(n_train=25000, n_test=25000, n_features=N_FEATURES, seed=0,
              sentiment_rate=0.1, label_noise=0.04, n_sentiment_words=300):
    """IMDB-shaped CSR arrays (see the module docstring) from a seeded generator.

    A review of label y is a bag of tokens: most come from a Zipf-like law over the whole
    vocabulary, p(r) ~ 1 / (r + 5); a review-specific fraction (exponential, mean
    ``sentiment_rate``) comes instead from y's own list of ``n_sentiment_words`` words (Zipf
    within the list). Reviews with few sentiment tokens are ambiguous and a fraction
    ``label_noise`` of labels is flipped, so accuracy stays below 100% as it does on IMDB.
    """
    rows, tokens, labels, rng = _synthetic_draw(n_train + n_test, n_features, seed,
                                                sentiment_rate, n_sentiment_words)
    n = n_train + n_test
    keys = np.concatenate([rows * n_features + tokens,
                           np.arange(n, dtype=np.int64) * n_features + 1])
    keys.sort()
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # distinct words per row
    indices = (keys % n_features).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_features, minlength=n), out=indptr[1:])
    labels ^= rng.random(n) < label_noise
    return split(indptr, indices, labels.astype(np.float32), n_train, n_features)


def synthetic_tokens(n_train=25000, n_test=25000, n_features=N_FEATURES, seed=0,
                     sentiment_rate=0.1, label_noise=0.04, n_sentiment_words=300):
    """The token sequences behind `synthetic` (same seed, same reviews and labels), in the
    order drawn and with the start mark 1 in front, as the TOKENS.npz dictionary."""
    n = n_train + n_test
    rows, tokens, labels, rng = _synthetic_draw(n, n_features, seed, sentiment_rate,
                                                n_sentiment_words)
    labels ^= rng.random(n) < label_noise  # the draw `synthetic` makes, in the same order
    counts = np.bincount(rows, minlength=n) + 1
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    flat = np.empty(offsets[-1], dtype=np.int32)
    starts = offsets[:-1]
    flat[starts] = 1
    keep = np.ones(offsets[-1], dtype=bool)
    keep[starts] = False
    flat[keep] = tokens  # rows is sorted, so tokens are already grouped by review
    return split_tokens(offsets, flat, labels.astype(np.float32), n_train, n_features)


def _synthetic_draw(n, n_features, seed, sentiment_rate, n_sentiment_words):
    """The random part of `synthetic`: (row of each token, token, label, the generator)."""
    rng = np.random.default_rng(seed)
    labels = rng.random(n) < 0.5
    # Review length in tokens: log-normal with a long tail, median chosen so that a review
    # has ~130 distinct words, as in IMDB.
    lengths = np.clip(rng.lognormal(np.log(130), 0.65, n), 10, 2500).astype(np.int64)
    rows = np.repeat(np.arange(n, dtype=np.int64), lengths)
    # Word ids 0..2 are Keras's padding, start and out-of-vocabulary marks: every review
    # holds 1; the others are drawn by inverting the cumulative distribution.
    ranks = np.arange(3, n_features)
    tokens = ranks[draw(1.0 / (ranks - 2 + 5.0), len(rows), rng)]
    sentiment_words = rng.permutation(np.arange(20, n_features // 2))[:2 * n_sentiment_words]
    sentiment_words = sentiment_words.reshape(2, n_sentiment_words)  # [negative, positive]
    rate = np.minimum(sentiment_rate * rng.exponential(1.0, n), 0.5)
    is_sentiment = rng.random(len(rows)) < rate[rows]
    pick = draw(1.0 / (np.arange(n_sentiment_words) + 3.0), int(is_sentiment.sum()), rng)
    tokens[is_sentiment] = sentiment_words[labels[rows[is_sentiment]].astype(int), pick]
    return rows, tokens, labels, rng


def draw(weights, size, rng):
    """``size`` indices into ``weights``, drawn with probability proportional to them."""
    cdf = np.cumsum(weights)
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(size)), len(weights) - 1)


def split(indptr, indices, labels, n_train, n_features):
    """Cut one CSR over train+test rows into the DATA.npz dictionary."""
    cut = indptr[n_train]
    return {"train_indptr": indptr[:n_train + 1].copy(),
            "train_indices": indices[:cut].copy(),
            "train_labels": labels[:n_train].astype(np.float32),
            "test_indptr": indptr[n_train:] - cut,
            "test_indices": indices[cut:].copy(),
            "test_labels": labels[n_train:].astype(np.float32),
            "n_features": np.int64(n_features)}


def split_tokens(offsets, tokens, labels, n_train, vocabulary):
    """Cut one token stream over train+test reviews into the TOKENS.npz dictionary."""
    cut = offsets[n_train]
    return {"train_offsets": offsets[:n_train + 1].copy(),
            "train_tokens": tokens[:cut].astype(np.int32),
            "train_labels": labels[:n_train].astype(np.float32),
            "test_offsets": offsets[n_train:] - cut,
            "test_tokens": tokens[cut:].astype(np.int32),
            "test_labels": labels[n_train:].astype(np.float32),
            "vocabulary": np.int64(vocabulary)}


def imdb_tokens(path=None):
    """The real IMDB reviews as token sequences over the whole vocabulary."""
    from nn.datasets import imdb as imdb_loader

    (x_train, y_train), (x_test, y_test) = imdb_loader.load_data(path=path, num_words=None)
    arrays = {}
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        arrays[f"{name}_offsets"] = np.asarray(x.offsets, dtype=np.int64)
        arrays[f"{name}_tokens"] = np.asarray(x.tokens, dtype=np.int32)
        arrays[f"{name}_labels"] = np.asarray(y, dtype=np.float32)
    arrays["vocabulary"] = np.int64(max(x_train.tokens.max(), x_test.tokens.max()) + 1)
    return arrays


# -- Hashed n-gram features -------------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15


def _mix(z):
    """splitmix64's finalizer: a uint64 array to well-spread uint64 hashes (wraps mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_ngrams(offsets, tokens, n_features, ngram=2):
    """Multi-hot CSR of each sequence's hashed 1..``ngram``-grams (NumPy).

    An n-gram ``(t_0, ..., t_{n-1})`` hashes to ``mix(mix(...mix(t_0 + n*G) + t_1...) + t_{n-1})
    mod n_features`` (``G`` the golden-ratio constant, so orders differ); n-grams never cross
    two reviews; a row keeps each column once (values 1), sorted.

    Returns ``(indptr int64 (n_rows + 1,), indices int32 (nnz,))``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    tokens = np.asarray(tokens).astype(np.uint64)
    n_rows = offsets.size - 1
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    ends = np.repeat(offsets[1:], lengths)
    positions = np.arange(tokens.size, dtype=np.int64)
    keys = []
    for order in range(1, ngram + 1):
        start = positions[positions + order <= ends]  # n-grams within one review
        h = _mix(tokens[start] + np.uint64(order * _GOLDEN % 2**64))
        for q in range(1, order):
            h = _mix(h + tokens[start + q])
        keys.append(rows[start] * n_features + (h % np.uint64(n_features)).astype(np.int64))
    keys = np.concatenate(keys)
    keys.sort()  # by row, then column (np.unique's hash table is ~5x slower here)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # distinct per row
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_features, minlength=n_rows), out=indptr[1:])
    return indptr, (keys % n_features).astype(np.int32)


# Names nn.preprocessing.hashed_ngrams might give its width and n-gram order.
_WIDTH_NAMES = ("n_features", "dimension", "num_features", "n_buckets", "buckets", "width",
                "num_buckets", "n_hashes")
_NGRAM_NAMES = {"ngram_range": (1, 2), "ngrams": 2, "ngram": 2, "n": 2, "max_n": 2,
                "ngram_order": 2, "order": 2}


def hashed_features(offsets, tokens, n_features, ngram=2):
    """Hashed unigrams + bigrams as CSR arrays: ``(indptr, indices, data or None, source)``.

    Uses ``nn.preprocessing.hashed_ngrams`` when nn has it (its signature is inspected for
    the width and n-gram parameter names), else `hash_ngrams`; ``source`` says which, and why
    the fallback was taken."""
    try:
        from nn import preprocessing
        fn = getattr(preprocessing, "hashed_ngrams")
    except (ImportError, AttributeError):
        fn = None
    reason = "nn.preprocessing.hashed_ngrams does not exist"
    if fn is not None:
        try:
            x = _call_nn_hashed(fn, offsets, tokens, n_features, ngram)
            if isinstance(x, tuple):  # (indptr, indices[, data]) rather than a CSRMatrix
                x = argparse.Namespace(indptr=x[0], indices=x[1],
                                       data=x[2] if len(x) > 2 else None)
            data = getattr(x, "data", None)
            if data is not None and np.all(np.asarray(data) == 1):
                data = None
            return (np.asarray(x.indptr, dtype=np.int64), np.asarray(x.indices, dtype=np.int32),
                    data, "nn.preprocessing.hashed_ngrams")
        except Exception as exc:  # noqa: BLE001  (any failure: fall back, and say why)
            reason = f"nn.preprocessing.hashed_ngrams failed: {exc!r}"[:300]
    indptr, indices = hash_ngrams(offsets, tokens, n_features, ngram)
    return indptr, indices, None, f"benchmarks.data hash_ngrams ({reason})"


def _call_nn_hashed(fn, offsets, tokens, n_features, ngram):
    from nn.sequences import Sequences

    params = inspect.signature(fn).parameters
    kwargs = {}
    width = next((name for name in _WIDTH_NAMES if name in params), None)
    if width is None:
        raise TypeError(f"no width parameter among {list(params)}")
    kwargs[width] = n_features
    order = next((name for name in _NGRAM_NAMES if name in params), None)
    if order is not None:
        kwargs[order] = (1, ngram) if order == "ngram_range" else ngram
    return fn(Sequences(tokens, offsets), **kwargs)


def imdb(path=None, num_words=N_FEATURES):
    """The real IMDB reviews, multi-hot, through nn's loader (imported here, not at the top,
    so the synthetic path works without nn)."""
    from nn.datasets import imdb as imdb_loader
    from nn.preprocessing import vectorize_sequences

    (x_train, y_train), (x_test, y_test) = imdb_loader.load_data(path=path,
                                                                 num_words=num_words)
    arrays = {"n_features": np.int64(num_words)}
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        csr = vectorize_sequences(x, dimension=num_words)
        arrays[f"{name}_indptr"] = np.asarray(csr.indptr, dtype=np.int64)
        arrays[f"{name}_indices"] = np.asarray(csr.indices, dtype=np.int32)
        arrays[f"{name}_labels"] = np.asarray(y, dtype=np.float32)
    return arrays


def save(path, arrays):
    """Write the arrays uncompressed (loading then costs a read, not a decompression)."""
    np.savez(path, **arrays)


def load(path):
    """Read a DATA.npz back into a dict of arrays."""
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def describe(arrays):
    """A one-line summary: rows, nonzeros, distinct words per review, positive rate."""
    parts = []
    for name in ("train", "test"):
        nnz_per_row = np.diff(arrays[f"{name}_indptr"])
        parts.append(f"{name}: {len(nnz_per_row)} rows, {nnz_per_row.sum()} nonzeros "
                     f"({nnz_per_row.mean():.1f}/row), "
                     f"{arrays[f'{name}_labels'].mean():.1%} positive")
    return "; ".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=["synthetic", "imdb"], default="synthetic")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--path", default=None, help="imdb: file or folder for load_data")
    parser.add_argument("--tokens-out", default=None,
                        help="also write the token sequences (TOKENS.npz) to this file")
    args = parser.parse_args()
    start = time.perf_counter()
    arrays = synthetic(seed=args.seed) if args.source == "synthetic" else imdb(args.path)
    save(args.out, arrays)
    if args.tokens_out:
        save(args.tokens_out, synthetic_tokens(seed=args.seed) if args.source == "synthetic"
             else imdb_tokens(args.path))
    print(f"{args.source} -> {args.out} in {time.perf_counter() - start:.1f} s: "
          f"{describe(arrays)}")


if __name__ == "__main__":
    main()
