"""W3: CNN train step on spectrogram batches (64, 1, 40, 32): Conv2d(1,16,3,pad 1) - ReLU -
MaxPool2d(2) - Conv2d(16,32,3,pad 1) - ReLU - MaxPool2d(2) - Flatten - Linear(2560,64) -
ReLU - Linear(64,10); cross-entropy; SGD step. Also forward only, and the conv layers'
GFLOP/s (the step's convolutions timed on their own, forward and backward).

    python benchmarks/w3_cnn_step.py
"""
from __future__ import annotations

import numpy as np

from common import machine, median_time, row, try_import_torch

import autograd_lab as al
import by_hand
import models

F = al.nn.functional
N = 64
# forward FLOPs of the two convolutions; a train step does conv1 forward + weight
# gradient (its input needs none) and conv2 forward + weight and input gradients.
CONV1 = 2 * N * 16 * 40 * 32 * 9
CONV2 = 2 * N * 32 * 20 * 16 * 144
STEP_CONV_FLOPS = 2 * CONV1 + 3 * CONV2


def conv_layers_seconds(arrays):
    """Time of the step's convolution work alone, through the engine."""
    rng = np.random.default_rng(0)
    x1 = al.tensor(rng.standard_normal((N, 1, 40, 32)).astype(np.float32))
    x2 = al.tensor(rng.standard_normal((N, 16, 20, 16)).astype(np.float32), requires_grad=True)
    w1, b1, w2, b2 = (al.tensor(a, requires_grad=True) for a in arrays[:4])
    g1 = np.ones((N, 16, 40, 32), np.float32)
    g2 = np.ones((N, 32, 20, 16), np.float32)

    def work():
        F.conv2d(x1, w1, b1, padding=1).backward(g1)
        F.conv2d(x2, w2, b2, padding=1).backward(g2)
        for t in (w1, b1, w2, b2, x2):
            t.grad = None
    return median_time(work, 20, 3)


def main(repeats=20):
    torch = try_import_torch()
    arrays = models.init_cnn()
    x, y = models.data((N, 1, 40, 32))
    params = models.ours_params(arrays)
    xt = al.tensor(x)
    hand = [a.copy() for a in arrays]
    loss_ours = models.ours_step(models.ours_cnn_forward, params, xt, y)
    loss_hand = by_hand.cnn_step(hand, x, y)
    assert abs(loss_ours - loss_hand) < 1e-3, (loss_ours, loss_hand)

    t_ours = median_time(lambda: models.ours_step(models.ours_cnn_forward, params, xt, y), repeats, 3)
    t_hand = median_time(lambda: by_hand.cnn_step(hand, x, y), repeats, 3)

    def fwd():
        with al.no_grad():
            models.ours_cnn_forward(params, xt)
    t_fwd = median_time(fwd, repeats, 3)
    t_conv = conv_layers_seconds(arrays)

    t_torch = t_torch_fwd = None
    if torch is not None:
        model = models.torch_cnn(torch, arrays)
        xtt, ytt = torch.from_numpy(x), torch.from_numpy(y)
        t_torch = median_time(lambda: models.torch_step(torch, model, xtt, ytt), repeats, 3)

        def torch_fwd():
            with torch.no_grad():
                model(xtt)
        t_torch_fwd = median_time(torch_fwd, repeats, 3)
    print(f"W3 on {machine()}")
    print("| workload | autograd_lab | reference | ratio |")
    print("|---|---|---|---|")
    print(row("W3 CNN train step", t_ours, t_torch, "PyTorch"))
    print(row("W3 CNN train step", t_ours, t_hand, "numpy by hand"))
    print(row("W3 CNN forward", t_fwd, t_torch_fwd, "PyTorch"))
    conv_gflops = STEP_CONV_FLOPS / t_conv / 1e9
    print(f"| W3 conv layers (fwd+bwd, engine) | {t_conv * 1e3:.3g} ms = {conv_gflops:.0f} GFLOP/s | | |")
    return t_ours, t_torch, conv_gflops


if __name__ == "__main__":
    main()
