"""Keep freed memory in the process for reuse instead of returning it to the OS.

By default glibc hands every block above a dynamic threshold (128 kB up to
32 MB) back to the kernel when it is freed, so the next allocation of that size
faults in fresh zeroed pages. A training step frees and reallocates tens of
megabytes of activations and gradients: on the W3 CNN step we measured 6,700
page faults per step, and the step took 50 ms; with the settings below, 25.6 ms.

`configure()` raises the mmap threshold to its maximum (32 MB) and the trim
threshold to 1 GB, through glibc's mallopt. The cost: the process keeps up to
its peak heap size after a burst of allocations (as a cache would).

These settings are process-wide (every library's allocations follow them), so
they are opt-in: `al.tune_memory()` applies them, and so does the
`autograd-lab` command line, which owns its process; importing autograd_lab
does not. Nothing happens on C libraries other than glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024      # glibc refuses larger values on 64-bit
TRIM_THRESHOLD = 1024 * 1024 * 1024

configured = False


def configure() -> bool:
    """Apply the allocator settings once (process-wide); True if they are in force.

    >>> import autograd_lab as al
    >>> al.tune_memory() in (True, False)       # False on a C library other than glibc
    True
    """
    global configured
    if configured:
        return configured
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version        # glibc only
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    configured = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return configured
