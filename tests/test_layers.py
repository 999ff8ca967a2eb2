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
