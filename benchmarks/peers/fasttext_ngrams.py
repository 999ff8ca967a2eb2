"""fastText (supervised) on the reviews as words, with word bigrams: trains on the shuffled
training file that `benchmarks.ngram_text` wrote (fastText reads it in order and does not
shuffle), scores the test file with ``model.test`` (precision at 1, which is the accuracy
for one label per review). ``train_seconds`` is the ``train_supervised`` call: reading and
counting the file, building the dictionary and the bigram buckets, and the epochs (on
``--threads`` threads); ``test_seconds`` the ``test`` call. Prints one JSON line
(`ngram_common`).

    python -m benchmarks.peers.fasttext_ngrams --text-dir DIR --epoch 5 --lr 0.5 --dim 100
"""

import time

from benchmarks.ngram_text import FILES
from benchmarks.peers import ngram_common

SYSTEM = "fasttext"


def add_options(parser):
    parser.add_argument("--text-dir", required=True, help="the files of benchmarks.ngram_text")
    parser.add_argument("--epoch", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--word-ngrams", type=int, default=2)


def main():
    args = ngram_common.parse_args(__doc__.split("\n\n")[0], add_options)
    fasttext, import_seconds = ngram_common.import_peer(SYSTEM, "fasttext", "fasttext-numpy2")
    train, test = (f"{args.text_dir}/{name}" for name in FILES["fasttext"])
    settings = {"wordNgrams": args.word_ngrams, "epoch": args.epoch, "lr": args.lr,
                "dim": args.dim, "thread": args.threads}
    start = time.perf_counter()
    model = fasttext.train_supervised(input=train, verbose=0, seed=args.seed, **settings)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    n, precision, _ = model.test(test)
    test_seconds = time.perf_counter() - start
    try:
        from importlib.metadata import version
        versions = {"fasttext": version("fasttext-numpy2")}
    except Exception:  # noqa: BLE001  (another distribution of the same module)
        versions = {"fasttext": getattr(fasttext, "__version__", "unknown")}
    ngram_common.emit(SYSTEM, args, settings=settings, train_seconds=train_seconds,
                      test_seconds=test_seconds, test_accuracy=float(precision),
                      test_reviews=int(n), import_seconds=import_seconds, versions=versions)


if __name__ == "__main__":
    main()
