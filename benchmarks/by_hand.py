"""The numpy reference of ../shared/BENCHMARKS.md: networks written by hand with
im2col + matmul, forward and backward typed out, no graph."""
from __future__ import annotations

import numpy as np


def im2col(x, k, pad):
    """(N, C, H, W) -> (N*H*W, C*k*k) for a stride-1 'same' convolution."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))  # N C H W k k
    N, C, H, W = x.shape
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(N * H * W, C * k * k)


def col2im(cols, x_shape, k, pad):
    N, C, H, W = x_shape
    patches = cols.reshape(N, H, W, C, k, k)
    dxp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), cols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + H, j:j + W] += patches[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def conv_forward(x, w, b):
    N, C, H, W = x.shape
    O, k = w.shape[0], w.shape[2]
    cols = im2col(x, k, k // 2)
    y = cols @ w.reshape(O, -1).T + b
    return y.reshape(N, H, W, O).transpose(0, 3, 1, 2), cols


def conv_backward(g, x_shape, w, cols, need_input=True):
    N, O, H, W = g.shape
    g2 = g.transpose(0, 2, 3, 1).reshape(-1, O)
    gw = (g2.T @ cols).reshape(w.shape)
    gb = g2.sum(0)
    gx = col2im(g2 @ w.reshape(O, -1), x_shape, w.shape[2], w.shape[2] // 2) if need_input else None
    return gx, gw, gb


def maxpool2_forward(x):
    N, C, H, W = x.shape
    win = x.reshape(N, C, H // 2, 2, W // 2, 2)
    out = win.max(axis=(3, 5))
    mask = win == out[:, :, :, None, :, None]
    return out, mask


def maxpool2_backward(g, mask):
    N, C, H2, W2 = g.shape
    # ties are rare with random data; every tied element receives the gradient here
    return (mask * g[:, :, :, None, :, None]).reshape(N, C, H2 * 2, W2 * 2)


def softmax_xent(logits, y):
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    loss = -logp[np.arange(len(y)), y].mean()
    g = np.exp(logp)
    g[np.arange(len(y)), y] -= 1
    return loss, g / len(y)


def cnn_step(params, x, y, lr=0.01):
    """W3 with numpy: conv-relu-pool-conv-relu-pool-flatten-linear-relu-linear, SGD."""
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    c1, cols1 = conv_forward(x, w1, b1)
    r1 = np.maximum(c1, 0)
    p1, m1 = maxpool2_forward(r1)
    c2, cols2 = conv_forward(p1, w2, b2)
    r2 = np.maximum(c2, 0)
    p2, m2 = maxpool2_forward(r2)
    f = p2.reshape(len(x), -1)
    h = f @ w3.T + b3
    hr = np.maximum(h, 0)
    logits = hr @ w4.T + b4
    loss, g = softmax_xent(logits, y)
    gw4, gb4 = g.T @ hr, g.sum(0)
    g = (g @ w4) * (h > 0)
    gw3, gb3 = g.T @ f, g.sum(0)
    g = (g @ w3).reshape(p2.shape)
    g = maxpool2_backward(g, m2) * (c2 > 0)
    g, gw2, gb2 = conv_backward(g, p1.shape, w2, cols2)
    g = maxpool2_backward(g, m1) * (c1 > 0)
    _, gw1, gb1 = conv_backward(g, x.shape, w1, cols1, need_input=False)
    for p, gp in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3, gw4, gb4)):
        p -= lr * gp
    return loss


def mlp_step(params, x, y, lr=0.01):
    w1, b1, w2, b2 = params
    h = x @ w1.T + b1
    hr = np.maximum(h, 0)
    logits = hr @ w2.T + b2
    loss, g = softmax_xent(logits, y)
    gw2, gb2 = g.T @ hr, g.sum(0)
    g = (g @ w2) * (h > 0)
    gw1, gb1 = g.T @ x, g.sum(0)
    for p, gp in zip(params, (gw1, gb1, gw2, gb2)):
        p -= lr * gp
    return loss
