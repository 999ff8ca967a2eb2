"""One point of the scaling curves: seconds per epoch of nn training the notebook's model
(Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid), RMSprop, binary crossentropy) on
sparse input of a given width, batch size and thread count.

An epoch is what the notebook runs: the 15,000 training rows (train[10000:]) in shuffled
batches of ``--batch-size``, then a forward pass over the 10,000 validation rows
(train[:10000]). The first epoch is warm-up (JIT load, page faults); the others are timed.

The input is either the notebook's own (``--features 0``: DATA.npz's multi-hot words, 10,000
columns), or the reviews' unigrams and bigrams hashed into ``--features`` columns
(``--tokens TOKENS.npz``, see `data.hashed_features`: nn.preprocessing.hashed_ngrams when nn
has it, else NumPy). ``--order frequency`` renumbers the columns by how many training rows
hold them, most frequent first (`nn.preprocessing.frequency_order` on train[10000:], applied
to every row): the same features, with the rows of W1 that most batches touch packed at its
start, in cache; ``--min-df 2`` also drops the columns of a single training row (fewer
features: not the same input). Building the input is not timed. Thread counts are pinned in the
environment before numpy and numba load (`peers/common.parse_args`). Prints one JSON line.

    python -m benchmarks.scaling --data DATA.npz --tokens TOKENS.npz --features 1048576 \
        --batch-size 512 --epochs 6 --threads 2 [--order frequency]
"""

import json
import sys

from benchmarks.peers import common  # standard library only: must run before numpy loads


def add_options(parser):
    parser.add_argument("--tokens", default=None, help="TOKENS.npz written by data.py")
    parser.add_argument("--features", type=int, default=0,
                        help="input width: the reviews' unigrams + bigrams hashed into this "
                             "many columns (needs --tokens); 0: DATA.npz's multi-hot words")
    parser.add_argument("--batch-size", type=int, default=common.BATCH_SIZE)
    parser.add_argument("--order", choices=["hash", "frequency"], default="hash",
                        help="column order: as hashed, or renumbered by training document "
                             "frequency (the same features, most frequent first)")
    parser.add_argument("--min-df", type=int, default=1,
                        help="with --order frequency: drop columns held by fewer training rows")


def load_input(args):
    """(x CSRMatrix over the 25,000 training reviews, labels, description)."""
    from benchmarks import data as bench_data
    from nn.sparse import CSRMatrix

    if args.features:
        tok = bench_data.load(args.tokens)
        indptr, indices, values, source = bench_data.hashed_features(
            tok["train_offsets"], tok["train_tokens"], args.features)
        labels, n_features = tok["train_labels"], args.features
    else:
        d = bench_data.load(args.data)
        indptr, indices, values = d["train_indptr"], d["train_indices"], None
        labels, n_features = d["train_labels"], int(d["n_features"])
        source = "multi-hot words (DATA.npz)"
    x = CSRMatrix(indptr, indices, (len(indptr) - 1, n_features), data=values)
    if args.order == "frequency":
        x = renumber(x, args.min_df)
        source += (", renumbered by training document frequency" +
                   (f", min_df {args.min_df}" if args.min_df > 1 else ""))
    return x, labels, source


def renumber(x, min_df):
    """``x`` with its columns renumbered by document frequency in the training rows
    (train[10000:]; the validation rows only receive the map)."""
    from nn.preprocessing import frequency_order, renumber_columns

    columns = frequency_order(x[common.N_VALIDATION:], min_df=min_df)
    return renumber_columns(x, columns)


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], add_options)
    if args.features and not args.tokens:
        sys.exit("--features needs --tokens TOKENS.npz")
    if args.min_df != 1 and args.order != "frequency":
        sys.exit(f"--min-df {args.min_df} needs --order frequency")
    if args.min_df < 1:
        sys.exit(f"--min-df must be at least 1; got {args.min_df}")
    import numba
    import numpy as np
    from nn import layers, models, optimizers

    with common.Timer() as prepare:
        x, labels, source = load_input(args)
        n = common.N_VALIDATION
        x_val, x_train, y_val, y_train = x[:n], x[n:], labels[:n], labels[n:]
    n_features = x.shape[1]

    model = models.Sequential(seed=args.seed)
    model.add(layers.Dense(common.UNITS[0], activation="relu", input_shape=(n_features,)))
    model.add(layers.Dense(common.UNITS[1], activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=common.LEARNING_RATE,
                                               rho=common.RHO, epsilon=common.EPSILON),
                  loss="binary_crossentropy", metrics=["binary_accuracy"])
    timer = common.EpochTimer()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_data=(x_val, y_val), verbose=0, callbacks=[timer])
    print(json.dumps({
        "features": n_features, "batch_size": args.batch_size, "threads": args.threads,
        "numba_threads": numba.get_num_threads(), "epoch_seconds": timer.seconds,
        "input": source, "order": args.order, "min_df": args.min_df,
        "nnz_per_row": float(np.diff(x.indptr).mean()),
        "train_nnz": int(x_train.nnz), "val_nnz": int(x_val.nnz),
        "w1_mb": n_features * common.UNITS[0] * 4 / 1e6,
        "prepare_seconds": prepare.seconds, "peak_rss_mb": common.peak_rss_mb(),
        "val_accuracy_last": float(timer.logs.get("val_binary_accuracy", float("nan")))}),
        flush=True)


if __name__ == "__main__":
    main()
