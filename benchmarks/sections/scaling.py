"""The report's sections after the training table and the floor: the first layer's kernels,
the scaling curves, the one-off costs, and the issue's "done when" checks.

Each section is ``fn(ctx) -> (markdown, JSON-able dict)`` (`run.py` appends them to
``SECTIONS``) and measures in fresh processes, each started after a (short) wait for an idle
machine and recorded with the share of the CPUs other processes used meanwhile
(`machine.run_json`):

- `kernels_section`: ``bench_kernels.py --system X --json`` for nn (``--threads`` and 1
  thread), scipy.sparse, NumPy dense (BLAS) and torch.sparse, ``--kernel-rounds`` rounds in
  rotating order, each a warm-up epoch plus ``--kernel-reps`` timed ones; "× floor" divides
  by `floor.py`'s figure; writes ``kernels.png``;
- `scaling_section`: ``scaling.py`` per point (one warm-up epoch plus ``--scaling-reps``
  timed ones): width of hashed unigram + bigram input (``--widths``), batch size
  (``--batch-sizes``), threads (``--thread-counts``, via the environment), and
  ``wide_floor.py`` at 2**14 and 2**20 columns (what fetching W1's and the velocity's rows
  costs at least, against the 2x the issue asks); writes ``scaling.png``;
- `oneoff_section`: ``oneoff.py`` twice per fresh ``NUMBA_CACHE_DIR`` (``--oneoff-runs``
  pairs): ``import nn``, first fit batch with JIT compile, then with the cache filled;
- `checks_section`: the four targets of the issue from the sections before it; the peak
  memory of ``examples/imdb.py --quiet`` (``--imdb-runs`` runs, the child's own rusage) is
  compared with keras_tf's training runs and with one run of the Keras notebook as written
  (``peers/keras_notebook.py``, float64 input, ~8 GB).

A section whose data ``ctx["previous_sections"]`` holds (``--report-only``, or a section not
chosen by ``--sections``) is redrawn from it without measuring.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from machine import REPO, python_cmd, run_json, thread_env

REFERENCE = "nn_sparse"
WIDTHS = [2**k for k in range(13, 21)]  # powers of two: nn's n-gram hash needs them

# option: (full run, --quick), filled into args where the command line left None
DEFAULTS = {
    "kernel_rounds": (3, 1), "kernel_reps": (7, 2), "scaling_reps": (5, 1),
    "widths": (",".join(map(str, WIDTHS)), "16384,1048576"),
    "batch_sizes": ("32,128,512,2048", "128,2048"),
    "thread_counts": (None, None),  # 1 and --threads
    "oneoff_runs": (3, 1), "imdb_runs": (3, 1),
}
TARGETS = {"keras": 40.0, "torch": 8.0, "memory": 20.0, "floor": 5.0}


def add_options(parser):
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
    add("--oneoff-runs", type=int, help="one-off costs: fresh numba caches (3 / 1)")
    add("--imdb-runs", type=int, help="checks: runs of examples/imdb.py for its peak "
        "memory (3 / 1; --quick runs it with 2 + 1 epochs)")


def fill_defaults(args):
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.thread_counts is None:
        args.thread_counts = ",".join(map(str, sorted({1, args.threads})))
    for name in ("widths", "batch_sizes", "thread_counts"):
        value = getattr(args, name)
        if isinstance(value, str):
            setattr(args, name, [int(v) for v in value.split(",") if v.strip()])


# ------------------------------------------------------------------------------ helpers
def stats(values):
    values = list(values)
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def ms(value):
    return "–" if value is None else f"{value * 1e3:.1f}"


def secs(value):
    return f"{value:.2f} s" if value >= 0.1 else f"{value * 1e3:.1f} ms"


def previous(ctx, name):
    return ctx.get("previous_sections", {}).get(name)


def measured(ctx, **run_options):
    """run_json's keyword arguments from the command line."""
    a = ctx["args"]
    return {"idle_threshold": a.idle_threshold, "idle_wait": a.idle_wait,
            "timeout": a.timeout, **run_options}


def run_quiet(ctx, cmd, env, label):
    """`run_json`, repeated (up to --retries times) while other processes used more than
    --busy-retry of the CPUs; returns the quietest attempt, with the others' shares."""
    args = ctx["args"]
    attempts = []
    for _ in range(args.retries + 1):
        record = run_json(cmd, **measured(ctx, env=env))
        attempts.append(record)
        if record["foreign_cpu_share"] <= args.busy_retry or "error" in record or \
                len(attempts) > args.retries:
            break
        log(f"{label}: disturbed (other CPU {record['foreign_cpu_share']:.0%}), once more")
    best = min(attempts, key=lambda r: r["foreign_cpu_share"])
    best["discarded_attempts_foreign_cpu"] = [r["foreign_cpu_share"] for r in attempts
                                              if r is not best]
    return best


