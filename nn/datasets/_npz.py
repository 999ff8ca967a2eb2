"""Reading Keras's pickled ``.npz`` files safely.

Keras's ``imdb.npz`` stores each split as a NumPy object array of Python lists, which NumPy can
only save as a pickle. Loading it with ``allow_pickle=True`` would run any code a tampered file
carries (a pickle ``__reduce__`` gadget). Like Keras 3 (``keras/src/datasets/npz_utils.py``), we
unpickle with an unpickler that resolves only the globals needed to rebuild an object array
(``numpy.ndarray``, ``numpy.dtype`` and ``multiarray._reconstruct``) and then check that every
element is a list of Python ints before anything else sees it.

Our own caches hold only numeric arrays, written and read by `nn.files.save_npz` and
`nn.files.load_npz` (with ``allow_pickle=False``).
"""

import io
import itertools
import pickle
import zipfile

import numpy as np

_ALLOWED_GLOBALS = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),    # files written by NumPy < 2
    ("numpy._core.multiarray", "_reconstruct"),   # files written by NumPy >= 2
})
_INT32 = np.iinfo(np.int32)


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds NumPy arrays and plain values, and refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle global {module}.{name}")


def _read_member(raw):
    """One ``.npy`` member: numeric arrays with pickling disabled, object arrays restricted."""
    buffer = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(buffer, allow_pickle=False)
    except ValueError:  # an object array: skip the header, then unpickle under restriction
        buffer.seek(0)
        major, _ = np.lib.format.read_magic(buffer)
        if major == 1:
            np.lib.format.read_array_header_1_0(buffer)
        else:  # versions 2 and 3 share the header layout
            np.lib.format.read_array_header_2_0(buffer)
        return ArrayOnlyUnpickler(buffer).load()


def load_keras_npz(path):
    """Every array in a Keras dataset ``.npz``, without trusting its pickles.

    Raises
    ------
    ValueError
        The file is not a readable ``.npz``, or it holds a pickled object other than NumPy arrays.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return {name[:-4]: _read_member(archive.read(name))
                    for name in archive.namelist() if name.endswith(".npy")}
    except (pickle.UnpicklingError, zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise ValueError(f"{path} is not a valid Keras imdb.npz ({exc}). Delete it and let the "
                         "loader fetch the data again, or pass path= a good copy") from exc


def ragged_from_lists(array, what):
    """``(tokens, offsets)`` from a 1-D object array whose elements are lists of ints.

    Parameters
    ----------
    array : ndarray of object, shape (n_sequences,)
        What Keras's ``imdb.npz`` stores for ``x_train`` and ``x_test``.
    what : str
        Names the array in error messages (file and member).

    Returns
    -------
    tokens : ndarray of int32, shape (n_tokens,)
    offsets : ndarray of int64, shape (n_sequences + 1,)
    """
    if not (isinstance(array, np.ndarray) and array.dtype == object and array.ndim == 1):
        raise ValueError(f"{what} must be a 1-D object array of integer lists; got "
                         f"{type(array).__name__} {getattr(array, 'dtype', '')}")
    kinds = set(map(type, array))
    if kinds - {list}:
        raise ValueError(f"{what} must hold lists of ints; found "
                         f"{sorted(k.__name__ for k in kinds)}")
    flat = list(itertools.chain.from_iterable(array))
    kinds = set(map(type, flat))
    if kinds - {int}:  # bool, float, str, ... are refused; only exact ints pass
        raise ValueError(f"{what} must hold lists of ints; found elements of type "
                         f"{sorted(k.__name__ for k in kinds - {int})}")
    tokens = np.array(flat, dtype=np.int64)
    if tokens.size and (tokens.min() < 0 or tokens.max() > _INT32.max):
        raise ValueError(f"{what} holds word indices outside 0..{_INT32.max}")
    offsets = np.zeros(array.size + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, array), np.int64, array.size), out=offsets[1:])
    return tokens.astype(np.int32), offsets
