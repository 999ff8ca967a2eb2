"""Shared fixtures: where the real IMDB data lives, a private cache for the session, each
backend in turn, the small builders many tests use (a separable problem, an MLP, ...), and a
fake IMDB (a few synthetic reviews as an archive, a folder or Keras's ``imdb.npz``) for the
dataset and robustness tests.

The data folder comes from ``NN_DATA_DIR``; without it, the ``shared/data`` folder beside the
project root (where this workplace keeps it). Tests that need the data are skipped when it is
absent, except under CI (``CI=true``), where a missing data folder is an error.
"""

import importlib
import io
import json
import os
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest

import nn
from nn import layers, models
from nn.datasets import imdb

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
    and every CPU taken as free (a parallel call uses all ``n`` threads whatever else runs on
    the machine; `_common._free_cpus`), both restored afterwards. Skips the test where numba
    is not installed."""
    numba = pytest.importorskip("numba")
    from nn.kernels.numba import _common

    def run(n, fn, *args):
        old = numba.get_num_threads()
        numba.set_num_threads(n)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(_common, "_free_cpus", lambda: n)
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


# --- a fake IMDB -----------------------------------------------------------------------------

_WORD_INDEX = {"the": 1, "film": 2, "was": 3, "good": 4, "bad": 5, "it's": 6, "Ángela": 7,
               "so\x85": 8, "br": 9}
_REVIEWS = {  # (split, label, file name): text
    ("train", "pos", "0_9.txt"): "The film was GOOD.",
    ("train", "pos", "10_8.txt"): "Good, good<br />film!",
    ("train", "pos", "2_7.txt"): "Ángela film: so\x85 good",
    ("train", "neg", "0_1.txt"): "Bad film.  It's bad",
    ("train", "neg", "1_2.txt"): "the the bad",
    ("test", "pos", "0_10.txt"): "good",
    ("test", "neg", "0_3.txt"): "bad film",
    ("test", "neg", "1_4.txt"): "unknownword bad",
}
# Word ranks in raw order: pos sorted by name as strings ("10_8" < "2_7"), then neg.
_RAW = {"train": ([[1, 2, 3, 4], [4, 4, 9, 2], [7, 2, 8, 4], [5, 2, 6, 5], [1, 1, 5]],
                  [1, 1, 1, 0, 0]),
        "test": ([[4], [5, 2], [5]], [1, 0, 0])}


def _archive_bytes(reviews=_REVIEWS, top="aclImdb"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        members = {f"{top}/README": b"readme", f"{top}/train/unsup/0_0.txt": b"good good"}
        members.update({f"{top}/{split}/{label}/{name}":
                        text.encode() if isinstance(text, str) else text
                        for (split, label, name), text in reviews.items()})
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _keras_orders(seed=113):
    rng = np.random.RandomState(seed)
    orders = []
    for split in ("train", "test"):
        order = np.arange(len(_RAW[split][0]))
        rng.shuffle(order)
        orders.append(order)
    return orders


@pytest.fixture(scope="session")
def fake_word_index():
    """The fake IMDB's ``imdb_word_index.json`` as a dict: nine words, one of them not ASCII
    ("Ángela") and one holding "\\x85"."""
    return _WORD_INDEX


@pytest.fixture(scope="session")
def fake_reviews():
    """The fake IMDB's eight reviews, ``{(split, label, file name): text}``."""
    return _REVIEWS


@pytest.fixture(scope="session")
def fake_raw():
    """``{split: (word ranks of each review, labels)}`` of the fake reviews in raw order (pos
    sorted by file name as strings, then neg): what ``load_raw`` must give before the
    shuffle."""
    return _RAW


@pytest.fixture(scope="session")
def archive_bytes():
    """``archive_bytes(reviews=fake_reviews, top="aclImdb") -> bytes``: an aclImdb ``.tar.gz``
    of ``reviews`` (text, or bytes as they are) under folder ``top``, with a README and an
    unsup review that the loader must skip."""
    return _archive_bytes


@pytest.fixture(scope="session")
def fake_archive():
    """The bytes of the fake IMDB's archive: ``archive_bytes()``."""
    return _archive_bytes()


@pytest.fixture(scope="session")
def fake_word_index_json():
    """The bytes of the fake IMDB's ``imdb_word_index.json``."""
    return json.dumps(_WORD_INDEX).encode()


