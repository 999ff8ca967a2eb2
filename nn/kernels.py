"""Compiled kernels for sparse multi-hot input, and their NumPy reference twins.

A first `Dense` layer fed a multi-hot batch ``X`` (CSR, all values 1) needs two products:
``Z = X @ W + b`` forward and ``dW = X.T @ delta`` backward. Both touch one 16-float row of
``W`` (or ``dW``) per nonzero, so they cost O(nnz * units) instead of the dense
O(n_rows * n_features * units). Only the rows of ``dW`` whose feature occurs in the batch are
nonzero, so the backward kernel used in training (`spmm_t_rows_ones`) returns just those
rows, and the optimizer updates just those rows of ``W`` (`rmsprop_update_rows`): training
costs O(nnz * units) per step whatever the width. The kernels here are ``@njit(cache=True)``
free functions over plain arrays (CSR as ``indptr`` int64, ``indices`` int32, ``data`` or
none), in the manner of lenskit/csr: a SciPy object cannot enter compiled code, and plain
arrays keep each kernel replaceable. Every kernel ``f`` has a plain-NumPy twin
``f_reference`` with the same signature and result, used by the property tests and the
benchmark.

The kernels trust their input: `nn.sparse.CSRMatrix` validates it once, so nothing here
checks bounds. Preconditions: ``0 <= indices < n_features``, ``indptr`` non-decreasing from 0
to ``len(indices)``, for the ``spmm_t*`` kernels each row's ``indices`` sorted, and 2-D
arrays C-contiguous.

Design notes (2-vCPU AMD EPYC VM, AVX2, 512 KB L2 per core, so the 640 KB ``W`` of the IMDB
model lives in L3):

- Rows of ``W`` are added 16 floats at a time by `_add4` / `_add1`, which emit LLVM vector
  code directly (``<16 x float>`` loads, adds, one store). Numba switches LLVM's SLP
  vectorizer off (it miscompiled, numba PR #8852), so a 16-element loop with a constant trip
  count is fully unrolled and stays scalar, and a loop with a runtime trip count is
  vectorized with runtime overlap checks and a remainder loop around every 16 floats; the
  hand-written block has neither, and runs 1.5x faster in a plain (serial) function than
  the loop did inside ``prange``. The Python versions beside the intrinsics compute the same
  thing lane by lane, so results are bitwise equal with ``NUMBA_DISABLE_JIT=1``. A 16-unit
  layer (the common width) gets loops of its own: testing the width inside the nonzero loop
  cost 25%, and a general loop over blocks 70%; other widths take whole blocks of 16, then
  the rest unit by unit with the same association. Index arithmetic stays unsigned
  (``_u``): numba wraps negative indices with a per-element select, and types uint64 +
  int64 as float64. Layers and optimizer slots start rows on 64-byte boundaries
  (`empty_aligned`), so a 16-float row is one cache line instead of two: 10-20% faster on
  the IMDB width, more on wide inputs.
- Forward, four ``W`` rows are added pairwise before touching the output row, which cuts
  the loop-carried store-to-load chain through ``Z[i]`` by four. The order of additions is
  fixed, so results are deterministic.
- A 2**20-row layer's ``W`` and velocity (64 MB each) live in main memory, and a batch
  touches ~80,000 of their rows at random. The row indices are known ahead, so the forward,
  the row-sparse backward and the lazy RMSprop step ask for rows ``_AHEAD`` nonzeros (or
  rows) before using them (`_prefetch`, LLVM's prefetch hint): the lazy step ran 2x faster,
  the others ~20%. On the IMDB width everything is in cache and the hint changes nothing.
- Threads. Every kernel has a serial body; a ``prange`` version runs it on row ranges only
  when a call has at least ``PARALLEL_MIN_WORK`` inner steps (nonzeros x units). On this
  2-core machine a parallel region costs ~5 us when both cores are free, but when another
  process holds one core the region waits for the OS to schedule its second thread: 8-12 ms
  per call, measured on every kernel, 50-100x the ~100 us of work in a batch of 512 reviews.
  Even with both cores free, two threads gained nothing on a batch of 512 reviews (forward
  84 vs 96 us, backward 205 vs 157 us: the split costs what it saves), while a forward over
  all 25,000 reviews runs 2x faster. Training batches therefore run on one thread, which
  also keeps numba's and OpenBLAS's threads from fighting (PERFORMANCE.md); only large calls
  (``predict`` on a whole split, building n-grams) use all threads. The public kernels are
  thin Python wrappers that make this choice: numba cannot cache a function that calls
  ``get_num_threads()`` itself. Serial and parallel paths give the same bits.
- The backward passes are deterministic: bitwise the same on every run and for any thread
  count, with no float atomics and no per-thread partial sums: every ``dW`` row is summed
  in sample order by one thread. `spmm_t_rows_ones` keeps only the rows of the features
  present: a bitmap marks them (a row's neighbouring columns share a 64-bit word, so bits
  are gathered in a register first), a prefix popcount ranks them, a separate pass stores
  each nonzero's rank (no load waits for a store, so the CPU overlaps many), then the
  delta rows are added into rank-indexed rows. When the batch has at least as many
  nonzeros as ``W`` has rows (the IMDB notebook: 66,000 in a batch, 10,000 rows) nearly
  every row is touched, and the dense scatter, with no ranking, is cheaper: then every row
  is listed. Transposing the batch (a counting sort by column) so that each row is summed
  from cache-resident delta rows was measured 1.5-2x slower, on both widths. In parallel,
  each thread owns a contiguous range of rows cut so that the ranges hold about equal
  numbers of nonzeros, and finds each sample's columns in its range by binary search in
  the sorted CSR row.
- `multi_hot_csr` and `csr_sort_rows` sort without comparisons: a counting sort by column,
  then reading the columns back in order refills each row sorted. Linear time, and it
  compiles in a fraction of the time numba's ``np.sort`` takes. `hashed_ngrams_csr` sorts
  each row's hashed columns with a radix sort on bytes, in memory proportional to the
  n-grams, not to the width.

References: lenskit/csr (numba CSR kernels with SciPy twins); PERFORMANCE.md in this repo;
splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
"""

import numba
import numpy as np
from numba import njit, prange

_u = np.uint64  # unsigned index: numba skips the negative-index wraparound (see above)
_BLOCK = 16     # units per vector block (two AVX2 registers of float32)
PARALLEL_MIN_WORK = 1 << 23  # inner steps (nonzeros x units) below which a call runs serially
_AHEAD = 16     # iterations between a prefetch and the use of what it fetches

__all__ = [
    "spmm_ones", "spmm", "spmm_t_ones", "spmm_t", "spmm_t_rows_ones", "spmm_t_rows",
    "gather_rows", "gather_rows_data", "multi_hot_csr", "csr_sort_rows", "csr_sort_rows_data",
    "hashed_ngrams_csr", "ngram_hash", "rmsprop_update", "rmsprop_update_rows",
    "rmsprop_catch_up", "empty_aligned", "zeros_aligned", "PARALLEL_MIN_WORK",
]


def _threads_for(work):
    """Threads for a call with ``work`` inner steps: 1 below `PARALLEL_MIN_WORK`."""
    if work < PARALLEL_MIN_WORK:
        return 1
    return numba.get_num_threads()


