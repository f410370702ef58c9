"""One pool of worker threads for the heavy kernels.

Why not Numba's prange plus multi-threaded BLAS: on a 2-core machine the two
thread pools take turns on the same cores, and after each call the idle
threads of one keep spinning while the other works. Measured on the W4 conv
layer, every Numba loop ran 3-10x slower when interleaved with matrix
products than alone. So a kernel call is split into chunks of the batch; each
worker thread takes its share of chunks and runs serial Numba kernels (which
release the GIL) and single-threaded BLAS on buffers small enough to stay in
cache. One pool, whose threads poll for a few ms before they sleep (kernels.spin),
and no memory traffic for a full im2col matrix.

Why not concurrent.futures: a hand-off through ThreadPoolExecutor (a Future,
a queue, a condition variable) cost 36 µs per call here, against 14 µs for a
pair of plain locks per worker, and 9 µs when the threads poll before they
sleep (kernels.spin); on a 250 µs matrix product split in two, that is the
difference between 182 µs and 144 µs (OpenBLAS's own threads: 139 µs).
"""
from __future__ import annotations

import os
import threading

import numpy as np

from . import spin
from .blas import single_threaded

_threads = int(os.environ.get("AUTOGRAD_LAB_NUM_THREADS", 0)) or min(os.cpu_count() or 1, 2)
_helpers: list = []                # worker threads besides the caller, started on first use
_pool_lock = threading.Lock()      # held while a call uses the helpers; a second caller runs serially


# Polls (each a sched_yield, 0.2-0.7 µs) a thread spends waiting before it
# sleeps: a few ms here, like OpenMP runtimes' spin-then-sleep default. Long
# enough to bridge the gaps between the kernels of one train step.
SPINS = 10_000


class _Helper(threading.Thread):
    """A worker thread that waits for one job at a time and hands back its result.

    Hand-offs go two ways at once: a lock (`wake`, `finished`) that the other side
    sleeps on, and a counter in `box` (jobs posted, jobs finished) that it polls
    first for a while (kernels.spin says why).
    """

    def __init__(self):
        super().__init__(daemon=True, name="autograd_lab-worker")
        self.wake = threading.Lock()
        self.wake.acquire()
        self.finished = threading.Lock()
        self.finished.acquire()
        self.box = np.zeros(2, np.int64)    # [jobs posted, jobs finished]
        self.job = self.result = self.error = None

    def run(self):
        done = 0
        while True:
            if spin.AVAILABLE:
                spin.wait_for_change(self.box, 0, done, SPINS)
            self.wake.acquire()              # one release per job: immediate if the poll saw it
            job, self.job = self.job, None
            if job is None:          # told to stop
                return
            try:
                self.result, self.error = job(), None
            except BaseException as error:   # handed back to the caller, raised there
                self.result, self.error = None, error
            job = None               # nor keep the job's arrays alive until the next one
            done += 1
            self.finished.release()
            self.box[1] = done

    def start_job(self, job):
        self.job = job
        self.wake.release()
        self.box[0] += 1

    def wait(self):
        if spin.AVAILABLE:
            spin.wait_for_change(self.box, 1, self.box[0] - 1, SPINS)
        self.finished.acquire()
        outcome, self.result, self.error = (self.result, self.error), None, None
        return outcome

    def stop(self):
        self.start_job(None)


def get_num_threads() -> int:
    return _threads


def _stop_helpers():
    for helper in _helpers:
        helper.stop()
    _helpers.clear()


def set_num_threads(n: int) -> None:
    global _threads
    with _pool_lock:
        _threads = n
        _stop_helpers()


def _forget_helpers_after_fork():
    # A forked child has none of the parent's threads: start fresh ones on demand.
    global _pool_lock
    _helpers.clear()
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers_after_fork)


def chunk_size(n_items: int, bytes_per_item: int, target_bytes: int = 1 << 20) -> int:
    """Items per chunk so that one chunk's scratch buffers stay near `target_bytes`."""
    return max(1, min(n_items, target_bytes // max(bytes_per_item, 1)))


def run_chunks(n_items: int, chunk: int, work) -> list:
    """Split range(n_items) into chunks; `work(ranges)` runs in each worker on its share.

    Returns the workers' results (e.g. partial sums to add up), the caller's share first.
    A call made while the helpers are busy (from a worker, or another user thread)
    runs all its chunks on the calling thread.
    """
    ranges = [(lo, min(lo + chunk, n_items)) for lo in range(0, n_items, chunk)]
    workers = min(_threads, len(ranges))
    with single_threaded():      # BLAS inside a chunk: one thread (kernels.blas says why)
        if workers <= 1 or not _pool_lock.acquire(blocking=False):
            return [work(ranges)]
        try:
            while len(_helpers) < _threads - 1:
                _helpers.append(_Helper())
                _helpers[-1].start()
            helpers = _helpers[:workers - 1]
            for i, helper in enumerate(helpers, start=1):
                helper.start_job(lambda share=ranges[i::workers]: work(share))
            # The calling thread takes the first share itself: one thread fewer to wake.
            try:
                first, first_error = work(ranges[0::workers]), None
            except BaseException as error:
                first, first_error = None, error
            outcomes = [helper.wait() for helper in helpers]   # never leave a helper writing
        finally:
            _pool_lock.release()
    errors = [first_error] + [error for _, error in outcomes]
    for error in errors:
        if error is not None:
            raise error
    return [first] + [result for result, _ in outcomes]
