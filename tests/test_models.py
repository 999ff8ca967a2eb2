"""Sequential: training, Keras-compatible API and output, determinism."""

import numpy as np
import pytest

from nn import layers, losses, metrics, models


def notebook_model(seed=0):
    model = models.Sequential(seed=seed)
    model.add(layers.Dense(16, activation="relu", input_shape=(10000,)))
    model.add(layers.Dense(16, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    return model


def test_learns_a_separable_problem(separable_data, make_mlp):
    x, y = separable_data(n=1000, d=20)
    model = make_mlp(seed=1)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x[:800], y[:800], epochs=30, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x[800:], y[800:], verbose=0)
    assert acc > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0] / 3


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_other_optimizers_and_mse_learn_too(optimizer, separable_data, make_mlp):
    x, y = separable_data(n=600, d=10)
    model = make_mlp(hidden=(8,), seed=2)
    model.compile(optimizer=optimizer, loss="mse", metrics=["acc"])
    model.fit(x, y, epochs=40 if optimizer == "sgd" else 15, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_same_seed_gives_bitwise_identical_weights(separable_data, make_mlp):
    x, y = separable_data(n=300, d=12)

    def train(seed):
        model = make_mlp(seed=seed)
        model.compile(optimizer="rmsprop", loss="binary_crossentropy")
        model.fit(x, y, epochs=3, batch_size=32, verbose=0, validation_split=0.2)
        return model.get_weights()

    first, second, other = train(7), train(7), train(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_summary_counts_the_notebook_parameters(capsys):
    model = notebook_model()
    assert model.count_params() == 160_305
    model.summary()
    out = capsys.readouterr().out
    assert "dense (Dense)" in out and "dense_2 (Dense)" in out
    assert "(None, 16)" in out and "160,016" in out and "Total params: 160,305" in out


def test_input_size_comes_from_the_first_batch(separable_data, make_mlp):
    model = make_mlp(hidden=(4,))
    assert not model.built
    x, y = separable_data(n=20, d=9)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, verbose=0)
    assert model.input_dim == 9 and model.layers[0].params["kernel"].shape == (9, 4)


def test_history_keys_follow_the_names_given(separable_data, make_mlp):
    x, y = separable_data(n=100, d=5)
    model = make_mlp(hidden=(4,))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy",
                  metrics=["accuracy", metrics.binary_accuracy])
    h = model.fit(x, y, epochs=2, verbose=0, validation_data=(x[:30], y[:30]))
    assert list(h.history) == ["loss", "accuracy", "binary_accuracy", "val_loss",
                               "val_accuracy", "val_binary_accuracy"]
    assert all(len(v) == 2 for v in h.history.values()) and h.epoch == [0, 1]
    assert h.history["accuracy"] == h.history["binary_accuracy"]


def test_custom_metric_callable(separable_data, make_mlp):
    x, y = separable_data(n=64, d=5)
    model = make_mlp(hidden=(4,))

    def positive_rate(y_true, y_pred):
        return np.mean(y_pred > 0.5)

    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=[positive_rate])
    loss, rate = model.evaluate(x, y, verbose=0)
    assert rate == pytest.approx(np.mean(model.predict(x) > 0.5))


def test_evaluate_returns_scalar_without_metrics_and_matches_predict(separable_data, make_mlp):
    x, y = separable_data(n=100, d=5)
    model = make_mlp(hidden=(4,))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    loss = model.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(loss, float)
    p = model.predict(x, batch_size=13)
    assert p.shape == (100, 1) and p.dtype == np.float32
    p64 = p.astype(np.float64).clip(1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(p64[:, 0]) + (1 - y) * np.log(1 - p64[:, 0]))
    assert loss == pytest.approx(expected, rel=1e-5)


def test_validation_split_takes_the_last_fraction_before_shuffling(separable_data, make_mlp):
    x, y = separable_data(n=100, d=5)
    a, b = make_mlp(hidden=(4,), seed=3), make_mlp(hidden=(4,), seed=3)
    for m in (a, b):
        m.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    ha = a.fit(x, y, epochs=2, verbose=0, validation_split=0.25)
    hb = b.fit(x[:75], y[:75], epochs=2, verbose=0, validation_data=(x[75:], y[75:]))
    assert ha.history == hb.history


