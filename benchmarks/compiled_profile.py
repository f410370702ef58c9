"""Where a compiled W2 or W3 step spends its time, call by call and group by group.

    python benchmarks/compiled_profile.py [w2|w3]

1. Per call: every callee of the generated step function wrapped in a timer, the
   step run in a loop; the median of each call (the wrappers add ~0.3 µs each).
2. Per group: the step with one group of calls replaced by their recorded results
   (no work at all), alternating in blocks with the whole step in one process; the
   difference is what the group costs inside the step, cache effects included.
"""
from __future__ import annotations

import statistics
import sys
import time

from common import block_median

import compiled
import models

# groups of calls by the op they run ("fused" kernels: updates apart from the rest)
GROUPS = {
    "matrix products (linear, matmul)": ("linear", "matmul", "transpose", "reshape", "sum"),
    "convolutions (forward, grad input, grad weight, grad bias)": (
        "conv2d", "conv2d_grad_input", "conv2d_grad_weight", "conv2d_grad_bias", "conv2d_max_pool2d",
        "conv2d_max_pool2d_relu", "conv2d_grad_weight_pooled"),
    "relu, max-pool and their gradients": ("relu", "max_pool2d", "max_pool2d_backward", "fused"),
    "loss (one-hot, cross-entropy)": ("one_hot", "cross_entropy"),
    "optimizer updates": ("update",),
}


def build(which):
    if which == "w2":
        x, y = models.data((64, 1280))
        step = compiled.compiled_mlp_step(models.init_mlp())
    else:
        x, y = models.data((64, 1, 40, 32))
        step = compiled.compiled_cnn_step(models.init_cnn())
    for _ in range(3):
        step(x, y)
    return step, x, y


def callees(entry):
    ns = entry.program.namespace
    return [name for name, obj in ns.items()
            if callable(obj) and name not in ("np", "step") and not name.startswith("_")]


def variant(entry, replace):
    """The generated step with the callees in `replace` swapped for other functions."""
    ns = dict(entry.program.namespace, **replace)
    exec(compile(entry.program.source, "<al.compile step>", "exec"), ns)
    return ns["step"]


def main(which="w2"):
    step, x, y = build(which)
    entry = step._last
    names = callees(entry)
    original = entry.program.run
    steps, blocks = (10, 20) if which == "w2" else (3, 8)

    times = {}

    def timed(name, fn):
        def call(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            times.setdefault(name, []).append(time.perf_counter() - start)
            return result
        return call
    recorded = {}
    entry.program.run = variant(entry, {n: timed(n, entry.program.namespace[n]) for n in names})
    for _ in range(blocks * steps):
        step(x, y)
    print(f"{which.upper()} compiled step, per call (median µs):")
    for n in names:
        print(f"  {n:28s} {1e6 * statistics.median(times[n][steps:]):9.1f}")

    def keep(name, fn):
        def call(*args, **kwargs):
            recorded[name] = fn(*args, **kwargs)
            return recorded[name]
        return call
    entry.program.run = variant(entry, {n: keep(n, entry.program.namespace[n]) for n in names})
    step(x, y)
    updates = {line.split("(")[0].strip() for line in entry.program.source.splitlines()
               if ".reshape(-1)[0]," in line and line.strip().startswith("fused_")}
    variants = {"whole step": original}
    for group, ops in GROUPS.items():
        members = [n for n in names if (n in updates and "update" in ops)
                   or (n not in updates and n.rsplit("_", 1)[0] in ops)]
        if members:
            variants[group] = variant(entry, {n: (lambda r: lambda *a, **k: r)(recorded[n]) for n in members})
    results = {k: [] for k in variants}
    for _ in range(blocks):
        for k, run in variants.items():
            entry.program.run = run
            results[k].append(block_median(lambda: step(x, y), steps))
    entry.program.run = original
    whole = statistics.median(results["whole step"])
    print(f"\n| {which.upper()} compiled step | without the group | the group costs |")
    print("|---|---|---|")
    for k, t in results.items():
        t = statistics.median(t)
        print(f"| {k} | {t * 1e3:.3f} ms | {(whole - t) * 1e3:.3f} ms |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "w2")
