"""Vector blocks of `SIMD_WIDTH` (16) lanes, in LLVM vector code.

``_add4`` / ``_add1`` add the sum of four rows (or one row) of ``w`` to ``z[zo:zo+16]``;
``_add4_in_order`` adds four rows one after the other, as four ``_add1`` calls would round;
``_axpy4`` / ``_axpy1`` do the same with each row times a scalar; ``_rmsprop16`` /
``_rmsprop16_decayed`` take the RMSprop step on 16 lanes, ``_adam16`` the Adam step (every
operation rounded as the NumPy lines round it, no fused multiply-add); ``_prefetch`` is a cache
hint with no effect on results. Offsets are flat element offsets; the caller guarantees 16
elements in bounds from each, and nothing is checked. Four rows are summed pairwise,
``(r0 + r1) + (r2 + r3)``, then added to ``z``. The Python versions below use the same
association and run under ``NUMBA_DISABLE_JIT=1`` with the same bits.

Why hand-written vector code: docs/performance.md, "Vector blocks".
"""

import numba
import numpy as np

from ._common import SIMD_WIDTH

if numba.config.DISABLE_JIT:
    def _add4(z, zo, w, o0, o1, o2, o3):
        """z[zo:zo+16] += (w[o0:o0+16] + w[o1:o1+16]) + (w[o2:o2+16] + w[o3:o3+16])."""
        b = SIMD_WIDTH
        z[zo:zo + b] += (w[o0:o0 + b] + w[o1:o1 + b]) + (w[o2:o2 + b] + w[o3:o3 + b])

    def _add1(z, zo, w, o0):
        """z[zo:zo+16] += w[o0:o0+16]."""
        z[zo:zo + SIMD_WIDTH] += w[o0:o0 + SIMD_WIDTH]

    def _add4_in_order(z, zo, w, o0, o1, o2, o3):
        """z[zo:zo+16] = (((z + w[o0:]) + w[o1:]) + w[o2:]) + w[o3:], 16 wide: four `_add1`
        calls' bits with one load and one store of z."""
        b = SIMD_WIDTH
        z[zo:zo + b] = (((z[zo:zo + b] + w[o0:o0 + b]) + w[o1:o1 + b]) + w[o2:o2 + b]) \
            + w[o3:o3 + b]

    def _axpy4(z, zo, w, o0, o1, o2, o3, x0, x1, x2, x3):
        """z[zo:zo+16] += (x0 w[o0:] + x1 w[o1:]) + (x2 w[o2:] + x3 w[o3:]), 16 wide."""
        b, dt = SIMD_WIDTH, w.dtype.type
        z[zo:zo + b] += ((dt(x0) * w[o0:o0 + b] + dt(x1) * w[o1:o1 + b])
                         + (dt(x2) * w[o2:o2 + b] + dt(x3) * w[o3:o3 + b]))

    def _axpy1(z, zo, w, o0, x0):
        """z[zo:zo+16] += x0 w[o0:o0+16]."""
        z[zo:zo + SIMD_WIDTH] += w.dtype.type(x0) * w[o0:o0 + SIMD_WIDTH]

    def _prefetch(a, offset):
        """Ask the CPU to start loading a[offset]'s cache line (a hint: nothing to do here)."""

    def _rmsprop16(w, wo, g, go, v, vo, lr, r, one_minus_r, eps):
        """The RMSprop step of `rmsprop_update` on w[wo:wo+16], g[go:go+16], v[vo:vo+16]."""
        b = SIMD_WIDTH
        gk = g[go:go + b]
        vk = r * v[vo:vo + b] + one_minus_r * (gk * gk)
        v[vo:vo + b] = vk
        w[wo:wo + b] -= (lr * gk) / np.sqrt(vk + eps)

    def _rmsprop16_decayed(w, wo, g, go, v, vo, f, lr, r, one_minus_r, eps):
        """As `_rmsprop16` on a velocity first decayed by f: v <- r * (v * f) + ..."""
        b = SIMD_WIDTH
        gk = g[go:go + b]
        vk = r * (v[vo:vo + b] * f) + one_minus_r * (gk * gk)
        v[vo:vo + b] = vk
        w[wo:wo + b] -= (lr * gk) / np.sqrt(vk + eps)

    def _adam16(w, wo, g, go, m, mo, v, vo, alpha, c1, c2, eps):
        """The Adam step of `adam.adam_update` on w[wo:wo+16], g[go:go+16], m[mo:mo+16],
        v[vo:vo+16]."""
        b = SIMD_WIDTH
        gk = g[go:go + b]
        mk = m[mo:mo + b] + (gk - m[mo:mo + b]) * c1
        vk = v[vo:vo + b] + (gk * gk - v[vo:vo + b]) * c2
        m[mo:mo + b], v[vo:vo + b] = mk, vk
        w[wo:wo + b] -= (alpha * mk) / (np.sqrt(vk) + eps)
