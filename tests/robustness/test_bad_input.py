"""Each bad input raises ValueError or TypeError naming the problem."""

import numpy as np
import pytest

from nn import layers, losses, models


@pytest.fixture(scope="module")
def xy(separable_data):
    """A small separable problem: X (40, 5), Y (40,)."""
    return separable_data(n=40, d=5)


@pytest.fixture
def model(make_mlp):
    m = make_mlp(hidden=(4,), input_dim=5)
    m.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    return m


def test_x_y_length_mismatch(model, xy):
    X, Y = xy
    with pytest.raises(ValueError, match="same number of samples; got 40 in x and 39 in y"):
        model.fit(X, Y[:-1], verbose=0)


def test_wrong_feature_count(model):
    with pytest.raises(ValueError, match="x has 6 features but the model expects 5"):
        model.fit(np.ones((4, 6)), np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="has 6 features"):
        model.predict(np.ones((4, 6)))


def test_labels_outside_unit_interval(model, xy):
    X, Y = xy
    y = Y.copy()
    y[17] = 3
    with pytest.raises(ValueError, match=r"labels must be between 0 and 1 for "
                                         r"binary_crossentropy; got 3.0 at index 17"):
        model.fit(X, y, verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf(model, bad, xy):
    X, Y = xy
    x = X.copy()
    x[3, 2] = bad
    with pytest.raises(ValueError, match=r"x contains .* at index \(3, 2\)"):
        model.fit(x, Y, verbose=0)
    y = Y.copy()
    y[5] = bad
    with pytest.raises(ValueError, match=r"y contains .* at index \(5, 0\)"):
        model.evaluate(X, y, verbose=0)


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-3, ValueError),
                                               (2.5, TypeError), (True, TypeError)])
def test_bad_batch_size(model, batch_size, error, xy):
    X, Y = xy
    with pytest.raises(error, match="batch_size"):
        model.fit(X, Y, batch_size=batch_size, verbose=0)


def test_huge_batch_size_is_one_batch(model, xy):
    X, Y = xy
    model.fit(X, Y, batch_size=10**9, verbose=0)


def test_negative_epochs(model, xy):
    X, Y = xy
    with pytest.raises(ValueError, match="epochs must be 0 or more; got -1"):
        model.fit(X, Y, epochs=-1, verbose=0)


def test_empty_data(model):
    with pytest.raises(ValueError, match="empty"):
        model.fit(np.zeros((0, 5)), np.zeros(0), verbose=0)


def test_wrong_shapes(model, xy):
    X, Y = xy
    with pytest.raises(ValueError, match="must be 2-D"):
        model.fit(np.ones(5), np.ones(5), verbose=0)
    with pytest.raises(ValueError, match=r"y has shape \(40, 2\) but the model outputs"):
        model.fit(X, np.ones((40, 2)), verbose=0)
    with pytest.raises(TypeError, match="must hold numbers"):
        model.fit(np.array([["a"] * 5] * 2), np.ones(2), verbose=0)


def test_unknown_names_list_the_valid_ones(make_mlp):
    with pytest.raises(ValueError, match=r"unknown activation 'relux'; expected one of "
                                         r"\['linear', 'relu', 'sigmoid', 'tanh'\]"):
        layers.Dense(3, activation="relux")
    m = make_mlp(hidden=(4,))
    with pytest.raises(ValueError, match="unknown loss 'hinge'.*binary_crossentropy"):
        m.compile(optimizer="sgd", loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        m.compile(optimizer="adagrad", loss="mse")
    with pytest.raises(ValueError, match="unknown metric 'f1'.*accuracy"):
        m.compile(optimizer="sgd", loss="mse", metrics=["f1"])


def test_plain_function_loss_is_refused_with_a_recipe(make_mlp, xy):
    X, Y = xy
    def my_loss(y_true, y_pred):
        return np.mean((y_true - y_pred) ** 2)

    with pytest.raises(TypeError, match="my_loss is a plain function.*nn.losses.Loss.*"
                                        "gradient"):
        make_mlp().compile(optimizer="sgd", loss=my_loss)

    class MyLoss(losses.Loss):  # the recipe works
        def __call__(self, y_true, y_pred):
            return float(np.mean((y_true - y_pred) ** 2))

        def gradient(self, y_true, y_pred):
            return 2 * (y_pred - y_true) / y_pred.size

    m = make_mlp(hidden=(4,))
    m.compile(optimizer="sgd", loss=MyLoss())
    m.fit(X, Y, verbose=0)


def test_fit_before_compile(make_mlp, xy):
    X, Y = xy
    with pytest.raises(ValueError, match="must be compiled before fit"):
        make_mlp().fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="must be compiled before evaluate"):
        make_mlp().evaluate(X, Y, verbose=0)


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="units must be a positive integer; got 0"):
        layers.Dense(0)
    with pytest.raises(ValueError, match="1-D input_shape"):
        layers.Dense(3, input_shape=(2, 3))
    with pytest.raises(TypeError, match="add\\(\\) takes an nn.layers.Layer"):
        models.Sequential().add("dense")
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        models.Sequential(dtype="int32")


def test_set_weights_checks_count_and_shapes(model):
    weights = model.get_weights()
    with pytest.raises(ValueError, match="expected 4 weight arrays"):
        model.set_weights(weights[:3])
    weights[2] = np.zeros((5, 1))
    with pytest.raises(ValueError, match=r"dense_1/kernel has shape \(4, 1\)"):
        model.set_weights(weights)


def test_ragged_sequences_get_a_hint(model):
    from nn.sequences import Sequences
    with pytest.raises(TypeError, match="vectorize_sequences"):
        model.fit(Sequences.from_lists([[1, 2], [3]]), [0, 1], verbose=0)