def empty_aligned(shape, dtype, align=64):
    """An uninitialised C-contiguous array whose data starts on a ``align``-byte boundary.

    A 16-unit float32 row is 64 bytes: aligned, it is one cache line, where NumPy's default
    (16-byte) alignment splits most rows over two. Parameters and optimizer slots of a wide
    first layer are allocated this way; the kernels work on any alignment."""
    return _aligned(np.empty, shape, dtype, align)


def zeros_aligned(shape, dtype, align=64):
    """As `empty_aligned`, filled with zeros (by the allocator: pages never touched cost no
    memory, as with ``np.zeros``)."""
    return _aligned(np.zeros, shape, dtype, align)


def _aligned(allocate, shape, dtype, align):
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    buffer = allocate(nbytes + align, np.uint8)
    start = -buffer.ctypes.data % align
    return buffer[start:start + nbytes].view(dtype).reshape(shape)


# --------------------------------------------------------------------------------------
# Vector blocks: z[zo : zo + 16] += sum of rows of w, in LLVM vector code
# --------------------------------------------------------------------------------------

if numba.config.DISABLE_JIT:
    def _add4(z, zo, w, o0, o1, o2, o3):
        """z[zo:zo+16] += (w[o0:o0+16] + w[o1:o1+16]) + (w[o2:o2+16] + w[o3:o3+16])."""
        b = _BLOCK
        z[zo:zo + b] += (w[o0:o0 + b] + w[o1:o1 + b]) + (w[o2:o2 + b] + w[o3:o3 + b])

    def _add1(z, zo, w, o0):
        """z[zo:zo+16] += w[o0:o0+16]."""
        z[zo:zo + _BLOCK] += w[o0:o0 + _BLOCK]

    def _axpy4(z, zo, w, o0, o1, o2, o3, x0, x1, x2, x3):
        """z[zo:zo+16] += (x0 w[o0:] + x1 w[o1:]) + (x2 w[o2:] + x3 w[o3:]), 16 wide."""
        b, dt = _BLOCK, w.dtype.type
        z[zo:zo + b] += ((dt(x0) * w[o0:o0 + b] + dt(x1) * w[o1:o1 + b])
                         + (dt(x2) * w[o2:o2 + b] + dt(x3) * w[o3:o3 + b]))

    def _axpy1(z, zo, w, o0, x0):
        """z[zo:zo+16] += x0 w[o0:o0+16]."""
        z[zo:zo + _BLOCK] += w.dtype.type(x0) * w[o0:o0 + _BLOCK]

    def _prefetch(a, offset):
        """Ask the CPU to start loading a[offset]'s cache line (a hint: nothing to do here)."""

    def _rmsprop16(w, wo, g, go, v, vo, lr, r, one_minus_r, eps):
        """The RMSprop step of `rmsprop_update` on w[wo:wo+16], g[go:go+16], v[vo:vo+16]."""
        b = _BLOCK
        gk = g[go:go + b]
        vk = r * v[vo:vo + b] + one_minus_r * (gk * gk)
        v[vo:vo + b] = vk
        w[wo:wo + b] -= (lr * gk) / np.sqrt(vk + eps)
else:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _rows_sum_codegen(n_terms, scaled):
        """LLVM for ``z[zo:zo+16] += sum of n_terms 16-wide rows of w`` (each times its x
        when scaled), summed pairwise like the Python versions above."""

        def codegen(context, builder, sig, args):
            z_ty, w_ty = sig.args[0], sig.args[2]
            z = context.make_array(z_ty)(context, builder, args[0])
            w = context.make_array(w_ty)(context, builder, args[2])
            elem = context.get_value_type(w_ty.dtype)
            vec = ir.VectorType(elem, _BLOCK)
            align = context.get_abi_sizeof(elem)

            def block(array, offset, offset_ty):
                offset = context.cast(builder, offset, offset_ty, types.intp)
                return builder.bitcast(builder.gep(array.data, [offset]), vec.as_pointer())

            terms = [builder.load(block(w, args[3 + t], sig.args[3 + t]), align=align)
                     for t in range(n_terms)]
            if scaled:
                lane0 = ir.Constant(ir.IntType(32), 0)
                zeros = ir.Constant(ir.VectorType(ir.IntType(32), _BLOCK), [0] * _BLOCK)
                for t in range(n_terms):
                    x = context.cast(builder, args[3 + n_terms + t], sig.args[3 + n_terms + t],
                                     w_ty.dtype)
                    x = builder.insert_element(ir.Constant(vec, ir.Undefined), x, lane0)
                    x = builder.shuffle_vector(x, ir.Constant(vec, ir.Undefined), zeros)
                    terms[t] = builder.fmul(x, terms[t])
            while len(terms) > 1:
                terms = [builder.fadd(terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
            target = block(z, args[1], sig.args[1])
            builder.store(builder.fadd(builder.load(target, align=align), terms[0]), target,
                          align=align)
            return context.get_dummy_value()

        return codegen

    @intrinsic
    def _add4(typingctx, z, zo, w, o0, o1, o2, o3):
        return types.void(z, zo, w, o0, o1, o2, o3), _rows_sum_codegen(4, False)

    @intrinsic
    def _add1(typingctx, z, zo, w, o0):
        return types.void(z, zo, w, o0), _rows_sum_codegen(1, False)

    @intrinsic
    def _axpy4(typingctx, z, zo, w, o0, o1, o2, o3, x0, x1, x2, x3):
        return (types.void(z, zo, w, o0, o1, o2, o3, x0, x1, x2, x3),
                _rows_sum_codegen(4, True))

    @intrinsic
    def _axpy1(typingctx, z, zo, w, o0, x0):
        return types.void(z, zo, w, o0, x0), _rows_sum_codegen(1, True)

    @intrinsic
    def _prefetch(typingctx, a, offset):
        def codegen(context, builder, sig, args):
            array = context.make_array(sig.args[0])(context, builder, args[0])
            offset = context.cast(builder, args[1], sig.args[1], types.intp)
            byte_ptr = ir.IntType(8).as_pointer()
            address = builder.bitcast(builder.gep(array.data, [offset]), byte_ptr)
            i32 = ir.IntType(32)
            prefetch = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
                "llvm.prefetch.p0")
            builder.call(prefetch, [address, i32(0), i32(3), i32(1)])  # read, keep, data
            return context.get_dummy_value()

        return types.void(a, offset), codegen

    @intrinsic
    def _rmsprop16(typingctx, w, wo, g, go, v, vo, lr, r, one_minus_r, eps):
        def codegen(context, builder, sig, args):
            dtype = sig.args[0].dtype
            elem = context.get_value_type(dtype)
            vec = ir.VectorType(elem, _BLOCK)
            align = context.get_abi_sizeof(elem)

            def block(k):
                array = context.make_array(sig.args[k])(context, builder, args[k])
                offset = context.cast(builder, args[k + 1], sig.args[k + 1], types.intp)
                return builder.bitcast(builder.gep(array.data, [offset]), vec.as_pointer())

            def splat(k):
                x = context.cast(builder, args[k], sig.args[k], dtype)
                x = builder.insert_element(ir.Constant(vec, ir.Undefined), x,
                                           ir.Constant(ir.IntType(32), 0))
                return builder.shuffle_vector(
                    x, ir.Constant(vec, ir.Undefined),
                    ir.Constant(ir.VectorType(ir.IntType(32), _BLOCK), [0] * _BLOCK))

            w_ptr, g_ptr, v_ptr = block(0), block(2), block(4)
            lr_v, r_v, omr_v, eps_v = splat(6), splat(7), splat(8), splat(9)
            gk = builder.load(g_ptr, align=align)
            vk = builder.fadd(builder.fmul(r_v, builder.load(v_ptr, align=align)),
                              builder.fmul(omr_v, builder.fmul(gk, gk)))
            builder.store(vk, v_ptr, align=align)
            name = f"llvm.sqrt.v{_BLOCK}f{8 * align}"  # IEEE sqrt, lane by lane
            sqrt = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]),
                                                  name)
            root = builder.call(sqrt, [builder.fadd(vk, eps_v)])
            step = builder.fdiv(builder.fmul(lr_v, gk), root)
            builder.store(builder.fsub(builder.load(w_ptr, align=align), step), w_ptr,
                          align=align)
            return context.get_dummy_value()

        return types.void(w, wo, g, go, v, vo, lr, r, one_minus_r, eps), codegen


