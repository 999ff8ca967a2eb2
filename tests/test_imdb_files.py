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
import socket
import tarfile
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn.datasets import _aclimdb, _files, _npz, imdb
from nn.files import atomic_write

WORD_INDEX = {"the": 1, "film": 2, "was": 3, "good": 4, "bad": 5, "it's": 6, "Ángela": 7,
              "so\x85": 8, "br": 9}
REVIEWS = {  # (split, label, file name): text
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
RAW = {"train": ([[1, 2, 3, 4], [4, 4, 9, 2], [7, 2, 8, 4], [5, 2, 6, 5], [1, 1, 5]],
                 [1, 1, 1, 0, 0]),
       "test": ([[4], [5, 2], [5]], [1, 0, 0])}


def keras_orders(seed=113):
    rng = np.random.RandomState(seed)
    orders = []
    for split in ("train", "test"):
        order = np.arange(len(RAW[split][0]))
        rng.shuffle(order)
        orders.append(order)
    return orders


def assert_raw(result, raw=RAW, seed=113):
    """``result`` is load_data(start_char=None, index_from=0) of the data in ``raw``."""
    for (x, y), split, order in zip(result, ("train", "test"), keras_orders(seed)):
        assert x.to_list() == [raw[split][0][i] for i in order]
        assert y.tolist() == [raw[split][1][i] for i in order]


def load_raw(**kwargs):
    """Plain word ranks (a large num_words avoids the quirk that cuts the largest index)."""
    return imdb.load_data(start_char=None, index_from=0, num_words=10**6, **kwargs)


def archive_bytes(reviews=REVIEWS, top="aclImdb"):
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


def write_folder(root, reviews=REVIEWS):
    for (split, label, name), text in reviews.items():
        path = root / "aclImdb" / split / label / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "aclImdb"


def write_keras_npz(path, raw=RAW, x_type=list):
    arrays = {}
    for split, (x, y) in raw.items():
        objects = np.empty(len(x), dtype=object)
        for i, seq in enumerate(x):
            objects[i] = x_type(seq)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = objects, np.array(y, dtype=np.int64)
    np.savez(path, **arrays)
    return path


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache, an empty Keras home, and downloads that can only fail."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("NN_CACHE_DIR", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("NN_DATA_DIR", raising=False)
    port = closed_port()
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", f"http://127.0.0.1:{port}/aclImdb_v1.tar.gz")
    monkeypatch.setenv("NN_IMDB_WORD_INDEX_URL", f"http://127.0.0.1:{port}/imdb_word_index.json")
    return cache


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "aclImdb_v1.tar.gz").write_bytes(archive_bytes())
    (folder / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    return folder


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


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

def test_archive_by_file_and_by_folder(data_dir):
    assert_raw(load_raw(path=data_dir / "aclImdb_v1.tar.gz"))
    assert_raw(load_raw(path=data_dir))


def test_extracted_folder(tmp_path):
    root = tmp_path / "extracted"
    aclimdb = write_folder(root)
    (root / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    assert_raw(load_raw(path=root))
    assert_raw(load_raw(path=aclimdb))


def test_nn_data_dir(data_dir, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(data_dir))
    assert_raw(load_raw())
    assert imdb.get_word_index() == WORD_INDEX


def test_cache_directory_and_keras_cache_are_searched(data_dir, isolated, tmp_path):
    keras_dir = tmp_path / "keras" / "datasets"
    keras_dir.mkdir(parents=True)
    write_keras_npz(keras_dir / "imdb.npz")
    assert_raw(load_raw())
    isolated.mkdir(exist_ok=True)
    other = {"train": ([[2]] * 5, [0] * 5), "test": ([[3]] * 3, [1] * 3)}
    write_keras_npz(isolated / "imdb.npz", other)  # the cache directory comes first
    assert_raw(load_raw(), raw=other)


def test_npz_is_preferred_in_a_folder(data_dir):
    other = {"train": ([[9, 9]] * 5, [1] * 5), "test": ([[8]] * 3, [0] * 3)}
    write_keras_npz(data_dir / "imdb.npz", other)
    assert_raw(load_raw(path=data_dir), raw=other)


def test_word_index_is_found_beyond_the_archive_folder(data_dir, isolated):
    isolated.mkdir()
    (data_dir / "imdb_word_index.json").rename(isolated / "imdb_word_index.json")
    assert_raw(load_raw(path=data_dir / "aclImdb_v1.tar.gz"))


def test_get_word_index_paths(data_dir):
    assert imdb.get_word_index(path=data_dir) == WORD_INDEX
    assert imdb.get_word_index(path=data_dir / "imdb_word_index.json") == WORD_INDEX


def test_explicit_path_is_never_replaced(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(data_dir))
    with pytest.raises(FileNotFoundError, match="no IMDB data at .*nowhere"):
        imdb.load_data(path=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="looked for imdb.npz, aclImdb"):
        imdb.load_data(path=tmp_path / "empty")


def test_offline_error_says_where_and_how(isolated, tmp_path):
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

def test_cache_is_written_once_and_reused(data_dir, isolated, monkeypatch):
    assert_raw(load_raw(path=data_dir))
    (cached,) = isolated.glob("imdb-*.npz")
    with np.load(cached, allow_pickle=False) as arrays:
        assert arrays["train_tokens"].dtype == np.int32
        assert arrays["train_offsets"].dtype == np.int64
        assert arrays["train_labels"].dtype == np.uint8
    monkeypatch.setattr(_aclimdb, "read_reviews",
                        lambda path, transform=None: pytest.fail("not cached"))
    assert_raw(load_raw(path=data_dir))
    assert files_in(isolated) == [cached.name]


def test_cache_is_keyed_by_content(data_dir, isolated):
    load_raw(path=data_dir)
    changed = dict(REVIEWS)
    changed["test", "pos", "0_10.txt"] = "bad bad"
    (data_dir / "aclImdb_v1.tar.gz").write_bytes(archive_bytes(changed))
    (_, _), (x_test, _) = load_raw(path=data_dir)
    assert sorted(x_test.to_list()) == [[5], [5, 2], [5, 5]]
    assert len(list(isolated.glob("imdb-*.npz"))) == 2


def test_damaged_cache_is_rebuilt(data_dir, isolated):
    load_raw(path=data_dir)
    (cached,) = isolated.glob("imdb-*.npz")
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged cache file"):
        assert_raw(load_raw(path=data_dir))
    assert_raw(load_raw(path=data_dir))  # rewritten, valid again


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["half", "no_trailer", "flipped", "not_gzip"])
def test_truncated_or_corrupt_archive(data_dir, isolated, damage):
    archive = data_dir / "aclImdb_v1.tar.gz"
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


def test_wrong_layout(data_dir, isolated):
    archive = data_dir / "aclImdb_v1.tar.gz"
    archive.write_bytes(archive_bytes(top="reviews"))
    with pytest.raises(ValueError, match=r"does not have the aclImdb layout.*aclImdb/train/pos"):
        imdb.load_data(path=archive)
    no_test_neg = {k: v for k, v in REVIEWS.items() if k[:2] != ("test", "neg")}
    archive.write_bytes(archive_bytes(no_test_neg))
    with pytest.raises(ValueError, match="no reviews in aclImdb/test/neg/"):
        imdb.load_data(path=archive)
    assert files_in(isolated) == []


def test_review_that_is_not_utf8(data_dir):
    reviews = dict(REVIEWS)
    reviews["train", "neg", "1_2.txt"] = "caf\xe9".encode("latin-1")
    (data_dir / "aclImdb_v1.tar.gz").write_bytes(archive_bytes(reviews))
    with pytest.raises(ValueError, match="aclImdb/train/neg/1_2.txt .* is not UTF-8"):
        imdb.load_data(path=data_dir)


def test_bad_word_index(data_dir):
    index = data_dir / "imdb_word_index.json"
    index.write_text('{"the": 1, "film": ')
    with pytest.raises(ValueError, match="imdb_word_index.json is not a valid"):
        imdb.load_data(path=data_dir)
    index.write_text('{"the": "1"}')
    with pytest.raises(ValueError, match="positive int ranks"):
        imdb.get_word_index(path=index)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text("text,label\n")
    with pytest.raises(ValueError, match="cannot read .*reviews.csv"):
        imdb.load_data(path=path)


# --- Keras's imdb.npz and the restricted unpickler -------------------------------------------

def test_keras_npz_loads(tmp_path):
    path = write_keras_npz(tmp_path / "imdb.npz")
    assert_raw(load_raw(path=path))
    (x_train, y_train), _ = imdb.load_data(path=path, num_words=100)
    order = keras_orders()[0]
    assert x_train[0] == [1] + [w + 3 for w in RAW["train"][0][order[0]]]
    assert y_train.dtype == np.int64


class Gadget:
    """Pickles as a call to os.mkdir: what a tampered npz would smuggle in."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


@pytest.mark.parametrize("content", ["strings", "floats", "bools", "tuples", "gadget"])
def test_npz_with_anything_but_int_lists_is_refused(tmp_path, isolated, content):
    marker = tmp_path / "pwned"
    x_type = {"strings": lambda s: [str(w) for w in s], "floats": lambda s: [float(w) for w in s],
              "bools": lambda s: [True for _ in s], "tuples": tuple,
              "gadget": lambda s: [Gadget(marker)]}[content]
    path = write_keras_npz(tmp_path / "imdb.npz", x_type=x_type)
    with pytest.raises(ValueError, match=r"imdb\.npz"):
        imdb.load_data(path=path)
    assert not marker.exists()
    assert files_in(isolated) == []


def test_npz_with_bad_labels_or_missing_arrays(tmp_path):
    raw = {"train": (RAW["train"][0], [0, 1, 2, 0, 1]), "test": RAW["test"]}
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


def test_download_both_files(server, monkeypatch, isolated, capsys):
    serve(server, monkeypatch, archive_bytes(), json.dumps(WORD_INDEX).encode())
    assert_raw(load_raw())
    names = files_in(isolated)
    assert "aclImdb_v1.tar.gz" in names and "imdb_word_index.json" in names
    assert not [n for n in names if n.endswith((".part", ".tmp"))]
    err = capsys.readouterr().err
    assert "Downloading aclImdb_v1.tar.gz" in err and "100%" in err
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", "http://127.0.0.1:1/gone")
    assert_raw(load_raw())  # now found in the cache directory


def test_download_word_index_only(server, monkeypatch, isolated, data_dir):
    (data_dir / "imdb_word_index.json").unlink()
    serve(server, monkeypatch, word_index=json.dumps(WORD_INDEX).encode())
    assert_raw(load_raw(path=data_dir))
    assert (isolated / "imdb_word_index.json").is_file()


def test_download_with_wrong_checksum_leaves_nothing(server, monkeypatch, isolated):
    serve(server, monkeypatch, archive_bytes())
    monkeypatch.setenv("NN_IMDB_ARCHIVE_MD5", "0" * 32)
    with pytest.raises(ValueError, match="checksum mismatch .* expected MD5 0000"):
        imdb.load_data()
    assert files_in(isolated) == []


def test_download_of_missing_file_leaves_nothing(server, monkeypatch, isolated):
    root, base = server
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", f"{base}/missing.tar.gz")
    with pytest.raises(FileNotFoundError, match="404"):
        imdb.load_data()
    assert files_in(isolated) == []


def test_download_cut_short_leaves_nothing(server, monkeypatch, isolated):
    root, base = server
    monkeypatch.setenv("NN_IMDB_ARCHIVE_URL", f"{base}/cut-short")
    with pytest.raises(FileNotFoundError, match="could not download .*cut-short"):
        imdb.load_data()
    assert files_in(isolated) == []


# --- file helpers ----------------------------------------------------------------------------

def test_atomic_write(tmp_path):
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
