"""`nn.regularizers` and the penalties on `Dense`: values and gradients, Keras's golden values
(keras/src/regularizers/regularizers_test.py), training against live Keras 3, and a sparse
first layer's penalty giving exactly the dense computation."""

import numpy as np
import pytest

from nn import gradcheck, layers, models, regularizers, sparse

W = np.array([[0.5, -1.5], [0.0, 2.0], [-0.25, 1.0]], dtype=np.float32)


# ------------------------------------------------- values and gradients, Keras's formulas

@pytest.mark.parametrize("make, value", [
    (lambda: regularizers.l1(0.1), 0.1 * 5.25),
    (lambda: regularizers.l2(0.1), 0.1 * 7.5625),
    (lambda: regularizers.l1_l2(l1=0.1, l2=0.2), 0.1 * 5.25 + 0.2 * 7.5625),
    (lambda: regularizers.L1L2(l2=0.2), 0.2 * 7.5625),
])
def test_penalties_are_keras_formulas(make, value):
    """regularizers_test.py test_l1 / test_l2 / test_l1_l2: ``l1 * sum|x|``,
    ``l2 * sum x^2``, their sum; in the weight's dtype."""
    r = make()(W)
    assert r.dtype == np.float32
    assert float(r) == pytest.approx(value, rel=1e-6)


def test_keras_edge_goldens():
    """regularizers_test.py: zero weights and zero factors give 0; L1 does not see signs."""
    zeros = np.zeros((3, 2), np.float32)
    assert float(regularizers.L1(0.1)(zeros)) == 0.0
    assert float(regularizers.L2(0.1)(zeros)) == 0.0
    assert float(regularizers.L1(0.0)(W)) == 0.0
    assert float(regularizers.L2(0.0)(W)) == 0.0
    assert float(regularizers.L1(0.1)(W)) == float(regularizers.L1(0.1)(-W))
    big = np.full((2, 2), 3.0, np.float32)
    assert float(regularizers.L2(1.0)(big)) > float(regularizers.L1(1.0)(big))


@pytest.mark.parametrize("reg", [regularizers.l1(0.3), regularizers.l2(0.3),
                                 regularizers.l1_l2(l1=0.2, l2=0.4)], ids=repr)
def test_gradients_match_central_differences(reg):
    w = np.random.default_rng(0).normal(size=(4, 3))  # float64, away from 0
    h, numeric = 1e-6, np.empty_like(w)
    for i in np.ndindex(w.shape):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (reg(up) - reg(down)) / (2 * h)
    grad = reg.gradient(w)
    assert grad.shape == w.shape and grad.dtype == w.dtype
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_l1_gradient_at_zero_is_zero():
    """sign(0) = 0, as TensorFlow's gradient of abs."""
    assert regularizers.l1(0.5).gradient(np.zeros(3, np.float32)).tolist() == [0, 0, 0]


# ------------------------------------------------------------- names, configs, bad values

def test_get_by_name_with_keras_defaults():
    """regularizers_test.py test_get_method: names give the classes with factor 0.01."""
    assert regularizers.get("l1") == regularizers.L1(0.01)
    assert regularizers.get("l2") == regularizers.L2(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(l1=0.01, l2=0.01)
    assert regularizers.get(None) is None
    reg = regularizers.l2(0.5)
    assert regularizers.get(reg) is reg
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        regularizers.get("l3")
    with pytest.raises(TypeError, match="defines its gradient"):
        regularizers.get(lambda w: 0.0)


def test_configs_round_trip():
    """regularizers_test.py test_config / test_l1l2_get_config."""
    for reg in (regularizers.L1(0.1), regularizers.L2(0.1), regularizers.L1L2(l1=0.1, l2=0.2)):
        again = regularizers.get(regularizers.serialize(reg))
        assert again == reg and again is not reg
        assert type(reg).from_config(reg.get_config()).get_config() == reg.get_config()
    assert regularizers.L1L2(l1=0.1, l2=0.2).get_config() == {"l1": 0.1, "l2": 0.2}
    assert regularizers.serialize(None) is None
    with pytest.raises(ValueError, match="unknown regularizer class 'Orthogonal'"):
        regularizers.get({"class": "Orthogonal", "config": {}})


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True, [0.1]])
@pytest.mark.parametrize("make", [regularizers.l1, regularizers.l2,
                                  lambda v: regularizers.l1_l2(l1=v),
                                  lambda v: regularizers.L1L2(l2=v)])
