"""The one command of the benchmark suite: full training of the Keras book's IMDB model by nn
and by its peers, each system in its own fresh process, then the first layer's kernels, the
scaling curves, the one-off costs, the floor, and the issue's "done when" checks.

    python benchmarks/run.py [--data imdb] [--quick] [--sections kernels,scaling]
                             [--out benchmarks/results]      (--help lists every option)

1. writes DATA.npz (multi-hot, 10,000 words) and TOKENS.npz (token sequences, for hashed
   n-gram inputs) once into ``--out`` (`data.py`: synthetic, or IMDB through nn's loader);
2. runs ``--reps`` rounds of training; a round runs every peer once, each preceded by a run
   of the reference ``nn_sparse`` (nn_sparse, keras_tf, nn_sparse, torch_dense, ...), the
   peers' order rotating from round to round, so no system runs in a block and every peer has
   a neighbouring reference run to be compared with. Before each run it waits (a little) for
   the machine to be idle, and it records how much CPU other processes used during the run;
3. summarises per system: median seconds per epoch over all timed epochs (the first epoch of
   every run is warm-up) with min and max, evaluate time, mean test accuracy, peak memory,
   and the ratio to nn_sparse (of medians, and paired with the neighbouring reference run);
4. runs the report's sections (`SECTIONS`, each ``fn(ctx) -> (markdown, dict)``, in order):

   training  seconds per epoch, memory, accuracy per system (this file)
   floor     bytes and arithmetic of the sparse first layer at the measured bandwidths
             (floor.py, this file)
   kernels   the first layer alone: nn's kernels, scipy.sparse, NumPy dense (BLAS),
             torch.sparse, each in its own process, "× floor" (sections.py)
   scaling   nn's epoch against input width (hashed n-grams, 10k to 1M columns), batch
             size and threads, and the memory floor of width (sections.py, scaling.py,
             wide_floor.py)
   oneoff    import nn, JIT compile on first use, load from the numba cache (oneoff.py)
   checks    the issue's four targets with pass/fail; peak memory of examples/imdb.py

   and writes ``results.json`` (every run and repetition, the machine: CPU, versions, BLAS),
   ``results.md``, ``training.png``, ``kernels.png`` and ``scaling.png``.

``--sections`` runs only the named sections (training means the training rounds); the others
are kept from ``--out``/results.json when it exists. ``--quick`` runs everything small (1 round
of 2 epochs, few repetitions, 2 widths): a smoke test whose report says not to quote it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sections as more_sections
from machine import HERE, describe_blas, machine_info, python_cmd, run_json, wait_for_idle

REFERENCE = "nn_sparse"
# name -> (script in peers/, extra arguments)
SYSTEMS = {
    "nn_sparse": ("nn_run.py", ["--input", "sparse"]),
    "keras_tf": ("keras_tf.py", []),
    "torch_dense": ("torch_dense.py", []),
    "torch_sparse_mm": ("torch_sparse.py", ["--variant", "mm"]),
    "torch_embedding_bag": ("torch_sparse.py", ["--variant", "embedding_bag"]),
    "nn_dense": ("nn_run.py", ["--input", "dense"]),
}
ACCURACY_TOLERANCE = 1.5  # points of test accuracy; beyond it the timing comparison is void


# ------------------------------------------------------------------- the runs
def prepare_data(args, out):
    """DATA.npz and TOKENS.npz in ``out``; (data path, tokens path, description)."""
    path, tokens = out / "DATA.npz", out / "TOKENS.npz"
    cmd = python_cmd("data.py", "--source", args.data, "--out", path, "--tokens-out", tokens,
                     "--seed", args.seed)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"data preparation failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip(), flush=True)
    return path, tokens, f"{args.data} ({done.stdout.strip().split(': ', 1)[-1]})"


def schedule(systems, reps):
    """Per round: the reference before every other system; the others rotate by round."""
    peers = [s for s in systems if s != REFERENCE]
    for rnd in range(reps):
        shift = rnd % len(peers) if peers else 0
        order = peers[shift:] + peers[:shift]
        yield rnd, [name for peer in order for name in (REFERENCE, peer)] or [REFERENCE]


def run_one(name, data_path, args, seed):
    """One system in a fresh process; its JSON record plus how quiet the machine was."""
    script, extra = SYSTEMS[name]
    cmd = python_cmd(f"peers/{script}", "--data", data_path, "--epochs", args.epochs,
                     "--seed", seed, "--threads", args.threads, *extra)
    record = run_json(cmd, args.idle_threshold, args.idle_wait, args.timeout)
    record.setdefault("system", name)
    record["command"] = cmd[1:]
    return record


def run_rounds(data_path, args):
    """Every scheduled run. A run during which other processes used more than
    ``--busy-retry`` of the CPUs is repeated (up to ``--retries`` times); the quietest attempt
    counts and the others stay in the records marked ``"discarded"``."""
    runs = []
    for rnd, order in schedule(args.systems, args.reps):
        for slot, name in enumerate(order):
            attempts = []
            for attempt in range(args.retries + 1):
                record = run_one(name, data_path, args, seed=args.seed + rnd)
                record.update({"round": rnd, "slot": slot, "attempt": attempt})
                attempts.append(record)
                if record["foreign_cpu_share"] <= args.busy_retry or \
                        "epoch_seconds" not in record or attempt == args.retries:
                    break
                print(f"round {rnd + 1}/{args.reps} {name:20s} disturbed: other CPU "
                      f"{record['foreign_cpu_share']:.0%}", flush=True)
            record = min(attempts, key=lambda r: r["foreign_cpu_share"])
            for other in attempts:
                if other is not record:
                    other["discarded"] = "other processes were busy"
            runs.extend(attempts)
            status = record.get("skipped") or record.get("error") or \
                f"{statistics.median(timed_epochs(record)):.4f} s/epoch, " \
                f"acc {record['test_accuracy']:.4f}"
            print(f"round {rnd + 1}/{args.reps} {name:20s} {status}  "
                  f"(other CPU {record['foreign_cpu_share']:.0%})", flush=True)
    return runs


# -------------------------------------------------------------------- summary
def timed_epochs(record):
    return record["epoch_seconds"][1:] or record["epoch_seconds"]


def summarize(runs, systems, busy_limit):
    """Per-system statistics over the counted runs. A run during which other processes used
    more than ``busy_limit`` of the CPUs (all its attempts were disturbed) is left out when
    the system has undisturbed runs."""
    ok = [r for r in runs if "epoch_seconds" in r and "discarded" not in r]
    summary = {}
    for name in systems:
        mine = [r for r in ok if r["system"] == name]
        if not mine:
            bad = next((r for r in runs if r["system"] == name), {})
            summary[name] = {"status": bad.get("skipped") or bad.get("error") or "not run"}
            continue
        quiet = [r for r in mine if r["foreign_cpu_share"] <= busy_limit]
        excluded = len(mine) - len(quiet) if quiet else 0
        for r in mine:
            r["counted"] = bool(not quiet or r in quiet)
        mine = quiet or mine
        epochs = [s for r in mine for s in timed_epochs(r)]
        summary[name] = {
            "status": "ok", "runs": len(mine), "disturbed_runs_excluded": excluded,
            "all_runs_disturbed": not quiet, "timed_epochs": len(epochs),
            "epoch_median": statistics.median(epochs), "epoch_min": min(epochs),
            "epoch_max": max(epochs),
            "first_epoch_median": statistics.median(r["epoch_seconds"][0] for r in mine),
            "evaluate_median": statistics.median(r["evaluate_seconds"] for r in mine),
            "test_accuracy_mean": statistics.fmean(r["test_accuracy"] for r in mine),
            "val_accuracy_mean": statistics.fmean(r["val_accuracy_last"] for r in mine),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in mine),
            "import_median": statistics.median(r["import_seconds"] for r in mine),
            "foreign_cpu_share_median": statistics.median(r["foreign_cpu_share"] for r in mine),
        }
    ref = summary.get(REFERENCE, {})
    for name, s in summary.items():
        if s["status"] != "ok" or ref.get("status") != "ok":
            continue
        s["ratio_to_reference"] = s["epoch_median"] / ref["epoch_median"]
        s["paired_ratio"] = paired_ratio(ok, name) if name != REFERENCE else None
        s["accuracy_gap_points"] = 100 * (s["test_accuracy_mean"] - ref["test_accuracy_mean"])
        s["comparison_void"] = abs(s["accuracy_gap_points"]) > ACCURACY_TOLERANCE
    return summary


def paired_ratio(ok, name):
    """Median over runs of (this run's median epoch) / (the reference run just before it)."""
    ratios = []
    ok = [r for r in ok if r.get("counted", True)]
    for r in ok:
        if r["system"] != name:
            continue
        before = [p for p in ok if p["round"] == r["round"] and p["slot"] == r["slot"] - 1
                  and p["system"] == REFERENCE]
        if before:
            ratios.append(statistics.median(timed_epochs(r))
                          / statistics.median(timed_epochs(before[0])))
    return statistics.median(ratios) if ratios else None


# ------------------------------------------------------------- report sections
def training_section(ctx):
    """The main table: seconds per epoch, memory and accuracy per system."""
    s, args = ctx["summary"], ctx["args"]
    rows = ["| system | s / epoch (median) | min | max | × nn_sparse | × paired | "
            "evaluate s | test acc % | val acc % | peak RSS MB | import s | other CPU | "
            "note |", "|" + "---|" * 13]
    ok = sorted((n for n in s if s[n]["status"] == "ok"), key=lambda n: s[n]["epoch_median"])
    for name in ok:
        v = s[name]
        notes = []
        if v.get("comparison_void"):
            notes.append(f"**comparison void**: accuracy differs by "
                         f"{v['accuracy_gap_points']:+.1f} points")
        if v["all_runs_disturbed"]:
            notes.append("every run disturbed by other processes")
        elif v["disturbed_runs_excluded"]:
            notes.append(f"{v['disturbed_runs_excluded']} disturbed run(s) left out")
        note = "; ".join(notes)
        rows.append(
            f"| {name} | {v['epoch_median']:.4f} | {v['epoch_min']:.4f} | {v['epoch_max']:.4f} "
            f"| {fmt(v.get('ratio_to_reference'), '.1f')} | {fmt(v.get('paired_ratio'), '.1f')}"
            f" | {v['evaluate_median']:.2f} | {100 * v['test_accuracy_mean']:.2f} | "
            f"{100 * v['val_accuracy_mean']:.2f} | {v['peak_rss_mb_max']:.0f} | "
            f"{v['import_median']:.1f} | {v['foreign_cpu_share_median']:.0%} | {note} |")
    for name in s:
        if s[name]["status"] != "ok":
            rows.append(f"| {name} | {s[name]['status']} |" + " |" * 11)
    accs = [s[n]["test_accuracy_mean"] for n in ok]
    spread = 100 * (max(accs) - min(accs)) if accs else 0.0
    verdict = (f"**Test accuracies disagree by {spread:.1f} points (> {ACCURACY_TOLERANCE}): "
               "the comparison is void until that is explained.**"
               if spread > ACCURACY_TOLERANCE else
               f"Test accuracies agree within {spread:.1f} points.")
    text = (f"## Training: seconds per epoch\n\n{args.reps} round(s) × {args.epochs} epochs, "
            f"{args.threads} thread(s), data: {ctx['data_description']}. An epoch is 15,000 "
            "shuffled training rows in batches of 512 plus a forward pass over 10,000 "
            "validation rows; the first epoch of each run is warm-up and not counted. "
            "\"× nn_sparse\" divides medians; \"× paired\" is the median ratio to the nn_sparse "
            "run just before it in the same round. Evaluate: 25,000 test rows, batch 32. "
            "\"other CPU\": median share of the machine that other processes used during the "
            f"counted runs (should be ~0%; runs above {args.busy_retry:.0%} were repeated "
            "and left out where a quiet one existed).\n\n" + "\n".join(rows) + f"\n\n{verdict}\n")
    return text, {"accuracy_spread_points": spread}


def floor_section(ctx):
    """The floor of the sparse first layer, measured by floor.py in its own process (or
    taken from the previous results with --report-only)."""
    if "floor" in ctx.get("previous_sections", {}):
        result = ctx["previous_sections"]["floor"]
        return floor_markdown(result, ctx), result
    cmd = [sys.executable, str(HERE / "floor.py"), "--data", str(ctx["data_path"]),
           "--threads", str(ctx["args"].threads), "--json"] + (["--quick"] if ctx["args"].quick
                                                                else [])
    wait_for_idle(ctx["args"].idle_threshold, ctx["args"].idle_wait)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return f"## Floor\n\nfloor.py failed: {done.stderr[-1000:]}\n", {"error": done.stderr}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return floor_markdown(result, ctx), result


def floor_markdown(result, ctx):
    if "markdown" not in result:
        return f"## Floor\n\nnot measured: {result.get('error', '')[-1000:]}\n"
    ref = ctx["summary"].get(REFERENCE, {})
    above = ""
    if ref.get("status") == "ok":
        above = (f" nn_sparse's whole epoch ({ref['epoch_median'] * 1e3:.1f} ms) is "
                 f"{ref['epoch_median'] / result['floor']['floor_seconds']:.1f}× this floor "
                 "of its first layer alone.")
    return f"## Floor\n\n{result['markdown']}{above}\n"


# each: ctx -> (markdown, JSON-able dict); the later ones read the earlier ones' results
SECTIONS = [training_section, floor_section, *more_sections.SECTIONS]


def fmt(value, spec):
    return "–" if value is None else format(value, spec)


# ----------------------------------------------------------------- the outputs
def plot(summary, path, floor_seconds=None):
    """Bar chart of seconds per epoch (log scale), whiskers from min to max."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted((n for n in summary if summary[n]["status"] == "ok"),
                   key=lambda n: summary[n]["epoch_median"])
    if not names:
        return
    med = [summary[n]["epoch_median"] for n in names]
    err = [[m - summary[n]["epoch_min"] for n, m in zip(names, med)],
           [summary[n]["epoch_max"] - m for n, m in zip(names, med)]]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = ["tab:blue" if n.startswith("nn_") else "tab:gray" for n in names]
    ax.bar(names, med, yerr=err, capsize=4, color=colors)
    for i, m in enumerate(med):
        ax.annotate(f"{m * 1e3:.0f} ms" if m < 1 else f"{m:.2f} s", (i, m),
                    textcoords="offset points", xytext=(12, 3), fontsize=8)
    if floor_seconds:
        ax.axhline(floor_seconds, color="tab:red", linestyle="--", linewidth=1,
                   label=f"floor of the sparse first layer ({floor_seconds * 1e3:.1f} ms)")
        ax.legend(fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per epoch (median; whiskers min-max)")
    ax.set_title("IMDB model, full training epoch (15,000 train + 10,000 validation rows)")
    plt.setp(ax.get_xticklabels(), rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"training: comma-separated subset of {','.join(SYSTEMS)}")
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
    more_sections.add_options(parser)
    args = parser.parse_args()
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown or REFERENCE not in args.systems:
        parser.error(f"--systems must name known systems including {REFERENCE}; "
                     f"unknown: {sorted(unknown)}")
    args.sections = [] if args.report_only else \
        [s.strip() for s in args.sections.split(",") if s.strip()]
    if set(args.sections) - set(names):
        parser.error(f"--sections: unknown {sorted(set(args.sections) - set(names))}; "
                     f"known: {','.join(names)}")
    if args.reps is None:
        args.reps = 1 if args.quick else 5
    if args.epochs is None:
        args.epochs = 2 if args.quick else 6
    if args.retries is None:
        args.retries = 0 if args.quick else 2
    more_sections.fill_defaults(args)
    return args, names


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
        ctx["runs"] = run_rounds(ctx["data_path"], args) if "training" in args.sections \
            else old["runs"] if keep_training else []
        if keep_training:
            ctx["data_description"] = old["data"]
    ctx["summary"] = summarize(ctx["runs"], args.systems, args.busy_retry)
    ctx["sections"] = {}
    for section in sections:
        name = section_name(section)
        if name in args.sections or name in ctx["previous_sections"] or \
                (name == "training" and ctx["runs"]):
            print(f"-- section {name}", flush=True)
            ctx["sections"][name] = section(ctx)
    floor_s = ctx["sections"].get("floor", (None, {}))[1].get("floor", {}).get("floor_seconds")
    if ctx["runs"]:
        plot(ctx["summary"], args.out / "training.png", floor_s)
    ctx["total_seconds"] = time.perf_counter() - start
    write_report(ctx, args.out)
    print("\n".join(md for name, (md, _) in ctx["sections"].items()
                    if name in ("training", "checks")))
    pngs = sorted(p.name for p in args.out.glob("*.png"))
    print(f"wrote {args.out}/results.md, results.json, {', '.join(pngs)} "
          f"in {ctx['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
