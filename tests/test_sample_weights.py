"""`sample_weight` and `class_weight` in `fit`, `evaluate` and `train_on_batch`, as Keras 3
applies them: a batch's loss is ``sum(w_i l_i) / batch_size``, the metrics weighted means."""


import numpy as np
import pytest

from nn import gradcheck, layers, losses, models, optimizers
from nn.sparse import CSRMatrix


@pytest.fixture
def data(separable_data):
    """x (64, 6), labels y (64,) and weights w (64,) in [0, 2)."""
    x, y = separable_data(n=64, d=6)
    return x, y, np.random.default_rng(1).random(64) * 2


@pytest.fixture
def build(make_mlp, small_bias):
    """``build(loss="binary_crossentropy", lr=0.1, dtype="float32", out="sigmoid")``: a
    6-5-1 relu model compiled with SGD(lr) and binary_accuracy, plain and weighted (logged
    as weighted_binary_accuracy), seed 0."""
    def model(loss="binary_crossentropy", lr=0.1, dtype="float32", out="sigmoid", seed=0):
        m = make_mlp(hidden=(5,), input_dim=6, out_activation=out, dtype=dtype, seed=seed,
                     bias_initializer=small_bias)
        m.compile(optimizer=optimizers.SGD(lr), loss=loss, metrics=["binary_accuracy"],
                  weighted_metrics=["binary_accuracy"])
        return m
    return model


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


# ------------------------------------------------------------------ what the weights mean

def test_class_weight_is_the_matching_sample_weight(build, data):
    x, y, _ = data
    a, b, c, d = build(), build(), build(), build()
    ha = a.fit(x, y, epochs=3, batch_size=8, verbose=0, class_weight={0: 1.0, 1: 3.0})
    hb = b.fit(x, y, epochs=3, batch_size=8, verbose=0, sample_weight=np.where(y == 1, 3, 1))
    assert ha.history == hb.history and same_weights(a, b)
    # labels as an (n, 1) column of floats, keys as floats (np.unique of float labels):
    # the same classes, as Keras rounds the labels and looks the keys up by int
    keys = np.unique(y).astype(np.float32)
    assert c.train_on_batch(x, y[:, None], class_weight=dict(zip(keys, [1.0, 3.0]))) \
        == d.train_on_batch(x, y, sample_weight=np.where(y == 1, 3.0, 1.0))
    assert same_weights(c, d)


def test_class_weight_of_one_hot_labels_is_that_of_their_largest_column(make_mlp):
    # Keras's rule for labels (n, units > 1): the class is the argmax.
    rng = np.random.default_rng(0)
    x, classes = rng.normal(size=(12, 3)), rng.integers(0, 3, 12)
    y = np.eye(3)[classes]
    models_ = []
    for kwargs in ({"class_weight": {0: 0.5, 1: 2.0, 2: 1.0}},
                   {"sample_weight": np.array([0.5, 2.0, 1.0])[classes]}):
        m = models.Sequential([layers.Dense(3, input_shape=(3,))], seed=0)
        m.compile(optimizer="sgd", loss="mse")
        m.fit(x, y, batch_size=4, verbose=0, **kwargs)
        models_.append(m)
    assert same_weights(*models_)


def test_weights_travel_with_their_samples_when_shuffled(build, data):
    """Zero-weight samples add exactly nothing, whatever their labels: flipping them changes
    no bit of the run, which holds only if every weight stays with its sample."""
    x, y, w = data
    w = np.where(np.arange(64) % 3 == 0, 0.0, w)
    flipped = np.where(w == 0, 1 - y, y)
    a, b = build(), build()
    ha = a.fit(x, y, epochs=3, batch_size=8, verbose=0, sample_weight=w).history
    hb = b.fit(x, flipped, epochs=3, batch_size=8, verbose=0, sample_weight=w).history
    assert same_weights(a, b)
    assert ha["loss"] == hb["loss"] and ha["weighted_binary_accuracy"] \
        == hb["weighted_binary_accuracy"]
    assert ha["binary_accuracy"] != hb["binary_accuracy"]  # plain metrics count every sample
    c = build()  # and the weights did act: unweighted, the flipped labels change the run
    c.fit(x, flipped, epochs=3, batch_size=8, verbose=0)
    assert not same_weights(a, c)


