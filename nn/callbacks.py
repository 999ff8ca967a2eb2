"""Callbacks: hooks the training loop calls at the start and end of training, each epoch and
each batch. `History` records every epoch's logs and is what `fit` returns.

Any object works as a callback: the loop calls only the hooks it defines, so a plain object
with an ``on_epoch_end(epoch, logs)`` method is enough. Setting ``model.stop_training = True``
from a hook ends training: after the current batch if set in a batch hook (as Keras 3 does),
else after the current epoch.
"""

import numbers
import warnings

import numpy as np

from .inputs import DIVERGED, check_integer

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
    epochs; with ``restore_best_weights``, put back the weights of the best epoch. As Keras 3.

    ``mode="auto"`` minimises unless the name holds "acc" (accuracy is maximised).
    ``baseline``: an improvement restarts the patience count only if it also beats the
    baseline, so when no epoch does, training stops after ``patience`` epochs (and, with
    ``restore_best_weights``, the best of them is restored). ``start_from_epoch``: epochs
    before it are not monitored at all (a warm-up that cannot stop training).

    After training, ``best`` is the best monitored value (None if no epoch was monitored),
    ``best_epoch`` its epoch, ``stopped_epoch`` the epoch that stopped training (0 if none
    did: as in Keras, epoch 0 never stops it).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, mode="auto",
                 restore_best_weights=False, verbose=0, baseline=None, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be 0 or more; got {patience}")
        if baseline is not None and (isinstance(baseline, bool)
                                     or not isinstance(baseline, numbers.Real)):
            raise TypeError(f"baseline must be a number or None; got {baseline!r}")
        self.start_from_epoch = check_integer(start_from_epoch, "start_from_epoch", minimum=0)
        self.monitor, self.patience, self.verbose = monitor, int(patience), verbose
        self.restore_best_weights, self.baseline = restore_best_weights, baseline
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.sign = 1.0 if mode == "max" else -1.0
        self.min_delta = abs(min_delta)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        # Reset everything: one EarlyStopping may serve several fit() calls.
        self.best, self.best_weights, self.best_epoch = None, None, 0
        self.wait, self.stopped_epoch = 0, 0

    def _is_improvement(self, value, reference):
        """Whether ``value`` beats ``reference`` by more than ``min_delta``. Compared in
        float32, as Keras's ops compare the Python floats it passes them."""
        if reference is None:
            return True
        shifted = np.float32(value - self.sign * self.min_delta)
        reference = np.float32(reference)
        return bool(shifted > reference if self.sign > 0 else shifted < reference)

    def on_epoch_end(self, epoch, logs=None):
        value = monitored(logs, self.monitor)
        if epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:  # patience 0 and 1 both stop at once
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)
        if self.verbose and self.stopped_epoch > 0:
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
    """Stop training as soon as a batch loss is NaN or infinite: after that batch, or, with
    ``raise_error=True``, at once by a RuntimeError (no callback's ``on_train_end`` runs,
    so nothing is cleaned up or restored), as Keras 3."""

    def __init__(self, raise_error=False):
        super().__init__()
        if not isinstance(raise_error, (bool, np.bool_)):
            raise TypeError(f"raise_error must be True or False; got {raise_error!r}")
        self.raise_error = bool(raise_error)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                                   f"{loss}. Terminating training immediately: {DIVERGED}")
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
