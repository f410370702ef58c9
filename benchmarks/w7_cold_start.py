"""W7: cold start. A fresh process imports the library and completes one W3 train
step: with the Numba cache warm, and with it empty. Also the peak memory of a
100-step W3 training run (maximum resident set size), next to PyTorch's.

    python benchmarks/w7_cold_start.py
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from common import machine, try_import_torch

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "w3_train_run.py")


def fresh_process(args, env=None):
    """Wall time of a fresh Python process, and its maximum resident set size in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([sys.executable, RUN] + args, check=True, env=env, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak, before) / 1024


def main(repeats=5):
    torch = try_import_torch()
    env = dict(os.environ)
    fresh_process(["--steps", "1"], env)                     # make sure the cache is warm
    warm = statistics.median(fresh_process(["--steps", "1"], env)[0] for _ in range(repeats))
    cold = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as empty:
            cold.append(fresh_process(["--steps", "1"], dict(env, AUTOGRAD_LAB_CACHE_DIR=empty))[0])
    print(f"W7 on {machine()}")
    print("| workload | autograd_lab | reference |")
    print("|---|---|---|")
    torch_start = None
    if torch is not None:
        torch_start = statistics.median(fresh_process(["--steps", "1", "--torch"], env)[0]
                                        for _ in range(repeats))
    ref = f"PyTorch {torch_start:.2f} s" if torch_start else "PyTorch: not installed"
    print(f"| W7 import + first W3 step, Numba cache warm | {warm:.2f} s | {ref} |")
    print(f"| W7 import + first W3 step, Numba cache empty | {statistics.median(cold):.2f} s | |")
    # Peak memory: each run in its own process, so ru_maxrss is that run's alone.
    peak_ours = _peak(["--steps", "100"], env)
    peak_torch = _peak(["--steps", "100", "--torch"], env) if torch is not None else None
    ref = f"PyTorch {peak_torch:.0f} MB" if peak_torch else "PyTorch: not installed"
    print(f"| W3 training run, 100 steps: peak resident memory | {peak_ours:.0f} MB | {ref} |")
    return warm


def _peak(args, env):
    code = ("import resource, subprocess, sys; subprocess.run([sys.executable] + sys.argv[1:], "
            "check=True, stdout=subprocess.DEVNULL); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, RUN] + args, env=env, check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip()) / 1024


if __name__ == "__main__":
    main()
