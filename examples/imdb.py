"""Classifying movie reviews: the Keras book notebook, step by step, with `nn`.

Loads IMDB (the 10,000 most frequent words), turns each review into a multi-hot vector (kept
sparse: only the ~130 ones per row are stored), trains Dense(16, relu) -> Dense(16, relu) ->
Dense(1, sigmoid) with RMSprop and binary crossentropy, plots the learning curves, retrains
for 4 epochs on all 25,000 reviews and evaluates on the 25,000 test reviews (about 88%), and
saves that model for examples/predict.py.

    python examples/imdb.py                    # the whole notebook, in seconds
    python examples/imdb.py --dense            # the same on dense input, to compare
    python examples/imdb.py --experiments      # the notebook's "further experiments"
    python examples/imdb.py --early-stopping   # stop when validation loss turns
    NN_BACKEND=numpy python examples/imdb.py   # the same math in plain NumPy, no numba

Run with --help for every option.
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

import nn
from _common import (NUM_WORDS, Stages, add_common_arguments, build_model, finish, pyplot,
                     report_load_error, require_positive, select_backend)
from _figures import FigureError, FigureProcess
from _warmup import start_if_cold, wait_until_ready
from nn import callbacks
from nn.datasets import imdb
from nn.preprocessing import vectorize_sequences

# The notebook's "further experiments". Each entry changes the baseline (two hidden layers of
# 16 relu units, binary crossentropy); add a line to try something else.
BASELINE = {"hidden": [16, 16], "activation": "relu", "loss": "binary_crossentropy"}
EXPERIMENTS = [
    ("baseline: 2 x 16 relu, bce", {}),
    ("1 hidden layer", {"hidden": [16]}),
    ("3 hidden layers", {"hidden": [16, 16, 16]}),
    ("32 units", {"hidden": [32, 32]}),
    ("64 units", {"hidden": [64, 64]}),
    ("mse loss", {"loss": "mse"}),
    ("tanh activation", {"activation": "tanh"}),
]


# The notebook's settings, and those of the hashed n-gram path (--ngrams N > 1), chosen on the
# validation split (docs/ngrams.md): 2**23 columns keep the ~2.5 M word pairs and ~5 M triples
# of the training reviews from colliding, min_df 3 drops the n-grams of one or two reviews, and
# batches of 128 bring the lowest validation loss forward to epoch 2.
NOTEBOOK_DEFAULTS = {"epochs": 20, "batch_size": 512}
NGRAM_DEFAULTS = {"epochs": 4, "batch_size": 128, "features": 2**23, "min_df": 3}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_arguments(p, "imdb_output",
                         "folder for the figures, results.json and the final model (model.npz, "
                         "which examples/predict.py reads; not with --ngrams)",
                         batch_size=None, batch_help="mini-batch size; default "
                         f"{NOTEBOOK_DEFAULTS['batch_size']}, or "
                         f"{NGRAM_DEFAULTS['batch_size']} with --ngrams")
    p.add_argument("--seed", type=int, default=1, help="seed for weights and shuffling")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs of the run with a validation split (the learning curves; with "
                        "--ngrams the final run takes the epoch of lowest validation loss); "
                        "default 20, or 4 with --ngrams")
    p.add_argument("--final-epochs", type=int, default=4,
                   help="epochs of the final run on all 25,000 training reviews")
    p.add_argument("--dense", action="store_true",
                   help="feed dense float32 matrices instead of sparse ones (slower, ~2 GB)")
    p.add_argument("--early-stopping", action="store_true",
                   help="stop the validation run when val_loss stops improving, restore the "
                        "best weights, and train the final model for that many epochs")
    p.add_argument("--experiments", action="store_true",
                   help="also run the notebook's further experiments (layers, units, mse, "
                        "tanh), each with several seeds")
    p.add_argument("--experiment-seeds", type=int, default=3, metavar="N",
                   help="seeds per experiment")
    p.add_argument("--ngrams", type=int, default=1, metavar="N",
                   help="beyond the notebook: N > 1 trains Dense(16, relu) -> Dense(1, sigmoid) "
                        "on hashed 1..N-grams of the whole vocabulary, weighted by naive-Bayes "
                        "log-count ratios from the training labels, instead of the notebook's "
                        "10,000-word multi-hot input; --ngrams 3 with the defaults below: "
                        "92.2%% test accuracy (seeds 1-3)")
    p.add_argument("--features", type=power_of_two, default=NGRAM_DEFAULTS["features"],
                   metavar="2**K",
                   help="columns of the hashed n-gram input (a power of two, e.g. 2**20)")
    p.add_argument("--order", choices=["frequency", "hash"], default="frequency",
                   help="with --ngrams: renumber the hashed columns by how many training "
                        "reviews hold them, most frequent first (the same features; the "
                        "weights a batch touches most stay in cache), or keep the hash order")
    p.add_argument("--min-df", type=int, default=None, metavar="N",
                   help="with --ngrams and --order frequency: drop the columns held by fewer "
                        "than N training reviews (2: the n-grams of a single review); default "
                        f"{NGRAM_DEFAULTS['min_df']} with --order frequency, else 1")
    args = p.parse_args(argv)
    defaults = NGRAM_DEFAULTS if args.ngrams > 1 else NOTEBOOK_DEFAULTS
    for key in ("epochs", "batch_size"):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.min_df is None:
        args.min_df = NGRAM_DEFAULTS["min_df"] if args.order == "frequency" else 1
    if args.ngrams < 1:
        p.error("--ngrams must be at least 1")
    if args.min_df < 1 or (args.min_df > 1 and args.order != "frequency"):
        p.error(f"--min-df must be at least 1, and above 1 needs --order frequency; got "
                f"{args.min_df} with --order {args.order}")
    require_positive(p, args, ("epochs", "final_epochs", "batch_size", "experiment_seeds"))
    return args


def power_of_two(text):
    """argparse type: "2**20" or "1048576"."""
    try:
        base, _, exp = text.partition("**")
        value = int(base) ** int(exp) if exp else int(base)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a power of two such as 2**20; got {text!r}")
    if value < 1 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"expected a power of two such as 2**20; got {text!r}")
    return value


def run_ngrams(args, stages, say, verbose):
    """Hashed n-grams: pick the epochs on the validation split, retrain on all, test once."""
    from nn.preprocessing import (frequency_order, hashed_ngrams, nb_weights,
                                  renumber_columns, weight_columns)

    with stages("1. load"):
        (train_data, y), (test_data, y_test) = imdb.load_data(path=args.data, num_words=None)
    with stages("2. hash n-grams"):
        x = hashed_ngrams(train_data, ngram_range=(1, args.ngrams), n_features=args.features)
        x_test = hashed_ngrams(test_data, ngram_range=(1, args.ngrams), n_features=args.features)
        y, y_test = y.astype("float32"), y_test.astype("float32")
        del train_data, test_data
        if args.order == "frequency":  # counted on the training reviews, never the test ones
            columns = frequency_order(x, min_df=args.min_df)
            x, x_test = renumber_columns(x, columns), renumber_columns(x_test, columns)
    say(f"1..{args.ngrams}-grams hashed into {args.features:,} columns ({x.shape[1]:,} kept, "
        f"{args.order} order): "
        f"{x.nnz / len(y):.0f} per review, {(x.nbytes + x_test.nbytes) / 1e6:.0f} MB")

    def train(x_fit, y_fit, epochs, **fit_args):
        r = nb_weights(x_fit, y_fit)  # from the labels of the rows trained on, never others
        model = build_model(args.seed, hidden=(16,), input_dim=x.shape[1])
        history = model.fit(weight_columns(x_fit, r), y_fit, epochs=epochs,
                            batch_size=args.batch_size, verbose=verbose, **fit_args)
        return model, history, r

    with stages("3. choose epochs on validation"):
        r = nb_weights(x[10000:], y[10000:])
        _, history, _ = train(x[10000:], y[10000:], args.epochs,
                              validation_data=(weight_columns(x[:10000], r), y[:10000]))
    best = int(np.argmin(history.history["val_loss"])) + 1
    say(f"lowest validation loss {min(history.history['val_loss']):.4f} at epoch {best}")
    with stages("4. train on all and evaluate"):
        model, _, r = train(x, y, best)
        loss, acc = model.evaluate(weight_columns(x_test, r), y_test, batch_size=2048,
                                   verbose=verbose)
    print(f"test [loss, accuracy] after {best} epochs: [{loss:.4f}, {acc:.4f}] "
          f"(the notebook: 0.88; NBSVM with trigrams, Mesnil et al. 2015: 0.9187)")
    return {"history": history.history, "best_epoch": best, "test_loss": loss,
            "test_accuracy": acc, "final_epochs": best, "order": args.order,
            "min_df": args.min_df, "columns": x.shape[1]}


def plot_history(h, out):
    """The notebook's two figures from ``h`` (``history.history``), with the epoch of lowest
    validation loss marked, written into the folder ``out``. Returns the paths (str) and that
    epoch."""
    plt = pyplot()
    out = Path(out)
    epochs = np.arange(1, len(h["loss"]) + 1)
    best = int(np.argmin(h["val_loss"])) + 1
    paths = []
    for key, label in (("loss", "Loss"), ("binary_accuracy", "Accuracy")):
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
        ax.plot(epochs, h[key], "bo", label=f"Training {label.lower()}")
        ax.plot(epochs, h[f"val_{key}"], "b", label=f"Validation {label.lower()}")
        ax.axvline(best, color="0.6", linestyle="--",
                   label=f"Lowest validation loss (epoch {best})")
        ax.set_title(f"Training and validation {label.lower()}")
        ax.set_xlabel("Epochs")
        ax.set_ylabel(label)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend()
        fig.tight_layout()
        path = out / f"{key.replace('binary_', '')}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(str(path))
    return paths, best


def show_predictions(model, x_test, y_test, test_data, word_index, say, k=3):
    """A few confident and a few unsure test predictions, with the start of each review."""
    p = model.predict(x_test, batch_size=2048)[:, 0]
    order = np.argsort(np.abs(p - 0.5))
    picks = [("confident", i) for i in order[::-1][:k]] + [("unsure", i) for i in order[:k]]
    say(f"{'':10}{'review':>7} {'p(pos)':>7} {'label':>6}  text")
    for kind, i in picks:
        text = imdb.decode_review(test_data[i], word_index)[2:72]
        say(f"{kind:10}{i:>7} {p[i]:>7.3f} {int(y_test[i]):>6}  {text}...")
    return p


def run_experiments(args, x, y, x_test, y_test, out, say):
    """Train each configuration with several seeds; pick the epoch by validation loss."""
    x_val, x_part, y_val, y_part = x[:10000], x[10000:], y[:10000], y[10000:]
    rows = []
    for name, change in EXPERIMENTS:
        config = {**BASELINE, **change}
        accs, bests = [], []
        for seed in range(args.seed, args.seed + args.experiment_seeds):
            model = build_model(seed, config["hidden"], config["activation"], config["loss"])
            stopper = callbacks.EarlyStopping(patience=args.epochs, restore_best_weights=True)
            model.fit(x_part, y_part, epochs=args.epochs, batch_size=args.batch_size,
                      validation_data=(x_val, y_val), verbose=0, callbacks=[stopper])
            accs.append(model.evaluate(x_test, y_test, batch_size=2048, verbose=0)[1])
            bests.append(stopper.best_epoch + 1)
        rows.append({"experiment": name, "mean": float(np.mean(accs)),
                     "std": float(np.std(accs)), "min": float(np.min(accs)),
                     "max": float(np.max(accs)), "best_epochs": bests})
        say(f"  {name:<28} test accuracy {np.mean(accs):.4f} +- {np.std(accs):.4f}  "
            f"best epochs {bests}")
    lines = ["| experiment | test accuracy (mean +- std) | min | max | best epoch by val_loss |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['experiment']} | {r['mean']:.4f} +- {r['std']:.4f} | {r['min']:.4f} | "
              f"{r['max']:.4f} | {', '.join(map(str, r['best_epochs']))} |" for r in rows]
    (out / "experiments.md").write_text(
        f"Test accuracy of each configuration over {args.experiment_seeds} seeds; weights "
        f"restored at the epoch of lowest validation loss (of {args.epochs}).\n\n"
        + "\n".join(lines) + "\n")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=100)
    names = [r["experiment"] for r in rows]
    ax.barh(names, [r["mean"] for r in rows], xerr=[r["std"] for r in rows], color="tab:blue")
    lo = min(r["min"] for r in rows)
    ax.set_xlim(max(0.0, lo - 0.02), min(1.0, max(r["max"] for r in rows) + 0.01))
    ax.invert_yaxis()
    ax.set_xlabel("Test accuracy (mean and std over seeds)")
    ax.set_title("Further experiments")
    fig.tight_layout()
    fig.savefig(out / "experiments.png")
    plt.close(fig)
    return rows


def main(argv=None):
    args = parse_args(argv)
    say = (lambda *a, **k: None) if args.quiet else print
    verbose = 0 if args.quiet else 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not select_backend(args.backend):
        return 2
    stages = Stages()
    results = {"seed": args.seed, "input": "dense" if args.dense else "sparse",
               "backend": nn.backend.name()}
    if args.ngrams > 1:
        try:
            results.update(run_ngrams(args, stages, say, verbose), ngrams=args.ngrams,
                           features=args.features)
        except (OSError, ValueError) as e:
            return report_load_error(e)
        return finish(results, stages, out, say)
    # On a first run a second process compiles the training kernels while this one loads the
    # data, then the parallel ones while it trains (examples/_warmup.py; None when numba's
    # cache has them). The figures are drawn by a process started now: it imports matplotlib
    # while this one loads the data and trains, and draws while this one trains the final
    # model.
    compiling = None if args.dense else start_if_cold()
    status = None
    try:
        with FigureProcess("imdb", "plot_history") as figures:
            status = run_notebook(args, stages, results, compiling, figures, out, say,
                                  verbose)
    finally:
        if compiling is not None:
            if status != 0:  # the run failed: the compiler need not finish
                compiling.kill()
            compiling.wait()  # after a run, it may still compile the parallel kernels
    return status


def run_notebook(args, stages, results, compiling, figures, out, say, verbose):
    """The notebook, step by step. ``compiling`` (a process compiling the training kernels, or
    None) is waited for before training, until its serial kernels are cached; ``figures`` (a
    FigureProcess) draws the learning curves."""
    with stages("1. load"):
        try:
            # Only indices below NUM_WORDS are left to decode (the others became oov_char), so
            # only their words are kept, not the whole 88,584-word dict. Read before the data:
            # after it, the temporaries of json.load stay held (~4 MB more at the peak).
            word_index = {word: rank for word, rank in imdb.get_word_index(path=args.data).items()
                          if rank + 3 < NUM_WORDS}
            (train_data, train_labels), (test_data, test_labels) = imdb.load_data(
                path=args.data, num_words=NUM_WORDS)
        except (OSError, ValueError) as e:
            return report_load_error(e)
    say(f"train reviews: {len(train_data)}, test reviews: {len(test_data)}")
    say(f"train_data[0][:10] = {train_data[0][:10]}")
    say(f"train_labels[0] = {train_labels[0]}")
    say(f"largest word index = {max(max(sequence) for sequence in train_data)}")
    say(f"first review: {imdb.decode_review(train_data[0], word_index)[:300]}...")

    with stages("2. vectorize"):
        x_train = vectorize_sequences(train_data, dimension=NUM_WORDS)
        del train_data  # the multi-hot matrix replaces it: 24 MB less at the peak
        x_test = vectorize_sequences(test_data, dimension=NUM_WORDS)
        y_train = np.asarray(train_labels).astype("float32")
        y_test = np.asarray(test_labels).astype("float32")
        sparse_mb = (x_train.nbytes + x_test.nbytes) / 1e6
        dense_mb = (len(x_train) + len(x_test)) * NUM_WORDS * 8 / 1e6
        if args.dense:
            x_train, x_test = x_train.toarray(np.float32), x_test.toarray(np.float32)
    say(f"multi-hot train + test: {sparse_mb:.1f} MB sparse; the notebook's dense float64 "
        f"matrices would take {dense_mb:,.0f} MB ({dense_mb / sparse_mb:.0f}x more)")
    results["memory_mb"] = {"sparse": sparse_mb, "dense_float64": dense_mb}

    x_val, partial_x_train = x_train[:10000], x_train[10000:]
    y_val, partial_y_train = y_train[:10000], y_train[10000:]
    model = build_model(args.seed)
    if not args.quiet:
        model.summary()
    with stages("3. train with validation"):
        wait_until_ready(compiling)
        extra = [callbacks.EarlyStopping(restore_best_weights=True)] \
            if args.early_stopping else []
        history = model.fit(partial_x_train, partial_y_train, epochs=args.epochs,
                            batch_size=args.batch_size, validation_data=(x_val, y_val),
                            verbose=verbose, callbacks=extra)
    best = int(np.argmin(history.history["val_loss"])) + 1
    say(f"lowest validation loss {min(history.history['val_loss']):.4f} at epoch {best}")
    results["history"] = history.history
    results["best_epoch"] = best
    figures.draw(history.history, str(out))

    final_epochs = best if args.early_stopping else args.final_epochs
    with stages("4. train on all and evaluate"):
        model = build_model(args.seed)
        model.fit(x_train, y_train, epochs=final_epochs, batch_size=args.batch_size,
                  verbose=verbose)
        test_loss, test_acc = model.evaluate(x_test, y_test, verbose=verbose)
    print(f"test [loss, accuracy] after {final_epochs} epochs: "
          f"[{test_loss:.4f}, {test_acc:.4f}]")
    results.update(test_loss=test_loss, test_accuracy=test_acc, final_epochs=final_epochs)
    model.save(out / "model.npz")
    say(f"model: {out / 'model.npz'} (python examples/predict.py \"your review\" explains "
        "its predictions)")

    with stages("5. predict"):
        show_predictions(model, x_test, y_test, test_data, word_index, say)

    if args.experiments:
        say("further experiments:")
        with stages("6. experiments"):
            results["experiments"] = run_experiments(args, x_train, y_train, x_test, y_test,
                                                     out, say)
        say(f"table: {out / 'experiments.md'}, chart: {out / 'experiments.png'}")

    status = 0
    with stages("7. figures (waiting for them)"):
        try:
            paths, _ = figures.result()
            say(f"figures: {', '.join(paths)}")
        except FigureError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return finish(results, stages, out, say) or status


if __name__ == "__main__":
    status = main()
    # Every file is written and closed: skip the interpreter's teardown, which takes ~0.3 s
    # once numba's compiled kernels are loaded (docs/performance.md, "First run").
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
