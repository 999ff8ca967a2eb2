"""The reviews of TOKENS.npz as text files for the n-gram peers (fastText, Vowpal Wabbit),
written once into the benchmark's out folder by the `ngrams` section.

Each review becomes its words, separated by spaces: token ``t`` is the word of rank ``t - 3``
in Keras's word index (``nn.datasets.imdb.get_word_index``), the start (1) and unknown-word
(2) tokens dropped, as docs/ngrams.md measured by hand; ``--words ids`` writes ``w<t>``
instead (synthetic data, which has no word index: the same features under other names). The
training reviews are shuffled once (``--seed``): fastText reads its file in order and does
not shuffle, and VW's one pass learns online in file order. The test reviews keep their
order. Four files::

    ngrams_train.ft  ngrams_test.ft    __label__1 word word ...     (fastText)
    ngrams_train.vw  ngrams_test.vw    1 |w word word ...           (VW; labels 1 / -1)

VW reads ``:`` and ``|`` as syntax, so they become ``;`` and ``/`` in its files (the word
index holds a few words with them).

    python -m benchmarks.ngram_text --tokens TOKENS.npz --out-dir DIR [--words imdb|ids]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

FILES = {"fasttext": ("ngrams_train.ft", "ngrams_test.ft"),
         "vw": ("ngrams_train.vw", "ngrams_test.vw")}
INDEX_FROM = 3  # Keras's offset: rank r is token r + 3; 0 padding, 1 start, 2 unknown


def vocabulary(words, size, word_index=None):
    """Object array: the text of each token id below ``size`` (None for dropped ones)."""
    out = np.empty(size, dtype=object)
    if words == "ids":
        out[:] = [f"w{t}" for t in range(size)]
    else:
        if word_index is None:
            from nn.datasets import imdb
            word_index = imdb.get_word_index()
        out[:] = "?"
        for word, rank in word_index.items():
            if rank + INDEX_FROM < size:
                out[rank + INDEX_FROM] = word
    out[:INDEX_FROM] = None
    return out


def texts(offsets, tokens, vocab):
    """One string per review: its kept tokens' words, space separated."""
    kept = tokens >= INDEX_FROM
    words = vocab[tokens]
    out = []
    for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()):
        out.append(" ".join(words[a:b][kept[a:b]]))
    return out


def write_files(tokens_path, out_dir, words="imdb", seed=0, word_index=None):
    """The four files in ``out_dir``; returns a description (paths, counts, seconds)."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with np.load(tokens_path) as f:
        arrays = {k: f[k] for k in f.files}
    size = int(max(arrays["train_tokens"].max(), arrays["test_tokens"].max())) + 1
    vocab = vocabulary(words, size, word_index)
    for split in ("train", "test"):
        lines = texts(arrays[f"{split}_offsets"], arrays[f"{split}_tokens"], vocab)
        labels = arrays[f"{split}_labels"].astype(int)
        order = (np.random.default_rng(seed).permutation(len(lines)) if split == "train"
                 else np.arange(len(lines)))
        ft_name, vw_name = FILES["fasttext"][split == "test"], FILES["vw"][split == "test"]
        with open(out_dir / ft_name, "w", encoding="utf-8") as ft, \
                open(out_dir / vw_name, "w", encoding="utf-8") as vw:
            for i in order.tolist():
                ft.write(f"__label__{labels[i]} {lines[i]}\n")
                clean = lines[i].replace(":", ";").replace("|", "/")
                vw.write(f"{1 if labels[i] else -1} |w {clean}\n")
    return {"out_dir": str(out_dir), "words": words, "seed": seed,
            "train_reviews": len(arrays["train_labels"]),
            "test_reviews": len(arrays["test_labels"]),
            "seconds": time.perf_counter() - start}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", required=True, help="TOKENS.npz written by benchmarks.data")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--words", choices=["imdb", "ids"], default="imdb",
                        help="imdb: Keras's word index (needs the data); ids: w<token>")
    parser.add_argument("--seed", type=int, default=0, help="the training file's shuffle")
    args = parser.parse_args()
    print(json.dumps(write_files(args.tokens, args.out_dir, args.words, args.seed)),
          flush=True)


if __name__ == "__main__":
    main()
