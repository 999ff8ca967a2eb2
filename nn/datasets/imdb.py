"""IMDB movie-review sentiment data, exactly as `keras.datasets.imdb` gives it.

``load_data`` returns the same integers, labels and order as Keras 3, built either from Keras's
own ``imdb.npz`` or from the raw Stanford reviews (Maas et al., 2011) plus Keras's
``imdb_word_index.json``; see `nn.datasets._aclimdb` for how raw text becomes Keras's integers.
The reviews come back as `nn.sequences.Sequences` (one int32 token array plus offsets) rather
than 25,000 Python lists; ``x.to_object_array()`` gives Keras's exact type.

Where the data is looked for, in order (the first hit wins):

1. ``path=``: a file (``imdb.npz`` or an ``aclImdb*.tar.gz``) or a folder holding one of them or
   an extracted ``aclImdb/``. An explicit path is never silently replaced by another source.
2. the folder in ``NN_DATA_DIR``;
3. the cache directory: ``NN_CACHE_DIR``, else ``$XDG_CACHE_HOME/nn``, else ``~/.cache/nn``;
4. Keras's cache, ``~/.keras/datasets`` (or ``$KERAS_HOME/datasets``);
5. a download into the cache directory of `ARCHIVE` (and `WORD_INDEX` when needed), checked
   against its MD5. ``NN_IMDB_ARCHIVE_URL`` / ``NN_IMDB_ARCHIVE_MD5`` and
   ``NN_IMDB_WORD_INDEX_URL`` / ``NN_IMDB_WORD_INDEX_MD5`` override address and checksum.

In a folder, ``imdb.npz`` is preferred, then ``aclImdb*.tar.gz``, then ``aclImdb/``. Raw text
also needs ``imdb_word_index.json``, looked for next to the reviews first, then as above.

The first load of a source tokenizes it and caches the raw integer sequences (before any of the
``load_data`` arguments apply) in the cache directory as a pickle-free ``.npz`` named after the
checksums of the source and word index; later loads read that file and redo Keras's cheap
post-processing with vectorised NumPy.

Keras's quirks are kept as they are, on purpose:

- ``maxlen`` drops reviews (it does not truncate them) and keeps ``len < maxlen``, the start
  character included; ``maxlen=0`` means None.
- ``num_words=None`` (or 0) becomes the largest index present, and since the test is
  ``index < num_words`` that largest index itself becomes ``oov_char``.
- ``skip_top`` compares the shifted indices, so with ``skip_top > start_char`` the start
  character too becomes ``oov_char`` (or is dropped when ``oov_char=None``).
- The shuffles use the legacy ``np.random.RandomState(seed)``: one stream shuffles train, then
  test.
- Labels are int64.
"""

import hashlib
import json
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

from nn.datasets import _aclimdb, _npz
from nn.datasets._files import RemoteFile, cache_dir, download, file_digest, search_dirs
from nn.files import load_npz, save_npz
from nn.sequences import Sequences, row_blocks

__all__ = ["load_data", "get_word_index", "decode_review", "encode_review",
           "text_to_word_sequence"]

text_to_word_sequence = _aclimdb.text_to_word_sequence  # the words encode_review looks up

