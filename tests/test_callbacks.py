"""EarlyStopping, ModelCheckpoint, TerminateOnNaN, LambdaCallback; divergence warnings."""

import warnings

import numpy as np
import pytest

from nn import callbacks, layers, models, optimizers


@pytest.fixture(scope="module")
def xy(separable_data):
    """A small separable problem: X (200, 8), Y (200,)."""
    return separable_data(n=200, d=8)


@pytest.fixture
def compiled(make_mlp):
    """``compiled(seed=0, lr=0.01)``: an 8-8-1 model compiled with RMSprop(lr)."""
    def compile_model(seed=0, lr=0.01):
        model = make_mlp(hidden=(8,), input_dim=8, seed=seed)
        model.compile(optimizer=optimizers.RMSprop(lr), loss="binary_crossentropy",
                      metrics=["accuracy"])
        return model
    return compile_model


class Scripted:
    """Feeds EarlyStopping a fixed sequence of val_loss values."""

    def __init__(self, values, stopper):
        self.values, self.stopper = values, stopper

    def run(self, model):
        self.stopper.set_model(model)
        self.stopper.on_train_begin()
        for epoch, v in enumerate(self.values):
            model.layers[0].params["bias"][:] = epoch  # mark weights with the epoch
            self.stopper.on_epoch_end(epoch, {"val_loss": v, "val_accuracy": -v})
            if model.stop_training:
                break
        self.stopper.on_train_end()
        return epoch


def test_early_stopping_patience_and_restore(compiled):
    model = compiled()
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    last = Scripted([0.5, 0.4, 0.45, 0.41, 0.3], stopper).run(model)
    assert last == 3 and stopper.best_epoch == 1 and stopper.stopped_epoch == 3
    assert np.all(model.layers[0].params["bias"] == 1)  # weights of the best epoch


def test_early_stopping_min_delta_and_mode(compiled):
    model = compiled()
    stopper = callbacks.EarlyStopping(min_delta=0.05, patience=0)
    assert Scripted([0.5, 0.46, 0.2], stopper).run(model) == 1  # 0.04 is no improvement
    model.stop_training = False
    acc = callbacks.EarlyStopping(monitor="val_accuracy", patience=0)  # auto -> max
    assert Scripted([0.5, 0.4, 0.6], acc).run(model) == 2


def test_early_stopping_in_fit_restores_best_weights(compiled, xy):
    X, Y = xy
    model = compiled(lr=0.05)
    stopper = callbacks.EarlyStopping(patience=1, restore_best_weights=True)
    history = model.fit(X[:150], Y[:150], epochs=50, batch_size=16, verbose=0,
                        validation_data=(X[150:], Y[150:]), callbacks=[stopper])
    val = history.history["val_loss"]
    assert len(val) < 50 and stopper.best_epoch == int(np.argmin(val))
    assert model.evaluate(X[150:], Y[150:], batch_size=16, verbose=0)[0] \
        == pytest.approx(min(val), rel=1e-5)


def test_monitoring_a_missing_key_says_what_exists(compiled, xy):
    X, Y = xy
    model = compiled()
    with pytest.raises(ValueError, match=r"cannot monitor 'val_loss'.*\['accuracy', 'loss'\]"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])


def test_model_checkpoint_best_only(tmp_path, compiled, xy):
    X, Y = xy
    model = compiled()
    path = tmp_path / "best.npz"
    saved = []
    ckpt = callbacks.ModelCheckpoint(path, save_best_only=True)
    spy = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: saved.append(path.stat().st_mtime_ns))
    history = model.fit(X[:150], Y[:150], epochs=4, verbose=0,
                        validation_data=(X[150:], Y[150:]), callbacks=[ckpt, spy])
    best = int(np.argmin(history.history["val_loss"]))
    fresh = compiled(seed=5)
    fresh.load_weights(path)
    assert path.exists() and len(saved) == 4
    assert fresh.evaluate(X[150:], Y[150:], verbose=0)[0] <= history.history["val_loss"][best] + 1e-6