def test_progress_output_matches_keras(capsys, separable_data, make_mlp):
    x, y = separable_data(n=40, d=5)
    model = make_mlp(hidden=(4,))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["binary_accuracy"])
    model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Train on 30 samples, validate on 10 samples"
    assert lines[1] == "Epoch 1/2" and lines[3] == "Epoch 2/2"
    assert lines[2].startswith("30/30 [==============================] - ")
    assert "/step - loss: " in lines[2] and " - val_binary_accuracy: " in lines[2]
    model.fit(x, y, epochs=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 3 * 2 and "[" not in lines[2] and "- loss:" in lines[2]
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_plain_callback_objects_and_stop_training(separable_data, make_mlp):
    x, y = separable_data(n=40, d=5)
    model = make_mlp(hidden=(4,))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    seen = []

    class Stopper:
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, sorted(logs)))
            if epoch == 1:
                model.stop_training = True

    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[Stopper()])
    assert seen == [(0, ["loss"]), (1, ["loss"])] and len(history.history["loss"]) == 2


def test_epochs_zero_trains_nothing(separable_data, make_mlp):
    x, y = separable_data(n=20, d=5)
    model = make_mlp(hidden=(4,), input_dim=5)
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    assert model.fit(x, y, epochs=0, verbose=0).history == {}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_get_and_set_weights_round_trip():
    a, b = notebook_model(seed=1), notebook_model(seed=2)
    weights = a.get_weights()
    assert [w.shape for w in weights] == [(10000, 16), (16,), (16, 16), (16,), (16, 1), (1,)]
    b.set_weights(weights)
    x = np.random.default_rng(0).random((5, 10000)) < 0.01
    np.testing.assert_array_equal(a.predict(x), b.predict(x))
    weights[0][0, 0] = 99.0  # get_weights returns copies
    assert a.layers[0].params["kernel"][0, 0] != 99.0


