"""Eight float32 lanes as one value: explicit AVX vectors for the convolution kernels.

LLVM does not vectorise a register-blocked loop nest on its own (measured in
session 5: a plain Numba direct convolution ran at 4 GFLOP/s). With a type for
`<8 x float>` and four operations on it, a kernel can hold a block of outputs in
vector registers across its whole inner loop, as a BLAS microkernel does:

    load8(a, i)        a[i:i + 8]                    (a: flat float32 array)
    store8(a, i, v)    a[i:i + 8] = v
    splat8(a, i)       a[i] in all eight lanes
    fma8(a, b, c)      a * b + c, rounded once
    winner16(v, b, x, y)   x where v beats b by max-pooling's rule, else y (16 lanes only)
    pairs_swapped16(v)     lanes 2i and 2i + 1 swapped;  even_lanes16(v): lanes 0, 2, .., 14
    equal16(a, b, x, y)    x where a == b, else y

and the same four in sixteen lanes (`load16`, `store16`, `splat16`, `fma16`) for
CPUs with AVX-512 (`wide_kernels_fit()`): one 512-bit register each, twice the work
per instruction. On this project's Xeon (2 vCPUs) W4's forward runs at 102 GFLOP/s
on one thread in 16 lanes against 55 in 8 (sgemm: 110).

Each operation is a plain Python function over numpy arrays (the meaning, and
what runs under NUMBA_DISABLE_JIT) and, for compiled code, an LLVM intrinsic
registered as its Numba implementation. The compiled forms do not check
bounds: callers index inside their arrays. The Python forms do check.

LLVM lowers the vectors to whatever the CPU has (two SSE or NEON registers each
where there is no AVX), so the kernels stay correct anywhere. They are fast only
where the CPU Numba compiles for has a fused multiply-add instruction: without
one, `llvm.fma` becomes a call to the C library's fmaf per lane (measured on W4's
layer with Numba building for a generic x86-64 CPU: 195 ms against 4.1 ms). That
is what an x86 Python sees under macOS's Rosetta 2, and what some older laptops
have. `vector_kernels_fit()` says whether to use them; kernels.conv takes im2col
where it says no.
"""
from __future__ import annotations

import functools
import platform

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, overload, register_model

LANES = 8
WIDE_LANES = 16


@functools.lru_cache(maxsize=None)
def compiled_cpu_features() -> frozenset:
    """The CPU features Numba's compiled code may use: NUMBA_CPU_FEATURES when set (empty for
    NUMBA_CPU_NAME=generic), else the host's as Numba reads them (less AVX when
    NUMBA_ENABLE_AVX=0): the same source that numba.core.codegen builds its target from."""
    from numba.core import codegen, config
    flat = config.CPU_FEATURES if config.CPU_FEATURES is not None else codegen.get_host_cpu_features()
    return frozenset(f[1:] for f in (flat or "").split(",") if f.startswith("+"))


def vector_kernels_fit() -> bool:
    """Whether the 8-lane kernels run fast here: compiled code with fused multiply-add, and
    AVX2 on x86 (on 64-bit ARM, NEON always has it). Without JIT, the Python forms run
    (exact, slow either way), so the tests reach them."""
    if numba.config.DISABLE_JIT:
        return True
    features = compiled_cpu_features()
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686", "x86"):
        return {"fma", "avx2"} <= features
    if machine in ("arm64", "aarch64"):
        return True
    return "fma" in features


def wide_kernels_fit() -> bool:
    """Whether the 16-lane kernels run fast here: AVX-512 (x86 only), 32 registers of 16
    lanes, so a block of 16 accumulators stays in registers. Elsewhere `<16 x float>`
    splits into two or four registers each and the 8-lane kernels are the better fit."""
    if numba.config.DISABLE_JIT:
        return True
    machine = platform.machine().lower()
    return (machine in ("x86_64", "amd64") and vector_kernels_fit()
            and "avx512f" in compiled_cpu_features())


# ---- the Python meaning ----------------------------------------------------------------
def _lanes(a, i, lanes):
    if i < 0 or i + lanes > a.size:
        raise IndexError(f"simd: lanes [{i}, {i + lanes}) outside an array of {a.size}")
    return slice(i, i + lanes)


def _python_forms(lanes):
    def load(a, i):
        return a[_lanes(a, i, lanes)].copy()

    def store(a, i, v):
        a[_lanes(a, i, lanes)] = v

    def splat(a, i):
        return np.full(lanes, a[i], np.float32)

    def fma(a, b, c):
        # float64 holds the exact product of two float32s: one rounding, as the FMA
        return (a.astype(np.float64) * b + c).astype(np.float32)
    return load, store, splat, fma


load8, store8, splat8, fma8 = _python_forms(LANES)
load16, store16, splat16, fma16 = _python_forms(WIDE_LANES)


def pairs_swapped16(v):
    """v with lanes 2i and 2i + 1 swapped: each lane beside its neighbour in a pair."""
    return v.reshape(-1, 2)[:, ::-1].reshape(-1).copy()


