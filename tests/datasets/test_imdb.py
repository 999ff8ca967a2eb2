"""`nn.datasets.imdb` on the real data, its vectorised Keras post-processing, and
`encode_review` (raw text to what ``load_data`` gives).

The real-data tests read ``aclImdb_v1_labeled.tar.gz`` from the ``imdb_dir`` fixture. The
session-scoped ``imdb_10k`` fixture pays the cold tokenization once; every later ``load_data``
in the session reads the tokenized cache from the session's private ``NN_CACHE_DIR``.

Golden values are what Keras prints for ``keras.datasets.imdb.load_data`` (its ``imdb.npz``).
"""

import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nn.datasets import imdb
from nn.sequences import Sequences

FIRST_TRAIN = [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65]
# x_test[0] with num_words=5000, as Keras prints it.
FIRST_TEST_5000 = [
    1, 591, 202, 14, 31, 6, 717, 10, 10, 2, 2, 5, 4, 360, 7, 4, 177, 2, 394, 354, 4, 123, 9,
    1035, 1035, 1035, 10, 10, 13, 92, 124, 89, 488, 2, 100, 28, 1668, 14, 31, 23, 27, 2, 29,
    220, 468, 8, 124, 14, 286, 170, 8, 157, 46, 5, 27, 239, 16, 179, 2, 38, 32, 25, 2, 451,
    202, 14, 6, 717]


@pytest.fixture(scope="session")
def imdb_10k(imdb_dir):
    return imdb.load_data(path=imdb_dir, num_words=10000)


@pytest.fixture(scope="session")
def imdb_all(imdb_dir, imdb_10k):  # after imdb_10k, so this one is a warm load
    return imdb.load_data(path=imdb_dir)


# --- the real data ---------------------------------------------------------------------------

def test_first_training_review_and_labels(imdb_10k):
    (x_train, y_train), (x_test, y_test) = imdb_10k
    assert isinstance(x_train, Sequences) and isinstance(x_test, Sequences)
    assert x_train[0][:10] == FIRST_TRAIN
    assert y_train[0] == 1
    assert len(x_train) == len(y_train) == 25000 and len(x_test) == len(y_test) == 25000
    assert y_train.sum() == 12500 and y_test.sum() == 12500
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert list(y_train[:3]) == [1, 0, 0] and list(y_test[:3]) == [0, 1, 1]


def test_largest_index_with_num_words(imdb_10k):
    (x_train, _), (x_test, _) = imdb_10k
    assert max(max(s) for s in x_train) == 9999 == x_train.max()
    assert x_test.max() == 9999


def test_lengths_match_keras(imdb_all):
    (x_train, _), (x_test, _) = imdb_all
    lengths = x_train.lengths()
    assert round(lengths.mean(), 2) == 238.71
    assert lengths.mean() == pytest.approx(238.71364, abs=1e-9)  # Keras prints 238.71364
    assert (lengths.max(), lengths.min()) == (2494, 11)
    assert [len(x_train[0]), len(x_train[1]), len(x_test[0])] == [218, 189, 68]


def test_test_split_continues_the_random_stream(imdb_dir):
    (_, _), (x_test, _) = imdb.load_data(path=imdb_dir, num_words=5000)
    assert x_test[0] == FIRST_TEST_5000


def test_decode_review(imdb_dir, imdb_10k, monkeypatch):
    (x_train, _), _ = imdb_10k
    expected = ("? this film was just brilliant casting location scenery story direction "
                "everyone's really suited the")
    word_index = imdb.get_word_index(path=imdb_dir)
    assert len(word_index) == 88584 and word_index["the"] == 1
    assert imdb.decode_review(x_train[0], word_index).startswith(expected)
    monkeypatch.setenv("NN_DATA_DIR", str(imdb_dir))
    assert imdb.decode_review(x_train[0]).startswith(expected)


def test_num_words_none_keeps_keras_quirk(imdb_all):
    """num_words=None becomes the largest index, which `w < num_words` then turns into oov."""
    (x_train, _), (x_test, _) = imdb_all
    largest = 88584 + 3  # the rarest word of the index, present in the training reviews
    assert max(x_train.max(), x_test.max()) < largest
    assert x_train.max() > 88000


