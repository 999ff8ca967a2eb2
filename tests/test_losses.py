"""`nn.losses`: gradients against central differences and the chain rule, and Keras's values;
on both backends (`backend_in_use`) where the backend computes them."""

import numpy as np
import pytest

from nn import activations, losses, models


@pytest.mark.parametrize("loss", [losses.binary_crossentropy, losses.mean_squared_error])
def test_loss_gradient_matches_differences(backend_in_use, loss):
    rng = np.random.default_rng(3)
    y = (rng.random((6, 2)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, size=(6, 2))
    numeric = np.empty_like(p)
    h = 1e-6
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (loss(y, up) - loss(y, down)) / (2 * h)
    np.testing.assert_allclose(loss.gradient(y, p), numeric, rtol=1e-6)


def test_fused_gradient_equals_chain_rule():
    rng = np.random.default_rng(4)
    y = (rng.random((8, 1)) > 0.5).astype(float)
    p = activations.sigmoid.forward(rng.normal(size=(8, 1)))
    fused = losses.binary_crossentropy.fused_gradient(y, p, activations.sigmoid)
    chained = activations.sigmoid.backward(p, losses.binary_crossentropy.gradient(y, p))
    np.testing.assert_allclose(fused, chained, rtol=1e-10)
    assert losses.binary_crossentropy.fused_gradient(y, p, activations.tanh) is None


def test_binary_crossentropy_matches_keras_values(backend_in_use):
    # Keras 3: keras.losses.binary_crossentropy([[0, 1, 1]], [[0, 0.6, 1.0]]) clips p to
    # [1e-7, 1 - 1e-7]: -(log(1 - 1e-7) + log(0.6) + log(1 - 1e-7)) / 3.
    value = losses.binary_crossentropy(np.array([[0.0, 1, 1]]), np.array([[0.0, 0.6, 1.0]]))
    assert value == pytest.approx(-(2 * np.log(1 - 1e-7) + np.log(0.6)) / 3, rel=1e-12)
    # A confidently wrong prediction is capped at -log(1e-7) = 16.118.
    assert losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]])) \
        == pytest.approx(16.118095, rel=1e-6)


# --- sample_weight: Keras's "sum_over_batch_size" (keras/src/losses/loss.py) ----------------

LOSSES = [losses.binary_crossentropy, losses.mean_squared_error, losses.mean_absolute_error,
          losses.BinaryCrossentropy(label_smoothing=0.2),
          losses.BinaryCrossentropy(from_logits=True)]


