"""W1: the sgemm ceiling of this CPU: numpy `a @ b` (OpenBLAS) in GFLOP/s.

    python benchmarks/w1_sgemm.py
"""
from __future__ import annotations

import numpy as np

from common import machine, median_time, try_import_torch


def gflops(n, seconds):
    return 2 * n ** 3 / seconds / 1e9


def main():
    torch = try_import_torch()
    print(f"W1 on {machine()}")
    print("| size | numpy GFLOP/s | PyTorch GFLOP/s |")
    print("|---|---|---|")
    best = 0.0
    for n in (512, 1024):
        a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
        t_np = median_time(lambda: a @ a, 20, 3)
        best = max(best, gflops(n, t_np))
        t_torch = None
        if torch is not None:
            at = torch.from_numpy(a)
            t_torch = median_time(lambda: at @ at, 20, 3)
        torch_text = f"{gflops(n, t_torch):.0f}" if t_torch else "not installed"
        print(f"| {n}³ | {gflops(n, t_np):.0f} | {torch_text} |")
    return best


if __name__ == "__main__":
    main()
