"""First-layer cost per epoch of the Keras IMDB notebook: nn's kernels (numba backend, and the
NumPy backend that is their math in plain NumPy) vs scipy.sparse vs NumPy dense (BLAS) vs
torch.sparse.

One epoch, as the notebook runs it: 15,000 training rows in 30 shuffled batches of 512, each
gathered from the full matrix, then ``z = x @ W + b`` (forward) and ``dW = x.T @ delta``
(weight gradient); then the forward pass alone over the 10,000 validation rows in batches of
512. ``W`` is 10000x16 float32. Each system is warmed up with one epoch (JIT compile, page
faults), then timed over ``--reps`` epochs; the table gives the median [min-max] in ms and,
from the same run, each system's total relative to nn's. nn's backends call ``spmm`` and
``spmm_t`` (a dense ``dW``, the product every system computes) and also ``spmm_t_rows`` (only
the rows of ``dW`` the batch touches: what training runs), timed apart as ``backward_rows``
and left out of the totals; ``--system nn_numpy`` gathers the batches with the NumPy backend
too.

Unless ``--no-alternatives`` is given, the weight gradient is also timed with two other
deterministic designs, to justify the one `nn.kernels.numba.spmm_t` uses:

- ``buffers``: a fixed number of per-part ``dW`` buffers over sample-row ranges, summed in a
  fixed order (fixed, so the result does not depend on the thread count);
- ``transpose``: a counting-sort transpose of the batch (CSC), then one pass per feature.

The data come from `load_data`: synthetic IMDB-shaped reviews by default (`benchmarks.data`),
or any DATA.npz written by ``benchmarks.data`` (``--data``, e.g. the real IMDB).

torch.sparse builds a ``torch.sparse_csr_tensor`` per batch (counted as gather) and computes
``torch.sparse.mm(x, W) + b`` forward and ``torch.sparse.mm(x.T, delta)`` backward (the
product autograd would run for ``dW``).

``--system nn|nn_numpy|scipy|dense|torch --json`` times one system and prints one JSON line
with every repetition, or with ``skipped`` when torch is not installed (`benchmarks.run`
runs each system so, in its own process, with the thread counts set in the environment).
Without ``--system`` all run in this process and a Markdown table is printed.

    python -m benchmarks.bench_kernels --reps 7 --seed 0
    NUMBA_NUM_THREADS=1 python -m benchmarks.bench_kernels --system nn --json
"""

import argparse
import json
import os
import time
import warnings

import numba
import numpy as np
from numba import njit, prange

import nn
from benchmarks import data as bench_data
from nn.kernels import numba as nb
from nn.sparse import CSRMatrix

N_VALIDATION, BATCH_SIZE, UNITS = 10000, 512, 16
PARTS = ("gather", "forward", "backward", "validation")  # an epoch's total; not backward_rows


def load_data(path=None, seed=0):
    """(x_train, x_val) as `CSRMatrix`: the notebook's split of the 25,000 training reviews
    (validation = rows [:10000], training = rows [10000:]). ``path``: a DATA.npz; default
    synthetic reviews shaped like IMDB."""
    if path is None:
        arrays = bench_data.synthetic(n_train=25000, n_test=0, seed=seed)
    else:
        arrays = bench_data.load(path)
    x = CSRMatrix(arrays["train_indptr"], arrays["train_indices"],
                  (arrays["train_indptr"].size - 1, int(arrays["n_features"])))
    return x[N_VALIDATION:], x[:N_VALIDATION]


# -- The systems: each returns {component: seconds} for one epoch ----------------------------

def epoch_nn(x_train, x_val, W, b, delta, perm):
    """nn's backend in use (`nn.backend.get()`), multi-hot (``data=None``); gathered by
    `CSRMatrix.take`, which calls the same backend."""
    kernels = nn.backend.get()
    t = dict.fromkeys((*PARTS, "backward_rows"), 0.0)
    for start in range(0, x_train.shape[0], BATCH_SIZE):
        t0 = time.perf_counter()
        xb = x_train.take(perm[start:start + BATCH_SIZE])
        t1 = time.perf_counter()
        kernels.spmm(xb.indptr, xb.indices, None, W, b)
        t2 = time.perf_counter()
        kernels.spmm_t(xb.indptr, xb.indices, None, delta[:xb.shape[0]], xb.shape[1])
        t3 = time.perf_counter()
        kernels.spmm_t_rows(xb.indptr, xb.indices, None, delta[:xb.shape[0]], xb.shape[1])
        t4 = time.perf_counter()
        t["gather"] += t1 - t0
        t["forward"] += t2 - t1
        t["backward"] += t3 - t2
        t["backward_rows"] += t4 - t3
    t0 = time.perf_counter()
    for start in range(0, x_val.shape[0], BATCH_SIZE):
        xb = x_val[start:start + BATCH_SIZE]
        kernels.spmm(xb.indptr, xb.indices, None, W, b)
    t["validation"] = time.perf_counter() - t0
    return t