def test_doubling_every_weight_is_doubling_the_sgd_rate_bit_for_bit(build, data):
    """sum(2 w l) / n is exactly twice sum(w l) / n (a power of two scales without
    rounding), so SGD(lr) on 2w and SGD(2 lr) on w take the same steps."""
    x, y, w = data
    a, b = build(lr=0.05), build(lr=0.1)
    ha = a.fit(x, y, epochs=3, batch_size=8, verbose=0, sample_weight=2 * w)
    hb = b.fit(x, y, epochs=3, batch_size=8, verbose=0, sample_weight=w)
    assert same_weights(a, b)
    assert ha.history["loss"] == [2 * v for v in hb.history["loss"]]
    assert ha.history["binary_accuracy"] == hb.history["binary_accuracy"]


def test_weighted_fit_is_fit_on_duplicated_samples_at_full_batch(build, data):
    """Integer weights are duplicates only up to the divisor: a weighted batch of n samples
    divides sum(w l) by n, the duplicated batch of N = sum(w) samples by N. With the whole
    data in one batch the steps therefore differ by exactly N / n (here 2) and nothing
    else; the accuracy, a weighted mean, is the duplicated data's mean."""
    x, y, _ = data
    x, y, w = x[:4], y[:4], np.array([1, 3, 2, 2])
    rows = np.repeat(np.arange(4), w)  # 8 samples
    a, b = build(lr=0.1, dtype="float64"), build(lr=0.2, dtype="float64")
    ha = a.fit(x, y, epochs=5, batch_size=8, verbose=0, sample_weight=w)
    hb = b.fit(x[rows], y[rows], epochs=5, batch_size=8, verbose=0)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ha.history["loss"], 2 * np.array(hb.history["loss"]),
                               rtol=1e-12)
    np.testing.assert_allclose(ha.history["weighted_binary_accuracy"],
                               hb.history["binary_accuracy"], rtol=1e-12)


@pytest.mark.parametrize("loss, out", [("binary_crossentropy", "sigmoid"), ("mse", "linear"),
                                       ("mse", "sigmoid"), ("mae", "linear")])
def test_gradients_of_the_weighted_loss_by_finite_differences(build, data, loss, out):
    x, y, w = data
    model = build(loss=loss, out=out, dtype="float64")
    report = gradcheck.check_gradients(model, x[:16], y[:16], sample_weight=w[:16])
    assert report.max_rel_error < 1e-6, str(report)
    weighted = gradcheck.backprop_gradients(model, x[:16], y[:16], sample_weight=w[:16])
    plain = gradcheck.backprop_gradients(model, x[:16], y[:16])
    assert not np.allclose(weighted["dense_1/kernel"], plain["dense_1/kernel"])


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_evaluate_weighted_against_a_hand_computation(build, data, loss):
    """Batches of 5 of 23 samples: each batch's loss is sum(w l) / batch, the reported loss
    their mean weighted by batch size (so sum(w l) / 23); the weighted accuracy is
    sum(w a) / sum(w), the plain one the mean of a."""
    x, y, w = data
    x, y = x[:23], y[:23]
    w = w[:23].astype(np.float32).astype(np.float64)  # rounded to the model's dtype, as Keras
    model = build(loss=loss)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    p = model.predict(x).astype(np.float64)[:, 0]
    if loss == "mse":
        per_sample = (p - y) ** 2
    else:
        q = np.clip(p, 1e-7, 1 - 1e-7)
        per_sample = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    correct = ((p > 0.5) == y).astype(np.float64)
    got_loss, got_acc, got_weighted = model.evaluate(x, y, batch_size=5, verbose=0,
                                                     sample_weight=w)
    assert got_loss == pytest.approx(np.sum(w * per_sample) / 23, rel=1e-6)
    assert got_acc == pytest.approx(np.mean(correct), rel=1e-12)
    assert got_weighted == pytest.approx(np.sum(w * correct) / np.sum(w), rel=1e-12)
    # weights summing to 0: a weighted mean of 0, as Keras's divide_no_nan makes it
    assert model.evaluate(x, y, verbose=0, sample_weight=np.zeros(23))[::2] == [0.0, 0.0]


def test_unit_weights_give_the_unweighted_numbers(build, data):
    x, y, _ = data
    a, b = build(), build()
    ha = a.fit(x, y, epochs=2, batch_size=8, verbose=0, sample_weight=np.ones(64))
    hb = b.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for key in hb.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-6)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