def test_maxlen_drops_long_reviews(imdb_dir, imdb_all):
    (x_all, y_all), (t_all, _) = imdb_all
    (x_train, y_train), (x_test, _) = imdb.load_data(path=imdb_dir, maxlen=100)
    keep = x_all.lengths() < 100
    assert len(x_train) == keep.sum() and x_train.lengths().max() == 99
    assert x_train == x_all.take(keep)
    assert np.array_equal(y_train, y_all[keep])
    assert len(x_test) == (t_all.lengths() < 100).sum()


def test_maxlen_that_keeps_nothing_is_an_error(imdb_dir):
    with pytest.raises(ValueError, match="maxlen=11 keeps no training review"):
        imdb.load_data(path=imdb_dir, maxlen=11)  # the shortest review has 11 with the start


def test_skip_top_also_replaces_the_start_char(imdb_dir, imdb_10k):
    (x_10k, _), _ = imdb_10k
    (x_train, _), _ = imdb.load_data(path=imdb_dir, num_words=10000, skip_top=20)
    tokens = x_train.tokens
    assert np.all((tokens == 2) | ((tokens >= 20) & (tokens < 10000)))
    # start char 1 < 20 and "this" = 14 < 20 become 2; "film" = 22 stays; "was" = 16 goes.
    assert x_train[0][:5] == [2, 2, 22, 2, 43]
    assert np.array_equal(x_train.offsets, x_10k.offsets)


def test_oov_char_none_drops(imdb_dir, imdb_10k):
    (x_10k, _), _ = imdb_10k
    (x_train, _), _ = imdb.load_data(path=imdb_dir, num_words=10000, oov_char=None)
    assert 2 not in x_train.tokens
    dropped = (x_10k.tokens == 2)
    assert x_train.tokens.size == x_10k.tokens.size - dropped.sum()
    assert x_train[0] == [w for w in x_10k[0] if w != 2]


def test_start_char_none_and_index_from(imdb_dir, imdb_10k):
    (x_10k, _), _ = imdb_10k
    (x_train, _), _ = imdb.load_data(path=imdb_dir, num_words=10000, start_char=None)
    assert x_train[0][:9] == FIRST_TRAIN[1:]
    assert np.array_equal(x_train.lengths(), x_10k.lengths() - 1)
    (x_raw, _), _ = imdb.load_data(path=imdb_dir, start_char=None, index_from=0)
    assert x_raw[0][:9] == [w - 3 for w in FIRST_TRAIN[1:]]  # plain word ranks


def test_seed_changes_only_the_order(imdb_dir, imdb_all):
    (x_all, y_all), _ = imdb_all
    (x_train, y_train), _ = imdb.load_data(path=imdb_dir, seed=1)
    assert x_train[0] != x_all[0]
    assert sorted(x_train.lengths()) == sorted(x_all.lengths())
    assert y_train.sum() == y_all.sum()


def test_object_array_is_what_keras_returns(imdb_10k):
    (x_train, _), _ = imdb_10k
    objects = x_train[:3].to_object_array()
    assert objects.dtype == object and objects[0][:10] == FIRST_TRAIN


# --- the vectorised post-processing against Keras's algorithm on lists ----------------------

reviews = st.lists(st.lists(st.integers(1, 40), min_size=1, max_size=12), min_size=1,
                   max_size=15)


@settings(max_examples=100, deadline=None)
@given(train=reviews, test=reviews, data=st.data(),
       num_words=st.one_of(st.none(), st.integers(0, 50)),
       skip_top=st.integers(0, 8), maxlen=st.one_of(st.none(), st.integers(0, 15)),
       seed=st.integers(0, 2**31 - 1), start_char=st.one_of(st.none(), st.integers(0, 4)),
       oov_char=st.one_of(st.none(), st.integers(0, 4)), index_from=st.integers(0, 4),
       block=st.sampled_from([1, 2, 5, 16, imdb._BLOCK]))
