"""The one-off costs section: `benchmarks.oneoff` twice per fresh ``NUMBA_CACHE_DIR``
(``--oneoff-runs`` pairs): ``import nn``, the first fit batch with JIT compile, then with
the cache filled.
"""

import tempfile

from benchmarks.machine import python_cmd, run_json, thread_env
from benchmarks.sections.common import log, measured, previous, secs, stats
from benchmarks.sections.training import REFERENCE


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
                record = run_json(python_cmd("oneoff", "--data", ctx["data_path"]),
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
    for key, label in (("import", "`import nn` (numpy; numba loads at the first batch)"),
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
