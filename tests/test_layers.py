"""`nn.layers.Dense`: backward through networks of each activation and loss, against central
differences in float64, on both backends (`backend_in_use`)."""

import pytest

from nn import gradcheck

ACTIVATIONS = ["relu", "sigmoid", "tanh", "linear"]


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_model_gradients_match_central_differences(backend_in_use, separable_data, make_mlp,
                                                    small_bias, activation, loss, depth):
    x, y = separable_data(n=24, d=7, seed=depth)
    model = make_mlp(hidden=(5,) * depth, activation=activation, seed=depth, dtype="float64",
                     bias_initializer=small_bias)
    model.compile(optimizer="sgd", loss=loss)
    report = gradcheck.check_gradients(model, x, y, max_entries=40)
    assert len(report.rows) == 2 * (depth + 1)
    assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("out", ["linear", "tanh", "relu"])
def test_mse_gradients_for_other_output_activations(backend_in_use, separable_data, make_mlp,
                                                    small_bias, out):
    x, y = separable_data(n=16, d=5)
    model = make_mlp(hidden=(4,), activation="tanh", out_activation=out, dtype="float64",
                     bias_initializer=small_bias)
    model.layers[-1].bias_initializer = small_bias
    model.compile(optimizer="sgd", loss="mse")
    assert gradcheck.check_gradients(model, x, y).max_rel_error < 1e-6


# ---------------------------------------------------------------------------- Dropout

import numpy as np  # noqa: E402

from nn import layers, models, sparse  # noqa: E402


def _dropout_model(rate=0.5, seed=1, dtype="float32", layer_seed=None):
    model = models.Sequential([layers.Dense(16, "relu", input_shape=(30,)),
                               layers.Dropout(rate, seed=layer_seed),
                               layers.Dense(16, "relu"), layers.Dropout(rate, seed=layer_seed),
                               layers.Dense(1, "sigmoid")], seed=seed, dtype=dtype)
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def xy():
    rng = np.random.default_rng(5)
    x = (rng.random((64, 30)) < 0.2).astype(np.float32)
    return x, (x[:, :15].sum(1) > x[:, 15:].sum(1)).astype(np.float32)


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_in_training_zeroes_the_expected_share_and_keeps_the_mean(rate):
    """keras/src/layers/regularization/dropout_test.py test_dropout_rescaling: ones in, the
    mean stays ~1 and the kept entries are 1 / (1 - rate)."""
    layer = layers.Dropout(rate, seed=1337)
    layer.build(500, None, np.float32)
    out = layer.forward(np.ones((200, 500), np.float32), training=True)
    assert out.dtype == np.float32 and out.shape == (200, 500)
    assert np.mean(out == 0) == pytest.approx(rate, abs=0.01)
    assert np.mean(out) == pytest.approx(1.0, abs=0.02)
    assert set(np.unique(out)) == {0.0, np.float32(1 / (1 - rate))}
    da = np.random.default_rng(0).normal(size=out.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(da), da * out)  # the same mask, scaled


def test_dropout_is_the_identity_in_inference_and_at_rate_zero():
    layer = layers.Dropout(0.5, seed=0)
    layer.build(4, None, np.float32)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert layer.forward(x) is x
    zero = layers.Dropout(0.0)
    zero.build(4, np.random.default_rng(0), np.float32)
    assert zero.forward(x, training=True) is x
    assert np.array_equal(zero.backward(x), x)


def test_a_model_with_dropout_predicts_without_dropping(xy):
    x, y = xy
    model = _dropout_model()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    plain = models.Sequential([layers.Dense(16, "relu", input_shape=(30,)),
                               layers.Dense(16, "relu"), layers.Dense(1, "sigmoid")])
    plain.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    assert model.predict(x).tolist() == model.predict(x).tolist()


@pytest.mark.parametrize("layer_seed", [None, 7])
def test_dropout_same_seed_same_run_bitwise(xy, layer_seed):
    x, y = xy
    runs = []
    for _ in range(2):
        model = _dropout_model(seed=3, layer_seed=layer_seed)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0).history
        runs.append((model.get_weights(), history))
    for u, v in zip(runs[0][0], runs[1][0]):
        assert u.tobytes() == v.tobytes()
    assert runs[0][1] == runs[1][1]


