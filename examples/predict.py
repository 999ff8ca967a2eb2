"""Your own review: p(positive) from the model examples/imdb.py saved, and the words that moved it.

Each review is encoded as `imdb.load_data` would have encoded it (`imdb.encode_review`),
multi-hot encoded as in training, and scored; `nn.attribution` then credits the prediction to
the words present. With occlusion a word's score is p minus p of the review without that word
(exact, one more forward pass per distinct word); with the gradient it is dp/dx at that word,
the linear estimate of the same difference (one backward pass). Positive scores pushed the
review toward positive, negative ones toward negative.

    python examples/imdb.py        # trains the model and saves imdb_output/model.npz
    python examples/predict.py "one of the best films i have seen, moving and beautifully acted"
    python examples/predict.py --method gradient --top 3 "dull, predictable and far too long"
    python examples/predict.py --plot words.png "a review"    # also a bar chart of the words
    python examples/predict.py < reviews.txt                  # one review per line

Run with --help for every option.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from nn import attribution
from nn.datasets import imdb
from nn.models import load_model
from nn.preprocessing import vectorize_sequences

START_CHAR, OOV_CHAR, INDEX_FROM = 1, 2, 3  # load_data's defaults, which imdb.py trains on
RARE = "(rare words)"  # the oov feature: the index's words outside the model's vocabulary
OCCLUSION_MAX_WORDS = 1000  # --method auto: occlusion up to this many distinct words
MAX_PLOTTED = 8  # reviews drawn by --plot
METHODS = {"occlusion": "p minus p without the word",
           "gradient": "dp/dx, the linear estimate of p minus p without the word"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("reviews", nargs="*", metavar="REVIEW",
                   help="the text of a review (quote it); with none, or '-', the reviews are "
                        "read from standard input, one per line (blank lines are skipped)")
    p.add_argument("--model", metavar="PATH", default="imdb_output/model.npz",
                   help="the model file examples/imdb.py saves (in its --out folder)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="imdb_word_index.json or the folder holding it (the one given to "
                        "examples/imdb.py); default: NN_DATA_DIR, the cache, or a download")
    p.add_argument("--method", choices=["auto", "occlusion", "gradient"], default="auto",
                   help="how each word is scored: occlusion (p minus p without the word; "
                        "exact), gradient (dp/dx, its linear estimate; one backward pass), or "
                        f"auto: occlusion for reviews of up to {OCCLUSION_MAX_WORDS:,} "
                        "distinct words, else gradient")
    p.add_argument("--top", type=int, default=5, metavar="K",
                   help="words shown on each side (toward positive, toward negative)")
    p.add_argument("--plot", nargs="?", const="predict.png", default=None, metavar="PATH",
                   help=f"also draw the words as a PNG bar chart (the first {MAX_PLOTTED} "
                        "reviews); PATH defaults to predict.png")
    p.add_argument("--max-chars", type=int, default=100_000, metavar="N",
                   help="read at most the first N characters of a review (a longer one is cut "
                        "at the last space before it, with a note)")
    args = p.parse_args(argv)
    if args.top < 1:
        p.error(f"--top must be at least 1; got {args.top}")
    if args.max_chars < 1:
        p.error(f"--max-chars must be at least 1; got {args.max_chars}")
    return args


def read_reviews(arguments, stdin):
    """The reviews to score: the arguments, with '-' (or no argument) read from stdin."""
    reviews = []
    for text in arguments or ["-"]:
        if text != "-":
            reviews.append(text)
            continue
        if stdin.isatty():
            print("reading reviews from standard input, one per line (end with Ctrl-D)",
                  file=sys.stderr)
        reviews += [line.rstrip("\r\n") for line in stdin if line.strip()]
    return reviews


def check_model(model, path):
    """ValueError unless ``model`` maps multi-hot words to one sigmoid probability."""
    out = model.layers[-1].get_config()
    if out.get("units") != 1 or out.get("activation") != "sigmoid":
        raise ValueError(f"{path} ends in {out.get('units')} {out.get('activation')} units; "
                         "expected one sigmoid unit, p(positive), as examples/imdb.py trains")


def cut(text, max_chars):
    """``(text, note)``: at most ``max_chars`` characters, cut at a space where there is one."""
    if len(text) <= max_chars:
        return text, None
    head = text[:max_chars]
    if not text[max_chars].isspace() and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head, (f"the review has {len(text):,} characters; only the first {len(head):,} "
                  "are read (--max-chars)")


def unknown_words(text, word_index, num_words):
    """``(n_words, unknown)``: how many words the IMDB tokenizer finds in ``text``, and those
    the model has no column of (not in the word index, or rarer than its ``num_words``)."""
    words = imdb.text_to_word_sequence(text)
    return len(words), [w for w in words
                        if word_index.get(w, num_words) + INDEX_FROM >= num_words]


def scores(model, x, method):
    """``(method, CSRMatrix)``: each present word's score for the one-row multi-hot ``x``."""
    if method == "auto":
        method = "occlusion" if x.nnz <= OCCLUSION_MAX_WORDS else "gradient"
    attribute = attribution.occlusion if method == "occlusion" else attribution.input_gradient
    return method, attribute(model, x)