def test_train_on_batch_with_weights_is_one_fit_step(build, data):
    x, y, w = data
    a, b = build(), build()
    loss = a.train_on_batch(x, y, sample_weight=w)
    history = b.fit(x, y, batch_size=64, shuffle=False, verbose=0, sample_weight=w)
    assert same_weights(a, b) and loss == history.history["loss"][0]


def test_weighted_metrics_are_named_and_saved_as_keras_names_them(tmp_path, make_mlp, data):
    x, y, w = data
    model = make_mlp(hidden=(5,), input_dim=6)
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", "mse"])
    history = model.fit(x, y, verbose=0, sample_weight=w, validation_split=0.25).history
    assert list(history) == ["loss", "accuracy", "weighted_accuracy", "mse", "val_loss",
                             "val_accuracy", "val_weighted_accuracy", "val_mse"]
    model.save(tmp_path / "model.npz")
    loaded = models.load_model(tmp_path / "model.npz")
    assert [name for name, _ in loaded.weighted_metrics] == ["weighted_accuracy", "mse"]
    assert loaded.evaluate(x, y, verbose=0, sample_weight=w) \
        == model.evaluate(x, y, verbose=0, sample_weight=w)


def test_sparse_multi_hot_input_on_either_backend_trains_as_dense(backend_in_use, build):
    """The weights act on dL/dz alone, so a sparse first layer (its row-sparse kernel
    gradient) gives the dense input's run, on either backend."""
    rng = np.random.default_rng(2)
    dense = (rng.random((40, 6)) < 0.3).astype(np.float32)
    y, w = (dense[:, 0] > 0).astype(np.float64), rng.random(40)
    a, b = build(), build()
    ha = a.fit(CSRMatrix.from_dense(dense), y, epochs=2, batch_size=8, verbose=0,
               sample_weight=w).history
    hb = b.fit(dense, y, epochs=2, batch_size=8, verbose=0, sample_weight=w).history
    for key in hb:
        np.testing.assert_allclose(ha[key], hb[key], rtol=1e-6, err_msg=key)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------- validation

def test_validation_is_weighted_only_when_its_weights_are_given(build, data):
    x, y, w = data
    xv, yv, wv = x[48:], y[48:], w[48:]
    keys = ["val_loss", "val_binary_accuracy", "val_weighted_binary_accuracy"]
    a = build()
    val = a.fit(x[:48], y[:48], verbose=0, sample_weight=w[:48],
                validation_data=(xv, yv)).history
    assert [val[k][0] for k in keys] == a.evaluate(xv, yv, verbose=0)
    b = build()
    val = b.fit(x[:48], y[:48], verbose=0, validation_data=(xv, yv, wv)).history
    assert [val[k][0] for k in keys] == b.evaluate(xv, yv, verbose=0, sample_weight=wv)
    assert val["val_binary_accuracy"] != val["val_weighted_binary_accuracy"]


def test_validation_split_holds_out_the_weights_with_the_data(build, data):
    x, y, w = data
    a, b = build(), build()
    ha = a.fit(x, y, epochs=2, verbose=0, sample_weight=w, validation_split=0.25)
    hb = b.fit(x[:48], y[:48], epochs=2, verbose=0, sample_weight=w[:48],
               validation_data=(x[48:], y[48:], w[48:]))
    assert ha.history == hb.history
    # class_weight weights the training part only (Keras applies it after the split)
    c, d = build(), build()
    hc = c.fit(x, y, epochs=2, verbose=0, class_weight={0: 1.0, 1: 2.0}, validation_split=0.25)
    hd = d.fit(x[:48], y[:48], epochs=2, verbose=0, class_weight={0: 1.0, 1: 2.0},
               validation_data=(x[48:], y[48:]))
    assert hc.history == hd.history


