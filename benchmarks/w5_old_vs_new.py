"""W5 (per-op overhead) of this checkout against another checkout of autograd_lab, in one process.

    python benchmarks/w5_old_vs_new.py /path/to/other/checkout [--blocks 60]

The other checkout's package is copied under another name (its modules import each
other relatively), then the two run W5's chain (benchmarks/w5_op_overhead.py) in
alternating blocks of five; the ratio is taken per pair of blocks. Used to check that
a change to the engine costs nothing per op.
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import sys
import tempfile

import numpy as np

import autograd_lab as al
from common import block_median
from w5_op_overhead import CHAIN, chain


def load_other(checkout):
    folder = tempfile.mkdtemp(prefix="autograd_lab_other_")
    shutil.copytree(os.path.join(checkout, "autograd_lab"), os.path.join(folder, "autograd_lab_other"))
    sys.path.insert(0, folder)
    return importlib.import_module("autograd_lab_other")


def run(lib):
    def once():
        x = lib.tensor(np.array([0.5], np.float32), requires_grad=True)
        chain(x).sum().backward()
    return once


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="another checkout of the repository (e.g. a git worktree)")
    parser.add_argument("--blocks", type=int, default=60)
    args = parser.parse_args()
    other, ours = run(load_other(args.other)), run(al)
    for _ in range(5):
        block_median(other, 5), block_median(ours, 5)
    pairs = [(block_median(other, 5), block_median(ours, 5)) for _ in range(args.blocks)]
    ratios = sorted(b / a for a, b in pairs)
    q = len(ratios) // 4
    print(f"W5 per op: other {statistics.median(a for a, _ in pairs) / CHAIN * 1e6:.2f} µs, "
          f"this {statistics.median(b for _, b in pairs) / CHAIN * 1e6:.2f} µs, this/other "
          f"{statistics.median(ratios):.3f} (quartiles {ratios[q]:.3f}-{ratios[-q - 1]:.3f})")


if __name__ == "__main__":
    main()
