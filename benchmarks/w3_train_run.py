"""A W3 training run of N steps in a fresh process (for W7 and peak memory).

    python benchmarks/w3_train_run.py [--steps N] [--torch]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    start = time.perf_counter()
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--torch", action="store_true", help="run PyTorch instead of autograd_lab")
    args = parser.parse_args()
    import models
    arrays = models.init_cnn()
    x, y = models.data((64, 1, 40, 32))
    if args.torch:
        import torch
        torch.set_num_threads(2)
        model = models.torch_cnn(torch, arrays)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for _ in range(args.steps):
            models.torch_step(torch, model, xt, yt)
    else:
        import autograd_lab as al
        params = models.ours_params(arrays)
        xt = al.tensor(x)
        for _ in range(args.steps):
            models.ours_step(models.ours_cnn_forward, params, xt, y)
    print(f"{time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()
