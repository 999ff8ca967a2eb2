"""nn's one-off costs in a fresh process: ``import nn``, and the first batches of ``fit``.

Times ``import nn`` (numpy included, as a user pays it; the numba backend is imported at its
first use), then calls ``fit`` on the notebook's model with sparse input and stops after
``--batches`` batches of 512. The first batch pays for importing numba and for the kernels: compiled by numba when ``NUMBA_CACHE_DIR`` is empty, loaded
from it when an earlier process filled it; the median of the later batches is for comparison
(still the first epoch: thread pools and caches warming up).
`benchmarks.run` runs it twice per fresh cache directory (compile, then load).

    NUMBA_CACHE_DIR=$(mktemp -d) python -m benchmarks.oneoff --data DATA.npz
"""

import argparse
import json
import os
import statistics
import time


class BatchClock:
    """Records when each training batch ends; stops fit after ``n`` batches."""

    def __init__(self, n):
        self.n, self.ends = n, []

    def set_model(self, model):
        self.model = model

    def on_train_batch_end(self, batch, logs=None):
        self.ends.append(time.perf_counter())
        if len(self.ends) >= self.n:
            self.model.stop_training = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="DATA.npz written by data.py")
    parser.add_argument("--batches", type=int, default=30,
                        help="batches of 512 (>= 2; 30 is the notebook's epoch)")
    args = parser.parse_args()
    if args.batches < 2:
        parser.error("--batches must be at least 2")

    start = time.perf_counter()
    import nn  # noqa: F401
    import_seconds = time.perf_counter() - start
    import numpy as np
    from nn import layers, models, optimizers
    from nn.sparse import CSRMatrix

    with np.load(args.data) as f:
        indptr, indices = f["train_indptr"], f["train_indices"]
        labels, n_features = f["train_labels"], int(f["n_features"])
    n = 512 * args.batches
    x = CSRMatrix(indptr[:n + 1], indices[:indptr[n]], (n, n_features))
    model = models.Sequential(seed=0)
    model.add(layers.Dense(16, activation="relu", input_shape=(n_features,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.001),
                  loss="binary_crossentropy", metrics=["binary_accuracy"])
    clock = BatchClock(args.batches)
    fit_start = time.perf_counter()
    model.fit(x, labels[:n], epochs=1, batch_size=512, verbose=0, callbacks=[clock])
    ends = [fit_start] + clock.ends
    cache = os.environ.get("NUMBA_CACHE_DIR")
    cached = sum(name.endswith(".nbi") for _, _, files in os.walk(cache) for name in files) \
        if cache else None
    print(json.dumps({"import_seconds": import_seconds,
                      "first_batch_seconds": ends[1] - ends[0],
                      "steady_batch_seconds": statistics.median(
                          b - a for a, b in zip(ends[1:], ends[2:])),
                      "numba_cache_dir": cache, "cached_functions_after": cached}), flush=True)


if __name__ == "__main__":
    main()
