"""`nn.datasets.imdb` on small synthetic sources: where files are found, the cache, downloads
from a local HTTP server, the restricted unpickler, and the errors for bad input.

Every test runs with a private cache directory, an empty Keras home and download addresses that
point at a closed port on 127.0.0.1, so nothing here can touch the real network or the user's
files.
"""

import functools
import hashlib
import http.server
import io
import json
import os
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn.datasets import _aclimdb, _files, _npz, imdb
from nn.files import atomic_write

# Every test: a private cache, an empty Keras home, and downloads that can only fail.
pytestmark = pytest.mark.usefixtures("isolated")


# --- tokenizing ------------------------------------------------------------------------------

def test_text_to_word_sequence_is_keras_on_bytes():
    assert _aclimdb.text_to_word_sequence("Hello, World!<br />It's\tÁNGELA\x85 x\xa0y") == [
        "hello", "world", "br", "it's", "Ángela\x85", "x\xa0y"]


TEXT_CHARS = list("aAbBÁáé ,.!'<>/\t\n\r\x0b\x0c\x1c\x85\xa0")  # \r\v\f stay in words


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TEXT_CHARS), max_size=40), max_size=6))
def test_bytes_tokenizer_matches_str_reference(texts):
    words = sorted({w for t in texts for w in _aclimdb.text_to_word_sequence(t)})
    index = {w: rank for rank, w in enumerate(words, start=1) if rank % 3}  # some unknown
    expected = [[index[w] for w in _aclimdb.text_to_word_sequence(t) if w in index]
                for t in texts]
    assert _aclimdb.tokenize([t.encode() for t in texts], index).to_list() == expected


# --- sources ---------------------------------------------------------------------------------

def test_archive_by_file_and_by_folder(fake_imdb_dir, assert_raw, load_raw):
    assert_raw(load_raw(path=fake_imdb_dir / "aclImdb_v1.tar.gz"))
    assert_raw(load_raw(path=fake_imdb_dir))


def test_extracted_folder(tmp_path, assert_raw, fake_word_index, load_raw, write_folder):
    root = tmp_path / "extracted"
    aclimdb = write_folder(root)
    (root / "imdb_word_index.json").write_text(json.dumps(fake_word_index))
    assert_raw(load_raw(path=root))
    assert_raw(load_raw(path=aclimdb))


def test_nn_data_dir(fake_imdb_dir, monkeypatch, assert_raw, fake_word_index, load_raw):
    monkeypatch.setenv("NN_DATA_DIR", str(fake_imdb_dir))
    assert_raw(load_raw())
    assert imdb.get_word_index() == fake_word_index


def test_cache_directory_and_keras_cache_are_searched(
        fake_imdb_dir, isolated, tmp_path, assert_raw, load_raw, write_keras_npz):
    keras_dir = tmp_path / "keras" / "datasets"
    keras_dir.mkdir(parents=True)
    write_keras_npz(keras_dir / "imdb.npz")
    assert_raw(load_raw())
    isolated.mkdir(exist_ok=True)
    other = {"train": ([[2]] * 5, [0] * 5), "test": ([[3]] * 3, [1] * 3)}
    write_keras_npz(isolated / "imdb.npz", other)  # the cache directory comes first
    assert_raw(load_raw(), raw=other)


def test_npz_is_preferred_in_a_folder(fake_imdb_dir, assert_raw, load_raw, write_keras_npz):
    other = {"train": ([[9, 9]] * 5, [1] * 5), "test": ([[8]] * 3, [0] * 3)}
    write_keras_npz(fake_imdb_dir / "imdb.npz", other)
    assert_raw(load_raw(path=fake_imdb_dir), raw=other)


def test_word_index_is_found_beyond_the_archive_folder(
        fake_imdb_dir, isolated, assert_raw, load_raw):
    isolated.mkdir()
    (fake_imdb_dir / "imdb_word_index.json").rename(isolated / "imdb_word_index.json")
    assert_raw(load_raw(path=fake_imdb_dir / "aclImdb_v1.tar.gz"))


def test_get_word_index_paths(fake_imdb_dir, fake_word_index):
    assert imdb.get_word_index(path=fake_imdb_dir) == fake_word_index
    assert imdb.get_word_index(path=fake_imdb_dir / "imdb_word_index.json") == fake_word_index


def test_explicit_path_is_never_replaced(tmp_path, fake_imdb_dir, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(fake_imdb_dir))
    with pytest.raises(FileNotFoundError, match="no IMDB data at .*nowhere"):
        imdb.load_data(path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="looked for imdb.npz, aclImdb"):
        imdb.load_data(path=tmp_path / "empty")


def test_offline_error_says_where_and_how(isolated, tmp_path, files_in):
    with pytest.raises(FileNotFoundError) as info:
        imdb.load_data()
    message = str(info.value)
    for text in ("imdb.npz", "aclImdb*.tar.gz", str(isolated), str(tmp_path / "keras"),
                 "127.0.0.1", "path=", "NN_DATA_DIR"):
        assert text in message
    with pytest.raises(FileNotFoundError, match="imdb_word_index.json"):
        imdb.get_word_index()
    assert files_in(isolated) == []


