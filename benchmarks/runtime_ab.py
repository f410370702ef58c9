"""W2 and W3 train steps against PyTorch in alternating blocks, in one process: the ratio
that the thread runtime (kernels.parallel) must keep.

Ten steps of ours, ten of PyTorch's, and again, for `--blocks` rounds; each block's
median step, then the median over blocks. Alternating blocks keep the ratio fair on
a shared, noisy machine, where absolute times drift from minute to minute.

    python benchmarks/runtime_ab.py [--workload w2 w3] [--blocks 15]

The C allocator keeps freed memory (`al.tune_memory()`, as the `autograd-lab`
command does; benchmarks/common.py); BENCH_TUNE_MEMORY=0 measures a plain import.
"""
from __future__ import annotations

import argparse
import statistics

from common import block_median, machine, try_import_torch

import autograd_lab as al
import models

STEPS_PER_BLOCK = 10


def _steps(workload, torch):
    if workload == "w2":
        arrays, shape, forward, torch_model = models.init_mlp(), (64, 1280), models.ours_mlp_forward, models.torch_mlp
    else:
        arrays, shape, forward, torch_model = models.init_cnn(), (64, 1, 40, 32), models.ours_cnn_forward, models.torch_cnn
    x, y = models.data(shape)
    params, xt = models.ours_params(arrays), al.tensor(x)
    model, xtt, ytt = torch_model(torch, arrays), torch.from_numpy(x), torch.from_numpy(y)
    return (lambda: models.ours_step(forward, params, xt, y, lr=1e-4),
            lambda: models.torch_step(torch, model, xtt, ytt, lr=1e-4))


def measure(workload, blocks, torch):
    """(ours, PyTorch, ratio, lower and upper quartile of the ratio)."""
    ours, theirs = _steps(workload, torch)
    for _ in range(3):                   # compile, warm caches and thread pools
        block_median(ours, STEPS_PER_BLOCK), block_median(theirs, STEPS_PER_BLOCK)
    pairs = [(block_median(ours, STEPS_PER_BLOCK), block_median(theirs, STEPS_PER_BLOCK)) for _ in range(blocks)]
    ratios = sorted(a / b for a, b in pairs)
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(ratios), ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", default=["w2", "w3"], choices=["w2", "w3"])
    parser.add_argument("--blocks", type=int, default=15)
    args = parser.parse_args()
    torch = try_import_torch()
    if torch is None:
        raise SystemExit("runtime_ab.py needs PyTorch: pip install torch==2.13.0 (the bench extra)")
    tuned = (getattr(al.kernels.memory, "configured", None) if hasattr(al, "tune_memory") else "on import")
    print(f"{machine()}; allocator tuned: {tuned}; autograd_lab from {al.__file__}")
    print("| workload | autograd_lab | PyTorch | ratio (median of blocks) | quartiles |")
    print("|---|---|---|---|---|")
    for workload in args.workload:
        ours, theirs, ratio, low, high = measure(workload, args.blocks, torch)
        print(f"| {workload.upper()} train step | {ours * 1e3:.2f} ms | {theirs * 1e3:.2f} ms | {ratio:.2f}x "
              f"| {low:.2f}-{high:.2f} |", flush=True)


if __name__ == "__main__":
    main()