def _finite_differences(f, p, h=1e-6):
    numeric = np.empty_like(p)
    for i in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[i] = (f(up) - f(down)) / (2 * h)
    return numeric


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_sample_weight_is_sum_of_weighted_sample_losses_over_n(backend_in_use, loss):
    rng = np.random.default_rng(5)
    y = (rng.random((5, 3)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, size=(5, 3))
    w = rng.uniform(0, 2, size=5)
    per_sample = [loss(y[i:i + 1], p[i:i + 1]) for i in range(5)]
    assert loss(y, p, sample_weight=w) == pytest.approx(np.dot(w, per_sample) / 5, rel=1e-12)
    # (n, 1) weights and one number are taken as Keras takes them; ones change nothing
    assert loss(y, p, sample_weight=w[:, None]) == pytest.approx(np.dot(w, per_sample) / 5)
    assert loss(y, p, sample_weight=2.0) == pytest.approx(2 * loss(y, p), rel=1e-12)
    assert loss(y, p, sample_weight=np.ones(5)) == pytest.approx(loss(y, p), rel=1e-12)


@pytest.mark.parametrize("loss", LOSSES, ids=repr)
def test_weighted_gradient_matches_differences(backend_in_use, loss):
    rng = np.random.default_rng(6)
    y = (rng.random((4, 2)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, size=(4, 2))
    p[0, 0] = y[0, 0] + 0.3 if y[0, 0] == 0 else y[0, 0] - 0.3  # no |p - y| kink within h
    w = rng.uniform(0, 2, size=4)
    numeric = _finite_differences(lambda q: loss(y, q, sample_weight=w), p)
    np.testing.assert_allclose(loss.gradient(y, p, sample_weight=w), numeric, rtol=1e-6)


def test_weighted_fused_gradient_equals_chain_rule():
    rng = np.random.default_rng(7)
    y = (rng.random((8, 1)) > 0.5).astype(float)
    p = activations.sigmoid.forward(rng.normal(size=(8, 1)))
    w = rng.uniform(0, 2, size=8)
    for loss in (losses.binary_crossentropy, losses.BinaryCrossentropy(label_smoothing=0.1)):
        fused = loss.fused_gradient(y, p, activations.sigmoid, sample_weight=w)
        chained = activations.sigmoid.backward(p, loss.gradient(y, p, sample_weight=w))
        np.testing.assert_allclose(fused, chained, rtol=1e-10)


def test_sample_weight_that_does_not_fit_is_refused(backend_in_use):
    y, p = np.zeros((2, 3)), np.full((2, 3), 0.5)
    for loss in (losses.binary_crossentropy, losses.mean_squared_error):
        with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit"):
            loss(y, p, sample_weight=[1.0, 2.0, 3.0])
        with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit"):
            loss.gradient(y, p, sample_weight=[1.0, 2.0, 3.0])


# --- options: label smoothing and logits ---------------------------------------------------

@pytest.mark.parametrize("loss", [losses.BinaryCrossentropy(label_smoothing=0.3),
                                  losses.BinaryCrossentropy(from_logits=True),
                                  losses.BinaryCrossentropy(from_logits=True,
                                                            label_smoothing=0.1),
                                  losses.mean_absolute_error], ids=repr)
def test_option_gradient_matches_differences(backend_in_use, loss):
    rng = np.random.default_rng(8)
    y = (rng.random((6, 2)) > 0.5).astype(float)
    p = rng.normal(0, 3, size=(6, 2)) if getattr(loss, "from_logits", False) \
        else rng.uniform(0.05, 0.95, size=(6, 2))
    numeric = _finite_differences(lambda q: loss(y, q), p)
    np.testing.assert_allclose(loss.gradient(y, p), numeric, rtol=1e-6)


def test_label_smoothing_is_the_loss_of_smoothed_labels(backend_in_use):
    rng = np.random.default_rng(9)
    y = (rng.random((5, 3)) > 0.5).astype(float)
    p = rng.uniform(0.05, 0.95, size=(5, 3))
    s = 0.2
    smooth = losses.BinaryCrossentropy(label_smoothing=s)
    assert smooth(y, p) == pytest.approx(losses.binary_crossentropy(y * (1 - s) + s / 2, p),
                                         rel=1e-12)
    np.testing.assert_allclose(smooth.gradient(y, p),
                               losses.binary_crossentropy.gradient(y * (1 - s) + s / 2, p))


def test_from_logits_is_the_loss_of_the_sigmoid_without_its_clip(backend_in_use):
    z = np.array([[-30.0, -3.0, 0.0, 2.5, 40.0]])
    y = np.array([[1.0, 0.0, 1.0, 1.0, 0.0]])
    logits = losses.BinaryCrossentropy(from_logits=True)
    p = activations.sigmoid.forward(z)
    exact = np.logaddexp(0, np.where(y == 1, -z, z))  # -log sigmoid(z), -log(1 - sigmoid(z))
    assert logits(y, z) == pytest.approx(np.mean(exact), rel=1e-12)
    assert np.isfinite(logits(np.array([[1.0]]), np.array([[-1000.0]])))
    # dL/dz = (sigmoid(z) - y) / n, finite at any z
    np.testing.assert_allclose(logits.gradient(y, z), (p - y) / 5, rtol=1e-12, atol=1e-300)
    assert logits.fused_gradient(y, z, activations.sigmoid) is None  # z is not a probability


def test_function_form_takes_the_options(backend_in_use):
    rng = np.random.default_rng(10)
    y = (rng.random((4, 2)) > 0.5).astype(float)
    z = rng.normal(size=(4, 2))
    cls = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.binary_crossentropy(y, z, from_logits=True, label_smoothing=0.1) == cls(y, z)
    np.testing.assert_array_equal(
        losses.binary_crossentropy.gradient(y, z, from_logits=True, label_smoothing=0.1),
        cls.gradient(y, z))
    assert losses.binary_crossentropy.from_logits is False  # the shared instance is unchanged


def test_mae_derivative_at_p_equal_y_is_zero_as_tensorflow():
    y = np.array([[1.0, 2.0]])
    p = np.array([[1.0, 3.0]])
    np.testing.assert_array_equal(losses.mean_absolute_error.gradient(y, p), [[0.0, 0.5]])


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", None, True])
def test_bad_label_smoothing_is_refused(bad):
    with pytest.raises(ValueError, match="label_smoothing must be a number in \\[0, 1\\]"):
        losses.BinaryCrossentropy(label_smoothing=bad)


def test_bad_from_logits_is_refused():
    with pytest.raises(ValueError, match="from_logits must be True or False; got 'yes'"):
        losses.BinaryCrossentropy(from_logits="yes")


# --- shapes as Keras pairs them -------------------------------------------------------------

def test_labels_n_with_predictions_n_by_1_are_n_samples(backend_in_use):
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([[0.9], [0.2], [0.3], [0.4]])
    for loss in (losses.binary_crossentropy, losses.mean_squared_error,
                 losses.mean_absolute_error):
        assert loss(y, p) == pytest.approx(loss(y[:, None], p), rel=1e-15)
        assert loss(p, y) == pytest.approx(loss(p, y[:, None]), rel=1e-15)
        assert loss.gradient(y, p).shape == (4, 1)
        assert loss.gradient(p.ravel(), y[:, None]).shape == (4, 1)
        np.testing.assert_array_equal(loss.gradient(y, p), loss.gradient(y[:, None], p))


@pytest.mark.parametrize("y_shape, p_shape", [((3, 1), (3, 3)), ((3,), (3, 3)),
                                              ((3, 3), (3, 1)), ((4,), (4, 3))])
def test_binary_crossentropy_refuses_shapes_that_differ(backend_in_use, y_shape, p_shape):
    y, p = np.zeros(y_shape), np.full(p_shape, 0.5)
    match = r"binary_crossentropy: y_true and y_pred must have the same shape .*; got y_true"
    for f in (losses.binary_crossentropy, losses.binary_crossentropy.gradient):
        with pytest.raises(ValueError, match=match):
            f(y, p)
    with pytest.raises(ValueError, match=match):
        losses.binary_crossentropy.fused_gradient(y, p, activations.sigmoid)


def test_regression_losses_broadcast_as_keras(backend_in_use):
    rng = np.random.default_rng(11)
    y, p = rng.normal(size=(3, 1)), rng.normal(size=(3, 3))
    for loss in (losses.mean_squared_error, losses.mean_absolute_error):
        assert loss(y, p) == pytest.approx(loss(np.repeat(y, 3, axis=1), p), rel=1e-15)
        # y_pred broadcast along its axis of 1: the gradient sums over the copies
        numeric = _finite_differences(lambda q: loss(p, q), y)
        np.testing.assert_allclose(loss.gradient(p, y), numeric, rtol=1e-6)
        with pytest.raises(ValueError, match=r"y_true of shape \(4,\) does not fit y_pred of "
                                             r"shape \(4, 3\)"):
            loss(np.zeros(4), np.zeros((4, 3)))


# --- configs, names, save and load ----------------------------------------------------------

def test_get_config_round_trips_the_options():
    for loss in (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.25),
                 losses.binary_crossentropy, losses.mean_absolute_error):
        again = losses.get(loss.get_config())
        assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert losses.get({"name": "mse"}) is losses.mean_squared_error
    assert losses.get("mae") is losses.get("mean_absolute_error") is losses.mean_absolute_error
    with pytest.raises(ValueError, match="only \\['binary_crossentropy'\\] take"):
        losses.get({"name": "mse", "from_logits": True})
    with pytest.raises(ValueError, match="bad options in loss config"):
        losses.get({"name": "binary_crossentropy", "axis": 0})


@pytest.mark.parametrize("loss", [losses.BinaryCrossentropy(label_smoothing=0.1),
                                  losses.BinaryCrossentropy(from_logits=True), "mae"],
                         ids=str)
def test_a_compiled_model_saves_and_loads_its_loss_options(tmp_path, make_mlp, loss):
    activation = "linear" if getattr(loss, "from_logits", False) else "sigmoid"
    model = make_mlp(hidden=(4,), input_dim=3, out_activation=activation)
    model.compile(optimizer="rmsprop", loss=loss, metrics=["accuracy"])
    model.save(tmp_path / "model.nn")
    loaded = models.load_model(tmp_path / "model.nn")
    assert loaded.loss.get_config() == losses.get(loss).get_config()
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)


