"""Matrix products that a worker thread can run without the GIL: numpy's own BLAS, by address.

Why: a worker of kernels.parallel that waits for its share of a split product
by polling in compiled code (kernels.spin) can start it at once, without
returning to Python and waiting for the GIL, which the posting thread holds
until its own share enters BLAS. A worker that needs the GIL wakes from a
sleep on it: measured on W2 (Intel Xeon, 2 cores), the split products took
longer on two threads than on one that way.

Numba cannot call numpy's BLAS (`np.dot` in nopython mode needs SciPy), so a
product is described in numbers (`describe`) and run (`run_described`) by
calling the `cblas_?gemm` function of the BLAS library numpy loaded, by address.
The address is an argument, not a constant: a constant would be baked into the
on-disk cache and be wrong in the next process. Where cblas_?gemm cannot be
found (a BLAS other than OpenBLAS, or NUMBA_DISABLE_JIT=1), `blas_function`
returns address 0, and kernels.matmul uses numpy's matmul from Python.
"""
from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

# (symbol, integer width): numpy >= 2 wheels ship OpenBLAS with 64-bit integers
# and a scipy_ prefix; numpy 1.x wheels a 64_ suffix; a system OpenBLAS neither.
_SYMBOLS = {"float32": [("scipy_cblas_sgemm64_", 64), ("cblas_sgemm64_", 64), ("cblas_sgemm", 32)],
            "float64": [("scipy_cblas_dgemm64_", 64), ("cblas_dgemm64_", 64), ("cblas_dgemm", 32)]}
_found = None     # {dtype name: (address, integer width)}
_by_dtype = {}    # dtype as passed -> blas_function's answer


def _find():
    global _found
    _found = {}
    if numba.config.DISABLE_JIT:
        return
    from .blas import numpy_library      # the copy whose thread count kernels.blas sets
    lib = numpy_library()
    if lib is None or lib.internal_api != "openblas":
        return
    library = ctypes.CDLL(lib.filepath)     # already loaded by numpy: this is the same copy
    for dtype, candidates in _SYMBOLS.items():
        for name, bits in candidates:
            function = getattr(library, name, None)
            if function is not None:
                if bits == 32 and _built_with_64_bit_integers(library):   # no suffix says so
                    bits = 64
                _found[dtype] = (ctypes.cast(function, ctypes.c_void_p).value, bits)
                break


def _built_with_64_bit_integers(library):
    config = getattr(library, "openblas_get_config", None)
    if config is None:
        return False
    config.restype = ctypes.c_char_p
    return b"USE64BITINT" in (config() or b"")


def blas_function(dtype):
    """(address, 64-bit integers?) of numpy's cblas_?gemm for `dtype`; address 0 when there is none.

    With address 0 a compiled caller cannot multiply: run its loop as Python
    (`loop.py_func`), where `product` is numpy's.
    """
    try:
        return _by_dtype[dtype]     # called on every product: skip np.dtype's ~2 µs
    except (KeyError, TypeError):
        pass
    if _found is None:
        _find()
    address, bits = _found.get(np.dtype(dtype).name, (0, 64))
    try:
        _by_dtype[dtype] = address, bits == 64
    except TypeError:           # unhashable dtype-like argument
        pass
    return address, bits == 64


