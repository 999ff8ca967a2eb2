"""`nn.metrics`: shapes paired as Keras pairs them, the per-sample values, the weighted mean
Keras's metric objects take (`weighted_sums`), Keras's golden values and live Keras; on both
backends (`backend_in_use`)."""

import numpy as np
import pytest

from nn import metrics


def _mean(fn, batches, **kwargs):
    """The metric over ``batches`` of ``(y, p, sample_weight)``, as Keras's Mean sums it."""
    sums = [metrics.weighted_sums(fn(y, p, **kwargs), w) for y, p, w in batches]
    total, count = np.sum(sums, axis=0)
    return total / count if count else 0.0


def test_binary_accuracy_of_labels_n_and_predictions_n_by_1(backend_in_use):
    y = np.array([1.0, 0.0, 1.0, 0.0])
    p = np.array([[0.9], [0.2], [0.3], [0.4]])
    np.testing.assert_array_equal(metrics.binary_accuracy(y, p), [1, 1, 0, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(p > 0.5, y), [1, 1, 0, 1])
    np.testing.assert_array_equal(metrics.binary_accuracy(y, p.ravel()), [1, 1, 0, 1])  # per label
    assert metrics.binary_accuracy(y, p).mean() == 0.75  # Keras: 0.75 (not 4x4 broadcast)


@pytest.mark.parametrize("fn", [metrics.binary_accuracy, metrics.mean_squared_error,
                                metrics.mean_absolute_error])
def test_shapes_that_do_not_fit_are_refused(backend_in_use, fn):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: y_true of shape \(4,\) does not "
                                         r"fit y_pred of shape \(4, 3\)"):
        fn(np.zeros(4), np.zeros((4, 3)))


def test_shapes_that_broadcast_do_as_in_keras(backend_in_use):
    # keras.metrics.BinaryAccuracy on labels (3, 1) and predictions (3, 3): 4/9
    y = np.array([[1.0], [0.0], [1.0]])
    p = np.array([[0.1, 0.2, 0.7]] * 3)
    assert metrics.binary_accuracy(y, p).mean() == pytest.approx(4 / 9, rel=1e-15)
    np.testing.assert_allclose(metrics.mean_squared_error(y, p),
                               np.mean((p - y) ** 2, axis=1), rtol=1e-15)


@pytest.mark.parametrize("fn", [metrics.binary_accuracy, metrics.mean_squared_error,
                                metrics.mean_absolute_error])
def test_sample_weight_is_checked_and_values_come_back_unweighted(backend_in_use, fn):
    rng = np.random.default_rng(1)
    y, p = (rng.random((5, 2)) > 0.5).astype(float), rng.random((5, 2))
    w = rng.uniform(0, 2, size=5)
    np.testing.assert_array_equal(fn(y, p, sample_weight=w), fn(y, p))
    np.testing.assert_array_equal(fn(y, p, sample_weight=w[:, None]), fn(y, p))
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) does not fit metric "
                                         r"values of shape \(5,\)"):
        fn(y, p, sample_weight=np.ones(3))


def test_weighted_sums_is_the_weighted_mean_over_batches():
    values = [np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0])]
    weights = [np.array([2.0, 1.0, 0.0]), np.array([1.0, 3.0])]
    sums = [metrics.weighted_sums(v, w) for v, w in zip(values, weights)]
    assert sums == [(2.0, 3.0), (3.0, 4.0)]
    assert metrics.weighted_sums(values[0]) == (2.0, 3.0)  # unweighted: n samples
    assert metrics.weighted_sums(np.float64(0.5)) == (0.5, 1.0)  # one value counts once
    # one number weighs the batch's mean once, as in Keras: (0.75 * 2, 2)
    assert metrics.weighted_sums(np.array([[1.0, 0.0], [1.0, 1.0]]), 2.0) == (1.5, 2.0)
    assert metrics.weighted_sums(values[0], np.zeros(3)) == (0.0, 0.0)


# --- Keras's golden values ------------------------------------------------------------------
# Inputs, expected values and tolerances from keras/src/metrics/*_test.py (Keras 3.15).

ACC_Y = np.array([[1], [1], [0], [0]])
ACC_P = np.array([[0.98], [1], [0], [0.6]])


def test_keras_binary_accuracy_unweighted(backend_in_use):
    # accuracy_metrics_test.py::BinaryAccuracyTest::test_unweighted (both cases)
    for y in (ACC_Y, ACC_Y.ravel()):
        assert _mean(metrics.binary_accuracy, [(y, ACC_P, None)]) \
            == pytest.approx(0.75, abs=1e-3)


