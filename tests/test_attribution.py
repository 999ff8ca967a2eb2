"""`nn.attribution`: the input gradient against central differences, occlusion against
predicting without each feature, on both backends, sparse and dense input.

Central differences of ``p`` in each input feature, in float64 with h = 1e-5: the error of a
smooth function's difference is ~h^2 |p'''| plus ~1e-16 / h of rounding, so the gradient is
checked to 1e-7 (measured: 1.1e-10 to 1.3e-10 with tanh layers). With ReLU layers an input step can move a
pre-activation across 0 (a kink); as in `nn.gradcheck`, such entries are detected by the ReLU
pattern at x +- h and left out of the comparison, and the test requires most entries to be
kink-free so it cannot pass on nothing.
"""

import numpy as np
import pytest

import nn
from nn import attribution, layers, models
from nn.activations import ReLU
from nn.sparse import CSRMatrix

H = 1e-5


def trained_model(activation, n_features, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.random((60, n_features)) < 0.25).astype(np.float64)
    y = rng.integers(0, 2, 60).astype(np.float64)
    model = models.Sequential(seed=seed, dtype="float64")
    model.add(layers.Dense(8, activation=activation, input_shape=(n_features,),
                           bias_initializer=lambda shape, rng, dtype:
                           rng.uniform(-0.5, 0.5, shape).astype(dtype)))
    model.add(layers.Dense(4, activation=activation))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model, x


def relu_pattern(model, x):
    """Which ReLU units are on, for every layer, at input x."""
    patterns, a = [], x
    for layer in model.layers:
        a = layer.forward(a)
        if isinstance(layer.activation, ReLU):
            patterns.append(a > 0)
    return patterns


def central_differences(model, x):
    """dp/dx by central differences, and where a ReLU unit changed state within the step."""
    grad, kink = np.zeros_like(x), np.zeros(x.shape, bool)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = H
        grad[:, j] = (model.predict(x + step)[:, 0] - model.predict(x - step)[:, 0]) / (2 * H)
        at = relu_pattern(model, x)
        for side in (x + step, x - step):
            for now, then in zip(relu_pattern(model, side), at):
                kink[:, j] |= np.any(now != then, axis=1)
    return grad, kink


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_the_input_gradient_is_the_central_difference(backend_in_use, activation):
    model, x = trained_model(activation, n_features=12)
    numeric, kink = central_differences(model, x)
    dense = attribution.input_gradient(model, x)
    assert dense.shape == x.shape and dense.dtype == np.float64
    assert kink.mean() < 0.2  # most entries are checked
    np.testing.assert_allclose(dense[~kink], numeric[~kink], rtol=0, atol=1e-7)
    sparse = attribution.input_gradient(model, CSRMatrix.from_dense(x), batch_size=7)
    assert isinstance(sparse, CSRMatrix) and sparse.nnz == np.count_nonzero(x)
    # only the features present, and there the dense gradient
    np.testing.assert_allclose(sparse.toarray(np.float64), np.where(x != 0, dense, 0),
                               rtol=0, atol=1e-12)


def test_both_backends_give_the_same_input_gradient():
    pytest.importorskip("numba")
    model, x = trained_model("relu", n_features=20, seed=1)
    xs = CSRMatrix.from_dense(x)
    results = []
    for name in ("numpy", "numba"):
        with nn.use_backend(name):
            results.append((attribution.input_gradient(model, xs).data,
                            attribution.occlusion(model, xs).data))
    for numpy_result, numba_result in zip(*results):
        np.testing.assert_allclose(numpy_result, numba_result, rtol=0, atol=1e-12)


def test_occlusion_is_the_prediction_without_each_feature(backend_in_use):
    model, x = trained_model("relu", n_features=10, seed=2)
    x = x[:9]
    got = attribution.occlusion(model, CSRMatrix.from_dense(x), batch_size=4)
    p = model.predict(x)[:, 0]
    want = np.zeros_like(x)
    for i, j in zip(*np.nonzero(x)):
        without = x[i:i + 1].copy()
        without[0, j] = 0
        want[i, j] = p[i] - model.predict(without)[0, 0]
    np.testing.assert_allclose(got.toarray(np.float64), want, rtol=0, atol=1e-15)
    np.testing.assert_allclose(attribution.occlusion(model, x), want, rtol=0, atol=1e-15)


def test_for_a_linear_model_occlusion_is_the_gradient_times_the_value(backend_in_use):
    """p = x @ w + c exactly: removing x_ij changes p by dp/dx_ij * x_ij."""
    rng = np.random.default_rng(3)
    model = models.Sequential(seed=3, dtype="float64")
    model.add(layers.Dense(3, activation="linear", input_shape=(15,)))
    model.add(layers.Dense(1, activation="linear"))
    x = CSRMatrix.from_dense(np.where(rng.random((5, 15)) < 0.4, rng.normal(size=(5, 15)), 0))
    gradient, occluded = attribution.input_gradient(model, x), attribution.occlusion(model, x)
    np.testing.assert_allclose(occluded.data, gradient.data * x.data, rtol=1e-12, atol=1e-14)


def test_the_model_is_left_as_it_was(backend_in_use):
    model, x = trained_model("relu", n_features=8, seed=4)
    weights = model.get_weights()
    grads = [dict(layer.grads) for layer in model.layers]
    attribution.input_gradient(model, x)
    attribution.occlusion(model, x)
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)
    for saved, layer in zip(grads, model.layers):
        assert all(saved[k] is layer.grads[k] for k in saved)


def test_bad_models_and_inputs_are_clear_errors():
    model, x = trained_model("relu", n_features=8, seed=5)
    with pytest.raises(ValueError, match="has 9 features but the model expects 8"):
        attribution.input_gradient(model, np.ones((2, 9)))
    wide = models.Sequential(seed=0)
    wide.add(layers.Dense(2, activation="sigmoid", input_shape=(8,)))
    with pytest.raises(ValueError, match="single output; the model's last layer has 2 units"):
        attribution.occlusion(wide, x)
    unbuilt = models.Sequential()
    unbuilt.add(layers.Dense(1))
    with pytest.raises(ValueError, match="needs a built"):
        attribution.input_gradient(unbuilt, x)


def test_an_empty_batch_is_refused_as_predict_refuses_it():
    model, x = trained_model("relu", n_features=8, seed=6)
    empty = CSRMatrix.from_dense(x[:0])
    for explain in (attribution.input_gradient, attribution.occlusion):
        with pytest.raises(ValueError, match="empty"):
            explain(model, empty)
    with pytest.raises(ValueError, match="empty"):
        model.predict(empty)


def test_dropout_layers_are_the_identity_for_attribution(backend_in_use):
    """Dropout does nothing at inference: a model with it attributes as the same model
    without it."""
    model, x = trained_model("tanh", 12)
    with_dropout = models.Sequential([layers.Dense(8, "tanh", input_shape=(12,)),
                                      layers.Dropout(0.5), layers.Dense(4, "tanh"),
                                      layers.Dropout(0.2), layers.Dense(1, "sigmoid")],
                                     dtype="float64")
    with_dropout.set_weights(model.get_weights())
    for method in (attribution.input_gradient, attribution.occlusion):
        for xin in (x, CSRMatrix.from_dense(x)):
            ours, plain = method(with_dropout, xin), method(model, xin)
            np.testing.assert_array_equal(np.asarray(getattr(ours, "data", ours)),
                                          np.asarray(getattr(plain, "data", plain)))
