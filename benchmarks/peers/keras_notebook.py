"""The Keras book's IMDB notebook as written, end to end, for its peak memory: the reviews as
Keras's object array of Python lists (``num_words=10000``), the notebook's own
``vectorize_sequences`` (dense float64), 20 epochs with a validation split, a model retrained
for 4 epochs on all 25,000 reviews, ``evaluate`` and ``predict`` on the test set: the stages
``examples/imdb.py`` runs with nn. Prints one JSON line with ``peak_rss_mb`` and the test
accuracy; `benchmarks.sections.checks` compares it with nn's whole run.

The reviews come from a TOKENS.npz written by ``benchmarks.data`` (whole vocabulary; ids
>= 10000 become Keras's out-of-vocabulary 2, as ``load_data(num_words=10000)`` does).

    python -m benchmarks.peers.keras_notebook --tokens TOKENS.npz [--epochs 20] [--threads 2]
"""

import argparse
import json
import os
import resource

from benchmarks.peers import common


def vectorize_sequences(sequences, dimension=10000):
    """The notebook's function, verbatim: float64, one Python loop per review."""
    import numpy as np

    results = np.zeros((len(sequences), dimension))
    for i, sequence in enumerate(sequences):
        for j in sequence:
            results[i, j] = 1.
    return results


def keras_lists(offsets, tokens, num_words=10000):
    """Keras's ``load_data`` result: an object array of Python lists."""
    import numpy as np

    tokens = np.where(tokens < num_words, tokens, 2).tolist()
    out = np.empty(len(offsets) - 1, dtype=object)
    out[:] = [tokens[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", required=True, help="TOKENS.npz written by data.py")
    parser.add_argument("--epochs", type=int, default=20, help="epochs with validation")
    parser.add_argument("--final-epochs", type=int, default=4, help="epochs on all reviews")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    for var in common.THREAD_VARS:
        os.environ[var] = str(args.threads)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    try:
        import keras
    except ImportError as exc:
        common.skip("keras_notebook", f"{exc.name or 'keras'} not installed")
    keras.utils.set_random_seed(0)

    with np.load(args.tokens) as f:
        train_data = keras_lists(f["train_offsets"], f["train_tokens"])
        test_data = keras_lists(f["test_offsets"], f["test_tokens"])
        train_labels, test_labels = f["train_labels"], f["test_labels"]
    x_train = vectorize_sequences(train_data)
    x_test = vectorize_sequences(test_data)
    y_train = np.asarray(train_labels).astype("float32")
    y_test = np.asarray(test_labels).astype("float32")

    def build():
        model = keras.Sequential([keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    x_val, partial_x_train = x_train[:10000], x_train[10000:]
    y_val, partial_y_train = y_train[:10000], y_train[10000:]
    build().fit(partial_x_train, partial_y_train, epochs=args.epochs, batch_size=512,
                validation_data=(x_val, y_val), verbose=0)
    model = build()
    model.fit(x_train, y_train, epochs=args.final_epochs, batch_size=512, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    model.predict(x_test, verbose=0)
    print(json.dumps({"system": "keras_notebook", "test_accuracy": float(test_accuracy),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "keras": keras.__version__}), flush=True)


if __name__ == "__main__":
    main()
