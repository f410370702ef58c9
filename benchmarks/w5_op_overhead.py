"""W5: per-op overhead. A chain of 1,000 elementwise ops on a 1-element tensor
with gradients, forward + backward; reported in microseconds per op.

    python benchmarks/w5_op_overhead.py
"""
from __future__ import annotations

import numpy as np

from common import machine, median_time, row, try_import_torch

import autograd_lab as al

CHAIN = 1000


def chain(x):
    # Alternate cheap elementwise ops so no single op's cost dominates.
    y = x
    for i in range(CHAIN // 4):
        y = y * 1.0001
        y = y + 0.001
        y = y.tanh()
        y = y - 0.0001
    return y


def ours():
    x = al.tensor(np.array([0.5], np.float32), requires_grad=True)
    chain(x).sum().backward()


def torch_version(torch):
    def run():
        x = torch.tensor([0.5], requires_grad=True)
        chain(x).sum().backward()
    return run


def main():
    torch = try_import_torch()
    t_ours = median_time(ours, repeats=30)
    t_torch = median_time(torch_version(torch), repeats=30) if torch else None
    print(f"W5 on {machine()}")
    print("| workload | autograd_lab | reference | ratio |")
    print("|---|---|---|---|")
    print(row("W5 fwd+bwd per op (1-element tensor)", t_ours / CHAIN,
              t_torch / CHAIN if t_torch else None, "PyTorch", unit="µs", scale=1e6))
    return t_ours / CHAIN


if __name__ == "__main__":
    main()
