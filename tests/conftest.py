"""Shared fixtures: where the real IMDB data lives, and a private cache for the session.

The data folder comes from ``NN_DATA_DIR``; without it, the ``shared/data`` folder beside the
project root (where this workplace keeps it). Tests that need the data are skipped when it is
absent, except under CI (``CI=true``), where a missing data folder is an error.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _data_dir():
    env = os.environ.get("NN_DATA_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """Keep every test's cache writes out of the user's home (subprocesses inherit it)."""
    old = os.environ.get("NN_CACHE_DIR")
    os.environ["NN_CACHE_DIR"] = str(tmp_path_factory.mktemp("nn-cache"))
    yield
    if old is None:
        os.environ.pop("NN_CACHE_DIR", None)
    else:
        os.environ["NN_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def imdb_dir():
    """Folder holding aclImdb_v1_labeled.tar.gz and imdb_word_index.json."""
    path = _data_dir()
    if not (path / "imdb_word_index.json").exists():
        message = (f"IMDB data not found in {path}; set NN_DATA_DIR to the folder holding "
                   "aclImdb_v1_labeled.tar.gz and imdb_word_index.json")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def offline_env(tmp_path):
    """An environment with no IMDB data anywhere and every download pointed at a closed port."""
    return {**os.environ, "NN_DATA_DIR": str(tmp_path / "nothing"),
            "NN_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path),
            "NN_IMDB_ARCHIVE_URL": "http://127.0.0.1:9/a.tar.gz",
            "NN_IMDB_WORD_INDEX_URL": "http://127.0.0.1:9/w.json"}
