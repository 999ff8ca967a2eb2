"""Callbacks: hooks the training loop calls at the start and end of training, each epoch and
each batch. `History` records every epoch's logs and is what `fit` returns.

Any object works as a callback: the loop calls only the hooks it defines, so a plain object
with an ``on_epoch_end(epoch, logs)`` method is enough. Setting ``model.stop_training = True``
from a hook ends training after the current epoch.
"""

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