@pytest.mark.parametrize("layer_seed, same", [(None, False), (7, True)])
def test_the_masks_come_from_the_model_seed_or_the_layers_own(xy, layer_seed, same):
    """Same initial weights, no shuffling, other model seeds: the masks (and so the weights)
    differ unless each Dropout has its own seed."""
    x, y = xy
    a, b = _dropout_model(seed=3, layer_seed=layer_seed), _dropout_model(seed=4,
                                                                          layer_seed=layer_seed)
    b.set_weights(a.get_weights())
    for model in (a, b):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    assert np.array_equal(a.get_weights()[0], b.get_weights()[0]) == same


def test_dropout_changes_training_but_not_the_untrained_forward(xy):
    x, y = xy
    with_dropout, without = _dropout_model(rate=0.5), _dropout_model(rate=0.0)
    without.set_weights(with_dropout.get_weights())
    np.testing.assert_array_equal(with_dropout.predict(x), without.predict(x))
    with_dropout.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    without.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert not np.array_equal(with_dropout.get_weights()[0], without.get_weights()[0])


def test_gradients_through_dropout_match_central_differences_with_the_mask_held(
        backend_in_use, xy, small_bias):
    x, y = xy
    model = models.Sequential([layers.Dense(8, "tanh", input_shape=(30,),
                                            bias_initializer=small_bias),
                               layers.Dropout(0.4), layers.Dense(6, "relu",
                                                                 bias_initializer=small_bias),
                               layers.Dropout(0.3), layers.Dense(1, "sigmoid")],
                              seed=2, dtype="float64")
    model.compile("sgd", "binary_crossentropy")
    state = model.rng.bit_generator.state
    for xin in (x.astype(np.float64), sparse.CSRMatrix.from_dense(x)):
        report = gradcheck.check_gradients(model, xin, y, max_entries=40)
        assert report.max_rel_error < 1e-6, str(report)
    assert model.rng.bit_generator.state == state  # the check drew nothing for later
    assert not model.layers[1].hold_mask
    # Without holding the mask the differences see a new mask each pass: the check fails.
    analytic = gradcheck.backprop_gradients(model, x.astype(np.float64), y)["dense/kernel"]
    again = gradcheck.backprop_gradients(model, x.astype(np.float64), y)["dense/kernel"]
    assert not np.allclose(analytic, again)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, float("nan"), "0.5", None, True])
def test_bad_dropout_rates_are_refused(rate):
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        layers.Dropout(rate)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_dropout_seeds_are_refused(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        layers.Dropout(0.5, seed=seed)


def test_dropout_refuses_a_sparse_batch(xy):
    x, y = xy
    model = models.Sequential([layers.Dropout(0.5), layers.Dense(1, "sigmoid")], seed=0)
    model.compile("rmsprop", "binary_crossentropy")
    with pytest.raises(TypeError, match="put Dropout after"):
        model.fit(sparse.CSRMatrix.from_dense(x), y, verbose=0)
    model.fit(x, y, verbose=0, epochs=1)  # a dense input is fine


def test_dropout_counts_no_parameters_and_is_saved_and_loaded(tmp_path, xy, capsys):
    x, y = xy
    model = _dropout_model(layer_seed=11)
    model.summary()
    out = capsys.readouterr().out
    assert "dropout (Dropout)            (None, 16)                0" in out
    assert "dropout_1 (Dropout)" in out and "Total params: 785" in out
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "m.npz")
    again = models.load_model(tmp_path / "m.npz")
    assert [repr(layer) for layer in again.layers] == [repr(layer) for layer in model.layers]
    assert again.layers[3].seed == 11 and again.layers[3].rate == 0.5
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    model.save_weights(tmp_path / "w.npz")
    fresh = _dropout_model(seed=9)
    fresh.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(fresh.predict(x), model.predict(x))
