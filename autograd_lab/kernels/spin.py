"""Waiting on another thread for a short while without going to sleep.

Why: on these (virtual) machines a thread that sleeps on a lock takes tens of
µs to wake, and its core, left idle, runs the next piece of work slowly for a
while. Measured on a matrix product split over two threads, 300 µs after the
previous call: 239 µs when the worker slept on a lock, 169 µs when it waited
here (back to back: 156 against 144 µs). OpenMP runtimes and OpenBLAS wait
the same way, spinning for a while before they sleep.

The wait polls one slot of an int64 array with an atomic load (a plain load
may be hoisted out of the loop by the compiler) and calls sched_yield() between
polls, so a thread that needs this core gets it: spinning without yielding
starved the other thread whenever the scheduler put both on one core (2.8 ms
instead of 0.15 ms). It runs compiled and without the GIL; callers fall back to
sleeping on a lock after `spins` polls, or at once where it is unavailable.

A worker's mailbox (`new_box()`, one int64 array per worker thread of
kernels.parallel) counts the jobs posted and finished, says whether the worker
is polling or asleep, and can describe a matrix product in numbers. A worker
that is polling runs such a product right away in `serve`, without going back
to Python: it never waits for the GIL, which the posting thread holds until it
starts its own share (measured: a worker that needed the GIL started its half
of W2's product 16 µs late). Going to sleep is a handshake: the worker says
SLEEPING and then looks for new jobs; the poster counts its job and then looks
at the state, both with sequentially consistent atomics, so at least one of
them sees the other and no job is left with a sleeping worker.
"""
from __future__ import annotations

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .gemm import DESCRIPTION_SLOTS, run_described

# Compiled code is needed (an intrinsic cannot run as Python), and sched_yield is POSIX.
AVAILABLE = not numba.config.DISABLE_JIT and sys.platform != "win32"


def _atomic_load(ordering):
    @intrinsic
    def load(typingctx, array, index):
        """array[index], read with an atomic load of the given ordering."""
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            return builder.load_atomic(builder.gep(data, [args[1]]), ordering, 8)
        return array.dtype(array, index), codegen
    return load


# acquire: what the writer published before its store is visible after this load
_load_acquire, _load_sequential = _atomic_load("acquire"), _atomic_load("seq_cst")


@intrinsic
def _yield_cpu(typingctx):
    """sched_yield(): let another runnable thread have this core."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


def _read_modify_write(operation):
    @intrinsic
    def atomic(typingctx, array, index, value):
        """array[index] (operation)= value, sequentially consistent; returns the old value."""
        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            return builder.atomic_rmw(operation, builder.gep(data, [args[1]]), args[2], "seq_cst")
        return array.dtype(array, index, array.dtype), codegen
    return atomic


_fetch_add, _exchange = _read_modify_write("add"), _read_modify_write("xchg")


@intrinsic
def _store_release(typingctx, array, index, value):
    """array[index] = value, an atomic store that publishes the writes before it."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        builder.store_atomic(args[2], builder.gep(data, [args[1]]), "release", 8)
        return context.get_dummy_value()
    return types.void(array, index, array.dtype), codegen


if numba.config.DISABLE_JIT:
    # Plain Python stand-ins: under the GIL every read and write is already ordered.
    # There is no polling then (AVAILABLE is False), so products are never posted.
    def _load_acquire(array, index):
        return array[index]

    _load_sequential = _load_acquire

    def _fetch_add(array, index, value):
        old = array[index]
        array[index] += value
        return old

    def _exchange(array, index, value):
        old = array[index]
        array[index] = value
        return old

    def _store_release(array, index, value):
        array[index] = value


@numba.njit(cache=True, nogil=True)
def wait_for_change(box, slot, old, spins):
    """Poll box[slot] until it differs from `old` (True) or `spins` polls pass (False)."""
    for _ in range(spins):
        if _load_acquire(box, slot) != old:
            return True
        _yield_cpu()
    return False


# ---- a worker's mailbox ---------------------------------------------------------------
POSTED, FINISHED, STATE, KIND = 0, 1, 2, 3        # slots: job counts, the worker's state, the job's kind
DESCRIPTION = 4                                   # from here: a product's description (kernels.gemm)
POLLING, SLEEPING = 0, 1                          # states
PYTHON_JOB, PRODUCT_JOB = 0, 1                    # kinds


def new_box():
    return np.zeros(DESCRIPTION + DESCRIPTION_SLOTS, np.int64)


def _post(box):
    """Count a posted job (its kind and description already written); the worker's state after."""
    _fetch_add(box, POSTED, 1)
    return _load_sequential(box, STATE)


def _prepare_to_sleep(box, done):
    """Say SLEEPING unless a job beyond `done` is posted; True when the worker may sleep."""
    _exchange(box, STATE, SLEEPING)
    if _load_sequential(box, POSTED) != done:
        _exchange(box, STATE, POLLING)
        return False
    return True


def _posted(box):
    """Jobs posted so far; read with acquire, so the job's kind and description are visible."""
    return _load_acquire(box, POSTED)


def _set_state(box, state):
    _exchange(box, STATE, state)


def _finish(box, done):
    _store_release(box, FINISHED, done)


def _serve(box, done, spins):
    """Poll for jobs; run posted products here; return the count done when a Python job is
    posted, or after `spins` polls with nothing posted."""
    idle = 0
    while idle < spins:
        if _load_acquire(box, POSTED) == done:
            _yield_cpu()
            idle += 1
            continue
        if box[KIND] != PRODUCT_JOB:
            return done
        run_described(box[DESCRIPTION:])
        done += 1
        _store_release(box, FINISHED, done)
        idle = 0
    return done


def _wait_until_finished(box, count):
    """Poll, yielding the core, until the worker has finished `count` jobs (products are short)."""
    while _load_acquire(box, FINISHED) < count:
        _yield_cpu()


post, posted, prepare_to_sleep, set_state, finish, serve, wait_until_finished = (
    numba.njit(cache=True, nogil=True)(f)
    for f in (_post, _posted, _prepare_to_sleep, _set_state, _finish, _serve, _wait_until_finished))
