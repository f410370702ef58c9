"""al.compile against the references, in one process, in alternating blocks of steps.

    W2  MLP train step: compiled, against jax.jit (jax[cpu]) and PyTorch eager
    W3  CNN train step: compiled, against PyTorch eager
    W6  scalar MLP over al.Value (micrograd's code), compiled, against micrograd 0.1.0
    first call of a compiled W3 step (two traces, passes, code generation, kernels),
        in a fresh process, with a warm cache and with empty caches

    python benchmarks/compiled.py [--quick]

Blocks alternate (ten steps of one, ten of the next, ...) so that the load of a
shared machine falls on every contender alike; the medians of the per-step
times are compared.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import THREADS, block_median, machine, try_import_torch

import autograd_lab as al
import models

F = al.nn.functional
HERE = os.path.dirname(os.path.abspath(__file__))


def alternate(contenders: dict, blocks=20, steps=10, warmup=5, settle=0.1) -> dict:
    """Median seconds per call of each contender, timed in alternating blocks, each block
    after `settle` seconds of its own work, untimed: the previous contender's idle threads
    (PyTorch's OpenMP, XLA's pool, our helper) keep spinning for a while after its block
    and slowed the first steps of whoever came next, most of all a contender that splits
    its work across both cores (as w4_conv_layer.py and w3_cnn_step.py do)."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in contenders}
    for _ in range(blocks):
        for name, fn in contenders.items():
            start = time.perf_counter()
            while time.perf_counter() - start < settle:
                fn()
            times[name].append(block_median(fn, steps))
    return {name: statistics.median(t) for name, t in times.items()}