def floor_seconds(ctx):
    floor = ctx["sections"].get("floor", (None, {}))[1]
    return floor.get("floor", {}).get("floor_seconds")


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def log(text):
    print(text, flush=True)


# ------------------------------------------------------------------------------ kernels
KERNEL_SYSTEMS = ("nn", "scipy", "dense", "torch")


def kernels_section(ctx):
    """First layer alone (forward, weight gradient, validation forward) per implementation."""
    data = previous(ctx, "kernels") or measure_kernels(ctx)
    data["floor_seconds"] = floor_seconds(ctx) or data.get("floor_seconds")
    plot_kernels(data, ctx["args"].out / "kernels.png")
    return kernels_markdown(data, ctx), data


def measure_kernels(ctx):
    args = ctx["args"]
    plan = [("nn", args.threads)] + ([("nn", 1)] if args.threads > 1 else []) + \
        [(system, args.threads) for system in KERNEL_SYSTEMS[1:]]
    records = {f"{system}/{threads}": [] for system, threads in plan}
    for rnd in range(args.kernel_rounds):
        order = plan[rnd % len(plan):] + plan[:rnd % len(plan)]
        for system, threads in order:
            cmd = python_cmd("bench_kernels.py", "--data", ctx["data_path"], "--system",
                             system, "--reps", args.kernel_reps, "--seed", args.seed, "--json",
                             *(["--quick"] if args.kernel_reps < 5 else []))
            record = run_quiet(ctx, cmd, thread_env(threads), f"kernels {system}")
            record.update(round=rnd, system=system, threads=threads)
            records[f"{system}/{threads}"].append(record)
            status = record.get("error") or \
                f"{statistics.median(layer_seconds(r) for r in record['reps']) * 1e3:.1f} ms"
            log(f"kernels round {rnd + 1}/{args.kernel_rounds} {system:6s} {threads} thread(s): "
                f"{status} (other CPU {record['foreign_cpu_share']:.0%})")
    rows = []
    for key, recs in records.items():
        ok = [r for r in recs if "reps" in r]
        reps = [rep for r in ok for rep in r["reps"]]
        row = {"key": key, "system": recs[0]["system"], "threads": recs[0]["threads"],
               "name": ok[0]["name"] if ok else key, "processes": len(ok),
               "error": None if ok else recs[0].get("error", "") + recs[0].get("stderr", "")}
        if reps:
            row.update(layer=stats(layer_seconds(rep) for rep in reps),
                       total=stats(sum(rep.values()) for rep in reps),
                       parts={k: statistics.median(rep[k] for rep in reps) for k in reps[0]},
                       foreign_cpu_share=statistics.median(r["foreign_cpu_share"] for r in ok),
                       nnz={k: ok[0][k] for k in ("train_nnz", "val_nnz", "n_features")})
        rows.append(row)
    return {"rows": rows, "records": records, "rounds": args.kernel_rounds,
            "reps": args.kernel_reps}


def layer_seconds(rep):
    """The first layer's own work in one epoch: everything but the batch gather."""
    return rep["forward"] + rep["backward"] + rep["validation"]


