"""W4: one conv layer, forward + backward (input and weight gradients):
input (64, 16, 20, 16), Conv2d(16, 32, 3, padding 1). Ours, numpy by hand and PyTorch in
alternating blocks of 5 calls (each after 0.15 s of its own work), medians.

    python benchmarks/w4_conv_layer.py
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from common import block_median, machine, row, try_import_torch

import autograd_lab as al
import by_hand

FLOPS = 3 * 2 * 64 * 32 * 20 * 16 * 16 * 9      # forward, input gradient, weight gradient


def alternating(contenders, repeats, steps=5):
    """Median seconds per call of each contender, in alternating blocks of `steps` calls (the
    machine's speed drifts from one minute to the next: each block sees the same one)."""
    times = {name: [] for name in contenders}
    for _ in range(max(1, repeats // steps)):
        for name, fn in contenders.items():
            # first 0.15 s of its own work, untimed: BLAS's and PyTorch's idle threads spin for
            # up to ~0.1 s after a call and slow whatever runs next (common.median_time)
            start = time.perf_counter()
            while time.perf_counter() - start < 0.15:
                fn()
            times[name].append(block_median(fn, steps))
    return {name: statistics.median(t) for name, t in times.items()}


def main(repeats=30):
    torch = try_import_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 16, 20, 16)).astype(np.float32)
    w = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
    b = np.zeros(32, np.float32)
    g = np.ones((64, 32, 20, 16), np.float32)
    xt, wt, bt = (al.tensor(a, requires_grad=True) for a in (x, w, b))

    def ours():
        al.nn.functional.conv2d(xt, wt, bt, padding=1).backward(g)
        xt.grad = wt.grad = bt.grad = None

    def hand():
        y, cols = by_hand.conv_forward(x, w, b)
        by_hand.conv_backward(g, x.shape, w, cols)

    contenders = {"ours": ours, "hand": hand}
    if torch is not None:
        conv = torch.nn.Conv2d(16, 32, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.zero_()
        xtt, gt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g)

        def tor():
            conv(xtt).backward(gt)
            xtt.grad = None
            conv.zero_grad(set_to_none=True)
        contenders["torch"] = tor
    times = alternating(contenders, repeats)
    t_ours, t_hand, t_torch = times["ours"], times["hand"], times.get("torch")
    print(f"W4 on {machine()}")
    print("| workload | autograd_lab | reference | ratio |")
    print("|---|---|---|---|")
    print(row("W4 conv fwd+bwd", t_ours, t_torch, "PyTorch"))
    print(row("W4 conv fwd+bwd", t_ours, t_hand, "numpy by hand"))
    extra = f", PyTorch {FLOPS / t_torch / 1e9:.0f} GFLOP/s" if t_torch else ""
    print(f"| W4 throughput | {FLOPS / t_ours / 1e9:.0f} GFLOP/s{extra} | | |")
    return t_ours, t_torch


if __name__ == "__main__":
    main()