ARCHIVE = RemoteFile("aclImdb_v1.tar.gz",
                     "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                     "7c2ac02c03563afcf9b574c7e56c153a", env="NN_IMDB_ARCHIVE")
WORD_INDEX = RemoteFile("imdb_word_index.json",
                        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
                        "imdb_word_index.json",
                        "bfafd718b763782e994055a2d397834f", env="NN_IMDB_WORD_INDEX")
NPZ_NAME = "imdb.npz"
CACHE_FORMAT = 1  # bump when the tokenizer or the cache layout changes
_DATA_FILES = f"{NPZ_NAME}, aclImdb*.tar.gz or an extracted aclImdb/ folder"
_INT32 = np.iinfo(np.int32)
# Tokens per step of the post-processing. Temporaries the size of a whole split (24 MB) would
# not only add to the peak: once freed, glibc raises its mmap threshold above their size and
# the arrays that outlive `load_data` land in the heap, which later frees cannot shrink.
_BLOCK = 1 << 16


def load_data(path=None, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3):
    """The IMDB reviews as Keras gives them: ``(x_train, y_train), (x_test, y_test)``.

    Parameters
    ----------
    path : path-like, optional
        An ``imdb.npz``, an ``aclImdb*.tar.gz``, or a folder holding one of them or ``aclImdb/``
        (and ``imdb_word_index.json`` for raw text). None searches the usual places (module
        docstring) and downloads as a last resort.
    num_words : int, optional
        Keep indices below ``num_words``; others become ``oov_char``. None means all.
    skip_top : int, default 0
        Indices below ``skip_top`` also become ``oov_char``.
    maxlen : int, optional
        Drop reviews with ``len >= maxlen`` (start character included).
    seed : int, default 113
        Seed of the ``RandomState`` that shuffles train, then test.
    start_char : int or None, default 1
        Put in front of every review; None puts nothing.
    oov_char : int or None, default 2
        Replaces the indices cut by ``num_words`` and ``skip_top``; None drops them instead.
    index_from : int, default 3
        A word of rank ``r`` (``the`` = 1) is encoded as ``r + index_from``.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_*`` are `Sequences` of word indices, 25,000 reviews each unless ``maxlen`` drops
        some; ``y_*`` are int64 arrays of 0 (negative) and 1 (positive).

    Raises
    ------
    TypeError or ValueError
        An argument is not a non-negative int (or None where allowed); checked before any
        file is read.
    """
    _check_arguments(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                     start_char=start_char, oov_char=oov_char, index_from=index_from)
    raw = _load_raw(_find_source(path))
    return keras_postprocess(raw["train"], raw["test"], num_words=num_words, skip_top=skip_top,
                             maxlen=maxlen, seed=seed, start_char=start_char,
                             oov_char=oov_char, index_from=index_from)


def get_word_index(path=None):
    """Keras's word index: a dict from word to frequency rank (``the`` = 1, ``and`` = 2, ...).

    Parameters
    ----------
    path : path-like, optional
        ``imdb_word_index.json`` itself or the folder holding it. None searches
        ``NN_DATA_DIR``, the cache directory and Keras's cache, then downloads `WORD_INDEX`.
    """
    return _read_word_index(_find_word_index(path))


def decode_review(sequence, word_index=None, index_from=3):
    """The words of an encoded review, with ``?`` for padding, start, OOV and unknown indices.

    >>> decode_review([1, 14, 22, 2, 0, 4], word_index={"the": 1, "this": 11, "film": 19})
    '? this film ? ? the'
    """
    if word_index is None:
        word_index = get_word_index()
    indices = [int(i) for i in sequence]
    used = {i - index_from for i in indices}
    # One pass for the ranks this review uses: reversing all 88,584 words would cost ~15 MB.
    words = {rank + index_from: word for word, rank in word_index.items() if rank in used}
    return " ".join(words.get(i, "?") for i in indices)


def encode_review(text, num_words=None, skip_top=0, start_char=1, oov_char=2, index_from=3,
                  word_index=None):
    """The word indices `load_data` gives for a review, from its raw text.

    The text goes through the loader's own steps: its tokenizer
    (`nn.datasets._aclimdb.text_to_word_sequence`: ASCII letters lowercased, Keras's filter
    characters turned into spaces, split at spaces), words absent from ``word_index``
    dropped (not ``oov_char``: the loader drops them), then Keras's post-processing with the
    same arguments. So for any review of the archive the result equals its sequence in
    ``load_data(num_words=..., ...)``, and `decode_review` gives back the words it kept.
    ``maxlen`` and ``seed`` have no counterpart: they choose and order reviews.

    >>> index = {"the": 1, "br": 7, "film": 19}
    >>> encode_review("The film, the FILM!<br />Dreadful.", num_words=10000, word_index=index)
    [1, 4, 22, 4, 22, 10]

    Parameters
    ----------
    text : str or bytes
        One review; bytes are decoded as UTF-8, the encoding of the archive's files. Markup
        is not removed: ``<br />`` gives the word ``br``, as in the data.
    num_words : int, optional
        Indices ``>= num_words`` become ``oov_char``. None (or 0) means what it means to
        ``load_data`` on the IMDB data: the largest index there, that of the index's rarest
        word (``max(word_index.values()) + index_from``), so that word itself becomes
        ``oov_char`` (Keras's quirk; the IMDB reviews hold that word).
    skip_top, start_char, oov_char, index_from : int (start_char, oov_char: or None)
        As in `load_data`, with the same defaults (0, 1, 2, 3): a word of rank ``r`` becomes
        ``r + index_from``, indices below ``skip_top`` (``start_char`` too) or cut by
        ``num_words`` become ``oov_char`` (None drops them), ``start_char`` comes first (None:
        nothing).
    word_index : dict of str to int, optional
        Word to rank, as `get_word_index` returns it. None calls ``get_word_index()`` (which
        searches ``NN_DATA_DIR``, the caches, then downloads); pass the dict yourself to encode
        many reviews, since reading the file takes ~0.1 s.

    Returns
    -------
    list of int
        ``start_char``, then the index of each word of the text found in ``word_index``, in
        order. A text with no such word (``""`` included) gives ``[start_char]``, or ``[]``
        when ``start_char`` is None.

    Raises
    ------
    TypeError
        ``text`` is not str or bytes, ``word_index`` is not a dict, or an argument is not an
        int (or None where allowed).
    ValueError
        ``text`` is bytes that are not UTF-8, an argument is negative, ``word_index`` is
        empty or maps a word of the text (or its rarest word) to something other than a
        positive int, or an index does not fit in int32.
    """
    _check_arguments(num_words=num_words, skip_top=skip_top, start_char=start_char,
                     oov_char=oov_char, index_from=index_from)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"text is bytes but not UTF-8 ({exc}); pass a str, or bytes "
                             "in UTF-8 as the archive's files are") from exc
    elif not isinstance(text, str):
        raise TypeError(f"text must be one review as a str (or UTF-8 bytes); got "
                        f"{type(text).__name__}. To encode several, call encode_review on each")
    if word_index is None:
        word_index = get_word_index()
    elif not isinstance(word_index, dict):
        raise TypeError(f"word_index must be a dict of word to rank, as get_word_index() "
                        f"returns it, or None; got {type(word_index).__name__}")
    if not word_index:
        raise ValueError("word_index is empty; pass get_word_index() (or get_word_index(path)) "
                         "or None to load it")
    words = _aclimdb.text_to_word_sequence(text)
    ranks = [word_index[word] for word in words if word in word_index]  # the loader drops the rest
    checked = ranks if num_words else ranks + [max(word_index.values())]
    bad = next((rank for rank in checked if not _is_rank(rank)), None)
    if bad is not None:
        raise ValueError(f"word_index holds the rank {bad!r}; ranks must be ints from 1 to "
                         f"{_INT32.max}, as get_word_index() gives them")
    if not num_words:  # load_data's None: the largest index in the data, start_char included
        num_words = max(checked[-1] + index_from, start_char or 0)
    tokens, offsets = _shift(Sequences(ranks, [0, len(ranks)]), np.arange(1), start_char,
                             index_from)
    return _cut(tokens, offsets, skip_top, num_words, oov_char)[0]


