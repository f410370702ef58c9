"""One pool of worker threads for the heavy kernels, correct under Ctrl-C by construction.

Why our own pool rather than Numba's prange plus multi-threaded BLAS: on a
2-core machine the two thread pools take turns on the same cores, and after each
call the idle threads of one keep spinning while the other works. Measured on
the W4 conv layer, every Numba loop ran 3-10x slower when interleaved with
matrix products than alone. So a kernel call is split into chunks of the batch;
each worker thread takes its share of chunks and runs serial Numba kernels
(which release the GIL) and single-threaded BLAS (kernels.blas says why).

How a call stays correct whatever lands in the middle of it (a KeyboardInterrupt
above all):
- Each call is one `_Job` with its own completion ticket (a countdown and a lock
  released by the last helper). Nothing is shared between two calls, so a share
  that ends late can only ever report to its own job, never to the next one.
- Helpers take jobs from their own FIFO queue and never wait on anything else, so
  a job posted behind an unfinished one runs after it, and no wait can hang.
- The caller's wait cannot be abandoned half-way: an exception that lands while
  the caller runs its share or waits marks the job cancelled (shares not yet
  started are skipped), the caller waits until every helper has finished or
  skipped its share, and only then raises. The wait re-checks the countdown and
  never relies on a single wake-up.
- A helper's queue outlives a change of thread count: a helper that is no longer
  needed is told to stop through the same queue, after the jobs already in it.

Matrix products take a faster road (`run_products`): each helper's part is
described in numbers in its mailbox (kernels.spin) and run from compiled code
without the GIL by a helper that polls for a few ms between jobs before it
sleeps. A helper that had to take the GIL first started its part late: W2's
split products were slower on two threads than on one (Intel Xeon, 2 cores;
docs/performance.md has the figures). The rules above hold there too: one
product per helper per call, counted posted and finished in the helper's own
mailbox, and the caller waits until every posted product has run before it
returns or raises.
"""
from __future__ import annotations

import os
import queue
import threading
import time

import numpy as np

from . import spin
from .blas import single_threaded

THREADS_VARIABLE = "AUTOGRAD_LAB_NUM_THREADS"


