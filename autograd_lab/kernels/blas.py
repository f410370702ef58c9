"""numpy's BLAS runs on one thread inside autograd_lab; our worker pool does the splitting.

Why: after a multi-threaded call, OpenBLAS's threads keep spinning for a while
(its THREAD_TIMEOUT, about 0.1 s) before they sleep. On a 2-core machine they
then hold a core that our own workers (kernels.parallel) need. Measured on the
W3 CNN step: 23.5 ms when the linear layers' products ran on 2-thread BLAS,
16.8 ms with BLAS on one thread; the conv kernels alone ran up to 2x slower
right after a multi-threaded product.

So every product autograd_lab computes runs inside `single_threaded()`, and
large ones are split across our pool (kernels.matmul). The count is switched
through the BLAS library's own function (threadpoolctl's `limit` context costs
~11 µs, which adds up over the ~20 products of a step).

The user's own numpy code keeps its BLAS threads, but not at once: the count is
restored RESTORE_DELAY after the last of our calls ends, by a short-lived thread,
like OpenBLAS's own threads that wait a while before they sleep. Why: switching
numpy's OpenBLAS from 1 thread back to 2 costs ~17 µs and wakes its worker
thread, which then takes a core from ours (measured on an Intel Xeon, 2 cores,
numpy 2.4.6: 2,000 switches there and back took 17 µs each, and 200 of them
cost OpenBLAS's idle worker 30 ms of CPU). A split product calls the switch
twice. numpy code run within RESTORE_DELAY of one of our calls uses one BLAS
thread.

The count is process-wide, so two Python threads that run our kernels at once
share one switch: the first to enter sets it, the last to leave starts the delay
(a lock and a depth count; never a switch while another of our calls is inside
BLAS). A count the user sets meanwhile (e.g. threadpoolctl) is left as it is. The cost of
the delay: a `threadpoolctl.threadpool_limits` entered within RESTORE_DELAY of one of
our calls reads our 1 as the count to go back to, and sets 1 again when it exits;
`blas.restore_now()` before it avoids that.
"""
from __future__ import annotations

import ctypes
import os
import threading
import time

import numpy as np

_get_threads = None    # () -> int
_set_threads = None    # (int) -> None
_resolved = False
_depth = 0             # our calls inside single_threaded() now, all threads together
_saved = 1             # the count to restore when the last one leaves
_pending = False       # the count is ours (1) and _saved is still to be restored
_restore_at = None     # when to restore _saved (monotonic seconds), once no call is inside
_restorer = None       # the thread that waits for that moment, alive while one is pending
_switch = threading.Lock()

RESTORE_DELAY = 0.02   # seconds without any of our calls before BLAS gets its threads back


def numpy_library():
    """threadpoolctl's controller for the BLAS numpy itself uses, or None.

    Other libraries may load BLAS copies of their own (SciPy ships a second
    OpenBLAS, PyTorch MKL): numpy's wheels keep theirs inside the numpy install
    (numpy.libs, numpy/.dylibs), so that one is preferred; failing that, the first found.
    """
    try:
        from threadpoolctl import ThreadpoolController
        libraries = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    except Exception:       # no threadpoolctl, or it cannot inspect this process
        return None
    numpy_dir = os.path.dirname(os.path.abspath(np.__file__))
    ours = [lib for lib in libraries if os.path.abspath(lib.filepath).startswith(numpy_dir)]
    return (ours or libraries or [None])[0]


def _resolve():
    """Find the BLAS numpy loaded and its get/set thread-count functions."""
    global _get_threads, _set_threads, _resolved
    _resolved = True
    lib = numpy_library()
    if lib is None:          # leave BLAS alone
        return
    if lib.internal_api == "openblas":
        try:     # the library's own functions, with whatever prefix/suffix this build uses
            get, put = lib._get_symbol("openblas_get_num_threads"), lib._get_symbol("openblas_set_num_threads")
        except Exception:
            get = put = None
        if get is not None and put is not None:
            get.restype, put.argtypes = ctypes.c_int, [ctypes.c_int]
            _get_threads, _set_threads = get, put
            return
    # Other libraries (MKL, BLIS, Accelerate): threadpoolctl's slower, general path.
    _get_threads, _set_threads = lib.get_num_threads, lib.set_num_threads


class single_threaded:
    """BLAS on one thread inside a `with` block; nestable, restores the count on exit.

    >>> from autograd_lab.kernels import blas
    >>> with blas.single_threaded():
    ...     blas.num_threads() in (1, None)
    True
    """
    __slots__ = ()

    def __enter__(self):
        use_one_thread()
        return self

    def __exit__(self, *exc):
        restore_threads()
        return False


def use_one_thread():
    """BLAS on one thread until the matching `restore_threads()` (and RESTORE_DELAY after)."""
    global _depth, _saved, _pending
    if not _resolved:
        _resolve()
    with _switch:
        if _depth == 0 and _get_threads is not None:
            current = _get_threads()
            if not (_pending and current == 1):    # else: still ours from the last call, keep _saved
                _saved, _pending = current, current != 1
                if _pending:
                    _set_threads(1)
        _depth += 1


def restore_threads():
    global _depth, _restore_at, _restorer
    with _switch:
        _depth -= 1
        if _depth == 0 and _pending:
            _restore_at = time.monotonic() + RESTORE_DELAY
            if _restorer is None or not _restorer.is_alive():
                restorer = threading.Thread(target=_restore_when_idle, daemon=True,
                                            name="autograd_lab-blas-restore")
                restorer.start()           # started before it is recorded: an interrupt in
                _restorer = restorer       # between leaves None, and the next call starts one


def _restore_when_idle():
    """Give BLAS its count back once RESTORE_DELAY has passed with none of our calls inside.

    One thread for as long as the count is ours: it sleeps through the calls of a training
    loop, rather than ending whenever it wakes during a call and being started again at the
    call's exit (measured: 244 threads for 336 calls, 1.5-4.5 % of a W3 step)."""
    global _restorer, _pending
    while True:
        with _switch:
            if not _pending:                       # given back by restore_now()
                _restorer = None
                return
            left = RESTORE_DELAY if _depth else _restore_at - time.monotonic()
            if left <= 0:
                if _get_threads() == 1:            # else the user has set a count of their own
                    _set_threads(_saved)
                _pending, _restorer = False, None
                return
        time.sleep(left)


def restore_now():
    """Give BLAS its count back at once if none of our calls is running (tests, benchmarks).

    >>> restore_now()
    """
    global _pending
    with _switch:
        if _depth == 0 and _pending:
            if _get_threads() == 1:
                _set_threads(_saved)
            _pending = False


def num_threads():
    """BLAS's current thread count, or None when it cannot be read."""
    if not _resolved:
        _resolve()
    return None if _get_threads is None else int(_get_threads())


def _reset_after_fork():
    # A forked child has only the forking thread: a switch held by another thread would
    # never be released, that thread's calls will never end there, and no restorer runs.
    global _switch, _depth, _pending, _restore_at, _restorer
    _switch = threading.Lock()
    if (_depth or _pending) and _saved != 1 and _set_threads is not None:
        _set_threads(_saved)
    _depth, _pending, _restore_at, _restorer = 0, False, None, None

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
