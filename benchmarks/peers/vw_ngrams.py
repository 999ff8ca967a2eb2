"""Vowpal Wabbit, logistic loss, on the reviews as words with ``--ngram N``, through its Python
package (``vowpalwabbit.Workspace`` running VW's own parser on the file, as the ``vw`` command
does): trains on the shuffled training file that `benchmarks.ngram_text` wrote, saves the
model, then scores the test file with ``-t`` in a second workspace (a prediction above 0 is
positive). With ``--passes`` above 1, VW needs a cache (``-c -k``, written during the first
pass) and holds nothing out (``--holdout_off``: the training reviews are all trained on, as
for the other systems). ``train_seconds`` is the training workspace from start to finish:
parsing and hashing the text, every pass, writing the model; ``test_seconds`` the scoring.
Prints one JSON line (`ngram_common`).

    python -m benchmarks.peers.vw_ngrams --text-dir DIR --vw-args "--ngram 3 -b 26 --passes 5 -l 1"
"""

import os
import shlex
import tempfile
import time

from benchmarks.ngram_text import FILES
from benchmarks.peers import ngram_common

SYSTEM = "vw"


def add_options(parser):
    parser.add_argument("--text-dir", required=True, help="the files of benchmarks.ngram_text")
    parser.add_argument("--vw-args", default="--ngram 2",
                        help="VW's options beyond --loss_function logistic")


def main():
    args = ngram_common.parse_args(__doc__.split("\n\n")[0], add_options)
    vowpalwabbit, import_seconds = ngram_common.import_peer(SYSTEM, "vowpalwabbit", "vowpalwabbit")
    train, test = (f"{args.text_dir}/{name}" for name in FILES["vw"])
    options = shlex.split(args.vw_args)
    with tempfile.TemporaryDirectory(prefix="vw_ngrams_") as tmp:
        model, preds = os.path.join(tmp, "model"), os.path.join(tmp, "preds")
        extra = ""
        if "--passes" in options:
            extra = f" -c --cache_file {os.path.join(tmp, 'cache')} -k --holdout_off"
        command = (f"-d {train} --loss_function logistic {args.vw_args}{extra} "
                   f"--random_seed {args.seed} -f {model} --quiet")
        start = time.perf_counter()
        ws = vowpalwabbit.Workspace(command)
        ws.finish()
        train_seconds = time.perf_counter() - start
        start = time.perf_counter()
        ws = vowpalwabbit.Workspace(f"-t -i {model} -d {test} -p {preds} --quiet")
        ws.finish()
        import numpy as np
        p = np.loadtxt(preds, ndmin=1)
        with open(test, encoding="utf-8") as f:
            y = np.array([line.startswith("1 ") for line in f])
        test_seconds = time.perf_counter() - start
    ngram_common.emit(SYSTEM, args, settings={"vw_args": args.vw_args,
                                              "loss_function": "logistic",
                                              "cache_and_holdout_off": bool(extra)},
                      train_seconds=train_seconds, test_seconds=test_seconds,
                      test_accuracy=float(np.mean((p > 0) == y)), test_reviews=int(len(y)),
                      import_seconds=import_seconds,
                      versions={"vowpalwabbit": vowpalwabbit.__version__})


if __name__ == "__main__":
    main()