@pytest.fixture
def fake_imdb_dir(tmp_path, fake_archive, fake_word_index_json):
    """A folder holding the fake ``aclImdb_v1.tar.gz`` and ``imdb_word_index.json``."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "aclImdb_v1.tar.gz").write_bytes(fake_archive)
    (folder / "imdb_word_index.json").write_bytes(fake_word_index_json)
    return folder


@pytest.fixture(scope="session")
def write_folder():
    """``write_folder(root, reviews=fake_reviews) -> root / "aclImdb"``: the reviews as an
    extracted aclImdb folder."""
    def write(root, reviews=_REVIEWS):
        for (split, label, name), text in reviews.items():
            path = root / "aclImdb" / split / label / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root / "aclImdb"
    return write


@pytest.fixture(scope="session")
def write_keras_npz():
    """``write_keras_npz(path, raw=fake_raw, x_type=list) -> path``: ``raw`` as Keras's
    ``imdb.npz`` (object arrays of ``x_type(review)``, int64 labels)."""
    def write(path, raw=_RAW, x_type=list):
        arrays = {}
        for split, (x, y) in raw.items():
            objects = np.empty(len(x), dtype=object)
            for i, seq in enumerate(x):
                objects[i] = x_type(seq)
            arrays[f"x_{split}"], arrays[f"y_{split}"] = objects, np.array(y, dtype=np.int64)
        np.savez(path, **arrays)
        return path
    return write


@pytest.fixture(scope="session")
def keras_orders():
    """``keras_orders(seed=113) -> [train order, test order]``: how Keras's shuffles order
    the fake IMDB's splits."""
    return _keras_orders


@pytest.fixture(scope="session")
def load_raw():
    """``load_raw(**kwargs)``: ``imdb.load_data`` giving plain word ranks (a large num_words
    avoids the quirk that cuts the largest index)."""
    def load(**kwargs):
        return imdb.load_data(start_char=None, index_from=0, num_words=10**6, **kwargs)
    return load


@pytest.fixture(scope="session")
def assert_raw():
    """``assert_raw(result, raw=fake_raw, seed=113)``: ``result`` is ``load_raw()`` of the
    data in ``raw``."""
    def check(result, raw=_RAW, seed=113):
        for (x, y), split, order in zip(result, ("train", "test"), _keras_orders(seed)):
            assert x.to_list() == [raw[split][0][i] for i in order]
            assert y.tolist() == [raw[split][1][i] for i in order]
    return check


@pytest.fixture(scope="session")
def files_in():
    """``files_in(folder) -> [name, ...]``: the sorted names of everything below ``folder``
    (``[]`` when it does not exist)."""
    def names(folder):
        return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []
    return names


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A private cache directory (not created), an empty Keras home, no ``NN_DATA_DIR``, and
    download addresses (without checksum overrides) that point at a closed port on
    127.0.0.1, so that a test can touch neither the network nor the user's files. Returns
    the cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NN_CACHE_DIR", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for env, name in (("NN_IMDB_ARCHIVE", "aclImdb_v1.tar.gz"),
                      ("NN_IMDB_WORD_INDEX", "imdb_word_index.json")):
        monkeypatch.setenv(f"{env}_URL", f"http://127.0.0.1:{port}/{name}")
        monkeypatch.delenv(f"{env}_MD5", raising=False)
    return cache


@pytest.fixture(scope="session")
def keras_reference():
    """``keras_reference(train, test, num_words=None, skip_top=0, maxlen=None, seed=113,
    start_char=1, oov_char=2, index_from=3)``: Keras 3's ``imdb.load_data`` after reading the
    npz, written out on Python lists; ``train`` and ``test`` are ``(reviews, labels)``.
    Raises ValueError when ``maxlen`` keeps nothing of a split."""
    def reference(train, test, num_words=None, skip_top=0, maxlen=None, seed=113,
                  start_char=1, oov_char=2, index_from=3):
        rng = np.random.RandomState(seed)
        out = []
        for x, y in (train, test):
            order = np.arange(len(x))
            rng.shuffle(order)
            out.append(([x[i] for i in order], [int(y[i]) for i in order]))
        head = [start_char] if start_char is not None else []
        out = [([head + [w + index_from for w in s] for s in x], y) for x, y in out]
        if maxlen:
            out = [tuple(map(list, zip(*[(s, l) for s, l in zip(x, y) if len(s) < maxlen])))
                   or ([], []) for x, y in out]
            if not out[0][0] or not out[1][0]:
                raise ValueError("maxlen keeps nothing")
        if not num_words:
            num_words = max(max(s) for x, _ in out for s in x)
        if oov_char is not None:
            cut = [[[w if skip_top <= w < num_words else oov_char for w in s] for s in x]
                   for x, _ in out]
        else:
            cut = [[[w for w in s if skip_top <= w < num_words] for s in x] for x, _ in out]
        return [(x, y) for x, (_, y) in zip(cut, out)]
    return reference


@pytest.fixture(scope="session")
def keras():
    """Keras 3 on TensorFlow (the notebook's backend), imported once per session, for the
    live cross-checks: they skip, with the reason, where it is not installed or runs on
    another backend. TensorFlow's oneDNN kernels are turned off (before TensorFlow loads):
    on CPUs with AVX512-BF16 they compute a 512-wide float32 layer's gradients with ~1e-2
    relative error, where nn and TensorFlow's own kernels agree with float64 to ~4e-7."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    keras = pytest.importorskip("keras", reason="keras is not installed: no live cross-check")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the live checks compare with Keras on TensorFlow; this Keras runs on "
                    f"{keras.backend.backend()}")
    return keras
