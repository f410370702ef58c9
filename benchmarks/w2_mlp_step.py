"""W2: MLP train step on a batch of 64 log-mel patches (64, 1280): Linear(1280,128) -
ReLU - Linear(128,10), cross-entropy, SGD step; also forward only.

    python benchmarks/w2_mlp_step.py
"""
from __future__ import annotations

import numpy as np

from common import machine, median_time, row, try_import_torch

import autograd_lab as al
import by_hand
import models


def main(repeats=50):
    torch = try_import_torch()
    arrays = models.init_mlp()
    x, y = models.data((64, 1280))
    params = models.ours_params(arrays)
    xt = al.tensor(x)
    hand = [a.copy() for a in arrays]
    loss_ours = models.ours_step(models.ours_mlp_forward, params, xt, y)
    loss_hand = by_hand.mlp_step(hand, x, y)
    assert abs(loss_ours - loss_hand) < 1e-4, (loss_ours, loss_hand)

    t_ours = median_time(lambda: models.ours_step(models.ours_mlp_forward, params, xt, y), repeats, 5)
    t_hand = median_time(lambda: by_hand.mlp_step(hand, x, y), repeats, 5)

    def fwd():
        with al.no_grad():
            models.ours_mlp_forward(params, xt)
    t_fwd = median_time(fwd, repeats, 5)
    t_torch = t_torch_fwd = None
    if torch is not None:
        model = models.torch_mlp(torch, arrays)
        xtt, ytt = torch.from_numpy(x), torch.from_numpy(y)
        t_torch = median_time(lambda: models.torch_step(torch, model, xtt, ytt), repeats, 5)

        def torch_fwd():
            with torch.no_grad():
                model(xtt)
        t_torch_fwd = median_time(torch_fwd, repeats, 5)
    print(f"W2 on {machine()}")
    print("| workload | autograd_lab | reference | ratio |")
    print("|---|---|---|---|")
    print(row("W2 MLP train step", t_ours, t_torch, "PyTorch"))
    print(row("W2 MLP train step", t_ours, t_hand, "numpy by hand"))
    print(row("W2 MLP forward", t_fwd, t_torch_fwd, "PyTorch"))
    return t_ours, t_torch


if __name__ == "__main__":
    main()
