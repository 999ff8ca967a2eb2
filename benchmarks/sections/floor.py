"""The floor section: how fast the sparse first layer could possibly be on this machine,
measured by `benchmarks.floor` in its own process, and how far nn's whole epoch is above it.
"""

import json
import subprocess

from benchmarks.machine import REPO, python_cmd, wait_for_idle
from benchmarks.sections.training import REFERENCE


def floor_section(ctx):
    """`benchmarks.floor`'s figures (or the previous results' with --report-only)."""
    if "floor" in ctx.get("previous_sections", {}):
        result = ctx["previous_sections"]["floor"]
        return floor_markdown(result, ctx), result
    args = ctx["args"]
    cmd = python_cmd("floor", "--data", ctx["data_path"], "--threads", args.threads, "--json",
                     *(["--quick"] if args.quick else []))
    wait_for_idle(args.idle_threshold, args.idle_wait)
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        return f"## Floor\n\nfloor failed: {done.stderr[-1000:]}\n", {"error": done.stderr}
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