def test_bad_factors_are_refused(make, bad):
    with pytest.raises(ValueError, match="must be a non-negative finite number"):
        make(bad)


def test_none_factors_take_the_defaults():
    assert regularizers.L1(None).l1 == 0.01 and regularizers.L2(None).l2 == 0.01
    assert regularizers.L1L2(l1=None, l2=0.3).get_config() == {"l1": 0.0, "l2": 0.3}


def test_layers_without_weights_take_no_regularizer():
    with pytest.raises(TypeError, match="kernel_regularizer"):
        layers.Dropout(0.5, kernel_regularizer="l2")
    with pytest.raises(ValueError, match="unknown regularizer"):
        layers.Dense(3, kernel_regularizer="l5")
    with pytest.raises(TypeError, match="regularizer must be"):
        layers.Dense(3, bias_regularizer=0.01)


# --------------------------------------------------------------------- in a model

def _model(reg, seed=1, dtype="float32", d=30, bias_reg=None, units=8):
    model = models.Sequential([
        layers.Dense(units, "relu", input_shape=(d,), kernel_regularizer=reg,
                     bias_regularizer=bias_reg, bias_initializer="ones"),
        layers.Dense(8, "relu", kernel_regularizer=reg),
        layers.Dense(1, "sigmoid")], seed=seed, dtype=dtype)
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    x = (rng.random((40, 30)) < 0.2).astype(np.float32)
    return x, (rng.random(40) < 0.5).astype(np.float32)


def test_the_loss_includes_the_penalty_in_fit_and_evaluate(data):
    x, y = data
    plain, penalised = _model(None), _model(regularizers.l2(0.5))
    penalised.set_weights(plain.get_weights())
    penalty = sum(0.5 * float(np.sum(np.square(layer.params["kernel"], dtype=np.float64)))
                  for layer in penalised.layers[:2])
    assert penalised.evaluate(x, y, verbose=0)[0] == pytest.approx(
        plain.evaluate(x, y, verbose=0)[0] + penalty, rel=1e-6)
    assert penalised.train_on_batch(x, y) == pytest.approx(
        plain.train_on_batch(x, y) + penalty, rel=1e-6)


@pytest.mark.parametrize("reg", [regularizers.l1(0.01), regularizers.l2(0.02),
                                 regularizers.l1_l2(l1=0.01, l2=0.02)], ids=repr)
def test_penalised_gradients_match_central_differences(backend_in_use, data, reg):
    x, y = data
    model = _model(reg, dtype="float64", bias_reg=regularizers.l2(0.1))
    for xin in (x.astype(np.float64), sparse.CSRMatrix.from_dense(x)):
        report = gradcheck.check_gradients(model, xin, y, max_entries=40)
        assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("units", [8, 128])  # 128: a wide layer's fused product step too