def epoch_scipy(x_train, x_val, W, b, delta, perm):
    t = dict.fromkeys(PARTS, 0.0)
    for start in range(0, x_train.shape[0], BATCH_SIZE):
        t0 = time.perf_counter()
        xb = x_train[perm[start:start + BATCH_SIZE]]
        t1 = time.perf_counter()
        z = xb @ W
        z += b
        t2 = time.perf_counter()
        xb.T @ delta[:xb.shape[0]]
        t3 = time.perf_counter()
        t["gather"] += t1 - t0
        t["forward"] += t2 - t1
        t["backward"] += t3 - t2
    t0 = time.perf_counter()
    for start in range(0, x_val.shape[0], BATCH_SIZE):
        z = x_val[start:start + BATCH_SIZE] @ W
        z += b
    t["validation"] = time.perf_counter() - t0
    return t


epoch_dense = epoch_scipy  # the same code: NumPy arrays index, multiply and transpose alike


def epoch_torch(x_train, x_val, W, b, delta, perm):
    """torch.sparse on CSR batches gathered by nn (the tensor's construction counts as
    gather); ``W``, ``b`` and ``delta`` are torch tensors."""
    import torch
    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")

    def tensor(xb):  # both index arrays in one dtype, as sparse_csr_tensor requires
        return torch.sparse_csr_tensor(torch.from_numpy(xb.indptr.astype(np.int32)),
                                       torch.from_numpy(xb.indices), torch.ones(xb.nnz),
                                       size=xb.shape, check_invariants=False)

    t = dict.fromkeys(PARTS, 0.0)
    for start in range(0, x_train.shape[0], BATCH_SIZE):
        t0 = time.perf_counter()
        xb = tensor(x_train.take(perm[start:start + BATCH_SIZE]))
        t1 = time.perf_counter()
        torch.sparse.mm(xb, W) + b
        t2 = time.perf_counter()
        torch.sparse.mm(xb.t(), delta[:xb.shape[0]])
        t3 = time.perf_counter()
        t["gather"] += t1 - t0
        t["forward"] += t2 - t1
        t["backward"] += t3 - t2
    t0 = time.perf_counter()
    for start in range(0, x_val.shape[0], BATCH_SIZE):
        torch.sparse.mm(tensor(x_val[start:start + BATCH_SIZE]), W) + b
    t["validation"] = time.perf_counter() - t0
    return t


# -- Alternative deterministic weight gradients (see the module docstring) -----------------

