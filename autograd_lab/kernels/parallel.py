"""One pool of worker threads for the heavy kernels.

Why not Numba's prange plus multi-threaded BLAS: on a 2-core machine the two
thread pools take turns on the same cores, and after each call the idle
threads of one keep spinning while the other works. Measured on the W4 conv
layer, every Numba loop ran 3-10x slower when interleaved with matrix
products than alone. So a kernel call is split into chunks of the batch; each
worker thread takes its share of chunks and runs serial Numba kernels (which
release the GIL) and single-threaded BLAS on buffers small enough to stay in
cache. One pool, no spinning, no memory traffic for a full im2col matrix.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .blas import single_threaded

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_threads = int(os.environ.get("AUTOGRAD_LAB_NUM_THREADS", 0)) or min(os.cpu_count() or 1, 2)


def get_num_threads() -> int:
    return _threads


def set_num_threads(n: int) -> None:
    global _threads, _pool
    with _lock:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_threads, thread_name_prefix="autograd_lab")
        return _pool


def chunk_size(n_items: int, bytes_per_item: int, target_bytes: int = 1 << 20) -> int:
    """Items per chunk so that one chunk's scratch buffers stay near `target_bytes`."""
    return max(1, min(n_items, target_bytes // max(bytes_per_item, 1)))


def run_chunks(n_items: int, chunk: int, work) -> list:
    """Split range(n_items) into chunks; `work(ranges)` runs in each worker on its share.

    Returns the workers' results (e.g. partial sums to add up).
    """
    ranges = [(lo, min(lo + chunk, n_items)) for lo in range(0, n_items, chunk)]
    workers = min(_threads, len(ranges))
    with single_threaded():      # BLAS inside a chunk: one thread (kernels.blas says why)
        if workers <= 1:
            return [work(ranges)]
        # The calling thread takes the first share itself: one thread fewer to wake
        # (a hand-off to a sleeping worker costs tens of µs).
        futures = [_executor().submit(work, ranges[i::workers]) for i in range(1, workers)]
        first = work(ranges[0::workers])
        return [first] + [f.result() for f in futures]
