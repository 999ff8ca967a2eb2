"""Keras 3 on one of its backends (``--backend tensorflow | jax | torch``, set as
``KERAS_BACKEND`` before Keras loads), exactly as the book's notebook trains the IMDB model:
dense float32 0/1 input (the notebook's ``vectorize_sequences``, built here from the CSR
arrays), ``Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid)`` (``--units``: other
widths), RMSprop (lr 0.001, rho 0.9, epsilon 1e-7), binary crossentropy,
``model.fit(batch_size=512, validation_data=...)`` and ``model.evaluate`` with the default
batch size 32. Each backend runs with its own defaults (TensorFlow's oneDNN kernels on, as a
user gets them); only its thread pools are pinned to ``--threads``. Measures each epoch with a
callback (training plus the validation pass, as fit runs them) and the evaluate call on its
own. Prints one JSON line (see `common`).

    python -m benchmarks.peers.keras_run --backend jax --data DATA.npz --epochs 6 --threads 2
"""

import importlib
import os
import time

from benchmarks.peers import common

# --backend: (system name, the backend's module, its pip package)
BACKENDS = {"tensorflow": ("keras_tf", "tensorflow", "tensorflow-cpu"),
            "jax": ("keras_jax", "jax", "jax"),
            "torch": ("keras_torch", "torch", "torch")}


def add_options(parser):
    parser.add_argument("--backend", choices=list(BACKENDS), default="tensorflow",
                        help="Keras's backend (KERAS_BACKEND)")
    common.add_units_option(parser)


def pin_threads(backend, module, threads):
    """The backend's own thread pools (the environment variables of `common` cover BLAS,
    OpenMP and TensorFlow's at start-up; XLA's CPU pool reads its flags when jax loads)."""
    if backend == "tensorflow":
        module.config.threading.set_intra_op_parallelism_threads(threads)
        module.config.threading.set_inter_op_parallelism_threads(threads)
    elif backend == "torch":
        module.set_num_threads(threads)
        module.set_num_interop_threads(threads)


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], add_options)
    system, module_name, pip_name = BACKENDS[args.backend]
    os.environ["KERAS_BACKEND"] = args.backend
    if args.backend == "jax" and args.threads < (os.cpu_count() or 1):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_"
                                   f"eigen=false intra_op_parallelism_threads={args.threads}")
    start = time.perf_counter()
    try:
        backend = importlib.import_module(module_name)
        import keras
    except ImportError as exc:
        common.skip(system, f"{exc.name or module_name} not installed "
                            f"(pip install keras {pip_name})")
    import_seconds = time.perf_counter() - start
    pin_threads(args.backend, backend, args.threads)
    keras.utils.set_random_seed(args.seed)

    splits = common.load_splits(args.data)
    n_features = splits["n_features"]
    dense = {name: (common.densify(indptr, indices, n_features), labels)
             for name, (indptr, indices, labels) in
             ((k, splits[k]) for k in ("train", "val", "test"))}

    model = keras.Sequential([
        keras.Input(shape=(n_features,)),
        keras.layers.Dense(args.units, activation="relu"),
        keras.layers.Dense(args.units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=common.LEARNING_RATE,
                                                     rho=common.RHO, epsilon=common.EPSILON),
                  loss="binary_crossentropy", metrics=["accuracy"])

    class EpochTimer(common.EpochTimer, keras.callbacks.Callback):
        """`common.EpochTimer`'s hooks on a Keras callback."""

        def __init__(self):
            keras.callbacks.Callback.__init__(self)
            common.EpochTimer.__init__(self)

    timer = EpochTimer()
    model.fit(*dense["train"], epochs=args.epochs, batch_size=common.BATCH_SIZE,
              validation_data=dense["val"], verbose=0, callbacks=[timer])
    with common.Timer() as t:
        test_loss, test_accuracy = model.evaluate(*dense["test"],
                                                  batch_size=common.EVAL_BATCH_SIZE, verbose=0)
    versions = {**common.base_versions(), module_name: backend.__version__,
                "keras": keras.__version__, "keras_backend": keras.backend.backend()}
    common.emit(system, args, timer.seconds, t.seconds, test_loss, test_accuracy,
                timer.logs.get("val_accuracy", float("nan")), import_seconds, versions,
                units=args.units)


if __name__ == "__main__":
    main()