@njit(parallel=True)
def spmm_t_buffers(indptr, indices, delta, n_features, n_parts=2):
    n_rows, units = delta.shape
    partial = np.zeros((n_parts, n_features, units), delta.dtype)
    for p in prange(n_parts):
        for i in range(p * n_rows // n_parts, (p + 1) * n_rows // n_parts):
            for k in range(indptr[i], indptr[i + 1]):
                j = np.uint64(indices[k])
                for u in range(units):
                    partial[p, j, u] += delta[i, u]
    dW = np.empty((n_features, units), delta.dtype)
    for j in prange(n_features):
        for u in range(units):
            s = partial[0, j, u]
            for p in range(1, n_parts):
                s += partial[p, j, u]
            dW[j, u] = s
    return dW


@njit(parallel=True)
def spmm_t_transpose(indptr, indices, delta, n_features):
    n_rows, units = delta.shape
    colptr = np.zeros(n_features + 1, np.int64)
    for k in range(indices.size):
        colptr[indices[k] + 1] += 1
    for j in range(n_features):
        colptr[j + 1] += colptr[j]
    fill = colptr[:-1].copy()
    rows = np.empty(indices.size, np.int64)
    for i in range(n_rows):  # in sample order, so each column lists its rows in order
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            rows[fill[j]] = i
            fill[j] += 1
    dW = np.zeros((n_features, units), delta.dtype)
    for j in prange(n_features):
        for k in range(colptr[j], colptr[j + 1]):
            i = rows[k]
            for u in range(units):
                dW[j, u] += delta[i, u]
    return dW


def backward_only(kernel, batches, delta, n_features):
    t0 = time.perf_counter()
    for xb in batches:
        kernel(xb.indptr, xb.indices, delta[:xb.shape[0]], n_features)
    return time.perf_counter() - t0


# -- Timing and the table --------------------------------------------------------------------

def run(name, epoch, reps, *args):
    """Warm up with one epoch, then time ``reps``; (name, median, min, max of the totals,
    median per component, every repetition)."""
    epoch(*args)  # warm-up: JIT compile or cache load, page faults
    runs = [epoch(*args) for _ in range(reps)]
    totals = np.array([sum(r[k] for k in PARTS) for r in runs])
    parts = {k: np.median([r[k] for r in runs]) for k in runs[0]}
    return name, np.median(totals), totals.min(), totals.max(), parts, runs


def run_system(system, reps, x_train, x_val, W, b, delta, perm):
    """One system's `run` with its inputs converted (scipy, dense, torch)."""
    threads = numba.get_num_threads()
    if system == "nn":
        with nn.use_backend("numba"):
            return run(f"nn kernels, {threads} thread{'s' if threads > 1 else ''}", epoch_nn,
                       reps, x_train, x_val, W, b, delta, perm)
    if system == "nn_numpy":
        with nn.use_backend("numpy"):
            return run("nn, NumPy backend", epoch_nn, reps, x_train, x_val, W, b, delta, perm)
    if system == "scipy":
        return run("scipy.sparse", epoch_scipy, reps, x_train.to_scipy(), x_val.to_scipy(),
                   W, b, delta, perm)
    if system == "dense":
        return run("NumPy dense (BLAS)", epoch_dense, reps, x_train.toarray(),
                   x_val.toarray(), W, b, delta, perm)
    if system == "torch":
        import torch
        torch.set_num_threads(threads)
        return run("torch.sparse (CSR mm)", epoch_torch, reps, x_train, x_val,
                   torch.from_numpy(W), torch.from_numpy(b), torch.from_numpy(delta), perm)
    raise ValueError(f"unknown system {system!r}; expected one of {SYSTEMS}")


SYSTEMS = ("nn", "nn_numpy", "scipy", "dense", "torch")


def versions(system):
    found = {"numpy": np.__version__, "numba": numba.__version__,
             "numba_threads": numba.get_num_threads(),
             "numba_threading_layer": numba.config.THREADING_LAYER}
    if system == "scipy":
        import scipy
        found["scipy"] = scipy.__version__
    if system == "torch":
        import torch
        found.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                     torch_parallel_info=torch.__config__.parallel_info().splitlines()[:6])
    return found


