"""`Sequential`: a stack of layers trained by mini-batch backprop, with Keras's API.

One training step is the whole algorithm in four lines (`train_on_batch`): forward through
the layers, the loss and its gradient, backward through the layers in reverse, one optimizer
step. When the last layer is a sigmoid and the loss is binary crossentropy, the backward pass
starts from the fused, stable ``dL/dz = (p - y) / n`` instead of ``dL/dp``.

Randomness (initial weights, shuffling) comes only from the model's own
``np.random.Generator``, seeded by ``seed=``: the same seed gives bitwise the same run.
"""

import inspect
import warnings

import numpy as np

from . import (activations, inputs, layers as layers_mod, losses, metrics as metrics_mod, ops,
               optimizers, saving)
from .callbacks import CallbackList, History
from .layers import Layer
from .memory import aligned_copy
from .progress import Progbar
from .sparse import CSRMatrix

BOTH_WEIGHTS = "pass sample_weight or class_weight, not both (as in Keras)"
INFERENCE_CHUNK_VALUES = 1 << 20  # outputs of one layer per forward call in evaluate/predict


class Sequential:
    """A linear stack of layers.

    Parameters
    ----------
    layers : list of Layer, optional
        Layers to `add` in order.
    seed : int, optional
        Seed of the model's random generator (initialisation and shuffling). None draws
        fresh entropy from the operating system.
    dtype : "float32" or "float64"
        Dtype of weights and computation. Gradient checks use float64.
    """

    def __init__(self, layers=None, seed=None, dtype="float32", name="sequential"):
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64; got {dtype!r}")
        self.name = name
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.layers = []
        self.optimizer = None
        self.loss = None
        self.metrics = []
        self.weighted_metrics = []
        self._weighted_metric_names = []
        self.stop_training = False
        self.history = None
        self._logits_twin = None  # (loss, the same loss from logits), see _logits_loss
        self._penalized = ()  # the layers with weight penalties (regularizers)
        for layer in layers or []:
            self.add(layer)

    # ----------------------------------------------------------------- building
    def add(self, layer):
        """Append a layer; it is built at once if its input size is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"add() takes an nn.layers.Layer; got {type(layer).__name__}")
        if layer.built or any(layer is other for other in self.layers):
            raise ValueError(f"layer {layer.name or layer!r} already belongs to a model")
        if self.layers and layer.input_dim is not None \
                and layer.input_dim != self.layers[-1].output_dim():
            raise ValueError(f"{layer!r} expects {layer.input_dim} inputs but the previous "
                             f"layer outputs {self.layers[-1].output_dim()}")
        if not layer.has_weights and self.layers and layer.input_dim is None:
            layer.input_dim = self.layers[-1].output_dim()  # shape-keeping (Dropout)
        base = type(layer).__name__.lower()
        if layer.name is None:
            taken = {other.name for other in self.layers}
            layer.name = next(n for n in (f"{base}_{i}" if i else base for i in range(10**6))
                              if n not in taken)
        self.layers.append(layer)
        if layer.penalized:
            self._penalized += (layer,)
        if len(self.layers) == 1:
            if layer.input_dim is not None:
                self.build(layer.input_dim)
        elif self.layers[-2].built:
            layer.build(self.layers[-2].output_dim(), self.rng, self.dtype)

    def build(self, input_dim):
        """Create every layer's weights for inputs with ``input_dim`` features."""
        for layer in self.layers:
            if not layer.built:
                layer.build(input_dim, self.rng, self.dtype)
            input_dim = layer.output_dim()

    @property
    def built(self):
        return bool(self.layers) and all(layer.built for layer in self.layers)

    @property
    def input_dim(self):
        return self.layers[0].input_dim if self.layers else None

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print):
        """Print each layer's name, output shape and parameter count, as Keras does."""
        if not self.built:
            raise ValueError("this model has not been built yet: give the first layer an "
                             "input_shape, e.g. Dense(16, input_shape=(10000,)), or call "
                             "fit/predict first")
        line, cols = "_" * 65, (29, 26, 10)
        row = lambda *v: "".join(f"{str(x):<{w}}" for x, w in zip(v, cols)).rstrip()
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        print_fn(row("Layer (type)", "Output Shape", "Param #"))
        print_fn("=" * 65)
        for i, layer in enumerate(self.layers):
            print_fn(row(f"{layer.name} ({type(layer).__name__})",
                         f"(None, {layer.output_dim()})", f"{layer.count_params():,}"))
            print_fn(line if i < len(self.layers) - 1 else "=" * 65)
        total = self.count_params()
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {total:,}")
        print_fn("Non-trainable params: 0")
        print_fn(line)

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None):
        """Choose the optimizer, the loss and the metrics reported during training.

        As in Keras 3, ``metrics`` ignore sample and class weights; ``weighted_metrics``
        are their weighted means ``sum(w m) / sum(w)`` (the plain means without weights).
        A weighted metric named like one in ``metrics`` is logged as ``weighted_<name>``.
        """
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='binary_crossentropy'")
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        if isinstance(metrics, (str, bytes)) or callable(metrics):
            metrics = [metrics]
        self.metrics = [metrics_mod.get(m) for m in metrics or []]
        if isinstance(weighted_metrics, (str, bytes)) or callable(weighted_metrics):
            weighted_metrics = [weighted_metrics]
        given = [metrics_mod.get(m) for m in weighted_metrics or []]
        self._weighted_metric_names = [name for name, _ in given]  # for get_config
        plain = {name for name, _ in self.metrics}
        self.weighted_metrics = [(f"weighted_{name}" if name in plain else name, fn)
                                 for name, fn in given]
        names = [self.loss_name] + [name for name, _ in self.metrics + self.weighted_metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names must be unique; got {names}")

    loss_name = "loss"

    # ------------------------------------------------------------ one step
    def _forward(self, x, training=False):
        for layer in self.layers:
            x = layer.forward(x, training=training)
        return x

    def _outputs(self, x, training=False):
        """(p, z) for a batch: the outputs, and the output layer's logits when the loss is
        read from them (`_logits_loss`), else None."""
        for layer in self.layers[:-1]:
            x = layer.forward(x, training=training)
        last = self.layers[-1]
        if self._logits_loss() is None:
            return last.forward(x, training=training), None
        return last.forward_and_logits(x, training=training)

    def _logits_loss(self):
        """The loss computed from the logits z of a sigmoid output under binary
        crossentropy, or None. Keras on TensorFlow scores such an output from z (the sigmoid
        keeps its logits): the same value as from p, but without the clip of p to
        [1e-7, 1 - 1e-7], so a confidently wrong prediction costs its whole logit. The
        gradient is the same either way: dL/dz = (p - y) / n."""
        loss, last = self.loss, self.layers[-1]
        if not (isinstance(loss, losses.BinaryCrossentropy) and not loss.from_logits
                and isinstance(last.activation, activations.Sigmoid)):
            return None
        if self._logits_twin is None or self._logits_twin[0] is not loss:
            self._logits_twin = (loss, loss.with_options(from_logits=True))
        return self._logits_twin[1]

    def _backward(self, y, p, sample_weight=None):
        """Store every layer's gradients for the batch whose outputs were ``p`` (and whose
        samples weigh ``sample_weight``, (batch,), if given)."""
        last, deep = self.layers[-1], len(self.layers) > 1
        # Without weights the loss is called as before weights existed (custom losses too).
        w = {} if sample_weight is None else {"sample_weight": sample_weight}
        dz = self.loss.fused_gradient(y, p, last.activation, **w)
        if dz is not None:  # sigmoid + crossentropy: start from dL/dz = (p - y) / n
            da = last.backward_from_dz(dz, need_dx=deep)
        else:               # otherwise from dL/dp, through the output activation
            da = last.backward(self.loss.gradient(y, p, **w), need_dx=deep)
        # da is dL/da of the layer below: each layer's dL/dx is its input's dL/da.
        for i in range(len(self.layers) - 2, -1, -1):
            # The first layer's dL/dx would be (batch, n_features) and is never used.
            da = self.layers[i].backward(da, need_dx=i > 0)

    def _named_params(self):
        return [(f"{layer.name}/{key}", layer.params[key], layer.grads[key])
                for layer in self.layers for key in layer.params]

    def _train_step(self, x, y, sample_weight=None):
        p, z = self._outputs(x, training=True)
        loss_value = self._loss_value(y, p, sample_weight, z)
        self._backward(y, p, sample_weight)
        self.optimizer.apply(self._named_params())
        return loss_value, p

    def _loss_value(self, y, p, sample_weight, z=None):
        """The batch loss: ``sum(w_i l_i) / batch`` with weights, the mean without; from the
        logits ``z`` when `_outputs` gave them; plus the layers' weight penalties, as Keras
        adds them (to training and evaluation losses alike)."""
        loss, outputs = (self.loss, p) if z is None else (self._logits_loss(), z)
        if sample_weight is None:
            value = loss(y, outputs)
        else:
            value = loss(y, outputs, sample_weight=sample_weight)
        for layer in self._penalized:  # L = data loss + sum of R(w)
            value = value + layer.penalty()
        return value

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One gradient step on one batch; returns the batch loss (before the step).
        ``sample_weight`` and ``class_weight`` as in `fit`."""
        x, y = self._check_data(x, y, "x", "y", build=False)
        sample_weight = self._check_weights(sample_weight, class_weight, y)
        if not self.built:
            self.build(x.shape[1])
        return self._train_step(ops.slice_rows(x, 0, len(y), self.dtype), y, sample_weight)[0]

    # -------------------------------------------------------------- checks
    def _check_compiled(self, what):
        if self.loss is None or self.optimizer is None:
            raise ValueError(f"the model must be compiled before {what}(): call "
                             "model.compile(optimizer='rmsprop', loss='binary_crossentropy')")
        if not self.layers:
            raise ValueError(f"the model has no layers; add some before {what}()")

    def _check_x(self, x, name, n_features=None):
        """Check ``x`` against the model, or against ``n_features`` while it is unbuilt.
        Nothing is built here: a refused call must leave the model as it was."""
        x, n, d = inputs.prepare_x(x, name, self.dtype)
        if not self.layers:
            raise ValueError("the model has no layers; add some first")
        expected = self.input_dim if self.built else n_features
        if expected is not None and d != expected:
            raise ValueError(f"{name} has {d} features but the model expects "
                             f"{expected} (the first layer's input size)")
        return x, n

    def _check_data(self, x, y, xname, yname, n_features=None, build=True):
        x, n = self._check_x(x, xname, n_features)
        y = inputs.prepare_y(y, n, self.layers[-1].output_dim(), self.dtype, self.loss, yname)
        if build and not self.built:
            self.build(x.shape[1])
        return x, y

    def _check_weights(self, sample_weight, class_weight, y, name="sample_weight"):
        """The weight of each sample, (n_samples,), from ``sample_weight`` or from
        ``class_weight`` and the labels ``y``; None when both are None."""
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError(BOTH_WEIGHTS)
            weights = inputs.class_sample_weights(class_weight, y, self.dtype)
        else:
            weights = inputs.prepare_sample_weight(sample_weight, len(y), self.dtype, name)
        if weights is not None:
            for method in ("__call__", "gradient"):
                params = inspect.signature(getattr(self.loss, method)).parameters
                if "sample_weight" not in params and not any(
                        p.kind is p.VAR_KEYWORD for p in params.values()):
                    raise TypeError(f"the loss {self.loss!r} takes no sample weights: give its "
                                    f"{method}() a sample_weight=None argument, or train "
                                    "without sample_weight / class_weight")
        return weights

    def _warn_if_not_finite(self, what, value):
        """A RuntimeWarning when outputs or a loss came out NaN or infinite, saying why."""
        if np.all(np.isfinite(value)):
            return
        if not all(np.isfinite(w).all() for w in self.get_weights()):
            why = f"the model's weights are NaN or infinite: {inputs.DIVERGED}"
        else:
            why = ("the weights are finite, so the inputs (or targets) are too large for the "
                   f"model's {self.dtype.name} arithmetic (scale them)")
        warnings.warn(f"{what} is NaN or infinite: {why}", RuntimeWarning, stacklevel=3)

    # ----------------------------------------------------------- training
    def fit(self, x, y, batch_size=32, epochs=1, verbose=1, validation_data=None,
            validation_split=0.0, shuffle=True, callbacks=None, initial_epoch=0,
            class_weight=None, sample_weight=None):
        """Train for ``epochs`` passes over (x, y) in shuffled mini-batches.

        ``x`` is (n_samples, n_features), dense or sparse; ``y`` is (n_samples,) or
        (n_samples, units). ``validation_split`` holds out the *last* fraction of the data,
        before any shuffling, as Keras does. Returns a `History`.

        Weights, as Keras 3 applies them: ``sample_weight`` (n_samples,) multiplies each
        sample's loss, and a batch's loss is ``sum(w_i l_i) / batch_size`` (its samples'
        count, not their weights' sum); ``class_weight`` ``{class: weight}`` gives each sample
        the weight of its label's class (one or the other, not both). The epoch's loss is the
        mean of the batch losses, weighted by batch size; compile's ``weighted_metrics`` are
        weighted means ``sum(w m) / sum(w)``, its ``metrics`` ignore the weights. Validation
        is unweighted unless ``validation_data`` is ``(x_val, y_val, val_sample_weight)`` or
        ``validation_split`` holds out part of ``sample_weight`` with the data.
        """
        self._check_compiled("fit")
        batch_size = inputs.check_batch_size(batch_size)
        epochs = inputs.check_epochs(epochs)
        initial_epoch = inputs.check_initial_epoch(initial_epoch)
        verbose = inputs.check_verbose(verbose)
        shuffle = inputs.check_shuffle(shuffle)
        validation_split = inputs.check_validation_split(validation_split)
        callbacks = inputs.check_callbacks(callbacks)
        # Check everything before building the model: a refused fit changes nothing.
        x, y = self._check_data(x, y, "x", "y", build=False)
        n_features = x.shape[1]
        w = self._check_weights(sample_weight, None, y)
        if class_weight is not None and w is not None:
            raise ValueError(BOTH_WEIGHTS)
        w_val = None
        if validation_data is not None and validation_split:
            raise ValueError("pass validation_data or validation_split, not both")
        if validation_split:
            split = int(len(y) * (1 - validation_split))
            if split == 0 or split == len(y):
                raise ValueError(f"validation_split={validation_split} leaves "
                                 f"{split} training and {len(y) - split} validation samples")
            x, x_val = ops.slice_rows(x, 0, split, None), ops.slice_rows(x, split, len(y), None)
            y, y_val = y[:split], y[split:]
            if w is not None:
                w, w_val = w[:split], w[split:]
        elif validation_data is not None:
            if (not isinstance(validation_data, (tuple, list))
                    or len(validation_data) not in (2, 3)):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                                 "(x_val, y_val, val_sample_weight)")
            x_val, y_val = self._check_data(*validation_data[:2], "validation x",
                                            "validation y", n_features=n_features, build=False)
            if len(validation_data) == 3:
                w_val = self._check_weights(validation_data[2], None, y_val,
                                            "validation sample_weight")
        else:
            x_val = y_val = None
        if class_weight is not None:  # from the training labels only, as Keras
            w = self._check_weights(None, class_weight, y)
        history = History()
        cbs = CallbackList([history, *callbacks], self)
        if not self.built:
            self.build(n_features)

        self.history = history
        self.stop_training = False
        if verbose:
            val_text = f", validate on {len(y_val)} samples" if y_val is not None else ""
            print(f"Train on {len(y)} samples{val_text}")
        cbs.call("on_train_begin", {})
        for epoch in range(initial_epoch, epochs):
            cbs.call("on_epoch_begin", epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            progbar = Progbar(len(y), verbose)
            logs = self._run_epoch(x, y, batch_size, shuffle, progbar, cbs, w)
            if y_val is not None:
                val = self._evaluate(x_val, y_val, batch_size, None, w_val)
                logs.update({f"val_{k}": v for k, v in val.items()})
            if not np.isfinite(logs["loss"]):
                warnings.warn(f"the training loss became {logs['loss']} in epoch {epoch + 1}: "
                              f"{inputs.DIVERGED}", RuntimeWarning, stacklevel=2)
            progbar.finish(logs)
            cbs.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        cbs.call("on_train_end", {})
        return self.history

    def _run_epoch(self, x, y, batch_size, shuffle, progbar, cbs, sample_weight=None):
        n = len(y)
        order = self.rng.permutation(n) if shuffle else None
        means = RunningMeans(self.metrics, self.weighted_metrics)
        for batch, start in enumerate(range(0, n, batch_size)):
            stop = min(start + batch_size, n)
            if shuffle:
                rows = order[start:stop]
                xb, yb = ops.take_rows(x, rows, self.dtype), y[rows]
                wb = sample_weight[rows] if sample_weight is not None else None
            else:
                xb, yb = ops.slice_rows(x, start, stop, self.dtype), y[start:stop]
                wb = sample_weight[start:stop] if sample_weight is not None else None
            loss_value, p = self._train_step(xb, yb, wb)
            means.add(loss_value, yb, p, wb)
            progbar.update(stop, means.result)
            cbs.call("on_train_batch_end", batch, {"loss": loss_value})
            if self.stop_training:
                break
        return means.result()

    # ---------------------------------------------------------- inference
    def evaluate(self, x, y, batch_size=32, verbose=1, sample_weight=None):
        """Mean loss and metrics over (x, y): ``[loss, *metrics, *weighted_metrics]``, or the
        loss alone when the model has no metrics. With ``sample_weight`` (n_samples,), each
        batch's loss is ``sum(w_i l_i) / batch_size`` and the weighted metrics are weighted
        means, as in `fit`."""
        self._check_compiled("evaluate")
        batch_size = inputs.check_batch_size(batch_size)
        verbose = inputs.check_verbose(verbose)
        x, y = self._check_data(x, y, "x", "y", build=False)
        sample_weight = self._check_weights(sample_weight, None, y)
        if not self.built:
            self.build(x.shape[1])
        logs = self._evaluate(x, y, batch_size, Progbar(len(y), verbose), sample_weight)
        self._warn_if_not_finite("the evaluate loss", logs["loss"])
        values = list(logs.values())
        return values if len(values) > 1 else values[0]

    def _evaluate(self, x, y, batch_size, progbar, sample_weight=None):
        means = RunningMeans(self.metrics, self.weighted_metrics)
        chunk = self._inference_rows(x, batch_size)
        for first in range(0, len(y), chunk):  # forward a chunk of whole batches at once
            last = min(first + chunk, len(y))
            p_chunk, z_chunk = self._outputs(ops.slice_rows(x, first, last, self.dtype))
            for start in range(first, last, batch_size):
                stop = min(start + batch_size, len(y))
                yb = y[start:stop]
                wb = sample_weight[start:stop] if sample_weight is not None else None
                p = p_chunk[start - first:stop - first]  # the batch's outputs, bit for bit
                z = None if z_chunk is None else z_chunk[start - first:stop - first]
                means.add(self._loss_value(yb, p, wb, z), yb, p, wb)
                if progbar is not None:
                    progbar.update(stop, means.result)
        logs = means.result()
        if progbar is not None:
            progbar.finish(logs)
        return logs

    def _inference_rows(self, x, batch_size):
        """Rows per forward call of `evaluate` and `predict`: ``batch_size``, or whole batches
        of it up to `INFERENCE_CHUNK_VALUES` outputs of the widest layer when every layer
        computes each row on its own (`Layer.rowwise`). A batch's outputs are then the same
        bits in a larger call, which costs less Python per row and may use every free CPU."""
        sparse = isinstance(x, CSRMatrix)
        for layer in self.layers:
            if not layer.rowwise(sparse):
                return batch_size
            sparse = False
        widest = max(layer.output_dim() for layer in self.layers)
        return batch_size * max(1, INFERENCE_CHUNK_VALUES // (batch_size * widest))

    def predict(self, x, batch_size=32, verbose=0):
        """Outputs for x, shape (n_samples, units), in the model's dtype (float32 default)."""
        batch_size = inputs.check_batch_size(batch_size)
        x, n = self._check_x(x, "x")
        if not self.built:
            self.build(x.shape[1])
        out = np.empty((n, self.layers[-1].output_dim()), dtype=self.dtype)
        chunk = self._inference_rows(x, batch_size)
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            out[start:stop] = self._forward(ops.slice_rows(x, start, stop, self.dtype))
        self._warn_if_not_finite("the output of predict", out)
        return out

    # ------------------------------------------------------------ weights
    def get_weights(self):
        """Copies of every layer's parameters: [kernel_1, bias_1, kernel_2, bias_2, ...]."""
        return [p.copy() for layer in self.layers for p in layer.params.values()]

    def set_weights(self, weights):
        """Set parameters from a list shaped like `get_weights()`."""
        if not self.built:
            raise ValueError("build the model (give input_shape, or fit once) before "
                             "set_weights()")
        slots = [(layer, key) for layer in self.layers for key in layer.params]
        weights = list(weights)
        if len(weights) != len(slots):
            raise ValueError(f"expected {len(slots)} weight arrays (kernel and bias per "
                             f"layer); got {len(weights)}")
        new = []
        for (layer, key), w in zip(slots, weights):
            w = np.asarray(w)
            if w.shape != layer.params[key].shape:
                raise ValueError(f"{layer.name}/{key} has shape {layer.params[key].shape}; "
                                 f"got an array of shape {w.shape}")
            if w.dtype.kind not in "biuf":
                raise TypeError(f"{layer.name}/{key} must hold numbers; got dtype {w.dtype}")
            inputs.check_finite(w, f"{layer.name}/{key}", self.dtype,
                                fix="weights must be finite; NaN or inf weights come from a "
                                    f"model whose {inputs.DIVERGED}")
            new.append(aligned_copy(w, self.dtype))  # rows on cache lines, as built
        for (layer, key), w in zip(slots, new):
            layer.params[key] = w


    def save_weights(self, path):
        """Write the weights to an .npz file, atomically, without pickles."""
        saving.write_weights(path, self._weights_to_save())

    def load_weights(self, path):
        """Read weights written by `save_weights` (or `save`); checks layer count and every
        shape, and builds the model from the file if it is not built yet."""
        self._set_named_weights(saving.read_weights(path), path)

    def save(self, path):
        """Write architecture, compile settings, weights and optimizer state to one .npz;
        read it back with `nn.models.load_model`."""
        slots = self.optimizer.slots if self.optimizer is not None else {}
        saving.write_model(path, self.get_config(), self._weights_to_save(), slots)

    def _weights_to_save(self):
        """Every parameter by ``"<layer>/<param>"`` name; ValueError if the model is not
        built or a weight is not finite (nothing could load it back)."""
        if not self.built:
            raise ValueError("the model has no weights yet: build it (input_shape, or fit once)")
        weights = {f"{layer.name}/{key}": value for layer in self.layers
                   for key, value in layer.params.items()}
        for name, value in weights.items():
            if not np.isfinite(value).all():
                raise ValueError(f"not saving: {name} holds NaN or inf, so {inputs.DIVERGED}. "
                                 "Load an earlier checkpoint instead")
        return weights

    def _set_named_weights(self, weights, path):
        """Set parameters from ``{"<layer>/<param>": array}`` read from ``path``, matching
        saved layers to this model's in order (names may differ); builds the model from the
        first kernel's shape if needed."""
        saved_layers = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in weights))
        weighted = [layer for layer in self.layers if layer.has_weights]  # not Dropout
        if len(saved_layers) != len(weighted):
            raise ValueError(f"{path} holds weights for {len(saved_layers)} layers "
                             f"({saved_layers}); the model has {len(weighted)} with weights")
        if not self.built:
            first = weights.get(f"{saved_layers[0]}/kernel")
            if first is None:
                raise ValueError(f"{path} has no kernel for its first layer {saved_layers[0]!r}")
            self.build(first.shape[0])
        ordered = []
        for saved, layer in zip(saved_layers, weighted):
            for key, current in layer.params.items():
                w = weights.get(f"{saved}/{key}")
                if w is None:
                    raise ValueError(f"{path} has no {key} for layer {saved!r}")
                if w.shape != current.shape:
                    raise ValueError(f"layer {layer.name!r} {key} has shape {current.shape} "
                                     f"but {path} holds {w.shape} (saved as {saved!r})")
                ordered.append(w)
        self.set_weights(ordered)

    # ------------------------------------------------------------- config
    def get_config(self):
        """The architecture and compile settings as a JSON-able dict, for `from_config`::

            {"model": {"name": ..., "seed": ..., "dtype": ...},
             "layers": [{"class": "Dense", "config": <layer.get_config()>}, ...],
             "optimizer": <optimizer.get_config()> or None, "optimizer_iterations": int,
             "loss": <loss.get_config()> or None, "metrics": [name, ...],
             "weighted_metrics": [name, ...]}

        Weights and optimizer slots are not in it (`save` writes them beside it)."""
        return {
            "model": {"name": self.name, "seed": self.seed, "dtype": self.dtype.name},
            "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
            "optimizer": self.optimizer.get_config() if self.optimizer is not None else None,
            "optimizer_iterations": self.optimizer.iterations if self.optimizer else 0,
            "loss": self.loss.get_config() if self.loss is not None else None,
            "metrics": [name for name, _ in self.metrics],
            "weighted_metrics": list(self._weighted_metric_names),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """A new model from a `get_config()` dict: the same layers (built when the first has
        an input size, with fresh weights) compiled as the original was, if it was, with the
        optimizer's step count. ``custom_objects`` maps the names of your own metric
        functions, Loss classes or Regularizer classes to them (a config holds only names).
        ValueError on an unknown layer or regularizer class, bad optimizer settings or an
        unknown loss or metric name."""
        custom = dict(custom_objects or {})
        m = config["model"]
        model = cls(seed=m.get("seed"), dtype=m.get("dtype", "float32"),
                    name=m.get("name", "sequential"))
        for spec in config["layers"]:
            model.add(layers_mod.from_config(spec, custom))
        if config.get("loss"):
            try:
                opt = optimizers.from_config(config["optimizer"])
            except (TypeError, ValueError) as e:
                raise ValueError(f"bad optimizer settings ({e})") from e
            loss_name = config["loss"]["name"]
            model.compile(optimizer=opt, loss=custom.get(loss_name, config["loss"]),
                          metrics=[custom.get(name, name) for name in config["metrics"]],
                          weighted_metrics=[custom.get(name, name)
                                            for name in config.get("weighted_metrics", [])])
            opt.iterations = int(config.get("optimizer_iterations", 0))
        return model


def load_model(path, custom_objects=None):
    """Rebuild a model written by `Sequential.save`: architecture, compile settings, weights
    and optimizer state; never executes code from the file. ``custom_objects`` maps the names
    of your own metric functions, Loss or Regularizer classes to them (a file holds only
    their names)."""
    config, weights, slots = saving.read_model(path)
    try:
        model = Sequential.from_config(config, custom_objects)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    if model.optimizer is not None:
        for param, named in slots.items():
            for slot, value in named.items():
                # on cache lines, as the optimizer allocates them
                model.optimizer.slots.setdefault(param, {})[slot] = aligned_copy(value)
    model._set_named_weights(weights, path)
    return model


class RunningMeans:
    """The loss and each metric averaged over the samples of the batches seen so far: `add`
    one batch's values, read the means with `result` (``{"loss": ..., <metric>: ...}``).

    ``metrics`` and ``weighted_metrics`` are the model's lists of ``(name, fn)``;
    ``fn(y, p)`` gives one value per sample or the batch mean. As Keras's loss tracker and
    metric objects average them: the loss (already the batch's weighted loss) and
    ``metrics`` are weighted by the batch size; ``weighted_metrics`` are weighted means
    ``sum(w m) / sum(w)`` over the ``sample_weight`` passed to `add`, added up by
    `nn.metrics.weighted_sums` (0.0 when the weights sum to 0).
    """

    def __init__(self, metrics, weighted_metrics=()):
        self.metrics, self.weighted_metrics = metrics, weighted_metrics
        self.names = ["loss"] + [name for name, _ in [*metrics, *weighted_metrics]]
        self.sums = [0.0] * len(self.names)
        self.count = 0  # samples
        self.weight_sums = [0.0] * len(weighted_metrics)  # each weighted metric's sum(w)

    def add(self, loss_value, y, p, sample_weight=None):
        n = len(y)
        self.sums[0] += loss_value * n
        for i, (_, fn) in enumerate(self.metrics, start=1):
            value = np.asarray(fn(y, p), dtype=np.float64)
            self.sums[i] += float(value.sum()) if value.ndim else float(value) * n
        for j, (_, fn) in enumerate(self.weighted_metrics):
            total, weight = metrics_mod.weighted_sums(fn(y, p), sample_weight)
            self.sums[1 + len(self.metrics) + j] += total
            self.weight_sums[j] += weight
        self.count += n

    def result(self):
        count, k = max(self.count, 1), 1 + len(self.metrics)
        logs = {name: float(s / count) for name, s in zip(self.names[:k], self.sums[:k])}
        for name, s, weight in zip(self.names[k:], self.sums[k:], self.weight_sums):
            logs[name] = float(s / weight) if weight else 0.0
        return logs
