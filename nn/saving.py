"""Model files: weights alone (`save_weights`) or the whole model (`save` / `load_model`).

Both are ``.npz`` files written without pickles and read with ``allow_pickle=False``, so
loading a file never runs code from it. The whole-model file adds the architecture and compile
settings as JSON (stored as a byte array) and the optimizer's slot state. Every write goes to
a temporary file in the same folder, is flushed to disk, then renamed over the target: a crash
mid-write leaves the old file, never a truncated one.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

from . import kernels, layers as layers_mod, optimizers

FORMAT = "nn.model/1"
_CONFIG = "__config__"
_OPT = "__optimizer__/"


def atomic_savez(path, arrays):
    """np.savez to ``path`` through a temporary file and a rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read_npz(path):
    try:
        with np.load(os.fspath(path), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable nn weights file ({e}); it may be "
                         "truncated or not an .npz written by nn") from e


def _weight_arrays(model):
    """Every parameter by name; ValueError if one is not finite (nothing loads it back)."""
    arrays = {f"{layer.name}/{key}": value for layer in model.layers
              for key, value in layer.params.items()}
    for name, value in arrays.items():
        if not np.isfinite(value).all():
            raise ValueError(f"not saving: {name} holds NaN or inf, so training diverged "
                             "(lower the learning rate; callbacks.TerminateOnNaN stops it). "
                             "Load an earlier checkpoint instead")
    return arrays


def save_weights(model, path):
    """Write every layer's parameters to ``path`` (an .npz, one array per parameter)."""
    if not model.built:
        raise ValueError("the model has no weights yet: build it (input_shape, or fit once)")
    atomic_savez(path, _weight_arrays(model))


def load_weights(model, path):
    """Read parameters saved by `save_weights` (or `save`), checking layers and shapes."""
    data = _read_npz(path)
    weights = {k: v for k, v in data.items() if k != _CONFIG and not k.startswith(_OPT)}
    _assign(model, weights, path)


def _assign(model, weights, path):
    saved_layers = list(dict.fromkeys(k.rsplit("/", 1)[0] for k in weights))
    if len(saved_layers) != len(model.layers):
        raise ValueError(f"{path} holds weights for {len(saved_layers)} layers "
                         f"({saved_layers}); the model has {len(model.layers)}")
    if not model.built:
        first = weights.get(f"{saved_layers[0]}/kernel")
        if first is None:
            raise ValueError(f"{path} has no kernel for its first layer {saved_layers[0]!r}")
        model.build(first.shape[0])
    ordered = []
    for saved, layer in zip(saved_layers, model.layers):
        for key, current in layer.params.items():
            w = weights.get(f"{saved}/{key}")
            if w is None:
                raise ValueError(f"{path} has no {key} for layer {saved!r}")
            if w.shape != current.shape:
                raise ValueError(f"layer {layer.name!r} {key} has shape {current.shape} but "
                                 f"{path} holds {w.shape} (saved as {saved!r})")
            ordered.append(w)
    model.set_weights(ordered)


def _config(model):
    loss = model.loss.get_config() if model.loss is not None else None
    return {
        "format": FORMAT,
        "model": {"name": model.name, "seed": model.seed, "dtype": model.dtype.name},
        "layers": [{"class": type(layer).__name__, "config": layer.get_config()}
                   for layer in model.layers],
        "optimizer": model.optimizer.get_config() if model.optimizer else None,
        "optimizer_iterations": model.optimizer.iterations if model.optimizer else 0,
        "loss": loss,
        "metrics": [name for name, _ in model.metrics],
    }


def save(model, path):
    """Write architecture, compile settings, weights and optimizer state to one .npz."""
    if not model.built:
        raise ValueError("the model has no weights yet: build it (input_shape, or fit once)")
    arrays = _weight_arrays(model)
    if model.optimizer is not None:
        for key, slots in model.optimizer.slots.items():
            for name, value in slots.items():
                arrays[f"{_OPT}{key}/{name}"] = value
    blob = json.dumps(_config(model)).encode()
    arrays[_CONFIG] = np.frombuffer(blob, dtype=np.uint8)
    atomic_savez(path, arrays)


def load_model(path, custom_objects=None):
    """Rebuild a model saved by `save`. ``custom_objects`` maps names of your own metric
    functions or Loss classes to the objects (a file holds only their names)."""
    from .models import Sequential

    custom = dict(custom_objects or {})
    data = _read_npz(path)
    if _CONFIG not in data:
        raise ValueError(f"{path} holds weights only; build the model in code and call "
                         "model.load_weights(path)")
    try:
        config = json.loads(data[_CONFIG].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: the model description is corrupt ({e})") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"{path} is not an nn model file (format {config.get('format')!r}, "
                         f"expected {FORMAT!r})" if isinstance(config, dict)
                         else f"{path} is not an nn model file")
    m = config["model"]
    model = Sequential(seed=m.get("seed"), dtype=m.get("dtype", "float32"),
                       name=m.get("name", "sequential"))
    for spec in config["layers"]:
        if spec.get("class") != "Dense":
            raise ValueError(f"{path}: unknown layer class {spec.get('class')!r}")
        c = spec["config"]
        model.add(layers_mod.Dense(c["units"], activation=c["activation"],
                                   input_dim=c.get("input_dim"), name=c["name"]))
    if config.get("loss"):
        try:
            opt = optimizers.from_config(config["optimizer"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: bad optimizer settings ({e})") from e
        loss_name = config["loss"]["name"]
        loss = custom.get(loss_name, loss_name)
        metrics = [custom.get(name, name) for name in config["metrics"]]
        model.compile(optimizer=opt, loss=loss, metrics=metrics)
        opt.iterations = int(config.get("optimizer_iterations", 0))
        for key, value in data.items():
            if key.startswith(_OPT):
                param, slot = key[len(_OPT):].rsplit("/", 1)
                opt.slots.setdefault(param, {})[slot] = kernels.aligned_copy(value)
    _assign(model, {k: v for k, v in data.items()
                    if k != _CONFIG and not k.startswith(_OPT)}, path)
    return model
