"""What every peer script shares: the command line, thread limits, the data split, CSR batch
gathering, and the one JSON line it prints.

The protocol (one system per process, run by ``benchmarks.run`` from the repository's root)::

    python -m benchmarks.peers.<x> --data DATA.npz --epochs E --seed S --threads T

trains E epochs of the Keras book's IMDB model (the first epoch is warm-up: JIT, tracing,
page faults), then evaluates on the test split, and prints one JSON line with ``system``,
``epoch_seconds``, ``evaluate_seconds``, ``test_loss``, ``test_accuracy``,
``val_accuracy_last``, ``peak_rss_mb``, ``import_seconds``, ``versions`` and ``threads``.

`parse_args` must run before numpy or any framework is imported: it sets the thread
environment variables that OpenBLAS, OpenMP, MKL and numba read once at start-up. So this
module imports only the standard library at the top.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time

# The notebook's model and schedule.
N_VALIDATION = 10000  # x_train[:10000] validates, x_train[10000:] trains
BATCH_SIZE = 512
EVAL_BATCH_SIZE = 32  # Keras's default, which the notebook's evaluate uses
UNITS = (16, 16)  # the hidden layers' widths; `add_units_option` lets a peer take others
LEARNING_RATE, RHO, EPSILON = 0.001, 0.9, 1e-7

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def parse_args(description, extra=None):
    """Parse the common protocol (plus ``extra(parser)`` options) and pin thread counts."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", required=True, help="DATA.npz written by benchmarks.data")
    parser.add_argument("--epochs", type=int, default=6, help="epochs, the first is warm-up")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for BLAS / OpenMP / numba / the framework")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.epochs < 1 or args.threads < 1:
        parser.error("--epochs and --threads must be at least 1")
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's banner off stderr
    return args


def add_units_option(parser):
    """``--units N``: both hidden layers N wide (the notebook's 16 by default; the `wide`
    section trains 512). For the peers whose model follows it: nn_run and keras_tf."""
    parser.add_argument("--units", type=int, default=UNITS[0],
                        help=f"width of both hidden layers (default {UNITS[0]})")


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


class EpochTimer:
    """A callback for nn's fit (a plain object with the two hooks it calls): seconds of each
    epoch, training plus the validation pass, and the last epoch's logs."""

    def __init__(self):
        self.seconds, self.logs = [], {}

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):  # after the validation pass
        self.seconds.append(time.perf_counter() - self.start)
        self.logs = dict(logs or {})


def load_splits(path):
    """The notebook's three splits as CSR triples ``(indptr, indices, labels)``:
    ``train`` = x_train[10000:], ``val`` = x_train[:10000], ``test`` = x_test."""
    return {**dict(iter_splits(path)), "n_features": n_features(path)}


def n_features(path):
    """The width of the matrices in DATA.npz."""
    import numpy as np

    with np.load(path) as f:
        return int(f["n_features"])


def iter_splits(path):
    """``(name, (indptr, indices, labels))`` for ``val``, ``train`` and ``test``, as in
    `load_splits`, reading each file array only when its split comes: a caller that turns
    each split into its own matrix and drops the triple never holds the raw arrays of all
    three splits (26 MB for IMDB) beside the matrices (the next split is read once the
    caller has let go of the previous one)."""
    import numpy as np

    with np.load(path) as f:
        indptr, indices = f["train_indptr"], f["train_indices"]
        labels = f["train_labels"].astype(np.float32)
        cut = indptr[N_VALIDATION]
        yield "val", (indptr[:N_VALIDATION + 1].copy(), indices[:cut], labels[:N_VALIDATION])
        yield "train", (indptr[N_VALIDATION:] - cut, indices[cut:], labels[N_VALIDATION:])
        del indptr, indices, labels
        yield "test", (f["test_indptr"], f["test_indices"],
                       f["test_labels"].astype(np.float32))


def densify(indptr, indices, n_features, dtype="float32"):
    """The notebook's ``vectorize_sequences`` result: a dense 0/1 matrix."""
    import numpy as np

    n = len(indptr) - 1
    out = np.zeros((n, n_features), dtype=dtype)
    out[np.repeat(np.arange(n), np.diff(indptr)), indices] = 1
    return out


def take_rows(indptr, indices, rows):
    """CSR rows ``rows`` (any order) as a new ``(indptr, indices)``, vectorised."""
    import numpy as np

    starts, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
    new_indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    # Position k of the batch reads source position starts[row] + (k - new_indptr[row]).
    offsets = np.repeat(starts - new_indptr[:-1], lengths)
    return new_indptr, indices[np.arange(new_indptr[-1]) + offsets]


def peak_rss_mb():
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def base_versions():
    import numpy as np

    return {"python": platform.python_version(), "numpy": np.__version__}


def emit(system, args, epoch_seconds, evaluate_seconds, test_loss, test_accuracy,
         val_accuracy_last, import_seconds, versions, **extra):
    """Print the one JSON line of the protocol."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    record = {"system": system, "epoch_seconds": [float(s) for s in epoch_seconds],
              "evaluate_seconds": float(evaluate_seconds), "test_loss": float(test_loss),
              "test_accuracy": float(test_accuracy),
              "val_accuracy_last": float(val_accuracy_last), "peak_rss_mb": peak_rss_mb(),
              "import_seconds": float(import_seconds), "versions": versions,
              "threads": args.threads, "seed": args.seed,
              "cpu_user_seconds": usage.ru_utime, "cpu_sys_seconds": usage.ru_stime,
              "page_faults": usage.ru_minflt + usage.ru_majflt, **extra}
    print(json.dumps(record), flush=True)


def skip(system, reason):
    """A peer whose framework is missing reports it and exits 0."""
    print(json.dumps({"system": system, "skipped": reason}), flush=True)
    sys.exit(0)
