"""Safe file writes, and ``.npz`` files of numeric arrays without pickles.

Every file `nn` writes (model and weight files, dataset downloads and caches) goes through
`atomic_write`: the bytes go to a temporary file in the same folder, are flushed and fsynced,
and only then renamed over the final name with `os.replace`. A crash or an exception mid-write
leaves the old file (or none), never a truncated one under the final name.
"""

import contextlib
import os
import secrets
from pathlib import Path

import numpy as np


@contextlib.contextmanager
def atomic_write(path, suffix=".tmp"):
    """Open a temporary binary file beside ``path``; on success fsync it and rename it to ``path``.

    The temporary file is ``.<name>.<random><suffix>`` in the folder of ``path``, which is
    created if missing. On any exception the temporary file is deleted and ``path`` is left
    as it was. The file gets the usual permissions (``0o666`` less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}{suffix}")
    # os.open with mode 0o666 honours the umask, unlike mkstemp's private 0o600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_npz(path, arrays):
    """Write ``arrays`` (a dict of name to numeric array) to an uncompressed ``.npz`` at
    ``path``, atomically (`atomic_write`)."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def load_npz(path):
    """Every array in an ``.npz`` file as a dict of name to array. Pickles are refused
    (``allow_pickle=False``): reading a file never runs code from it."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}
