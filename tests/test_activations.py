"""`nn.activations`: each backward against central differences, and a sigmoid that does not
overflow."""

import numpy as np
import pytest

from nn import activations

ACTIVATIONS = ["relu", "sigmoid", "tanh", "linear"]


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