# --- the Keras post-processing, vectorised --------------------------------------------------

def keras_postprocess(train, test, num_words=None, skip_top=0, maxlen=None, seed=113,
                      start_char=1, oov_char=2, index_from=3):
    """Keras 3's ``imdb.load_data`` steps on raw ``(ranks, labels)`` splits in file order.

    ``train`` and ``test`` are ``(Sequences, labels)`` pairs holding word ranks. The result is
    what Keras computes with Python lists, built with whole-array NumPy operations instead.
    """
    _check_arguments(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                     start_char=start_char, oov_char=oov_char, index_from=index_from)
    rng = np.random.RandomState(seed)
    lead = int(start_char is not None)
    splits = []
    for name, (ranks, labels) in zip(("training", "test"), (train, test)):
        order = np.arange(len(ranks))
        rng.shuffle(order)
        if maxlen:
            order = order[ranks.lengths()[order] + lead < maxlen]
            if order.size == 0:
                raise ValueError(f"maxlen={maxlen} keeps no {name} review (Keras keeps "
                                 "len < maxlen, start character included); increase maxlen")
        splits.append((ranks, labels, order))

    xs = [_shift(ranks, order, start_char, index_from) for ranks, _, order in splits]
    if not num_words:
        if not any(tokens.size for tokens, _ in xs):
            raise ValueError("num_words=None needs at least one word index in the data")
        num_words = max(int(tokens.max()) for tokens, _ in xs if tokens.size)
    (x_train, x_test) = [_cut(tokens, offsets, skip_top, num_words, oov_char)
                         for tokens, offsets in xs]
    y_train, y_test = [labels[order].astype(np.int64) for _, labels, order in splits]
    return (x_train, y_train), (x_test, y_test)