def top_words(score, vocabulary, k):
    """``(positive, negative)``: up to ``k`` ``(word, score)`` pairs each, largest push
    first, from the one-row score matrix; the start marker is every review's and is left out."""
    keep = score.indices != START_CHAR
    columns, values = score.indices[keep], np.asarray(score.data)[keep]
    order = np.argsort(-values, kind="stable")
    pairs = [(vocabulary.get(int(j), RARE), float(v)) for j, v in
             zip(columns[order], values[order])]
    positive = [(w, v) for w, v in pairs if v > 0][:k]
    negative = [(w, v) for w, v in reversed(pairs) if v < 0][:k]
    return positive, negative


def explain(text, p, model, x, word_index, vocabulary, args):
    """Print one review's verdict and the words behind it; return what --plot needs."""
    n_words, unknown = unknown_words(text, word_index, model.input_dim)
    if len(unknown) == n_words:
        print(f"p(positive) = {p:.3f}: no verdict")
        if n_words == 0:
            print("  the review has no words: the model has nothing to go on (this p is its "
                  "guess for an empty review)")
        else:
            print(f"  none of its {n_words} words is among the {model.input_dim:,} the model "
                  f"knows (is it in English?): {listed(unknown)}\n"
                  "  the model has nothing to go on")
        return None
    print(f"p(positive) = {p:.3f}: {'positive' if p > 0.5 else 'negative'}")
    if unknown:
        print(f"  {len(unknown)} of {n_words} words {'is' if len(unknown) == 1 else 'are'} "
              f"unknown to the model (not among its {model.input_dim:,}): {listed(unknown)}")
    method, score = scores(model, x, args.method)
    positive, negative = top_words(score, vocabulary, args.top)
    print(f"  the words that moved it most ({method}: {METHODS[method]}):")
    print(f"    {'toward positive':<28}toward negative")
    for i in range(max(len(positive), len(negative))):
        left = f"{positive[i][1]:+.3f} {positive[i][0]}" if i < len(positive) else ""
        right = f"{negative[i][1]:+.3f} {negative[i][0]}" if i < len(negative) else ""
        print(f"    {left:<28}{right}".rstrip())
    return positive, negative, method


def listed(words, limit=8):
    """The distinct ``words`` in order, at most ``limit`` of them, comma-separated."""
    distinct = list(dict.fromkeys(words))
    more = f", ... ({len(distinct) - limit} more)" if len(distinct) > limit else ""
    return ", ".join(distinct[:limit]) + more


def shorten(text, width=70):
    return text if len(text) <= width else text[:width - 3] + "..."


def plot(drawn, path):
    """One horizontal bar chart per review: each word's score, toward positive in blue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(len(pos) + len(neg) for _, _, (pos, neg, _) in drawn)
    fig, axes = plt.subplots(len(drawn), 1, squeeze=False, dpi=100,
                             figsize=(7.0, len(drawn) * (1.2 + 0.28 * rows)))
    for ax, (text, p, (positive, negative, method)) in zip(axes[:, 0], drawn):
        pairs = positive + negative[::-1]  # largest push toward positive at the top
        ax.barh([w for w, _ in pairs], [v for _, v in pairs],
                color=["tab:blue" if v > 0 else "tab:red" for _, v in pairs])
        ax.axvline(0, color="0.3", linewidth=0.8)
        ax.set_ylim(rows - 0.5, -0.5)  # the same bar height in every panel
        ax.set_title(f"p(positive) = {p:.3f}: {shorten(text, 60)}", fontsize=9)
        ax.set_xlabel(f"{method}: {METHODS[method]}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    try:
        model = load_model(args.model)
        check_model(model, args.model)
    except FileNotFoundError:
        print(f"error: no model at {args.model}; run python examples/imdb.py first (it saves "
              "imdb_output/model.npz; with --out DIR, pass --model DIR/model.npz)",
              file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"error: could not read the model {args.model}: {e}", file=sys.stderr)
        return 2
    reviews = read_reviews(args.reviews, sys.stdin)
    if not reviews:
        print("error: no review to score; give one as an argument (in quotes) or on standard "
              "input, one per line", file=sys.stderr)
        return 2
    try:
        word_index = imdb.get_word_index(path=args.data)
    except (OSError, ValueError) as e:
        print(f"error: could not load the IMDB word index.\n{e}", file=sys.stderr)
        return 2

    num_words = model.input_dim
    vocabulary = {rank + INDEX_FROM: word for word, rank in word_index.items()
                  if rank + INDEX_FROM < num_words}
    texts, notes = zip(*[cut(text, args.max_chars) for text in reviews])
    sequences = [imdb.encode_review(text, num_words=num_words, word_index=word_index)
                 for text in texts]
    x = vectorize_sequences(sequences, dimension=num_words)
    p = model.predict(x, batch_size=256)[:, 0]

    drawn = []
    for i, (text, note) in enumerate(zip(texts, notes)):
        print(f'\nreview {i + 1}: "{shorten(text)}"')
        if note:
            print(f"  {note}")
        words = explain(text, float(p[i]), model, x[i:i + 1], word_index, vocabulary, args)
        if words is not None and len(drawn) < MAX_PLOTTED:
            drawn.append((text, float(p[i]), words))
    if args.plot:
        if not drawn:
            print("\nnothing to plot: no review has a word the model knows")
            return 0
        try:
            Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
            plot(drawn, args.plot)
        except OSError as e:
            print(f"error: could not write the chart {args.plot}: {e}", file=sys.stderr)
            return 2
        print(f"\nchart of {len(drawn)} review{'s' if len(drawn) > 1 else ''}: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
