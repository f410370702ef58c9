"""Shared command line of the tutorials: --out DIR (figures) and --quick (a smaller run, for CI)."""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")     # headless: figures go to files


def setup(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=os.path.join("out", "tutorials"), help="folder for the figures")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return args


def saved(path):
    print(f"  wrote {path}")
    return path
