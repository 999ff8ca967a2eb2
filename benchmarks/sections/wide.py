"""The wide section: the notebook's model with both hidden layers 512 wide, nn on the sparse
multi-hot input against Keras/TensorFlow on the dense input, side by side, each in its own
process (``--wide-reps`` rounds, nn first then Keras in odd rounds and the other way round in
even ones, ``--wide-epochs`` epochs each, the first warm-up), and the model's floor on this
machine (`benchmarks.units_floor`).

Both systems and the floor run with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed
from their environment, whatever the machine sets: these variables hold NumPy's OpenBLAS to
its AVX2 kernels on an AVX-512 CPU, and at 512 units nn's hidden layer is BLAS (Keras's
TensorFlow computes with its own kernels). The report names the BLAS core nn ran.
"""

import os
import statistics

from benchmarks.machine import python_cmd, thread_env
from benchmarks.sections.common import log, previous, run_quiet, stats
from benchmarks.sections.training import ACCURACY_TOLERANCE, timed_epochs

UNITS = 512
SYSTEMS = {"nn_sparse": ("nn_run", "--input", "sparse"),
           "keras_tf": ("keras_run", "--backend", "tensorflow")}
BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # unset for every process here
TARGET = 4.0  # the issue: nn's epoch at least 4x faster than Keras/TF's


def wide_section(ctx):
    """nn against Keras/TF at 512 units, and the floor."""
    data = previous(ctx, "wide") or measure_wide(ctx)
    return wide_markdown(data), data


def environment(threads):
    env = thread_env(threads, NN_BACKEND="numba")
    for var in BLAS_VARS:
        env.pop(var, None)
    return env


def measure_wide(ctx):
    args = ctx["args"]
    env = environment(args.threads)
    runs = []
    for rnd in range(args.wide_reps):
        order = list(SYSTEMS) if rnd % 2 == 0 else list(SYSTEMS)[::-1]
        for name in order:
            module, *extra = SYSTEMS[name]
            cmd = python_cmd(f"peers.{module}", "--data", ctx["data_path"], "--epochs",
                             args.wide_epochs, "--seed", args.seed + rnd, "--threads",
                             args.threads, "--units", UNITS, *extra)
            record = run_quiet(ctx, cmd, env, f"wide {name}")
            record.update(system=name, round=rnd, command=" ".join(cmd[1:]))
            runs.append(record)
            log(f"wide round {rnd + 1}/{args.wide_reps} {name:10s} " + (
                record.get("error") or record.get("skipped") or
                f"{statistics.median(timed_epochs(record)):.3f} s/epoch, "
                f"acc {record['test_accuracy']:.4f}") +
                f" (other CPU {record['foreign_cpu_share']:.0%})")
    cmd = python_cmd("units_floor", "--data", ctx["data_path"], "--units", UNITS, "--threads",
                     args.threads, "--reps", 3 if args.quick else 7)
    floor = run_quiet(ctx, cmd, env, "wide floor")
    log("wide floor: " + (floor.get("error") or f"{floor['seconds']['floor'] * 1e3:.0f} ms"))
    return {"units": UNITS, "runs": runs, "floor": floor, "unset": list(BLAS_VARS),
            "machine_set": {v: os.environ.get(v) for v in BLAS_VARS},
            "epochs": args.wide_epochs, "reps": args.wide_reps}


def summary(data):
    """Per system: median s/epoch over all timed epochs, min, max, mean test accuracy; and
    the median over rounds of Keras's run divided by nn's run of the same round."""
    ok = [r for r in data["runs"] if "epoch_seconds" in r]
    out = {}
    for name in SYSTEMS:
        mine = [r for r in ok if r["system"] == name]
        if mine:
            out[name] = {**stats(s for r in mine for s in timed_epochs(r)), "runs": len(mine),
                         "test_accuracy": statistics.fmean(r["test_accuracy"] for r in mine),
                         "other_cpu": statistics.median(r["foreign_cpu_share"] for r in mine)}
    paired = []
    for rnd in {r["round"] for r in ok}:
        pair = {r["system"]: statistics.median(timed_epochs(r)) for r in ok
                if r["round"] == rnd}
        if len(pair) == 2:
            paired.append(pair["keras_tf"] / pair["nn_sparse"])
    if len(out) == 2:
        out["ratio"] = out["keras_tf"]["median"] / out["nn_sparse"]["median"]
        out["paired_ratio"] = statistics.median(paired) if paired else None
    return out


