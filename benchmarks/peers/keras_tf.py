"""Keras 3 on the TensorFlow backend, exactly as the book's notebook trains the IMDB model: dense
float32 0/1 input (the notebook's ``vectorize_sequences``, built here from the CSR arrays),
``Dense(16, relu) -> Dense(16, relu) -> Dense(1, sigmoid)`` (``--units``: other widths),
RMSprop (lr 0.001, rho 0.9, epsilon 1e-7), binary crossentropy, ``model.fit(batch_size=512,
validation_data=...)`` and ``model.evaluate`` with the default batch size 32. Measures each
epoch with a callback (training plus the validation pass, as fit runs them) and the evaluate
call on its own. Prints one JSON line (see `common`).

    python -m benchmarks.peers.keras_tf --data DATA.npz --epochs 6 --threads 2
"""

import os
import time

from benchmarks.peers import common

SYSTEM = "keras_tf"


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], common.add_units_option)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    start = time.perf_counter()
    try:
        import tensorflow as tf
        import keras
    except ImportError as exc:
        common.skip(SYSTEM, f"{exc.name or 'tensorflow/keras'} not installed")
    import_seconds = time.perf_counter() - start
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
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

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.logs = [], {}

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):  # after the validation pass
            self.seconds.append(time.perf_counter() - self.start)
            self.logs = dict(logs or {})

    timer = EpochTimer()
    model.fit(*dense["train"], epochs=args.epochs, batch_size=common.BATCH_SIZE,
              validation_data=dense["val"], verbose=0, callbacks=[timer])
    with common.Timer() as t:
        test_loss, test_accuracy = model.evaluate(*dense["test"],
                                                  batch_size=common.EVAL_BATCH_SIZE, verbose=0)
    versions = {**common.base_versions(), "tensorflow": tf.__version__,
                "keras": keras.__version__, "keras_backend": keras.backend.backend()}
    common.emit(SYSTEM, args, timer.seconds, t.seconds, test_loss, test_accuracy,
                timer.logs.get("val_accuracy", float("nan")), import_seconds, versions,
                units=args.units)


if __name__ == "__main__":
    main()
