"""Compile the notebook run's training kernels in a second process on a first run, while the
example reads and tokenizes the data, so that numba's cache holds them when training starts.

    compiling = start_if_cold()   # None unless numba's cache lacks the kernels: a few stats
    ...                           # load and vectorize the data (this process compiles
                                  # vectorize_sequences' kernel meanwhile)
    wait_until_ready(compiling)   # then fit loads the kernels from the cache
    ...                           # train, evaluate, predict
    compiling.wait()              # before exiting: the process ends its second pass

``python examples/_warmup.py`` trains the notebook's model (`_common.build_model`: float32,
16-16-1, RMSprop, binary crossentropy, binary_accuracy) on made-up multi-hot data of the run's
types and sizes (int64 ``indptr``, int32 ``indices``, 10,000 validation rows) through `fit`
with validation, `evaluate` and `predict`, on one thread and on all (`compile_kernels`), so
numba writes to its cache exactly the specializations the run loads. After the first pass it
writes `READY` to its stdout: the run needs nothing else while the process compiles the
parallel kernels, since a large call takes those only when a second CPU is free, and this
process holds it (`nn.kernels.numba._common._free_cpus`). It never calls
`vectorize_sequences`, which the example compiles itself at the same time (two processes
compiling different signatures of one function could race on its cache index). Then, even if it
failed (the example then compiles what is missing itself, as without it), it writes a marker
file beside numba's cache files, named after the kernel sources' sizes and times and the Python
version: while the marker is there, `start_if_cold` starts nothing. It is not part of `nn`.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import nn

KERNELS = Path(nn.__file__).parent / "kernels" / "numba"
READY = "ready"  # the line the process writes once the serial kernels are cached


def marker_path():
    """The marker file's path: in ``NUMBA_CACHE_DIR`` when set, else in the kernels'
    ``__pycache__`` (where numba keeps its cache files)."""
    stamp = hashlib.sha1(sys.version.encode())
    for source in sorted(KERNELS.glob("*.py")):
        st = source.stat()
        stamp.update(f"{source.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    folder = os.environ.get("NUMBA_CACHE_DIR") or KERNELS / "__pycache__"
    return Path(folder) / f"nn-notebook-kernels-{stamp.hexdigest()[:16]}"


def start_if_cold():
    """A `subprocess.Popen` compiling the kernels (this file run as a script), or None when
    the marker says they are cached, when the cache folder cannot be written (no marker could
    ever stop it), or on the NumPy backend. The caller waits for it (or terminates it)."""
    if nn.backend.name() != "numba":
        return None
    marker = marker_path()
    folder = marker.parent if marker.parent.exists() else marker.parent.parent
    if marker.exists() or not os.access(folder, os.W_OK):
        return None
    return subprocess.Popen([sys.executable, __file__], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def wait_until_ready(process):
    """Wait until ``process`` (from `start_if_cold`, or None: no wait) has cached the kernels a
    run on one CPU loads (its `READY` line), or has ended."""
    if process is not None:
        process.stdout.readline()  # "" once it has ended, whatever happened


def multi_hot(n_rows, n_features, per_row, offset):
    """A made-up multi-hot CSRMatrix of ``vectorize_sequences``' types: ``per_row`` distinct
    sorted columns in each row."""
    columns = (np.arange(n_rows)[:, None] * 7 + offset
               + np.arange(per_row)[None, :] * (n_features // per_row)) % n_features
    indices = np.sort(columns, axis=1).astype(np.int32).ravel()
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int64)
    return nn.sparse.CSRMatrix(indptr, indices, (n_rows, n_features))


def compile_kernels():
    """Train the notebook's model briefly on made-up data of the run's types and sizes, twice:
    with one CPU free and with all of them. A large call (the validation pass, `evaluate`,
    `predict`) takes a parallel kernel only when a second CPU is free at that moment
    (`nn.kernels.numba._common._free_cpus`), which it never is while the example loads its
    data beside this process, and may be on any later run."""
    import numba

    from _common import NUM_WORDS, build_model
    from nn.kernels.numba import _common as kernel_common

    rng = np.random.default_rng(0)
    x_val, x_train = multi_hot(10000, NUM_WORDS, 130, 0), multi_hot(1200, NUM_WORDS, 130, 3)
    y_val = rng.integers(0, 2, 10000).astype("float32")
    y_train = rng.integers(0, 2, 1200).astype("float32")
    for free in (1, numba.get_num_threads()):
        kernel_common._free_cpus = lambda free=free: free
        model = build_model(seed=0)
        model.fit(x_train, y_train, epochs=1, batch_size=512, validation_data=(x_val, y_val),
                  verbose=0)
        model.evaluate(x_val, y_val, verbose=0)
        model.predict(x_val, batch_size=2048)
        if free == 1:
            print(READY, flush=True)


if __name__ == "__main__":
    marker = marker_path()
    try:
        compile_kernels()
    finally:  # failed or not, once: a warm run must never start this process
        marker.parent.mkdir(parents=True, exist_ok=True)
        for old in marker.parent.glob("nn-notebook-kernels-*"):  # of older kernel sources
            old.unlink(missing_ok=True)
        marker.touch()
