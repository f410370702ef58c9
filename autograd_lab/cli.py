"""The `autograd-lab` command (also `python -m autograd_lab`)."""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def demo(args) -> int:
    """A tour of the engine: micrograd's example, a trained network, a second derivative."""
    import autograd_lab as al

    print("1. micrograd's example on al.Value: L = (a*b + c) * f")
    a, b, c, f = (al.Value(v, label=n) for v, n in ((2.0, "a"), (-3.0, "b"), (10.0, "c"), (-2.0, "f")))
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    L = d * f; L.label = "L"
    L.backward()
    for v in (a, b, c, e, d, f, L):
        print(f"   {v.label}: data {v.data:6.1f}   grad {v.grad:6.1f}")

    print("\n2. a 2-16-16-1 tanh network on tensors, trained by gradient descent on XOR-like points")
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(-1, 1, size=(200, 2)).astype(np.float32)
    y = (X[:, :1] * X[:, 1:] > 0).astype(np.float32)
    sizes = (2, 16, 16, 1)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        params.append(al.tensor(rng.normal(0, 1 / np.sqrt(n_in), (n_in, n_out)), dtype=np.float32,
                                requires_grad=True))
        params.append(al.tensor(np.zeros(n_out), dtype=np.float32, requires_grad=True))
    inputs, targets = al.tensor(X), al.tensor(y)
    for step in range(args.steps + 1):
        h = inputs
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k < len(params) - 2:
                h = h.tanh()
        p = h.sigmoid().clip(1e-7, 1 - 1e-7)
        loss = -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()   # binary cross-entropy
        loss.backward()
        for w in params:
            w.data -= args.lr * w.grad
            w.grad = None
        if step % max(args.steps // 5, 1) == 0:
            accuracy = float(((p.data > 0.5) == (y > 0.5)).mean())
            print(f"   step {step:4d}   loss {loss.item():.4f}   accuracy {accuracy:.3f}")

    print("\n3. the backward pass is a graph too: d2/dx2 tanh(x) at x = 0.5")
    x = al.tensor(0.5, dtype=np.float64, requires_grad=True)
    (dx,) = al.grad(x.tanh(), x, create_graph=True)
    (d2x,) = al.grad(dx, x)
    t = np.tanh(0.5)
    print(f"   engine {float(d2x.data):.10f}   formula -2 tanh(x)(1 - tanh(x)^2) = {-2 * t * (1 - t * t):.10f}")
    print(f"   the gradient's graph has {len(al.topological_order(dx))} nodes")

    import os
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    print(f"\n4. pictures of example 1, in {out}:")
    for path in (al.draw(L).save(os.path.join(out, "forward.svg")),
                 al.draw(L, mode="backward").save(os.path.join(out, "backward.svg")),
                 al.draw(L, mode="backward").save(os.path.join(out, "backward.png")),
                 al.viz.save_backprop_html(L, os.path.join(out, "backprop_steps.html"))):
        print(f"   {path}")
    print("\n5. the chain rule, spelled out by al.explain:")
    for leaf in (a, b, c, f):
        print(f"   {al.explain(L, leaf)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograd-lab", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="run the main demo")
    p.add_argument("--steps", type=int, default=500, help="gradient-descent steps")
    p.add_argument("--lr", type=float, default=0.5, help="learning rate")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("out", "demo"), help="folder for the pictures")
    p.set_defaults(run=demo)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
