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
_process_module = None  # the module of _process_choice, once loaded
_block_module = contextvars.ContextVar("nn_backend", default=None)  # set by `use_backend`
_loaded = {}


def name():
    """The name of the backend in use here: ``"numba"`` or ``"numpy"``."""
    module = _block_module.get()
    return _process_choice if module is None else module.__name__.rsplit(".", 1)[1]


def get():
    """The backend module in use here (`nn.kernels.numba` or `nn.kernels.numpy`)."""
    # Called several times per layer and batch: a context-variable read in the common case.
    return _block_module.get() or _process_module or _load_process_choice()


def _load_process_choice():
    global _process_module
    _process_module = _load(_process_choice)
    return _process_module


def fused_dense(activation, W):
    """The fused calls (`nn.kernels.numba.fused.DenseLayer`) of the backend in use for a
    `Dense` layer with ``activation`` and weights ``W``, or None: on the NumPy backend, and
    for an activation the numba backend has no kernel for."""
    fused = (_block_module.get() or _process_module or _load_process_choice()).fused  # get()
    # fused.dense_layer(activation, W), inlined: called for every layer and batch
    return None if fused is None else fused.DENSE_LAYERS.get((type(activation), W.dtype))


def set_backend(backend):
    """Use ``backend`` ("numba" or "numpy") from now on, in this process (outside any
    `use_backend` block). Loads it at once, so a missing numba is reported here."""
    global _process_choice, _process_module
    backend = _checked(backend)
    _process_module = _load(backend)
    _process_choice = backend


@contextlib.contextmanager
def use_backend(backend):
    """Use ``backend`` inside a ``with`` block (in this thread or task), then go back to the
    one before."""
    token = _block_module.set(_load(_checked(backend)))
    try:
        yield
    finally:
        _block_module.reset(token)


def _load(backend):
    module = _loaded.get(backend)
    if module is not None:
        return module
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
