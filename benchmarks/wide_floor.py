"""The memory floor of a wide first layer's epoch: how long the rows of W1 and of its RMSprop
velocity that an exact epoch must touch take to fetch on this machine, whatever the code.

For one input width (``--features``), the benchmark's input (`benchmarks.scaling`: the reviews'
unigrams + bigrams hashed into that many columns, renumbered by training document frequency
unless ``--order hash``) is cut into the notebook's epoch: the 15,000 training rows in
shuffled batches of ``--batch-size``, then the 10,000 validation rows. Four passes are timed,
each as bare as a pass can be (best of ``--reps``, after a warm-up):

- ``forward``: every training nonzero's row of W1 read (what the forward product must read);
- ``update``: every distinct row of each training batch, its row of W1 and its row of the
  velocity read and written (what any RMSprop step must touch: a row with a nonzero gradient
  changes both);
- ``update_interleaved``: the same with each row of W1 stored beside its row of the velocity
  (one 128-byte block per row instead of two 64-byte lines far apart: a layout nn does not
  use, timed to show what it would save);
- ``validation``: every validation nonzero's row of W1 read.

Each pass asks for its rows ``PREFETCH_DISTANCE`` (16) rows ahead (software prefetch, as nn's
kernels do, with their constant) and does one add per float, so it is bound by fetching rows,
not by arithmetic. It runs on 1 thread and on 2 (the nonzeros or rows cut in halves).
Indices, batches and distinct rows are made before the timing. Prints one JSON line: seconds
per epoch of each pass, per thread count.

    python -m benchmarks.wide_floor --data DATA.npz --tokens TOKENS.npz --features 1048576

Subtracting the floor at a narrow width (2**14 columns: W1 and velocity are 1 MB each and stay
in cache) from the floor at a wide one gives the least time the wide epoch must add for its
width: the scaling section compares it with nn's epoch at the narrow width.
"""

import json
import sys

from benchmarks.peers import common  # standard library only: must run before numpy loads

UNITS = 16


def add_options(parser):
    from benchmarks import scaling

    scaling.add_options(parser)
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each pass")


def build_kernels():
    import numpy as np
    from numba import njit, prange

    from nn.kernels.numba._common import PREFETCH_DISTANCE
    from nn.kernels.numba._common import _unsigned as _u
    from nn.kernels.numba._vector import _add1, _prefetch, _rmsprop16

    @njit(cache=True)
    def read_rows(indices, w, k0, k1):
        """Sum of the rows indices[k0:k1] of w: one 16-float vector add per row, into four
        accumulators in turn (no add waits for the one before)."""
        acc = np.zeros(4 * UNITS, w.dtype)
        flat = w.reshape(-1)
        for k in range(k0, k1):
            if k + PREFETCH_DISTANCE < k1:
                _prefetch(flat, _u(indices[k + PREFETCH_DISTANCE]) * _u(UNITS))
            _add1(acc, _u(k & 3) * _u(UNITS), flat, _u(indices[k]) * _u(UNITS))
        return acc.sum()

    @njit(cache=True)
    def touch_rows(rows, wf, vf, stride, v_at, s0, s1):
        """Read and write the rows rows[s0:s1] of W1 and of the velocity, row j of each at
        ``wf[j * stride:]`` and ``vf[j * stride + v_at:]``: RMSprop's step with a zero
        gradient (16-float vectors; the values do not change)."""
        g = np.zeros(UNITS, wf.dtype)
        one, zero, eps = wf.dtype.type(1), wf.dtype.type(0), wf.dtype.type(1e-7)
        for s in range(s0, s1):
            if s + PREFETCH_DISTANCE < s1:
                _prefetch(wf, _u(rows[s + PREFETCH_DISTANCE]) * _u(stride))
                _prefetch(vf, _u(rows[s + PREFETCH_DISTANCE]) * _u(stride) + _u(v_at))
            o = _u(rows[s]) * _u(stride)
            _rmsprop16(wf, o, g, 0, vf, o + _u(v_at), zero, one, zero, eps)

    @njit(parallel=True, cache=True)
    def read_rows_2(indices, w):
        total = np.zeros(2, w.dtype)
        n = indices.size
        for p in prange(2):
            total[p] = read_rows(indices, w, p * n // 2, (p + 1) * n // 2)
        return total.sum()

    @njit(parallel=True, cache=True)
    def touch_rows_2(rows, wf, vf, stride, v_at):
        n = rows.size
        for p in prange(2):
            touch_rows(rows, wf, vf, stride, v_at, p * n // 2, (p + 1) * n // 2)

    def read(threads, indices, w):
        return read_rows(indices, w, 0, indices.size) if threads == 1 else read_rows_2(indices, w)

    def touch(threads, rows, w, v):
        """``v`` None: W1's rows interleaved with the velocity's in ``w`` (n, 2 * UNITS)."""
        wf = w.reshape(-1)
        vf, stride, v_at = (wf, 2 * UNITS, UNITS) if v is None else (v.reshape(-1), UNITS, 0)
        if threads == 1:
            touch_rows(rows, wf, vf, stride, v_at, 0, rows.size)
        else:
            touch_rows_2(rows, wf, vf, stride, v_at)

    return read, touch


def main():
    args = common.parse_args(__doc__.split("\n\n")[0], add_options)
    if args.features and not args.tokens:
        sys.exit("--features needs --tokens TOKENS.npz")
    import numba
    import numpy as np

    from benchmarks import scaling
    from benchmarks.floor import best_seconds
    from nn.memory import zeros_aligned

    x, _, source = scaling.load_input(args)
    n = common.N_VALIDATION
    x_val, x_train = x[:n], x[n:]
    order = np.random.default_rng(args.seed).permutation(x_train.shape[0])
    batches = [x_train.take(order[s:s + args.batch_size])
               for s in range(0, x_train.shape[0], args.batch_size)]
    forward = [np.asarray(b.indices, np.int64) for b in batches]
    update = [np.unique(idx) for idx in forward]
    validation = np.asarray(x_val.indices, np.int64)
    w = zeros_aligned((x.shape[1], UNITS), np.float32)
    v = zeros_aligned((x.shape[1], UNITS), np.float32)
    w += np.float32(1e-3)
    wv = zeros_aligned((x.shape[1], 2 * UNITS), np.float32)  # W1 row j, then velocity row j
    wv[:, :UNITS] = w
    read, touch = build_kernels()

    passes = {
        "forward": lambda t: [read(t, idx, w) for idx in forward],
        "update": lambda t: [touch(t, rows, w, v) for rows in update],
        "update_interleaved": lambda t: [touch(t, rows, wv, None) for rows in update],
        "validation": lambda t: read(t, validation, w),
    }
    seconds = {}
    threads = sorted({1, min(2, numba.get_num_threads())})
    for t in threads:
        for name, run in passes.items():  # best_seconds warms up first: compile, page in
            seconds[f"{name}/{t}"] = best_seconds(lambda: run(t), args.reps)
    print(json.dumps({
        "features": x.shape[1], "batch_size": args.batch_size, "input": source,
        "order": args.order, "threads": threads, "reps": args.reps, "seconds": seconds,
        "train_nnz": int(x_train.nnz), "val_nnz": int(x_val.nnz),
        "distinct_rows_per_batch": float(np.mean([r.size for r in update]))}), flush=True)


if __name__ == "__main__":
    main()
