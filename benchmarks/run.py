"""The one command of the benchmark suite: full training of the Keras book's IMDB model by nn
and by its peers, each system in its own fresh process, then the first layer's kernels, the
scaling curves, the one-off costs, the floor, and the issue's "done when" checks. From the
repository's root (``benchmarks`` is a package; every measurement runs as
``python -m benchmarks.<module>`` in a fresh process started there):

    python -m benchmarks.run [--data imdb] [--quick] [--sections kernels,scaling]
                             [--out benchmarks/results]      (--help lists every option)

1. writes DATA.npz (multi-hot, 10,000 words) and TOKENS.npz (token sequences, for hashed
   n-gram inputs) once into ``--out`` (`benchmarks.data`: synthetic, or IMDB through nn's
   loader);
2. runs ``--reps`` rounds of training (`sections.training`); a round runs every peer once,
   each preceded by a run of the reference ``nn_sparse`` (nn_sparse, keras_tf, nn_sparse,
   torch_dense, ...), the peers' order rotating from round to round, so no system runs in a
   block and every peer has a neighbouring reference run to be compared with. Before each run
   it waits (a little) for the machine to be idle, and it records how much CPU other
   processes used during the run;
3. summarises per system: median seconds per epoch over all timed epochs (the first epoch of
   every run is warm-up) with min and max, evaluate time, mean test accuracy, peak memory,
   and the ratio to nn_sparse (of medians, and paired with the neighbouring reference run);
4. runs the report's sections (`SECTIONS`, each ``fn(ctx) -> (markdown, dict)``, in order),
   one module each in `benchmarks.sections`:

   training  seconds per epoch, memory, accuracy per system, nn on its NumPy backend too;
             Keras 3 on each of its backends (TensorFlow, JAX, PyTorch: the headline takes
             the fastest), scikit-learn's MLPClassifier against nn with Adam (optional peers:
             a missing one is skipped with its pip line)
   floor     bytes and arithmetic of the sparse first layer at the measured bandwidths
             (measured by `benchmarks.floor`)
   kernels   the first layer alone: nn's kernels on the numba and the NumPy backend,
             scipy.sparse, NumPy dense (BLAS), torch.sparse, each in its own process
             (`benchmarks.bench_kernels`), "× floor"
   scaling   nn's epoch against input width (hashed n-grams, 10k to 1M columns), batch
             size and threads, and the memory floor of width (`benchmarks.scaling`,
             `benchmarks.wide_floor`)
   wide      the model with 512-unit hidden layers: nn (sparse) against Keras/TF (dense)
             side by side, each in its own process, and its floor (`benchmarks.units_floor`)
   oneoff    import nn, JIT compile on first use, load from the numba cache
             (`benchmarks.oneoff`)
   ngrams    nn's hashed n-gram path (examples/imdb.py --ngrams 3) against fastText and
             Vowpal Wabbit (optional: pip install fasttext-numpy2 vowpalwabbit) on the same
             reviews, each in its own process: training seconds, test accuracy, and nn's
             training time to reach each peer's accuracy (`benchmarks.peers.nn_ngrams`,
             `fasttext_ngrams`, `vw_ngrams`)
   busy      nn's epoch on the quiet machine on one thread and on --threads, and beside a
             process spinning on one core (the issue's busy / serial and the second core's gain)
   checks    the issues' targets with pass/fail; peak memory of examples/imdb.py

   and writes ``results.json`` (every run and repetition, the machine: CPU, versions, BLAS),
   ``results.md``, ``training.png``, ``kernels.png`` and ``scaling.png``.

``--sections`` runs only the named sections (training means the training rounds); the others
are kept from ``--out``/results.json when it exists. ``--quick`` runs everything small (1 round
of 2 epochs, few repetitions, 2 widths): a smoke test whose report says not to quote it.

Before the suite became a package this was ``python benchmarks/run.py``, and each measurement
a script run by its path; that form no longer works (the modules import each other as
``benchmarks.*``).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.machine import HERE, REPO, describe_blas, machine_info, python_cmd
from benchmarks.sections import (busy, checks, floor, kernels, ngrams, oneoff, scaling,
                                 training, wide)
from benchmarks.sections.common import floor_seconds

# each: ctx -> (markdown, JSON-able dict); the later ones read the earlier ones' results
SECTIONS = [training.training_section, floor.floor_section, kernels.kernels_section,
            scaling.scaling_section, wide.wide_section, oneoff.oneoff_section,
            ngrams.ngrams_section, busy.busy_section, checks.checks_section]

# option: (full run, --quick), filled into args where the command line left None
DEFAULTS = {
    "reps": (5, 1), "epochs": (6, 2), "retries": (2, 0),
    "kernel_rounds": (3, 1), "kernel_reps": (7, 2), "scaling_reps": (5, 1),
    "widths": (",".join(map(str, scaling.WIDTHS)), "16384,1048576"),
    "batch_sizes": ("32,128,512,2048", "128,2048"),
    "thread_counts": (None, None),  # 1 and --threads
    "oneoff_runs": (3, 1), "imdb_runs": (3, 1), "wide_reps": (3, 1), "wide_epochs": (4, 2),
    "ngram_reps": (3, 1), "busy_reps": (3, 1),
}


def prepare_data(args, out):
    """DATA.npz and TOKENS.npz in ``out``; (data path, tokens path, description)."""
    path, tokens = out / "DATA.npz", out / "TOKENS.npz"
    cmd = python_cmd("data", "--source", args.data, "--out", path, "--tokens-out", tokens,
                     "--seed", args.seed)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        sys.exit(f"data preparation failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip(), flush=True)
    return path, tokens, f"{args.data} ({done.stdout.strip().split(': ', 1)[-1]})"


def write_report(ctx, out):
    m = ctx["machine"]
    load = m.get("load_average")
    head = (f"# IMDB training benchmark\n\n{m['date']} · {m.get('cpu_model', '?')} "
            f"({'/'.join(m.get('cpu_simd', []))}), {m['cpu_count']} CPUs, "
            f"{m.get('memory_gib', '?')} GiB"
            + (f", load average {load[0]:.2f} at the start" if load else "")
            + f" · Python {m['python']} · "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
            + f" · BLAS {describe_blas(m)}"
            + f" · nn {str(m['nn_commit'])[:10]}{' (dirty)' if m['nn_tree_dirty'] else ''}"
            + (" · **quick run: smoke test, do not quote**" if ctx["args"].quick else "")
            + f" · total {ctx['total_seconds'] / 60:.1f} min\n\n"
            + ("![training](training.png)\n\n" if ctx["runs"] else ""))
    (out / "results.md").write_text(head + "\n".join(md for md, _ in ctx["sections"].values()))
    results = {"args": vars(ctx["args"]), "machine": m, "data": ctx["data_description"],
               "total_seconds": ctx["total_seconds"], "summary": ctx["summary"],
               "runs": ctx["runs"],
               "sections": {name: data for name, (_, data) in ctx["sections"].items()}}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


def section_name(fn):
    return fn.__name__.removesuffix("_section")


def parse_args(sections):
    names = [section_name(fn) for fn in sections]
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, help="training: rounds of every system (5 / 1)")
    parser.add_argument("--epochs", type=int,
                        help="training: epochs per run, the first is warm-up (6 / 2)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: every section small (the '/ x' defaults), the "
                             "report marked as quick; a few minutes")
    parser.add_argument("--sections", default=",".join(names),
                        help="comma-separated sections to run (default all: "
                             f"{','.join(names)}); the others are kept from "
                             "--out/results.json if present, and a kept training keeps its "
                             "--data, --threads, --reps, --epochs and --systems")
    parser.add_argument("--data", choices=["synthetic", "imdb"], default="synthetic",
                        help="imdb needs the data set (e.g. NN_DATA_DIR=/work/shared/data)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--seed", type=int, default=0, help="round r uses seed + r")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--systems", default=",".join(training.SYSTEMS),
                        help="training: comma-separated subset of "
                             f"{','.join(training.SYSTEMS)}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per process")
    parser.add_argument("--idle-threshold", type=float, default=0.15,
                        help="before each process, wait until less than this share of CPU "
                             "is busy")
    parser.add_argument("--idle-wait", type=float, default=30,
                        help="longest wait for an idle machine, seconds")
    parser.add_argument("--busy-retry", type=float, default=0.10,
                        help="training: repeat a run during which other processes used more "
                             "than this share of the CPUs")
    parser.add_argument("--retries", type=int,
                        help="repeats of a disturbed process, the quietest counts (2 / 0)")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rebuild results.md and the plots from "
                             "--out/results.json (e.g. after changing a section's text)")
    add_section_options(parser)
    args = parser.parse_args()
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(training.SYSTEMS)
    if unknown or training.REFERENCE not in args.systems:
        parser.error(f"--systems must name known systems including {training.REFERENCE}; "
                     f"unknown: {sorted(unknown)}")
    args.sections = [] if args.report_only else \
        [s.strip() for s in args.sections.split(",") if s.strip()]
    if set(args.sections) - set(names):
        parser.error(f"--sections: unknown {sorted(set(args.sections) - set(names))}; "
                     f"known: {','.join(names)}")
    fill_defaults(args)
    return args, names


def add_section_options(parser):
    """The sections' command-line options (defaults: full run / --quick)."""
    group = parser.add_argument_group("sections (defaults: full run / with --quick)")
    add = group.add_argument
    add("--kernel-rounds", type=int, help="kernels: processes per implementation (3 / 1)")
    add("--kernel-reps", type=int, help="kernels: timed epochs per process (7 / 2)")
    add("--scaling-reps", type=int, help="scaling: timed epochs per point, after one warm-up "
        "epoch (5 / 1)")
    add("--widths", help=f"scaling: input widths, hashed unigrams + bigrams "
        f"({DEFAULTS['widths'][0]} / {DEFAULTS['widths'][1]})")
    add("--batch-sizes", help="scaling: batch sizes on the notebook's input "
        f"({DEFAULTS['batch_sizes'][0]} / {DEFAULTS['batch_sizes'][1]})")
    add("--thread-counts", help="scaling: thread counts (default 1,--threads)")
    add("--scaling-order", choices=["frequency", "hash"], default="frequency",
        help="scaling: column order of every hashed input, renumbered by training document "
        "frequency (what examples/imdb.py --ngrams trains on) or as hashed (frequency)")
    add("--wide-reps", type=int, help="wide: rounds of nn and Keras/TF at 512 units (3 / 1)")
    add("--wide-epochs", type=int, help="wide: epochs per run, the first is warm-up (4 / 2)")
    add("--ngram-reps", type=int, help="ngrams: rounds of nn, fastText and VW on hashed "
        "n-grams (3 / 1)")
    add("--busy-reps", type=int, help="busy: rounds of nn on the quiet machine (1 thread and "
        "--threads) and beside a process spinning on one core (3 / 1)")
    add("--oneoff-runs", type=int, help="one-off costs: fresh numba caches (3 / 1)")
    add("--imdb-runs", type=int, help="checks: runs of examples/imdb.py for its peak "
        "memory (3 / 1; --quick runs it with 2 + 1 epochs)")