def wide_markdown(data):
    s, floor = summary(data), data.get("floor", {})
    head = (f"## Wide layers: 512-512 on the sparse path\n\nThe notebook's model with both "
            f"hidden layers {data['units']} wide (Dense(512, relu) on the 10,000-column input, "
            "Dense(512, relu), Dense(1, sigmoid); RMSprop, batch 512, the notebook's 15,000 "
            "training and 10,000 validation rows): nn on the sparse multi-hot input, Keras 3 "
            "on TensorFlow on the dense float32 input, each in its own process, "
            f"{data['reps']} round(s) × {data['epochs']} epochs (the first is warm-up). "
            f"{' and '.join(data['unset'])} are removed from every process's environment "
            f"(this machine set them to {data['machine_set']}).\n\n")
    rows = ["| system | s / epoch (median) | min | max | test acc % | other CPU |",
            "|---|---|---|---|---|---|"]
    for name in SYSTEMS:
        v = s.get(name)
        if v:
            rows.append(f"| {name} ({data['units']}-{data['units']}) | {v['median']:.3f} | "
                        f"{v['min']:.3f} | {v['max']:.3f} | {100 * v['test_accuracy']:.2f} | "
                        f"{v['other_cpu']:.0%} |")
        else:
            bad = next((r for r in data["runs"] if r["system"] == name), {})
            rows.append(f"| {name} | {bad.get('skipped') or bad.get('error') or 'not run'} "
                        "| | | | |")
    text = head + "\n".join(rows) + "\n"
    if "ratio" in s:
        paired = s["paired_ratio"]
        text += (f"\nKeras/TF ÷ nn: **{s['ratio']:.1f}×** (of medians; "
                 f"{'–' if paired is None else format(paired, '.1f')}× paired by round; the "
                 f"issue asks ≥ {TARGET:g}×).\n")
        gap = 100 * (s["nn_sparse"]["test_accuracy"] - s["keras_tf"]["test_accuracy"])
        if abs(gap) > ACCURACY_TOLERANCE:
            accs = ", ".join(f"{100 * r['test_accuracy']:.1f}" for r in data["runs"]
                             if r["system"] == "nn_sparse" and "test_accuracy" in r)
            text += (f"\n**Mean test accuracies differ by {gap:+.1f} points** (nn's runs: "
                     f"{accs}; each seed's run is one trajectory of a model that overfits "
                     "within a few epochs): not explained by this section, which compares "
                     "the time of the same work per epoch.\n")
    if "seconds" in floor:
        sec, bw = floor["seconds"], floor["bandwidth_gbs"]
        blas = floor.get("blas", {})
        text += (
            f"\n**Floor** (`benchmarks.units_floor`, {floor['threads']} thread(s)): the first "
            f"layer's row traffic, {floor['read_bytes'] / 1e9:.1f} GB of {4 * data['units']}"
            f"-byte rows read (W1 per training and validation nonzero, a delta row per "
            f"training nonzero) at {bw['row_read']:.0f} GB/s measured and "
            f"{floor['rmw_bytes'] / 1e9:.1f} GB of W1 and velocity read and written by the "
            f"30 RMSprop steps at {bw['stream_rmw']:.0f} GB/s: "
            f"{sec['first_layer_rows'] * 1e3:.0f} ms; the 512×512 layer's "
            f"{floor['flops'] / 1e9:.1f} GFLOP at the {floor['gemm_gflops']:.0f} GFLOP/s "
            f"NumPy's BLAS reached here ({blas.get('core', '?')} core): "
            f"{sec['hidden_layer_flops'] * 1e3:.0f} ms. Floor **{sec['floor'] * 1e3:.0f} ms** "
            "per epoch")
        if "nn_sparse" in s:
            text += f"; nn's epoch is {s['nn_sparse']['median'] / sec['floor']:.1f}× it"
        text += ".\n"
    elif floor:
        text += f"\nFloor not measured: {floor.get('error', '')[-500:]}\n"
    return text
