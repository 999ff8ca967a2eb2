"""Shared fixtures: where the real IMDB data lives, a private cache for the session, each
backend in turn, and the small builders many tests use (a separable problem, an MLP, ...).

The data folder comes from ``NN_DATA_DIR``; without it, the ``shared/data`` folder beside the
project root (where this workplace keeps it). Tests that need the data are skipped when it is
absent, except under CI (``CI=true``), where a missing data folder is an error.
"""

import importlib
import os
from pathlib import Path

import numpy as np
import pytest

import nn
from nn import layers, models

ROOT = Path(__file__).resolve().parent.parent


def _data_dir():
    env = os.environ.get("NN_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep every test's cache writes out of the user's home (subprocesses inherit it)."""
    old = os.environ.get("NN_CACHE_DIR")
    os.environ["NN_CACHE_DIR"] = str(tmp_path_factory.mktemp("nn-cache"))
    yield
    if old is None:
        os.environ.pop("NN_CACHE_DIR", None)
    else:
        os.environ["NN_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def imdb_dir():
    """Folder holding aclImdb_v1_labeled.tar.gz and imdb_word_index.json."""
    path = _data_dir()
    if not (path / "imdb_word_index.json").exists():
        message = (f"IMDB data not found in {path}; set NN_DATA_DIR to the folder holding "
                   "aclImdb_v1_labeled.tar.gz and imdb_word_index.json")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def offline_env(tmp_path):
    """An environment with no IMDB data anywhere and every download pointed at a closed port."""
    return {**os.environ, "NN_DATA_DIR": str(tmp_path / "nothing"),
            "NN_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path),
            "NN_IMDB_ARCHIVE_URL": "http://127.0.0.1:9/a.tar.gz",
            "NN_IMDB_WORD_INDEX_URL": "http://127.0.0.1:9/w.json"}


# --- backends ------------------------------------------------------------------------------

@pytest.fixture(scope="session", params=["numpy", "numba"])
def backend(request):
    """Each backend module in turn: `nn.kernels.numpy`, then `nn.kernels.numba` (skipped
    where numba is not installed)."""
    if request.param == "numba":
        pytest.importorskip("numba")
    return importlib.import_module(f"nn.kernels.{request.param}")


@pytest.fixture
def backend_in_use(backend):
    """As `backend`, with the test run inside ``nn.use_backend`` of it, so that layers,
    losses, metrics and optimizers compute on that backend."""
    with nn.use_backend(backend.__name__.rpartition(".")[2]):
        yield backend


# --- builders ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def small_bias():
    """An initializer ``f(shape, rng, dtype)`` of non-zero biases in [-0.5, 0.5), so that no
    pre-activation sits exactly on a ReLU kink in gradient checks."""
    def initializer(shape, rng, dtype):
        return rng.uniform(-0.5, 0.5, size=shape).astype(dtype)
    return initializer


@pytest.fixture(scope="session")
def separable_data():
    """``separable_data(n=600, d=20, seed=0) -> (x, y)``: a linearly separable binary problem,
    ``x`` (n, d) standard normal and ``y = [x @ w > 0]`` (n,) float64."""
    def separable(n=600, d=20, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, d))
        w = rng.normal(size=d)
        return x, (x @ w > 0).astype(np.float64)
    return separable


@pytest.fixture(scope="session")
def make_mlp():
    """``make_mlp(hidden=(16, 16), activation="relu", out_activation="sigmoid",
    input_dim=None, seed=0, dtype="float32", bias_initializer="zeros")``: an uncompiled
    `Sequential` of Dense layers of ``hidden`` units and one output unit."""
    def mlp(hidden=(16, 16), activation="relu", out_activation="sigmoid", input_dim=None,
            seed=0, dtype="float32", bias_initializer="zeros"):
        model = models.Sequential(seed=seed, dtype=dtype)
        for i, units in enumerate(hidden):
            kwargs = {"input_shape": (input_dim,)} if i == 0 and input_dim else {}
            model.add(layers.Dense(units, activation=activation,
                                   bias_initializer=bias_initializer, **kwargs))
        kwargs = {"input_shape": (input_dim,)} if not hidden and input_dim else {}
        model.add(layers.Dense(1, activation=out_activation, **kwargs))
        return model
    return mlp


@pytest.fixture(scope="session")
def with_threads():
    """``with_threads(n, fn, *args)``: ``fn(*args)`` with numba's thread count set to ``n``
    (restored afterwards). Skips the test where numba is not installed."""
    numba = pytest.importorskip("numba")

    def run(n, fn, *args):
        old = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            return fn(*args)
        finally:
            numba.set_num_threads(old)
    return run


@pytest.fixture(scope="session")
def python_ngram_hash():
    """``python_ngram_hash(gram) -> int``: the documented n-gram hash in Python integers
    (independent of NumPy and numba): ``h = splitmix64(n)``, then ``h = splitmix64(h ^ t)``
    for each token ``t``."""
    mask = (1 << 64) - 1

    def splitmix64(x):
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    def ngram_hash(gram):
        h = splitmix64(len(gram))
        for t in gram:
            h = splitmix64(h ^ int(t))
        return h
    return ngram_hash
