"""Compute kernels: arrays in, arrays out. They know nothing of the graph.

Each kernel is a plain Python function over numpy arrays, compiled by Numba
(`jit` below) and kept runnable uncompiled with NUMBA_DISABLE_JIT=1. Beside
each one stands a slow numpy reference (`*_reference`) that the tests use as
its oracle.

Importing this package changes no process-wide setting: not the environment,
not Numba's configuration, not the C allocator (kernels.memory is opt-in), not
BLAS's thread count outside our own calls.

Compiled code is cached on disk so Numba's compile cost is paid once, in a
directory of our own kernels only (`cache_dir()`): $AUTOGRAD_LAB_KERNEL_CACHE_DIR,
else $AUTOGRAD_LAB_CACHE_DIR/numba, else $XDG_CACHE_HOME/autograd_lab/numba, else
~/.cache/autograd_lab/numba, in a sub-folder named after the package version and a hash of the kernels' sources.
Numba checks each cached function against its own source file only; a kernel
that calls (and so inlines) a kernel of another file would otherwise keep its
stale machine code after that file changed. A new hash starts a fresh folder.
"""
from __future__ import annotations

import functools
import hashlib
import os

import numba


@functools.lru_cache(maxsize=None)
def sources_hash() -> str:
    """A hash of every kernel source file: it names the cache folder."""
    folder = os.path.dirname(os.path.abspath(__file__))
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(folder, name), "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()[:16]


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version("autograd-lab")
    except Exception:           # running from a source tree that was never installed
        return "source"


def cache_dir() -> str:
    """Where our compiled kernels are cached (and only ours: Numba's own setting is left alone).

    >>> from autograd_lab.kernels import cache_dir, sources_hash
    >>> cache_dir().endswith(sources_hash())
    True
    """
    root = os.environ.get("AUTOGRAD_LAB_KERNEL_CACHE_DIR")
    if not root:
        # the kernels need not move with the data caches (a fresh AUTOGRAD_LAB_CACHE_DIR per
        # experiment or test would otherwise recompile every kernel, ~12 s): this variable
        # keeps them in one place
        base = os.environ.get("AUTOGRAD_LAB_CACHE_DIR")
        if not base:
            home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
            base = os.path.join(home, "autograd_lab")
        root = os.path.join(base, "numba")
    return os.path.join(root, f"{_package_version()}-{sources_hash()}")


def _kernel_cache_class():
    """A Numba FunctionCache whose files go to `cache_dir()`, for our kernels only; None when
    this Numba's caching internals differ from what we know (then Numba's default place)."""
    try:
        from numba.core import caching

        class KernelCacheLocator(caching._SourceFileBackedLocatorMixin, caching._CacheLocator):
            def __init__(self, py_func, py_file):
                self._py_file = py_file
                self._lineno = py_func.__code__.co_firstlineno
                self._cache_path = os.path.join(cache_dir(), self.get_suitable_cache_subpath(py_file))

            def get_cache_path(self):
                return self._cache_path

        class KernelCacheImpl(caching.CompileResultCacheImpl):
            # ours first; where it cannot write, Numba's usual places
            _locator_classes = [KernelCacheLocator] + list(caching.CompileResultCacheImpl._locator_classes)

        class KernelCache(caching.FunctionCache):
            _impl_class = KernelCacheImpl

        return KernelCache
    except (ImportError, AttributeError):
        return None


_KernelCache = _kernel_cache_class()


def jit(fn=None, **options):
    """Compile a kernel with Numba: nopython, cached on disk (`cache_dir()`), releasing the GIL.

    Kernels are serial: parallelism comes from kernels.parallel, which runs
    chunks of a batch on worker threads. Extra Numba options (fastmath) pass through.
    """
    if fn is None:
        return functools.partial(jit, **options)
    if numba.config.DISABLE_JIT:
        return numba.njit(nogil=True, **options)(fn)      # the plain function
    if _KernelCache is None:
        return numba.njit(cache=True, nogil=True, **options)(fn)
    dispatcher = numba.njit(nogil=True, **options)(fn)
    dispatcher._cache = _KernelCache(fn)
    return dispatcher


def set_num_threads(n: int) -> None:
    """Threads for autograd_lab's kernels and for numpy's matrix products (BLAS).

    The default is the number of cores this process may use (os.sched_getaffinity),
    capped by the environment variable AUTOGRAD_LAB_NUM_THREADS when it is set.

    >>> import autograd_lab as al
    >>> before = al.get_num_threads()
    >>> al.set_num_threads(2); al.get_num_threads()
    2
    >>> al.set_num_threads(before)
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    from . import parallel
    parallel.set_num_threads(n)
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=n, user_api="blas")


def get_num_threads() -> int:
    """Threads autograd_lab's kernels use (see set_num_threads)."""
    from . import parallel
    return parallel.get_num_threads()