def _check_arguments(**arguments):
    """TypeError or ValueError naming the first argument that is not a usable integer.

    Keras checks none of them and quietly returns garbage (``num_words=2.5``, negative word
    indices from ``index_from=-5``); here each must be a non-negative int (None where Keras
    allows it), and ``seed`` must fit ``RandomState``.
    """
    optional = {"num_words", "maxlen", "seed", "start_char", "oov_char"}
    for name, value in arguments.items():
        if value is None and name in optional:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
            allowed = "an int or None" if name in optional else "an int"
            raise TypeError(f"{name} must be {allowed}; got {value!r}")
        if value < 0:
            raise ValueError(f"{name} must be 0 or more; got {value}")
    if arguments.get("seed") is not None and arguments["seed"] >= 2**32:
        raise ValueError(f"seed must be below 2**32 (numpy's RandomState); got "
                         f"{arguments['seed']}")


def _shift(ranks, order, start_char, index_from):
    """Reviews ``order`` of ``ranks``, each word ``+ index_from``, after ``start_char``.

    A gather: output slot ``j`` of row ``r`` reads ``ranks.tokens[start[r] + j - lead]``; the
    lead slots read a neighbour and are then overwritten with ``start_char``. It runs over
    blocks of rows (`nn.sequences.row_blocks`), so its scratch takes ~1 MB instead of twice
    the split's size.
    """
    lead = int(start_char is not None)
    source = ranks.tokens if ranks.tokens.size else np.zeros(1, dtype=np.int32)
    _check_int32(int(source.max()) + index_from, int(source.min()) + index_from,
                 start_char or 0)
    lengths = ranks.lengths()[order] + lead
    offsets = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    shift = ranks.offsets[order] - offsets[:-1] - lead  # source position - output position
    tokens = np.empty(offsets[-1], dtype=np.int32)
    for lo, hi in row_blocks(offsets, _BLOCK):
        index = np.repeat(shift[lo:hi], lengths[lo:hi])
        index += np.arange(offsets[lo], offsets[hi])
        np.take(source, index, out=tokens[offsets[lo]:offsets[hi]], mode="wrap")
        del index  # before the next block's is made
    tokens += np.int32(index_from)
    if lead:
        tokens[offsets[:-1]] = start_char
    return tokens, offsets


