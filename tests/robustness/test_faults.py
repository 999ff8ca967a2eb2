"""Faults in the data path: each ends in a clear error or a correct rebuild, and nothing corrupt
is ever read back as good data.

Covered here: a download cut off half way (with and without a Content-Length), a server that
stalls, a download process killed mid-transfer, a checksum mismatch on the word index, a
truncated archive served with a matching checksum, corrupt files in the cache directory, two
processes downloading and building the cache at once, readers racing a writer of the cache, a
cache directory that cannot be written, and random damage to the tokenized cache.

Already covered in tests/datasets/ and not repeated: truncated or corrupt archives passed by
path (test_truncated_or_corrupt_archive), a wrong archive checksum
(test_download_with_wrong_checksum_leaves_nothing), a connection closed early with no recovery
(test_download_cut_short_leaves_nothing), a 404, and a cache file truncated to 100 bytes
(test_damaged_cache_is_rebuilt).

A local HTTP server on 127.0.0.1 stands in for the network; nothing leaves the machine.
"""

import functools
import hashlib
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nn.datasets import _aclimdb, _files, imdb
from nn.files import load_npz, save_npz

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("NN_HARDENING_EXAMPLES", "60"))
# Every test: a private cache, an empty Keras home, and download addresses that can only fail.
pytestmark = pytest.mark.usefixtures("isolated")


class Server:
    """An HTTP server on 127.0.0.1 whose routes the test sets: ``server.routes[path] = (mode,
    data)``. Modes: "full"; "half" (a Content-Length for all of ``data``, half of it sent,
    then the connection closed); "half, no length" (half sent, closed, no Content-Length);
    "stall" (half sent, then nothing until the test ends); "together" (held until
    ``server.expected`` requests for that path have arrived, then sent in full). ``archive``
    and ``index``: the full files, which `serve` offers unless told otherwise."""

    def __init__(self, archive, index):
        self.archive, self.index = archive, index
        self.routes, self.expected, self.overlapped = {}, 2, set()
        self.release = threading.Event()
        self.barriers = {}
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                mode, data = server.routes[self.path]
                if mode == "together":
                    barrier = server.barriers.setdefault(
                        self.path, threading.Barrier(server.expected, timeout=30))
                    try:
                        barrier.wait()
                        server.overlapped.add(self.path)
                    except threading.BrokenBarrierError:
                        pass
                self.send_response(200)
                if mode != "half, no length":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if mode in ("full", "together"):
                    self.wfile.write(data)
                    return
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                if mode == "stall":
                    server.release.wait(60)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def serve(self, monkeypatch, archive=None, index=None, archive_md5=None, index_md5=None):
        """Point the loader at this server: ``archive`` and ``index`` are routes, by default
        ``("full", <the full file>)``; checksums default to those of the full files."""
        archive = archive or ("full", self.archive)
        index = index or ("full", self.index)
        for env, name, route, md5 in (("NN_IMDB_ARCHIVE", "aclImdb_v1.tar.gz", archive,
                                       archive_md5 or hashlib.md5(self.archive).hexdigest()),
                                      ("NN_IMDB_WORD_INDEX", "imdb_word_index.json", index,
                                       index_md5 or hashlib.md5(self.index).hexdigest())):
            self.routes[f"/{name}"] = route
            monkeypatch.setenv(f"{env}_URL", f"{self.base}/{name}")
            monkeypatch.setenv(f"{env}_MD5", md5)

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(fake_archive, fake_word_index_json):
    s = Server(fake_archive, fake_word_index_json)
    yield s
    s.close()


@pytest.fixture(scope="session")
def hidden(files_in):
    """``hidden(folder)``: temporary files (``.name.<random>.part`` / ``.tmp``) left in
    ``folder``."""
    return lambda folder: [n for n in files_in(folder) if n.startswith(".")]


# --- downloads -------------------------------------------------------------------------------

