"""Optimizer steps against values worked out by hand (Keras 3's formulas)."""

import numpy as np
import pytest

from nn import optimizers

W0 = np.array([1.0, -2.0, 0.5], dtype=np.float32)
G1 = np.array([0.1, -0.4, 2.0], dtype=np.float32)
G2 = np.array([-0.3, 0.2, 1.0], dtype=np.float32)


def run(opt, grads):
    w = W0.copy()
    for g in grads:
        opt.apply([("w", w, g)])
    return w


def test_rmsprop_two_steps_by_hand():
    lr, rho, eps = 0.001, 0.9, 1e-7
    w = W0.astype(np.float64)
    v = np.zeros(3)
    for g in (G1, G2):
        v = rho * v + (1 - rho) * g.astype(np.float64) ** 2
        w = w - lr * g / np.sqrt(v + eps)  # epsilon inside the square root (Keras 3)
    got = run(optimizers.RMSprop(), [G1, G2])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, w, rtol=1e-6)
    # First step by hand: v = 0.1 g^2, so w moves by lr * g / sqrt(0.1 g^2 + eps).
    first = run(optimizers.RMSprop(), [G1])
    np.testing.assert_allclose(first[0], 1.0 - 0.001 * 0.1 / np.sqrt(0.001 + 1e-7), rtol=1e-6)


def test_rmsprop_epsilon_sits_inside_the_root():
    # g = 1e-4, epsilon = 1e-2: inside the root the step is lr * g / sqrt(0.1 g^2 + eps), about
    # 1e-6; PyTorch's placement, lr * g / (sqrt(0.1 g^2) + eps), would give about 1e-5.
    w = np.zeros(3, dtype=np.float32)
    optimizers.RMSprop(epsilon=1e-2).apply([("w", w, np.full(3, 1e-4, dtype=np.float32))])
    np.testing.assert_allclose(-w, 1e-3 * 1e-4 / np.sqrt(0.1 * 1e-8 + 1e-2), rtol=1e-5)


def test_rmsprop_accepts_keras2_lr():
    assert optimizers.RMSprop(lr=0.01).learning_rate == 0.01
    with pytest.raises(ValueError, match="lr is the old Keras 2 name"):
        optimizers.RMSprop(learning_rate=0.1, lr=0.01)


def test_sgd_plain_and_momentum_by_hand():
    np.testing.assert_allclose(run(optimizers.SGD(0.1), [G1, G2]), W0 - 0.1 * (G1 + G2),
                               rtol=1e-6)
    m1 = -0.1 * G1
    m2 = 0.9 * m1 - 0.1 * G2
    np.testing.assert_allclose(run(optimizers.SGD(0.1, momentum=0.9), [G1, G2]),
                               W0 + m1 + m2, rtol=1e-6)
    n1 = 0.9 * m1 - 0.1 * G1
    n2 = 0.9 * m2 - 0.1 * G2
    np.testing.assert_allclose(run(optimizers.SGD(0.1, momentum=0.9, nesterov=True), [G1, G2]),
                               W0 + n1 + n2, rtol=1e-6)


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.001, 0.9, 0.999, 1e-7
    w, m, v = W0.astype(np.float64), np.zeros(3), np.zeros(3)
    for t, g in enumerate((G1, G2), start=1):
        g = g.astype(np.float64)
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        w = w - alpha * m / (np.sqrt(v) + eps)
    np.testing.assert_allclose(run(optimizers.Adam(), [G1, G2]), w, rtol=1e-6)
    # Adam's first step moves every weight by about lr, whatever the gradient's scale.
    np.testing.assert_allclose(np.abs(run(optimizers.Adam(), [G1]) - W0), 0.001, rtol=1e-3)


def test_slot_state_is_kept_per_parameter_and_counted():
    opt = optimizers.RMSprop()
    a, b = W0.copy(), W0.copy()
    opt.apply([("a", a, G1), ("b", b, G2)])
    assert set(opt.slots) == {"a", "b"} and opt.iterations == 1
    np.testing.assert_allclose(opt.slots["a"]["velocity"], 0.1 * G1 ** 2, rtol=1e-6)


@pytest.mark.parametrize("name, cls", [("rmsprop", optimizers.RMSprop),
                                       ("sgd", optimizers.SGD), ("adam", optimizers.Adam)])
def test_get_by_name_gives_fresh_instances(name, cls):
    a, b = optimizers.get(name), optimizers.get(name.upper())
    assert isinstance(a, cls) and a is not b
    assert a.get_config()["name"] == name


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'.*rmsprop"):
        optimizers.get("adagrad")
    with pytest.raises(ValueError, match="learning_rate must be a positive number; got -1"):
        optimizers.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="rho must be in"):
        optimizers.RMSprop(rho=1.5)
    with pytest.raises(TypeError, match="optimizer must be"):
        optimizers.get(3)
