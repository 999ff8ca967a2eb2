"""File plumbing shared by the dataset loaders: where files live, checksums, safe writes, downloads.

Folders searched for data, in order: a ``path=`` given by the caller, ``NN_DATA_DIR``, the cache
directory (`cache_dir`) and Keras's own cache (`keras_cache_dir`). Everything this package
writes (downloads, tokenized caches) goes to the cache directory, and every write is atomic: the
bytes go to a temporary file in the same folder, are flushed and fsynced, and only then renamed
over the final name with `os.replace`. An interrupted run leaves no half-written file under a
name the loaders would read.

Downloads use only `urllib`: they stream into ``.<name>.<random>.part`` beside the destination,
show a progress bar on stderr, check the MD5 and are renamed only when complete and correct.
"""

import contextlib
import hashlib
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


@contextlib.contextmanager
def atomic_write(path, suffix=".tmp"):
    """Open a temporary binary file beside ``path``; on success fsync it and rename it to ``path``.

    On any exception the temporary file is deleted and ``path`` is left as it was.
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


class ProgressBar:
    """A one-line download progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, name, total, stream=None, width=30):
        self.name, self.total, self.width = name, total, width
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.last = 0.0

    def update(self, n):
        self.done += n
        now = time.monotonic()
        if now - self.last >= 0.1:
            self.last = now
            self._draw()

    def close(self):
        self._draw()
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self):
        mb = f"{self.done / 1e6:.1f}"
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(frac * self.width)
            line = (f"Downloading {self.name}: {frac:4.0%} [{bar:<{self.width}}] "
                    f"{mb}/{self.total / 1e6:.1f} MB")
        else:
            line = f"Downloading {self.name}: {mb} MB"
        self.stream.write("\r" + line)
        self.stream.flush()


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
        bar = ProgressBar(dest.name, total)
        with atomic_write(dest, suffix=".part") as out:
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
            if total and bar.done != total:
                raise ConnectionError(f"the connection closed after {bar.done} of {total} bytes")
            if md5 is not None and digest.hexdigest() != md5.lower():
                raise ValueError(
                    f"checksum mismatch for {url}: expected MD5 {md5}, got "
                    f"{digest.hexdigest()}; the download was discarded. Try again, or fetch the "
                    f"file yourself and point the loader at it with path= or NN_DATA_DIR")
    return dest
