"""`nn.datasets.imdb` on the fake IMDB (tests/conftest.py): where the sources are found, the
tokenized cache, and the errors for a bad word index or file. Tokenizing and archive errors,
Keras's npz and downloads are tested beside their modules: test_aclimdb.py, test_npz.py and
test_dataset_files.py.

Every test runs with a private cache directory, an empty Keras home and download addresses that
point at a closed port on 127.0.0.1, so nothing here can touch the real network or the user's
files.
"""

import json

import numpy as np
import pytest

from nn.datasets import _aclimdb, imdb

# Every test: a private cache, an empty Keras home, and downloads that can only fail.
pytestmark = pytest.mark.usefixtures("isolated")


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