def even_lanes16(v):
    """Lanes 0, 2, ..., 14 of a 16-lane vector, as an 8-lane one."""
    return v[::2].copy()


def equal16(a, b, x, y):
    """x where a == b, else y, lane by lane."""
    return np.where(a == b, x, y).astype(np.float32)


def winner16(v, best, x, y):
    """x where v beats best by max-pooling's rule (greater, or NaN over a number), else y."""
    return np.where((v > best) | (np.isnan(v) & ~np.isnan(best)), x, y).astype(np.float32)


# ---- the compiled form ------------------------------------------------------------------
def _element_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


def _is_flat_float32(a):
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1


def _compiled_forms(lanes, load, store, splat, fma):
    """A Numba type for `<lanes x float>` and the four operations' compiled forms."""
    class Float32xN(types.Type):
        def __init__(self):
            super().__init__(name=f"float32x{lanes}")

    vector_type = Float32xN()
    vector = ir.VectorType(ir.FloatType(), lanes)

    @register_model(Float32xN)
    class _Model(models.PrimitiveModel):
        def __init__(self, dmm, fe_type):
            super().__init__(dmm, fe_type, vector)

    @intrinsic
    def _load(typingctx, a, i):
        def codegen(context, builder, sig, args):
            pointer = _element_pointer(context, builder, sig.args[0], *args)
            return builder.load(builder.bitcast(pointer, vector.as_pointer()), align=4)
        return vector_type(a, i), codegen

    @intrinsic
    def _store(typingctx, a, i, v):
        def codegen(context, builder, sig, args):
            pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
            builder.store(args[2], builder.bitcast(pointer, vector.as_pointer()), align=4)
            return context.get_dummy_value()
        return types.none(a, i, v), codegen

    @intrinsic
    def _splat(typingctx, a, i):
        def codegen(context, builder, sig, args):
            value = builder.load(_element_pointer(context, builder, sig.args[0], *args))
            one = builder.insert_element(ir.Constant(vector, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
            return builder.shuffle_vector(one, ir.Constant(vector, ir.Undefined),
                                          ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
        return vector_type(a, i), codegen

    @intrinsic
    def _fma(typingctx, a, b, c):
        def codegen(context, builder, sig, args):
            fn = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{lanes}f32")
            return builder.call(fn, args)
        return vector_type(a, b, c), codegen

    @overload(load)
    def _load_overload(a, i):
        if _is_flat_float32(a):
            return lambda a, i: _load(a, i)

    @overload(store)
    def _store_overload(a, i, v):
        if _is_flat_float32(a) and v == vector_type:
            return lambda a, i, v: _store(a, i, v)

    @overload(splat)
    def _splat_overload(a, i):
        if _is_flat_float32(a):
            return lambda a, i: _splat(a, i)

    @overload(fma)
    def _fma_overload(a, b, c):
        if a == b == c == vector_type:
            return lambda a, b, c: _fma(a, b, c)
    return vector_type


float32x8 = _compiled_forms(LANES, load8, store8, splat8, fma8)
float32x16 = _compiled_forms(WIDE_LANES, load16, store16, splat16, fma16)


@intrinsic
def _winner16(typingctx, v, best, x, y):
    def codegen(context, builder, sig, args):
        v, best, x, y = args
        # unordered ">" holds if either is NaN; "ord" drops the lanes where best is NaN already
        wins = builder.and_(builder.fcmp_unordered(">", v, best), builder.fcmp_ordered("ord", best, best))
        return builder.select(wins, x, y)
    return float32x16(v, best, x, y), codegen


@intrinsic
def _pairs_swapped16(typingctx, v):
    def codegen(context, builder, sig, args):
        mask = [i + 1 if i % 2 == 0 else i - 1 for i in range(WIDE_LANES)]
        return builder.shuffle_vector(args[0], ir.Constant(args[0].type, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), WIDE_LANES), mask))
    return float32x16(v), codegen


@intrinsic
def _even_lanes16(typingctx, v):
    def codegen(context, builder, sig, args):
        return builder.shuffle_vector(args[0], ir.Constant(args[0].type, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), LANES), list(range(0, WIDE_LANES, 2))))
    return float32x8(v), codegen


@intrinsic
def _equal16(typingctx, a, b, x, y):
    def codegen(context, builder, sig, args):
        a, b, x, y = args
        return builder.select(builder.fcmp_ordered("==", a, b), x, y)
    return float32x16(a, b, x, y), codegen


@overload(equal16)
def _equal16_overload(a, b, x, y):
    if a == b == x == y == float32x16:
        return lambda a, b, x, y: _equal16(a, b, x, y)


@overload(pairs_swapped16)
def _pairs_swapped16_overload(v):
    if v == float32x16:
        return lambda v: _pairs_swapped16(v)


@overload(even_lanes16)
def _even_lanes16_overload(v):
    if v == float32x16:
        return lambda v: _even_lanes16(v)


@overload(winner16)
def _winner16_overload(v, best, x, y):
    if v == best == x == y == float32x16:
        return lambda v, best, x, y: _winner16(v, best, x, y)
