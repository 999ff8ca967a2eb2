"""What the n-gram peers share (`fasttext_ngrams`, `vw_ngrams`, `nn_ngrams`): the command line,
thread pinning and the one JSON line each prints.

The protocol (one system per process, run by the `ngrams` section from the repository's
root)::

    python -m benchmarks.peers.<x> --text-dir DIR | --tokens TOKENS.npz  --seed S --threads T

trains once on the 25,000 training reviews, scores the 25,000 test reviews, and prints one
JSON line with ``system``, ``settings``, ``train_seconds``, ``test_seconds``,
``test_accuracy``, ``peak_rss_mb``, ``import_seconds`` and ``versions``; a peer whose package
is missing prints ``{"system": ..., "skipped": reason}`` and exits 0.

Standard library only at the top: `parse_args` pins the thread counts before numpy or a
tool loads.
"""

import argparse
import importlib
import json
import os
import platform
import resource
import sys
import time

from benchmarks.peers.common import THREAD_VARS


def parse_args(description, extra):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads of the tool (and of BLAS / numba)")
    extra(parser)
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    return args


def emit(system, args, **record):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"system": system, "threads": args.threads, "seed": args.seed,
           "python": platform.python_version(), "peak_rss_mb": usage.ru_maxrss / 1024,
           "cpu_user_seconds": usage.ru_utime, "cpu_sys_seconds": usage.ru_stime, **record}
    print(json.dumps(out), flush=True)


def skip(system, reason):
    print(json.dumps({"system": system, "skipped": reason}), flush=True)
    sys.exit(0)


def import_peer(system, module, pip_name):
    """``(module, seconds its import took)``, or `skip` the system with the install hint."""
    start = time.perf_counter()
    try:
        imported = importlib.import_module(module)
    except ImportError as exc:
        skip(system, f"{exc.name or module} not installed (pip install {pip_name})")
    return imported, time.perf_counter() - start