@pytest.mark.parametrize("reg", [regularizers.l1(0.01), regularizers.l2(0.02)], ids=repr)
def test_a_sparse_first_layer_gets_the_dense_penalised_gradient_exactly(backend_in_use,
                                                                        data, reg, units):
    """The penalty's gradient touches every row, also the rows of words absent from the
    batch; the sum equals the dense computation bit for bit."""
    x, y = data
    x[:, :5] = 0  # five features no sample has
    dense_model, sparse_model = _model(reg, units=units), _model(reg, units=units)
    dense_g = gradcheck.backprop_gradients(dense_model, x, y)["dense/kernel"]
    grad = sparse_model.layers[0].grads
    sparse_g = gradcheck.backprop_gradients(sparse_model, sparse.CSRMatrix.from_dense(x),
                                            y)["dense/kernel"]
    assert isinstance(grad["kernel"], np.ndarray)  # dense, not row-sparse
    kernel = sparse_model.layers[0].params["kernel"]
    np.testing.assert_array_equal(sparse_g[:5], reg.gradient(kernel)[:5])
    assert np.all(sparse_g[:5] != 0)
    np.testing.assert_allclose(sparse_g, dense_g, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("units", [8, 128])
def test_training_changes_the_absent_rows_only_with_a_penalty(data, units):
    x, y = data
    x[:, :5] = 0
    xs = sparse.CSRMatrix.from_dense(x)
    for reg, changed in ((None, False), (regularizers.l2(0.01), True)):
        model = _model(reg, units=units)
        before = model.get_weights()[0][:5].copy()
        model.fit(xs, y, batch_size=8, epochs=1, verbose=0)
        assert (not np.array_equal(model.get_weights()[0][:5], before)) == changed


def test_regularizers_are_saved_and_loaded(tmp_path, data):
    x, y = data
    model = _model(regularizers.l1_l2(l1=0.001, l2=0.002), bias_reg="l1")
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npz")
    again = models.load_model(tmp_path / "m.npz")
    assert again.layers[0].kernel_regularizer == regularizers.L1L2(l1=0.001, l2=0.002)
    assert again.layers[0].bias_regularizer == regularizers.L1(0.01)
    assert again.layers[2].kernel_regularizer is None
    assert again.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


def test_a_custom_regularizer_trains_and_loads_through_custom_objects(tmp_path, data):
    class Quartic(regularizers.Regularizer):
        def __init__(self, c=0.1):
            self.c = c

        def __call__(self, w):
            return w.dtype.type(self.c) * np.sum(w ** 4)

        def gradient(self, w):
            return w.dtype.type(self.c) * 4 * w ** 3

        def get_config(self):
            return {"c": self.c}

    x, y = data
    model = _model(Quartic(0.2), dtype="float64")
    assert gradcheck.check_gradients(model, x, y).max_rel_error < 1e-6
    model.save(tmp_path / "q.npz")
    with pytest.raises(ValueError, match="unknown regularizer class 'Quartic'"):
        models.load_model(tmp_path / "q.npz")
    again = models.load_model(tmp_path / "q.npz", custom_objects={"Quartic": Quartic})
    assert again.layers[1].kernel_regularizer.c == 0.2


# ------------------------------------------------------------ against live Keras 3

@pytest.mark.parametrize("name", ["l2", "l1", "l1_l2"])
@pytest.mark.parametrize("as_sparse", [False, True], ids=["dense", "sparse"])
def test_training_with_penalties_matches_live_keras(keras, name, as_sparse):
    """The notebook's model with a penalty of 0.001 on both hidden layers (the overfitting
    notebook's), RMSprop, 4 epochs of 7 batches from the same initial weights: the history
    (loss and val_loss with the penalty) and the weights agree with Keras 3 on TensorFlow
    to float32 rounding (measured: 1.5e-7 and 7e-6 relative)."""
    factors = {"l2": {"l2": 0.001}, "l1": {"l1": 0.001}, "l1_l2": {"l1": 0.001, "l2": 0.001}}
    ours_reg = getattr(regularizers, name)(**factors[name])
    rng = np.random.default_rng(0)
    x = (rng.random((200, 300)) < 0.05).astype(np.float32)
    y = (rng.random(200) < 0.5).astype(np.float32)
    model = models.Sequential([
        layers.Dense(16, "relu", input_shape=(300,), kernel_regularizer=ours_reg),
        layers.Dense(16, "relu", kernel_regularizer=ours_reg),
        layers.Dense(1, "sigmoid")], seed=1)
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    theirs_reg = getattr(keras.regularizers, name)(**factors[name])
    twin = keras.Sequential([keras.Input((300,)),
                             keras.layers.Dense(16, "relu", kernel_regularizer=theirs_reg),
                             keras.layers.Dense(16, "relu", kernel_regularizer=theirs_reg),
                             keras.layers.Dense(1, "sigmoid")])
    twin.compile(keras.optimizers.RMSprop(), "binary_crossentropy", metrics=["accuracy"])
    twin.set_weights(model.get_weights())
    xin = sparse.CSRMatrix.from_dense(x) if as_sparse else x
    ours = model.fit(xin, y, batch_size=32, epochs=4, shuffle=False, verbose=0,
                     validation_data=(xin, y)).history
    theirs = twin.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0,
                      validation_data=(x, y)).history
    for key, values in ours.items():
        np.testing.assert_allclose(values, theirs[key], rtol=1e-6, err_msg=key)
    for u, v in zip(model.get_weights(), twin.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)