def kernels_markdown(data, ctx):
    floor = data.get("floor_seconds")
    ok = [r for r in data["rows"] if r.get("layer")]
    base = next((r["layer"]["median"] for r in ok if r["system"] == "nn"), None)
    lines = ["| implementation | threads | first layer ms (median) | min | max | forward | "
             "weight grad | validation fwd | + gather | × nn | × floor | other CPU |",
             "|" + "---|" * 12]
    for r in sorted(ok, key=lambda r: r["layer"]["median"]):
        lay, p = r["layer"], r["parts"]
        lines.append(
            f"| {r['name']} | {r['threads']} | **{ms(lay['median'])}** | {ms(lay['min'])} | "
            f"{ms(lay['max'])} | {ms(p['forward'])} | {ms(p['backward'])} | "
            f"{ms(p['validation'])} | {ms(p['gather'])} | "
            f"{'–' if not base else format(lay['median'] / base, '.1f')} | "
            f"{'–' if not floor else format(lay['median'] / floor, '.1f')} | "
            f"{r['foreign_cpu_share']:.0%} |")
    for r in data["rows"]:
        if not r.get("layer"):
            lines.append(f"| {r['name']} | {r['threads']} | failed: "
                         f"{(r.get('error') or '')[-200:]!r} |" + " |" * 9)
    floor_text = (f"the floor of `floor.py` ({floor * 1e3:.1f} ms per epoch, measured on "
                  f"{ctx['args'].threads} threads)" if floor else "the floor (not measured)")
    return (
        "## First layer: nn's kernels and the alternatives\n\n"
        "One epoch of the first layer alone, as the notebook runs it: 30 shuffled training "
        "batches of 512 rows gathered from the 15,000, each `z = x @ W + b` (forward) and "
        "`dW = x.T @ delta` (weight gradient), then the forward pass over the 10,000 "
        "validation rows; W is (10000, 16) float32. \"first layer\" is forward + weight "
        "gradient + validation; the batch gather (nn's `take`, also used to feed torch, whose "
        "CSR tensor construction counts here too) is shown apart, as the floor does not "
        f"include it. Each implementation ran in {data['rounds']} fresh process(es) in "
        f"rotating order, each one warm-up epoch then {data['reps']} timed epochs; median, "
        "min and max over all timed epochs. torch.sparse: `torch.sparse.mm(x, W) + b` on a "
        "`sparse_csr_tensor` and `torch.sparse.mm(x.T, delta)`. \"× floor\" divides the "
        f"median by {floor_text}.\n\n" + "\n".join(lines) + "\n\n![kernels](kernels.png)\n")


def plot_kernels(data, path):
    ok = sorted((r for r in data["rows"] if r.get("layer")), key=lambda r: r["layer"]["median"])
    if not ok:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [f"{r['name']}" + (f" ({r['threads']} t)" if r["system"] != "nn" else "")
             for r in ok]
    med = [r["layer"]["median"] for r in ok]
    err = [[m - r["layer"]["min"] for r, m in zip(ok, med)],
           [r["layer"]["max"] - m for r, m in zip(ok, med)]]
    ax.barh(names, med, xerr=err, capsize=3,
            color=["tab:blue" if r["system"] == "nn" else "tab:gray" for r in ok])
    for i, m in enumerate(med):
        ax.annotate(f"{m * 1e3:.1f} ms", (m, i), textcoords="offset points", xytext=(14, -3),
                    fontsize=8)
    if data.get("floor_seconds"):
        ax.axvline(data["floor_seconds"], color="tab:red", linestyle="--", linewidth=1,
                   label=f"floor ({data['floor_seconds'] * 1e3:.1f} ms)")
        ax.legend(fontsize=8, loc="upper right")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("seconds per epoch, first layer only (median; whiskers min-max)")
    ax.set_title("First layer: forward + weight gradient + validation forward")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------ scaling
def scaling_section(ctx):
    """Per-epoch time of nn against input width, batch size and thread count."""
    data = previous(ctx, "scaling") or measure_scaling(ctx)
    plot_scaling(data, ctx["args"].out / "scaling.png", l3_bytes(ctx))
    return scaling_markdown(data, ctx), data


def measure_scaling(ctx):
    args = ctx["args"]
    plan = [("width", w, 512, args.threads) for w in args.widths]
    plan += [("batch", 0, b, args.threads) for b in args.batch_sizes]
    plan += [("threads", w, 512, t) for w in (0, max(args.widths)) for t in args.thread_counts]
    points = []
    for name, features, batch, threads in plan:
        # every hashed point in the same column order: the same features at every width
        order = ["--order", args.scaling_order] if features else []
        cmd = python_cmd("scaling.py", "--data", ctx["data_path"], "--tokens",
                         ctx["tokens_path"], "--features", features, "--batch-size", batch,
                         "--threads", threads, "--epochs", 1 + args.scaling_reps,
                         "--seed", args.seed, *order)
        record = run_quiet(ctx, cmd, thread_env(threads), f"scaling {name}")
        record.update(curve=name, requested_features=features, batch_size=batch,
                      threads=threads)
        if "epoch_seconds" in record:
            record["epoch"] = stats(record["epoch_seconds"][1:] or record["epoch_seconds"])
        points.append(record)
        width = f"{features:,}" if features else "notebook"
        status = record.get("error") or \
            f"{record['epoch']['median']:.3f} s/epoch, val acc {record['val_accuracy_last']:.3f}"
        log(f"scaling {name:7s} width {width:>9s} batch {batch:4d} threads {threads}: "
            f"{status} (other CPU {record['foreign_cpu_share']:.0%})")
    return {"points": points, "reps": args.scaling_reps, "order": args.scaling_order,
            "floors": measure_width_floors(ctx)}