# -------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs, error, message", [
    ({"sample_weight": np.ones(63)}, ValueError, "64 in x and 63 in sample_weight"),
    ({"sample_weight": np.r_[np.ones(63), -1.0]}, ValueError,
     r"sample_weight holds -1.0 at index 63; weights must be 0 or more"),
    ({"sample_weight": np.r_[np.nan, np.ones(63)]}, ValueError,
     r"sample_weight contains nan at index \(0,\)"),
    ({"sample_weight": np.ones((64, 2))}, ValueError, r"one weight per sample.*\(64, 2\)"),
    ({"sample_weight": np.array(["a"] * 64)}, TypeError, "sample_weight must hold numbers"),
    ({"class_weight": {1: 2.0}}, ValueError,
     r"class_weight has no weight for class 0 \(the class of sample \d+\); it has \[1\]"),
    ({"class_weight": {0: 1.0, 1: -2.0}}, ValueError, r"class_weight\[1\] must be a finite"),
    ({"class_weight": {0: 1.0, "1": 2.0}}, TypeError, "keys must be integer classes"),
    ({"class_weight": {0: 1.0, 0.5: 2.0}}, TypeError, "keys must be integer classes; got 0.5"),
    ({"class_weight": [1.0, 2.0]}, TypeError, "class_weight must be a dict"),
    ({"class_weight": {0: 1.0, 1: 2.0}, "sample_weight": np.ones(64)}, ValueError,
     "sample_weight or class_weight, not both"),
    ({"validation_data": (np.ones((4, 6)), np.ones(4), np.ones(3))}, ValueError,
     "4 in x and 3 in validation sample_weight"),
    ({"validation_data": (np.ones((4, 6)), np.ones(4), np.ones(4), 1)}, ValueError,
     r"\(x_val, y_val, val_sample_weight\)"),
])
def test_bad_weights_are_refused_before_anything_changes(make_mlp, data, kwargs, error,
                                                         message):
    x, y, _ = data
    model = make_mlp(hidden=(5,))  # no input size: a refused fit must not build it
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    with pytest.raises(error, match=message):
        model.fit(x, y, verbose=0, **kwargs)
    assert not model.built


def test_evaluate_and_train_on_batch_check_their_weights(build, data):
    x, y, _ = data
    model = build()
    with pytest.raises(ValueError, match="64 in x and 2 in sample_weight"):
        model.evaluate(x, y, verbose=0, sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="not both"):
        model.train_on_batch(x, y, sample_weight=np.ones(64), class_weight={0: 1, 1: 1})


def test_a_loss_without_sample_weight_says_so(make_mlp, data):
    class OldLoss(losses.Loss):  # written before losses took weights
        def __call__(self, y_true, y_pred):
            return float(np.mean((y_pred - y_true) ** 2))

        def gradient(self, y_true, y_pred):
            return 2 * (y_pred - y_true) / y_pred.size

    x, y, w = data
    model = make_mlp(hidden=(5,))
    model.compile(optimizer="sgd", loss=OldLoss())
    model.fit(x, y, verbose=0)  # fine without weights
    with pytest.raises(TypeError, match=r"takes no sample weights: give its __call__\(\)"):
        model.fit(x, y, verbose=0, sample_weight=w)


# ------------------------------------------------------------------ against live Keras 3


@pytest.mark.parametrize("loss, out", [("binary_crossentropy", "sigmoid"), ("mse", "linear")])
def test_a_weighted_fit_and_evaluate_match_live_keras(keras, build, data, loss, out):
    """One epoch of three weighted SGD steps from the same initial weights, the weighted
    validation and a weighted evaluate in batches of 5: Keras and nn agree to float32
    rounding (Keras on TensorFlow takes the crossentropy from the sigmoid's logits, nn from
    its clipped output: a few ulps apart)."""
    x, y, w = data
    x, y, w = x[:24].astype(np.float32), y[:24].astype(np.float32), w[:24].astype(np.float32)
    model = build(loss=loss, out=out)
    model.build(6)
    twin = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                             keras.layers.Dense(1, activation=out)])
    twin.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss, metrics=["binary_accuracy"],
                 weighted_metrics=["binary_accuracy"])
    twin.set_weights(model.get_weights())
    for fit_kwargs in ({"sample_weight": w}, {"class_weight": {0: 0.5, 1: 2.0}}):
        ours = model.fit(x, y, batch_size=8, shuffle=False, verbose=0,
                         validation_data=(x[:10], y[:10], w[:10]), **fit_kwargs).history
        theirs = twin.fit(x, y, batch_size=8, shuffle=False, verbose=0,
                          validation_data=(x[:10], y[:10], w[:10]), **fit_kwargs).history
        for key, values in ours.items():
            np.testing.assert_allclose(values, theirs[key], rtol=2e-6, err_msg=key)
        for u, v in zip(model.get_weights(), twin.get_weights()):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-7)
    ours = model.evaluate(x, y, batch_size=5, verbose=0, sample_weight=w)
    theirs = twin.evaluate(x, y, batch_size=5, verbose=0, sample_weight=w, return_dict=True)
    keys = ["loss", "binary_accuracy", "weighted_binary_accuracy"]
    np.testing.assert_allclose(ours, [theirs[k] for k in keys], rtol=2e-6)