def test_download_cut_off_half_way_then_a_good_download_succeeds(
        server, monkeypatch, isolated, assert_raw, fake_archive, files_in, hidden, load_raw):
    server.serve(monkeypatch, archive=("half", fake_archive))
    with pytest.raises(FileNotFoundError, match=r"could not download .*aclImdb_v1\.tar\.gz") \
            as info:
        imdb.load_data()
    assert "IncompleteRead" in repr(info.value.__cause__) or \
        "closed after" in str(info.value.__cause__)
    assert files_in(isolated) == []  # no .part file, no final file
    server.routes["/aclImdb_v1.tar.gz"] = ("full", fake_archive)
    assert_raw(load_raw())
    assert (isolated / "aclImdb_v1.tar.gz").read_bytes() == fake_archive and hidden(isolated) == []


def test_download_cut_off_without_a_length_is_caught_by_the_checksum(
        server, monkeypatch, isolated, assert_raw, fake_archive, files_in, load_raw):
    server.serve(monkeypatch, archive=("half, no length", fake_archive))
    with pytest.raises(ValueError, match="checksum mismatch .*the download was discarded"):
        imdb.load_data()
    assert files_in(isolated) == []
    server.routes["/aclImdb_v1.tar.gz"] = ("full", fake_archive)
    assert_raw(load_raw())


def test_a_stalled_server_times_out(server, monkeypatch, isolated, fake_archive, files_in):
    server.serve(monkeypatch, archive=("stall", fake_archive))
    monkeypatch.setattr(imdb, "download", functools.partial(_files.download, timeout=0.5))
    start = time.monotonic()
    with pytest.raises(FileNotFoundError, match="could not download .*timed out"):
        imdb.load_data()
    assert time.monotonic() - start < 10
    assert files_in(isolated) == []


def run_python(code, **env):
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_download_killed_mid_transfer_is_never_read_back(
        server, monkeypatch, isolated, assert_raw, fake_archive, files_in, load_raw):
    big = np.random.default_rng(0).bytes(3 * _files.CHUNK)  # half of it fills one read
    server.serve(monkeypatch, archive=("stall", big), archive_md5=hashlib.md5(big).hexdigest())
    proc = run_python("from nn.datasets import imdb; imdb.load_data()")
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in isolated.glob(".*.part")):
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
    # A killed process cannot clean up: its .part stays, but under a name nothing reads.
    assert [n for n in files_in(isolated) if not n.endswith(".part")] == []
    server.serve(monkeypatch)
    assert_raw(load_raw())
    assert (isolated / "aclImdb_v1.tar.gz").read_bytes() == fake_archive


def test_word_index_checksum_mismatch(server, monkeypatch, isolated, assert_raw,
                                      fake_word_index_json, files_in, load_raw):
    server.serve(monkeypatch, index_md5="f" * 32)
    with pytest.raises(ValueError, match=r"checksum mismatch for .*imdb_word_index\.json: "
                                         r"expected MD5 f{32}, got"):
        imdb.load_data()
    # The archive was complete and verified, so it stays; nothing was tokenized.
    assert files_in(isolated) == ["aclImdb_v1.tar.gz"]
    monkeypatch.setenv("NN_IMDB_WORD_INDEX_MD5", hashlib.md5(fake_word_index_json).hexdigest())
    assert_raw(load_raw())


@pytest.mark.parametrize("env, value, message", [
    ("NN_IMDB_ARCHIVE_URL", "mirror.example/aclImdb_v1.tar.gz", "is not an http"),
    ("NN_IMDB_ARCHIVE_MD5", "7c2ac02c", "is not an MD5 digest"),
])
def test_bad_overrides_are_named(monkeypatch, isolated, env, value, message, files_in):
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError, match=f"{env}='{value}' {message}"):
        imdb.load_data()
    assert files_in(isolated) == []


