"""W3: CNN train step on spectrogram batches (64, 1, 40, 32): Conv2d(1,16,3,pad 1) - ReLU -
MaxPool2d(2) - Conv2d(16,32,3,pad 1) - ReLU - MaxPool2d(2) - Flatten - Linear(2560,64) -
ReLU - Linear(64,10); cross-entropy; SGD step. Also forward only, and the conv layers'
GFLOP/s (the step's convolutions timed on their own, forward and backward), also
against W1 (numpy's sgemm) in alternating blocks.

    python benchmarks/w3_cnn_step.py
"""
from __future__ import annotations

import time

import numpy as np

from common import block_median, machine, median_time, row, try_import_torch

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


def conv_layers_work(arrays):
    """The step's convolution work alone, through the engine: forward and backward of both layers."""
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
    return work


def conv_layers_seconds(arrays):
    """Time of the step's convolution work alone, through the engine."""
    return median_time(conv_layers_work(arrays), 20, 3)


def conv_layers_against_w1(arrays, blocks=8, steps=5):
    """(conv layers' GFLOP/s, W1's GFLOP/s): the convolution work and numpy's 1024³ sgemm
    timed in alternating blocks in this process, so that both see the same machine (this
    VM's speed drifts by tens of percent from one minute to the next)."""
    work = conv_layers_work(arrays)
    a = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    sgemm = lambda: a @ a      # noqa: E731
    median_time(work, 3, 3)
    median_time(sgemm, 3, 3)
    conv, w1 = [], []
    def steady(fn):
        # OpenBLAS's idle threads spin for up to ~0.1 s after a product, and a thread that
        # slept wakes slowly (common.median_time): each block first runs its own work that long
        start = time.perf_counter()
        while time.perf_counter() - start < 0.15:
            fn()
        return block_median(fn, steps)
    for _ in range(blocks):
        conv.append(steady(work))
        w1.append(steady(sgemm))
    return STEP_CONV_FLOPS / np.median(conv) / 1e9, 2 * 1024 ** 3 / np.median(w1) / 1e9


def main(repeats=20, w1_blocks=8):
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
    if w1_blocks:
        conv_alt, w1 = conv_layers_against_w1(arrays, w1_blocks)
        print(f"| W3 conv layers, alternating with W1 | {conv_alt:.0f} GFLOP/s | W1 (numpy 1024³) {w1:.0f} GFLOP/s "
              f"| {100 * conv_alt / w1:.0f}% of W1 |")
    return t_ours, t_torch, conv_gflops


if __name__ == "__main__":
    main()