def default_num_threads() -> int:
    """The cores this process may run on, capped by $AUTOGRAD_LAB_NUM_THREADS when it is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):      # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    cap = os.environ.get(THREADS_VARIABLE, "").strip()
    if cap:
        try:
            cap_value = int(cap)
        except ValueError:
            raise ValueError(f"{THREADS_VARIABLE} must be a whole number of threads, got {cap!r}") from None
        if cap_value < 1:
            raise ValueError(f"{THREADS_VARIABLE} must be at least 1, got {cap_value}")
        cores = min(cores, cap_value)
    return max(1, cores)


_threads = None                    # set by set_num_threads, else default_num_threads() on first use
_helpers: list = []                # worker threads besides the caller, started on first use
_helpers_lock = threading.Lock()   # guards _helpers while a caller posts to them
_active = None                     # the job using the helpers, if any: a hint for a second caller


class _Job:
    """One call of `run_chunks`: its shares, their outcomes, and its own completion ticket.

    Share 0 is the caller's; share i >= 1 is posted to helper i. Every step below is
    one atomic operation for the interpreter or can be repeated, so an exception
    landing between any two steps leaves nothing half-done: a share is run by
    whoever claims it first (`claims.setdefault`), and `ended[i]` is set once its
    share has run or been skipped.
    """
    __slots__ = ("work", "shares", "results", "errors", "cancelled", "claims", "ended", "_ticket")

    def __init__(self, work, shares):
        self.work, self.shares = work, shares
        self.results = [None] * len(shares)
        self.errors = [None] * len(shares)
        self.cancelled = False
        self.claims = {}                       # share -> who runs it: a helper, or the caller (to skip it)
        self.ended = np.zeros(len(shares), np.uint8)
        self.ended[0] = 1                      # the caller's share: run inline, before the wait
        self._ticket = threading.Lock()
        self._ticket.acquire()                 # released by each helper as its share ends

    def run_share(self, i, helper):
        """On a helper: share i, unless the caller has skipped it. True when it ran here: the
        helper then wakes the caller and sets `ended[i]` (_Helper.run)."""
        if self.claims.setdefault(i, helper) is not helper:
            return False
        try:
            if not self.cancelled:
                self.results[i] = self.work(self.shares[i])
        except BaseException as error:        # handed back to the caller, raised there
            self.errors[i] = error
        return True

    def wake_caller(self):
        try:
            self._ticket.release()
        except RuntimeError:                   # already released by another helper: the caller re-checks
            pass

    def finished(self):
        return bool(self.ended.all())

    def _skip_unclaimed(self):
        for i in range(1, len(self.shares)):
            if self.claims.setdefault(i, self) is self:   # ours, now or on an earlier try
                self.ended[i] = 1

    def wait(self):
        """Until every share has ended. An exception that lands meanwhile (KeyboardInterrupt)
        cancels the shares no helper has started, and is returned for the caller to raise."""
        landed = None
        while True:
            try:
                if self.cancelled:
                    self._skip_unclaimed()
                elif spin.wait_until_all_set(self.ended):   # polled: every share ended (False where
                    return landed                           # polling is unavailable, or time is up)
                if self.ended.all():
                    return landed
                self._ticket.acquire(timeout=0.5)      # the flags above are the truth, not the wake-up
            except BaseException as error:
                self.cancelled = True
                landed = landed or error


_WAKE = object()                   # put in a sleeping helper's queue when a product is posted to its box


class _Helper(threading.Thread):
    """A worker thread that runs what is posted to it until told to stop: Python jobs from its
    queue, in order, and matrix products from its mailbox (`box`, kernels.spin).

    Between jobs it polls its mailbox for a few ms (kernels.spin.serve) before it sleeps on
    the queue; a product posted while it polls runs at once, without the GIL.
    """

    def __init__(self):
        super().__init__(daemon=True, name="autograd_lab-worker")
        self.inbox = queue.SimpleQueue()
        self.box = spin.new_box()
        self.products_done = 0
        self.keep = None           # the arrays of the last product posted here

    def put(self, item):
        self.inbox.put(item)
        if spin.AVAILABLE:
            self.box[spin.PYTHON_JOB] = 1   # after the put: a poll that sees it finds the job

    def post_product(self, address, ilp64, a, b, c):
        """Hand c = a @ b to this helper's mailbox. Called with _helpers_lock held, and only
        when the mailbox is empty (every product posted before has run)."""
        self.keep = (a, b, c)     # alive until the next product: even if the caller stops waiting
        if spin.post_product(self.box, address, ilp64, a, b, c) == spin.SLEEPING:
            self.inbox.put(_WAKE)

    def mailbox_empty(self, polls=1):
        """Whether every product posted here has run (polling for a while when `polls` > 1)."""
        return spin.wait_finished(self.box, int(self.box[spin.POSTED]), polls)

    def _serve(self, polls):
        self.products_done = spin.serve(self.box, self.products_done, polls)

    def _next(self, ended=None):
        """The next job. `ended` = (flags, i): the share this thread ran last, whose flag is set
        first: from compiled code as this thread goes back to polling (spin.raise_flag_and_serve)."""
        if not spin.AVAILABLE:
            if ended is not None:
                ended[0][ended[1]] = 1
            return self.inbox.get()
        while True:
            self.box[spin.PYTHON_JOB] = 0     # before the look: a put after it raises it again
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                if ended is not None:
                    flags, index = ended
                    ended = None
                    try:
                        self.products_done = spin.raise_flag_and_serve(
                            flags, index, self.box, self.products_done, spin.POLLS)
                    finally:
                        flags[index] = 1      # already set, unless the call failed
                else:
                    self._serve(spin.POLLS)        # runs products; returns on a Python job or when idle
                if self.box[spin.PYTHON_JOB]:
                    continue
                if not spin.prepare_to_sleep(self.box, self.products_done):
                    continue                           # a product came meanwhile
                item = self.inbox.get()
                spin.set_slot(self.box, spin.STATE, spin.POLLING)
            if ended is not None:
                ended[0][ended[1]] = 1
                ended = None
            if item is not _WAKE:                      # a wake-up only sends us back to the mailbox
                return item

    def run(self):
        ended = None                  # (flags, index) of the share run last, until its flag is set
        while True:
            item = self._next(ended)
            ended = None
            if item is None:
                if spin.AVAILABLE:
                    self._serve(1)                     # a product posted before the stop still runs
                return
            job, i = item
            if job.run_share(i, self):
                job.wake_caller()     # before the flag: a caller woken early re-checks the flags, the truth
                ended = (job.ended, i)
            job = item = None                 # nor keep the job's arrays alive until the next one


def get_num_threads() -> int:
    global _threads
    if _threads is None:
        _threads = default_num_threads()
    return _threads


def set_num_threads(n: int) -> None:
    """Threads for the next calls; a call already running keeps the helpers it started with."""
    global _threads
    _threads = int(n)


def _forget_helpers_after_fork():
    # A forked child has none of the parent's threads: start fresh ones on demand.
    global _helpers_lock, _active
    _helpers.clear()
    _helpers_lock = threading.Lock()
    _active = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helpers_after_fork)


def chunk_size(n_items: int, bytes_per_item: int, target_bytes: int = 1 << 20) -> int:
    """Items per chunk so that one chunk's scratch buffers stay near `target_bytes`."""
    return max(1, min(n_items, target_bytes // max(bytes_per_item, 1)))


def _ensure_helpers(count):
    """The first `count` helpers, starting or stopping helpers so that there are
    get_num_threads() - 1 of them (at least `count`). Called with _helpers_lock held."""
    wanted = get_num_threads() - 1
    while len(_helpers) > max(wanted, count):
        _helpers.pop().put(None)           # after whatever is already in its queue
    while len(_helpers) < count:
        helper = _Helper()
        helper.start()
        _helpers.append(helper)
    return _helpers[:count]


def _post(job, count):
    """Post shares 1..count of `job` to the first `count` helpers."""
    with _helpers_lock:          # a `with`: no interrupt can land between taking it and the `try`
        for i, helper in enumerate(_ensure_helpers(count), start=1):
            helper.put((job, i))


def _pool_is_free():
    job = _active
    return job is None or job.finished()


def run_chunks(n_items: int, chunk: int, work) -> list:
    """Split range(n_items) into chunks; `work(ranges)` runs in each worker on its share.

    Returns the workers' results (e.g. partial sums to add up), the caller's share first.
    A call made while the helpers are busy (from inside a share, or from another user
    thread at the same time) runs all its chunks on the calling thread.

    >>> shares = run_chunks(5, 2, lambda ranges: ranges)      # [(0, 2), (2, 4), (4, 5)] shared out
    >>> sorted(chunk for share in shares for chunk in share)
    [(0, 2), (2, 4), (4, 5)]
    """
    global _active
    ranges = [(lo, min(lo + chunk, n_items)) for lo in range(0, n_items, chunk)]
    workers = min(get_num_threads(), len(ranges))
    with single_threaded():      # BLAS inside a chunk: one thread (kernels.blas says why)
        if workers <= 1 or isinstance(threading.current_thread(), _Helper) or not _pool_is_free():
            return [work(ranges)]
        job = _Job(work, [ranges[i::workers] for i in range(workers)])
        landed = None
        try:
            _active = job
            _post(job, workers - 1)
            # The calling thread takes the first share itself: one thread fewer to wake.
            job.results[0] = work(job.shares[0])
        except BaseException as error:
            job.cancelled = True
            job.errors[0] = error
        finally:
            landed = job.wait()                # never leave a helper writing
            if _active is job:
                _active = None
    for error in [job.errors[0], landed] + job.errors[1:]:
        if error is not None:
            raise error
    return job.results


class _Products:
    """One call of `run_products`: the helpers it posts to (set before the first post)."""
    __slots__ = ("helpers",)

    def __init__(self):
        self.helpers = None

    def finished(self):
        return self.helpers is not None and all(helper.mailbox_empty() for helper in self.helpers)

    def wait(self):
        """Until every product posted to these helpers has run (they write into the caller's
        arrays). Counted from the mailboxes, not from what the caller recorded, so a product
        whose post an interrupt cut short is waited for too. An exception that lands meanwhile
        is returned for the caller to raise: a posted product cannot be taken back, only waited
        for, and it is short. The loop's back edges, where CPython delivers a signal, are
        inside the `try`. Should an exception still escape (one landing as this method starts
        or returns), the helper keeps the arrays alive (`_Helper.keep`) until it has written
        them, so nothing is written into freed memory."""
        landed = None
        pending = list(self.helpers or ())
        while pending:
            try:
                while pending:
                    if pending[-1].mailbox_empty(spin.POLLS):
                        pending.pop()
                    else:
                        pending[-1].inbox.put(_WAKE)   # asleep without its wake-up (an interrupt in between)?
                        time.sleep(20e-6)
            except BaseException as error:
                landed = landed or error
        return landed


def products_available(address) -> bool:
    """Whether `run_products` can hand products to the helpers without the GIL."""
    return spin.AVAILABLE and address != 0 and get_num_threads() > 1


def run_products(address, ilp64, pieces) -> bool:
    """c = a @ b for each (a, b, c) of `pieces`: the first on the calling thread, each other
    one on a helper, which runs it from compiled code without the GIL (kernels.gemm).

    False (and nothing computed) when the helpers are busy: the caller then computes the
    pieces itself. a, b, c must suit BLAS (kernels.matmul checks that). The pool is taken
    under _helpers_lock, and only if no job is using it and every mailbox is empty, so two
    Python threads never post to one mailbox.
    """
    global _active
    if isinstance(threading.current_thread(), _Helper):
        return False
    job = _Products()
    with single_threaded():
        landed = None
        try:
            with _helpers_lock:   # a `with`: no interrupt can land between taking it and its `try`
                if not _pool_is_free():
                    return False
                helpers = _ensure_helpers(len(pieces) - 1)
                if not all(helper.mailbox_empty() for helper in helpers):
                    return False
                job.helpers = helpers
                _active = job
                for helper, (a, b, c) in zip(helpers, pieces[1:]):
                    helper.post_product(address, ilp64, a, b, c)
            a, b, c = pieces[0]
            np.matmul(a, b, out=c)
        finally:
            landed = job.wait()                    # never leave a helper writing
            if _active is job:
                _active = None
    if landed is not None:
        raise landed
    return True
