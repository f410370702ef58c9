"""Eight float32 lanes as one value: explicit AVX vectors for the convolution kernels.

LLVM does not vectorise a register-blocked loop nest on its own (measured in
session 5: a plain Numba direct convolution ran at 4 GFLOP/s). With a type for
`<8 x float>` and four operations on it, a kernel can hold a block of outputs in
vector registers across its whole inner loop, as a BLAS microkernel does:

    load8(a, i)        a[i:i + 8]                    (a: flat float32 array)
    store8(a, i, v)    a[i:i + 8] = v
    splat8(a, i)       a[i] in all eight lanes
    fma8(a, b, c)      a * b + c, rounded once

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


# ---- the Python meaning ----------------------------------------------------------------
def _lanes(a, i):
    if i < 0 or i + LANES > a.size:
        raise IndexError(f"simd: lanes [{i}, {i + LANES}) outside an array of {a.size}")
    return slice(i, i + LANES)


def load8(a, i):
    return a[_lanes(a, i)].copy()


def store8(a, i, v):
    a[_lanes(a, i)] = v


def splat8(a, i):
    return np.full(LANES, a[i], np.float32)


def fma8(a, b, c):
    # float64 holds the exact product of two float32s: one rounding, as the FMA
    return (a.astype(np.float64) * b + c).astype(np.float32)


# ---- the compiled form ------------------------------------------------------------------
class Float32x8(types.Type):
    def __init__(self):
        super().__init__(name="float32x8")


float32x8 = Float32x8()
_VECTOR = ir.VectorType(ir.FloatType(), LANES)


@register_model(Float32x8)
class _Float32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


def _element_pointer(context, builder, array_type, array, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [index])


def _is_flat_float32(a):
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1


@intrinsic
def _load8(typingctx, a, i):
    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], *args)
        return builder.load(builder.bitcast(pointer, _VECTOR.as_pointer()), align=4)
    return float32x8(a, i), codegen


@intrinsic
def _store8(typingctx, a, i, v):
    def codegen(context, builder, sig, args):
        pointer = _element_pointer(context, builder, sig.args[0], args[0], args[1])
        builder.store(args[2], builder.bitcast(pointer, _VECTOR.as_pointer()), align=4)
        return context.get_dummy_value()
    return types.none(a, i, v), codegen


@intrinsic
def _splat8(typingctx, a, i):
    def codegen(context, builder, sig, args):
        value = builder.load(_element_pointer(context, builder, sig.args[0], *args))
        one = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), value, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(one, ir.Constant(_VECTOR, ir.Undefined),
                                      ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
    return float32x8(a, i), codegen


@intrinsic
def _fma8(typingctx, a, b, c):
    def codegen(context, builder, sig, args):
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3), "llvm.fma.v8f32")
        return builder.call(fma, args)
    return float32x8(a, b, c), codegen


@overload(load8)
def _load8_overload(a, i):
    if _is_flat_float32(a):
        return lambda a, i: _load8(a, i)


@overload(store8)
def _store8_overload(a, i, v):
    if _is_flat_float32(a) and v == float32x8:
        return lambda a, i, v: _store8(a, i, v)


@overload(splat8)
def _splat8_overload(a, i):
    if _is_flat_float32(a):
        return lambda a, i: _splat8(a, i)


@overload(fma8)
def _fma8_overload(a, b, c):
    if a == b == c == float32x8:
        return lambda a, b, c: _fma8(a, b, c)
