"""`nn.datasets._npz`: Keras's ``imdb.npz`` loads, and only as lists of ints: the restricted
unpickler refuses anything else, a pickled gadget included.
"""

import io
import os
import pickle

import numpy as np
import pytest

from nn.datasets import _npz, imdb

# Every test: a private cache, an empty Keras home, and downloads that can only fail.
pytestmark = pytest.mark.usefixtures("isolated")


def test_keras_npz_loads(tmp_path, assert_raw, fake_raw, keras_orders, load_raw, write_keras_npz):
    path = write_keras_npz(tmp_path / "imdb.npz")
    assert_raw(load_raw(path=path))
    (x_train, y_train), _ = imdb.load_data(path=path, num_words=100)
    order = keras_orders()[0]
    assert x_train[0] == [1] + [w + 3 for w in fake_raw["train"][0][order[0]]]
    assert y_train.dtype == np.int64


class Gadget:
    """Pickles as a call to os.mkdir: what a tampered npz would smuggle in."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("content", ["strings", "floats", "bools", "tuples", "gadget"])
def test_npz_with_anything_but_int_lists_is_refused(
        tmp_path, isolated, content, files_in, write_keras_npz):
    marker = tmp_path / "pwned"
    x_type = {"strings": lambda s: [str(w) for w in s], "floats": lambda s: [float(w) for w in s],
              "bools": lambda s: [True for _ in s], "tuples": tuple,
              "gadget": lambda s: [Gadget(marker)]}[content]
    path = write_keras_npz(tmp_path / "imdb.npz", x_type=x_type)
    with pytest.raises(ValueError, match=r"imdb\.npz"):
        imdb.load_data(path=path)
    assert not marker.exists()
    assert files_in(isolated) == []


def test_npz_with_bad_labels_or_missing_arrays(tmp_path, fake_raw, write_keras_npz):
    raw = {"train": (fake_raw["train"][0], [0, 1, 2, 0, 1]), "test": fake_raw["test"]}
    with pytest.raises(ValueError, match="y_train .* must hold 5 labels of 0 or 1"):
        imdb.load_data(path=write_keras_npz(tmp_path / "imdb.npz", raw))
    np.savez(tmp_path / "other.npz", x_train=np.arange(3))
    with pytest.raises(ValueError, match="lacks"):
        imdb.load_data(path=tmp_path / "other.npz")


def test_restricted_unpickler_allows_arrays_only():
    def load(obj):
        return _npz.ArrayOnlyUnpickler(io.BytesIO(pickle.dumps(obj))).load()

    assert load(np.arange(3)).tolist() == [0, 1, 2]
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to unpickle global .*system"):
        load(os.system)
