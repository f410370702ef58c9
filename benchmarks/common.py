"""Shared helpers for the benchmark scripts: thread limits, timing, reporting.

Medians of repeated runs after warm-up, as ../shared/BENCHMARKS.md asks; the
reference runs in the same process, so compare the ratios, not absolute times.
"""
from __future__ import annotations

import os
import platform
import statistics
import time

THREADS = "2"
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, THREADS)


WARMUP_SECONDS = 0.3


def median_time(fn, repeats=20, warmup=3) -> float:
    """Median wall time of fn() in seconds, in the steady state of a training loop.

    Warms up for at least `warmup` calls and WARMUP_SECONDS, whichever is longer.
    Two effects of this shared VM need that long (both measured, both apply to
    every library alike): after a multi-threaded call, OpenBLAS's and PyTorch's
    idle threads keep spinning for up to ~0.1 s and slow whatever runs next
    (2x on a conv kernel); and after the process has been idle, waking a thread
    is slow for the first ~60 ms (a 2-thread matrix product took 300 µs instead
    of 180 µs), until the hypervisor adapts.
    """
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < WARMUP_SECONDS:
        fn()
        done += 1
    return block_median(fn, repeats)


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(int(THREADS))
    return torch


# Imported before autograd_lab, so that autograd_lab's OMP_WAIT_POLICY default
# (passive threads for its kernels) cannot change how PyTorch's threads wait.
_TORCH = _import_torch()


def try_import_torch():
    return _TORCH


# The allocator settings of kernels.memory (process-wide, so opt-in since issue 17), as
# the `autograd-lab` command uses them; BENCH_TUNE_MEMORY=0 measures a plain import.
if os.environ.get("BENCH_TUNE_MEMORY", "1") != "0":
    import autograd_lab as _al
    if hasattr(_al, "tune_memory"):
        _al.tune_memory()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"numpy {numpy.__version__}, {THREADS} threads")


def row(name, ours, reference, ref_name, unit="ms", scale=1e3, missing="not installed") -> str:
    if reference is None:
        return f"| {name} | {ours * scale:.3g} {unit} | {ref_name}: {missing} | |"
    return (f"| {name} | {ours * scale:.3g} {unit} | {ref_name} {reference * scale:.3g} {unit} "
            f"| {ours / reference:.2f}x |")


def block_median(fn, steps=10):
    """Median seconds of `steps` calls of fn, run back to back: one block of an alternating
    comparison. The median, not the mean: the first calls of a block run beside the
    previous contender's threads, which keep spinning for a while after its block."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