def test_keras_binary_accuracy_weighted(backend_in_use):
    # accuracy_metrics_test.py::BinaryAccuracyTest::test_weighted
    w = np.array([1, 0, 0, 1])
    assert _mean(metrics.binary_accuracy, [(ACC_Y, ACC_P, w)]) == pytest.approx(0.5, abs=1e-3)


def test_keras_binary_accuracy_weighted_rank_1(backend_in_use):
    # accuracy_metrics_test.py::BinaryAccuracyTest::test_weighted_rank_1
    y, p, w = np.array([1, 1, 0, 0]), np.array([0.98, 1, 0, 0.6]), np.array([1, 0, 0, 1])
    assert _mean(metrics.binary_accuracy, [(y, p, w)]) == pytest.approx(0.5, abs=1e-3)


def test_keras_binary_accuracy_threshold(backend_in_use):
    # accuracy_metrics_test.py::BinaryAccuracyTest::test_threshold
    p = np.array([[0.98], [0.5], [0.1], [0.2]])
    assert _mean(metrics.binary_accuracy, [(ACC_Y, p, None)], threshold=0.3) \
        == pytest.approx(1.0, abs=1e-6, rel=1e-6)
    assert _mean(metrics.binary_accuracy, [(ACC_Y, p, None)], threshold=0.9) \
        == pytest.approx(0.75, abs=1e-6, rel=1e-6)


REG_Y = np.array([[0, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]])
REG_P = np.array([[0, 0, 1, 1, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0], [1, 1, 1, 1, 1]])


@pytest.mark.parametrize("fn", [metrics.mean_squared_error, metrics.mean_absolute_error])
def test_keras_regression_metrics(backend_in_use, fn):
    # regression_metrics_test.py::MeanSquaredErrorTest::test_unweighted / test_weighted and
    # ::MeanAbsoluteErrorTest::test_unweighted / test_weighted
    assert _mean(fn, [(REG_Y, REG_P, None)]) == pytest.approx(0.5, abs=1e-5)
    w = np.array([1.0, 1.5, 2.0, 2.5])
    assert _mean(fn, [(REG_Y, REG_P, w)]) == pytest.approx(0.54285, abs=1e-5)


# --- live cross-checks against installed Keras 3 --------------------------------------------


LIVE = {"binary_accuracy": (metrics.binary_accuracy, "BinaryAccuracy"),
        "mean_squared_error": (metrics.mean_squared_error, "MeanSquaredError"),
        "mean_absolute_error": (metrics.mean_absolute_error, "MeanAbsoluteError")}


@pytest.mark.parametrize("weights", [None, "per sample", "column"])
@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_metrics_over_batches(backend_in_use, keras, name, weights):
    fn, keras_class = LIVE[name]
    rng = np.random.default_rng(2)
    theirs = getattr(keras.metrics, keras_class)()
    batches = []
    for n, units in ((7, 3), (5, 3), (1, 3)):
        y = (rng.random((n, units)) > 0.5).astype("float32")
        p = rng.random((n, units)).astype("float32")
        w = {None: None, "per sample": rng.uniform(0, 2, n).astype("float32"),
             "column": rng.uniform(0, 2, (n, 1)).astype("float32")}[weights]
        theirs.update_state(y, p, sample_weight=w)
        batches.append((y, p, w))
    assert _mean(fn, batches) == pytest.approx(float(theirs.result()), rel=1e-6)


@pytest.mark.parametrize("y_shape, p_shape", [((4,), (4, 1)), ((4, 1), (4,)), ((3, 1), (3, 3)),
                                              ((3, 3), (3, 1)), ((4,), (4, 3))])
@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_metric_shapes(backend_in_use, keras, name, y_shape, p_shape):
    fn, keras_class = LIVE[name]
    rng = np.random.default_rng(3)
    y = (rng.random(y_shape) > 0.5).astype("float32")
    p = rng.random(p_shape).astype("float32")
    theirs = getattr(keras.metrics, keras_class)()
    try:
        theirs.update_state(y, p)
    except Exception:  # Keras refuses the pair
        with pytest.raises(ValueError, match=r"\(.*\).*\(.*\)"):  # naming both shapes
            fn(y, p)
        return
    assert _mean(fn, [(y, p, None)]) == pytest.approx(float(theirs.result()), rel=1e-6)
