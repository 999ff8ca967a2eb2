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