def test_float64_models_and_dense_inputs_of_any_dtype(separable_data, make_mlp):
    x, y = separable_data(n=50, d=6)
    model = make_mlp(hidden=(4,), dtype="float64")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x.astype(np.float32), y, verbose=0)
    assert model.predict(x).dtype == np.float64
    model32 = make_mlp(hidden=(4,))
    model32.compile(optimizer="sgd", loss="binary_crossentropy")
    model32.fit((x > 0).astype(np.int8), y.astype(int), verbose=0)  # ints and bools work
    model32.fit(x > 0, y.astype(bool), verbose=0)
    frozen = np.asarray(x)
    frozen.setflags(write=False)  # the input is read, never written or copied whole
    model32.fit(frozen, y, verbose=0)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_sigmoid_output_is_scored_from_its_logits_as_keras_on_tensorflow(backend_in_use,
                                                                          sparse):
    """A confidently wrong prediction (logit +20, label 0) costs 20.0, as Keras on TensorFlow
    reports it (it reads the sigmoid's logits); from the probability clipped to
    [1e-7, 1 - 1e-7] in float32 it would be 16.03. The gradient is (p - y) / n either way."""
    from nn.sparse import CSRMatrix
    model = models.Sequential(seed=0)
    model.add(layers.Dense(1, activation="sigmoid", input_shape=(2,)))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.set_weights([np.array([[20.0], [-20.0]]), np.zeros(1)])
    x = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    x = CSRMatrix.from_dense(x) if sparse else x
    y = np.array([0.0, 1.0], np.float32)  # both wrong: logits +20 and -20
    assert model.evaluate(x, y, verbose=0) == pytest.approx(20.0, rel=1e-6)
    assert model.train_on_batch(x, y) == pytest.approx(20.0, rel=1e-6)  # before the step
    # the probability form, for the same outputs, is what nn reported before
    p = model.predict(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    assert losses.binary_crossentropy(y, p.ravel()) == pytest.approx(16.03, abs=0.01)


@pytest.mark.parametrize("as_sparse", [False, True], ids=["dense", "sparse"])
def test_a_wide_model_trains_as_live_keras_does(keras, as_sparse):
    """512-512-1 (the overfitting notebook's bigger model; its first layer takes the fused
    product step), RMSprop, 2 epochs of 4 batches from the same initial weights: the same
    weights as Keras 3 on TensorFlow's float32 kernels, to float32 rounding."""
    from nn.sparse import CSRMatrix

    rng = np.random.default_rng(2)
    x = (rng.random((256, 400)) < 0.05).astype(np.float32)
    y = (rng.random(256) < 0.5).astype(np.float32)
    model = models.Sequential([layers.Dense(512, "relu", input_shape=(400,)),
                               layers.Dense(512, "relu"), layers.Dense(1, "sigmoid")], seed=3)
    model.compile("rmsprop", "binary_crossentropy")
    twin = keras.Sequential([keras.Input((400,)), keras.layers.Dense(512, "relu"),
                             keras.layers.Dense(512, "relu"), keras.layers.Dense(1, "sigmoid")])
    twin.compile(keras.optimizers.RMSprop(), "binary_crossentropy")
    twin.set_weights(model.get_weights())
    ours = model.fit(CSRMatrix.from_dense(x) if as_sparse else x, y, batch_size=64, epochs=2,
                     shuffle=False, verbose=0).history["loss"]
    theirs = twin.fit(x, y, batch_size=64, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    for u, v in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def multi_hot(n_rows, n_features, seed):
    from nn.sparse import CSRMatrix
    rng = np.random.default_rng(seed)
    dense = rng.random((n_rows, n_features)) < 0.1
    indptr = np.concatenate([[0], np.cumsum(dense.sum(axis=1))]).astype(np.int64)
    return CSRMatrix(indptr, np.nonzero(dense)[1].astype(np.int32), dense.shape)


def test_evaluate_and_predict_forward_chunks_of_batches_with_each_batchs_bits(backend_in_use,
                                                                               monkeypatch):
    """Where every row is computed on its own, evaluate and predict forward several batches
    at once (the last chunk and batch partial here) and score each batch from its slice of
    the outputs: the same numbers, bit for bit, as one forward per batch."""
    x, y = multi_hot(1000, 300, seed=3), np.random.default_rng(4).integers(0, 2, 1000)
    model = models.Sequential([layers.Dense(16, "relu", input_shape=(300,)),
                               layers.Dropout(0.5, seed=1), layers.Dense(16, "tanh"),
                               layers.Dense(1, "sigmoid")], seed=5)
    model.compile("rmsprop", "binary_crossentropy", metrics=["acc", "mse"])
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    monkeypatch.setattr(models, "INFERENCE_CHUNK_VALUES", 3 * 96 * 16)
    chunk = model._inference_rows(x, 96)
    # the numba backend's hidden layers compute rows alone; the NumPy backend's use BLAS
    assert chunk == (3 * 96 if backend_in_use.__name__.endswith("numba") else 96)
    chunked = model.evaluate(x, y, batch_size=96, verbose=0), model.predict(x, batch_size=96)
    monkeypatch.setattr(models.Sequential, "_inference_rows", lambda self, x, b: b)
    per_batch = model.evaluate(x, y, batch_size=96, verbose=0), model.predict(x, batch_size=96)
    assert [float(v).hex() for v in chunked[0]] == [float(v).hex() for v in per_batch[0]]
    assert chunked[1].tobytes() == per_batch[1].tobytes()


@pytest.mark.parametrize("case", ["dense input", "wide hidden layer", "own activation"])
def test_inference_goes_batch_by_batch_unless_every_row_is_computed_alone(case):
    """BLAS's products (a wide dense input, or a hidden layer wider than the one-call
    kernels take) and activations nn does not know keep one forward per batch."""
    from nn import activations

    class Twice(activations.Linear):  # a subclass may change the math
        pass

    width, hidden, act = {"dense input": (300, 16, "relu"),
                          "wide hidden layer": (300, 128, "relu"),
                          "own activation": (300, 16, Twice())}[case]
    x = multi_hot(10, width, seed=1)
    if case == "dense input":
        x = x.toarray()
    model = models.Sequential([layers.Dense(hidden, act, input_shape=(width,)),
                               layers.Dense(1, "sigmoid")], seed=0)
    model.compile("rmsprop", "binary_crossentropy")
    assert model._inference_rows(x, 32) == 32