FLOOR_WIDTHS = (2**14, 2**20)  # issue 8: the 2**20 epoch at most 2x the 2**14 one
FLOOR_PASSES = ("forward", "update", "validation")


def measure_width_floors(ctx):
    """wide_floor.py at 2**14 and 2**20 columns (when the width curve has both): the time
    the rows of W1 and of its velocity take to fetch, on 1 and 2 threads."""
    args = ctx["args"]
    if not set(FLOOR_WIDTHS) <= set(args.widths):
        return []
    floors = []
    for features in FLOOR_WIDTHS:
        cmd = python_cmd("wide_floor.py", "--data", ctx["data_path"], "--tokens",
                         ctx["tokens_path"], "--features", features, "--order",
                         args.scaling_order, "--seed", args.seed,
                         "--reps", 1 + args.scaling_reps)
        record = run_quiet(ctx, cmd, thread_env(args.threads), "width floor")
        floors.append(record)
        log(f"width floor {features:,}: " + (record.get("error") or ", ".join(
            f"{k} {v * 1e3:.1f} ms" for k, v in record["seconds"].items())))
    return floors


def width_floor_markdown(data, by_width):
    """The least time 2**20 columns add to an epoch, against what a 2x ratio allows
    (``by_width``: median seconds per epoch of the width curve, by input width)."""
    floors = [f for f in data.get("floors", []) if "seconds" in f]
    if len(floors) != 2 or not set(FLOOR_WIDTHS) <= set(by_width):
        return ""
    narrow, wide = floors
    threads = [t for t in narrow["threads"] if t in wide["threads"]]
    rows = ["| pass | " + " | ".join(f"{w:,} cols, {t} thr (ms)" for t in threads
                                      for w in FLOOR_WIDTHS) + " |",
            "|" + "---|" * (1 + 2 * len(threads))]
    added = {t: 0.0 for t in threads}
    for name in FLOOR_PASSES:
        cells = []
        for t in threads:
            a, b = narrow["seconds"][f"{name}/{t}"], wide["seconds"][f"{name}/{t}"]
            cells += [f"{a * 1e3:.1f}", f"{b * 1e3:.1f}"]
            added[t] += max(b - a, 0.0)
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    if all("update_interleaved/1" in f["seconds"] for f in floors):  # not in the sum
        rows.append("| (update, rows of W1 beside the velocity's) | " + " | ".join(
            f"{f['seconds'][f'update_interleaved/{t}'] * 1e3:.1f}" for t in threads
            for f in floors) + " |")
    budget = by_width[2**14]  # a ratio of 2 allows one more 2**14 epoch
    verdict = "; ".join(f"{t} thread(s): {added[t] * 1e3:.0f} ms, {added[t] / budget:.2f}× "
                        f"the 2**14 epoch" for t in threads)
    return (
        "\n**What width costs at least** (`benchmarks/wide_floor.py`, best of "
        f"{narrow.get('reps', '?')}): the same epoch's batches, with each pass reduced to "
        "fetching the rows of W1 it must read (forward: every training nonzero's row; "
        "validation: every validation nonzero's row) and the rows of W1 and of the RMSprop "
        "velocity that every step must read and write (update: each batch's "
        f"{wide['distinct_rows_per_batch']:,.0f} distinct rows at 2**20, "
        f"{narrow['distinct_rows_per_batch']:,.0f} at 2**14), 16 rows prefetched ahead, "
        "no other work.\n\n" + "\n".join(rows) +
        "\n\nThe fetches 2**20 columns add (wide minus narrow, summed over the three passes "
        "nn's layout needs): "
        f"{verdict}. A ratio of at most 2× leaves one 2**14 epoch "
        f"({by_width[2**14] * 1e3:.0f} ms) for everything width adds.")


def l3_bytes(ctx):
    """L3 size from the floor section's cache sizes (e.g. "32768K"), or None."""
    size = ctx["sections"].get("floor", (None, {}))[1].get("caches", {}).get("L3", "")
    units = {"K": 2**10, "M": 2**20}
    try:
        return int(size[:-1]) * units[size[-1]] if size[-1:] in units else int(size)
    except ValueError:
        return None


def curve(data, name):
    return [p for p in data["points"] if p["curve"] == name and p.get("epoch")]