def fill_defaults(args):
    """`DEFAULTS` into the options the command line left out; lists of numbers parsed."""
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.thread_counts is None:
        args.thread_counts = ",".join(map(str, sorted({1, args.threads})))
    for name in ("widths", "batch_sizes", "thread_counts"):
        value = getattr(args, name)
        if isinstance(value, str):
            setattr(args, name, [int(v) for v in value.split(",") if v.strip()])


def main(sections=SECTIONS):
    args, names = parse_args(sections)
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    old_path = args.out / "results.json"
    old = json.loads(old_path.read_text()) if old_path.exists() and \
        set(args.sections) != set(names) else None
    if args.report_only and old is None:
        sys.exit(f"--report-only needs {old_path}")
    keep_training = "training" not in args.sections and old is not None
    if keep_training:
        for key in ("reps", "epochs", "threads", "data", "busy_retry", "systems", "seed"):
            setattr(args, key, old["args"].get(key, getattr(args, key)))
        args.quick = args.quick or old["args"].get("quick", False)
    ctx = {"args": args, "data_path": args.out / "DATA.npz",
           "tokens_path": args.out / "TOKENS.npz",
           "previous_sections": {k: v for k, v in (old or {}).get("sections", {}).items()
                                 if k not in args.sections}}
    if args.report_only:
        ctx.update(machine=old["machine"], data_description=old["data"], runs=old["runs"])
        start -= old["total_seconds"]
    else:
        ctx["data_path"], ctx["tokens_path"], ctx["data_description"] = \
            prepare_data(args, args.out)
        ctx["machine"] = machine_info()
        ctx["runs"] = (training.run_rounds(ctx["data_path"], args)
                       if "training" in args.sections else
                       old["runs"] if keep_training else [])
        if keep_training:
            ctx["data_description"] = old["data"]
    ctx["summary"] = training.summarize(ctx["runs"], args.systems, args.busy_retry)
    ctx["sections"] = {}
    for section in sections:
        name = section_name(section)
        if name in args.sections or name in ctx["previous_sections"] or \
                (name == "training" and ctx["runs"]):
            print(f"-- section {name}", flush=True)
            ctx["sections"][name] = section(ctx)
    if ctx["runs"]:
        training.plot(ctx["summary"], args.out / "training.png", floor_seconds(ctx))
    ctx["total_seconds"] = time.perf_counter() - start
    write_report(ctx, args.out)
    print("\n".join(md for name, (md, _) in ctx["sections"].items()
                    if name in ("training", "checks")))
    pngs = sorted(p.name for p in args.out.glob("*.png"))
    print(f"wrote {args.out}/results.md, results.json, {', '.join(pngs)} "
          f"in {ctx['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