def _make_call(bits, element_type):
    """An intrinsic calling cblas_?gemm for `element_type`, with `bits`-wide integers."""
    @intrinsic
    def call(typingctx, address, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
        """cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, 1, a, lda, b, ldb, beta, c, ldc); a, b, c: addresses."""
        def codegen(context, builder, signature, args):
            address, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc = args
            element = context.get_value_type(element_type)
            pointer, enum, integer = element.as_pointer(), ir.IntType(32), ir.IntType(bits)
            function_type = ir.FunctionType(ir.VoidType(), [enum, enum, enum, integer, integer, integer, element,
                                                            pointer, integer, pointer, integer, element,
                                                            pointer, integer])

            def count(value):      # int64 in, the library's integer width out
                return builder.trunc(value, integer) if bits < 64 else value

            def data(value):
                return builder.inttoptr(value, pointer)

            function = builder.inttoptr(address, function_type.as_pointer())
            builder.call(function, [ir.Constant(enum, _ROW_MAJOR), builder.trunc(trans_a, enum),
                                    builder.trunc(trans_b, enum), count(m), count(n), count(k),
                                    ir.Constant(element, 1.0), data(a), count(lda), data(b), count(ldb),
                                    context.cast(builder, beta, types.float64, element_type), data(c), count(ldc)])
            return context.get_dummy_value()
        i64 = types.int64
        return types.void(i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, types.float64, i64, i64), codegen
    return call


_sgemm64, _sgemm32 = _make_call(64, types.float32), _make_call(32, types.float32)
_dgemm64, _dgemm32 = _make_call(64, types.float64), _make_call(32, types.float64)


@numba.njit(cache=True, nogil=True)
def _call(address, ilp64, double, trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc):
    if double and ilp64:
        _dgemm64(address, trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc)
    elif double:
        _dgemm32(address, trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc)
    elif ilp64:
        _sgemm64(address, trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc)
    else:
        _sgemm32(address, trans_a, trans_b, M, N, K, a, lda, b, ldb, beta, c, ldc)


@numba.njit(cache=True, nogil=True)
def _operand(array, rows):
    """(transposed?, leading dimension) of a 2-D operand with one unit stride, its rows (or
    columns) side by side without overlap: anything else would make BLAS read wrong memory."""
    size = array.itemsize
    if array.strides[1] == size or array.shape[1] == 1:
        lead = array.strides[0] // size
        if array.shape[0] > 1 and (array.strides[0] % size != 0 or lead < array.shape[1]):
            raise ValueError("gemm: an operand's rows overlap (a broadcast or strided view)")
        return _NO_TRANS, max(lead, array.shape[1], 1)
    if array.strides[0] == size or rows == 1:
        lead = array.strides[1] // size
        if array.shape[1] > 1 and (array.strides[1] % size != 0 or lead < rows):
            raise ValueError("gemm: an operand's columns overlap (a broadcast or strided view)")
        return _TRANS, max(lead, rows, 1)
    raise ValueError("gemm: an operand needs one unit stride")


@numba.njit(cache=True, nogil=True)
def _plan(address, a, b, c, beta):
    """Check a BLAS call c = a @ b + beta*c; (trans_a, lda, trans_b, ldb, ldc), or None when there
    is nothing for BLAS to do (an empty dimension: c is then already set)."""
    M, K = a.shape
    N = b.shape[1]
    if b.shape[0] != K or c.shape[0] != M or c.shape[1] != N:
        raise ValueError("gemm.product: shapes do not match")
    if address == 0:
        raise ValueError("gemm.product: no BLAS function to call (address 0)")
    if M == 0 or N == 0:
        return None
    if K == 0:          # empty operands may have any strides: do BLAS's part here
        for i in range(M):
            for j in range(N):
                c[i, j] = c[i, j] * beta if beta != 0 else 0
        return None
    if c.strides[1] != c.itemsize and N > 1:
        raise ValueError("gemm.product: the output needs unit-stride rows")
    trans_a, lda = _operand(a, M)
    trans_b, ldb = _operand(b, K)
    return trans_a, lda, trans_b, ldb, max(c.strides[0] // c.itemsize, N, 1)


# ---- a product described in numbers, for a thread that runs it without the GIL (kernels.parallel) ----
DESCRIPTION_SLOTS = 14


@numba.njit(cache=True, nogil=True)
def describe(description, address, ilp64, a, b, c):
    """Write the BLAS call c = a @ b into `description` (int64, DESCRIPTION_SLOTS long).

    The arrays must stay alive until `run_described` has returned.
    """
    plan = _plan(address, a, b, c, 0.0)
    if plan is None:
        description[5] = 0          # M = 0: nothing to run
        return
    trans_a, lda, trans_b, ldb, ldc = plan
    description[0], description[1], description[2] = address, ilp64, c.itemsize == 8
    description[3], description[4] = trans_a, trans_b
    description[5], description[6], description[7] = a.shape[0], b.shape[1], a.shape[1]
    description[8], description[9] = a.ctypes.data, lda
    description[10], description[11] = b.ctypes.data, ldb
    description[12], description[13] = c.ctypes.data, ldc


@numba.njit(cache=True, nogil=True)
def run_described(description):
    """Run the call `describe` wrote."""
    if description[5] == 0:
        return
    d = description
    _call(d[0], d[1] != 0, d[2] != 0, d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], 0.0, d[12], d[13])

