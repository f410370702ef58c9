"""Waiting a short while for another thread without going to sleep, then sleeping.

Why: on these (virtual) machines a thread that sleeps on a lock or a queue takes
tens to hundreds of µs to wake, and a core left idle runs the next piece of work
slowly for a while. Measured on W2 (an MLP step with two matrix products split
over two threads, Intel Xeon, 2 cores): when the pool's threads slept between
calls, the step took 1.45 ms on 2 threads, slower than on one (1.28 ms).
OpenMP runtimes and OpenBLAS wait the same way: spin for a while, then sleep.

These waits only ever *shorten* a wait that kernels.parallel would otherwise do
on a queue or a lock: they poll for at most `polls` rounds and return, and the
caller then blocks on the queue or the lock, which stays the truth. So a missed
change costs time, never correctness, and no compiled wait lacks a way out (a
KeyboardInterrupt lands when the poll returns, a few ms at most).

A poll reads the cell with an atomic load (a plain load may be hoisted out of the
loop by the compiler) and calls sched_yield() between polls, so that a thread
that needs this core gets it: spinning without yielding starved the other thread
whenever the scheduler put both on one core. The loops run compiled, without the GIL.
"""
from __future__ import annotations

import sys

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .gemm import DESCRIPTION_SLOTS, describe, run_described

# Compiled code is needed (an intrinsic cannot run as Python), and sched_yield is POSIX.
AVAILABLE = not numba.config.DISABLE_JIT and sys.platform != "win32"

# How long a wait polls before it gives up and sleeps: at most POLLS rounds and at most
# POLL_CYCLES of the CPU's cycle counter (~2 ms at 2.5 GHz). A round is one sched_yield:
# ~0.3-1 µs when nothing else wants the core, but up to a scheduler time slice (~4 ms
# measured) when another runnable thread shares it, so rounds alone are no bound on time.
POLLS = 10_000
POLL_CYCLES = 5_000_000


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index], read with an atomic acquire load (never hoisted out of a loop)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), "acquire", signature.args[0].dtype.bitwidth // 8)
    return array.dtype(array, index), codegen


@intrinsic
def _yield_cpu(typingctx):
    """sched_yield(): let another runnable thread have this core."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


@intrinsic
def _cycles(typingctx):
    """The CPU's cycle counter (llvm.readcyclecounter; 0 where the CPU has none)."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen


@numba.njit(cache=True, nogil=True)
def _out_of_time(start, rounds, polls):
    """True once `rounds` reach `polls` or POLL_CYCLES have passed since `start`."""
    if rounds >= polls:
        return True
    elapsed = _cycles() - start
    return elapsed < 0 or elapsed > POLL_CYCLES    # (< 0: the counter moved to another CPU's)


@numba.njit(cache=True, nogil=True)
def _wait_until_all_set(flags, polls):
    start, rounds = _cycles(), 0
    while True:
        done = True
        for i in range(flags.shape[0]):
            if _load_acquire(flags, i) == 0:
                done = False
                break
        if done:
            return True
        if _out_of_time(start, rounds, polls):
            return False
        _yield_cpu()
        rounds += 1


def wait_until_all_set(flags, polls=POLLS):
    """Poll a uint8 array until every flag is non-zero: True, or False when the poll's time is up
    (or at once where polling is unavailable)."""
    return AVAILABLE and _wait_until_all_set(flags, polls)


# ---- a worker's mailbox: matrix products handed over without the GIL ---------------------------
# One int64 array per worker thread of kernels.parallel. The queue of Python jobs stays
# the way to run anything else and the way to wake a sleeping worker; the mailbox only
# carries products (kernels.gemm describes them in numbers), which a polling worker runs
# at once from compiled code. Going to sleep is a handshake: the worker says SLEEPING
# and then looks for new products; the poster counts its product and then looks at the
# state, both with sequentially consistent atomics, so at least one of them sees the
# other, and a worker that sleeps is sent a wake-up through its queue.
POSTED, FINISHED, STATE, PYTHON_JOB = 0, 1, 2, 3   # slots: products posted and done, state, a Python job waits
DESCRIPTION = 4                                    # from here: the posted product (kernels.gemm)
POLLING, SLEEPING = 0, 1


def new_box():
    return np.zeros(DESCRIPTION + DESCRIPTION_SLOTS, np.int64)


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


@numba.njit(cache=True, nogil=True)
def post_product(box, address, ilp64, a, b, c):
    """Describe c = a @ b in the worker's box and count it; the worker's state after (SLEEPING:
    wake it through its queue). a, b, c must stay alive until FINISHED reaches POSTED."""
    describe(box[DESCRIPTION:], address, ilp64, a, b, c)
    _fetch_add(box, POSTED, 1)
    return _fetch_add(box, STATE, 0)


@numba.njit(cache=True, nogil=True)
def serve(box, done, polls):
    """On a worker: run the products posted, until a Python job is flagged or the poll's time
    is up with nothing posted; returns the count of products done."""
    start, rounds = _cycles(), 0
    while True:
        if _load_acquire(box, POSTED) != done:
            run_described(box[DESCRIPTION:])
            done += 1
            _exchange(box, FINISHED, done)
            start, rounds = _cycles(), 0
        elif _load_acquire(box, PYTHON_JOB) != 0 or _out_of_time(start, rounds, polls):
            return done
        else:
            _yield_cpu()
            rounds += 1


@numba.njit(cache=True, nogil=True)
def raise_flag_and_serve(flags, index, box, done, polls):
    """Set flags[index] (a share has ended), then serve(). Set here, without the GIL, the flag
    lets the thread polling for it take the GIL at once; set from Python, it sent that thread
    to sleep on the GIL until this one let go of it."""
    _exchange(flags, index, 1)
    return serve(box, done, polls)


@numba.njit(cache=True, nogil=True)
def prepare_to_sleep(box, done):
    """Say SLEEPING unless a product beyond `done` is posted; True when the worker may sleep."""
    _exchange(box, STATE, SLEEPING)
    if _fetch_add(box, POSTED, 0) != done:
        _exchange(box, STATE, POLLING)
        return False
    return True


@numba.njit(cache=True, nogil=True)
def set_slot(box, slot, value):
    _exchange(box, slot, value)


@numba.njit(cache=True, nogil=True)
def wait_finished(box, number, polls):
    """Poll until the worker has finished its product `number` (counted from 1): True, or
    False when the poll's time is up."""
    start, rounds = _cycles(), 0
    while _load_acquire(box, FINISHED) < number:
        if _out_of_time(start, rounds, polls):
            return False
        _yield_cpu()
        rounds += 1
    return True