# --- Keras's golden values ------------------------------------------------------------------
# Inputs, expected values and tolerances from keras/src/losses/losses_test.py (Keras 3.15);
# Keras's assertAlmostEqual is to 3 decimals, assertAllClose to 1e-6.

def almost(value, decimal=3):
    return pytest.approx(value, abs=1.5 * 10 ** -decimal, rel=0)


REG_Y = np.array([[1, 9, 2], [-5, -2, 6]])
REG_P = np.array([[4, 8, 12], [8, 1, 3]], dtype="float32")


@pytest.mark.parametrize("loss, unweighted, scalar, weighted, timestep", [
    # MeanSquaredErrorTest::test_unweighted, test_scalar_weighted, test_sample_weighted,
    # test_timestep_weighted
    (losses.mean_squared_error, 49.5, 113.85, 767.8 / 6, 97.833336),
    # MeanAbsoluteErrorTest::(the same four tests)
    (losses.mean_absolute_error, 5.5, 12.65, 81.4 / 6, 13.833333)], ids=["mse", "mae"])
def test_keras_regression_losses(backend_in_use, loss, unweighted, scalar, weighted, timestep):
    assert loss(REG_Y, REG_P) == almost(unweighted)
    assert loss(REG_Y, REG_P, sample_weight=2.3) == almost(scalar)
    assert loss(REG_Y, REG_P, sample_weight=np.array([[1.2], [3.4]])) == almost(weighted)
    assert loss(REG_Y.reshape(2, 3, 1), REG_P.reshape(2, 3, 1),
                sample_weight=np.array([3, 6, 5, 0, 4, 2]).reshape(2, 3)) == almost(timestep)
    # ::test_all_correct_unweighted, ::test_zero_weighted
    assert loss(REG_P, REG_P) == almost(0.0)
    assert loss(REG_Y, REG_P, sample_weight=0) == almost(0.0)