def test_postprocess_matches_keras_on_lists(keras_reference, train, test, data, num_words,
                                            skip_top, maxlen, seed, start_char, oov_char,
                                            index_from, block):
    """Also with blocks of a few tokens, so that rows straddle the blocks of the gathers."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(imdb, "_BLOCK", block)
        check_postprocess(keras_reference, train, test, data, num_words=num_words,
                          skip_top=skip_top, maxlen=maxlen, seed=seed, start_char=start_char,
                          oov_char=oov_char, index_from=index_from)


def check_postprocess(keras_reference, train, test, data, **kwargs):
    labels = [data.draw(st.lists(st.integers(0, 1), min_size=len(x), max_size=len(x)))
              for x in (train, test)]
    splits = [(Sequences.from_lists(x), np.array(y, dtype=np.uint8))
              for x, y in zip((train, test), labels)]
    try:
        expected = keras_reference(*zip((train, test), labels), **kwargs)
    except ValueError:
        with pytest.raises(ValueError, match="maxlen"):
            imdb.keras_postprocess(*splits, **kwargs)
        return
    got = imdb.keras_postprocess(*splits, **kwargs)
    for (x, y), (x_ref, y_ref) in zip(got, expected):
        assert x.to_list() == x_ref
        assert y.tolist() == y_ref and y.dtype == np.int64


def test_postprocess_of_empty_reviews_in_one_token_blocks(monkeypatch, keras_reference):
    monkeypatch.setattr(imdb, "_BLOCK", 1)
    train, test = [[], [3], [], [1, 2], []], [[], []]
    splits = [(Sequences.from_lists(x), np.zeros(len(x), dtype=np.uint8)) for x in (train, test)]
    for start_char in (None, 1):
        kwargs = dict(num_words=10, start_char=start_char, seed=5)
        got = imdb.keras_postprocess(*splits, **kwargs)
        expected = keras_reference(*splits, **kwargs)
        assert [x.to_list() for x, _ in got] == [x for x, _ in expected]


def test_postprocess_needs_no_temporary_the_size_of_a_split():
    """Beyond its results, only block-sized scratch (~1 MB), not index arrays of every token:
    freed, those would also leave glibc's mmap threshold high enough to keep the results in
    the heap, where later frees cannot give the memory back."""
    import tracemalloc

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 500, size=8000)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    train = (Sequences(rng.integers(1, 80000, offsets[-1]).astype(np.int32), offsets),
             np.zeros(lengths.size, dtype=np.uint8))
    test = (Sequences([5, 6], [0, 2]), np.zeros(1, dtype=np.uint8))
    tracemalloc.start()
    try:
        (x_train, _), _ = imdb.keras_postprocess(train, test, num_words=10000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert x_train.nbytes > 8e6  # 2 million tokens
    assert peak - x_train.nbytes < 3e6  # index arrays of the whole split: 8 MB more


def test_decode_review_question_marks():
    index = {"the": 1, "film": 2}
    assert imdb.decode_review([0, 1, 2, 3, 4, 5, 99], index) == "? ? ? ? the film ?"
    assert imdb.decode_review(np.array([1, 2]), index, index_from=0) == "the film"


# --- encode_review: one review's raw text to what load_data gives ----------------------------

SAMPLE_PER_SPLIT = 600
RAREST_AT = 1534  # x_train[1534] holds "'l'", the index's rarest word (rank 88,584)


@pytest.fixture(scope="module")
def sampled_texts(imdb_dir):
    """``{(split, position in load_data's split): text}`` for SAMPLE_PER_SPLIT seeded random
    reviews of each split, and train's RAREST_AT; only the sampled members are extracted."""
    rng = np.random.default_rng(2024)
    keras_rng = np.random.RandomState(113)  # Keras's shuffle: one stream, train then test
    with tarfile.open(imdb_dir / "aclImdb_v1_labeled.tar.gz", "r:gz") as tar:
        folders = {}
        for member in tar.getmembers():
            parts = member.name.split("/")  # aclImdb/<split>/<label>/<id>_<rating>.txt
            if member.isfile() and len(parts) == 4 and parts[2] in ("pos", "neg"):
                folders.setdefault((parts[1], parts[2]), []).append(member)
        wanted = {}
        for split in ("train", "test"):
            # The raw order: pos sorted by file name, then neg; load_data's x[j] is raw[order[j]].
            raw = [member for label in ("pos", "neg")
                   for member in sorted(folders[split, label], key=lambda m: m.name)]
            order = np.arange(len(raw))
            keras_rng.shuffle(order)
            positions = rng.choice(len(raw), SAMPLE_PER_SPLIT, replace=False).tolist()
            for j in positions + ([RAREST_AT] if split == "train" else []):
                wanted[raw[order[j]]] = (split, j)
        return {wanted[member]: tar.extractfile(member).read().decode("utf-8")
                for member in sorted(wanted, key=lambda m: m.offset)}  # one forward pass


@pytest.mark.parametrize("num_words", [None, 10000])
def test_encode_review_reproduces_load_data(imdb_dir, sampled_texts, imdb_all, imdb_10k,
                                            num_words):
    (x_train, _), (x_test, _) = imdb_all if num_words is None else imdb_10k
    x = {"train": x_train, "test": x_test}
    word_index = imdb.get_word_index(path=imdb_dir)
    assert len(sampled_texts) >= 2 * SAMPLE_PER_SPLIT
    wrong = [(split, j) for (split, j), text in sampled_texts.items()
             if imdb.encode_review(text, num_words=num_words, word_index=word_index)
             != x[split][j]]
    assert wrong == []


def test_encode_review_cuts_the_rarest_word_as_load_data_does(imdb_dir, sampled_texts):
    word_index = imdb.get_word_index(path=imdb_dir)
    text = sampled_texts["train", RAREST_AT]
    every = imdb.encode_review(text, num_words=10**6, word_index=word_index)
    assert word_index["'l'"] == 88584 and 88584 + 3 in every
    assert imdb.encode_review(text, word_index=word_index) == [
        2 if i == 88584 + 3 else i for i in every]


def test_decode_of_encode_gives_every_word_of_the_index(imdb_dir):
    word_index = imdb.get_word_index(path=imdb_dir)
    words = sorted(word_index, key=word_index.get)
    encoded = imdb.encode_review(" ".join(words), word_index=word_index)
    assert encoded == [1] + list(range(4, 88584 + 3)) + [2]  # the rarest: num_words=None
    assert imdb.decode_review(encoded, word_index) == " ".join(["?"] + words[:-1] + ["?"])


def test_encode_review_tokenizes_as_the_loader(fake_word_index):
    def encode(text):
        return imdb.encode_review(text, num_words=100, word_index=fake_word_index)

    assert encode("The FILM was good!<br /><br />It's BAD.") == [1, 4, 5, 6, 7, 12, 12, 9, 8]
    # Only ASCII letters are lowercased: "ÁNGELA" is the index's "Ángela", "ángela" unknown.
    assert encode("ÁNGELA ángela so\x85 (good)") == [1, 10, 11, 7]
    # Unknown words are dropped, not oov_char: the loader drops them.
    assert encode("the unknownword film so\x85\xa0good") == [1, 4, 5]
    assert encode("Ángela".encode("utf-8")) == encode("Ángela") == [1, 10]


@pytest.mark.parametrize("kwargs, expected", [
    (dict(num_words=6), [1, 4, 5, 2, 2, 2]),
    (dict(num_words=6, oov_char=None), [1, 4, 5]),
    (dict(num_words=100, skip_top=5), [2, 2, 5, 6, 7, 8]),  # the start char too
    (dict(num_words=100, skip_top=5, oov_char=None), [5, 6, 7, 8]),
    (dict(start_char=None, index_from=0), [1, 2, 3, 4, 5]),  # plain ranks
    (dict(), [1, 4, 5, 6, 7, 8]),
])
def test_encode_review_post_processing(fake_word_index, kwargs, expected):
    text = "the film was good bad"
    assert imdb.encode_review(text, word_index=fake_word_index, **kwargs) == expected


@pytest.mark.parametrize("num_words", [None, 0])
def test_num_words_none_cuts_the_rarest_word(fake_word_index, num_words):
    """As load_data: None becomes the largest index, that of "br" (rank 9), which it cuts."""
    assert imdb.encode_review("the br", num_words=num_words, word_index=fake_word_index) == [
        1, 4, 2]
    assert imdb.encode_review("the br", num_words=13, word_index=fake_word_index) == [1, 4, 12]


@pytest.mark.parametrize("text", ["", "  ", "?!<>", "unknown words only"])
def test_encode_review_of_no_known_word(fake_word_index, text):
    def encode(**kwargs):
        return imdb.encode_review(text, word_index=fake_word_index, **kwargs)

    assert encode() == [1]
    assert encode(start_char=None) == []
    assert encode(skip_top=2) == [2]
    assert encode(skip_top=2, oov_char=None) == []


@pytest.mark.usefixtures("isolated")
@pytest.mark.parametrize("kwargs", [
    dict(), dict(num_words=6, skip_top=5), dict(num_words=7, oov_char=None, start_char=None),
    dict(index_from=0, start_char=3, skip_top=4)])
def test_encode_review_matches_load_data_on_the_fake_archive(
        fake_imdb_dir, fake_reviews, fake_word_index, keras_orders, kwargs):
    (x_train, _), (x_test, _) = imdb.load_data(path=fake_imdb_dir, **kwargs)
    for split, x, order in zip(("train", "test"), (x_train, x_test), keras_orders()):
        raw = [fake_reviews[split, label, name] for label in ("pos", "neg")
               for name in sorted(n for s, lab, n in fake_reviews if (s, lab) == (split, label))]
        assert [imdb.encode_review(raw[i], word_index=fake_word_index, **kwargs)
                for i in order] == x.to_list()


@pytest.mark.usefixtures("isolated")
def test_encode_review_loads_the_word_index(fake_imdb_dir, fake_word_index, monkeypatch):
    monkeypatch.setenv("NN_DATA_DIR", str(fake_imdb_dir))
    assert imdb.encode_review("Good film") == imdb.encode_review(
        "Good film", word_index=fake_word_index) == [1, 7, 5]


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_decode_of_encode_gives_the_words(fake_word_index, data):
    words = data.draw(st.lists(st.sampled_from(sorted(fake_word_index)), max_size=8))
    ends = data.draw(st.lists(st.sampled_from([" ", "  ", ", ", ".\n", "\t(", ") ", "! "]),
                              min_size=len(words), max_size=len(words)))
    text = "".join(word + end for word, end in zip(words, ends))
    encoded = imdb.encode_review(text, num_words=100, word_index=fake_word_index)
    assert imdb.decode_review(encoded, fake_word_index) == " ".join(["?"] + words)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(text=None), TypeError, "text must be one review as a str .*; got NoneType"),
    (dict(text=["good"]), TypeError, "got list. To encode several, call encode_review on each"),
    (dict(text=b"\xff good"), ValueError, "text is bytes but not UTF-8"),
    (dict(num_words=2.5), TypeError, "num_words must be an int or None; got 2.5"),
    (dict(skip_top=-1), ValueError, "skip_top must be 0 or more; got -1"),
    (dict(index_from=None), TypeError, "index_from must be an int; got None"),
    (dict(start_char=True), TypeError, "start_char must be an int or None; got True"),
    (dict(index_from=2**31), ValueError, "word indices must fit in int32"),
    (dict(word_index=[("good", 4)]), TypeError, "word_index must be a dict .*; got list"),
    (dict(word_index={}), ValueError, "word_index is empty"),
    (dict(word_index={"good": "4"}), ValueError, "word_index holds the rank '4'"),
    (dict(word_index={"good": 0}), ValueError, "word_index holds the rank 0"),
    (dict(word_index={"good": 4, "rare": 9.0}), ValueError, "word_index holds the rank 9.0"),
])
def test_encode_review_bad_arguments(fake_word_index, kwargs, error, message):
    kwargs = {"text": "good", "word_index": fake_word_index, **kwargs}
    with pytest.raises(error, match=message):
        imdb.encode_review(**kwargs)
