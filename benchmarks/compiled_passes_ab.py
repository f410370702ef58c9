"""What each of W3's convolution and pooling rewrites is worth: the compiled W3 step with
every pass, against the same step compiled without one of them (or without all),
and PyTorch eager, in one process, in alternating blocks of steps.

    python benchmarks/compiled_passes_ab.py [--blocks 10] [--steps 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys

from common import block_median, machine, try_import_torch

import autograd_lab as al
from autograd_lab.compiler import passes
import compiled
import models

REWRITES = tuple(name for name in ("pool_before_relu", "conv_pool", "pool_grad_weight")
                 if name in dict(passes.PIPELINE))


def step_without(drop, arrays, x, y):
    """A compiled W3 step whose pipeline leaves out the passes named in `drop`."""
    full = passes.PIPELINE
    passes.PIPELINE = tuple(p for p in full if p[0] not in drop)
    try:
        step = compiled.compiled_cnn_step(arrays)
        step(x, y)
        step(x, y)
    finally:
        passes.PIPELINE = full
    assert step.status == "compiled", step.status
    return step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args(argv)
    arrays = models.init_cnn()
    x, y = models.data((64, 1, 40, 32))
    variants = {"all passes": ()}
    variants.update({f"without {name}": (name,) for name in REWRITES})
    variants["without all"] = REWRITES
    contenders = {name: (lambda s=step_without(drop, arrays, x, y): s(x, y)) for name, drop in variants.items()}
    torch = try_import_torch()
    if torch is not None:
        model = models.torch_cnn(torch, arrays)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        contenders["PyTorch"] = lambda: models.torch_step(torch, model, xt, yt)
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(args.blocks):
        for name, fn in contenders.items():
            times[name].append(block_median(fn, args.steps))
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["all passes"]
    print(f"W3 compiled step, passes left out, on {machine()}")
    print("| variant | per step | all passes / variant | / PyTorch |")
    print("|---|---|---|---|")
    for name, t in medians.items():
        versus = f"{t / medians['PyTorch']:.2f}x" if "PyTorch" in medians else ""
        print(f"| {name} | {t * 1e3:.2f} ms | {base / t:.2f}x | {versus} |")
    return medians


if __name__ == "__main__":
    sys.exit(main() and 0)