# --------------------------------------------------------------------------------------
# Forward: Z = X @ W + b
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _spmm_rows16(indptr, indices, data, Wf, b, Zf, r0, r1):
    """Rows r0..r1 of Z = X @ W + b for 16 units (flat W and Z): each nonzero is one vector
    block. The common layer width gets its own loop; a width test inside the nonzero loop
    cost 25% and a general block loop 70%."""
    units, one, four = _u(_BLOCK), _u(1), _u(4)
    last, lead = _u(indptr[r1]), _u(_AHEAD + 4)
    ahead = last - lead if last > lead else _u(0)  # from there on, nothing left to fetch
    for i in range(r0, r1):
        zi = _u(i) * units
        for u in range(units):
            Zf[zi + u] = b[u]
        k, end = _u(indptr[i]), _u(indptr[i + 1])
        while k + four <= end:
            if k < ahead:  # W rows of the nonzeros _AHEAD on (the next row's, near its end)
                for q in range(4):
                    _prefetch(Wf, _u(indices[k + _u(_AHEAD + q)]) * units)
            o0, o1 = _u(indices[k]) * units, _u(indices[k + one]) * units
            o2, o3 = _u(indices[k + _u(2)]) * units, _u(indices[k + _u(3)]) * units
            if data is None:
                _add4(Zf, zi, Wf, o0, o1, o2, o3)
            else:
                _axpy4(Zf, zi, Wf, o0, o1, o2, o3,
                       data[k], data[k + one], data[k + _u(2)], data[k + _u(3)])
            k += four
        while k < end:
            if data is None:
                _add1(Zf, zi, Wf, _u(indices[k]) * units)
            else:
                _axpy1(Zf, zi, Wf, _u(indices[k]) * units, data[k])
            k += one


@njit(cache=True)
def _spmm_rows_any(indptr, indices, data, Wf, b, Zf, units, r0, r1):
    """As `_spmm_rows16` for any width: whole blocks of 16, then the rest unit by unit,
    with the same association."""
    units = _u(units)
    full, one, four = units - units % _u(_BLOCK), _u(1), _u(4)
    for i in range(r0, r1):
        zi = _u(i) * units
        for u in range(units):
            Zf[zi + u] = b[u]
        k, end = _u(indptr[i]), _u(indptr[i + 1])
        while k + four <= end:
            o0, o1 = _u(indices[k]) * units, _u(indices[k + one]) * units
            o2, o3 = _u(indices[k + _u(2)]) * units, _u(indices[k + _u(3)]) * units
            c = _u(0)
            if data is None:
                while c < full:
                    _add4(Zf, zi + c, Wf, o0 + c, o1 + c, o2 + c, o3 + c)
                    c += _u(_BLOCK)
                while c < units:
                    Zf[zi + c] += (Wf[o0 + c] + Wf[o1 + c]) + (Wf[o2 + c] + Wf[o3 + c])
                    c += one
            else:
                x0, x1, x2, x3 = data[k], data[k + one], data[k + _u(2)], data[k + _u(3)]
                while c < full:
                    _axpy4(Zf, zi + c, Wf, o0 + c, o1 + c, o2 + c, o3 + c, x0, x1, x2, x3)
                    c += _u(_BLOCK)
                while c < units:
                    Zf[zi + c] += ((x0 * Wf[o0 + c] + x1 * Wf[o1 + c])
                                   + (x2 * Wf[o2 + c] + x3 * Wf[o3 + c]))
                    c += one
            k += four
        while k < end:
            o, c = _u(indices[k]) * units, _u(0)
            if data is None:
                while c < full:
                    _add1(Zf, zi + c, Wf, o + c)
                    c += _u(_BLOCK)
                while c < units:
                    Zf[zi + c] += Wf[o + c]
                    c += one
            else:
                x = data[k]
                while c < full:
                    _axpy1(Zf, zi + c, Wf, o + c, x)
                    c += _u(_BLOCK)
                while c < units:
                    Zf[zi + c] += x * Wf[o + c]
                    c += one
            k += one


@njit(cache=True)
def _spmm_rows(indptr, indices, data, W, b, Z, r0, r1):
    """Rows r0..r1 of Z = X @ W + b (``data`` None: multi-hot). Four nonzeros at a time,
    added pairwise; blocks of 16 units in vector code."""
    Wf, Zf = W.reshape(-1), Z.reshape(-1)
    if W.shape[1] == _BLOCK:
        _spmm_rows16(indptr, indices, data, Wf, b, Zf, r0, r1)
    else:
        _spmm_rows_any(indptr, indices, data, Wf, b, Zf, W.shape[1], r0, r1)


@njit(cache=True)
def _spmm_serial(indptr, indices, data, W, b):
    Z = np.empty((indptr.size - 1, W.shape[1]), W.dtype)
    _spmm_rows(indptr, indices, data, W, b, Z, 0, indptr.size - 1)
    return Z


