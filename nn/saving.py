"""Model files: weights alone, or a whole model (its config, weights and optimizer slots).

Both are ``.npz`` files written without pickles and read with ``allow_pickle=False``, so
loading a file never runs code from it. A weights file holds one array per parameter, named
``"<layer>/<param>"``. A model file (format ``"nn.model/1"``) adds the model's config as JSON
(stored as a byte array under ``__config__``) and the optimizer's slots under
``__optimizer__/<param>/<slot>``. Every write is atomic (`nn.files.atomic_write`).

This module knows the file layout only: models give and take plain dicts
(`Sequential.get_config`, `Sequential.from_config` and `nn.models.load_model` do the rest).
"""

import json
import zipfile

import numpy as np

from .files import load_npz, save_npz

FORMAT = "nn.model/1"
_CONFIG = "__config__"
_OPT = "__optimizer__/"


def write_weights(path, weights):
    """Write ``weights`` (a dict of ``"<layer>/<param>"`` to array) to an ``.npz`` at ``path``."""
    save_npz(path, weights)


def read_weights(path):
    """The ``"<layer>/<param>"`` arrays of a weights file or a model file, in file order.

    Raises FileNotFoundError if ``path`` is missing, ValueError if it is not a readable
    ``.npz`` (truncated, not a zip, holding pickles)."""
    return _weights(_read(path))


def write_model(path, config, weights, slots):
    """Write a model file: ``config`` (a JSON-able dict; the format tag is added), ``weights``
    as for `write_weights`, and ``slots`` (``{param: {slot: array}}``, an optimizer's)."""
    arrays = dict(weights)
    for param, named in slots.items():
        for slot, value in named.items():
            arrays[f"{_OPT}{param}/{slot}"] = value
    blob = json.dumps({"format": FORMAT, **config}).encode()
    arrays[_CONFIG] = np.frombuffer(blob, dtype=np.uint8)
    save_npz(path, arrays)


def read_model(path):
    """``(config, weights, slots)`` from a file written by `write_model`, as it took them.

    Raises ValueError naming ``path`` if it holds weights only, is not a readable ``.npz``,
    or its config is corrupt or of another format."""
    data = _read(path)
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
    del config["format"]
    slots = {}
    for key, value in data.items():
        if key.startswith(_OPT):
            param, slot = key[len(_OPT):].rsplit("/", 1)
            slots.setdefault(param, {})[slot] = value
    return config, _weights(data), slots


def _read(path):
    try:
        return load_npz(path)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable nn weights file ({e}); it may be "
                         "truncated or not an .npz written by nn") from e


def _weights(data):
    return {k: v for k, v in data.items() if k != _CONFIG and not k.startswith(_OPT)}
