"""Backprop against central differences, in float64."""

import numpy as np
import pytest

from nn import activations, gradcheck, losses
from helpers import mlp, separable, small_bias

ACTIVATIONS = ["relu", "sigmoid", "tanh", "linear"]


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_model_gradients_match_central_differences(activation, loss, depth):
    x, y = separable(n=24, d=7, seed=depth)
    model = mlp(hidden=(5,) * depth, activation=activation, seed=depth, dtype="float64",
                bias_initializer=small_bias)
    model.compile(optimizer="sgd", loss=loss)
    report = gradcheck.check_gradients(model, x, y, max_entries=40)
    assert len(report.rows) == 2 * (depth + 1)
    assert report.max_rel_error < 1e-6, str(report)


@pytest.mark.parametrize("out", ["linear", "tanh", "relu"])
def test_mse_gradients_for_other_output_activations(out):
    x, y = separable(n=16, d=5)
    model = mlp(hidden=(4,), activation="tanh", out_activation=out, dtype="float64",
                bias_initializer=small_bias)
    model.layers[-1].bias_initializer = small_bias
    model.compile(optimizer="sgd", loss="mse")
    assert gradcheck.check_gradients(model, x, y).max_rel_error < 1e-6


def test_gradcheck_catches_a_wrong_backward():
    """A test that cannot fail is a defect: break relu's derivative and see the check fail."""

    class BrokenReLU(activations.ReLU):
        def backward(self, a, da):
            return da  # forgets the [a > 0] mask

    x, y = separable(n=16, d=5)
    model = mlp(hidden=(6,), activation=BrokenReLU(), dtype="float64",
                bias_initializer=small_bias)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert gradcheck.check_gradients(model, x, y).max_rel_error > 1e-2


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_matches_differences(name):
    act = activations.get(name)
    z = np.linspace(-3, 3, 41) + 0.013  # avoid relu's kink at exactly 0
    da = np.cos(z)
    h = 1e-6
    numeric = da * (act.forward(z + h) - act.forward(z - h)) / (2 * h)
    np.testing.assert_allclose(act.backward(act.forward(z), da), numeric, rtol=1e-6, atol=1e-9)


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype=np.float32)
    with np.errstate(over="raise"):
        a = activations.sigmoid.forward(z)
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, [0, 1.9287e-22, 0.5, 1, 1], rtol=1e-4)


@pytest.mark.parametrize("loss", [losses.binary_crossentropy, losses.mean_squared_error])
def test_loss_gradient_matches_differences(loss):
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


def test_binary_crossentropy_matches_keras_values():
    # Keras 3: keras.losses.binary_crossentropy([[0, 1, 1]], [[0, 0.6, 1.0]]) clips p to
    # [1e-7, 1 - 1e-7]: -(log(1 - 1e-7) + log(0.6) + log(1 - 1e-7)) / 3.
    value = losses.binary_crossentropy(np.array([[0.0, 1, 1]]), np.array([[0.0, 0.6, 1.0]]))
    assert value == pytest.approx(-(2 * np.log(1 - 1e-7) + np.log(0.6)) / 3, rel=1e-12)
    # A confidently wrong prediction is capped at -log(1e-7) = 16.118.
    assert losses.binary_crossentropy(np.array([[1.0]]), np.array([[0.0]])) \
        == pytest.approx(16.118095, rel=1e-6)