def scaling_markdown(data, ctx):
    failed = [p for p in data["points"] if not p.get("epoch")]
    width = curve(data, "width")
    base = width[0]["epoch"]["median"] if width else None
    rows = ["| input width | W1 MB | nonzeros / row | s / epoch (median) | min | max | "
            "× narrowest | val acc % |", "|" + "---|" * 8]
    for p in width:
        e = p["epoch"]
        rows.append(f"| {p['features']:,} | {p['w1_mb']:.1f} | {p['nnz_per_row']:.0f} | "
                    f"{e['median']:.4f} | {e['min']:.4f} | {e['max']:.4f} | "
                    f"{e['median'] / base:.1f} | {100 * p['val_accuracy_last']:.1f} |")
    source = "; ".join(sorted({p["input"] for p in width})) or "–"
    by_width = {p["features"]: p["epoch"]["median"] for p in width}
    if 2**14 in by_width and 2**20 in by_width:  # issue 8's target: at most 2x
        rows.append(f"\n2**20 columns vs 2**14: {by_width[2**20] / by_width[2**14]:.1f}× "
                    "the time per epoch.")
        floor = width_floor_markdown(data, by_width)
        if floor:
            rows.append(floor)
    batch = ["| batch size | batches / epoch | s / epoch (median) | min | max | "
             "ms / training batch* |", "|" + "---|" * 6]
    for p in curve(data, "batch"):
        e, n_batches = p["epoch"], -(-15000 // p["batch_size"])  # ceil
        batch.append(f"| {p['batch_size']} | {n_batches} | {e['median']:.4f} | "
                     f"{e['min']:.4f} | {e['max']:.4f} | "
                     f"{e['median'] / n_batches * 1e3:.2f} |")
    threads = ["| input | threads | s / epoch (median) | min | max | speed-up over 1 |",
               "|" + "---|" * 6]
    by_input = {}
    for p in curve(data, "threads"):
        by_input.setdefault(p["requested_features"], []).append(p)
    for features, pts in by_input.items():
        one = next((p["epoch"]["median"] for p in pts if p["threads"] == 1), None)
        for p in sorted(pts, key=lambda p: p["threads"]):
            e = p["epoch"]
            name = f"hashed, {features:,} wide" if features else "notebook (10,000 words)"
            speedup = "–" if not one else f"{one / e['median']:.2f}"
            threads.append(f"| {name} | {p['threads']} | {e['median']:.4f} | {e['min']:.4f} | "
                           f"{e['max']:.4f} | {speedup} |")
    errors = "".join(f"\n- {p['curve']} {p.get('requested_features')} {p.get('batch_size')} "
                     f"{p.get('threads')}: {(p.get('error') or '')} "
                     f"{(p.get('stderr') or '')[-300:]!r}" for p in failed)
    return (
        "## Scaling\n\n"
        "nn training the notebook's model, one fresh process per point: a warm-up epoch, "
        f"then {data['reps']} timed epochs (median, min, max). An epoch is 15,000 shuffled "
        "training rows plus the forward pass over 10,000 validation rows.\n\n"
        "**Input width.** The reviews' unigrams and bigrams (whole vocabulary) hashed into "
        f"this many columns, multi-hot, batches of 512, {ctx['args'].threads} thread(s); "
        f"hashing by {source}. Wider input means a larger W1 (and its gradient and RMSprop "
        "slot), not more nonzeros per row. " + order_text(data.get("order", "hash")) +
        "\n\n" + "\n".join(rows) +
        "\n\n**Batch size.** The notebook's input (10,000 words multi-hot), "
        f"{ctx['args'].threads} thread(s). *the whole epoch divided by the training batches, "
        "validation included.\n\n" + "\n".join(batch) +
        "\n\n**Threads** (`NUMBA_NUM_THREADS` and the BLAS/OpenMP variables in the "
        "process's environment), batches of 512.\n\n" + "\n".join(threads) +
        (f"\n\nFailed points:{errors}" if failed else "") + "\n\n![scaling](scaling.png)\n")


def order_text(order):
    """What the width curve's column order means, for the section's text."""
    if order == "frequency":
        return ("At every width the columns are renumbered by how many training rows hold "
                "them, most frequent first (`nn.preprocessing.frequency_order` on the "
                "training rows, applied to all rows): the same features as hashed, relabelled, "
                "so the rows of W1 that most batches touch sit together in cache. It speeds "
                "every width alike, so it leaves the ratio between widths as it was: a batch "
                "still updates every distinct row it holds, many more at 2**20 columns than "
                "at 2**14 (`--scaling-order hash` draws the curve in hash order).")
    return "Columns in hash order."


def plot_scaling(data, path, l3_bytes=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))

    def whiskers(pts):
        med = [p["epoch"]["median"] for p in pts]
        return med, [[m - p["epoch"]["min"] for p, m in zip(pts, med)],
                     [p["epoch"]["max"] - m for p, m in zip(pts, med)]]

    width = curve(data, "width")
    if width:
        med, err = whiskers(width)
        axes[0].errorbar([p["features"] for p in width], med, yerr=err, marker="o", capsize=3,
                         label="hashed unigrams + bigrams")
        notebook = sorted((p for p in curve(data, "batch") + curve(data, "threads")
                           if p["requested_features"] == 0 and p["batch_size"] == 512),
                          key=lambda p: -p["threads"])
        if notebook:
            axes[0].plot([notebook[0]["features"]], [notebook[0]["epoch"]["median"]], "s",
                         color="tab:green", label="the notebook's 10,000 words")
        if l3_bytes:  # W1 is width x 16 float32; beyond this it no longer fits in L3
            axes[0].axvline(l3_bytes / 64, color="0.6", linestyle=":",
                            label=f"W1 = L3 ({l3_bytes >> 20} MiB)")
        axes[0].set_xscale("log", base=2)
        axes[0].set_yscale("log")
        axes[0].legend(fontsize=8)
    axes[0].set(title="input width (hashed uni+bigrams)", xlabel="columns",
                ylabel="seconds per epoch (median, min-max)")
    batch = curve(data, "batch")
    if batch:
        med, err = whiskers(batch)
        axes[1].errorbar([p["batch_size"] for p in batch], med, yerr=err, marker="o",
                         capsize=3)
        axes[1].set_xscale("log", base=2)
        axes[1].set_yscale("log")
    axes[1].set(title="batch size (notebook input)", xlabel="rows per batch")
    pts = curve(data, "threads")
    inputs = sorted({p["requested_features"] for p in pts})
    counts = sorted({p["threads"] for p in pts})
    bar = 0.8 / max(1, len(counts))
    for k, t in enumerate(counts):
        sel = [next((p for p in pts if p["requested_features"] == f and p["threads"] == t),
                    None) for f in inputs]
        xs = [i + k * bar for i, p in enumerate(sel) if p]
        sel = [p for p in sel if p]
        med, err = whiskers(sel)
        axes[2].bar(xs, med, bar, yerr=err, capsize=3, label=f"{t} thread(s)")
    axes[2].set_xticks([i + bar * (len(counts) - 1) / 2 for i in range(len(inputs))],
                       [f"{f:,} hashed" if f else "notebook" for f in inputs])
    axes[2].set_yscale("log")
    axes[2].set(title="threads (batches of 512)")
    if pts:
        axes[2].legend(fontsize=8)
    fig.suptitle("nn: seconds per training epoch (15,000 rows + 10,000 validation)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------ one-off
def oneoff_section(ctx):
    """import nn; the first fit batch with an empty numba cache and with a filled one."""
    data = previous(ctx, "oneoff") or measure_oneoff(ctx)
    return oneoff_markdown(data, ctx), data


def measure_oneoff(ctx):
    args = ctx["args"]
    runs = []
    for i in range(args.oneoff_runs):
        with tempfile.TemporaryDirectory(prefix="nn_numba_cache_") as cache:
            for kind in ("compile", "load"):
                record = run_json(python_cmd("oneoff.py", "--data", ctx["data_path"]),
                                  **measured(ctx, env=thread_env(args.threads,
                                                                 NUMBA_CACHE_DIR=cache)))
                record.update(kind=kind, pair=i)
                runs.append(record)
                status = record.get("error") or \
                    f"import {record['import_seconds']:.2f} s, first batch " \
                    f"{record['first_batch_seconds']:.2f} s"
                log(f"one-off {i + 1}/{args.oneoff_runs} {kind:7s}: {status}")
    ok = [r for r in runs if "first_batch_seconds" in r]
    return {"runs": runs,
            "import": stats(r["import_seconds"] for r in ok),
            "compile": stats(r["first_batch_seconds"] for r in ok if r["kind"] == "compile"),
            "load": stats(r["first_batch_seconds"] for r in ok if r["kind"] == "load"),
            "steady": stats(r["steady_batch_seconds"] for r in ok),
            "foreign_cpu_share": stats(r["foreign_cpu_share"] for r in runs),
            "cached_functions": max((r["cached_functions_after"] or 0 for r in ok),
                                    default=None)}


def oneoff_markdown(data, ctx):
    rows = ["| one-off cost | median | min | max | runs |", "|---|---|---|---|---|"]
    for key, label in (("import", "`import nn` (numpy, numba included)"),
                       ("compile", "first `fit` batch, empty numba cache (JIT compile)"),
                       ("load", "first `fit` batch, numba cache filled (load)"),
                       ("steady", "a batch of 512 later in the first epoch (median)")):
        s = data.get(key)
        rows.append(f"| {label} | " + (f"{secs(s['median'])} | {secs(s['min'])} | "
                                        f"{secs(s['max'])} | {s['n']} |" if s else "– | | | |"))
    summary = ctx.get("summary", {})
    peers = ", ".join(f"{name} {s['import_median']:.1f} s" for name, s in summary.items()
                      if s.get("status") == "ok" and name != REFERENCE)
    return ("## One-off costs\n\n"
            "Each in a fresh process; a fresh `NUMBA_CACHE_DIR` per pair of processes: the "
            "first compiles nn's kernels, the second loads them from that cache "
            f"({data.get('cached_functions')} cached kernels). The first batch also pays "
            "for page faults and thread-pool start-up. Other processes used at most "
            f"{(data.get('foreign_cpu_share') or {}).get('max', float('nan')):.0%} of the "
            "CPUs during these runs.\n\n" + "\n".join(rows) +
            (f"\n\nThe peers' imports, from the training runs (median): {peers}." if peers
             else "") + "\n")


# ------------------------------------------------------------------------------ checks
def checks_section(ctx):
    """The issue's "done when" targets, each with pass or fail."""
    old = previous(ctx, "checks") or {}
    missing = {"error": "not measured (--report-only)"} if ctx["args"].report_only else None
    memory = old.get("imdb_memory") or missing or measure_imdb_memory(ctx)
    notebook = old.get("keras_notebook_memory") or missing or \
        measure_keras_notebook_memory(ctx)
    checks = compute_checks(ctx, memory, notebook)
    rows = ["| target | measured | required | result |", "|---|---|---|---|"]
    for c in checks:
        result = "–" if c["pass"] is None else ("**pass**" if c["pass"] else "**FAIL**")
        rows.append(f"| {c['target']} | {c['measured']} | {c['required']} | {result} |")
    quick = " (quick run: not the real measurement)" if ctx["args"].quick else ""
    text = ("## Done when\n\nThe issue's acceptance targets, computed from this run" + quick +
            ". Training ratios divide median seconds per epoch (the paired ratio in "
            "parentheses); peak memory is the child process's maximum resident set (its own "
            "rusage) of `python examples/imdb.py --quiet` (the whole notebook: load, "
            "vectorize, 20 epochs with validation, retrain, evaluate, predict, figures; the "
            "largest of its runs) against the smallest of the keras_tf training runs' (6 "
            "epochs on float32 input), and against one run of the Keras notebook as written "
            "(`peers/keras_notebook.py`: lists, float64 `vectorize_sequences`, the same "
            "stages).\n\n" + "\n".join(rows) + "\n")
    return text, {"checks": checks, "imdb_memory": memory,
                  "keras_notebook_memory": notebook}


def measure_imdb_memory(ctx):
    args = ctx["args"]
    runs = []
    for i in range(args.imdb_runs):
        with tempfile.TemporaryDirectory(prefix="nn_imdb_") as out:
            cmd = [sys.executable, str(REPO / "examples" / "imdb.py"), "--quiet", "--out", out]
            if args.quick:
                cmd += ["--epochs", "2", "--final-epochs", "1"]
            record = child_peak_rss(cmd, thread_env(args.threads), args.timeout)
            try:
                result = json.loads((Path(out) / "results.json").read_text())
                record.update(test_accuracy=result.get("test_accuracy"),
                              self_reported_peak_mb=result.get("peak_memory_mb"),
                              total_seconds=result.get("total_seconds"))
            except (OSError, ValueError):
                pass
        runs.append(record)
        log(f"examples/imdb.py {i + 1}/{args.imdb_runs}: "
            f"{record.get('error') or format(record['peak_rss_mb'], '.0f') + ' MB peak'}")
    ok = [r for r in runs if "error" not in r]
    return {"runs": runs, "peak_rss_mb": stats(r["peak_rss_mb"] for r in ok),
            "command": "python examples/imdb.py --quiet --out <tmp>"
                       + (" --epochs 2 --final-epochs 1" if args.quick else "")}


def child_peak_rss(cmd, env, timeout):
    """Run cmd; its own peak RSS (ru_maxrss of exactly this child, from wait4) in MB, and
    its last JSON stdout line if any."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=REPO)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            return {"error": f"exit code {code}: " + err.read().decode()[-1500:]}
        out.seek(0)
        lines = [line for line in out.read().decode().splitlines() if line.startswith("{")]
    return {"peak_rss_mb": usage.ru_maxrss / 1024,
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "output": json.loads(lines[-1]) if lines else None}


def measure_keras_notebook_memory(ctx):
    """Peak RSS of one run of the Keras notebook as written (peers/keras_notebook.py)."""
    args = ctx["args"]
    cmd = python_cmd("peers/keras_notebook.py", "--tokens", ctx["tokens_path"], "--threads",
                     args.threads, *(["--epochs", "2", "--final-epochs", "1"] if args.quick
                                     else []))
    record = child_peak_rss(cmd, thread_env(args.threads), args.timeout)
    log(f"keras notebook: {record.get('error') or format(record['peak_rss_mb'], '.0f')} MB peak")
    record["command"] = " ".join(cmd[1:])
    return record


def compute_checks(ctx, memory, notebook):
    s = ctx.get("summary", {})
    ref = s.get(REFERENCE, {})
    ok = {n: v for n, v in s.items() if v.get("status") == "ok"}
    checks = []

    def add(target, value, required, passed, detail=""):
        checks.append({"target": target, "value": value, "required": required,
                       "measured": "not measured" if value is None else detail,
                       "pass": None if value is None else passed})

    def speed(name):
        if name not in ok or REFERENCE not in ok:
            return None, ""
        v = ok[name]
        ratio = v["epoch_median"] / ref["epoch_median"]
        paired = v.get("paired_ratio")
        return ratio, (f"{ratio:.1f}× ({'–' if paired is None else format(paired, '.1f')}×"
                       f"); {v['epoch_median'] * 1e3:.0f} vs {ref['epoch_median'] * 1e3:.1f} ms")

    ratio, detail = speed("keras_tf")
    add("nn sparse epoch faster than Keras/TensorFlow", ratio, f"≥ {TARGETS['keras']:g}×",
        ratio is not None and ratio >= TARGETS["keras"], detail)
    torches = [n for n in ok if n.startswith("torch_")]
    fastest = min(torches, key=lambda n: ok[n]["epoch_median"]) if torches else None
    ratio, detail = speed(fastest) if fastest else (None, "")
    add(f"nn sparse epoch faster than the fastest PyTorch ({fastest or 'none run'})", ratio,
        f"≥ {TARGETS['torch']:g}×", ratio is not None and ratio >= TARGETS["torch"], detail)
    keras_rss = [r["peak_rss_mb"] for r in ctx.get("runs", []) if r.get("system") == "keras_tf"
                 and "peak_rss_mb" in r and r.get("counted", True) and "discarded" not in r]
    nn_rss = (memory.get("peak_rss_mb") or {}).get("max")
    value = min(keras_rss) / nn_rss if keras_rss and nn_rss else None
    add("peak memory of nn's whole IMDB run below Keras's", value,
        f"≥ {TARGETS['memory']:g}×", value is not None and value >= TARGETS["memory"],
        f"{value:.1f}×: {min(keras_rss):,.0f} MB vs {nn_rss:,.0f} MB" if value else "")
    keras_nb = notebook.get("peak_rss_mb")
    value = keras_nb / nn_rss if keras_nb and nn_rss else None
    add("the same, against the Keras notebook as written (float64)", value,
        f"≥ {TARGETS['memory']:g}×", value is not None and value >= TARGETS["memory"],
        f"{value:.1f}×: {keras_nb:,.0f} MB vs {nn_rss:,.0f} MB" if value else "")
    kernels = ctx["sections"].get("kernels", (None, {}))[1]
    floor = kernels.get("floor_seconds") or floor_seconds(ctx)
    nn_row = next((r for r in kernels.get("rows", []) if r["system"] == "nn"
                   and r["threads"] == ctx["args"].threads and r.get("layer")), None)
    value = nn_row["layer"]["median"] / floor if nn_row and floor else None
    add("nn's first layer within the measured floor", value, f"≤ {TARGETS['floor']:g}×",
        value is not None and value <= TARGETS["floor"],
        f"{value:.1f}×: {nn_row['layer']['median'] * 1e3:.1f} ms vs {floor * 1e3:.1f} ms "
        f"(with the gather {nn_row['total']['median'] / floor:.1f}×)" if value else "")
    return checks


SECTIONS = [kernels_section, scaling_section, oneoff_section, checks_section]
