"""The floor of the sparse first layer on this machine: how fast one epoch's first layer could
possibly be, from measured memory bandwidths and the data's nonzero counts.

Measured with NumPy (best of several repetitions, after a warm-up):

- streaming read from memory: ``a.sum()`` over a large float64 array (1 GiB by default), on 1
  thread and on ``--threads`` threads (each summing a slice; the ufunc releases the GIL);
- streaming copy: ``np.copyto(b, a)``, counted as read + write bytes;
- cache-resident traffic on an array the size of W1 (10,000 x 16 float32 = 640 KB), which is
  what every nonzero touches, repeated in place: a read (``np.dot(w, w)``, BLAS, one thread
  per call) and a read-modify-write (``np.multiply(w, 1, out=w)``, counted as read + write),
  one array per thread as each core has its own L2. Whether 640 KB fits in L2 depends on the
  CPU (the report gives the cache sizes); where it does not, this measures L2 + L3.

The model of one epoch of the first layer (training = x_train[10000:], validation =
x_train[:10000]):

- from memory, once: the index streams, ``nnz * 4`` bytes of column indices plus
  ``(rows + 1) * 8`` bytes of row pointers, for training and validation;
- from cache: per training nonzero one 64-byte row of W1 read (forward) and one 64-byte row of
  dW read and written (backward); per validation nonzero one row of W1 read;
- arithmetic: one 16-float vector add per nonzero and pass (forward, backward, validation);
  ``--vector-adds-per-cycle`` per core at the clock from /proc/cpuinfo.

The floor is memory time + cache time, spread over the threads (bandwidths measured with them),
and the arithmetic bound is shown beside it; the dense layer's floor (streaming the dense
float32 input: twice for training, forward and weight gradient, once for validation) is given
for comparison.

    python -m benchmarks.floor --data DATA.npz [--threads 2] [--quick] [--json]
"""

import argparse
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # np.dot below: our threads, not BLAS's
import numpy as np  # noqa: E402

N_VALIDATION = 10000
W1_BYTES = 10000 * 16 * 4
ROW_BYTES = 16 * 4


def best_seconds(fn, repeats):
    fn()  # warm-up: page faults, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def parallel(fn, parts, threads):
    """Run fn(part) for every part on a pool of ``threads`` threads; returns a callable."""
    pool = ThreadPoolExecutor(threads)
    return lambda: list(pool.map(fn, parts))


def bandwidths(stream_bytes, threads, repeats):
    """GB/s (1e9 bytes per second) of a streaming read and copy from memory, and of reads
    and read-modify-writes of a W1-sized cache-resident array, on 1 and ``threads`` threads."""
    result = {**stream_bandwidths(stream_bytes, threads, repeats),
              **cache_bandwidths(threads, repeats)}
    return {k: v / 1e9 for k, v in result.items()}


