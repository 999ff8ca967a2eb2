"""``nn`` (this repository) training the book's IMDB model through its Keras-like API:
``Sequential`` of Dense(16, relu), Dense(16, relu), Dense(1, sigmoid) (``--units``: other
widths), RMSprop (Keras's epsilon inside the square root; ``--optimizer adam``: Keras's default
``Adam()``, lr 0.001, to compare with scikit-learn's MLPClassifier), binary crossentropy,
``fit(batch_size=512, validation_data=...)`` and ``evaluate(batch_size=32)``. ``--input
sparse`` feeds `nn.sparse.CSRMatrix` batches (sparse kernels in the first layer); ``--input
dense`` feeds the notebook's dense float32 0/1 matrices (BLAS). The backend is nn's choice from
``NN_BACKEND`` (numba unless it says numpy; `benchmarks.run` sets it for each of its nn
systems); a NumPy backend run never imports numba. Measures each epoch with a callback
(training plus the validation pass) and the evaluate call on its own. Prints one JSON line (see
`common`).

    python -m benchmarks.peers.nn_run --data DATA.npz --input sparse --epochs 6 --threads 2
    python -m benchmarks.peers.nn_run --data DATA.npz --input sparse --optimizer adam
    NN_BACKEND=numpy python -m benchmarks.peers.nn_run --data DATA.npz --input sparse
"""

import time

from benchmarks.machine import blas_info
from benchmarks.peers import common


def add_options(parser):
    parser.add_argument("--input", choices=["sparse", "dense"], default="sparse",
                        help="CSRMatrix input (default) or the notebook's dense matrices")
    parser.add_argument("--optimizer", choices=["rmsprop", "adam"], default="rmsprop",
                        help="the notebook's RMSprop (default) or Adam() with its defaults")
    common.add_units_option(parser)


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], add_options)
    system = f"nn_{args.input}" + ("_adam" if args.optimizer == "adam" else "")
    start = time.perf_counter()
    import nn
    from nn import layers, models, optimizers
    from nn.sparse import CSRMatrix
    import_seconds = time.perf_counter() - start

    n_features = common.n_features(args.data)

    def make_x(indptr, indices):
        if args.input == "dense":
            return common.densify(indptr, indices, n_features)
        return CSRMatrix(indptr, indices, (len(indptr) - 1, n_features))

    # Split by split, dropping the file's arrays once their matrix is built (CSRMatrix keeps
    # copies of its own) and before the next split is read.
    data = {}
    for name, (indptr, indices, labels) in common.iter_splits(args.data):
        data[name] = (make_x(indptr, indices), labels)
        del indptr, indices

    model = models.Sequential(seed=args.seed)
    model.add(layers.Dense(args.units, activation="relu", input_shape=(n_features,)))
    model.add(layers.Dense(args.units, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    optimizer = (optimizers.Adam() if args.optimizer == "adam" else
                 optimizers.RMSprop(learning_rate=common.LEARNING_RATE, rho=common.RHO,
                                    epsilon=common.EPSILON))
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["binary_accuracy"])

    timer = common.EpochTimer()
    model.fit(*data["train"], epochs=args.epochs, batch_size=common.BATCH_SIZE,
              validation_data=data["val"], verbose=0, callbacks=[timer])
    with common.Timer() as t:
        test_loss, test_accuracy = model.evaluate(*data["test"],
                                                  batch_size=common.EVAL_BATCH_SIZE, verbose=0)

    versions = {**common.base_versions(), "nn": getattr(nn, "__version__", "unknown"),
                "nn_backend": nn.backend.name(), "blas": blas_info()}
    if nn.backend.name() == "numba":
        import numba
        versions.update(numba=numba.__version__, numba_threads=numba.config.NUMBA_NUM_THREADS,
                        numba_threading_layer=numba.config.THREADING_LAYER)
    common.emit(system, args, timer.seconds, t.seconds, test_loss, test_accuracy,
                timer.logs.get("val_binary_accuracy", float("nan")), import_seconds, versions,
                units=args.units, optimizer=args.optimizer)


if __name__ == "__main__":
    main()