def _cut(tokens, offsets, skip_top, num_words, oov_char):
    """Keras's ``skip_top <= w < num_words``: the other indices become ``oov_char`` or go."""
    if oov_char is not None:
        _check_int32(oov_char)
        for lo in range(0, tokens.size, _BLOCK):  # in place, with a small mask
            block = tokens[lo:lo + _BLOCK]
            block[_outside(block, skip_top, num_words)] = oov_char
        return Sequences(tokens, offsets)
    cut = _outside(tokens, skip_top, num_words)
    kept = np.zeros(cut.size + 1, dtype=np.int64)
    np.cumsum(~cut, out=kept[1:])
    return Sequences(tokens[~cut], kept[offsets])


def _outside(tokens, skip_top, num_words):
    cut = tokens >= num_words
    if skip_top:
        cut |= tokens < skip_top
    return cut


def _check_int32(*values):
    if any(not _INT32.min <= v <= _INT32.max for v in values):
        raise ValueError(f"word indices must fit in int32; got {values}. Use smaller "
                         "index_from, start_char or oov_char")


# --- finding the files ---------------------------------------------------------------------

def _source_in(folder):
    """The IMDB data in ``folder``: ``imdb.npz``, else an archive, else an extracted folder."""
    if (folder / NPZ_NAME).is_file():
        return folder / NPZ_NAME
    archives = sorted(folder.glob("aclImdb*.tar.gz"))
    if archives:
        return archives[0]
    for candidate in (folder / "aclImdb", folder):
        if all((candidate / split / label).is_dir()
               for split in _aclimdb.SPLITS for label, _ in _aclimdb.LABELS):
            return candidate
    return None


def _as_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file or folder name (str or path-like); got {path!r}")
    return Path(path).expanduser()


def _find_source(path):
    if path is not None:
        path = _as_path(path)
        if path.is_file():
            return path
        found = _source_in(path) if path.is_dir() else None
        if found is None:
            raise FileNotFoundError(
                f"no IMDB data at {path}: looked for {_DATA_FILES}"
                f"{' in that folder' if path.is_dir() else ''}. Pass path= one of those files "
                "or the folder holding it")
        return found
    tried = []
    for label, folder in search_dirs():
        found = _source_in(folder)
        if found is not None:
            return found
        tried.append(f"{folder} ({label})")
    return _fetch(ARCHIVE, _DATA_FILES, tried)


def _find_word_index(path=None, near=()):
    """``imdb_word_index.json`` at ``path``, else in the folders ``near``, else the usual places."""
    name = WORD_INDEX.name
    if path is not None:
        path = _as_path(path)
        found = path / name if path.is_dir() else path
        if not found.is_file():
            raise FileNotFoundError(f"{found} does not exist. Pass path= the file {name} or "
                                    "the folder holding it")
        return found
    tried = []
    for label, folder in [("next to the reviews", f) for f in near] + search_dirs():
        if (folder / name).is_file():
            return folder / name
        tried.append(f"{folder} ({label})")
    return _fetch(WORD_INDEX, name, tried)


def _fetch(remote, looked_for, tried):
    """Download ``remote`` into the cache directory, or explain where the data was looked for."""
    import http.client  # with ssl and urllib, ~1.5 MB that only a download needs

    url, md5 = remote.location()
    try:
        return download(url, cache_dir() / remote.name, md5)
    except (OSError, http.client.HTTPException) as exc:  # no network, HTTP error, cut short
        places = "".join(f"\n  - {place}" for place in tried)
        raise FileNotFoundError(
            f"IMDB data not found. Looked for {looked_for} in:{places}\n"
            f"and could not download {url} ({exc}).\n"
            "To use a local copy, put aclImdb_v1.tar.gz (or any aclImdb*.tar.gz, an extracted "
            f"aclImdb/ folder, or Keras's imdb.npz) and {WORD_INDEX.name} in one folder, then "
            "pass it as path= (imdb.load_data(path='/data'), imdb.get_word_index(path='/data')) "
            "or set the environment variable NN_DATA_DIR=/data") from exc


