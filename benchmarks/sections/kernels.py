"""The kernels section: the first layer alone (forward, weight gradient, validation forward)
per implementation, each in its own process (`benchmarks.bench_kernels --system X --json`),
``--kernel-rounds`` rounds in rotating order, each a warm-up epoch plus ``--kernel-reps``
timed ones; "× floor" divides by the floor section's figure. nn runs on its numba backend
(``--threads`` and 1 thread) and on its NumPy backend (``nn_numpy``), the same functions in
plain NumPy: what the compiled kernels buy. Writes ``kernels.png``.
"""

import statistics

from benchmarks.machine import python_cmd, thread_env
from benchmarks.sections.common import floor_seconds, log, ms, previous, pyplot, run_quiet, stats

KERNEL_SYSTEMS = ("nn", "nn_numpy", "scipy", "dense", "torch")


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
            cmd = python_cmd("bench_kernels", "--data", ctx["data_path"], "--system",
                             system, "--reps", args.kernel_reps, "--seed", args.seed, "--json",
                             *(["--quick"] if args.kernel_reps < 5 else []))
            record = run_quiet(ctx, cmd, thread_env(threads), f"kernels {system}")
            record.update(round=rnd, system=system, threads=threads)
            records[f"{system}/{threads}"].append(record)
            status = record.get("error") or record.get("skipped") or \
                f"{statistics.median(layer_seconds(r) for r in record['reps']) * 1e3:.1f} ms"
            log(f"kernels round {rnd + 1}/{args.kernel_rounds} {system:8s} {threads} thread(s): "
                f"{status} (other CPU {record['foreign_cpu_share']:.0%})")
    rows = []
    for key, recs in records.items():
        ok = [r for r in recs if "reps" in r]
        reps = [rep for r in ok for rep in r["reps"]]
        row = {"key": key, "system": recs[0]["system"], "threads": recs[0]["threads"],
               "name": ok[0]["name"] if ok else key, "processes": len(ok),
               "skipped": None if ok else recs[0].get("skipped"),
               "error": None if ok else recs[0].get("error", "") + recs[0].get("stderr", "")}
        if reps:
            row.update(layer=stats(layer_seconds(rep) for rep in reps),
                       total=stats(rep["gather"] + layer_seconds(rep) for rep in reps),
                       parts={k: statistics.median(rep[k] for rep in reps) for k in reps[0]},
                       foreign_cpu_share=statistics.median(r["foreign_cpu_share"] for r in ok),
                       nnz={k: ok[0][k] for k in ("train_nnz", "val_nnz", "n_features")})
        rows.append(row)
    return {"rows": rows, "records": records, "rounds": args.kernel_rounds,
            "reps": args.kernel_reps}


def layer_seconds(rep):
    """The first layer's own work in one epoch: everything but the batch gather (and nn's
    ``backward_rows``, the row-sparse weight gradient timed beside its dense one)."""
    return rep["forward"] + rep["backward"] + rep["validation"]


def kernels_markdown(data, ctx):
    floor = data.get("floor_seconds")
    ok = [r for r in data["rows"] if r.get("layer")]
    base = next((r["layer"]["median"] for r in ok if r["system"] == "nn"), None)
    lines = ["| implementation | threads | first layer ms (median) | min | max | forward | "
             "weight grad | validation fwd | + gather | weight grad, rows only | × nn | "
             "× floor | other CPU |", "|" + "---|" * 13]
    for r in sorted(ok, key=lambda r: r["layer"]["median"]):
        lay, p = r["layer"], r["parts"]
        lines.append(
            f"| {r['name']} | {r['threads']} | **{ms(lay['median'])}** | {ms(lay['min'])} | "
            f"{ms(lay['max'])} | {ms(p['forward'])} | {ms(p['backward'])} | "
            f"{ms(p['validation'])} | {ms(p['gather'])} | {ms(p.get('backward_rows'))} | "
            f"{'–' if not base else format(lay['median'] / base, '.1f')} | "
            f"{'–' if not floor else format(lay['median'] / floor, '.1f')} | "
            f"{r['foreign_cpu_share']:.0%} |")
    for r in data["rows"]:
        if not r.get("layer"):
            why = f"skipped: {r['skipped']}" if r.get("skipped") else \
                f"failed: {(r.get('error') or '')[-200:]!r}"
            lines.append(f"| {r['name']} | {r['threads']} | {why} |" + " |" * 10)
    floor_text = (f"the floor of `benchmarks.floor` ({floor * 1e3:.1f} ms per epoch, measured on "
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
        "min and max over all timed epochs. nn: `spmm` and `spmm_t` of its numba backend, "
        "and of its NumPy backend (the same functions as plain NumPy, batches gathered by it "
        "too); \"rows only\" is `spmm_t_rows`, the rows of dW the batch touches, which "
        "training computes instead of `spmm_t` (timed beside it, not in the first layer's "
        "sum). torch.sparse: `torch.sparse.mm(x, W) + b` on a "
        "`sparse_csr_tensor` and `torch.sparse.mm(x.T, delta)`. \"× floor\" divides the "
        f"median by {floor_text}.\n\n" + "\n".join(lines) + "\n\n![kernels](kernels.png)\n")


def plot_kernels(data, path):
    ok = sorted((r for r in data["rows"] if r.get("layer")), key=lambda r: r["layer"]["median"])
    if not ok:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    names = [f"{r['name']}" + ("" if r["system"].startswith("nn") else f" ({r['threads']} t)")
             for r in ok]
    med = [r["layer"]["median"] for r in ok]
    err = [[m - r["layer"]["min"] for r, m in zip(ok, med)],
           [r["layer"]["max"] - m for r, m in zip(ok, med)]]
    ax.barh(names, med, xerr=err, capsize=3,
            color=["tab:blue" if r["system"].startswith("nn") else "tab:gray" for r in ok])
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