else:
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    def _rows_sum_codegen(n_terms, scaled, in_order=False):
        """LLVM for ``z[zo:zo+16] += sum of n_terms 16-wide rows of w`` (each times its x
        when scaled), summed pairwise like the Python versions above; ``in_order`` adds the
        rows to z one after the other instead."""

        def codegen(context, builder, sig, args):
            z_ty, w_ty = sig.args[0], sig.args[2]
            z = context.make_array(z_ty)(context, builder, args[0])
            w = context.make_array(w_ty)(context, builder, args[2])
            elem = context.get_value_type(w_ty.dtype)
            vec = ir.VectorType(elem, SIMD_WIDTH)
            align = context.get_abi_sizeof(elem)

            def block(array, offset, offset_ty):
                offset = context.cast(builder, offset, offset_ty, types.intp)
                return builder.bitcast(builder.gep(array.data, [offset]), vec.as_pointer())

            terms = [builder.load(block(w, args[3 + t], sig.args[3 + t]), align=align)
                     for t in range(n_terms)]
            if scaled:
                lane0 = ir.Constant(ir.IntType(32), 0)
                zeros = ir.Constant(ir.VectorType(ir.IntType(32), SIMD_WIDTH), [0] * SIMD_WIDTH)
                for t in range(n_terms):
                    x = context.cast(builder, args[3 + n_terms + t], sig.args[3 + n_terms + t],
                                     w_ty.dtype)
                    x = builder.insert_element(ir.Constant(vec, ir.Undefined), x, lane0)
                    x = builder.shuffle_vector(x, ir.Constant(vec, ir.Undefined), zeros)
                    terms[t] = builder.fmul(x, terms[t])
            target = block(z, args[1], sig.args[1])
            if in_order:
                total = builder.load(target, align=align)
                for term in terms:
                    total = builder.fadd(total, term)
                builder.store(total, target, align=align)
                return context.get_dummy_value()
            while len(terms) > 1:
                terms = [builder.fadd(terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
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
    def _add4_in_order(typingctx, z, zo, w, o0, o1, o2, o3):
        return types.void(z, zo, w, o0, o1, o2, o3), _rows_sum_codegen(4, False, True)

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

    def _lanes(context, builder, sig, args):
        """What an optimizer step's codegen needs: (vector type, alignment, block, splat);
        ``block(k)`` points at the 16 lanes of array argument k from the offset in argument
        k + 1, ``splat(k)`` puts scalar argument k (cast to the arrays' dtype) in every lane."""
        dtype = sig.args[0].dtype
        elem = context.get_value_type(dtype)
        vec = ir.VectorType(elem, SIMD_WIDTH)

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
                ir.Constant(ir.VectorType(ir.IntType(32), SIMD_WIDTH), [0] * SIMD_WIDTH))

        return vec, context.get_abi_sizeof(elem), block, splat

    def _sqrt(builder, vec, align):
        """LLVM's IEEE square root, lane by lane."""
        name = f"llvm.sqrt.v{SIMD_WIDTH}f{8 * align}"
        return cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), name)

    def _rmsprop_codegen(decayed):
        """LLVM for the RMSprop step on 16 lanes; with ``decayed``, the velocity is first
        multiplied by the argument after ``vo`` (one rounding, as a separate ``v *= f``)."""
        first = 7 if decayed else 6  # index of lr

        def codegen(context, builder, sig, args):
            vec, align, block, splat = _lanes(context, builder, sig, args)
            w_ptr, g_ptr, v_ptr = block(0), block(2), block(4)
            lr_v, r_v, omr_v, eps_v = (splat(first + i) for i in range(4))
            gk = builder.load(g_ptr, align=align)
            v_old = builder.load(v_ptr, align=align)
            if decayed:
                v_old = builder.fmul(v_old, splat(6))
            vk = builder.fadd(builder.fmul(r_v, v_old),
                              builder.fmul(omr_v, builder.fmul(gk, gk)))
            builder.store(vk, v_ptr, align=align)
            root = builder.call(_sqrt(builder, vec, align), [builder.fadd(vk, eps_v)])
            step = builder.fdiv(builder.fmul(lr_v, gk), root)
            builder.store(builder.fsub(builder.load(w_ptr, align=align), step), w_ptr,
                          align=align)
            return context.get_dummy_value()

        return codegen

    @intrinsic
    def _rmsprop16(typingctx, w, wo, g, go, v, vo, lr, r, one_minus_r, eps):
        return (types.void(w, wo, g, go, v, vo, lr, r, one_minus_r, eps),
                _rmsprop_codegen(False))

    @intrinsic
    def _rmsprop16_decayed(typingctx, w, wo, g, go, v, vo, f, lr, r, one_minus_r, eps):
        return (types.void(w, wo, g, go, v, vo, f, lr, r, one_minus_r, eps),
                _rmsprop_codegen(True))

    def _adam_codegen(context, builder, sig, args):
        """LLVM for the Adam step on 16 lanes: plain IEEE operations (no fast-math flags, so
        no fused multiply-add), each rounded as the NumPy lines round it."""
        vec, align, block, splat = _lanes(context, builder, sig, args)
        w_ptr, g_ptr, m_ptr, v_ptr = block(0), block(2), block(4), block(6)
        alpha, c1, c2, eps = (splat(8 + i) for i in range(4))
        gk = builder.load(g_ptr, align=align)
        m_old = builder.load(m_ptr, align=align)
        v_old = builder.load(v_ptr, align=align)
        mk = builder.fadd(m_old, builder.fmul(builder.fsub(gk, m_old), c1))
        vk = builder.fadd(v_old, builder.fmul(builder.fsub(builder.fmul(gk, gk), v_old), c2))
        builder.store(mk, m_ptr, align=align)
        builder.store(vk, v_ptr, align=align)
        root = builder.call(_sqrt(builder, vec, align), [vk])
        step = builder.fdiv(builder.fmul(alpha, mk), builder.fadd(root, eps))
        builder.store(builder.fsub(builder.load(w_ptr, align=align), step), w_ptr, align=align)
        return context.get_dummy_value()

    @intrinsic
    def _adam16(typingctx, w, wo, g, go, m, mo, v, vo, alpha, c1, c2, eps):
        return types.void(w, wo, g, go, m, mo, v, vo, alpha, c1, c2, eps), _adam_codegen
