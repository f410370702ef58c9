"""Matrix products on numpy's BLAS, one thread per worker of our pool.

BLAS runs single-threaded inside autograd_lab (kernels.blas says why), so a
large 2-D product is cut into row blocks (or column blocks, when it has few
rows), one per worker thread, each a single-threaded BLAS call writing its own
part of the output. Small products, and batched or integer ones, are one
`np.matmul` call on the calling thread.
"""
from __future__ import annotations

import numpy as np

from . import parallel
from .blas import single_threaded

# Below this many multiply-adds a product takes < ~50 µs on one thread, about
# what handing halves to two workers costs: not worth splitting.
SPLIT_MIN_MULTIPLY_ADDS = 1 << 20
# OpenBLAS computes a product with fewer than 4 * 65536 multiply-adds on the
# calling thread whatever its thread count (GEMM_MULTITHREAD_THRESHOLD), so
# small products skip the thread-count switch: a few µs each, which added up to
# 12% of a small MLP's step (W6 b).
SMALL_MULTIPLY_ADDS = 1 << 16


def matmul(a, b):
    """np.matmul(a, b), with large float 2-D products split across the worker threads.

    >>> import numpy as np
    >>> from autograd_lab.kernels.matmul import matmul
    >>> matmul(np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[1., 2.],
           [3., 4.]])
    """
    multiply_adds = a.size * (b.shape[-1] if b.ndim else 1)
    if multiply_adds < SMALL_MULTIPLY_ADDS:
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
    repeated = {"rows": K * N, "columns": M * K, "inner": 2 * M * N}
    split = min(repeated, key=repeated.get)
    size = {"rows": M, "columns": N, "inner": K}[split]
    block = -(-size // threads)
    out = np.empty((M, N), a.dtype) if split != "inner" else None

    def work(ranges):
        partial = None
        for lo, hi in ranges:
            if split == "rows":
                np.matmul(a[lo:hi], b, out=out[lo:hi])
            elif split == "columns":
                np.matmul(a, b[:, lo:hi], out=out[:, lo:hi])
            elif partial is None:
                partial = a[:, lo:hi] @ b[lo:hi]
            else:
                partial += a[:, lo:hi] @ b[lo:hi]
        return partial

    parts = parallel.run_chunks(size, block, work)
    if split != "inner":
        return out
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total
