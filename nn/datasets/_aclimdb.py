"""The Stanford aclImdb reviews, read from the archive or a folder and tokenized as Keras did.

Layout (Maas et al., 2011, https://ai.stanford.edu/~amaas/data/sentiment/)::

    aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt     one UTF-8 review per file

Anything else in the archive (``train/unsup``, vocabularies, bag-of-words files) is ignored.
The raw order of a split, the order Keras's ``imdb.npz`` stores, is the ``pos`` files sorted by
file name as strings, then the ``neg`` files sorted the same way.

Tokenizing reproduces Keras's ``imdb.npz`` exactly (checked on all 50,000 reviews against the
published statistics: mean training length 238.71364 with the start character, longest 2494,
shortest 11). It is ``text_to_word_sequence`` as the file was built, in the Python 2 era, on byte
strings:

- lowercase **ASCII letters only** (``"Ángela"`` stays as it is: the word index has it so);
- replace each of ``!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~``, tab and newline with a space;
- split on the space character only (``"\\x85"`` and ``"\\xa0"`` stay inside tokens: the
  index holds ``"it\\x85"``);
- map each token to its rank in ``imdb_word_index.json``, dropping tokens that are not in it.

Because all of these act on ASCII bytes only, the fast path works on the UTF-8 bytes directly
with one ``bytes.translate`` and never decodes the text; `text_to_word_sequence` is the same
rule on ``str``, kept as the readable reference.
"""

import re
import zlib
from array import array
from pathlib import Path

import numpy as np

from nn.sequences import Sequences

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
SPLITS = ("train", "test")
LABELS = (("pos", 1), ("neg", 0))

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BYTES_TABLE = bytes.maketrans(_UPPER + FILTERS.encode(),
                               _UPPER.lower() + b" " * len(FILTERS))
_KEPT_SPACES = (b"\r", b"\x0b", b"\x0c")  # ASCII whitespace that bytes.split() would split at
_STR_TABLE = {i: c for i, c in enumerate(_BYTES_TABLE[:128]) if i != c}
_MEMBER = re.compile(r"(?:\./)?aclImdb/(train|test)/(pos|neg)/([^/]+\.txt)")
LAYOUT = "aclImdb/{train,test}/{pos,neg}/*.txt"


def text_to_word_sequence(text):
    """Split one review into the words Keras's word index was built from.

    >>> text_to_word_sequence("Ángela's FILM,<br />so-so\\x85")
    ["Ángela's", 'film', 'br', 'so', 'so\\x85']
    """
    return [word for word in text.translate(_STR_TABLE).split(" ") if word]


def tokenize(texts, word_index):
    """Word ranks of each review, as one ragged array.

    Parameters
    ----------
    texts : iterable of bytes
        UTF-8 encoded reviews.
    word_index : dict of str to int
        Word to rank (``the=1``), as `imdb.get_word_index` returns it.

    Returns
    -------
    Sequences
        Review ``i`` holds the ranks of its words that are in ``word_index``.
    """
    get = _byte_index(word_index).get
    return _join([_ranks(text, get) for text in texts])


def read_tokenized(path, word_index):
    """`read_reviews` and `tokenize` in one pass: each review is tokenized as it is read, so
    only its word ranks are kept (4 bytes a word), never the text of all 50,000 reviews
    (what that saves: docs/performance.md, "Memory").

    Returns ``{"train": (Sequences, labels), "test": (Sequences, labels)}``.
    """
    get = _byte_index(word_index).get
    reviews = read_reviews(path, transform=lambda text: _ranks(text, get))
    return {split: (_join(ranks), labels) for split, (ranks, labels) in reviews.items()}


def _byte_index(word_index):
    return {word.encode("utf-8"): rank for word, rank in word_index.items() if word}


def _ranks(text, get):
    """The ranks of one review's words (an ``array("i")``)."""
    text = text.translate(_BYTES_TABLE)
    # split() skips the empty words but also splits at \r, \v and \f, which Keras keeps
    # inside words; they are rare, so check for them instead of always using split(b" ").
    words = text.split(b" ") if any(c in text for c in _KEPT_SPACES) else text.split()
    # filter(None, ...) drops the None of unknown words; ranks start at 1, so none is lost.
    return array("i", filter(None, map(get, words)))


def _join(ranks):
    """One `Sequences` from a list of ``array("i")``, in order (one copy of the tokens)."""
    offsets = np.zeros(len(ranks) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, ranks), np.int64, len(ranks)), out=offsets[1:])
    return Sequences(np.frombuffer(bytearray().join(ranks), dtype=np.int32), offsets)


def read_reviews(path, transform=None):
    """The reviews of each split in raw order, from an ``aclImdb*.tar.gz`` or an ``aclImdb`` folder.

    Returns
    -------
    dict
        ``{"train": (texts, labels), "test": (texts, labels)}`` with ``texts`` a list of bytes
        (or of ``transform(bytes)``, applied to each review as it is read) and ``labels`` a
        uint8 array (1 for ``pos``, 0 for ``neg``).

    Raises
    ------
    ValueError
        The archive is truncated or corrupt, a review is not UTF-8, or a folder of the
        layout is missing or empty. The message names the file and the fix.
    """
    path = Path(path)
    keep = transform or (lambda text: text)
    files = _read_folder(path, keep) if path.is_dir() else _read_tar(path, keep)
    out = {}
    for split in SPLITS:
        texts, labels = [], []
        for label, y in LABELS:
            names = sorted(files[split, label])
            if not names:
                raise ValueError(
                    f"{path} does not have the aclImdb layout: no reviews in "
                    f"aclImdb/{split}/{label}/ (expected {LAYOUT}). Pass path= the Stanford "
                    "archive aclImdb_v1.tar.gz, a copy with its layout, or Keras's imdb.npz")
            texts += [files[split, label][name] for name in names]
            labels += [y] * len(names)
        out[split] = texts, np.array(labels, dtype=np.uint8)
    return out


def _empty():
    return {(split, label): {} for split in SPLITS for label, _ in LABELS}


def _read_tar(path, keep):
    """Stream the archive once. GzipFile (unlike tarfile's own "r|gz") checks the CRC and length."""
    import gzip  # here, not at the top: later loads read the tokenized cache, not the archive
    import tarfile

    files = _empty()
    with open(path, "rb") as raw:
        try:
            with gzip.GzipFile(fileobj=raw) as gz:
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    for member in tar:
                        match = _MEMBER.fullmatch(member.name)
                        if match and member.isfile():
                            split, label, name = match.groups()
                            files[split, label][name] = keep(_check_utf8(
                                tar.extractfile(member).read(), path, member.name))
                while gz.read(1 << 20):  # read to the end so the gzip trailer is verified
                    pass
        except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
            raise ValueError(
                f"{path} is truncated or corrupt ({exc}). Delete it and download it again, "
                "or point path= / NN_DATA_DIR at a good copy") from exc
    return files


def _read_folder(path, keep):
    """An extracted archive: ``path`` is the ``aclImdb`` folder itself."""
    files = _empty()
    for (split, label), texts in files.items():
        folder = path / split / label
        if folder.is_dir():
            for entry in folder.iterdir():
                if entry.suffix == ".txt" and entry.is_file():
                    texts[entry.name] = keep(_check_utf8(entry.read_bytes(), path, entry))
    return files


def _check_utf8(data, path, member):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{member} in {path} is not UTF-8 text ({exc}); the reviews must be "
                         "the UTF-8 files of the Stanford archive") from exc
    return data
