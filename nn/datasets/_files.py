"""File plumbing shared by the dataset loaders: where files live, checksums, downloads.

Folders searched for data, in order: a ``path=`` given by the caller, ``NN_DATA_DIR``, the cache
directory (`cache_dir`) and Keras's own cache (`keras_cache_dir`). Everything this package
writes (downloads, tokenized caches) goes to the cache directory through `nn.files.atomic_write`:
an interrupted run leaves no half-written file under a name the loaders would read.

Downloads use only `urllib`: they stream into ``.<name>.<random>.part`` beside the destination,
show a progress bar on stderr, check the MD5 and are renamed only when complete and correct.
"""

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from nn.files import atomic_write
from nn.progress import Progbar

CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file the loaders can download: its local name, public address and MD5.

    ``<env>_URL`` and ``<env>_MD5`` in the environment override the address and checksum, for
    a mirror or a local test server.
    """

    name: str
    url: str
    md5: str
    env: str

    def location(self):
        """``(url, md5)`` after the environment overrides, which are checked."""
        url = os.environ.get(f"{self.env}_URL") or self.url
        md5 = os.environ.get(f"{self.env}_MD5") or self.md5
        if not url.startswith(("http://", "https://", "file:")):
            raise ValueError(f"{self.env}_URL={url!r} is not an http(s):// or file: address")
        if len(md5) != 32 or not all(c in "0123456789abcdefABCDEF" for c in md5):
            raise ValueError(f"{self.env}_MD5={md5!r} is not an MD5 digest (32 hex digits)")
        return url, md5


def cache_dir():
    """The cache directory: ``NN_CACHE_DIR``, else ``$XDG_CACHE_HOME/nn``, else ``~/.cache/nn``.

    The folder is not created here; writers create it when they first need it.
    """
    if os.environ.get("NN_CACHE_DIR"):
        return Path(os.environ["NN_CACHE_DIR"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "nn"
    return Path.home() / ".cache" / "nn"


def keras_cache_dir():
    """Keras's download folder: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME")
    return (Path(home).expanduser() if home else Path.home() / ".keras") / "datasets"


def search_dirs():
    """The folders searched when no ``path=`` is given, as ``(label, folder)`` pairs in order."""
    dirs = []
    if os.environ.get("NN_DATA_DIR"):
        dirs.append(("NN_DATA_DIR", Path(os.environ["NN_DATA_DIR"]).expanduser()))
    dirs.append(("cache directory", cache_dir()))
    dirs.append(("Keras cache", keras_cache_dir()))
    return dirs


def file_digest(path, algorithm="sha256"):
    """Hex digest of a file's bytes (``"sha256"`` or ``"md5"``)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download(url, dest, md5, timeout=30):
    """Download ``url`` to ``dest`` through a ``.part`` file, checking its MD5.

    Parameters
    ----------
    url : str
        Where to fetch from (``http``, ``https`` or ``file`` URL).
    dest : path-like
        Final file name; its folder is created if needed.
    md5 : str or None
        Expected MD5 hex digest; None skips the check.
    timeout : float, default 30
        Seconds to wait for the server on connect and on each read.

    Returns
    -------
    Path
        ``dest``, complete and verified.

    Raises
    ------
    OSError or http.client.HTTPException
        The download failed (no network, HTTP error, connection cut); nothing is left behind.
    ValueError
        The downloaded bytes do not have the expected MD5; the partial file is deleted.
    """
    import urllib.request  # imported here: with http.client and ssl it costs ~1.5 MB

    dest = Path(dest)
    digest = hashlib.md5(usedforsecurity=False)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0)
        bar = Progbar(total, stream=sys.stderr, label=f"Downloading {dest.name}:", unit="bytes")
        received = 0
        with atomic_write(dest, suffix=".part") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(received)
            finally:
                bar.finish()
            if total and received != total:
                raise ConnectionError(f"the connection closed after {received} of {total} bytes")
            if md5 is not None and digest.hexdigest() != md5.lower():
                raise ValueError(
                    f"checksum mismatch for {url}: expected MD5 {md5}, got "
                    f"{digest.hexdigest()}; the download was discarded. Try again, or fetch the "
                    f"file yourself and point the loader at it with path= or NN_DATA_DIR")
    return dest
