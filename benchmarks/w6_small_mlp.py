"""W6: a 2-16-16-1 MLP on 100 two-dimensional points, one forward + loss + backward.

(a) scalars: one node per number, micrograd's style, with al.Value and with
    micrograd's own Value (the `micrograd` package, from the `bench` extra),
    running the very same Python code;
(b) batched: the same network on arrays, with al.Tensor, hand-written numpy
    and PyTorch (when installed).

    python benchmarks/w6_small_mlp.py [--activation relu|tanh]
"""
from __future__ import annotations

import argparse
import gc
import random

import numpy as np

from common import machine, median_time, row, try_import_torch

import autograd_lab as al

SIZES = (2, 16, 16, 1)
POINTS = 100


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(POINTS, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, 1.0, -1.0)      # XOR-like labels in {-1, 1}
    weights = [(rng.uniform(-1, 1, size=(n_in, n_out)), np.zeros(n_out))
               for n_in, n_out in zip(SIZES[:-1], SIZES[1:])]
    return X, y, weights


# ---- (a) one node per number: the same code for any micrograd-style Value class ----
def scalar_step(V, weights, X, y, activation):
    layers = [([[V(float(w)) for w in col] for col in W.T], [V(float(v)) for v in b])
              for W, b in weights]
    loss = V(0.0)
    for xi, yi in zip(X.tolist(), y.tolist()):
        acts = [V(v) for v in xi]
        for depth, (columns, biases) in enumerate(layers):
            outs = []
            for col, bias in zip(columns, biases):
                z = sum((w * a for w, a in zip(col, acts)), bias)
                if depth < len(layers) - 1:
                    z = z.relu() if activation == "relu" else z.tanh()
                outs.append(z)
            acts = outs
        loss = loss + (1 + -yi * acts[0]).relu()      # max-margin loss, as in micrograd's demo
    loss = loss * (1.0 / POINTS)
    loss.backward()
    return loss.data


# ---- (b) batched ------------------------------------------------------------------------
def tensor_step(weights, X, y, activation):
    params = [(al.tensor(W, requires_grad=True), al.tensor(b, requires_grad=True)) for W, b in weights]
    h = al.tensor(X)
    for depth, (W, b) in enumerate(params):
        h = h @ W + b
        if depth < len(params) - 1:
            h = h.relu() if activation == "relu" else h.tanh()
    loss = (1 - al.tensor(y[:, None]) * h).relu().mean()
    loss.backward()
    return float(loss.data)


def numpy_step(weights, X, y, activation):
    """Forward and backward written by hand: the floor for this batch size."""
    acts, pre = [X], []
    h = X
    for depth, (W, b) in enumerate(weights):
        z = h @ W + b
        pre.append(z)
        h = z if depth == len(weights) - 1 else (np.maximum(z, 0) if activation == "relu" else np.tanh(z))
        acts.append(h)
    margin = 1 - y[:, None] * h
    loss = np.maximum(margin, 0).mean()
    g = (margin > 0) * -y[:, None] / margin.size
    for depth in range(len(weights) - 1, -1, -1):
        W, _ = weights[depth]
        if depth < len(weights) - 1:
            g = g * ((pre[depth] > 0) if activation == "relu" else (1 - acts[depth + 1] ** 2))
        _gW, _gb = acts[depth].T @ g, g.sum(0)
        g = g @ W.T
    return loss


def torch_step(torch, weights, X, y, activation):
    params = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
              for W, b in weights]
    h = torch.tensor(X)
    for depth, (W, b) in enumerate(params):
        h = h @ W + b
        if depth < len(params) - 1:
            h = h.relu() if activation == "relu" else h.tanh()
    loss = (1 - torch.tensor(y[:, None]) * h).relu().mean()
    loss.backward()
    return float(loss.detach())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    X, y, weights = make_data()
    act = args.activation

    try:
        from micrograd.engine import Value as MicrogradValue
    except ImportError:
        MicrogradValue = None
    missing = "not installed (pip install -e '.[bench]')" if MicrogradValue is None else ""
    if act == "tanh" and not hasattr(MicrogradValue, "tanh"):
        MicrogradValue = None      # the micrograd 0.1.0 package has relu but no tanh
        missing = "has no tanh"
    ours_loss = scalar_step(al.Value, weights, X, y, act)
    t_scalar = median_time(lambda: scalar_step(al.Value, weights, X, y, act), args.repeats, 2)
    t_micro = None
    if MicrogradValue is not None:
        ref_loss = scalar_step(MicrogradValue, weights, X, y, act)
        assert abs(ref_loss - ours_loss) < 1e-9, (ref_loss, ours_loss)
        t_micro = median_time(lambda: scalar_step(MicrogradValue, weights, X, y, act), args.repeats, 2)

    # micrograd's closures make reference cycles, so its time depends on the garbage
    # collector; measure both libraries with it off as well, for a fair picture.
    gc.disable()
    try:
        t_scalar_nogc = median_time(lambda: scalar_step(al.Value, weights, X, y, act), args.repeats, 2)
        t_micro_nogc = (median_time(lambda: scalar_step(MicrogradValue, weights, X, y, act),
                                    args.repeats, 2) if MicrogradValue is not None else None)
    finally:
        gc.enable()

    assert abs(tensor_step(weights, X, y, act) - ours_loss) < 1e-9
    t_tensor = median_time(lambda: tensor_step(weights, X, y, act), 100, 10)
    t_numpy = median_time(lambda: numpy_step(weights, X, y, act), 100, 10)
    torch = try_import_torch()
    t_torch = median_time(lambda: torch_step(torch, weights, X, y, act), 100, 10) if torch else None

    print(f"W6 ({act}) on {machine()}")
    print("| workload | autograd_lab | reference | ratio |")
    print("|---|---|---|---|")
    print(row(f"W6 (a) scalar al.Value, {act}", t_scalar, t_micro, "micrograd 0.1.0",
              missing=missing))
    print(row(f"W6 (a) scalar al.Value, {act}, gc off", t_scalar_nogc, t_micro_nogc,
              "micrograd 0.1.0", missing=missing))
    print(row(f"W6 (b) batched al.Tensor, {act}", t_tensor, t_numpy, "numpy by hand"))
    print(row(f"W6 (b) batched al.Tensor, {act}", t_tensor, t_torch, "PyTorch"))
    return t_scalar, t_micro


if __name__ == "__main__":
    random.seed(0)
    main()
