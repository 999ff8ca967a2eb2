"""What the IMDB examples share: their common options, the data as multi-hot matrices, the
notebook's model, stage timing, matplotlib and the results file.

`examples/imdb.py` ("Classifying movie reviews") and `examples/overfitting.py` ("Overfitting
and underfitting") import it; it is not part of `nn`.
"""

import json
import resource
import sys
import time

import numpy as np

import nn
from nn import layers, models, optimizers
from nn.datasets import imdb
from nn.preprocessing import vectorize_sequences

NUM_WORDS = 10000
DATA_HELP = ("a local copy of the dataset: a folder holding aclImdb*.tar.gz (or aclImdb/ or "
             "imdb.npz) and imdb_word_index.json; default: NN_DATA_DIR, the cache, or a download")
BACKEND_HELP = ("numba (compiled kernels) or numpy (the same math in plain NumPy); default: "
                "NN_BACKEND, else numba")


def add_common_arguments(parser, out_default, out_help, batch_size=512,
                         batch_help="mini-batch size"):
    """The options every IMDB example takes: --data, --out, --backend, --batch-size, --quiet.
    ``batch_size=None`` leaves the batch size to the example (say which in ``batch_help``)."""
    parser.add_argument("--data", metavar="PATH", default=None, help=DATA_HELP)
    parser.add_argument("--out", metavar="DIR", default=out_default, help=out_help)
    parser.add_argument("--backend", choices=nn.backend.NAMES, default=None, help=BACKEND_HELP)
    parser.add_argument("--batch-size", type=int, default=batch_size, help=batch_help)
    parser.add_argument("--quiet", action="store_true", help="print only the results")


def require_positive(parser, args, names):
    """``parser.error`` naming the first option of ``names`` below 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1; got "
                         f"{getattr(args, name)}")


def select_backend(name):
    """Switch to backend ``name`` (None: keep the default) and print the one in use; False,
    with the reason on stderr, when it cannot be used (numba missing)."""
    if name is not None:
        try:
            nn.set_backend(name)
        except ImportError as e:
            print(f"error: {e}", file=sys.stderr)
            return False
    print(f"backend: {nn.backend.name()}")
    return True


def report_load_error(error):
    """The message a failed load prints (stderr) instead of a traceback; exit status 2."""
    print(f"error: could not load the IMDB data.\n{error}", file=sys.stderr)
    return 2


def load_multi_hot(path=None):
    """``(x_train, y_train, x_test, y_test)`` from ``imdb.load_data(path=path,
    num_words=NUM_WORDS)``: sparse multi-hot rows of ``NUM_WORDS`` columns and float32 labels.
    Raises OSError or ValueError when the data cannot be read."""
    (train_data, train_labels), (test_data, test_labels) = imdb.load_data(
        path=path, num_words=NUM_WORDS)
    x_train = vectorize_sequences(train_data, dimension=NUM_WORDS)
    del train_data
    x_test = vectorize_sequences(test_data, dimension=NUM_WORDS)
    return (x_train, np.asarray(train_labels).astype("float32"),
            x_test, np.asarray(test_labels).astype("float32"))


def build_model(seed, hidden=(16, 16), activation="relu", loss="binary_crossentropy",
                input_dim=NUM_WORDS, metrics=("binary_accuracy",), regularizer=None,
                dropout=0.0):
    """The notebook's model, compiled: Dense(``hidden``[i], ``activation``) layers, each
    followed by Dropout(``dropout``) when it is above 0, then Dense(1, sigmoid); RMSprop
    (learning rate 0.001). ``regularizer`` is None or a function returning a fresh
    regularizer for each hidden layer's kernel (``lambda: regularizers.l2(0.001)``)."""
    model = models.Sequential(seed=seed)
    for i, units in enumerate(hidden):
        extra = {"input_shape": (input_dim,)} if i == 0 else {}
        if regularizer is not None:
            extra["kernel_regularizer"] = regularizer()
        model.add(layers.Dense(units, activation=activation, **extra))
        if dropout:
            model.add(layers.Dropout(dropout))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.001), loss=loss,
                  metrics=list(metrics))
    return model


class Stages:
    """Wall time of each stage of the run."""

    def __init__(self):
        self.times = {}
        self.start = time.perf_counter()

    def __call__(self, name):
        self.current = name
        self._t = time.perf_counter()
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.times[self.current] = time.perf_counter() - self._t


def pyplot():
    """matplotlib on its Agg backend, imported only when the first figure is drawn (it costs
    ~30 MB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(results, stages, out, say):
    """Print the time of each stage, the total and the peak memory; write results.json."""
    total = time.perf_counter() - stages.start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, seconds in stages.times.items():
        say(f"{name:<32}{seconds:7.2f} s")
    print(f"total {total:.2f} s, peak memory {peak_mb:.0f} MB")
    results.update(stage_seconds=stages.times, total_seconds=total, peak_memory_mb=peak_mb)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return 0