def _read_word_index(path):
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or not all(map(_is_rank, index.values())):
            raise ValueError("expected a JSON object mapping words to positive int ranks")
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path} is not a valid {WORD_INDEX.name} ({exc}). Delete it and let "
                         "the loader download it again, or pass path= a good copy") from exc
    return index


def _is_rank(rank):
    return type(rank) is int and 0 < rank <= _INT32.max


# --- raw sequences and their cache ---------------------------------------------------------

def _kind(source):
    if source.is_dir():
        return "dir"
    if source.suffix == ".npz":
        return "npz"
    if source.name.endswith((".tar.gz", ".tgz")):
        return "tar"
    raise ValueError(f"cannot read {source}: expected {_DATA_FILES}")


def _load_raw(source):
    """``{"train": (ranks, labels), "test": ...}`` in file order, from the cache when possible."""
    kind = _kind(source)
    word_index = None if kind == "npz" else _find_word_index(
        near=[source.parent] + ([source] if kind == "dir" else []))
    cached = cache_dir() / f"imdb-{_cache_key(source, kind, word_index)}.npz"
    if cached.is_file():
        try:
            return _unpack(load_npz(cached))
        except Exception as exc:  # any damage to our own cache means: build it again
            warnings.warn(f"ignoring the damaged cache file {cached} ({exc}); rebuilding it",
                          stacklevel=3)
    raw = (_raw_from_npz(source) if kind == "npz" else _raw_from_text(source, word_index))
    try:
        save_npz(cached, _pack(raw))
    except OSError as exc:
        warnings.warn(f"could not write the cache file {cached} ({exc}); the next load will "
                      "tokenize again", stacklevel=3)
    return raw


def _cache_key(source, kind, word_index):
    """Checksums of everything the raw sequences depend on."""
    if kind == "dir":  # an extracted folder: names, sizes and times, not 50,000 file reads
        entries = sorted(
            f"{p.relative_to(source)}:{st.st_size}:{st.st_mtime_ns}"
            for split in _aclimdb.SPLITS for label, _ in _aclimdb.LABELS
            for p in (source / split / label).glob("*.txt") for st in [p.stat()])
        parts = [kind, hashlib.sha256("\n".join(entries).encode()).hexdigest()]
    else:
        parts = [kind, file_digest(source)]
    if word_index is not None:
        parts.append(file_digest(word_index))
    return hashlib.sha256(f"{CACHE_FORMAT}|{'|'.join(parts)}".encode()).hexdigest()[:24]


def _raw_from_text(source, word_index):
    index = _read_word_index(word_index)
    return _aclimdb.read_tokenized(source, index)


def _raw_from_npz(path):
    arrays = _npz.load_keras_npz(path)
    raw = {}
    for split in ("train", "test"):
        missing = {f"x_{split}", f"y_{split}"} - arrays.keys()
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}; it is not Keras's imdb.npz")
        x = Sequences(*_npz.ragged_from_lists(arrays[f"x_{split}"], f"x_{split} in {path}"))
        y = arrays[f"y_{split}"]
        if y.dtype == object or y.shape != (len(x),) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"y_{split} in {path} must hold {len(x)} labels of 0 or 1")
        raw[split] = x, y.astype(np.uint8)
    return raw


def _pack(raw):
    return {f"{split}_{field}": array for split, (x, y) in raw.items()
            for field, array in (("tokens", x.tokens), ("offsets", x.offsets), ("labels", y))}


def _unpack(arrays):
    raw = {}
    for split in ("train", "test"):
        x = Sequences(arrays[f"{split}_tokens"], arrays[f"{split}_offsets"])
        y = arrays[f"{split}_labels"]
        if y.shape != (len(x),) or y.dtype != np.uint8:
            raise ValueError(f"{split}_labels has shape {y.shape} and dtype {y.dtype}")
        raw[split] = x, y
    return raw
