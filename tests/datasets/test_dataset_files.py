"""`nn.datasets._files`: the cache directory's place, and downloads from a local HTTP server
(a complete download is kept, a bad one leaves nothing). No test can reach the real network:
the download addresses point at a closed port unless a test serves the files itself.
"""

import functools
import hashlib
import http.server
import json
import threading

import pytest

from nn.datasets import _files, imdb

# Every test: a private cache, an empty Keras home, and downloads that can only fail.
pytestmark = pytest.mark.usefixtures("isolated")


# --- downloads from a local server -----------------------------------------------------------

@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != "/cut-short":
                return super().do_GET()
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"only the start")
            self.close_connection = True

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def serve(server, monkeypatch, archive=None, word_index=None):
    root, base = server
    for env, name, data in (("NN_IMDB_ARCHIVE", "aclImdb_v1.tar.gz", archive),
                            ("NN_IMDB_WORD_INDEX", "imdb_word_index.json", word_index)):
        if data is not None:
            (root / name).write_bytes(data)
            monkeypatch.setenv(f"{env}_URL", f"{base}/{name}")
            monkeypatch.setenv(f"{env}_MD5", hashlib.md5(data).hexdigest())


def test_download_both_files(server, monkeypatch, isolated, capsys, archive_bytes, assert_raw,
                             fake_word_index, files_in, load_raw):
    serve(server, monkeypatch, archive_bytes(), json.dumps(fake_word_index).encode())
    assert_raw(load_raw())
    names = files_in(isolated)
    assert "aclImdb_v1.tar.gz" in names and "imdb_word_index.json" in names
    assert not [n for n in names if n.endswith((".part", ".tmp"))]
    err = capsys.readouterr().err
    assert "Downloading aclImdb_v1.tar.gz" in err and "100%" in err
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", "http://127.0.0.1:1/gone")
    assert_raw(load_raw())  # now found in the cache directory


def test_download_word_index_only(server, monkeypatch, isolated, fake_imdb_dir, assert_raw,
                                  fake_word_index, load_raw):
    (fake_imdb_dir / "imdb_word_index.json").unlink()
    serve(server, monkeypatch, word_index=json.dumps(fake_word_index).encode())
    assert_raw(load_raw(path=fake_imdb_dir))
    assert (isolated / "imdb_word_index.json").is_file()


def test_download_with_wrong_checksum_leaves_nothing(
        server, monkeypatch, isolated, archive_bytes, files_in):
    serve(server, monkeypatch, archive_bytes())
    monkeypatch.setenv("NN_IMDB_ARCHIVE_MD5", "0" * 32)
    with pytest.raises(ValueError, match="checksum mismatch .* expected MD5 0000"):
        imdb.load_data()
    assert files_in(isolated) == []


def test_download_of_missing_file_leaves_nothing(server, monkeypatch, isolated, files_in):
    root, base = server
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", f"{base}/missing.tar.gz")
    with pytest.raises(FileNotFoundError, match="404"):
        imdb.load_data()
    assert files_in(isolated) == []


def test_download_cut_short_leaves_nothing(server, monkeypatch, isolated, files_in):
    root, base = server
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", f"{base}/cut-short")
    with pytest.raises(FileNotFoundError, match="could not download .*cut-short"):
        imdb.load_data()
    assert files_in(isolated) == []


# --- the cache directory ---------------------------------------------------------------------

def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("NN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _files.cache_dir() == tmp_path / "xdg" / "nn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _files.cache_dir() == tmp_path / "home" / ".cache" / "nn"
