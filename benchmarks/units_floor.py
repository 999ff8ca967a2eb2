"""The floor of a wide model's epoch on this machine: the notebook's model with both hidden
layers ``--units`` wide (512), its first layer fed the multi-hot input, the second a dense
``units x units`` layer. How fast one epoch could be, from what it must move and compute:

- the first layer's row traffic: every training and validation nonzero reads one row of W1
  (``units`` floats: 2 KB at 512), every training nonzero adds one delta row into its row of
  the weight gradient, and every batch's RMSprop step reads and writes each row of W1 and of
  its velocity (a batch of 512 reviews touches three quarters of the 10,000 rows);
- the ``units x units`` layer's arithmetic: per training row 3 products of ``2 units^2``
  flops (forward, weight gradient, input gradient), per validation row 1.

Measured here, on ``--threads`` threads (best of ``--reps`` after a warm-up):

- ``row_read``: bytes per second of summing the epoch's rows of W1 (10,000 x ``units``
  float32, 20 MB at 512: in L3, not in L2), in the order of the training batches' nonzeros,
  four rows ahead in flight (software prefetch), the nonzeros cut in ``--threads`` parts;
- ``stream_rmw``: bytes per second (read + write) of a pass over W1 and its velocity
  (``np.multiply(a, 1, out=a)`` on each thread's part);
- ``gemm``: flops per second of NumPy's BLAS on the layer's product, ``(512, units) @
  (units, units)`` float32, with BLAS on ``--threads`` threads.

The floor is the row traffic at the measured bandwidths plus the flops at the measured BLAS
rate. It leaves out what any implementation adds (the loss, the RMSprop step's square roots
and divisions, the last layer, Python), so a real epoch is above it. Prints one JSON line.

    python -m benchmarks.units_floor --data DATA.npz --units 512 --threads 2
"""

import argparse
import json
import os

N_VALIDATION, BATCH_SIZE, N_FEATURES_DEFAULT = 10000, 512, 10000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="DATA.npz written by benchmarks.data")
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                "NUMBA_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    return args


def build_read_rows(units):
    import numpy as np
    from numba import njit, prange

    from nn.kernels.numba._common import SIMD_WIDTH
    from nn.kernels.numba._common import _unsigned as _u
    from nn.kernels.numba._vector import _add1, _prefetch

    ahead = 4

    @njit(cache=True)
    def read_part(indices, w, k0, k1):
        """The sum of the rows indices[k0:k1] of w, one row at a time into one accumulator
        row (in L1), the row ``ahead`` nonzeros on prefetched line by line."""
        U = _u(w.shape[1])
        acc = np.zeros(w.shape[1], w.dtype)
        flat = w.reshape(-1)
        for k in range(k0, k1):
            o, c = _u(indices[k]) * U, _u(0)
            far = _u(indices[min(k + ahead, k1 - 1)]) * U
            while c < U:
                _prefetch(flat, far + c)
                _add1(acc, c, flat, o + c)
                c += _u(SIMD_WIDTH)
        return acc[0]

    @njit(parallel=True, cache=True)
    def read_rows(indices, w, n_parts):
        total = np.zeros(n_parts, w.dtype)
        for p in prange(n_parts):
            total[p] = read_part(indices, w, p * indices.size // n_parts,
                                 (p + 1) * indices.size // n_parts)
        return total.sum()

    assert units % SIMD_WIDTH == 0, "--units must be a multiple of 16"
    return read_rows


def main():
    args = parse_args()
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks.floor import best_seconds  # after parse_args has set the thread counts
    from benchmarks.machine import blas_info
    from nn.memory import zeros_aligned

    with np.load(args.data) as f:
        indptr, indices = f["train_indptr"], f["train_indices"]
        n_features = int(f["n_features"]) if "n_features" in f else N_FEATURES_DEFAULT
    val_nnz = int(indptr[N_VALIDATION])
    train_rows = indptr.size - 1 - N_VALIDATION
    train_nnz = int(indptr[-1]) - val_nnz
    order = np.random.default_rng(args.seed).permutation(train_rows) + N_VALIDATION
    epoch_indices = np.concatenate([indices[indptr[r]:indptr[r + 1]] for r in order])
    units, row_bytes = args.units, 4 * args.units
    n_batches = -(-train_rows // BATCH_SIZE)

    w = zeros_aligned((n_features, units), np.float32)
    w += np.float32(1e-3)
    read_rows = build_read_rows(units)
    read_s = best_seconds(lambda: read_rows(epoch_indices, w, args.threads), args.reps)
    row_read = epoch_indices.size * row_bytes / read_s

    wv = np.ones(2 * n_features * units, np.float32)  # W1 and its velocity
    parts = np.array_split(wv, args.threads)
    pool = ThreadPoolExecutor(args.threads)
    rmw_s = best_seconds(lambda: list(pool.map(lambda a: np.multiply(a, 1, out=a), parts)),
                         args.reps)
    stream_rmw = 2 * wv.nbytes / rmw_s

    a = np.random.default_rng(0).standard_normal((BATCH_SIZE, units)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((units, units)).astype(np.float32)
    out = np.empty((BATCH_SIZE, units), np.float32)

    def gemm():
        for _ in range(10):
            np.matmul(a, b, out=out)
    gemm_rate = 10 * 2 * BATCH_SIZE * units * units / best_seconds(gemm, args.reps)

    read_bytes = row_bytes * (2 * train_nnz + val_nnz)  # W1 rows (train, val), delta rows
    rmw_bytes = n_batches * 2 * 2 * n_features * row_bytes  # W1 and velocity, read + write
    flops = 2 * units * units * (3 * train_rows + N_VALIDATION)
    seconds = {"first_layer_rows": read_bytes / row_read + rmw_bytes / stream_rmw,
               "hidden_layer_flops": flops / gemm_rate}
    seconds["floor"] = sum(seconds.values())
    print(json.dumps({
        "units": units, "threads": args.threads, "n_features": n_features,
        "train_rows": train_rows, "train_nnz": train_nnz, "val_nnz": val_nnz,
        "bandwidth_gbs": {"row_read": row_read / 1e9, "stream_rmw": stream_rmw / 1e9},
        "gemm_gflops": gemm_rate / 1e9, "read_bytes": read_bytes, "rmw_bytes": rmw_bytes,
        "flops": flops, "seconds": seconds, "blas": blas_info(),
        "openblas_env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE",
                                                       "OPENBLAS_L2_SIZE")}}), flush=True)


if __name__ == "__main__":
    main()
