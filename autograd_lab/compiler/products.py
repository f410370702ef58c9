"""Matrix products of a compiled program, split across the calling thread and one helper.

kernels.matmul splits a product in equal parts. In a compiled step the operands were
last written by the calling thread (the weights by the SGD update, a gradient by a fused
kernel), so the helper reads them from the other core's cache: alone, W2's half product
(64x640x128) took 126-137 µs on the calling thread and 173 µs on the helper (AMD EPYC,
2 cores, docs/performance.md). The helper here gets the smaller share, so that both
parts end together.
"""
from __future__ import annotations

import numpy as np

from ..kernels import gemm, parallel
from ..kernels import matmul as KM
from ..kernels.blas import single_threaded

HELPER_SHARE = 0.4          # of the split dimension, in multiples of ALIGN
ALIGN = 16


def split_matmul(a, b, split_min, share=None):
    """a @ b (2-D, one float dtype): products of at least `split_min` multiply-adds in two
    parts, the helper's `share` (HELPER_SHARE) of the dimension kernels.matmul would split
    (its choice: the one whose split repeats the least packing); others as kernels.matmul."""
    M, K = a.shape
    N = b.shape[1]
    if (M * K * N < split_min or parallel.get_num_threads() < 2 or a.dtype != b.dtype
            or a.dtype.kind != "f" or b.shape[0] != K):
        return KM.matmul(a, b, split_min=split_min)
    address, ilp64 = gemm.blas_function(a.dtype)
    if not (parallel.products_available(address) and KM._blas_ready(a) and KM._blas_ready(b)):
        return KM.matmul(a, b, split_min=split_min)
    share = HELPER_SHARE if share is None else share
    repeated = (K * N, M * K, 2 * M * N)
    split = repeated.index(min(repeated))                   # rows, columns or inner
    size = (M, N, K)[split]
    cut = size - int(round(size * share / ALIGN)) * ALIGN
    if not 0 < cut < size:
        return KM.matmul(a, b, split_min=split_min)
    out = np.empty((M, N), a.dtype)
    partial = None
    if split == KM.ROWS:
        pieces = [(a[:cut], b, out[:cut]), (a[cut:], b, out[cut:])]
    elif split == KM.COLUMNS:
        pieces = [(a, b[:, :cut], out[:, :cut]), (a, b[:, cut:], out[:, cut:])]
    else:
        partial = np.empty((M, N), a.dtype)
        pieces = [(a[:, :cut], b[:cut], out), (a[:, cut:], b[cut:], partial)]
    if not parallel.run_products(address, ilp64, pieces):
        with single_threaded():     # the helpers are busy: the whole product here
            return np.matmul(a, b, out=out)
    if partial is not None:
        out += partial
    return out
