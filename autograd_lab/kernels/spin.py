"""A bounded poll, compiled and without the GIL: wait a short while for a counter to move
before going to sleep on a lock.

Why: on these (virtual) machines a thread that sleeps on a lock takes tens of µs
to wake, and its core, left idle, runs the next piece of work slowly for a while.
OpenMP runtimes and OpenBLAS wait the same way, spinning for a while before they
sleep. The poll is only a hint: kernels.parallel's queues and locks decide what
runs, so a poll that gives up (after `spins` polls) or is unavailable costs time,
never correctness. It reads with an atomic load (a plain load may be hoisted out of
the loop) and calls sched_yield() between polls, so a thread that needs this core
gets it.
"""
from __future__ import annotations

import sys

import numba
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import jit

# Compiled code is needed (an intrinsic cannot run as Python), and sched_yield is POSIX.
AVAILABLE = not numba.config.DISABLE_JIT and sys.platform != "win32"


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index], read with an atomic acquire load."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), "acquire", array.dtype.bitwidth // 8)
    return array.dtype(array, index), codegen


@intrinsic
def _yield_cpu(typingctx):
    """sched_yield(): let another runnable thread have this core."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return types.void(), codegen


def _wait_for_change(counter, old, spins):
    """Poll counter[0] until it differs from `old` (True) or `spins` polls pass (False)."""
    for _ in range(spins):
        if _load_acquire(counter, 0) != old:
            return True
        _yield_cpu()
    return False


wait_for_change = jit(_wait_for_change) if AVAILABLE else None


def _wait_until_all_set(flags, spins):
    """Poll until every flag (uint8) is nonzero (True) or `spins` polls pass (False)."""
    for _ in range(spins):
        done = True
        for i in range(flags.size):
            if _load_acquire(flags, i) == 0:
                done = False
                break
        if done:
            return True
        _yield_cpu()
    return False


wait_until_all_set = jit(_wait_until_all_set) if AVAILABLE else None