# ---- W2 ------------------------------------------------------------------------------------
def compiled_mlp_step(arrays, lr=0.01):
    params = models.ours_params(arrays)
    opt = al.optim.SGD(params, lr=lr)

    @al.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(models.ours_mlp_forward(params, x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def jax_mlp_step(arrays, lr=0.01):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None

    def loss_fn(p, x, y):
        w1, b1, w2, b2 = p
        h = jax.nn.relu(x @ w1.T + b1)
        logits = h @ w2.T + b2
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(p, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        return [w - lr * g for w, g in zip(p, grads)], loss
    state = {"p": [jnp.asarray(a) for a in arrays]}

    def run(x, y):
        state["p"], loss = step(state["p"], x, y)
        loss.block_until_ready()
        return loss
    return run


def w2(blocks):
    torch = try_import_torch()
    arrays = models.init_mlp()
    x, y = models.data((64, 1280))
    ours = compiled_mlp_step(arrays)
    eager_params = models.ours_params(arrays)
    contenders = {"compiled": lambda: ours(x, y),
                  "eager": lambda: models.ours_step(models.ours_mlp_forward, eager_params, al.tensor(x), y)}
    ours(x, y)
    ours(x, y)
    assert ours.status == "compiled", ours.status
    jax_step = jax_mlp_step(arrays)
    if jax_step is not None:
        import jax.numpy as jnp
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        contenders["jax.jit"] = lambda: jax_step(xj, yj)
    if torch is not None:
        model = models.torch_mlp(torch, arrays)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        contenders["PyTorch"] = lambda: models.torch_step(torch, model, xt, yt)
    return alternate(contenders, blocks)


# ---- W3 ------------------------------------------------------------------------------------
def compiled_cnn_step(arrays, lr=0.01):
    params = models.ours_params(arrays)
    opt = al.optim.SGD(params, lr=lr)

    @al.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(models.ours_cnn_forward(params, x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def w3(blocks):
    torch = try_import_torch()
    arrays = models.init_cnn()
    x, y = models.data((64, 1, 40, 32))
    ours = compiled_cnn_step(arrays)
    ours(x, y)
    ours(x, y)
    assert ours.status == "compiled", ours.status
    eager_params = models.ours_params(arrays)
    contenders = {"compiled": lambda: ours(x, y),
                  "eager": lambda: models.ours_step(models.ours_cnn_forward, eager_params, al.tensor(x), y)}
    if torch is not None:
        model = models.torch_cnn(torch, arrays)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        contenders["PyTorch"] = lambda: models.torch_step(torch, model, xt, yt)
    return alternate(contenders, max(blocks // 2, 3), steps=3, warmup=2)


# ---- W6 ------------------------------------------------------------------------------------
def w6(blocks):
    import w6_small_mlp as W6
    try:
        from micrograd.engine import Value as MicrogradValue
    except ImportError:
        MicrogradValue = None
    X, y, weights = W6.make_data()
    params = [([[al.Value(float(w)) for w in col] for col in W.T], [al.Value(float(v)) for v in b])
              for W, b in weights]
    flat = [p for cols, bs in params for col in cols for p in col] + [p for _, bs in params for p in bs]
    points, labels = X.tolist(), y.tolist()

    @al.compile
    def step():
        for p in flat:
            p.grad = 0.0
        loss = al.Value(0.0)
        for xi, yi in zip(points, labels):
            acts = [al.Value(v) for v in xi]
            for depth, (columns, biases) in enumerate(params):
                outs = []
                for col, bias in zip(columns, biases):
                    z = sum((w * a for w, a in zip(col, acts)), bias)
                    outs.append(z.relu() if depth < len(params) - 1 else z)
                acts = outs
            loss = loss + (1 + -yi * acts[0]).relu()
        loss = loss * (1.0 / len(points))
        loss.backward()
        return loss
    start = time.perf_counter()
    step()
    step()
    first = time.perf_counter() - start
    assert step.status == "compiled", step.status
    want = W6.scalar_step(al.Value, weights, X, y, "relu")
    assert abs(step().data - want) < 1e-9, (step().data, want)
    contenders = {"compiled": step}
    if MicrogradValue is not None:
        contenders["micrograd"] = lambda: W6.scalar_step(MicrogradValue, weights, X, y, "relu")
    result = alternate(contenders, max(blocks // 4, 3), steps=2, warmup=1)
    result["first two calls"] = first
    return result


# ---- first call ----------------------------------------------------------------------------
FIRST_CALL = """
import sys, time
sys.path.insert(0, {here!r})
start = time.perf_counter()
import compiled, models
arrays = models.init_cnn()
x, y = models.data((64, 1, 40, 32))
step = compiled.compiled_cnn_step(arrays)
begin = time.perf_counter()
step(x, y); step(x, y)
assert step.status == "compiled", step.status
print(time.perf_counter() - begin, time.perf_counter() - start)
"""


def first_call():
    """(warm, cold): seconds for the first two calls (both traces + compilation) in a fresh process."""
    code = FIRST_CALL.format(here=HERE)
    env = dict(os.environ)
    results = {}
    with tempfile.TemporaryDirectory() as cold:
        for label, extra in (("cold", {"NUMBA_CACHE_DIR": os.path.join(cold, "numba"),
                                       "AUTOGRAD_LAB_CACHE_DIR": os.path.join(cold, "library"),
                                       "AUTOGRAD_LAB_COMPILER_CACHE": os.path.join(cold, "compiled")}),
                             ("warm", {})):
            if label == "warm":      # make sure the user cache holds this program's kernels
                subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
            out = subprocess.run([sys.executable, "-c", code], env=dict(env, **extra), check=True,
                                 capture_output=True, text=True).stdout.split()
            results[label] = (float(out[0]), float(out[1]))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer blocks")
    parser.add_argument("--only", choices=["w2", "w3", "w6", "first"], action="append")
    parser.add_argument("--threads", type=int, default=int(THREADS),
                        help="threads for everyone (1: a fairer picture on an overloaded machine)")
    args = parser.parse_args(argv)
    if args.threads != int(THREADS):
        os.environ["XLA_FLAGS"] = (f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'} "
                                   f"intra_op_parallelism_threads={args.threads}")
        al.set_num_threads(args.threads)
        torch = try_import_torch()
        if torch is not None:
            torch.set_num_threads(args.threads)
    blocks = 6 if args.quick else 20
    only = args.only or ["w2", "w3", "w6", "first"]
    print(f"al.compile on {machine()} (threads: {args.threads})")
    print("| workload | contender | per step | ratio compiled / contender |")
    print("|---|---|---|---|")
    for name, run in (("W2", w2), ("W3", w3), ("W6 scalar", w6)):
        if name.split()[0].lower() not in only:
            continue
        times = run(blocks)
        ours = times["compiled"]
        for who, t in times.items():
            if who == "first two calls":
                print(f"| {name} | first two calls (traces + compile) | {t:.2f} s | |")
                continue
            ratio = "" if who == "compiled" else f"{ours / t:.2f}x"
            print(f"| {name} | {who} | {t * 1e3:.3g} ms | {ratio} |")
        sys.stdout.flush()
    if "first" in only:
        for label, (calls, total) in first_call().items():
            print(f"| W3 first call, {label} cache | two calls | {calls:.2f} s | process incl. import: {total:.2f} s |")


if __name__ == "__main__":
    main()
