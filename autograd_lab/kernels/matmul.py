"""Matrix products on numpy's BLAS, one thread per worker of our pool.

BLAS runs single-threaded inside autograd_lab (kernels.blas says why), so a
large 2-D product is cut into blocks of rows, of columns or of the inner
dimension, one per worker thread, each a single-threaded BLAS call. Compiled
code posts the helpers' parts to their mailboxes and they run them without
going back to Python (kernels.spin); without compiled BLAS calls
(kernels.gemm), the parts are Python jobs of the worker pool. Small products,
and batched or integer ones, are one `np.matmul` call on the calling thread.

Measured on W2's 64x1280 by 1280x128 product, 2 threads: 171 µs as Python
jobs, 156 µs posted from compiled code, 140 µs on OpenBLAS's own threads;
inside W2's train step, 185-195 µs and 169-173 µs.
"""
from __future__ import annotations

import numpy as np

from . import blas, jit, parallel, spin
from .blas import single_threaded
from .gemm import blas_function, describe, product

# Below this many multiply-adds a product takes < ~50 µs on one thread, about
# what handing halves to two workers costs: not worth splitting.
SPLIT_MIN_MULTIPLY_ADDS = 1 << 20
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
    if parallel.products_available(a.dtype) and _blas_ready(a) and _blas_ready(b):
        _split_without_gil(a, b, out, partials, split, block, parts)
        return out
    pieces = [_part(a, b, out, partials, split, block, i) for i in range(parts)]

    def work(ranges):         # Python jobs of the worker pool, one piece each
        for i, _ in ranges:
            np.matmul(*pieces[i][:2], out=pieces[i][2])

    parallel.run_chunks(parts, 1, work)
    for partial in partials:
        out += partial
    return out


def _blas_ready(x):
    """Whether BLAS can read x as it is: C order, or the transpose of C order (kernels.gemm)."""
    (rows, columns), (row_step, column_step), size = x.shape, x.strides, x.itemsize
    return ((column_step == size and row_step >= columns * size)
            or (row_step == size and column_step >= rows * size))


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


def _post_parts(boxes, address, ilp64, a, b, out, partials, split, block, parts):
    """Post parts 1.. to the helpers' mailboxes; returns a bit per helper found asleep."""
    for i in range(1, parts):      # all described (and checked) before any is posted
        a_i, b_i, c_i = part_views(a, b, out, partials, split, block, i)
        describe(boxes[i - 1, spin.DESCRIPTION:], address, ilp64, a_i, b_i, c_i)
        boxes[i - 1, spin.KIND] = spin.PRODUCT_JOB
    asleep = 0
    for i in range(1, parts):
        if spin.post(boxes[i - 1]) == spin.SLEEPING:
            asleep |= 1 << (i - 1)
    return asleep


def _finish_parts(boxes, address, ilp64, a, b, out, partials, split, block, parts):
    """Part 0 on this thread, then wait for the helpers and add the partial products."""
    a_0, b_0, c_0 = part_views(a, b, out, partials, split, block, 0)
    product(address, ilp64, a_0, b_0, c_0, 0.0)
    for i in range(1, parts):
        spin.wait_until_finished(boxes[i - 1], boxes[i - 1, spin.POSTED])
    if split == INNER:
        flat = out.reshape(-1)
        for i in range(parts - 1):
            partial = partials[i].reshape(-1)
            for j in range(flat.size):
                flat[j] += partial[j]


part_views = jit(_part)
_post_parts = jit(_post_parts)
_finish_parts = jit(_finish_parts)


def _split_without_gil(a, b, out, partials, split, block, parts):
    """out = a @ b, each part one BLAS call, the helpers' posted by compiled code and
    run by them without the GIL (kernels.spin): a Python hand-off costs ~30 µs
    inside a train step, against 2 compiled calls here. The pool and BLAS's thread
    count are taken and given back without `with` blocks: 3 µs less per W2 step,
    measured A/B in one process (15 rounds, every one faster)."""
    address, ilp64 = blas_function(a.dtype)
    boxes = parallel.borrow_mailboxes()
    if boxes is None:
        with single_threaded():
            np.matmul(a, b, out=out)
        return
    previous = blas.use_one_thread()
    try:
        parallel.wake(_post_parts(boxes, address, ilp64, a, b, out, partials, split, block, parts))
        _finish_parts(boxes, address, ilp64, a, b, out, partials, split, block, parts)
    finally:
        blas.restore_threads(previous)
        parallel.return_mailboxes()