@njit(parallel=True, cache=True)
def _spmm_parallel(indptr, indices, data, W, b, n_parts):
    n_rows = indptr.size - 1
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    for p in prange(n_parts):  # contiguous row ranges; each row is one thread's
        _spmm_rows(indptr, indices, data, W, b, Z, p * n_rows // n_parts,
                   (p + 1) * n_rows // n_parts)
    return Z


def _spmm(indptr, indices, data, W, b):
    threads = _threads_for(indices.size * W.shape[1])
    if threads == 1:
        return _spmm_serial(indptr, indices, data, W, b)
    return _spmm_parallel(indptr, indices, data, W, b, 4 * threads)


def spmm_ones(indptr, indices, W, b):
    """Z = X @ W + b for a multi-hot CSR ``X`` (all values 1).

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    W : float (n_features, units), C-contiguous;  b : float (units,)

    Returns
    -------
    Z : (n_rows, units), W's dtype. Duplicate indices in a row are added twice. Each row is
    computed by one thread in a fixed order: the same bits for any thread count.
    """
    return _spmm(indptr, indices, None, W, b)


def spmm_ones_reference(indptr, indices, W, b):
    """NumPy twin of `spmm_ones`."""
    n_rows = indptr.size - 1
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    Z[:] = b
    np.add.at(Z, rows, W[indices])
    return Z


def spmm(indptr, indices, data, W, b):
    """Z = X @ W + b for a CSR ``X`` with values ``data`` (nnz,) of W's dtype. Shapes as
    `spmm_ones`."""
    return _spmm(indptr, indices, data, W, b)


def spmm_reference(indptr, indices, data, W, b):
    """NumPy twin of `spmm`."""
    n_rows = indptr.size - 1
    rows = np.repeat(np.arange(n_rows), np.diff(indptr))
    Z = np.empty((n_rows, W.shape[1]), W.dtype)
    Z[:] = b
    np.add.at(Z, rows, (data[:, None] * W[indices]).astype(W.dtype, copy=False))
    return Z


# --------------------------------------------------------------------------------------
# Backward: dW = X.T @ delta, deterministic
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _feature_cuts(indices, n_features, n_parts):
    """Cut [0, n_features) into ``n_parts`` contiguous ranges holding about equally many
    nonzeros, estimated from ~1000 evenly spaced ``indices`` counted in bins of 2**shift
    features. Returns (n_parts + 1,) bounds. Only speed depends on the cut, never results."""
    cuts = np.empty(n_parts + 1, np.int64)
    for p in range(n_parts + 1):
        cuts[p] = p * n_features // n_parts
    if n_parts == 1 or indices.size == 0:
        return cuts
    shift = 0
    while (n_features - 1) >> shift >= 1024:
        shift += 1
    hist = np.zeros(((n_features - 1) >> shift) + 1, np.int64)
    step = max(1, indices.size // 1024)
    total = 0
    for k in range(0, indices.size, step):
        hist[indices[k] >> shift] += 1
        total += 1
    seen = 0
    p = 1
    for bin_ in range(hist.size):
        seen += hist[bin_]
        while p < n_parts and seen * n_parts >= p * total:
            cuts[p] = min(n_features, (bin_ + 1) << shift)
            p += 1
    return cuts


@njit(cache=True)
def _lower_bound(a, lo, hi, x):
    """First k in [lo, hi] with a[k] >= x, or hi (``a[lo:hi]`` sorted). Written so that
    LLVM can use a conditional move instead of an unpredictable branch."""
    if lo >= hi:
        return lo
    base, n = lo, hi - lo
    while n > 1:
        half = n >> 1
        if a[base + half] < x:
            base += half
        n -= half
    if a[base] < x:
        base += 1
    return base


@njit(cache=True)
def _popcount(x):
    """Set bits of a uint64 (SWAR; LLVM turns it into one popcnt)."""
    x = x - ((x >> _u(1)) & _u(0x5555555555555555))
    x = (x & _u(0x3333333333333333)) + ((x >> _u(2)) & _u(0x3333333333333333))
    x = (x + (x >> _u(4))) & _u(0x0F0F0F0F0F0F0F0F)
    return (x * _u(0x0101010101010101)) >> _u(56)


@njit(cache=True)
def _distinct_columns(indptr, indices, n_features):
    """The distinct columns of a CSR matrix, increasing, and what ranks them: a bitmap of
    the columns present (``bits``) and the number of set bits before each 64-bit word
    (``below``); column j's rank is ``below[j >> 6]`` plus the set bits of its word below
    it. O(nnz + n_features / 64): nothing of length n_features. The bits of one row's
    neighbouring columns are gathered in a register, which breaks the store-to-load chain
    through a word that consecutive columns share."""
    n_words = (n_features + 63) >> 6
    bits = np.zeros(n_words, np.uint64)
    for i in range(indptr.size - 1):
        word, acc = _u(0), _u(0)
        for k in range(indptr[i], indptr[i + 1]):
            j = _u(indices[k])
            if j >> _u(6) != word:
                bits[word] |= acc
                word, acc = j >> _u(6), _u(0)
            acc |= _u(1) << (j & _u(63))
        bits[word] |= acc
    below = np.empty(n_words, np.uint64)
    n_cols = _u(0)
    for w in range(n_words):
        below[w] = n_cols
        n_cols += _popcount(bits[w])
    rows = np.empty(n_cols, np.int32)
    r = 0
    for w in range(n_words):
        x = bits[w]
        while x != _u(0):
            low = x & (~x + _u(1))  # lowest set bit; its index is popcount(low - 1)
            rows[r] = np.int32(_u(w) * _u(64) + _popcount(low - _u(1)))
            r += 1
            x ^= low
    return rows, bits, below


@njit(cache=True)
def _column_ranks(indices, bits, below, rank, k0, k1):
    """rank[k] = the rank of column indices[k] among the distinct columns, for k0 <= k < k1.
    A pass of its own: no load in it waits for a store, so the CPU overlaps many."""
    for k in range(k0, k1):
        j = _u(indices[k])
        w = j >> _u(6)
        rank[k] = np.uint32(below[w] + _popcount(bits[w] & ((_u(1) << (j & _u(63))) - _u(1))))


@njit(cache=True)
def _spmm_t_part(indptr, indices, data, delta, out, out_row, f0, f1, n_features):
    """Add every sample's delta row (times its value) into row ``out_row[k]`` of ``out`` for
    each of its nonzeros k whose feature is in [f0, f1), in sample order. ``out_row`` is
    ``indices`` itself for a dense dW, or the features' ranks for a row-sparse one."""
    n_rows = indptr.size - 1
    units = _u(delta.shape[1])
    full, one = units - units % _u(_BLOCK), _u(1)
    out_f, delta_f = out.reshape(-1), delta.reshape(-1)
    for i in range(n_rows):
        di = _u(i) * units
        start, end = indptr[i], indptr[i + 1]
        if f0 > 0:
            start = _lower_bound(indices, start, end, f0)
        if f1 < n_features:
            end = _lower_bound(indices, start, end, f1)
        if units == _u(_BLOCK):  # the common width: one vector block per nonzero
            for k in range(_u(start), _u(end)):
                if k + _u(_AHEAD) < _u(end):
                    _prefetch(out_f, _u(out_row[k + _u(_AHEAD)]) * units)
                if data is None:
                    _add1(out_f, _u(out_row[k]) * units, delta_f, di)
                else:
                    _axpy1(out_f, _u(out_row[k]) * units, delta_f, di, data[k])
            continue
        for k in range(_u(start), _u(end)):
            o, c = _u(out_row[k]) * units, _u(0)
            if data is None:
                while c < full:
                    _add1(out_f, o + c, delta_f, di + c)
                    c += _u(_BLOCK)
                while c < units:
                    out_f[o + c] += delta_f[di + c]
                    c += one
            else:
                x = data[k]
                while c < full:
                    _axpy1(out_f, o + c, delta_f, di + c, x)
                    c += _u(_BLOCK)
                while c < units:
                    out_f[o + c] += x * delta_f[di + c]
                    c += one


@njit(cache=True)
def _spmm_t_serial(indptr, indices, data, delta, out, n_features, bits, below):
    if bits.size:  # row-sparse: rows are ranks
        rank = np.empty(indices.size, np.uint32)
        _column_ranks(indices, bits, below, rank, 0, indices.size)
        _spmm_t_part(indptr, indices, data, delta, out, rank, 0, n_features, n_features)
    else:
        _spmm_t_part(indptr, indices, data, delta, out, indices, 0, n_features, n_features)


@njit(parallel=True, cache=True)
def _spmm_t_parallel(indptr, indices, data, delta, out, n_features, bits, below, n_parts):
    nnz = indices.size
    cuts = _feature_cuts(indices, n_features, n_parts)
    if bits.size:
        rank = np.empty(nnz, np.uint32)
        for p in prange(n_parts):
            _column_ranks(indices, bits, below, rank, p * nnz // n_parts,
                          (p + 1) * nnz // n_parts)
        for p in prange(n_parts):
            _spmm_t_part(indptr, indices, data, delta, out, rank, cuts[p], cuts[p + 1],
                         n_features)
    else:
        for p in prange(n_parts):
            _spmm_t_part(indptr, indices, data, delta, out, indices, cuts[p], cuts[p + 1],
                         n_features)


_NO_BITS = np.zeros(0, np.uint64)


def _spmm_t_into(indptr, indices, data, delta, out, n_features, bits=_NO_BITS,
                 below=_NO_BITS):
    """out += X.T @ delta (rows of out: features, or their ranks given bits and below), on
    one thread or on feature ranges."""
    delta = np.ascontiguousarray(delta)
    threads = min(_threads_for(indices.size * delta.shape[1]), max(1, n_features))
    if threads == 1:
        _spmm_t_serial(indptr, indices, data, delta, out, n_features, bits, below)
    else:
        _spmm_t_parallel(indptr, indices, data, delta, out, n_features, bits, below, threads)
    return out


def spmm_t_ones(indptr, indices, delta, n_features):
    """dW = X.T @ delta for a multi-hot CSR ``X`` whose rows are sorted by column, as a
    dense array (`spmm_t_rows_ones` gives only its nonzero rows).

    Each thread owns a contiguous range of ``dW`` rows, cut so that the ranges hold about
    equal numbers of nonzeros; it scans every sample row, finds its column range by binary
    search in the sorted CSR row, and adds ``delta[i]`` into its own rows in sample order.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), sorted within each row
    delta : float (n_rows, units);  n_features : int

    Returns
    -------
    dW : (n_features, units), delta's dtype; each row summed in sample order, so bitwise
    identical for any thread count.
    """
    dW = zeros_aligned((n_features, delta.shape[1]), delta.dtype)
    return _spmm_t_into(indptr, indices, None, delta, dW, n_features)


def spmm_t_ones_reference(indptr, indices, delta, n_features):
    """NumPy twin of `spmm_t_ones` (rows need not be sorted)."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    dW = np.zeros((n_features, delta.shape[1]), delta.dtype)
    np.add.at(dW, indices, delta[rows])
    return dW


def spmm_t(indptr, indices, data, delta, n_features):
    """dW = X.T @ delta for a CSR ``X`` with values ``data``; as `spmm_t_ones` otherwise."""
    dW = zeros_aligned((n_features, delta.shape[1]), delta.dtype)
    return _spmm_t_into(indptr, indices, data, delta, dW, n_features)


def spmm_t_reference(indptr, indices, data, delta, n_features):
    """NumPy twin of `spmm_t`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    dW = np.zeros((n_features, delta.shape[1]), delta.dtype)
    np.add.at(dW, indices, (data[:, None] * delta[rows]).astype(delta.dtype, copy=False))
    return dW


def _spmm_t_rows(indptr, indices, data, delta, n_features):
    if n_features <= indices.size:  # nearly every row is touched: dense is cheaper
        rows = np.arange(n_features, dtype=np.int32)
        values = zeros_aligned((n_features, delta.shape[1]), delta.dtype)
        return rows, _spmm_t_into(indptr, indices, data, delta, values, n_features)
    rows, bits, below = _distinct_columns(indptr, indices, n_features)
    values = zeros_aligned((rows.size, delta.shape[1]), delta.dtype)
    return rows, _spmm_t_into(indptr, indices, data, delta, values, n_features, bits, below)


def spmm_t_rows_ones(indptr, indices, delta, n_features):
    """The rows of dW = X.T @ delta that can be nonzero, for a multi-hot CSR ``X`` (rows
    sorted by column): (rows, values), with ``values[r] = dW[rows[r]]``.

    The rows of ``dW`` of features absent from ``X`` are zero and are never formed: a bitmap
    marks the features present, and a popcount of it gives each feature its rank among them,
    which is its row in ``values``. When ``X`` has at least as many nonzeros as columns,
    nearly every row is touched anyway and ``rows`` is every column (no ranking needed).
    Then as `spmm_t_ones`, so ``values`` is bitwise ``spmm_t_ones(...)[rows]``, for any
    thread count. Time O(nnz * units + n_features / 64), or O(nnz * units) when
    ``n_features <= nnz``.

    Parameters
    ----------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,), sorted within each row
    delta : float (n_rows, units);  n_features : int

    Returns
    -------
    rows : int32 (n_distinct,), the distinct columns of ``X`` (all columns when
        ``n_features <= nnz``), increasing
    values : (n_distinct, units), delta's dtype, rows 64-byte aligned
    """
    return _spmm_t_rows(indptr, indices, None, delta, n_features)


def _rows_reference(indices, n_features):
    if n_features <= indices.size:
        return np.arange(n_features, dtype=np.int32)
    return np.unique(indices).astype(np.int32)


def spmm_t_rows_ones_reference(indptr, indices, delta, n_features):
    """NumPy twin of `spmm_t_rows_ones`."""
    rows = _rows_reference(indices, n_features)
    return rows, spmm_t_ones_reference(indptr, indices, delta, n_features)[rows]


def spmm_t_rows(indptr, indices, data, delta, n_features):
    """As `spmm_t_rows_ones` for a CSR ``X`` with values ``data`` (delta's dtype)."""
    return _spmm_t_rows(indptr, indices, data, delta, n_features)


def spmm_t_rows_reference(indptr, indices, data, delta, n_features):
    """NumPy twin of `spmm_t_rows`."""
    rows = _rows_reference(indices, n_features)
    return rows, spmm_t_reference(indptr, indices, data, delta, n_features)[rows]


# --------------------------------------------------------------------------------------
# Row gathers (shuffled mini-batches)
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _gathered_indptr(indptr, rows):
    new_indptr = np.empty(rows.size + 1, np.int64)
    new_indptr[0] = 0
    for r in range(rows.size):
        new_indptr[r + 1] = new_indptr[r] + (indptr[rows[r] + 1] - indptr[rows[r]])
    return new_indptr


@njit(cache=True)
def _gather_part(indptr, values, rows, new_indptr, out, r0, r1):
    for r in range(r0, r1):
        src, dst = _u(indptr[rows[r]]), _u(new_indptr[r])
        for k in range(_u(new_indptr[r + 1]) - dst):
            out[dst + k] = values[src + k]


@njit(cache=True)
def _gather_serial(indptr, values, rows, new_indptr):
    out = np.empty(new_indptr[-1], values.dtype)
    _gather_part(indptr, values, rows, new_indptr, out, 0, rows.size)
    return out


@njit(parallel=True, cache=True)
def _gather_parallel(indptr, values, rows, new_indptr, n_parts):
    out = np.empty(new_indptr[-1], values.dtype)
    n = rows.size
    for p in prange(n_parts):
        _gather_part(indptr, values, rows, new_indptr, out, p * n // n_parts,
                     (p + 1) * n // n_parts)
    return out


def _gather(indptr, values, rows, new_indptr):
    """``values`` (indices or data) of the CSR rows ``rows``, laid out by ``new_indptr``."""
    threads = _threads_for(int(new_indptr[-1]) * _BLOCK)
    if threads == 1:
        return _gather_serial(indptr, values, rows, new_indptr)
    return _gather_parallel(indptr, values, rows, new_indptr, 4 * threads)


def gather_rows(indptr, indices, rows):
    """The CSR rows ``rows`` (int64, each in [0, n_rows)) as (new_indptr, new_indices)."""
    new_indptr = _gathered_indptr(indptr, rows)
    return new_indptr, _gather(indptr, indices, rows, new_indptr)


def _gather_positions(indptr, rows):
    lengths = (indptr[1:] - indptr[:-1])[rows]
    new_indptr = np.zeros(rows.size + 1, np.int64)
    np.cumsum(lengths, out=new_indptr[1:])
    positions = np.repeat(indptr[rows] - new_indptr[:-1], lengths) + np.arange(new_indptr[-1])
    return new_indptr, positions


def gather_rows_reference(indptr, indices, rows):
    """NumPy twin of `gather_rows`."""
    new_indptr, positions = _gather_positions(indptr, rows)
    return new_indptr, indices[positions]


def gather_rows_data(indptr, indices, data, rows):
    """As `gather_rows`, also gathering ``data``: (new_indptr, new_indices, new_data)."""
    new_indptr = _gathered_indptr(indptr, rows)
    return (new_indptr, _gather(indptr, indices, rows, new_indptr),
            _gather(indptr, data, rows, new_indptr))


def gather_rows_data_reference(indptr, indices, data, rows):
    """NumPy twin of `gather_rows_data`."""
    new_indptr, positions = _gather_positions(indptr, rows)
    return new_indptr, indices[positions], data[positions]


# --------------------------------------------------------------------------------------
# Building and sorting CSR
# --------------------------------------------------------------------------------------

@njit(cache=True)
def multi_hot_csr(tokens, offsets, dimension):
    """Multi-hot CSR rows from ragged token sequences, in one compiled call.

    Row ``i`` holds the distinct tokens of ``tokens[offsets[i]:offsets[i + 1]]`` that lie in
    [0, dimension), sorted. Tokens outside that range are dropped here; the public wrapper
    (`nn.sparse.vectorize_sequences`) rejects them before calling this.

    No comparison sort: a counting sort lists each token's rows (in row order), and reading
    the tokens back in increasing order refills the rows already sorted; a row repeated
    within one token's list is a duplicate and is skipped. O(n_tokens + dimension + n_rows).

    Parameters
    ----------
    tokens : int32 (n_tokens,);  offsets : int64 (n_rows + 1,);  dimension : int

    Returns
    -------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    """
    n_rows = offsets.size - 1
    colptr = np.zeros(dimension + 1, np.int64)
    for k in range(tokens.size):
        t = tokens[k]
        if 0 <= t < dimension:
            colptr[t + 1] += 1
    for t in range(dimension):
        colptr[t + 1] += colptr[t]
    rows = np.empty(colptr[dimension], np.int32)  # each token's rows, in row order
    fill = colptr[:-1].copy()
    for i in range(n_rows):
        for k in range(offsets[i], offsets[i + 1]):
            t = tokens[k]
            if 0 <= t < dimension:
                rows[fill[t]] = i
                fill[t] += 1
    indptr = np.zeros(n_rows + 1, np.int64)
    for t in range(dimension):
        previous = -1
        for p in range(colptr[t], colptr[t + 1]):
            if rows[p] != previous:
                previous = rows[p]
                indptr[previous + 1] += 1
    for i in range(n_rows):
        indptr[i + 1] += indptr[i]
    indices = np.empty(indptr[n_rows], np.int32)
    fill = indptr[:-1].copy()
    for t in range(dimension):
        previous = -1
        for p in range(colptr[t], colptr[t + 1]):
            if rows[p] != previous:
                previous = rows[p]
                indices[fill[previous]] = t
                fill[previous] += 1
    return indptr, indices


def multi_hot_csr_reference(tokens, offsets, dimension):
    """NumPy twin of `multi_hot_csr`."""
    n_rows = offsets.size - 1
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(offsets))
    tokens = tokens.astype(np.int64)
    keep = (tokens >= 0) & (tokens < dimension)
    keys = np.unique(rows[keep] * dimension + tokens[keep])
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(keys // dimension, minlength=n_rows), out=indptr[1:])
    return indptr, (keys % dimension).astype(np.int32)


@njit(cache=True)
def _row_order(indptr, indices, n_cols):
    """Positions of the nonzeros in (row, column) order, stable: a counting sort by column,
    then by row. The argsort of a CSR whose rows are unsorted, in O(nnz + n_cols + n_rows)."""
    n_rows = indptr.size - 1
    colptr = np.zeros(n_cols + 1, np.int64)
    for k in range(indices.size):
        colptr[indices[k] + 1] += 1
    for j in range(n_cols):
        colptr[j + 1] += colptr[j]
    by_column = np.empty(indices.size, np.int64)  # positions, by column then row
    row_of = np.empty(indices.size, np.int64)
    fill = colptr[:-1].copy()
    for i in range(n_rows):
        for k in range(indptr[i], indptr[i + 1]):
            p = fill[indices[k]]
            by_column[p] = k
            row_of[p] = i
            fill[indices[k]] += 1
    order = np.empty(indices.size, np.int64)
    fill = indptr[:-1].copy()
    for p in range(indices.size):
        i = row_of[p]
        order[fill[i]] = by_column[p]
        fill[i] += 1
    return order


@njit(cache=True)
def csr_sort_rows(indptr, indices, n_cols):
    """A copy of ``indices`` with each CSR row sorted by column (``indices < n_cols``)."""
    return indices[_row_order(indptr, indices, n_cols)]


def csr_sort_rows_reference(indptr, indices, n_cols):
    """NumPy twin of `csr_sort_rows`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    return indices[np.lexsort((indices, rows))]


@njit(cache=True)
def csr_sort_rows_data(indptr, indices, data, n_cols):
    """Copies of ``indices`` and ``data`` with each row sorted by column; stable, so equal
    columns (duplicates) keep their order."""
    order = _row_order(indptr, indices, n_cols)
    return indices[order], data[order]


def csr_sort_rows_data_reference(indptr, indices, data, n_cols):
    """NumPy twin of `csr_sort_rows_data`."""
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    order = np.lexsort((indices, rows))
    return indices[order], data[order]


# --------------------------------------------------------------------------------------
# Hashed n-grams
# --------------------------------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, splitmix64's increment


@njit(cache=True)
def _splitmix64(x):
    """splitmix64's output function of the state ``x`` (uint64): a bijection whose output
    bits each depend on every input bit."""
    z = x + _u(_GOLDEN)
    z = (z ^ (z >> _u(30))) * _u(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _u(27))) * _u(0x94D049BB133111EB)
    return z ^ (z >> _u(31))


@njit(cache=True)
def ngram_hash(tokens, start, n):
    """The 64-bit hash of the n-gram ``tokens[start:start + n]`` (non-negative int32 ids):
    ``h = splitmix64(n)``, then ``h = splitmix64(h ^ t)`` for each token ``t`` in order.
    Pure uint64 arithmetic, so the same on every run, machine and platform."""
    h = _splitmix64(_u(n))
    for k in range(start, start + n):
        h = _splitmix64(h ^ _u(tokens[k]))
    return h


@njit(cache=True)
def _sort_unique(a, lo, hi, scratch, count, n_bits):
    """Sort ``a[lo:hi]`` (non-negative, below 2**n_bits) by an LSD radix sort on bytes,
    using ``scratch[:hi - lo]`` and ``count`` (257,); keep one of each value at ``a[lo:]``;
    return how many."""
    n = hi - lo
    src, dst = a[lo:hi], scratch[:n]
    shift = 0
    while shift < n_bits:
        count[:] = 0
        for k in range(n):
            count[((src[k] >> shift) & 255) + 1] += 1
        for d in range(256):
            count[d + 1] += count[d]
        for k in range(n):
            d = (src[k] >> shift) & 255
            dst[count[d]] = src[k]
            count[d] += 1
        src, dst = dst, src
        shift += 8
    kept = 0
    for k in range(n):  # src is a[lo:hi] or scratch; writing a[lo + kept] never passes k
        if kept == 0 or src[k] != a[lo + kept - 1]:
            a[lo + kept] = src[k]
            kept += 1
    return kept


@njit(cache=True)
def _ngram_rows(tokens, offsets, n_min, n_max, n_features, bound, cols, counts, r0, r1):
    """Hash the n-grams of rows r0..r1 into ``cols[bound[i]:]``, then sort and deduplicate
    each row in place; ``counts[i]`` = columns kept."""
    mask = _u(n_features - 1)
    n_bits = 0
    while (1 << n_bits) < n_features:
        n_bits += 1
    longest = 0
    for i in range(r0, r1):
        longest = max(longest, bound[i + 1] - bound[i])
    scratch = np.empty(longest, np.int32)
    count = np.empty(257, np.int64)
    for i in range(r0, r1):
        p = bound[i]
        for n in range(n_min, n_max + 1):
            for s in range(offsets[i], offsets[i + 1] - n + 1):
                cols[p] = np.int32(ngram_hash(tokens, s, n) & mask)
                p += 1
        counts[i] = _sort_unique(cols, bound[i], p, scratch, count, n_bits)


@njit(parallel=True, cache=True)
def _hashed_ngrams(tokens, offsets, n_min, n_max, n_features, n_parts):
    n_rows = offsets.size - 1
    bound = np.zeros(n_rows + 1, np.int64)  # where each row's n-grams go before dedup
    for i in range(n_rows):
        length = offsets[i + 1] - offsets[i]
        c = 0
        for n in range(n_min, n_max + 1):
            c += max(0, length - n + 1)
        bound[i + 1] = bound[i] + c
    cols = np.empty(bound[n_rows], np.int32)
    counts = np.zeros(n_rows, np.int64)
    for p in prange(n_parts):
        _ngram_rows(tokens, offsets, n_min, n_max, n_features, bound, cols, counts,
                    p * n_rows // n_parts, (p + 1) * n_rows // n_parts)
    indptr = np.zeros(n_rows + 1, np.int64)
    for i in range(n_rows):
        indptr[i + 1] = indptr[i] + counts[i]
    indices = np.empty(indptr[n_rows], np.int32)
    for p in prange(n_parts):
        for i in range(p * n_rows // n_parts, (p + 1) * n_rows // n_parts):
            for k in range(counts[i]):
                indices[indptr[i] + k] = cols[bound[i] + k]
    return indptr, indices


def hashed_ngrams_csr(tokens, offsets, n_min, n_max, n_features):
    """Multi-hot CSR of the hashed n-grams of ragged token sequences, in one compiled pass.

    Row ``i`` has a 1 in column ``ngram_hash(g) & (n_features - 1)`` for every n-gram ``g``
    of ``n_min <= n <= n_max`` consecutive tokens of sequence ``i`` (an n-gram never spans
    two sequences); rows sorted, each column once. Rows are independent, so they are built
    in parallel, with the same result for any thread count.

    Parameters
    ----------
    tokens : int32 (n_tokens,), non-negative;  offsets : int64 (n_rows + 1,)
    n_min, n_max : int, 1 <= n_min <= n_max;  n_features : int, a power of two <= 2**31

    Returns
    -------
    indptr : int64 (n_rows + 1,);  indices : int32 (nnz,)
    """
    threads = numba.get_num_threads()
    n_parts = 1 if threads == 1 else 8 * threads  # rows differ in length: several per thread
    with np.errstate(over="ignore"):  # uint64 wraparound is the point (NUMBA_DISABLE_JIT)
        return _hashed_ngrams(tokens, offsets, n_min, n_max, n_features, n_parts)


def _splitmix64_reference(x):
    with np.errstate(over="ignore"):
        z = x + np.uint64(_GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def hashed_ngrams_csr_reference(tokens, offsets, n_min, n_max, n_features):
    """NumPy twin of `hashed_ngrams_csr`: every n-gram hashed at once per n, then
    ``np.unique`` on (row, column) keys."""
    n_rows = offsets.size - 1
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(offsets))
    t = tokens.astype(np.uint64)
    keys = [np.zeros(0, np.int64)]
    for n in range(n_min, n_max + 1):
        starts = np.arange(max(0, tokens.size - n + 1))
        starts = starts[row_of[starts] == row_of[starts + n - 1]]  # within one sequence
        h = _splitmix64_reference(np.full(starts.size, n, np.uint64))
        for q in range(n):
            h = _splitmix64_reference(h ^ t[starts + q])
        cols = (h & np.uint64(n_features - 1)).astype(np.int64)
        keys.append(row_of[starts] * n_features + cols)
    keys = np.unique(np.concatenate(keys))
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(keys // n_features, minlength=n_rows), out=indptr[1:])
    return indptr, (keys % n_features).astype(np.int32)


# --------------------------------------------------------------------------------------
# Optimizer steps
# --------------------------------------------------------------------------------------

@njit(cache=True)
def _rmsprop_dense(w1, g1, v1, consts, k0, k1):
    """The RMSprop step on elements [k0, k1) of flat w, g, v: 16 at a time in vector code."""
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    k = _u(k0)
    while k + _u(_BLOCK) <= _u(k1):
        _rmsprop16(w1, k, g1, k, v1, k, lr, r, one_minus_r, eps)
        k += _u(_BLOCK)
    while k < _u(k1):
        gk = g1[k]
        vk = r * v1[k] + one_minus_r * (gk * gk)
        v1[k] = vk
        w1[k] -= (lr * gk) / np.sqrt(vk + eps)
        k += _u(1)


@njit(cache=True)
def _rmsprop_serial(w, g, v, consts):
    _rmsprop_dense(w.reshape(-1), g.reshape(-1), v.reshape(-1), consts, 0, w.size)


@njit(parallel=True, cache=True)
def _rmsprop_parallel(w, g, v, consts, n_parts):
    w1, g1, v1 = w.reshape(-1), g.reshape(-1), v.reshape(-1)
    n = w1.size
    for p in prange(n_parts):
        _rmsprop_dense(w1, g1, v1, consts, p * n // n_parts, (p + 1) * n // n_parts)


def _rmsprop_consts(dtype, learning_rate, rho, epsilon):
    """The scalars rounded to the arrays' dtype, as Keras does: lr, rho, 1 - rho, epsilon."""
    return np.array([learning_rate, rho, 1.0 - rho, epsilon], dtype=dtype)


def rmsprop_update(w, g, v, learning_rate, rho, epsilon):
    """One fused, in-place Keras 3 RMSprop step over contiguous arrays of one shape and dtype:

        v <- rho * v + (1 - rho) * g**2
        w <- w - learning_rate * g / sqrt(v + epsilon)      (epsilon inside the root)

    All arithmetic is in the arrays' dtype, in Keras's order, so it matches
    `rmsprop_update_reference` (and Keras) to the last bit. Elementwise, so any split
    across threads gives the same bits.
    """
    consts = _rmsprop_consts(w.dtype, learning_rate, rho, epsilon)
    threads = _threads_for(w.size)
    if threads == 1:
        _rmsprop_serial(w, g, v, consts)
    else:
        _rmsprop_parallel(w, g, v, consts, 4 * threads)


def rmsprop_update_reference(w, g, v, learning_rate, rho, epsilon):
    """NumPy twin of `rmsprop_update` (in place)."""
    dt = w.dtype.type
    lr, r, one_minus_r, eps = dt(learning_rate), dt(rho), dt(1.0 - rho), dt(epsilon)
    v *= r
    v += one_minus_r * (g * g)
    w -= (lr * g) / np.sqrt(v + eps)


@njit(cache=True)
def _power(x, n):
    """x ** n for a float64 x and an integer n >= 0, by repeated squaring (deterministic)."""
    result = 1.0
    while n > 0:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


@njit(cache=True)
def _rmsprop_rows(w, v, v_step, rows, g_rows, step, consts):
    lr, r, one_minus_r, eps = consts[0], consts[1], consts[2], consts[3]
    decay = np.empty(1, w.dtype)  # rho ** skipped, rounded to the arrays' dtype
    units = _u(w.shape[1])
    w1, v1, g1 = w.reshape(-1), v.reshape(-1), g_rows.reshape(-1)
    for s in range(rows.size):
        if s + _AHEAD < rows.size:  # rows of a wide layer are far apart: fetch them early
            ahead = _u(rows[s + _AHEAD])
            _prefetch(v_step, ahead)
            _prefetch(w1, ahead * units)
            _prefetch(v1, ahead * units)
        j = rows[s]
        skipped = step - v_step[j]
        o, og = _u(j) * units, _u(s) * units
        if skipped > 0:
            decay[0] = _power(np.float64(r), skipped)
            f = decay[0]
            for u in range(units):
                v1[o + u] *= f
        v_step[j] = step + 1
        c = _u(0)
        while c + _u(_BLOCK) <= units:
            _rmsprop16(w1, o + c, g1, og + c, v1, o + c, lr, r, one_minus_r, eps)
            c += _u(_BLOCK)
        while c < units:
            gk = g1[og + c]
            vk = r * v1[o + c] + one_minus_r * (gk * gk)
            v1[o + c] = vk
            w1[o + c] -= (lr * gk) / np.sqrt(vk + eps)
            c += _u(1)


def rmsprop_update_rows(w, v, v_step, rows, g_rows, step, learning_rate, rho, epsilon):
    """Step ``step`` (0-based) of RMSprop for a gradient that is zero outside ``rows``,
    touching only those rows of ``w`` and ``v``: lazily, yet as the dense step computes.

    ``v_step[j]`` counts the steps already applied to ``v[j]``. In the steps a row missed,
    the dense update computed ``v <- rho * v + (1 - rho) * 0 = rho * v`` (exactly: adding a
    zero product does not round) and ``w <- w - 0 / sqrt(v + epsilon) = w`` (exactly: epsilon
    > 0). So a row that missed ``k = step - v_step[j]`` steps is first decayed by
    ``rho ** k``, then takes the usual step (`rmsprop_update`), and ``v_step[j]`` becomes
    ``step + 1``. ``rho ** k`` is computed in float64 by repeated squaring and rounded once
    to the arrays' dtype, where the dense update rounds after each of its k multiplications:
    the two velocities differ by at most ~k/2 units in the last place (k = 1 is bitwise
    equal), far below the effect of epsilon; every other operation is the same in the same
    order.

    Parameters
    ----------
    w, v : (n_features, units), C-contiguous, one dtype;  v_step : int64 (n_features,)
    rows : int (n_rows,) distinct;  g_rows : (n_rows, units), the gradient's rows
    step : int;  learning_rate, rho, epsilon : float
    """
    consts = _rmsprop_consts(w.dtype, learning_rate, rho, epsilon)
    _rmsprop_rows(w, v, v_step, rows, np.ascontiguousarray(g_rows, dtype=w.dtype), step,
                  consts)


def rmsprop_update_rows_reference(w, v, v_step, rows, g_rows, step, learning_rate, rho,
                                  epsilon):
    """NumPy twin of `rmsprop_update_rows` (in place; ``rho ** k`` by ``np.power``)."""
    dt = w.dtype.type
    lr, r, one_minus_r, eps = dt(learning_rate), dt(rho), dt(1.0 - rho), dt(epsilon)
    decay = np.power(np.float64(r), (step - v_step[rows]).astype(np.float64)).astype(w.dtype)
    vr = v[rows] * decay[:, None]
    vr = r * vr + one_minus_r * (g_rows * g_rows)
    v[rows] = vr
    w[rows] -= (lr * g_rows) / np.sqrt(vr + eps)
    v_step[rows] = step + 1


@njit(cache=True)
def _rmsprop_catch_up(v, v_step, step, r):
    units = _u(v.shape[1])
    v1 = v.reshape(-1)
    decay = np.empty(1, v.dtype)
    for j in range(v.shape[0]):
        skipped = step - v_step[j]
        if skipped > 0:
            decay[0] = _power(np.float64(r), skipped)
            f = decay[0]
            o = _u(j) * units
            for u in range(units):
                v1[o + u] *= f
            v_step[j] = step


def rmsprop_catch_up(v, v_step, step, rho):
    """Apply to every row of ``v`` the decay it owes for the steps before ``step``, as
    `rmsprop_update_rows` would when the row is next touched; ``v_step`` becomes ``step``."""
    _rmsprop_catch_up(v, v_step, step, v.dtype.type(rho))


def rmsprop_catch_up_reference(v, v_step, step, rho):
    """NumPy twin of `rmsprop_catch_up` (in place)."""
    r = np.float64(v.dtype.type(rho))
    skipped = np.maximum(step - v_step, 0).astype(np.float64)
    v *= np.power(r, skipped).astype(v.dtype)[:, None]
    np.maximum(v_step, step, out=v_step)
