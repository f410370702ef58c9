"""Matrix products on numpy's BLAS, one thread per worker of our pool.

BLAS runs single-threaded inside autograd_lab (kernels.blas says why), so a
large 2-D product is cut into blocks of rows, of columns or of the inner
dimension, one per worker thread, each a single-threaded BLAS call (numpy
releases the GIL while BLAS runs). Small products, and batched or integer ones,
are one `np.matmul` call on the calling thread.

The helpers' parts are handed to them through their mailboxes and run from
compiled code without the GIL (kernels.parallel.run_products): a helper that
had to take the GIL to start its part started it late enough that W2's split
products were slower on two threads than on one (Intel Xeon, 2 cores).
"""
from __future__ import annotations

import numpy as np

from . import gemm, parallel
from .blas import single_threaded

# Below this many multiply-adds a product runs on the calling thread: handing half of it
# to a helper costs more than it saves. W2's 64x1280x128 products (10.5M) split: inside
# W2's train step, split against never split in alternating blocks of one process
# (benchmarks/split_products.py), 0.84-0.94x on an AMD EPYC and 0.94-1.00x on an Intel
# Xeon (2 vCPUs each); W3's step 0.98-1.00x (docs/performance.md). Splitting pays only
# while the helper's polling does not slow the caller's own numpy work between products:
# measure with that script before lowering or raising this.
SPLIT_MIN_MULTIPLY_ADDS = 1 << 23
# OpenBLAS computes a product of up to 4 * 65536 multiply-adds on the calling
# thread whatever its thread count (GEMM_MULTITHREAD_THRESHOLD; measured: 64x64
# by 64x64 takes 8.0 µs with 1 or 2 threads), so small products skip the
# thread-count switch: a few µs each, which added up to 12% of a small MLP's
# step (W6 b), and W2's three products with 10 columns.
SMALL_MULTIPLY_ADDS = 4 * 65536

ROWS, COLUMNS, INNER = 0, 1, 2      # how a large product is split across the threads


def matmul(a, b):
    """np.matmul(a, b), with large float 2-D products split across the worker threads.

    >>> import numpy as np
    >>> from autograd_lab.kernels.matmul import matmul
    >>> matmul(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 2.],
           [3., 4.]])
    """
    multiply_adds = a.size * (b.shape[-1] if b.ndim else 1)
    if multiply_adds <= SMALL_MULTIPLY_ADDS:
        return np.matmul(a, b)      # OpenBLAS runs these on the calling thread anyway
    threads = parallel.get_num_threads()
    if (threads < 2 or a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.kind != "f"
            or multiply_adds < SPLIT_MIN_MULTIPLY_ADDS):
        with single_threaded():
            return np.matmul(a, b)
    if a.shape[1] != b.shape[0]:
        return np.matmul(a, b)      # numpy's own error message
    M, K, N = a.shape[0], a.shape[1], b.shape[1]
    # BLAS packs its operands into cache-sized panels. Splitting the rows of the
    # output makes every worker pack all of b; splitting its columns, all of a;
    # splitting the shared dimension K, each packs only its half, and the partial
    # products (M x N each) are added. Pick the split that repeats the least.
    repeated = (K * N, M * K, 2 * M * N)
    split = repeated.index(min(repeated))                    # ROWS, COLUMNS or INNER
    size = (M, N, K)[split]
    block = -(-size // threads)
    parts = -(-size // block)
    out = np.empty((M, N), a.dtype)
    partials = np.empty((parts - 1 if split == INNER else 0, M, N), a.dtype)
    pieces = [_part(a, b, out, partials, split, block, i) for i in range(parts)]
    address, ilp64 = gemm.blas_function(a.dtype)
    if (parallel.products_available(address) and all(map(_blas_ready, (a, b)))
            and parallel.run_products(address, ilp64, pieces)):
        for partial in partials:
            out += partial
        return out

    def work(ranges):         # jobs of the worker pool, one piece each
        for i, _ in ranges:
            np.matmul(*pieces[i][:2], out=pieces[i][2])

    parallel.run_chunks(parts, 1, work)
    for partial in partials:
        out += partial
    return out


def _blas_ready(x):
    """Whether BLAS can read x as it is, as numpy decides (its is_blasable2d): rows or
    columns of unit stride, laid side by side without overlap, in native byte order.
    A broadcast operand (a zero stride) or an overlapping view goes through numpy."""
    size, (rows, cols), (s0, s1) = x.itemsize, x.shape, x.strides
    if not x.dtype.isnative or s0 % size or s1 % size:
        return False
    if s1 == size:
        return s0 >= max(cols, 1) * size
    if s0 == size:
        return s1 >= max(rows, 1) * size
    return False


def _part(a, b, out, partials, split, block, i):
    """Part i of the split product: (a_i, b_i, c_i) with c_i = a_i @ b_i."""
    if split == ROWS:
        lo, hi = i * block, min((i + 1) * block, a.shape[0])
        return a[lo:hi], b, out[lo:hi]
    if split == COLUMNS:
        lo, hi = i * block, min((i + 1) * block, b.shape[1])
        return a, b[:, lo:hi], out[:, lo:hi]
    lo, hi = i * block, min((i + 1) * block, a.shape[1])
    return a[:, lo:hi], b[lo:hi], out if i == 0 else partials[i - 1]
