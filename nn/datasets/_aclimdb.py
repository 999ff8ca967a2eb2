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
from pathlib import Path

import numpy as np

from nn.sequences import Sequences

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
SPLITS = ("train", "test")
LABELS = (("pos", 1), ("neg", 0))

_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BYTES_TABLE = bytes.maketrans(_UPPER + FILTERS.encode(),
                               _UPPER.lower() + b" " * len(FILTERS))
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
    batches = _Batches(word_index)
    ids = [batches.add(text) for text in texts]
    batches.flush()
    return _join([batches.ranks[i] for i in ids])


def read_tokenized(path, word_index):
    """`read_reviews` and `tokenize` in one pass: reviews are tokenized as they are read, about
    a megabyte of text at a time, so only their word ranks are kept (4 bytes a word), never the
    text of all 50,000 reviews (what that saves: docs/performance.md, "Memory").

    Returns ``{"train": (Sequences, labels), "test": (Sequences, labels)}``.
    """
    batches = _Batches(word_index)
    reviews = read_reviews(path, transform=batches.add)
    batches.flush()
    return {split: (_join([batches.ranks[i] for i in ids]), labels)
            for split, (ids, labels) in reviews.items()}


_BATCH_BYTES = 1 << 20  # text tokenized at once: its arrays take a few MB
_KEY_BYTES = 15         # words up to this long are looked up by their key (`_keys`)
_TABLE_BITS = 18        # hash table slots: 262,144 for Keras's 88,584 words
_MIXERS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(9)], dtype=np.uint64)


def _keys(buf, starts, lengths):
    """The key of each word ``buf[starts:starts + lengths]``: its bytes 0-7, and its bytes
    8-14 with its length (at most 255) in the top byte, as little-endian uint64 with the bytes
    past its end zero. Words of at most `_KEY_BYTES` bytes are equal when their keys are; a
    longer word's key equals none of theirs. ``buf`` (uint8) has 16 bytes past its last word."""
    windows = np.ndarray((buf.size - 7,), dtype="<u8", buffer=buf, strides=(1,))
    first = windows[starts] & _MASKS[np.minimum(lengths, 8)]
    second = windows[starts + 8] & _MASKS[np.clip(lengths - 8, 0, 7)]
    second |= np.minimum(lengths, 255).astype(np.uint64) << np.uint64(56)
    return first, second


def _slots(first, second):
    """Hash table slot of each key: a multiplicative hash's top `_TABLE_BITS` bits."""
    h = first * _MIXERS[0] + second * _MIXERS[1]
    return (h >> np.uint64(64 - _TABLE_BITS)).astype(np.intp)


class _Batches:
    """Tokenizes reviews a batch at a time (`add` one, then `flush`): ``ranks[i]`` is then the
    int32 ranks of review ``i``'s words that are in the word index, in order.

    A batch is one NumPy pass: one ``translate``, the words found where the bytes turn from
    space to not, and each word of at most `_KEY_BYTES` bytes looked up by its exact key
    (`_keys`) in an open-addressing hash table of the word index (linear probing; a hit
    compares the whole key, so a hash collision costs a probe, never a wrong rank). The few
    longer words are looked up in a dict.
    """

    def __init__(self, word_index):
        words = [(w.encode("utf-8"), rank) for w, rank in word_index.items() if w]
        self._long = {w: rank for w, rank in words if len(w) > _KEY_BYTES}
        short = [(w, rank) for w, rank in words if len(w) <= _KEY_BYTES]
        lengths = np.array([len(w) for w, _ in short], dtype=np.int64)
        starts = np.zeros(lengths.size, dtype=np.int64)
        np.cumsum(lengths[:-1], out=starts[1:])
        buf = np.frombuffer(b"".join(w for w, _ in short) + bytes(16), np.uint8)
        first, second = _keys(buf, starts, lengths)
        # slot-indexed keys and ranks; an empty slot has second == 0, which no key has
        self._first = np.zeros(1 << _TABLE_BITS, np.uint64)
        self._second = np.zeros(1 << _TABLE_BITS, np.uint64)
        self._rank = np.zeros(1 << _TABLE_BITS, np.int32)
        taken, mask, placed = bytearray(1 << _TABLE_BITS), (1 << _TABLE_BITS) - 1, []
        for slot in _slots(first, second).tolist():
            while taken[slot]:
                slot = (slot + 1) & mask
            taken[slot] = 1
            placed.append(slot)
        self._first[placed], self._second[placed] = first, second
        self._rank[placed] = [rank for _, rank in short]
        self._pending, self._size, self.ranks = [], 0, []

    def add(self, text):
        """Queue review ``text`` (UTF-8 bytes); returns its number in `ranks`."""
        self._pending.append(text)
        self._size += len(text) + 1
        if self._size >= _BATCH_BYTES:
            self.flush()
        return len(self.ranks) + len(self._pending) - 1

    def flush(self):
        """Tokenize the queued reviews."""
        if not self._pending:
            return
        texts, self._pending, self._size = self._pending, [], 0
        # a space before each review, and after the last one 16 spaces of padding
        buf = np.frombuffer(b" " + b" ".join(texts).translate(_BYTES_TABLE) + b" " * 16,
                            np.uint8)
        word = buf != 32
        starts = np.flatnonzero(word[1:] > word[:-1]) + 1
        lengths = np.flatnonzero(word[:-1] > word[1:]) + 1 - starts
        ranks = self._lookup(buf, starts, lengths)
        for i in np.flatnonzero(lengths > _KEY_BYTES).tolist():
            ranks[i] = self._long.get(buf[starts[i]:starts[i] + lengths[i]].tobytes(), 0)
        review_starts = np.ones(len(texts) + 1, dtype=np.int64)  # where each review begins
        review_starts[1:] += np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)) + 1)
        known = ranks > 0
        kept = np.zeros(known.size + 1, dtype=np.int64)
        np.cumsum(known, out=kept[1:])
        cuts = kept[np.searchsorted(starts, review_starts)].tolist()  # first word of each
        ranks = ranks[known]
        self.ranks += [ranks[a:b] for a, b in zip(cuts[:-1], cuts[1:])]

    def _lookup(self, buf, starts, lengths):
        """The rank of each word in the table (0: not in it, or longer than `_KEY_BYTES`)."""
        first, second = _keys(buf, starts, lengths)
        slot = _slots(first, second)
        seen = self._second[slot]
        hit = (seen == second) & (self._first[slot] == first)
        ranks = np.where(hit, self._rank[slot], np.int32(0))
        todo = np.flatnonzero((seen != 0) & ~hit)  # a collision: probe the next slots
        slot, first, second = slot[todo], first[todo], second[todo]
        mask = np.intp((1 << _TABLE_BITS) - 1)
        while todo.size:
            slot = (slot + 1) & mask
            seen = self._second[slot]
            hit = (seen == second) & (self._first[slot] == first)
            ranks[todo[hit]] = self._rank[slot[hit]]
            go_on = (seen != 0) & ~hit
            todo, slot, first, second = todo[go_on], slot[go_on], first[go_on], second[go_on]
        return ranks