def test_keras_mse_function_reduces_the_last_axis(backend_in_use):
    # MeanSquaredErrorTest::test_base_function_reduction: labels (3,) with predictions (3, 1)
    # are 3 samples (nn's function form returns their mean: Keras's values' mean)
    y, p = np.array([4, 8, 12]), np.array([[3], [0], [1]])
    assert losses.mean_squared_error(y, p) == pytest.approx((1 + 64 + 121) / 3, rel=1e-15)


BCE_Y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="float32")
BCE_Y2, BCE_P2 = np.array([1, 0, 1, 0]).reshape(2, 2), \
    np.array([1, 1, 1, 0], dtype="float32").reshape(2, 2)
BCE_YL, BCE_Z = np.array([[1, 0, 1], [0, 1, 1]]), \
    np.array([[10.0, -10.0, 10.0], [10.0, 10.0, -10.0]])


def test_keras_binary_crossentropy_all_correct(backend_in_use):
    # BinaryCrossentropyTest::test_all_correct_unweighted
    assert losses.BinaryCrossentropy()(BCE_Y, BCE_Y) == almost(0.0)
    z = np.where(BCE_Y == 1, 10.0, -10.0)
    assert losses.BinaryCrossentropy(from_logits=True)(BCE_Y, z) == almost(0.0)


def test_keras_binary_crossentropy_unweighted(backend_in_use):
    # BinaryCrossentropyTest::test_unweighted
    p = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1], [0.1, 0.2, 0.7]], dtype="float32")
    assert losses.BinaryCrossentropy()(BCE_Y, p) == pytest.approx(0.20046903, abs=1e-6,
                                                                  rel=1e-6)
    assert losses.BinaryCrossentropy()(BCE_Y2, BCE_P2) == almost(3.98559)
    assert losses.BinaryCrossentropy(from_logits=True)(BCE_YL, BCE_Z) == almost(3.3333)


def test_keras_binary_crossentropy_weighted(backend_in_use):
    # BinaryCrossentropyTest::test_scalar_weighted
    assert losses.BinaryCrossentropy()(BCE_Y2, BCE_P2, sample_weight=2.3) == almost(9.1668)
    logits = losses.BinaryCrossentropy(from_logits=True)
    assert logits(BCE_YL, BCE_Z, sample_weight=2.3) == almost(7.666)
    # BinaryCrossentropyTest::test_sample_weighted
    assert losses.BinaryCrossentropy()(BCE_Y2, BCE_P2, sample_weight=np.array([[1.2], [3.4]])) \
        == almost(4.7827)
    assert logits(BCE_YL, BCE_Z, sample_weight=np.array([4, 3])) == almost(10.0)


def test_keras_binary_crossentropy_label_smoothing(backend_in_use):
    # BinaryCrossentropyTest::test_label_smoothing
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    assert loss(np.array([[1, 0, 1]]), np.array([[10.0, -10.0, -10.0]])) \
        == almost((10.0 + 5.0 * 0.1) / 3.0)


