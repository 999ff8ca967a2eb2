"""`nn.datasets._aclimdb`: the tokenizer (Keras's ``text_to_word_sequence``, on bytes), and
the errors for an archive that is damaged, laid out wrong or holds a review that is not UTF-8,
met through `imdb.load_data`, which then caches nothing.
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn.datasets import _aclimdb, imdb

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


# --- a bad archive ---------------------------------------------------------------------------

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


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TEXT_CHARS + list("cdxyz")), max_size=400),
                min_size=1, max_size=30),
       st.integers(1, 64))
def test_batches_give_each_review_its_words_wherever_the_batches_end(texts, batch_bytes):
    """Reviews tokenized a few bytes at a time (many batches, words of up to 400 bytes: the
    long ones go to the dict) give what the str reference gives review by review."""
    words = sorted({w for t in texts for w in _aclimdb.text_to_word_sequence(t)})
    index = {w: rank for rank, w in enumerate(words, start=1) if rank % 4}
    expected = [[index[w] for w in _aclimdb.text_to_word_sequence(t) if w in index]
                for t in texts]
    old, _aclimdb._BATCH_BYTES = _aclimdb._BATCH_BYTES, batch_bytes
    try:
        assert _aclimdb.tokenize([t.encode() for t in texts], index).to_list() == expected
    finally:
        _aclimdb._BATCH_BYTES = old


def test_tokenizer_keys_tell_apart_words_that_differ_in_any_byte_or_length():
    words = ["a", "a\x00", "abcdefgh", "abcdefghi", "abcdefghijklmno", "abcdefghijklmnp",
             "abcdefghijklmnop", "abcdefghijklmnopq", "x" * 15, "x" * 16, "é" * 7, "é" * 8]
    index = {w: rank for rank, w in enumerate(words, start=1)}
    text = " ".join(words + ["b", "abcdefghijklmnoq", "x" * 17, "é" * 9])
    assert _aclimdb.tokenize([text.encode()], index).to_list() == [list(range(1, 13))]
    assert _aclimdb.tokenize([b"", b"  ", b"a"], {}).to_list() == [[], [], []]


@pytest.mark.parametrize("fmt", ["USTAR_FORMAT", "GNU_FORMAT", "PAX_FORMAT"])
def test_tar_reader_reads_what_tarfile_reads(fmt):
    """`_tar_files` against `tarfile` on one archive of each format, with a name too long for
    the header (a ustar prefix, a GNU long name or a pax path), a non-ASCII name (pax), a
    folder, a link and an empty file."""
    import io
    import tarfile

    members = [("aclImdb/train/pos/0_9.txt", b"great film"), ("aclImdb/test/neg/1_1.txt", b""),
               ("aclImdb/" + "d" * 90 + "/" + "n" * 60 + ".txt", b"x" * 1000)]
    if fmt != "USTAR_FORMAT":
        members.append(("aclImdb/train/pos/é_1.txt", b"caf\xc3\xa9"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=getattr(tarfile, fmt)) as tar:
        folder = tarfile.TarInfo("aclImdb/train")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("aclImdb/link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "aclImdb/train/pos/0_9.txt"
        tar.addfile(link)
    buffer.seek(0)
    with tarfile.open(fileobj=io.BytesIO(buffer.getvalue())) as tar:
        expected = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]
    assert list(_aclimdb._tar_files(buffer)) == expected == members


def test_tar_reader_rejects_what_is_not_a_tar():
    import io

    with pytest.raises(_aclimdb._TarError, match="not a POSIX or GNU tar"):
        list(_aclimdb._tar_files(io.BytesIO(b"x" * 1024)))
    with pytest.raises(_aclimdb._TarError, match="unexpected end"):
        list(_aclimdb._tar_files(io.BytesIO(b"x" * 100)))
