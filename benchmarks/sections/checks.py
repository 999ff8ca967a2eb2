"""The checks section: the issue's "done when" targets, each with pass or fail, from the
sections before it; the peak memory of ``examples/imdb.py --quiet`` (``--imdb-runs`` runs,
the child's own rusage) is compared with the Keras training runs (every backend) and with
one run of the Keras notebook as written (`benchmarks.peers.keras_notebook`, float64 input,
~8 GB).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.machine import REPO, python_cmd, thread_env
from benchmarks.sections.busy import LIMIT as BUSY_LIMIT
from benchmarks.sections.busy import summary as busy_summary
from benchmarks.sections.common import floor_seconds, fmt, log, previous, stats
from benchmarks.sections.ngrams import summarize as ngrams_summary
from benchmarks.sections.training import REFERENCE, fastest
from benchmarks.sections.wide import TARGET as WIDE_TARGET
from benchmarks.sections.wide import summary as wide_summary

TARGETS = {"keras": 50.0, "torch": 12.0, "sklearn": 8.0, "memory": 20.0, "floor": 5.0,
           "epoch_floor": 2.5}  # keras, torch, sklearn, epoch_floor: issue 16


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
            "largest of its runs) against the smallest of the Keras training runs' on any "
            "backend (6 epochs on float32 input), and against one run of the Keras notebook "
            "as written (`benchmarks.peers.keras_notebook`: lists, float64 "
            "`vectorize_sequences`, the same stages).\n\n" + "\n".join(rows) + "\n")
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
    """Peak RSS of one run of the Keras notebook as written (benchmarks.peers.keras_notebook)."""
    args = ctx["args"]
    cmd = python_cmd("peers.keras_notebook", "--tokens", ctx["tokens_path"], "--threads",
                     args.threads, *(["--epochs", "2", "--final-epochs", "1"] if args.quick
                                     else []))
    record = child_peak_rss(cmd, thread_env(args.threads), args.timeout)
    skipped = (record.get("output") or {}).get("skipped")
    if skipped:  # keras missing: the process's peak is its own start-up, not the notebook's
        record = {"skipped": skipped}
    log("keras notebook: " + (record.get("error") or skipped
                              or f"{record['peak_rss_mb']:.0f} MB peak"))
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

    keras = fastest(ok, "keras_")
    ratio, detail = speed(keras) if keras else (None, "")
    add(f"nn sparse epoch faster than Keras 3 on its fastest backend ({keras or 'none run'})",
        ratio, f"≥ {TARGETS['keras']:g}×", ratio is not None and ratio >= TARGETS["keras"],
        detail)
    torch = fastest(ok, "torch_")
    ratio, detail = speed(torch) if torch else (None, "")
    add(f"nn sparse epoch faster than the fastest PyTorch ({torch or 'none run'})", ratio,
        f"≥ {TARGETS['torch']:g}×", ratio is not None and ratio >= TARGETS["torch"], detail)
    sklearn = ok.get("sklearn_mlp")
    value = sklearn.get("ratio_to_baseline") if sklearn else None
    add("scikit-learn MLPClassifier's epoch against nn's, both with Adam", value,
        f"≥ {TARGETS['sklearn']:g}×", value is not None and value >= TARGETS["sklearn"],
        f"{value:.1f}× ({fmt(sklearn.get('paired_ratio_to_baseline'), '.1f')}×)"
        if value else "")
    keras_rss = [(r["peak_rss_mb"], r["system"]) for r in ctx.get("runs", [])
                 if str(r.get("system")).startswith("keras_") and "peak_rss_mb" in r
                 and r.get("counted", True) and "discarded" not in r]
    nn_rss = (memory.get("peak_rss_mb") or {}).get("max")
    least = min(keras_rss) if keras_rss else None
    value = least[0] / nn_rss if least and nn_rss else None
    add("peak memory of nn's whole IMDB run below Keras's (its leanest backend)", value,
        f"≥ {TARGETS['memory']:g}×", value is not None and value >= TARGETS["memory"],
        f"{value:.1f}×: {least[0]:,.0f} MB ({least[1]}) vs {nn_rss:,.0f} MB" if value else "")
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
    value = ref["epoch_median"] / floor if ref.get("status") == "ok" and floor else None
    add("nn's whole notebook epoch within the floor of its first layer", value,
        f"≤ {TARGETS['epoch_floor']:g}×", value is not None and value <= TARGETS["epoch_floor"],
        f"{value:.1f}×: {ref['epoch_median'] * 1e3:.1f} ms vs {floor * 1e3:.1f} ms"
        if value else "")
    wide = ctx["sections"].get("wide", (None, {}))[1]
    s = wide_summary(wide) if wide.get("runs") else {}
    value, paired = s.get("ratio"), s.get("paired_ratio")
    add("512-512 model: nn sparse epoch faster than Keras/TensorFlow", value,
        f"≥ {WIDE_TARGET:g}×", value is not None and value >= WIDE_TARGET,
        f"{value:.1f}× ({'–' if paired is None else format(paired, '.1f')}×); "
        f"{s['keras_tf']['median']:.2f} vs {s['nn_sparse']['median']:.3f} s" if value else "")
    ngrams = ctx["sections"].get("ngrams", (None, {}))[1]
    c = ngrams_summary(ngrams).get("criterion") if ngrams.get("runs") else None
    add("hashed n-grams: nn more accurate than fastText and VW, and reaching each one's "
        "accuracy in less training time", c and c["nn_accuracy"],
        "both, against every peer row", bool(c and c["pass"]),
        f"{100 * c['nn_accuracy']:.2f}% vs at best {100 * c['best_peer_accuracy']:.2f}%; "
        f"faster to each: {'yes' if c['reaches_faster'] else 'no'} (with nn's hashing: "
        f"{'yes' if c['reaches_faster_with_hashing'] else 'no'})" if c else "")
    busy = ctx["sections"].get("busy", (None, {}))[1]
    b = busy_summary(busy) if busy.get("runs") else {}
    value = b.get("busy_vs_serial")
    add("nn's epoch beside a process spinning on one core, against its serial epoch (1 "
        "thread, quiet machine)", value, f"≤ {BUSY_LIMIT:.2f}×",
        value is not None and value <= BUSY_LIMIT,
        f"{value:.2f}× ({fmt(b.get('paired_busy_vs_serial'), '.2f')}× paired); "
        f"{b['busy']['median'] * 1e3:.1f} vs {b['serial']['median'] * 1e3:.1f} ms"
        if value else "")
    value = b.get("serial_vs_quiet")
    add(f"on the quiet machine nn uses both cores: its serial epoch against its epoch on "
        f"{busy.get('threads', ctx['args'].threads)} threads (the gain)", value, "> 1×",
        value is not None and value > 1,
        f"{value:.2f}× ({fmt(b.get('paired_serial_vs_quiet'), '.2f')}× paired); "
        f"{b['serial']['median'] * 1e3:.1f} vs {b['quiet']['median'] * 1e3:.1f} ms"
        if value else "")
    return checks