def test_keras_binary_crossentropy_shape_mismatch(backend_in_use):
    # BinaryCrossentropyTest::test_shape_mismatch (Keras: "must have the same shape")
    p = np.array([[0.9, 0.05, 0.05], [0.5, 0.89, 0.6], [0.05, 0.01, 0.94]])
    with pytest.raises(ValueError, match="must have the same shape"):
        losses.BinaryCrossentropy()(np.array([[0], [1], [2]]), p)


# --- live cross-checks against installed Keras 3 --------------------------------------------


def _keras_loss(keras, loss, dtype="float32"):
    if isinstance(loss, losses.BinaryCrossentropy):
        return keras.losses.BinaryCrossentropy(from_logits=loss.from_logits,
                                               label_smoothing=loss.label_smoothing,
                                               dtype=dtype)
    return {"mean_squared_error": keras.losses.MeanSquaredError,
            "mean_absolute_error": keras.losses.MeanAbsoluteError}[loss.name](dtype=dtype)


LIVE_LOSSES = [losses.binary_crossentropy, losses.BinaryCrossentropy(label_smoothing=0.1),
               losses.BinaryCrossentropy(from_logits=True),
               losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3),
               losses.mean_squared_error, losses.mean_absolute_error]


def _live_inputs(loss, rng, shape=(16, 3), dtype="float32"):
    y = (rng.random(shape) > 0.5).astype(dtype)
    if getattr(loss, "from_logits", False):
        p = rng.normal(0, 8, size=shape).astype(dtype)
    else:
        p = rng.random(shape).astype(dtype)
        p.flat[:4] = [0.0, 1.0, 1e-9, 1 - 1e-9]  # the clip at work
        p.flat[4] = y.flat[4]  # |p - y| at its kink
    return y, p


@pytest.mark.parametrize("weights", [None, "per sample", "column", "number"])
@pytest.mark.parametrize("loss", LIVE_LOSSES, ids=repr)
def test_live_loss_values(backend_in_use, keras, loss, weights):
    rng = np.random.default_rng(12)
    y, p = _live_inputs(loss, rng)
    w = {None: None, "per sample": rng.uniform(0, 3, 16).astype("float32"),
         "column": rng.uniform(0, 3, (16, 1)).astype("float32"), "number": 2.5}[weights]
    theirs = float(_keras_loss(keras, loss)(y, p, sample_weight=w))
    assert loss(y, p, sample_weight=w) == pytest.approx(theirs, rel=2e-6)


@pytest.mark.parametrize("loss", LIVE_LOSSES, ids=repr)
def test_live_loss_gradients(backend_in_use, keras, loss):
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(13)
    y, p = _live_inputs(loss, rng, shape=(8, 2), dtype="float64")
    p.flat[:4] = 0.5 if not getattr(loss, "from_logits", False) else p.flat[:4]  # no clip edge
    w = rng.uniform(0, 3, 8)
    for sample_weight in (None, w):
        variable = tf.Variable(p)
        with tf.GradientTape() as tape:
            value = _keras_loss(keras, loss, "float64")(y, variable, sample_weight=sample_weight)
        np.testing.assert_allclose(loss.gradient(y, p, sample_weight=sample_weight),
                                   tape.gradient(value, variable).numpy(),
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("y_shape, p_shape", [((4,), (4, 1)), ((4, 1), (4,)), ((3, 1), (3, 3)),
                                              ((3,), (3, 3)), ((3, 3), (3, 1)),
                                              ((4,), (4, 3)), ((5,), (5,))])
@pytest.mark.parametrize("loss", [losses.binary_crossentropy, losses.mean_squared_error,
                                  losses.mean_absolute_error], ids=repr)
def test_live_shapes(backend_in_use, keras, loss, y_shape, p_shape):
    rng = np.random.default_rng(14)
    y = (rng.random(y_shape) > 0.5).astype("float32")
    p = rng.random(p_shape).astype("float32")
    try:
        theirs = float(_keras_loss(keras, loss)(y, p))
    except Exception:  # Keras refuses the pair (a ValueError, or TensorFlow's own error)
        with pytest.raises(ValueError, match=r"\(.*\).*\(.*\)"):  # naming both shapes
            loss(y, p)
        return
    assert loss(y, p) == pytest.approx(theirs, rel=2e-6)