def test_model_checkpoint_formats_the_name(tmp_path, compiled, xy):
    X, Y = xy
    model = compiled()
    ckpt = callbacks.ModelCheckpoint(tmp_path / "w.{epoch:02d}-{loss:.2f}.npz",
                                     save_weights_only=False)
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[ckpt])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2 and names[0].startswith("w.01-") and names[1].startswith("w.02-")
    assert models.load_model(tmp_path / names[1]).count_params() == model.count_params()


def test_divergence_warns_and_terminate_on_nan_stops_within_the_epoch(separable_data, make_mlp):
    x, y = separable_data(n=400, d=8)
    model = make_mlp(hidden=(8,), input_dim=8, out_activation="linear")
    model.compile(optimizer=optimizers.SGD(learning_rate=1e6), loss="mse")
    batches = []
    spy = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))
    with pytest.warns(RuntimeWarning, match="training diverged"):
        with np.errstate(all="ignore"):
            history = model.fit(x, y, epochs=5, batch_size=8, verbose=0,
                                callbacks=[callbacks.TerminateOnNaN(), spy])
    assert len(history.history["loss"]) == 1 and len(batches) < 50
    assert not np.isfinite(history.history["loss"][0])


def test_lambda_callback_and_bad_callbacks(compiled, xy):
    X, Y = xy
    model = compiled()
    seen = []
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(epoch))])
    assert seen == [0, 1]
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        callbacks.LambdaCallback(on_epoch_end=3)
    with pytest.raises(TypeError, match="has none of the hooks"):
        model.fit(X, Y, verbose=0, callbacks=[object()])
    with pytest.raises(ValueError, match="mode must be"):
        callbacks.EarlyStopping(mode="up")


# ---- Keras 3's keras/src/callbacks/early_stopping_test.py, its scenarios and figures -------

class DummyModel:
    """A model whose "weights" are the number of the epoch they were set in."""

    def __init__(self):
        self.stop_training, self.weights = False, -1

    def get_weights(self):
        return self.weights

    def set_weights(self, weights):
        self.weights = weights


def run_stopper(stopper, values, monitor="val_loss", stop_at=None):
    """Feed ``values`` to ``stopper`` epoch by epoch as fit would; the epochs trained."""
    stopper.set_model(DummyModel())
    stopper.on_train_begin()
    trained = 0
    for epoch, value in enumerate(values):
        trained += 1
        stopper.model.weights = epoch
        stopper.on_epoch_end(epoch, {monitor: value})
        if epoch == stop_at:  # another callback asks to stop
            stopper.model.stop_training = True
        if stopper.model.stop_training:
            break
    stopper.on_train_end()
    return trained