def stream_bandwidths(stream_bytes, threads, repeats):
    a = np.ones(stream_bytes // 8)
    b = np.empty_like(a)
    bounds = [(s[0], s[-1] + 1) for s in np.array_split(np.arange(len(a)), threads)]
    return {
        "read_1thread": a.nbytes / best_seconds(a.sum, repeats),
        "read": a.nbytes / best_seconds(
            parallel(lambda r: a[r[0]:r[1]].sum(), bounds, threads), repeats),
        "copy": 2 * a.nbytes / best_seconds(
            parallel(lambda r: np.copyto(b[r[0]:r[1]], a[r[0]:r[1]]), bounds, threads),
            repeats)}


def cache_bandwidths(threads, repeats, inner=1000):
    ws = [np.ones(W1_BYTES // 4, dtype=np.float32) for _ in range(threads)]
    probes = {"cache_read": (lambda w: np.dot(w, w), 1),
              "cache_rmw": (lambda w: np.multiply(w, 1.0, out=w), 2)}
    result = {}
    for name, (probe, passes) in probes.items():
        def run(w):
            for _ in range(inner):
                probe(w)
        moved = inner * passes * W1_BYTES
        result[f"{name}_1thread"] = moved / best_seconds(lambda: run(ws[0]), repeats)
        result[name] = threads * moved / best_seconds(parallel(run, ws, threads), repeats)
    return result


def cache_sizes():
    """Per-level data/unified cache sizes of CPU 0 from sysfs, e.g. {"L1d": "32K", ...}."""
    sizes, base = {}, "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            if not entry.startswith("index"):
                continue
            read = lambda f: open(os.path.join(base, entry, f)).read().strip()  # noqa: E731
            if read("type") != "Instruction":
                suffix = "d" if read("type") == "Data" else ""
                sizes[f"L{read('level')}{suffix}"] = read("size")
    except OSError:
        pass
    return sizes


def cpu_mhz():
    try:
        with open("/proc/cpuinfo") as f:
            found = re.findall(r"cpu MHz\s*:\s*([\d.]+)", f.read())
        return float(found[0]) if found else None
    except OSError:
        return None


def epoch_counts(path):
    """Rows and nonzeros of the training and validation passes of one epoch."""
    with np.load(path) as f:
        indptr = f["train_indptr"]
    val_nnz = int(indptr[N_VALIDATION])
    return {"train_rows": len(indptr) - 1 - N_VALIDATION,
            "train_nnz": int(indptr[-1]) - val_nnz,
            "val_rows": N_VALIDATION, "val_nnz": val_nnz}


def floor(counts, bw, threads, mhz, vector_adds_per_cycle=1.0, n_features=10000):
    """Seconds per epoch: the floor's parts, from counts and bandwidths in GB/s."""
    stream_bytes = (4 * (counts["train_nnz"] + counts["val_nnz"])
                    + 8 * (counts["train_rows"] + counts["val_rows"] + 2))
    read_bytes = ROW_BYTES * (counts["train_nnz"] + counts["val_nnz"])  # W1 rows
    rmw_bytes = 2 * ROW_BYTES * counts["train_nnz"]  # dW rows, read and written
    vector_adds = 2 * counts["train_nnz"] + counts["val_nnz"]
    memory_s = stream_bytes / (bw["read"] * 1e9)
    cache_s = read_bytes / (bw["cache_read"] * 1e9) + rmw_bytes / (bw["cache_rmw"] * 1e9)
    arith_s = (vector_adds / (mhz * 1e6 * vector_adds_per_cycle * threads)
               if mhz else float("nan"))
    dense_bytes = 4 * n_features * (2 * counts["train_rows"] + counts["val_rows"])
    return {"stream_bytes": stream_bytes, "cache_bytes": read_bytes + rmw_bytes,
            "vector_adds": vector_adds, "memory_seconds": memory_s,
            "cache_seconds": cache_s, "arithmetic_seconds": arith_s,
            "floor_seconds": memory_s + cache_s, "dense_bytes": dense_bytes,
            "dense_floor_seconds": dense_bytes / (bw["read"] * 1e9)}


def markdown(result):
    bw, fl, c = result["bandwidth_gbs"], result["floor"], result["counts"]
    caches = ", ".join(f"{k} {v}" for k, v in result["caches"].items()) or "unknown"
    return (
        f"**The floor of the sparse first layer.** Measured with NumPy on {result['threads']} "
        f"thread(s) (caches per core: {caches}): streaming read {bw['read']:.1f} GB/s "
        f"({bw['read_1thread']:.1f} on one thread), copy {bw['copy']:.1f} GB/s (read + "
        f"write); on a 640 KB array (W1's size) held in cache, read {bw['cache_read']:.0f} "
        f"GB/s and read-modify-write {bw['cache_rmw']:.0f} GB/s ({bw['cache_read_1thread']:.0f}"
        f" and {bw['cache_rmw_1thread']:.0f} on one thread). One epoch's first layer touches "
        f"{c['train_nnz']:,} training and {c['val_nnz']:,} validation nonzeros: "
        f"{fl['stream_bytes'] / 1e6:.1f} MB of index stream from memory "
        f"({fl['memory_seconds'] * 1e3:.2f} ms) and {fl['cache_bytes'] / 1e6:.0f} MB of W1/dW "
        f"rows in cache ({fl['cache_seconds'] * 1e3:.2f} ms), so the floor is "
        f"**{fl['floor_seconds'] * 1e3:.1f} ms per epoch**; the arithmetic alone "
        f"({fl['vector_adds'] / 1e6:.1f} M 16-float adds) needs "
        f"{fl['arithmetic_seconds'] * 1e3:.1f} ms at {result['cpu_mhz'] or float('nan'):.0f} "
        f"MHz and {result['vector_adds_per_cycle']:g} add/cycle/core. The dense layer must "
        f"stream {fl['dense_bytes'] / 1e9:.2f} GB per epoch: at least "
        f"{fl['dense_floor_seconds'] * 1e3:.0f} ms.")


def measure(data, threads, quick=False, vector_adds_per_cycle=1.0):
    """Everything above as one dict (with its Markdown paragraph under "markdown")."""
    stream_bytes = (256 if quick else 1024) << 20
    bw = bandwidths(stream_bytes, threads, repeats=3 if quick else 7)
    counts, mhz = epoch_counts(data), cpu_mhz()
    result = {"threads": threads, "stream_array_bytes": stream_bytes, "bandwidth_gbs": bw,
              "cpu_mhz": mhz, "caches": cache_sizes(),
              "vector_adds_per_cycle": vector_adds_per_cycle, "counts": counts,
              "floor": floor(counts, bw, threads, mhz, vector_adds_per_cycle)}
    result["markdown"] = markdown(result)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="DATA.npz written by benchmarks.data")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--quick", action="store_true", help="256 MiB arrays, fewer repeats")
    parser.add_argument("--vector-adds-per-cycle", type=float, default=1.0,
                        help="16-float adds a core retires per cycle (for the arithmetic bound)")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args()
    result = measure(args.data, args.threads, args.quick, args.vector_adds_per_cycle)
    print(json.dumps(result) if args.json else result["markdown"])


if __name__ == "__main__":
    main()
