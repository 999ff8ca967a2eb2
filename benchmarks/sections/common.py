"""What the report's sections share: summary statistics and number formats, the results of
an earlier run, a measured subprocess repeated while the machine was busy, and pyplot.

Standard library only at the top, like `benchmarks.machine`: the orchestrator runs no BLAS.
"""

import statistics

from benchmarks.machine import run_json


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



def fmt(value, spec):
    return "–" if value is None else format(value, spec)
