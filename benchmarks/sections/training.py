"""The training rounds and the report's main table: every system trains the notebook's model
in its own fresh process, nn's reference run before each peer.

`SYSTEMS` names each system: a module of `benchmarks.peers` run as ``python -m``, its extra
arguments, what it is and what it sets in its environment. nn's systems pin ``NN_BACKEND``:
``nn_numpy`` is the ``nn_sparse`` run on the NumPy backend, the same model and data on the
kernels' math in plain NumPy, to show what the compiled ones buy (it trains all
``--epochs`` like the others). Keras 3 runs on each backend it ships with (``keras_run
--backend``, which sets ``KERAS_BACKEND``), and its headline ratio is taken against the
fastest of them on this machine (`fastest`).

Each system names its optimizer. The notebook's is RMSprop; scikit-learn's ``MLPClassifier``
has none, so it trains with Adam and is compared like for like with ``nn_adam`` (nn with
``Adam()``), not with ``nn_sparse``: its baseline (`BASELINES`) gives its headline ratio and
the accuracy it must match within `ACCURACY_TOLERANCE`. `run_rounds` schedules and measures
the runs, `summarize` reduces them per system, `headlines` picks each peer family's fastest
system, `training_section` writes the table and `plot` ``training.png``.
"""

import os
import statistics
from typing import NamedTuple

from benchmarks.machine import python_cmd, run_json
from benchmarks.sections.common import fmt, pyplot


class System(NamedTuple):
    module: str        # in benchmarks.peers
    args: tuple        # after the common protocol's
    label: str         # for the legend under the table
    env: tuple = ()    # (variable, value) pairs set in the process's environment
    optimizer: str = "rmsprop"  # the key of its like-for-like nn row in BASELINES


REFERENCE = "nn_sparse"
SYSTEMS = {
    "nn_sparse": System("nn_run", ("--input", "sparse"), "nn, sparse multi-hot input",
                        (("NN_BACKEND", "numba"),)),
    "keras_tf": System("keras_run", ("--backend", "tensorflow"),
                       "Keras 3 on TensorFlow, dense float32 input"),
    "keras_jax": System("keras_run", ("--backend", "jax"), "Keras 3 on JAX, dense float32 input"),
    "keras_torch": System("keras_run", ("--backend", "torch"),
                          "Keras 3 on PyTorch, dense float32 input"),
    "torch_dense": System("torch_dense", (), "PyTorch, dense input"),
    "torch_sparse_mm": System("torch_sparse", ("--variant", "mm"),
                              "PyTorch, `torch.sparse.mm` first layer"),
    "torch_embedding_bag": System("torch_sparse", ("--variant", "embedding_bag"),
                                  "PyTorch, `EmbeddingBag(mode=\"sum\")`"),
    "nn_adam": System("nn_run", ("--input", "sparse", "--optimizer", "adam"),
                      "nn, sparse multi-hot input, `Adam()` (lr 0.001)",
                      (("NN_BACKEND", "numba"),), "adam"),
    "sklearn_mlp": System("sklearn_mlp", (), "scikit-learn `MLPClassifier((16, 16))`, scipy "
                          "CSR float32 input, Adam (lr 0.001), `partial_fit` per epoch",
                          (), "adam"),
    "nn_dense": System("nn_run", ("--input", "dense"), "nn, dense input",
                       (("NN_BACKEND", "numba"),)),
    "nn_numpy": System("nn_run", ("--input", "sparse"), "nn, NumPy backend (no numba)",
                       (("NN_BACKEND", "numpy"),)),
}
BASELINES = {"rmsprop": REFERENCE, "adam": "nn_adam"}  # nn's like-for-like row per optimizer
OPTIMIZER_NAMES = {"rmsprop": "RMSprop", "adam": "Adam"}
ACCURACY_TOLERANCE = 1.5  # points of test accuracy against the system's baseline (and within
#                           each optimizer's rows); beyond it the timing comparison is void
FAMILIES = (("Keras 3", "keras_"), ("PyTorch", "torch_"), ("scikit-learn", "sklearn_"))


def baseline(name):
    """The nn system ``name`` is compared with like for like: the one with its optimizer."""
    return BASELINES[SYSTEMS[name].optimizer] if name in SYSTEMS else REFERENCE


def schedule(systems, reps):
    """Per round: the reference before every other system; the others rotate by round."""
    peers = [s for s in systems if s != REFERENCE]
    for rnd in range(reps):
        shift = rnd % len(peers) if peers else 0
        order = peers[shift:] + peers[:shift]
        yield rnd, [name for peer in order for name in (REFERENCE, peer)] or [REFERENCE]


def run_one(name, data_path, args, seed):
    """One system in a fresh process; its JSON record plus how quiet the machine was."""
    system = SYSTEMS[name]
    cmd = python_cmd(f"peers.{system.module}", "--data", data_path, "--epochs", args.epochs,
                     "--seed", seed, "--threads", args.threads, *system.args)
    record = run_json(cmd, args.idle_threshold, args.idle_wait, args.timeout,
                      env=dict(os.environ, **dict(system.env)))
    record["system"] = name  # nn_run calls itself nn_sparse on either backend
    record["command"] = [f"{k}={v}" for k, v in system.env] + cmd[1:]
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
    for name, s in summary.items():
        base = baseline(name)
        b = summary.get(base, {})
        if s["status"] != "ok" or b.get("status") != "ok" or base == name:
            continue
        s["baseline"] = base
        s["ratio_to_baseline"] = s["epoch_median"] / b["epoch_median"]
        s["paired_ratio_to_baseline"] = (s.get("paired_ratio") if base == REFERENCE else
                                         same_round_ratio(ok, name, base))
        s["accuracy_gap_points"] = 100 * (s["test_accuracy_mean"] - b["test_accuracy_mean"])
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


