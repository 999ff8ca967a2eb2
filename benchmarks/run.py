"""The one command of the benchmark suite: full training of the Keras book's IMDB model by nn
and by its peers, each system in its own fresh process, and a report.

    python benchmarks/run.py [--reps 5] [--epochs 6] [--quick] [--data synthetic|imdb]
                             [--out benchmarks/results]

1. writes DATA.npz once into ``--out`` (`data.py`: synthetic, or IMDB through nn's loader);
2. runs ``--reps`` rounds; a round runs every peer once, each preceded by a run of the
   reference ``nn_sparse`` (nn_sparse, keras_tf, nn_sparse, torch_dense, ...), the peers'
   order rotating from round to round, so no system runs in a block and every peer has a
   neighbouring reference run to be compared with. Before each run it waits (a little) for
   the machine to be idle, and it records how much CPU other processes used during the run;
3. summarises per system: median seconds per epoch over all timed epochs (the first epoch of
   every run is warm-up) with min and max, evaluate time, mean test accuracy, peak memory,
   and the ratio to nn_sparse (of medians, and paired with the neighbouring reference run);
4. runs the report's sections (`SECTIONS`: the training table, the floor of `floor.py`; the
   lead can append more) and writes ``results.json`` (every run + machine + sections),
   ``results.md`` and ``training.png``.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
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
FRAMEWORKS = ("numpy", "scipy", "numba", "llvmlite", "torch", "tensorflow", "tensorflow-cpu",
              "keras", "matplotlib", "threadpoolctl")


# ------------------------------------------------------------------ the machine
def cpu_times():
    """(busy, steal) seconds of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / tick, steal / tick


def busy_share(seconds=0.5):
    """Fraction of all CPUs busy over the next ``seconds``."""
    busy0, _ = cpu_times()
    time.sleep(seconds)
    return (cpu_times()[0] - busy0) / (seconds * os.cpu_count())


def wait_for_idle(threshold, max_wait):
    """Sleep until the CPUs are less than ``threshold`` busy, at most ``max_wait`` seconds;
    returns (seconds waited, last busy share)."""
    start = time.perf_counter()
    share = busy_share()
    while share > threshold and time.perf_counter() - start < max_wait:
        time.sleep(1.0)
        share = busy_share()
    return time.perf_counter() - start, share


def machine_info():
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0))}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((line.split(":", 1)[1].strip() for line in f
                                      if line.startswith("model name")), "unknown")
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            info["transparent_hugepages"] = f.read().strip()
    except OSError:
        pass
    info["versions"] = {}
    for name in FRAMEWORKS:
        try:
            info["versions"][name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    info["nn_commit"] = git("rev-parse", "HEAD")
    info["nn_tree_dirty"] = bool(git("status", "--porcelain", "--", "nn"))
    import numpy as np  # after the versions: the orchestrator itself runs no BLAS
    try:
        info["numpy_config"] = np.show_config(mode="dicts").get("Build Dependencies", {})
    except TypeError:  # numpy < 1.25
        info["numpy_config"] = None
    try:
        import threadpoolctl
        info["threadpools"] = threadpoolctl.threadpool_info()
    except ImportError:
        info["threadpools"] = "threadpoolctl not installed"
    return info


def git(*args):
    try:
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


# ------------------------------------------------------------------- the runs
def prepare_data(args, out):
    path = out / "DATA.npz"
    cmd = [sys.executable, str(HERE / "data.py"), "--source", args.data, "--out", str(path),
           "--seed", str(args.seed)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"data preparation failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip(), flush=True)
    return path, f"{args.data} ({done.stdout.strip().split(': ', 1)[-1]})"


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
    cmd = [sys.executable, str(HERE / "peers" / script), "--data", str(data_path),
           "--epochs", str(args.epochs), "--seed", str(seed), "--threads", str(args.threads),
           *extra]
    waited, busy_before = wait_for_idle(args.idle_threshold, args.idle_wait)
    busy0, steal0 = cpu_times()
    own0 = os.times()
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        stdout, stderr, code = done.stdout, done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, code = exc.stdout or "", f"timed out after {args.timeout} s", -1
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    wall = time.perf_counter() - start
    busy1, steal1 = cpu_times()
    own1 = os.times()
    ours = sum(own1[i] - own0[i] for i in range(4))  # orchestrator + its children
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    record = json.loads(lines[-1]) if code == 0 and lines else {
        "system": name, "error": f"exit code {code}", "stderr": stderr[-3000:]}
    record.update({"command": cmd[1:], "wall_seconds": wall, "idle_wait_seconds": waited,
                   "busy_share_before": busy_before,
                   "foreign_cpu_share": max(0.0, busy1 - busy0 - ours) / (wall * os.cpu_count()),
                   "steal_share": (steal1 - steal0) / (wall * os.cpu_count())})
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
                if record["foreign_cpu_share"] <= args.busy_retry or "epoch_seconds" not in record:
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


SECTIONS = [training_section, floor_section]  # each: ctx -> (markdown, JSON-able dict)


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
    head = (f"# IMDB training benchmark\n\n{m['date']} · {m.get('cpu_model', '?')}, "
            f"{m['cpu_count']} CPUs, {m.get('memory_gib', '?')} GiB · Python {m['python']} · "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
            + f" · nn {str(m['nn_commit'])[:10]}{' (dirty)' if m['nn_tree_dirty'] else ''}"
            + (" · **quick run: smoke test, do not quote**" if ctx["args"].quick else "")
            + f" · total {ctx['total_seconds'] / 60:.1f} min\n\n![training](training.png)\n\n")
    (out / "results.md").write_text(head + "\n".join(md for md, _ in ctx["sections"].values()))
    results = {"args": vars(ctx["args"]), "machine": m, "data": ctx["data_description"],
               "total_seconds": ctx["total_seconds"], "summary": ctx["summary"],
               "runs": ctx["runs"],
               "sections": {name: data for name, (_, data) in ctx["sections"].items()}}
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))


