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
  ``nn.sparse.vectorize_sequences`` (needs the data, e.g. ``NN_DATA_DIR=/work/shared/data``).
- `synthetic`: the same shape without the data set: review lengths drawn log-normally, words
  from a Zipf-like law over the vocabulary (about 130 distinct words per review, like IMDB),
  and some from a positive or a negative word list according to the label, so that the book's
  model reaches about 85-90% test accuracy and overfits after a few epochs, as on IMDB.

    python benchmarks/data.py --source synthetic --out /tmp/DATA.npz
"""

import argparse
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
    rng = np.random.default_rng(seed)
    n = n_train + n_test
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

    keys = np.concatenate([rows * n_features + tokens,
                           np.arange(n, dtype=np.int64) * n_features + 1])
    keys.sort()
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # distinct words per row
    indices = (keys % n_features).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // n_features, minlength=n), out=indptr[1:])
    labels ^= rng.random(n) < label_noise
    return split(indptr, indices, labels.astype(np.float32), n_train, n_features)


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


def imdb(path=None, num_words=N_FEATURES):
    """The real IMDB reviews, multi-hot, through nn's loader (imported here, not at the top,
    so the synthetic path works without nn)."""
    from nn.datasets import imdb as imdb_loader
    from nn.sparse import vectorize_sequences

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
    args = parser.parse_args()
    start = time.perf_counter()
    arrays = synthetic(seed=args.seed) if args.source == "synthetic" else imdb(args.path)
    save(args.out, arrays)
    print(f"{args.source} -> {args.out} in {time.perf_counter() - start:.1f} s: "
          f"{describe(arrays)}")


if __name__ == "__main__":
    main()