def same_round_ratio(ok, name, base):
    """Median over rounds of (this run's median epoch) / (``base``'s run in the same round):
    the pairing for a system whose baseline is not the reference run just before it."""
    ratios = []
    ok = [r for r in ok if r.get("counted", True)]
    for r in ok:
        if r["system"] != name:
            continue
        same = [statistics.median(timed_epochs(p)) for p in ok
                if p["system"] == base and p["round"] == r["round"]]
        if same:
            ratios.append(statistics.median(timed_epochs(r)) / statistics.median(same))
    return statistics.median(ratios) if ratios else None


def fastest(summary, prefix):
    """The system whose name starts with ``prefix`` with the lowest median epoch among those
    that ran, or None."""
    ran = [n for n, s in summary.items() if n.startswith(prefix) and s.get("status") == "ok"]
    return min(ran, key=lambda n: summary[n]["epoch_median"], default=None)


def headlines(summary):
    """Per peer family (`FAMILIES`): its fastest system, the others that ran, and that
    system's ratio to its like-for-like nn row (of medians, and paired)."""
    out = []
    for family, prefix in FAMILIES:
        name = fastest(summary, prefix)
        if name is None:
            continue
        s = summary[name]
        out.append({"family": family, "system": name,
                    "of": [n for n in summary if n.startswith(prefix)
                           and summary[n].get("status") == "ok"],
                    "versus": s.get("baseline", baseline(name)),
                    "ratio": s.get("ratio_to_baseline"),
                    "paired": s.get("paired_ratio_to_baseline"),
                    "comparison_void": s.get("comparison_void", False)})
    return out


def accuracy_spreads(summary):
    """``{optimizer: spread of the mean test accuracies in points}`` over the systems that
    ran, per optimizer: Adam and RMSprop may settle at different accuracies after the same
    epochs, so only rows with the same optimizer must agree."""
    by_optimizer = {}
    for name, s in summary.items():
        if s.get("status") == "ok" and name in SYSTEMS:
            by_optimizer.setdefault(SYSTEMS[name].optimizer, []).append(s["test_accuracy_mean"])
    return {opt: 100 * (max(accs) - min(accs)) for opt, accs in by_optimizer.items()}


def headlines_markdown(summary):
    lines = []
    for h in headlines(summary):
        which = (f"fastest backend here, of {len(h['of'])}: {h['system']}"
                 if h["family"] == "Keras 3" else f"fastest here: {h['system']}")
        paired = ("no quiet pair of runs" if h["paired"] is None else
                  f"paired {h['paired']:.1f}×")
        ratio = (f"{h['ratio']:.1f}× {h['versus']}'s epoch ({paired})"
                 if h["ratio"] is not None else f"no {h['versus']} run to compare with")
        void = " — **comparison void** (accuracy)" if h["comparison_void"] else ""
        lines.append(f"- {h['family']} ({which}): {ratio}{void}")
    return ("Each peer family against nn like for like (its fastest system; Adam peers "
            "against nn_adam):\n\n" + "\n".join(lines) + "\n\n") if lines else ""


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
        if v.get("baseline", REFERENCE) != REFERENCE:
            notes.append(f"{fmt(v.get('ratio_to_baseline'), '.1f')}× {v['baseline']} (same "
                         f"round {fmt(v.get('paired_ratio_to_baseline'), '.1f')}×)")
        if v.get("comparison_void"):
            notes.append(f"**comparison void**: accuracy differs from {v['baseline']}'s by "
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
    spreads = accuracy_spreads(s)
    verdict = " ".join(
        f"**{OPTIMIZER_NAMES[opt]} rows: test accuracies disagree by {spread:.1f} points "
        f"(> {ACCURACY_TOLERANCE}): the comparison is void until that is explained.**"
        if spread > ACCURACY_TOLERANCE else
        f"{OPTIMIZER_NAMES[opt]} rows: test accuracies agree within {spread:.1f} points."
        for opt, spread in spreads.items())
    text = (f"## Training: seconds per epoch\n\n{args.reps} round(s) × {args.epochs} epochs, "
            f"{args.threads} thread(s), data: {ctx['data_description']}. An epoch is 15,000 "
            "shuffled training rows in batches of 512 plus a forward pass over 10,000 "
            "validation rows; the first epoch of each run is warm-up and not counted. "
            "\"× nn_sparse\" divides medians; \"× paired\" is the median ratio to the nn_sparse "
            "run just before it in the same round. Adam rows (nn_adam, sklearn_mlp: "
            "scikit-learn has no RMSprop) are compared with each other, in time and "
            "accuracy; Adam and RMSprop may reach different accuracies in the same epochs. "
            "Evaluate: 25,000 test rows, batch 32 (scikit-learn: one predict call). "
            "\"other CPU\": median share of the machine that other processes used during the "
            f"counted runs (should be ~0%; runs above {args.busy_retry:.0%} were repeated "
            "and left out where a quiet one existed).\n\n" + headlines_markdown(s)
            + "\n".join(rows) + f"\n\n{verdict}\n" + legend(s))
    return text, {"accuracy_spread_points": spreads.get("rmsprop", 0.0),
                  "accuracy_spread_by_optimizer": spreads, "headlines": headlines(s)}


def legend(summary):
    """What each system of the table is, and what it sets in its environment."""
    return "\nSystems: " + "; ".join(
        f"{name}: {SYSTEMS[name].label}"
        + "".join(f" (`{k}={v}`)" for k, v in SYSTEMS[name].env)
        for name in summary if name in SYSTEMS) + ".\n"


def plot(summary, path, floor_seconds=None):
    """Bar chart of seconds per epoch (log scale), whiskers from min to max."""
    plt = pyplot()
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