# --- the tokenized cache ---------------------------------------------------------------------

def test_cache_is_written_once_and_reused(fake_imdb_dir, isolated, monkeypatch, assert_raw,
                                          files_in, load_raw):
    assert_raw(load_raw(path=fake_imdb_dir))
    (cached,) = isolated.glob("imdb-*.npz")
    with np.load(cached, allow_pickle=False) as arrays:
        assert arrays["train_tokens"].dtype == np.int32
        assert arrays["train_offsets"].dtype == np.int64
        assert arrays["train_labels"].dtype == np.uint8
    monkeypatch.setattr(_aclimdb, "read_reviews",
                        lambda path, transform=None: pytest.fail("not cached"))
    assert_raw(load_raw(path=fake_imdb_dir))
    assert files_in(isolated) == [cached.name]


def test_cache_is_keyed_by_content(fake_imdb_dir, isolated, archive_bytes, fake_reviews, load_raw):
    load_raw(path=fake_imdb_dir)
    changed = dict(fake_reviews)
    changed["test", "pos", "0_10.txt"] = "bad bad"
    (fake_imdb_dir / "aclImdb_v1.tar.gz").write_bytes(archive_bytes(changed))
    (_, _), (x_test, _) = load_raw(path=fake_imdb_dir)
    assert sorted(x_test.to_list()) == [[5], [5, 2], [5, 5]]
    assert len(list(isolated.glob("imdb-*.npz"))) == 2


def test_damaged_cache_is_rebuilt(fake_imdb_dir, isolated, assert_raw, load_raw):
    load_raw(path=fake_imdb_dir)
    (cached,) = isolated.glob("imdb-*.npz")
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged cache file"):
        assert_raw(load_raw(path=fake_imdb_dir))
    assert_raw(load_raw(path=fake_imdb_dir))  # rewritten, valid again


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["half", "no_trailer", "flipped", "not_gzip"])
def test_truncated_or_corrupt_archive(fake_imdb_dir, isolated, damage, files_in):
    archive = fake_imdb_dir / "aclImdb_v1.tar.gz"
    data = bytearray(archive.read_bytes())
    if damage == "half":
        data = data[:len(data) // 2]
    elif damage == "no_trailer":
        data = data[:-4]
    elif damage == "flipped":
        data[len(data) // 2] ^= 0xFF
    else:
        data = b"this is not an archive"
    archive.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        imdb.load_data(path=archive)
    assert str(archive) in str(info.value) and "download it again" in str(info.value)
    assert files_in(isolated) == []


def test_wrong_layout(fake_imdb_dir, isolated, archive_bytes, fake_reviews, files_in):
    archive = fake_imdb_dir / "aclImdb_v1.tar.gz"
    archive.write_bytes(archive_bytes(top="reviews"))
    with pytest.raises(ValueError, match=r"does not have the aclImdb layout.*aclImdb/train/pos"):
        imdb.load_data(path=archive)
    no_test_neg = {k: v for k, v in fake_reviews.items() if k[:2] != ("test", "neg")}
    archive.write_bytes(archive_bytes(no_test_neg))
    with pytest.raises(ValueError, match="no reviews in aclImdb/test/neg/"):
        imdb.load_data(path=archive)
    assert files_in(isolated) == []


def test_review_that_is_not_utf8(fake_imdb_dir, archive_bytes, fake_reviews):
    reviews = dict(fake_reviews)
    reviews["train", "neg", "1_2.txt"] = "caf\xe9".encode("latin-1")
    (fake_imdb_dir / "aclImdb_v1.tar.gz").write_bytes(archive_bytes(reviews))
    with pytest.raises(ValueError, match="aclImdb/train/neg/1_2.txt .* is not UTF-8"):
        imdb.load_data(path=fake_imdb_dir)


def test_bad_word_index(fake_imdb_dir):
    index = fake_imdb_dir / "imdb_word_index.json"
    index.write_text('{"the": 1, "film": ')
    with pytest.raises(ValueError, match="imdb_word_index.json is not a valid"):
        imdb.load_data(path=fake_imdb_dir)
    index.write_text('{"the": "1"}')
    with pytest.raises(ValueError, match="positive int ranks"):
        imdb.get_word_index(path=index)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n")
    with pytest.raises(ValueError, match="cannot read .*reviews.csv"):
        imdb.load_data(path=path)


# --- Keras's imdb.npz and the restricted unpickler -------------------------------------------

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


# --- file helpers ----------------------------------------------------------------------------

def test_atomic_write(tmp_path, files_in):
    target = tmp_path / "sub" / "file.bin"
    with atomic_write(target) as f:
        f.write(b"one")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"two, half written")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"one" and files_in(tmp_path / "sub") == ["file.bin"]


def test_cache_dir_order(monkeypatch, tmp_path):
    monkeypatch.delenv("NN_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _files.cache_dir() == tmp_path / "xdg" / "nn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _files.cache_dir() == tmp_path / "home" / ".cache" / "nn"
