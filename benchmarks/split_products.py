"""Does splitting matrix products across the worker threads pay inside a train step?

W2's (or W3's) step with products split from `kernels.matmul.SPLIT_MIN_MULTIPLY_ADDS`
and with that threshold raised so that no product of the step is split, alternating
blocks of ten steps in one process, median step per block; then each product size of
W2 alone in a loop, split and on one thread.

    python benchmarks/split_products.py [--workload w2 w3] [--blocks 40] [--threshold N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from common import block_median, machine

import autograd_lab as al
import models
from autograd_lab.kernels import matmul as kernel_matmul

NEVER = 1 << 62


def step_ratio(workload, blocks, threshold):
    forward, arrays, shape = ((models.ours_mlp_forward, models.init_mlp(), (64, 1280)) if workload == "w2"
                              else (models.ours_cnn_forward, models.init_cnn(), (64, 1, 40, 32)))
    params, (x, y) = models.ours_params(arrays), models.data(shape)
    xt = al.tensor(x)

    def block(split_from):
        kernel_matmul.SPLIT_MIN_MULTIPLY_ADDS = split_from
        return block_median(lambda: models.ours_step(forward, params, xt, y, lr=1e-4), 10)

    for _ in range(3):
        block(threshold), block(NEVER)
    pairs = [(block(threshold), block(NEVER)) for _ in range(blocks)]
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(a / b for a, b in pairs))


def product_ratio(shape, threshold, rounds=8):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
    reps = max(3, int(2e8 / (m * k * n)))

    def loop(split_from):
        kernel_matmul.SPLIT_MIN_MULTIPLY_ADDS = split_from
        times = []
        for _ in range(reps):
            start = time.perf_counter()
            kernel_matmul.matmul(a, b)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    loop(1), loop(NEVER)
    pairs = [(loop(1), loop(NEVER)) for _ in range(rounds)]
    return statistics.median(a / b for a, b in pairs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", default=["w2", "w3"], choices=["w2", "w3"])
    parser.add_argument("--blocks", type=int, default=40)
    parser.add_argument("--threshold", type=int, default=1 << 20,
                        help="split products from this many multiply-adds (default: every W2/W3 product)")
    args = parser.parse_args()
    al.tune_memory()
    print(f"{machine()}; {al.get_num_threads()} threads")
    print("| workload | split from threshold | never split | ratio |")
    print("|---|---|---|---|")
    for workload in args.workload:
        split, unsplit, ratio = step_ratio(workload, args.blocks, args.threshold)
        print(f"| {workload.upper()} train step | {split * 1e3:.3f} ms | {unsplit * 1e3:.3f} ms | {ratio:.3f}x |")
    for shape in [(64, 1280, 128), (128, 1280, 256), (256, 1024, 256), (512, 512, 512)]:
        print(f"product {'x'.join(map(str, shape))} alone in a loop: split / one thread "
              f"{product_ratio(shape, args.threshold):.2f}")


if __name__ == "__main__":
    main()