def _join(ranks):
    """One `Sequences` from a list of int32 arrays, in order (one copy of the tokens)."""
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

    files = _empty()
    with open(path, "rb") as raw:
        try:
            with gzip.GzipFile(fileobj=raw) as gz:
                for name, data in _tar_files(gz):
                    match = _MEMBER.fullmatch(name)
                    if match:
                        split, label, review = match.groups()
                        files[split, label][review] = keep(_check_utf8(data, path, name))
                while gz.read(1 << 20):  # read to the end so the gzip trailer is verified
                    pass
        except (_TarError, EOFError, zlib.error, OSError) as exc:
            raise ValueError(
                f"{path} is truncated or corrupt ({exc}). Delete it and download it again, "
                "or point path= / NN_DATA_DIR at a good copy") from exc
    return files


class _TarError(Exception):
    pass


_BLOCK = 512
_FILE_TYPES = (b"0", b"\0", b"7")  # regular files, as tarfile's ``isfile()``


def _tar_files(stream):
    """``(name, data)`` of each regular file of an uncompressed tar stream (POSIX ustar or GNU,
    with pax or GNU long names), in archive order: what ``tarfile`` gives for these archives,
    without its ~40 us of work per member (2 s of the 50,000 reviews' read)."""
    first, long_name, pax = True, None, {}
    while True:
        header = stream.read(_BLOCK)
        if len(header) < _BLOCK:
            raise _TarError("unexpected end of data")
        if header == bytes(_BLOCK):  # end of archive
            return
        if header[257:262] != b"ustar":
            raise _TarError("not a POSIX or GNU tar archive")
        if first:  # the checksum of the first header tells a tar from other data
            if _octal(header[148:156]) != sum(header) - sum(header[148:156]) + 8 * 32:
                raise _TarError("bad checksum")
            first = False
        kind, size = header[156:157], _octal(header[124:136])
        size = pax.get("size", size)
        data = stream.read(size)
        if len(data) < size or len(stream.read(-size % _BLOCK)) < -size % _BLOCK:
            raise _TarError("unexpected end of data")
        if kind in (b"L", b"x", b"g", b"K"):  # metadata of the next member
            if kind == b"L":
                long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif kind == b"x":
                pax = _pax_records(data)
            continue
        name = pax.get("path") or long_name or _ustar_name(header)
        long_name, pax = None, {}
        if kind in _FILE_TYPES:
            yield name, data
        elif kind not in b"123456":
            raise _TarError(f"{name} has the tar type {kind!r}, which this reader does not "
                            "handle; extract the archive and pass the aclImdb folder")


def _octal(field):
    field = field.rstrip(b" \0").lstrip(b" ")
    try:
        return int(field, 8) if field else 0
    except ValueError:
        raise _TarError(f"bad number field {field!r}") from None


def _ustar_name(header):
    name = header[:100].split(b"\0", 1)[0]
    if header[257:263] == b"ustar\0":  # POSIX: a prefix may hold the leading folders
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")


def _pax_records(data):
    """The ``key=value`` records of a pax extended header (``"<length> key=value\\n"``)."""
    records, pos = {}, 0
    try:
        while pos < len(data) and data[pos:pos + 1] != b"\0":
            space = data.index(b" ", pos)
            length = int(data[pos:space])
            key, _, value = data[space + 1:pos + length - 1].partition(b"=")
            records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8",
                                                                           "surrogateescape")
            pos += length
        if "size" in records:
            records["size"] = int(records["size"])
    except ValueError:
        raise _TarError("bad pax header") from None
    return records


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
