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

numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def jit(parallel=False):
    """Compile a kernel with Numba: nopython, cached on disk, optionally parallel (prange)."""
    def wrap(fn):
        return numba.njit(cache=True, parallel=parallel, nogil=True)(fn)
    return wrap


def set_num_threads(n: int) -> None:
    """Threads for the kernels (Numba) and for matrix products (BLAS)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n)


def get_num_threads() -> int:
    return numba.get_num_threads()
