"""W2 and W3 train steps against PyTorch in alternating blocks, in one process: the ratio
that the thread runtime (kernels.parallel) must keep.

Ten steps of ours, ten of PyTorch's, and again, for `--blocks` rounds; each block's
median step, then the median over blocks. Alternating blocks keep the ratio fair on
a shared, noisy machine, where absolute times drift from minute to minute.

    python benchmarks/runtime_ab.py [--workload w2 w3] [--blocks 15] [--old CHECKOUT]

`--old CHECKOUT` adds a third contender in the same process: the library of another
checkout (e.g. `git worktree add /tmp/before 203ab72`, the runtime before issue 17),
imported under another name. The three rotate, each block after a short pause, so that
neither runtime's helpers, still polling after their block, land in the next one.

The C allocator keeps freed memory (`al.tune_memory()`, as the `autograd-lab`
command does; benchmarks/common.py); BENCH_TUNE_MEMORY=0 measures a plain import.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import block_median, machine, try_import_torch

import autograd_lab as al
import models

STEPS_PER_BLOCK = 10


SETTLE_SECONDS = 0.05


def import_other_copy(checkout):
    """The autograd_lab package of another checkout, imported as `autograd_lab_old` (a copy in
    a temporary folder: its modules import each other relatively, so the copy runs as it is)."""
    source = Path(checkout) / "autograd_lab"
    if not (source / "__init__.py").is_file():
        raise SystemExit(f"--old {checkout}: no autograd_lab package there")
    folder = Path(tempfile.mkdtemp(prefix="runtime_ab_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copytree(source, folder / "autograd_lab_old", ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("autograd_lab_old")


def _steps(workload, torch, libraries):
    """{name: one train step} for each library (name -> module) and PyTorch."""
    if workload == "w2":
        arrays, shape, forward, torch_model = models.init_mlp(), (64, 1280), models.ours_mlp_forward, models.torch_mlp
    else:
        arrays, shape, forward, torch_model = models.init_cnn(), (64, 1, 40, 32), models.ours_cnn_forward, models.torch_cnn
    x, y = models.data(shape)
    steps = {}
    for name, library in libraries.items():
        params, xt = models.ours_params(arrays, library), library.tensor(x)
        steps[name] = (lambda params=params, xt=xt, F=library.nn.functional:
                       models.ours_step(forward, params, xt, y, lr=1e-4, F=F))
    model, xtt, ytt = torch_model(torch, arrays), torch.from_numpy(x), torch.from_numpy(y)
    steps["PyTorch"] = lambda: models.torch_step(torch, model, xtt, ytt, lr=1e-4)
    return steps


def _quartiles(values):
    values = sorted(values)
    return statistics.median(values), values[len(values) // 4], values[(3 * len(values)) // 4]


def measure(workload, blocks, torch, libraries):
    """{name: median block time} and {name: (median, lower, upper quartile) of its ratio to
    PyTorch}, plus the ratio of the first library to the second when there are two."""
    steps = _steps(workload, torch, libraries)
    settle = SETTLE_SECONDS if len(libraries) > 1 else 0.0
    for _ in range(3):                   # compile, warm caches and thread pools
        for step in steps.values():
            block_median(step, STEPS_PER_BLOCK)
    times = {name: [] for name in steps}
    for _ in range(blocks):
        for name, step in steps.items():
            time.sleep(settle)
            times[name].append(block_median(step, STEPS_PER_BLOCK))
    ratios = {name: _quartiles([a / b for a, b in zip(times[name], times["PyTorch"])]) for name in libraries}
    names = list(libraries)
    if len(names) == 2:
        ratios[f"{names[0]} / {names[1]}"] = _quartiles([a / b for a, b in zip(times[names[0]], times[names[1]])])
    return {name: statistics.median(t) for name, t in times.items()}, ratios


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", nargs="+", default=["w2", "w3"], choices=["w2", "w3"])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--old", metavar="CHECKOUT", help="also time the library of this checkout")
    args = parser.parse_args()
    torch = try_import_torch()
    if torch is None:
        raise SystemExit("runtime_ab.py needs PyTorch: pip install torch==2.13.0 (the bench extra)")
    tuned = (getattr(al.kernels.memory, "configured", None) if hasattr(al, "tune_memory") else "on import")
    print(f"{machine()}; allocator tuned: {tuned}; autograd_lab from {al.__file__}")
    libraries = {"autograd_lab": al}
    if args.old:
        libraries["old checkout"] = import_other_copy(args.old)
        print(f"old checkout: {args.old}")
    print("| workload | " + " | ".join(list(libraries) + ["PyTorch"]) + " | ratio (median of blocks) | quartiles |")
    print("|---|" + "---|" * (len(libraries) + 3))
    for workload in args.workload:
        times, ratios = measure(workload, args.blocks, torch, libraries)
        cells = " | ".join(f"{t * 1e3:.2f} ms" for t in times.values())
        for name, (ratio, low, high) in ratios.items():
            against = name if " / " in name else f"{name} / PyTorch"
            print(f"| {workload.upper()} train step | {cells} | {against}: {ratio:.2f}x | {low:.2f}-{high:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
