"""Functional neural-network ops: convolution, pooling, linear layers.

Arguments are checked here, so a wrong shape is reported in the caller's terms
(`conv2d: input has 3 channels, weight expects 4`) before any kernel runs.
"""
from __future__ import annotations

import numpy as np

from ..core.errors import ShapeError
from ..core.node import Node
from ..ops import functions as fn
from ..ops import spatial as S
from ..ops.functions import as_node


def _pair(name, value, minimum):
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < minimum:
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return pair


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution of x (N, C, H, W) with weight (O, C, KH, KW), plus bias (O,).

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.ones((1, 1, 4, 4), np.float32))
    >>> w = al.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    >>> al.nn.functional.conv2d(x, w, padding=1).shape
    (1, 2, 4, 4)
    """
    x, weight = as_node(x), as_node(weight)
    stride, padding, dilation = (_pair("stride", stride, 1), _pair("padding", padding, 0),
                                 _pair("dilation", dilation, 1))
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError(f"conv2d: needs input (N, C, H, W) and weight (O, C, KH, KW), got shapes "
                         f"{x.shape} and {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ShapeError(f"conv2d: input {x.shape} has {x.shape[1]} channels, weight {weight.shape} "
                         f"expects {weight.shape[1]}")
    for i, axis in enumerate(("height", "width")):
        span = dilation[i] * (weight.shape[2 + i] - 1) + 1
        if x.shape[2 + i] + 2 * padding[i] < span:
            raise ShapeError(f"conv2d: input {axis} {x.shape[2 + i]} (+{2 * padding[i]} padding) is "
                             f"smaller than the kernel's span {span}")
    if bias is None:
        return S.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    bias = as_node(bias)
    if bias.shape != (weight.shape[0],):
        raise ShapeError(f"conv2d: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    return S.conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)


def _pool_args(name, x, kernel_size, stride, padding):
    x = as_node(x)
    kernel = _pair("kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    if x.ndim != 4:
        raise ShapeError(f"{name}: needs input (N, C, H, W), got shape {x.shape}")
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{name}: padding {padding} must be at most half the kernel {kernel}")
    if x.shape[2] + 2 * padding[0] < kernel[0] or x.shape[3] + 2 * padding[1] < kernel[1]:
        raise ShapeError(f"{name}: input {x.shape} is smaller than the kernel {kernel}")
    return x, {"kernel": kernel, "stride": stride, "padding": padding}


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Maximum over each window (stride defaults to the kernel size)."""
    x, params = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return S.max_pool2d(x, **params)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Mean over each window; padding counts as zeros in the mean."""
    x, params = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return S.avg_pool2d(x, **params)


def global_avg_pool2d(x):
    """Mean over height and width: (N, C, H, W) -> (N, C)."""
    x = as_node(x)
    if x.ndim != 4:
        raise ShapeError(f"global_avg_pool2d: needs input (N, C, H, W), got shape {x.shape}")
    return fn.mean(x, axis=(2, 3))


def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight (out_features, in_features) as in PyTorch."""
    x, weight = as_node(x), as_node(weight)
    if weight.ndim != 2 or x.shape[-1:] != weight.shape[1:]:
        raise ShapeError(f"linear: input {x.shape} does not fit weight {weight.shape} "
                         f"(in_features {weight.shape[-1]})")
    out = fn.matmul(x, fn.transpose(weight))
    return out if bias is None else out + bias


def _class_indices(target, n_rows, n_classes, name):
    target = np.asarray(target.data if isinstance(target, Node) else target)
    if target.shape != (n_rows,) or target.dtype.kind not in "iu":
        raise ShapeError(f"{name}: target must be {n_rows} integer class indices, got "
                         f"shape {target.shape} dtype {target.dtype}")
    if n_rows and (target.min() < 0 or target.max() >= n_classes):
        raise ValueError(f"{name}: class indices must lie in [0, {n_classes}), got "
                         f"{target.min()}..{target.max()}")
    return target


def nll_loss(log_probs, target):
    """Mean of -log_probs[i, target[i]] over the batch (target: class indices)."""
    log_probs = as_node(log_probs)
    if log_probs.ndim != 2:
        raise ShapeError(f"nll_loss: needs (batch, classes) log-probabilities, got {log_probs.shape}")
    target = _class_indices(target, log_probs.shape[0], log_probs.shape[1], "nll_loss")
    picked = fn.getitem(log_probs, (np.arange(log_probs.shape[0]), target))
    return -fn.mean(picked)


def cross_entropy(logits, target):
    """Softmax cross-entropy from raw scores (batch, classes) and class indices (batch,).

    Stable for logits of any magnitude (log_softmax subtracts the maximum).

    >>> import autograd_lab as al, numpy as np
    >>> logits = al.tensor([[2.0, 0.0], [0.0, 1000.0]], requires_grad=True)
    >>> round(al.nn.functional.cross_entropy(logits, np.array([0, 1])).item(), 4)
    0.0635
    """
    return nll_loss(fn.log_softmax(as_node(logits), axis=-1), target)
