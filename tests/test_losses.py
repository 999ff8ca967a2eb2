"""`nn.losses`: gradients against central differences and the chain rule, and Keras's values;
on both backends (`backend_in_use`) where the backend computes them."""

import numpy as np
import pytest

from nn import activations, losses


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
