"""nn's hashed n-gram path, as ``python examples/imdb.py --ngrams 3`` trains its final model
(`NGRAM_DEFAULTS` there, docs/ngrams.md): hashed 1-3-grams of the whole vocabulary into
2**23 columns (`nn.preprocessing.hashed_ngrams`), renumbered by training document frequency
with min_df 3 (`frequency_order`, `renumber_columns`), scaled by naive-Bayes log-count
ratios from the training labels (`nb_weights`, `weight_columns`), Dense(16, relu) ->
Dense(1, sigmoid), RMSprop 1e-3, batch 128, 2 epochs on all 25,000 training reviews (the
epoch of lowest validation loss that examples/imdb.py picks for seeds 1-3), then the 25,000
test reviews scored once.

Timed apart: ``hash_seconds`` (hashing train and test, the frequency order, renumbering,
the NB weights and the weighted matrices: from token ids to the model's input),
``train_seconds`` (the ``fit`` call, minus the checkpoints below) and ``test_seconds``
(``evaluate`` on the test set). ``--checkpoints K`` times per epoch (at the ends of batches
``round(k * n_batches / K)``, recorded as epoch + k / K) a callback scores the test set with
``predict``; the clock of ``train_seconds`` stops meanwhile, so ``curve`` holds (epoch
fraction, cumulative training seconds, test accuracy) as training alone would have reached
them. Prints one JSON line (`ngram_common`).

    python -m benchmarks.peers.nn_ngrams --tokens TOKENS.npz --seed 1 --threads 2
"""

import time

from benchmarks.peers import ngram_common

SYSTEM = "nn"
# examples/imdb.py --ngrams 3: NGRAM_DEFAULTS, and the final run's epochs for seeds 1-3
DEFAULTS = {"ngram": 3, "features": 2**23, "min_df": 3, "batch_size": 128, "epochs": 2,
            "hidden": 16, "learning_rate": 1e-3}
EVAL_BATCH_SIZE = 2048  # as examples/imdb.py evaluates


def add_options(parser):
    parser.add_argument("--tokens", required=True, help="TOKENS.npz written by benchmarks.data")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    parser.add_argument("--features", type=int, default=DEFAULTS["features"])
    parser.add_argument("--ngram", type=int, default=DEFAULTS["ngram"])
    parser.add_argument("--min-df", type=int, default=DEFAULTS["min_df"])
    parser.add_argument("--checkpoints", type=int, default=8,
                        help="test-set scorings per epoch, outside the timed region")


class Checkpoints:
    """A callback for nn's fit: at chosen batch ends, stop the training clock, score the test
    set, record (epoch fraction, training seconds so far, accuracy), restart the clock."""

    def __init__(self, model, x_test, y_test, n_batches, per_epoch):
        self.model, self.x_test, self.y_test = model, x_test, y_test
        self.n_batches = n_batches
        # batch end -> its nominal fraction of the epoch (k / per_epoch)
        self.marks = {max(1, round(k * n_batches / per_epoch)): k / per_epoch
                      for k in range(1, per_epoch + 1)}
        self.curve, self.excluded, self.epoch = [], 0.0, 0
        self.start = None

    def begin(self):
        self.start = time.perf_counter()

    def training_seconds(self, now=None):
        return (now or time.perf_counter()) - self.start - self.excluded

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 not in self.marks:
            return
        now = time.perf_counter()
        p = self.model.predict(self.x_test, batch_size=EVAL_BATCH_SIZE)[:, 0]
        accuracy = float(((p > 0.5) == (self.y_test > 0.5)).mean())
        self.curve.append({"epoch": self.epoch + self.marks[batch + 1],
                           "batches": self.epoch * self.n_batches + batch + 1,
                           "train_seconds": self.training_seconds(now),
                           "test_accuracy": accuracy})
        self.excluded += time.perf_counter() - now


def main():
    args = ngram_common.parse_args(__doc__.split("\n\n")[0], add_options)
    start = time.perf_counter()
    import numpy as np

    import nn
    from nn import layers, models, optimizers
    from nn.preprocessing import (frequency_order, hashed_ngrams, nb_weights,
                                  renumber_columns, weight_columns)
    from nn.sequences import Sequences
    import_seconds = time.perf_counter() - start

    with np.load(args.tokens) as f:
        seqs = {s: Sequences(f[f"{s}_tokens"], f[f"{s}_offsets"]) for s in ("train", "test")}
        y, y_test = f["train_labels"].astype(np.float32), f["test_labels"].astype(np.float32)

    stages = {}
    start = time.perf_counter()
    x = hashed_ngrams(seqs["train"], ngram_range=(1, args.ngram), n_features=args.features)
    x_test = hashed_ngrams(seqs["test"], ngram_range=(1, args.ngram), n_features=args.features)
    stages["hashed_ngrams"] = time.perf_counter() - start
    mark = time.perf_counter()
    columns = frequency_order(x, min_df=args.min_df)  # training reviews only
    x, x_test = renumber_columns(x, columns), renumber_columns(x_test, columns)
    stages["frequency_order"] = time.perf_counter() - mark
    mark = time.perf_counter()
    r = nb_weights(x, y)  # training labels only
    x, x_test = weight_columns(x, r), weight_columns(x_test, r)
    stages["nb_weights"] = time.perf_counter() - mark
    hash_seconds = time.perf_counter() - start

    model = models.Sequential(seed=args.seed)
    model.add(layers.Dense(DEFAULTS["hidden"], activation="relu", input_shape=(x.shape[1],)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=DEFAULTS["learning_rate"]),
                  loss="binary_crossentropy", metrics=["binary_accuracy"])
    n_batches = -(-len(y) // args.batch_size)
    checkpoints = Checkpoints(model, x_test, y_test, n_batches, args.checkpoints)
    checkpoints.begin()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=0,
              callbacks=[checkpoints])
    train_seconds = checkpoints.training_seconds()
    start = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=EVAL_BATCH_SIZE,
                                              verbose=0)
    test_seconds = time.perf_counter() - start

    versions = {"nn": getattr(nn, "__version__", "unknown"), "nn_backend": nn.backend.name(),
                "numpy": np.__version__}
    settings = {"ngram_range": [1, args.ngram], "features": args.features,
                "columns_kept": int(x.shape[1]), "order": "frequency", "min_df": args.min_df,
                "nb_weights": "alpha 1, training labels", "model": "Dense(16, relu) -> "
                "Dense(1, sigmoid)", "optimizer": "RMSprop 1e-3",
                "batch_size": args.batch_size, "epochs": args.epochs}
    ngram_common.emit(SYSTEM, args, settings=settings, hash_seconds=hash_seconds,
                      hash_stages=stages, train_seconds=train_seconds,
                      test_seconds=test_seconds, test_accuracy=float(test_accuracy),
                      test_loss=float(test_loss), test_reviews=int(len(y_test)),
                      nnz_per_review=float(x.nnz / len(y)), curve=checkpoints.curve,
                      checkpoint_seconds=checkpoints.excluded, import_seconds=import_seconds,
                      versions=versions)


if __name__ == "__main__":
    main()