def fmt(seconds):
    return f"{seconds * 1e3:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=7, help="timed epochs per system (>= 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=None, help="a DATA.npz (default: synthetic)")
    parser.add_argument("--no-dense", action="store_true", help="skip dense BLAS (1 GB)")
    parser.add_argument("--no-alternatives", action="store_true")
    parser.add_argument("--no-torch", action="store_true", help="skip torch.sparse")
    parser.add_argument("--system", choices=SYSTEMS, default=None,
                        help="time this system alone (see --json)")
    parser.add_argument("--json", action="store_true",
                        help="with --system: print one JSON line with every repetition")
    parser.add_argument("--quick", action="store_true", help="allow --reps below 5 (smoke test)")
    args = parser.parse_args()
    if args.reps < (1 if args.quick else 5):
        parser.error("--reps must be at least 5 (or use --quick)")

    rng = np.random.default_rng(args.seed)
    x_train, x_val = load_data(args.data, args.seed)
    n_features = x_train.shape[1]
    W = (rng.standard_normal((n_features, UNITS)) * 0.01).astype(np.float32)
    b = np.zeros(UNITS, np.float32)
    delta = rng.standard_normal((BATCH_SIZE, UNITS)).astype(np.float32)
    perm = rng.permutation(x_train.shape[0])
    nnz_train, nnz_val = x_train.nnz, x_val.nnz
    if args.system is not None:
        try:
            name, med, lo, hi, parts, runs = run_system(args.system, args.reps, x_train, x_val,
                                                        W, b, delta, perm)
        except ImportError as exc:  # torch is optional
            print(json.dumps({"system": args.system, "skipped":
                              f"{exc.name} not installed (pip install {exc.name})"}))
            return
        record = {"system": args.system, "name": name, "threads": numba.get_num_threads(),
                  "reps": [{k: float(v) for k, v in r.items()} for r in runs],
                  "train_rows": x_train.shape[0], "train_nnz": nnz_train,
                  "val_rows": x_val.shape[0], "val_nnz": nnz_val, "n_features": n_features,
                  "versions": versions(args.system)}
        if args.json:
            print(json.dumps(record))
        else:
            print(f"{name}: {fmt(med)} ms per epoch [{fmt(lo)}-{fmt(hi)}]; "
                  + ", ".join(f"{k} {fmt(v)}" for k, v in parts.items()))
        return
    print(f"data: {x_train.shape[0]} training rows ({nnz_train / x_train.shape[0]:.1f} "
          f"nonzeros/row), {x_val.shape[0]} validation rows, {n_features} features; "
          f"numba threads {numba.get_num_threads()}, {os.cpu_count()} CPUs\n")

    results = []
    threads = numba.get_num_threads()
    for n in sorted({threads, 1}, reverse=True):
        numba.set_num_threads(n)
        results.append(run_system("nn", args.reps, x_train, x_val, W, b, delta, perm))
    numba.set_num_threads(threads)
    # dense last: OpenBLAS threads spin for a while after a big call
    for system in ("nn_numpy", "scipy", "torch", "dense"):
        if (system == "dense" and args.no_dense) or (system == "torch" and args.no_torch):
            continue
        try:
            results.append(run_system(system, args.reps, x_train, x_val, W, b, delta, perm))
        except ImportError as exc:
            print(f"{system}: {exc.name} not installed: skipped\n")

    base = results[0][1]
    print("| system | epoch total ms (median [min-max]) | gather | forward | weight grad "
          "| validation fwd | total vs nn | weight grad, rows only |")
    print("|---|---|---|---|---|---|---|---|")
    for name, med, lo, hi, parts, _ in results:
        rows_only = fmt(parts["backward_rows"]) if "backward_rows" in parts else "–"
        print(f"| {name} | {fmt(med)} [{fmt(lo)}-{fmt(hi)}] | {fmt(parts['gather'])} | "
              f"{fmt(parts['forward'])} | {fmt(parts['backward'])} | "
              f"{fmt(parts['validation'])} | {med / base:.2f}x | {rows_only} |")
    nnz_passes = 2 * nnz_train + nnz_val
    print(f"\nnn, {threads} threads: {base * 1e9 / nnz_passes:.2f} ns per nonzero-pass "
          f"({nnz_passes / 1e6:.2f} M per epoch)")

    if not args.no_alternatives:
        time.sleep(0.5)  # let BLAS threads go idle
        batches = [x_train.take(perm[s:s + BATCH_SIZE])
                   for s in range(0, x_train.shape[0], BATCH_SIZE)]
        nn_spmm_t = lambda indptr, indices, delta, n: nb.spmm_t(  # noqa: E731
            indptr, indices, None, delta, n)
        ref = [nn_spmm_t(xb.indptr, xb.indices, delta[:xb.shape[0]], n_features)
               for xb in batches]
        designs = (("thread-owned dW rows, binary search (nn)", nn_spmm_t),
                   ("per-part buffers, fixed-order sum", spmm_t_buffers),
                   ("counting-sort transpose (CSC)", spmm_t_transpose))
        print("\n| weight-gradient design (30 batches) | threads | median ms [min-max] "
              "| equal to nn |")
        print("|---|---|---|---|")
        for n in sorted({threads, 1}, reverse=True):
            numba.set_num_threads(n)
            for name, kernel in designs:
                same = all(np.array_equal(kernel(xb.indptr, xb.indices, delta[:xb.shape[0]],
                                                 n_features), r)
                           for xb, r in zip(batches, ref))
                times = np.array([backward_only(kernel, batches, delta, n_features)
                                  for _ in range(args.reps)])
                print(f"| {name} | {n} | {fmt(np.median(times))} "
                      f"[{fmt(times.min())}-{fmt(times.max())}] | {same} |")
        numba.set_num_threads(threads)


if __name__ == "__main__":
    main()
