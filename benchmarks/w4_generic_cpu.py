"""W4's conv layer (forward + both gradients) on a Numba build for a generic CPU, against the
host build: the kernel choice by CPU feature (kernels.simd.vector_kernels_fit).

Each build runs in its own process (Numba reads NUMBA_CPU_NAME when it starts), checks
the layer against the numpy reference, and times medians of 20 after warm-up. The
builds run one after the other, alternating, for `--rounds` rounds, on a shared machine.

    python benchmarks/w4_generic_cpu.py [--rounds 3] [--with-forced-vectors]

--with-forced-vectors also times the vector kernels forced onto the generic build
(what every CPU without FMA ran before the choice by feature).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from common import median_time
import autograd_lab as al
from autograd_lab.kernels import conv as K, simd
if sys.argv[2] == "force":
    K.vector_kernels_fit = lambda: True
rng = np.random.default_rng(0)
x = rng.standard_normal((64, 16, 20, 16)).astype(np.float32)
w = (rng.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
b = np.zeros(32, np.float32)
g = rng.standard_normal((64, 32, 20, 16)).astype(np.float32)
xt, wt, bt = (al.tensor(a, requires_grad=True) for a in (x, w, b))
p = dict(stride=(1, 1), padding=(1, 1), dilation=(1, 1))
y = al.nn.functional.conv2d(xt, wt, bt, padding=1)
y.backward(g)
errors = [float(np.abs(a - r).max() / np.abs(r).max()) for a, r in [
    (y.data, K.conv2d_reference(x, w, b, **p)),
    (xt.grad, K.conv2d_grad_input_reference(g, w, x.shape, **p)),
    (wt.grad, K.conv2d_grad_weight_reference(x, g, w.shape, **p))]]

def layer():
    al.nn.functional.conv2d(xt, wt, bt, padding=1).backward(g)
    xt.grad = wt.grad = bt.grad = None

seconds = median_time(layer, 20, 3)
print(json.dumps({"seconds": seconds, "errors": errors, "vectors": K._vector(np.float32, 32, 16, 16, (1, 1)),
                  "features": sorted(f for f in simd.compiled_cpu_features() if f in ("avx2", "fma"))}))
"""


def run(build, force=False):
    env = dict(os.environ)
    env.pop("NUMBA_CPU_NAME", None)
    env.pop("NUMBA_CPU_FEATURES", None)
    if build == "generic":
        env["NUMBA_CPU_NAME"] = "generic"
    here = os.path.dirname(os.path.abspath(__file__))
    result = subprocess.run([sys.executable, "-c", CHILD, here, "force" if force else "choose"],
                            capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"{build}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-forced-vectors", action="store_true")
    args = parser.parse_args()
    from common import machine
    builds = [("host", False), ("generic", False)] + ([("generic", True)] if args.with_forced_vectors else [])
    seen = {build: [] for build in builds}
    for _ in range(args.rounds):
        for build in builds:
            seen[build].append(run(*build))
    host = statistics.median(r["seconds"] for r in seen[("host", False)])
    print(f"W4 conv layer (forward + input and weight gradients), Numba build for the host CPU and for a "
          f"generic one (NUMBA_CPU_NAME=generic); {machine()}; medians of {args.rounds} processes")
    print("| build | kernels | time | against the host build | largest error / scale |")
    print("|---|---|---|---|---|")
    for (build, force), results in seen.items():
        t = statistics.median(r["seconds"] for r in results)
        kernels = "vector (forced)" if force else ("vector" if results[0]["vectors"] else "im2col + BLAS")
        features = ", ".join(results[0]["features"]) or "no AVX2/FMA"
        print(f"| {build} ({features}) | {kernels} | {t * 1e3:.2f} ms | {t / host:.2f}x "
              f"| {max(max(r['errors']) for r in results):.1e} |")


if __name__ == "__main__":
    main()