def test_truncated_archive_with_a_matching_checksum(server, monkeypatch, isolated, fake_archive):
    truncated = fake_archive[:len(fake_archive) * 2 // 3]  # a broken mirror: the checksum matches
    server.serve(monkeypatch, archive=("full", truncated),
                 archive_md5=hashlib.md5(truncated).hexdigest())
    with pytest.raises(ValueError, match="aclImdb_v1.tar.gz is truncated or corrupt .*Delete "
                                         "it and download it again"):
        imdb.load_data()
    assert not list(isolated.glob("imdb-*.npz"))


# --- files damaged in the cache directory ----------------------------------------------------

@pytest.mark.parametrize("name, damage, message", [
    ("aclImdb_v1.tar.gz", lambda b: b[:len(b) // 2], "truncated or corrupt"),
    ("aclImdb_v1.tar.gz", lambda b: b[:40] + bytes([b[40] ^ 0xFF]) + b[41:],
     "truncated or corrupt"),
    ("imdb_word_index.json", lambda b: b[:len(b) // 2], "not a valid imdb_word_index.json"),
    ("imdb.npz", lambda b: b[:len(b) // 2], "not a valid Keras imdb.npz"),
])
def test_damaged_download_in_the_cache_is_an_error_that_says_what_to_do(
        server, monkeypatch, isolated, name, damage, message, assert_raw, load_raw,
        write_keras_npz):
    if name == "imdb.npz":
        isolated.mkdir()
        write_keras_npz(isolated / name)
    else:
        server.serve(monkeypatch)
        assert_raw(load_raw())
        for cached in isolated.glob("imdb-*.npz"):
            cached.unlink()  # make the loader read the sources again
    target = isolated / name
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(ValueError, match=message) as info:
        load_raw()
    assert str(target) in str(info.value) and "Delete it" in str(info.value)
    assert not list(isolated.glob("imdb-*.npz"))
    if name != "imdb.npz":  # doing what the message says fixes it
        target.unlink()
        assert_raw(load_raw())


def test_a_source_damaged_after_caching_is_not_served_from_the_cache(
        fake_imdb_dir, isolated, assert_raw, load_raw):
    """The cache is keyed by the source's checksum, so a damaged source misses it."""
    assert_raw(load_raw(path=fake_imdb_dir))
    archive = fake_imdb_dir / "aclImdb_v1.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-100])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_raw(path=fake_imdb_dir)


def test_unwritable_cache_directory_warns_and_still_loads(
        fake_imdb_dir, isolated, assert_raw, load_raw):
    isolated.write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not write the cache file"):
        assert_raw(load_raw(path=fake_imdb_dir))


@pytest.fixture(scope="module")
def good_cache(tmp_path_factory, fake_archive, fake_word_index_json, load_raw):
    """A source folder and the bytes of its tokenized cache file."""
    root = tmp_path_factory.mktemp("damage")
    data = root / "data"
    data.mkdir()
    (data / "aclImdb_v1.tar.gz").write_bytes(fake_archive)
    (data / "imdb_word_index.json").write_bytes(fake_word_index_json)
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NN_CACHE_DIR", str(cache))
        load_raw(path=data)
    (cached,) = cache.glob("imdb-*.npz")
    return data, cached.name, cached.read_bytes(), load_npz(cached)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_damage_to_the_cache_is_rebuilt_never_misread(good_cache, isolated, assert_raw,
                                                            hidden, load_raw, data):
    source, name, good, good_arrays = good_cache
    kind = data.draw(st.sampled_from(["flip", "flip", "truncate", "zero", "append", "empty"]))
    damaged = bytearray(good)
    if kind == "flip":
        for i in data.draw(st.lists(st.integers(0, len(good) - 1), min_size=1, max_size=3)):
            damaged[i] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        damaged = damaged[:data.draw(st.integers(0, len(good) - 1))]
    elif kind == "zero":
        start = data.draw(st.integers(0, len(good) - 1))
        damaged[start:start + data.draw(st.integers(1, 64))] = bytes(64)[:len(damaged[start:])]
        damaged = damaged[:len(good)]
    elif kind == "append":
        damaged += b"garbage" * data.draw(st.integers(1, 10))
    else:
        damaged = b""
    isolated.mkdir(exist_ok=True)
    (isolated / name).write_bytes(bytes(damaged))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert_raw(load_raw(path=source))  # the right data, whatever happened to the cache
    rebuilt = [w for w in caught if "damaged cache file" in str(w.message)]
    if rebuilt:  # and the file was rebuilt, good again
        arrays = load_npz(isolated / name)
        assert arrays.keys() == good_arrays.keys()
        for key, value in good_arrays.items():
            np.testing.assert_array_equal(arrays[key], value)
    elif bytes(damaged) != good:  # damage the loader could not see left the data intact
        arrays = load_npz(isolated / name)
        for key, value in good_arrays.items():
            np.testing.assert_array_equal(arrays[key], value)
    assert hidden(isolated) == []


# --- two processes at once -------------------------------------------------------------------

LOAD_AND_PRINT = """
import hashlib
from nn.datasets import imdb
(a, b), (c, d) = imdb.load_data(start_char=None, index_from=0, num_words=10**6)
print(hashlib.sha256(b"".join(v.tobytes() for v in (a.tokens, a.offsets, b, c.tokens,
                                                     c.offsets, d))).hexdigest())
"""


def test_two_processes_download_and_build_the_cache_at_once(
        server, monkeypatch, isolated, fake_imdb_dir, assert_raw, fake_archive,
        fake_word_index_json, files_in, load_raw):
    server.serve(monkeypatch, archive=("together", fake_archive),
                 index=("together", fake_word_index_json))
    procs = [run_python(LOAD_AND_PRINT) for _ in range(2)]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    assert server.overlapped == {"/aclImdb_v1.tar.gz", "/imdb_word_index.json"}
    assert outputs[0][0] == outputs[1][0]
    (cached,) = isolated.glob("imdb-*.npz")
    assert sorted(files_in(isolated)) == sorted(["aclImdb_v1.tar.gz", "imdb_word_index.json",
                                                 cached.name])
    assert (isolated / "aclImdb_v1.tar.gz").read_bytes() == fake_archive
    # The cache is a complete file holding what tokenizing again gives.
    fresh = imdb._pack(imdb._raw_from_text(fake_imdb_dir / "aclImdb_v1.tar.gz",
                                           fake_imdb_dir / "imdb_word_index.json"))
    arrays = load_npz(cached)
    assert arrays.keys() == fresh.keys()
    for key, value in fresh.items():
        np.testing.assert_array_equal(arrays[key], value)
        assert arrays[key].dtype == value.dtype
    monkeypatch.setattr(_aclimdb, "read_reviews",
                        lambda path, transform=None: pytest.fail("not cached"))
    assert_raw(load_raw())

WRITER = """
import sys, time
import numpy as np
from nn.files import save_npz
path, stop = sys.argv[1], time.monotonic() + float(sys.argv[2])
versions = [{"a": np.full(300_000, v, np.int64), "b": np.arange(v, v + 1000)} for v in (1, 2)]
i = 0
while time.monotonic() < stop:
    save_npz(path, versions[i % 2])
    i += 1
print(i)
"""


def test_readers_never_see_a_half_written_cache(tmp_path, files_in):
    path = tmp_path / "cache.npz"
    save_npz(path, {"a": np.full(300_000, 1, np.int64), "b": np.arange(1, 1001)})
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "1.5"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    reads, seen = 0, set()
    while writer.poll() is None:
        arrays = load_npz(path)  # raises on a torn file
        v = int(arrays["a"][0])
        assert v in (1, 2) and np.all(arrays["a"] == v)
        np.testing.assert_array_equal(arrays["b"], np.arange(v, v + 1000))
        reads, seen = reads + 1, seen | {v}
    writes = int(writer.communicate()[0])
    assert writer.returncode == 0 and writes >= 2 and reads >= 2 and seen == {1, 2}
    assert files_in(tmp_path) == ["cache.npz"]
