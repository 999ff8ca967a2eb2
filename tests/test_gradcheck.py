"""`nn.gradcheck`: the central-difference check catches a wrong backward, flags and excludes
kinks without hiding a bug beside one, samples a sparse first layer's nonzero rows first, and
checks its input."""

import numpy as np
import pytest

from nn import activations, gradcheck, layers, models
from nn.sparse import CSRMatrix


def test_gradcheck_catches_a_wrong_backward(separable_data, make_mlp, small_bias):
    """A test that cannot fail is a defect: break relu's derivative and see the check fail."""

    class BrokenReLU(activations.ReLU):
        def backward(self, a, da):
            return da  # forgets the [a > 0] mask

    x, y = separable_data(n=16, d=5)
    model = make_mlp(hidden=(6,), activation=BrokenReLU(), dtype="float64",
                     bias_initializer=small_bias)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    assert gradcheck.check_gradients(model, x, y).max_rel_error > 1e-2


# ------------------------------------------------------- kinks and nonzero-first sampling

@pytest.fixture
def kinked_model(separable_data, make_mlp, small_bias):
    """``kinked_model(units=4, unit=1, seed=5) -> (model, x, y)``: a float64 relu network, a
    batch, and ``unit`` of sample 3 moved to z = h / 2: every stencil that moves that
    pre-activation by more than h / 2 flips the unit."""
    def build(units=4, unit=1, seed=5):
        x, y = separable_data(n=16, d=5, seed=seed)
        model = make_mlp(hidden=(units,), seed=seed, dtype="float64",
                         bias_initializer=small_bias)
        model.compile(optimizer="sgd", loss="binary_crossentropy")
        model.predict(x[:1])
        hidden = model.layers[0]
        z = x @ hidden.params["kernel"] + hidden.params["bias"]
        hidden.params["bias"][unit] += 0.5e-4 - z[3, unit]
        return model, x, y
    return build


def test_a_planted_kink_is_flagged_and_excluded(kinked_model):
    model, x, y = kinked_model()
    report = gradcheck.check_gradients(model, x, y)
    bias = report["dense/bias"]
    assert bias["kinks"] >= 1
    assert bias["max_rel_error_at_kinks"] > 1e-3, str(report)  # the straddled kink
    assert report.max_rel_error < 1e-6, str(report)            # the rest is fine
    assert report.kinks == sum(row["kinks"] for row in report.rows)
    assert report["dense_1/kernel"]["kinks"] == 0  # the output layer cannot flip a relu
    assert report.unverified == []
    assert "kinks" in str(report).splitlines()[0]


def test_a_backprop_bug_on_a_kink_free_entry_still_fails(kinked_model):
    model, x, y = kinked_model()
    backward = model._backward

    def buggy_backward(y, p):  # a wrong derivative for b[2] only, next to the kink at b[1]
        backward(y, p)
        model.layers[0].grads["bias"][2] += 0.1

    model._backward = buggy_backward
    report = gradcheck.check_gradients(model, x, y)
    assert report["dense/bias"]["kinks"] >= 1
    assert report["dense/bias"]["max_rel_error"] > 1e-2, str(report)
    assert report.max_rel_error > 1e-2


def test_a_parameter_checked_only_at_kinks_is_not_a_pass(kinked_model):
    """A unit sitting exactly on its kink for one sample: every entry of the hidden layer
    moves it, so none of them is verified, and the report must not say < 1e-6."""
    model, x, y = kinked_model(units=1, unit=0)
    hidden = model.layers[0]
    hidden.params["bias"][0] -= (x @ hidden.params["kernel"] + hidden.params["bias"])[3, 0]
    report = gradcheck.check_gradients(model, x, y)
    assert report.unverified == ["dense/kernel", "dense/bias"]
    assert np.isnan(report["dense/kernel"]["max_rel_error"])
    assert np.isnan(report.max_rel_error) and not report.max_rel_error < 1e-6
    assert report["dense_1/kernel"]["max_rel_error"] < 1e-6
    assert "nan" in str(report)


def sparse_batch(n=12, vocabulary=20, n_features=1000, seed=0):
    """Multi-hot rows over a few of ``n_features`` words (the others never occur)."""
    rng = np.random.default_rng(seed)
    words = rng.choice(n_features, size=vocabulary, replace=False)
    rows = [np.sort(rng.choice(words, size=rng.integers(2, 7), replace=False))
            for _ in range(n)]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
    x = CSRMatrix(indptr, np.concatenate(rows), shape=(n, n_features))
    return x, (rng.random((n, 1)) > 0.5).astype(np.float64), words


@pytest.mark.parametrize("max_entries", [24, 64, 200])
def test_sampling_checks_the_nonzero_rows_of_a_sparse_first_layer_first(
        backend_in_use, make_mlp, small_bias, max_entries):
    x, y, words = sparse_batch()
    model = make_mlp(hidden=(4,), input_dim=1000, seed=2, dtype="float64",
                     bias_initializer=small_bias)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    g = gradcheck.backprop_gradients(model, x, y)["dense/kernel"]
    nonzero = np.flatnonzero(g)
    assert 24 < nonzero.size < 200 and set(np.nonzero(g)[0]) <= set(words)
    report = gradcheck.check_gradients(model, x, y, max_entries=max_entries, seed=1)
    row = report["dense/kernel"]
    assert row["checked"] == max_entries
    assert row["nonzero"] == min(max_entries, nonzero.size)  # uniform sampling: ~1 in 12
    assert report.max_rel_error < 1e-6, str(report)
    picks = gradcheck.choose_entries(g.reshape(-1), max_entries, np.random.default_rng(1))
    assert np.unique(picks).size == max_entries
    if max_entries > nonzero.size:
        assert set(nonzero) <= set(picks)
    again = gradcheck.check_gradients(model, x, y, max_entries=max_entries, seed=1)
    assert again.rows == report.rows  # deterministic for a seed


def test_backprop_gradients_checks_its_input_instead_of_crashing():
    """A 1-D y against (n, 1) outputs would broadcast to (n, n) and reach the compiled
    kernels out of bounds; it is taken as a column, and a wrong shape raises."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    model = models.Sequential(seed=0, dtype="float64")
    model.add(layers.Dense(4, activation="relu", input_shape=(3,)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    y = (x[:, 0] > 0).astype(float)
    flat = gradcheck.backprop_gradients(model, x, y)
    column = gradcheck.backprop_gradients(model, x, y.reshape(-1, 1))
    for key in flat:
        np.testing.assert_array_equal(flat[key], column[key])
    with pytest.raises(ValueError):
        gradcheck.backprop_gradients(model, x, y[:5])
    hidden = model.layers[0]
    hidden.forward(x, training=True)
    with pytest.raises(ValueError, match="dL/da has shape"):
        hidden.backward(np.ones((8, 8)))
