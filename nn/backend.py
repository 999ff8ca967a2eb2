"""Which backend computes: ``"numba"`` (compiled kernels, the default) or ``"numpy"`` (the
same math in plain NumPy, no numba needed).

Choose one with the environment variable ``NN_BACKEND=numpy|numba`` (read when `nn` is
imported), for the whole process with `set_backend`, or for a block of code with
`use_backend`::

    import nn
    nn.set_backend("numpy")
    with nn.use_backend("numba"):
        model.fit(x, y)

Both backends define the same functions (`nn.kernels`); layers, losses, metrics and
optimizers call `get()` and never name a backend. On the NumPy backend they run their own
NumPy formulas; on the numba backend a fused compiled call (``get().fused``) replaces a
formula where it is faster. A model trained under one backend can be evaluated, saved or
trained further under the other. A backend module is imported the first time it is used, so
``NN_BACKEND=numpy`` never imports numba.
"""

import contextlib
import contextvars
import os

NAMES = ("numba", "numpy")
DEFAULT = "numba"
ENV_VAR = "NN_BACKEND"


def _checked(name, source="backend"):
    if not isinstance(name, str) or name.lower() not in NAMES:
        raise ValueError(f"unknown {source} {name!r}; choose one of {list(NAMES)}")
    return name.lower()


_process_choice = _checked(os.environ.get(ENV_VAR) or DEFAULT, f"{ENV_VAR}")
_block_choice = contextvars.ContextVar("nn_backend", default=None)  # set by `use_backend`
_loaded = {}


def name():
    """The name of the backend in use here: ``"numba"`` or ``"numpy"``."""
    return _block_choice.get() or _process_choice


def get():
    """The backend module in use here (`nn.kernels.numba` or `nn.kernels.numpy`)."""
    current = name()
    module = _loaded.get(current)
    return module if module is not None else _load(current)


def fused_dense(activation, W):
    """The fused calls (`nn.kernels.numba.fused.DenseLayer`) of the backend in use for a
    `Dense` layer with ``activation`` and weights ``W``, or None: on the NumPy backend, and
    for an activation the numba backend has no kernel for."""
    fused = get().fused
    return None if fused is None else fused.dense_layer(activation, W)


def set_backend(backend):
    """Use ``backend`` ("numba" or "numpy") from now on, in this process (outside any
    `use_backend` block). Loads it at once, so a missing numba is reported here."""
    global _process_choice
    backend = _checked(backend)
    _load(backend)
    _process_choice = backend


@contextlib.contextmanager
def use_backend(backend):
    """Use ``backend`` inside a ``with`` block (in this thread or task), then go back to the
    one before."""
    backend = _checked(backend)
    _load(backend)
    token = _block_choice.set(backend)
    try:
        yield
    finally:
        _block_choice.reset(token)


def _load(backend):
    if backend == "numpy":
        from .kernels import numpy as module
    else:
        try:
            from .kernels import numba as module
        except ImportError as e:
            if getattr(e, "name", None) not in ("numba", "llvmlite"):
                raise
            raise ImportError(f"the numba backend needs numba, which is not installed ({e}). "
                              "Install it (pip install numba) or run on the NumPy backend: "
                              f"{ENV_VAR}=numpy, or nn.set_backend('numpy')") from e
    _loaded[backend] = module
    return module
