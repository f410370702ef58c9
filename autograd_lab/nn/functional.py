"""Functional neural-network ops: convolution, pooling, linear layers.

Arguments are checked here, so a wrong shape is reported in the caller's terms
(`conv2d: input has 3 channels, weight expects 4`) before any kernel runs.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.errors import ShapeError
from ..core.node import Node
from ..core.random import generator
from ..core.state import module_scope, state
from ..kernels import softmax as KS
from ..ops import functions as fn
from ..ops import primitives as P
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
    """Maximum over each window (stride defaults to the kernel size).

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> al.nn.functional.max_pool2d(x, 2).data[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
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
    """x @ weight.T + bias, with weight (out_features, in_features) as in PyTorch.

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.functional.linear(al.tensor(np.ones((2, 3))), al.tensor(np.ones((4, 3)))).shape
    (2, 4)
    """
    x, weight = as_node(x), as_node(weight)
    if weight.ndim != 2 or x.shape[-1:] != weight.shape[1:]:
        raise ShapeError(f"linear: input {x.shape} does not fit weight {weight.shape} "
                         f"(in_features {weight.shape[-1]})")
    if bias is None:
        return P.linear(x, weight)
    bias = as_node(bias)
    if bias.shape != weight.shape[:1]:
        raise ShapeError(f"linear: bias {bias.shape} does not fit weight {weight.shape} "
                         f"(needs ({weight.shape[0]},))")
    return P.linear(x, weight, bias)


def _scoped(fn):
    """Record a loss's nodes under its own name, so layer drawings show it as one node."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if state.scope is not None and state.scope[2] == "loss":
            return fn(*args, **kwargs)          # called from another loss: one scope
        parent = state.scope
        path = fn.__name__ if parent is None else f"{parent[0]}.{fn.__name__}"
        with module_scope(path, fn.__name__, "loss"):
            return fn(*args, **kwargs)
    return wrapper


def _index_array(target, n_rows, name):
    target = np.asarray(target.data if isinstance(target, Node) else target)
    if target.shape != (n_rows,) or target.dtype.kind not in "iu":
        raise ShapeError(f"{name}: target must be {n_rows} integer class indices, got "
                         f"shape {target.shape} dtype {target.dtype}")
    return target


def _out_of_range(name, target, n_classes):
    return ValueError(f"{name}: class indices must lie in [0, {n_classes}), got "
                      f"{target.min()}..{target.max()}")


def _class_indices(target, n_rows, n_classes, name):
    target = _index_array(target, n_rows, name)
    if n_rows and (target.min() < 0 or target.max() >= n_classes):
        raise _out_of_range(name, target, n_classes)
    return target


def _one_hot(target, n_rows, n_classes, value, dtype, name):
    """Rows of zeros with `value` at each target class, checked in the same compiled pass."""
    target = _index_array(target, n_rows, name)
    try:
        return KS.one_hot(target, n_classes, value, dtype)
    except IndexError:
        raise _out_of_range(name, target, n_classes) from None


@_scoped
def nll_loss(log_probs, target):
    """Mean of -log_probs[i, target[i]] over the batch (target: class indices)."""
    log_probs = as_node(log_probs)
    if log_probs.ndim != 2:
        raise ShapeError(f"nll_loss: needs (batch, classes) log-probabilities, got {log_probs.shape}")
    target = _class_indices(target, log_probs.shape[0], log_probs.shape[1], "nll_loss")
    picked = fn.getitem(log_probs, (np.arange(log_probs.shape[0]), target))
    return -fn.mean(picked)


@_scoped
def cross_entropy(logits, target, label_smoothing=0.0):
    """Softmax cross-entropy from raw scores (batch, classes) and class indices (batch,).

    One op of the engine (`cross_entropy`), with the gradient (softmax - target) / batch.
    Stable for logits of any magnitude (log_softmax subtracts the maximum). `target`
    may also be probabilities of the logits' shape (soft labels, e.g. from mixup).
    With label_smoothing e, the target puts 1-e on the class and e spread evenly.

    >>> import autograd_lab as al, numpy as np
    >>> logits = al.tensor([[2.0, 0.0], [0.0, 1000.0]], requires_grad=True)
    >>> round(al.nn.functional.cross_entropy(logits, np.array([0, 1])).item(), 4)
    0.0635
    >>> round(al.nn.functional.cross_entropy(logits, np.array([[0.5, 0.5], [0.0, 1.0]])).item(), 4)
    0.5635
    """
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    logits = as_node(logits)
    if logits.ndim != 2:
        raise ShapeError(f"cross_entropy: needs (batch, classes) logits, got {logits.shape}")
    n_rows, n_classes = logits.shape
    dtype = logits.dtype if logits.dtype.kind == "f" else state.default_dtype
    raw = target.data if isinstance(target, Node) else target
    if np.ndim(raw) == 2:           # probabilities per class
        q = np.asarray(raw)
        if q.shape != logits.shape or q.dtype.kind != "f":
            raise ShapeError(f"cross_entropy: target probabilities must be floats of the logits' shape "
                             f"{logits.shape}, got shape {q.shape} dtype {q.dtype}")
        q = q.astype(dtype)        # a copy: smoothing below must not change the caller's array
        q *= 1 - label_smoothing
    else:
        q = _one_hot(target, n_rows, n_classes, 1 - label_smoothing, dtype, "cross_entropy")
    if label_smoothing:
        q += label_smoothing / n_classes
    return P.cross_entropy(logits, q)


def _target_like(target, x, name):
    t = as_node(target)
    if t.shape != x.shape:
        raise ShapeError(f"{name}: target has shape {t.shape}, input has shape {x.shape}")
    return t.data.astype(x.dtype, copy=False)


@_scoped
def binary_cross_entropy(z, y, eps=None):
    """The lecture's loss, mean of -[y log z + (1-y) log(1-z)], for probabilities z.

    z is clamped to [eps, 1-eps] (eps 1e-7 for float32, 1e-12 for float64), so z = 0
    or 1 gives a large but finite loss; the gradient is zero where z is clamped.

    >>> import autograd_lab as al
    >>> round(al.nn.functional.binary_cross_entropy(al.tensor([0.9, 0.2]), al.tensor([1.0, 0.0])).item(), 4)
    0.1643
    """
    z = as_node(z)
    y = _target_like(y, z, "binary_cross_entropy")
    if eps is None:
        eps = 1e-7 if z.dtype == np.float32 else 1e-12
    z = fn.clip(z, eps, 1 - eps)
    return -fn.mean(y * fn.log(z) + (1 - y) * fn.log(1 - z))


@_scoped
def binary_cross_entropy_with_logits(logits, y):
    """binary_cross_entropy(sigmoid(logits), y), computed stably for any logit.

    Uses max(x, 0) - x*y + log(1 + exp(-|x|)): no exp of a positive number.

    >>> import autograd_lab as al, numpy as np
    >>> round(al.nn.functional.binary_cross_entropy_with_logits(al.tensor([0.0]), np.array([1.0])).item(), 4)   # log 2
    0.6931
    """
    x = as_node(logits)
    y = _target_like(y, x, "binary_cross_entropy_with_logits")
    return fn.mean(fn.relu(x) - x * y + fn.log(1 + fn.exp(-fn.abs(x))))


@_scoped
def mse_loss(prediction, target):
    """Mean of the squared differences.

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.functional.mse_loss(al.tensor([1.0, 3.0]), np.array([1.0, 1.0])).item()
    2.0
    """
    prediction = as_node(prediction)
    target = _target_like(target, prediction, "mse_loss")
    diff = prediction - target
    return fn.mean(diff * diff)


@_scoped
def hinge_embedding(scores, y, margin=1.0):
    """Max-margin loss of micrograd's demo: mean of relu(margin - y * score), y in {-1, +1}."""
    scores = as_node(scores)
    y = _target_like(y, scores, "hinge_embedding")
    return fn.mean(fn.relu(margin - y * scores))


# ---- layers' functional forms ------------------------------------------------------
def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, negative_slope * x elsewhere."""
    x = as_node(x)
    return fn.where(x.data > 0, x, x * negative_slope)


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only).

    The mask comes from the library generator (al.manual_seed).
    """
    x = as_node(x)
    if not training or p == 0:
        return x
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    keep = (generator().random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x * keep


def batch_norm(x, stats, weight=None, bias=None, training=True, momentum=0.1, eps=1e-5):
    """Normalise each feature (axis 1) by batch statistics (training) or running ones.

    `stats` holds running_mean and running_var (a BatchNorm module); in training
    they are updated in place with `momentum`, with the unbiased batch variance.
    """
    x = as_node(x)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        n = x.size // x.shape[1]
        if n < 2:
            raise ShapeError(f"batch_norm: needs more than one value per feature to train, "
                             f"got input {x.shape}")
        # one op (ops.primitives.batch_norm): it keeps its output and two numbers per channel
        # for the backward pass, not five full-size intermediates
        w = weight if weight is not None else np.ones(x.shape[1], x.dtype)
        b = bias if bias is not None else np.zeros(x.shape[1], x.dtype)
        out = P.batch_norm(x, w, b, eps=eps)
        data = x.data
        new_mean = data.mean(axis=axes)
        new_var = data.var(axis=axes) * n / (n - 1)
        stats.running_mean = ((1 - momentum) * stats.running_mean + momentum * new_mean).astype(
            stats.running_mean.dtype)
        stats.running_var = ((1 - momentum) * stats.running_var + momentum * new_var).astype(
            stats.running_var.dtype)
        return out
    else:
        mean = stats.running_mean.reshape(shape).astype(x.dtype)
        std = np.sqrt(stats.running_var.reshape(shape) + eps).astype(x.dtype)
        out = (x - mean) / std
    if weight is not None:
        out = out * fn.reshape(weight, shape) + fn.reshape(bias, shape)
    return out
