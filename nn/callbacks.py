"""Callbacks: hooks the training loop calls at the start and end of training, each epoch and
each batch. `History` records every epoch's logs and is what `fit` returns.

Any object works as a callback: the loop calls only the hooks it defines, so a plain object
with an ``on_epoch_end(epoch, logs)`` method is enough. Setting ``model.stop_training = True``
from a hook ends training: after the current batch if set in a batch hook (as Keras 3 does),
else after the current epoch.
"""

import warnings

import numpy as np

from .inputs import DIVERGED

HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_train_batch_end")


class Callback:
    """Base class with empty hooks; `set_model` gives it the model being trained."""

    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """``history.history[key]`` is the list of that metric's value at each epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class CallbackList:
    """Calls a hook on each callback that has it, in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not any(hasattr(cb, hook) for hook in HOOKS):
                raise TypeError(f"callback {cb!r} has none of the hooks {HOOKS}")
            if hasattr(cb, "set_model"):
                cb.set_model(model)

    def call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best_weights``, put back the weights of the best epoch.

    ``mode="auto"`` minimises unless the name holds "acc" (accuracy is maximised), as Keras.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, mode="auto",
                 restore_best_weights=False, verbose=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be 0 or more; got {patience}")
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.restore_best_weights = restore_best_weights
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.min_delta = abs(min_delta)
        self.best = self.best_weights = self.best_epoch = self.stopped_epoch = None
        self.wait = 0

    def on_train_begin(self, logs=None):
        self.best, self.best_weights, self.best_epoch = -np.inf, None, None
        self.wait, self.stopped_epoch = 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = monitored(logs, self.monitor)
        # Improvement means moving past the best by more than min_delta in the good direction.
        if self.sign * value - self.min_delta > self.best:
            self.best, self.best_epoch, self.wait = self.sign * value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:  # as Keras: patience 0 and 1 both stop at once
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.verbose and self.stopped_epoch is not None:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping; best {self.monitor} at "
                  f"epoch {self.best_epoch + 1}")


class ModelCheckpoint(Callback):
    """Save the model after each epoch (or only when ``monitor`` improves) to ``filepath``,
    which may hold ``{epoch}`` and log keys: ``"weights.{epoch:02d}-{val_loss:.2f}.npz"``."""

    def __init__(self, filepath, monitor="val_loss", save_best_only=False,
                 save_weights_only=True, mode="auto", verbose=0):
        super().__init__()
        self.filepath, self.monitor = str(filepath), monitor
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        self.sign = 1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else -1.0
        self.best, self.verbose = -np.inf, verbose

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self.sign * monitored(logs, self.monitor)
            if not value > self.best:
                return
            self.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if not all(np.isfinite(w).all() for w in self.model.get_weights()):
            warnings.warn(f"ModelCheckpoint: not saving epoch {epoch + 1} to {path}: the "
                          f"weights are NaN or infinite: {DIVERGED}", RuntimeWarning,
                          stacklevel=2)
            return
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose:
            print(f"Epoch {epoch + 1}: saved to {path}")


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            print(f"Batch {batch}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_end=None):
        super().__init__()
        given = {"on_epoch_begin": on_epoch_begin, "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin, "on_train_end": on_train_end,
                 "on_train_batch_end": on_train_batch_end}
        for hook, fn in given.items():
            if fn is not None:
                if not callable(fn):
                    raise TypeError(f"{hook} must be callable; got {fn!r}")
                setattr(self, hook, fn)


def monitored(logs, monitor):
    """The value of ``monitor`` in ``logs``, or an error listing what is there."""
    logs = logs or {}
    if monitor not in logs:
        raise ValueError(f"cannot monitor {monitor!r}: the logs hold {sorted(logs)} (pass "
                         "validation_data or validation_split to get val_ keys)")
    return float(logs[monitor])
