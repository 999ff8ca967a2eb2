"""EarlyStopping, ModelCheckpoint, TerminateOnNaN, LambdaCallback; divergence warnings."""

import numpy as np
import pytest

from nn import callbacks, models, optimizers


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