@pytest.fixture
def tiny_regression(make_mlp):
    """early_stopping_test.py's model: x (10, 5) and y (10, 1) uniform, two Dense(1, relu),
    SGD, metric mse (Keras's loss there is mae, which nn does not have: mse instead)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((10, 5)), rng.random((10, 1))
    model = make_mlp(hidden=(1,), out_activation="relu", input_dim=5)
    model.compile(optimizer="sgd", loss="mse", metrics=["mse"])
    return model, x, y


@pytest.mark.parametrize("patience", [0, 1, 2, 3])
def test_early_stopping_patience_as_keras(patience):
    # early_stopping_test.py::test_early_stopping_patience
    stopper = callbacks.EarlyStopping(monitor="loss", patience=patience)
    run_stopper(stopper, [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5], monitor="loss")
    assert stopper.stopped_epoch == max(patience, 1) + 2


@pytest.mark.parametrize("mode, monitor, expected", [
    ("max", "val_mse", "max"), ("min", "val_loss", "min"), ("auto", "val_mse", "min"),
    ("auto", "loss", "min"), ("auto", "acc", "max"), ("auto", "val_accuracy", "max"),
    ("auto", "hinge", "min")])
def test_early_stopping_mode_as_keras(mode, monitor, expected):
    # early_stopping_test.py::test_early_stopping (its cases but f1_score, which nn lacks)
    stopper = callbacks.EarlyStopping(monitor=monitor, mode=mode)
    assert stopper.sign == (1.0 if expected == "max" else -1.0)


def test_early_stopping_on_an_unknown_monitor_raises(tiny_regression):
    # early_stopping_test.py::test_early_stopping (monitor="unknown" raises ValueError)
    model, x, y = tiny_regression
    with pytest.raises(ValueError, match="cannot monitor 'unknown'"):
        model.fit(x, y, batch_size=5, validation_data=(x, y), epochs=2, verbose=0,
                  callbacks=[callbacks.EarlyStopping(monitor="unknown")])


def test_early_stopping_state_resets_on_train_begin():
    # early_stopping_test.py::test_state_reset_across_fit_calls
    stopper = callbacks.EarlyStopping(monitor="loss", patience=3)
    stopper.set_model(DummyModel())
    stopper.on_train_begin()
    stopper.best, stopper.wait, stopper.stopped_epoch = 0.1, 3, 5
    stopper.best_epoch, stopper.best_weights = 5, object()
    stopper.on_train_begin()
    assert stopper.best is None and stopper.best_weights is None
    assert stopper.wait == stopper.stopped_epoch == stopper.best_epoch == 0


def test_early_stopping_reused_across_fits(make_mlp):
    # early_stopping_test.py::test_early_stopping_reuse
    rng = np.random.default_rng(0)
    data = rng.random((100, 1))
    labels = np.where(data > 0.5, 1, 0)
    model = make_mlp(hidden=(1,), out_activation="relu", input_dim=1)
    model.compile(optimizer="sgd", loss="mse", metrics=["mse"])
    stopper = callbacks.EarlyStopping(monitor="mse", patience=3)
    for _ in range(2):
        history = model.fit(data, labels, callbacks=[stopper], verbose=0, epochs=20)
        assert len(history.epoch) >= 3


def test_early_stopping_restores_the_best_epoch_also_below_the_baseline():
    # early_stopping_test.py::test_early_stopping_final_weights_when_restoring_model_weights
    stopper = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    run_stopper(stopper, [0.2, 0.15, 0.1, 0.11, 0.12])
    assert stopper.model.get_weights() == 2
    # No epoch beats the baseline: five epochs (patience), then the best of them.
    stopper = callbacks.EarlyStopping(patience=5, baseline=0.5, restore_best_weights=True)
    assert run_stopper(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73]) == 5
    assert stopper.model.get_weights() == 2
    # Another callback stops training: the best epoch is restored all the same.
    stopper = callbacks.EarlyStopping(patience=5, baseline=0.5, restore_best_weights=True)
    assert run_stopper(stopper, [0.9, 0.8, 0.7, 0.71, 0.72, 0.73], stop_at=3) == 4
    assert stopper.model.get_weights() == 2


def test_early_stopping_with_baseline_in_fit(tiny_regression):
    # early_stopping_test.py::test_early_stopping_with_baseline
    model, x, y = tiny_regression
    stopper = callbacks.EarlyStopping(monitor="mse", patience=3, baseline=0.6)
    history = model.fit(x, y, callbacks=[stopper], verbose=0, epochs=20)
    assert len(history.epoch) >= 3


@pytest.mark.parametrize("patience", [3, 0])
def test_early_stopping_start_from_epoch_in_fit(tiny_regression, patience):
    # early_stopping_test.py::test_early_stopping_with_start_from_epoch
    model, x, y = tiny_regression
    stopper = callbacks.EarlyStopping(monitor="mse", patience=patience, start_from_epoch=2)
    history = model.fit(x, y, callbacks=[stopper], verbose=0, epochs=20)
    assert len(history.epoch) >= patience + 2


def test_early_stopping_ignores_the_warm_up_epochs():
    stopper = callbacks.EarlyStopping(patience=1, start_from_epoch=2, restore_best_weights=True)
    # Epochs 0 and 1 (the best values) are not monitored; 2 is the first best.
    assert run_stopper(stopper, [0.1, 0.2, 0.5, 0.6, 0.4]) == 4
    assert stopper.best == 0.5 and stopper.best_epoch == 2 and stopper.model.weights == 2


def test_early_stopping_bad_options():
    with pytest.raises(TypeError, match="baseline must be a number"):
        callbacks.EarlyStopping(baseline="0.5")
    with pytest.raises(ValueError, match="start_from_epoch must be 0 or more; got -1"):
        callbacks.EarlyStopping(start_from_epoch=-1)
    with pytest.raises(TypeError, match="start_from_epoch must be an integer"):
        callbacks.EarlyStopping(start_from_epoch=1.5)



@pytest.mark.parametrize("values, options", [
    ([0.5, 0.4, 0.45, 0.41, 0.3, 0.5], {"patience": 2}),
    ([0.5, 0.4, 0.45, 0.41, 0.3, 0.5, 0.6, 0.7], {"patience": 0}),
    ([10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5], {"patience": 3, "min_delta": 0.15}),
    ([0.9, 0.8, 0.7, 0.71, 0.72, 0.73, 0.74], {"patience": 5, "baseline": 0.5}),
    ([0.9, 0.8, 0.4, 0.45, 0.46, 0.47, 0.48], {"patience": 2, "baseline": 0.5}),
    ([0.1, 0.2, 0.5, 0.6, 0.4, 0.45, 0.5], {"patience": 1, "start_from_epoch": 2}),
    ([0.3, 0.3 - 1e-12, 0.2, 0.1], {"patience": 0}),  # closer than float32 can tell
    ([float("nan"), 0.2, 0.1], {"patience": 1}),
    ([0.6, 0.7, 0.65, 0.8, 0.79, 0.78, 0.77], {"monitor": "val_acc", "patience": 2,
                                                "baseline": 0.75}),
])
def test_early_stopping_decides_as_live_keras(keras, values, options):
    """The same monitored values fed to Keras's EarlyStopping and nn's: the same epochs
    trained, stopping epoch, best epoch and value, and restored weights."""
    monitor = options.pop("monitor", "val_loss")
    results = []
    for module in (keras.callbacks, callbacks):
        stopper = module.EarlyStopping(monitor=monitor, restore_best_weights=True,
                                       mode="max" if "acc" in monitor else "min", **options)
        trained = run_stopper(stopper, values, monitor=monitor)
        results.append((trained, stopper.stopped_epoch, stopper.best_epoch,
                        str(stopper.best), stopper.model.weights))
    assert results[1] == results[0]


# ---- Keras 3's keras/src/callbacks/terminate_on_nan_test.py, its scenarios ----------------
# nn refuses infinite targets (Keras's tests use y = inf), so the loss overflows from a
# weight of 1e30 instead: with x = 1 a float32 prediction of 1e30 squares to inf.

def overflowing_model():
    model = models.Sequential([layers.Dense(1, input_shape=(1,))], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    model.set_weights([np.array([[1e30]]), np.zeros(1)])
    return model


def test_terminate_on_nan_stops_after_the_first_epoch():
    # terminate_on_nan_test.py::test_TerminateOnNaN
    rng = np.random.default_rng(1337)
    x, x_val = rng.random((10, 3)), rng.random((10, 3))
    y = np.eye(2)[rng.choice(2, size=10)]
    model = models.Sequential([layers.Dense(2, activation="relu", input_shape=(3,))]
                              + [layers.Dense(2, activation="relu") for _ in range(4)]
                              + [layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mean_squared_error")
    model.set_weights([np.full(w.shape, 1e5) if w.ndim == 2 else w
                       for w in model.get_weights()])
    with pytest.warns(RuntimeWarning, match="training diverged"), np.errstate(all="ignore"):
        history = model.fit(x, y, batch_size=4, validation_data=(x_val, y), epochs=20,
                            verbose=0, callbacks=[callbacks.TerminateOnNaN()])
    loss = history.history["loss"]
    assert len(loss) == 1 and not np.isfinite(loss[0])


def test_terminate_on_nan_graceful_stop():
    # terminate_on_nan_test.py::test_terminate_on_nan_graceful_stop
    model = overflowing_model()
    with pytest.warns(RuntimeWarning), np.errstate(all="ignore"):
        history = model.fit(np.array([[1.0], [2.0]]), np.array([[1.0], [2.0]]), epochs=2,
                            batch_size=1, verbose=0,
                            callbacks=[callbacks.TerminateOnNaN(raise_error=False)])
    assert len(history.history["loss"]) < 4


def test_terminate_on_nan_raise_error_skips_on_train_end():
    # terminate_on_nan_test.py::test_terminate_on_nan_raise_error_raises_error and
    # ::test_raise_error_terminate_does_not_trigger_on_train_end
    ended = []
    tracking = callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(True))
    model = overflowing_model()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 0"), \
            np.errstate(all="ignore"):
        model.fit(np.array([[1.0]]), np.array([[1.0]]), epochs=1, verbose=0,
                  callbacks=[tracking, callbacks.TerminateOnNaN(raise_error=True)])
    assert ended == []


@pytest.mark.parametrize("raise_error", [False, True])
def test_terminate_on_nan_lets_normal_training_run(raise_error):
    # terminate_on_nan_test.py::test_normal_training_does_not_raise
    model = models.Sequential([layers.Dense(1, input_shape=(1,))], seed=0)
    model.compile(optimizer="sgd", loss="mse")
    x = np.array([[1.0], [2.0]])
    history = model.fit(x, x, epochs=2, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(raise_error=raise_error)])
    assert len(history.history["loss"]) == 2


def test_terminate_on_nan_raises_on_a_later_batch():
    # terminate_on_nan_test.py::test_raise_error_terminate_stops_on_later_batch
    model = overflowing_model()  # x = 0 first: a finite loss; then x = 1: inf
    with pytest.raises(RuntimeError, match="at batch 1"), np.errstate(all="ignore"):
        model.fit(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]), epochs=1,
                  batch_size=1, shuffle=False, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN(raise_error=True)])
    with pytest.raises(TypeError, match="raise_error must be True or False"):
        callbacks.TerminateOnNaN(raise_error="yes")


@pytest.mark.parametrize("raise_error", [False, True])
def test_terminate_on_nan_stops_where_live_keras_stops(keras, raise_error):
    """The same one-unit model (a kernel of 1e30: finite at x = 0, inf at x = 1) trained by
    both: the same batch raises, or the same epochs and batches are run."""
    x, y = np.array([[0.0], [1.0], [0.0]]), np.array([[1.0], [1.0], [1.0]])
    twin = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    twin.compile(optimizer="sgd", loss="mse")
    twin.set_weights([np.array([[1e30]]), np.zeros(1)])
    outcomes = []
    for model in (twin, overflowing_model()):
        batches = []
        spy = (keras.callbacks if model is twin else callbacks).LambdaCallback(
            on_train_batch_end=lambda batch, logs: batches.append(batch))
        stop = (keras.callbacks if model is twin else callbacks).TerminateOnNaN(raise_error)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                history = model.fit(x, y, epochs=3, batch_size=1, shuffle=False, verbose=0,
                                    callbacks=[spy, stop])
                outcomes.append((len(history.history["loss"]), batches))
            except RuntimeError as e:
                outcomes.append((str(e).split(". ")[0], batches))
    assert outcomes[1] == outcomes[0]
