"""scikit-learn's ``MLPClassifier`` on the notebook's model and input, the peer a user of
scipy.sparse would pick: the multi-hot rows as a ``scipy.sparse`` CSR matrix of float32 (which
``MLPClassifier`` takes as it is, through ``safe_sparse_dot``), ``hidden_layer_sizes=(16, 16)``,
relu, a logistic output unit with log loss, Adam (scikit-learn has no RMSprop) with Keras's
defaults (lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7), ``alpha=0`` (no L2 penalty, as
the notebook), batches of 512. An epoch is one ``partial_fit`` over the 15,000 training rows
(exactly one shuffled pass; partial_fit neither early-stops nor checks convergence) plus
``predict_proba`` on the 10,000 validation rows, as Keras's fit validates. The shuffle comes
from one ``RandomState`` shared by all epochs (an int ``random_state`` would be reseeded at
every partial_fit call: the same order each epoch). Evaluate is one ``predict_proba`` on the
25,000 test rows (scikit-learn does not batch predictions). Compare it with ``nn_adam``
(`nn_run --optimizer adam`). Prints one JSON line (see `common`).

    python -m benchmarks.peers.sklearn_mlp --data DATA.npz --epochs 6 --threads 2
"""

import time

from benchmarks.peers import common

SYSTEM = "sklearn_mlp"
ADAM = {"learning_rate_init": common.LEARNING_RATE, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": common.EPSILON}  # Keras's Adam defaults


def log_loss(y, p, eps=1e-7):
    """Mean binary crossentropy, with Keras's clipping of p."""
    import numpy as np

    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def main():
    args = common.parse_args(__doc__.split("\n\n")[0])
    start = time.perf_counter()
    try:
        import scipy.sparse
        import sklearn
        from sklearn.neural_network import MLPClassifier
    except ImportError as exc:
        common.skip(SYSTEM, f"{exc.name or 'scikit-learn'} not installed "
                            "(pip install scikit-learn)")
    import numpy as np
    import_seconds = time.perf_counter() - start

    splits = common.load_splits(args.data)
    n_features = splits["n_features"]
    data = {}
    for name in ("train", "val", "test"):
        indptr, indices, labels = splits[name]
        x = scipy.sparse.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                    shape=(len(indptr) - 1, n_features))
        data[name] = (x, labels)

    model = MLPClassifier(hidden_layer_sizes=common.UNITS, activation="relu", solver="adam",
                          alpha=0.0, batch_size=common.BATCH_SIZE, shuffle=True,
                          random_state=np.random.RandomState(args.seed), **ADAM)
    classes = np.array([0.0, 1.0], dtype=np.float32)
    x_train, y_train = data["train"]
    x_val, y_val = data["val"]
    epoch_seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.partial_fit(x_train, y_train, classes=classes)
        val_accuracy = float(np.mean((model.predict_proba(x_val)[:, 1] > 0.5) == (y_val > 0.5)))
        epoch_seconds.append(time.perf_counter() - start)
        assert model.n_iter_ == 1, "partial_fit must make exactly one pass"
    assert model.t_ == args.epochs * x_train.shape[0]

    x_test, y_test = data["test"]
    with common.Timer() as t:
        p = model.predict_proba(x_test)[:, 1]
    test_accuracy = float(np.mean((p > 0.5) == (y_test > 0.5)))
    versions = {**common.base_versions(), "scikit-learn": sklearn.__version__,
                "scipy": scipy.__version__}
    common.emit(SYSTEM, args, epoch_seconds, t.seconds, log_loss(y_test, p), test_accuracy,
                val_accuracy, import_seconds, versions, optimizer="adam",
                weights_dtype=str(model.coefs_[0].dtype))


if __name__ == "__main__":
    main()
