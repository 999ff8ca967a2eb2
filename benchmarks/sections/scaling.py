"""The scaling section: nn's epoch against input width, batch size and threads, one
`benchmarks.scaling` process per point (one warm-up epoch plus ``--scaling-reps`` timed
ones): width of hashed unigram + bigram input (``--widths``), batch size
(``--batch-sizes``), threads (``--thread-counts``, via the environment); and
`benchmarks.wide_floor` at 2**14 and 2**20 columns (what fetching W1's and the velocity's
rows costs at least, against the 2x the issue asks). Writes ``scaling.png``.
"""

from benchmarks.machine import python_cmd, thread_env
from benchmarks.sections.common import log, previous, pyplot, run_quiet, stats

WIDTHS = [2**k for k in range(13, 21)]  # powers of two: nn's n-gram hash needs them


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
        cmd = python_cmd("scaling", "--data", ctx["data_path"], "--tokens",
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
    """`benchmarks.wide_floor` at 2**14 and 2**20 columns (when the width curve has both): the time
    the rows of W1 and of its velocity take to fetch, on 1 and 2 threads."""
    args = ctx["args"]
    if not set(FLOOR_WIDTHS) <= set(args.widths):
        return []
    floors = []
    for features in FLOOR_WIDTHS:
        cmd = python_cmd("wide_floor", "--data", ctx["data_path"], "--tokens",
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
        "\n**What width costs at least** (`benchmarks.wide_floor`, best of "
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