def main(sections=SECTIONS):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="rounds of every system")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run (first: warm-up)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: smaller floor measurement, report marked as quick")
    parser.add_argument("--data", choices=["synthetic", "imdb"], default="synthetic")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--seed", type=int, default=0, help="round r uses seed + r")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated subset of {','.join(SYSTEMS)}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--idle-threshold", type=float, default=0.15,
                        help="before each run, wait until less than this share of CPU is busy")
    parser.add_argument("--idle-wait", type=float, default=30,
                        help="longest wait for an idle machine, seconds")
    parser.add_argument("--busy-retry", type=float, default=0.10,
                        help="repeat a run during which other processes used more than this "
                             "share of the CPUs")
    parser.add_argument("--retries", type=int, default=2, help="repeats of a disturbed run")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: rebuild results.md and training.png from the "
                             "runs in --out/results.json (e.g. after adding a section)")
    args = parser.parse_args()
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown or REFERENCE not in args.systems:
        parser.error(f"--systems must name known systems including {REFERENCE}; "
                     f"unknown: {sorted(unknown)}")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        old = json.loads((args.out / "results.json").read_text())
        for key in ("reps", "epochs", "threads", "quick", "data", "busy_retry"):
            setattr(args, key, old["args"].get(key, getattr(args, key)))
        args.systems = old["args"]["systems"]
        ctx = {"args": args, "data_path": args.out / "DATA.npz", "machine": old["machine"],
               "data_description": old["data"], "runs": old["runs"],
               "previous_sections": old.get("sections", {})}
        start -= old["total_seconds"]
    else:
        data_path, description = prepare_data(args, args.out)
        ctx = {"args": args, "data_path": data_path, "data_description": description,
               "machine": machine_info()}
        ctx["runs"] = run_rounds(data_path, args)
    ctx["summary"] = summarize(ctx["runs"], args.systems, args.busy_retry)
    ctx["sections"] = {}
    for section in sections:
        ctx["sections"][section.__name__.removesuffix("_section")] = section(ctx)
    floor_s = ctx["sections"].get("floor", (None, {}))[1].get("floor", {}).get("floor_seconds")
    plot(ctx["summary"], args.out / "training.png", floor_s)
    ctx["total_seconds"] = time.perf_counter() - start
    write_report(ctx, args.out)
    print(ctx["sections"]["training"][0] if "training" in ctx["sections"] else "")
    print(f"wrote {args.out}/results.md, results.json, training.png "
          f"in {ctx['total_seconds'] / 60:.1f} min")


if __name__ == "__main__":
    main()
