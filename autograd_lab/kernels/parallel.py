"""One pool of worker threads for the heavy kernels.

Why not Numba's prange plus multi-threaded BLAS: on a 2-core machine the two
thread pools take turns on the same cores, and after each call the idle
threads of one keep spinning while the other works. Measured on the W4 conv
layer, every Numba loop ran 3-10x slower when interleaved with matrix
products than alone. So a kernel call is split into chunks of the batch; each
worker thread takes its share of chunks and runs serial Numba kernels (which
release the GIL) and single-threaded BLAS on buffers small enough to stay in
cache. One pool, whose threads poll for a few ms before they sleep (kernels.spin),
and no memory traffic for a full im2col matrix. Besides Python jobs, a worker
runs matrix products posted to its mailbox by compiled code (kernels.matmul),
without taking the GIL.

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
from .gemm import blas_function, run_described

_threads = int(os.environ.get("AUTOGRAD_LAB_NUM_THREADS", 0)) or min(os.cpu_count() or 1, 2)
_helpers: list = []                # worker threads besides the caller, started on first use
_boxes = None                      # their mailboxes (kernels.spin), one row each
_pool_lock = threading.Lock()      # held while a call uses the helpers; a second caller runs serially


# Polls (each a sched_yield, 0.2-0.7 µs) a thread spends waiting before it
# sleeps: a few ms here, like OpenMP runtimes' spin-then-sleep default. Long
# enough to bridge the gaps between the kernels of one train step.
SPINS = 10_000


class _Helper(threading.Thread):
    """A worker thread that runs one job at a time: a Python callable, or a matrix product.

    Jobs are posted through its mailbox (`box`, kernels.spin): while the worker
    polls, it runs a product on its own without the GIL, and notices a Python
    job at once; after a few ms without work it sleeps on `wake`, which a poster
    releases only when the mailbox says SLEEPING. The caller of a Python job
    polls for its end and then sleeps on `finished`.
    """

    def __init__(self, box):
        super().__init__(daemon=True, name="autograd_lab-worker")
        self.wake = threading.Lock()
        self.wake.acquire()
        self.finished = threading.Lock()
        self.finished.acquire()
        self.box = box
        self.job = self.result = self.error = None

    def run(self):
        box, done = self.box, 0
        while True:
            if spin.AVAILABLE:
                done = spin.serve(box, done, SPINS)
            if spin.posted(box) == done:         # nothing new: sleep until something is posted
                if spin.prepare_to_sleep(box, done):
                    self.wake.acquire()
                    spin.set_state(box, spin.POLLING)
                continue
            if box[spin.KIND] == spin.PRODUCT_JOB:     # posted while this thread was not polling
                run_described(box[spin.DESCRIPTION:])
                done += 1
                spin.finish(box, done)
                continue
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
            spin.finish(box, done)

    def _post(self):
        if spin.post(self.box) == spin.SLEEPING:
            self.wake_up()

    def wake_up(self):
        try:
            self.wake.release()
        except RuntimeError:     # already released: the worker will find its job anyway
            pass

    def start_job(self, job):
        self.job = job
        self.box[spin.KIND] = spin.PYTHON_JOB
        self._post()

    def wait(self):
        if spin.AVAILABLE:
            spin.wait_for_change(self.box, spin.FINISHED, self.box[spin.POSTED] - 1, SPINS)
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


def _start_helpers():
    """Start the helpers (under _pool_lock), their mailboxes the rows of one array."""
    global _boxes
    if len(_helpers) < _threads - 1:
        _stop_helpers()
        _boxes = np.stack([spin.new_box() for _ in range(_threads - 1)])
        _helpers.extend(_Helper(box) for box in _boxes)
        for helper in _helpers:
            helper.start()


def products_available(dtype) -> bool:
    """Whether the workers can run products of `dtype` posted from compiled code (`borrow_mailboxes`)."""
    return spin.AVAILABLE and _threads > 1 and blas_function(dtype)[0] != 0


def borrow_mailboxes():
    """The helpers' mailboxes, (threads - 1, slots), for compiled code that posts products to
    them itself (kernels.matmul), until `return_mailboxes()`; None when the helpers are
    busy (a call from inside a share). The code that posts gets back which helpers were
    asleep: `wake(asleep)` wakes them."""
    if not _pool_lock.acquire(blocking=False):
        return None
    _start_helpers()
    return _boxes


def return_mailboxes():
    _pool_lock.release()


def wake(asleep: int) -> None:
    """Wake helper i for each bit i set in `asleep`."""
    for i, helper in enumerate(_helpers):
        if asleep >> i & 1:
            helper.wake_up()


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
            _start_helpers()
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
