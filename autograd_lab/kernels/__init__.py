"""Compute kernels: arrays in, arrays out. They know nothing of the graph.

Each kernel is a plain Python function over numpy arrays, compiled by Numba
(`jit` below) and kept runnable uncompiled with NUMBA_DISABLE_JIT=1. Beside
each one stands a slow numpy reference (`*_reference`) that the tests use as
its oracle.

Compiled code is cached on disk so Numba's compile cost is paid once: in
NUMBA_CACHE_DIR when set, otherwise in a user cache directory
($XDG_CACHE_HOME/autograd_lab/numba or ~/.cache/autograd_lab/numba), so a
read-only installation works too.
"""
from __future__ import annotations

import os


def cache_dir() -> str:
    """Where compiled kernels are cached."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return os.environ["NUMBA_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "autograd_lab", "numba")


# Numba reads NUMBA_CACHE_DIR when it is first imported; set it before that,
# and on numba.config too in case the user imported numba first.
os.environ.setdefault("NUMBA_CACHE_DIR", cache_dir())

import numba  # noqa: E402

from . import memory  # noqa: E402

numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]
memory.configure()


def jit(fn):
    """Compile a kernel with Numba: nopython, cached on disk, releasing the GIL.

    Kernels are serial: parallelism comes from kernels.parallel, which runs
    chunks of a batch on worker threads.
    """
    return numba.njit(cache=True, nogil=True)(fn)


def set_num_threads(n: int) -> None:
    """Threads for autograd_lab's kernels and for numpy's matrix products (BLAS).

    >>> import autograd_lab as al
    >>> al.set_num_threads(2); al.get_num_threads()
    2
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    from . import parallel
    parallel.set_num_threads(n)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    from . import parallel
    return parallel.get_num_threads()
