"""Functional neural-network ops: convolution, pooling, linear layers.

Arguments are checked here, so a wrong shape is reported in the caller's terms
(`conv2d: input has 3 channels, weight expects 4`) before any kernel runs.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core.errors import ShapeError
from ..core.node import Node, Tensor
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


def _same_padding(name, kernel, stride, dilation):
    """padding="same": (before, after) zeros per axis, the extra one after, as in PyTorch."""
    if stride != (1, 1):
        raise ValueError(f"{name}: padding='same' needs stride 1 (the output keeps the input's "
                         f"size only then), got stride {stride}")
    total = [dilation[i] * (kernel[i] - 1) for i in range(2)]
    return tuple((t // 2, t - t // 2) for t in total)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution of x (N, C, H, W) with weight (O, C // groups, KH, KW), plus bias (O,).

    `padding` is an int, a pair, "valid" (0) or "same" (output as large as the input,
    stride 1; an odd total puts the extra zero after the data, as PyTorch does).
    With `groups` g, input and output channels split into g groups convolved
    separately (g = C: depthwise).

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.ones((1, 1, 4, 4), np.float32))
    >>> w = al.tensor(np.ones((2, 1, 3, 3), np.float32), requires_grad=True)
    >>> al.nn.functional.conv2d(x, w, padding=1).shape
    (1, 2, 4, 4)
    >>> al.nn.functional.conv2d(x, al.tensor(np.ones((2, 1, 2, 2))), padding="same").shape
    (1, 2, 4, 4)
    """
    x, weight = as_node(x), as_node(weight)
    stride, dilation = _pair("stride", stride, 1), _pair("dilation", dilation, 1)
    if x.ndim != 4 or weight.ndim != 4:
        raise ShapeError(f"conv2d: needs input (N, C, H, W) and weight (O, C, KH, KW), got shapes "
                         f"{x.shape} and {weight.shape}")
    groups = int(groups)
    if groups < 1 or x.shape[1] % groups or weight.shape[0] % groups:
        raise ShapeError(f"conv2d: groups={groups} must divide the input's {x.shape[1]} and the "
                         f"weight's {weight.shape[0]} channels")
    if x.shape[1] != weight.shape[1] * groups:
        raise ShapeError(f"conv2d: input {x.shape} has {x.shape[1]} channels, weight {weight.shape} "
                         f"expects {weight.shape[1] * groups}"
                         + (f" ({weight.shape[1]} per group x {groups} groups)" if groups > 1 else ""))
    trim = None
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            sides = _same_padding("conv2d", weight.shape[2:], stride, dilation)
            # symmetric padding of the larger side, then drop the extra leading row/column:
            # the same result as padding (before, after) without a padding op
            padding = tuple(after for _, after in sides)
            trim = tuple(after - before for before, after in sides)
        else:
            raise ValueError(f"conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    padding = _pair("padding", padding, 0)
    for i, axis in enumerate(("height", "width")):
        span = dilation[i] * (weight.shape[2 + i] - 1) + 1
        if x.shape[2 + i] + 2 * padding[i] < span:
            raise ShapeError(f"conv2d: input {axis} {x.shape[2 + i]} (+{2 * padding[i]} padding) is "
                             f"smaller than the kernel's span {span}")
    if bias is not None:
        bias = as_node(bias)
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"conv2d: bias has shape {bias.shape}, expected ({weight.shape[0]},)")
    params = {"stride": stride, "padding": padding, "dilation": dilation}
    if groups == 1:
        out = S.conv2d(x, weight, **params) if bias is None else S.conv2d(x, weight, bias, **params)
    else:      # composite: one convolution per group, joined along the channels
        cin, cout = x.shape[1] // groups, weight.shape[0] // groups
        parts = []
        for k in range(groups):
            xs = fn.getitem(x, (slice(None), slice(k * cin, (k + 1) * cin)))
            ws = fn.getitem(weight, slice(k * cout, (k + 1) * cout))
            inputs = (xs, ws) if bias is None else (xs, ws, fn.getitem(bias, slice(k * cout, (k + 1) * cout)))
            parts.append(S.conv2d(*inputs, **params))
        out = fn.concatenate(parts, axis=1)
    if trim is not None and any(trim):
        out = fn.getitem(out, (slice(None), slice(None), slice(trim[0], None), slice(trim[1], None)))
    return out


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of x (N, C, L) with weight (O, C // groups, K): conv2d over a height of 1.

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.ones((2, 3, 10)))
    >>> al.nn.functional.conv1d(x, al.tensor(np.ones((4, 3, 5))), padding="same").shape
    (2, 4, 10)
    """
    x, weight = as_node(x), as_node(weight)
    if x.ndim != 3 or weight.ndim != 3:
        raise ShapeError(f"conv1d: needs input (N, C, L) and weight (O, C, K), got shapes "
                         f"{x.shape} and {weight.shape}")
    pad = padding if isinstance(padding, str) else (0, int(_single(padding)))
    out = conv2d(fn.reshape(x, (x.shape[0], x.shape[1], 1, x.shape[2])),
                 fn.reshape(weight, weight.shape[:2] + (1, weight.shape[2])), bias,
                 stride=(1, int(_single(stride))), padding=pad, dilation=(1, int(_single(dilation))),
                 groups=groups)
    return fn.reshape(out, (out.shape[0], out.shape[1], out.shape[3]))


def _single(value):
    """An int, or a 1-tuple of one (PyTorch's conv1d accepts both)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"conv1d: expected an int or a 1-tuple, got {value!r}")
        return value[0]
    return value


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


def _adaptive_bins(size, n):
    """PyTorch's adaptive windows: [floor(i*size/n), ceil((i+1)*size/n)) for i < n."""
    return [(i * size // n, -(-(i + 1) * size // n)) for i in range(n)]


def _adaptive_pool(name, x, output_size, reduce, pool):
    x = as_node(x)
    if x.ndim not in (3, 4):
        raise ShapeError(f"{name}: needs input (N, C, H, W) or (C, H, W), got shape {x.shape}")
    if x.ndim == 3:
        out = _adaptive_pool(name, fn.reshape(x, (1,) + x.shape), output_size, reduce, pool)
        return fn.reshape(out, out.shape[1:])
    H, W = x.shape[2:]
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(full if s is None else int(s) for s, full in zip(sizes, (H, W)))   # None: keep
    if min(out) < 1:
        raise ValueError(f"{name}: output_size must be positive, got {output_size!r}")
    oh, ow = out
    if H % oh == 0 and W % ow == 0:            # equal windows: one pooling op
        if (oh, ow) == (1, 1):
            return reduce(x, axis=(2, 3), keepdims=True)
        return pool(x, (H // oh, W // ow))
    rows = []                                  # uneven windows (they may overlap): one reduction each
    for h0, h1 in _adaptive_bins(H, oh):
        cells = [reduce(fn.getitem(x, (slice(None), slice(None), slice(h0, h1), slice(w0, w1))),
                        axis=(2, 3), keepdims=True) for w0, w1 in _adaptive_bins(W, ow)]
        rows.append(fn.concatenate(cells, axis=3))
    return fn.concatenate(rows, axis=2)


def adaptive_avg_pool2d(x, output_size):
    """Mean over an output_size grid of windows that covers any input size (PyTorch's bins).

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.arange(5.0).reshape(1, 1, 1, 5))
    >>> al.nn.functional.adaptive_avg_pool2d(x, (1, 2)).data.ravel().tolist()    # [0,1,2] and [2,3,4]
    [1.0, 3.0]
    """
    return _adaptive_pool("adaptive_avg_pool2d", x, output_size, fn.mean, avg_pool2d)


def adaptive_max_pool2d(x, output_size):
    """Maximum over an output_size grid of windows (ties share the gradient, as with max)."""
    return _adaptive_pool("adaptive_max_pool2d", x, output_size, fn.max, max_pool2d)


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


_REDUCTIONS = ("mean", "sum", "none")


def _reduce(name, loss, reduction):
    """PyTorch's `reduction=`: the mean (default), the sum, or the elementwise losses."""
    if reduction == "mean":
        return fn.mean(loss)
    if reduction == "sum":
        return fn.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_order(name, input, target):
    """Class indices passed first and scores second: say so instead of failing on shapes."""
    t = target.data if isinstance(target, Node) else np.asarray(target)
    if input.dtype.kind in "iub" and t.dtype.kind == "f":
        raise ShapeError(f"{name}(input, target): the arguments look swapped: input has integer "
                         f"dtype {input.dtype} shape {input.shape}, target is floating {t.shape}; "
                         f"pass the scores first and the class indices second")


def _classes_last(name, x, target):
    """(N, C, d1, ...) scores and (N, d1, ...) targets as (N*d1*..., C) and (N*d1*...,), as PyTorch
    accepts them (e.g. a class per frame of a spectrogram); (C,) with a 0-d target as one row."""
    raw = target.data if isinstance(target, Node) else np.asarray(target)
    if x.ndim == 1:                     # one unbatched row: a 0-d index or (C,) probabilities
        if raw.dtype.kind == "f":
            return fn.reshape(x, (1, -1)), fn.reshape(as_node(target), (1, -1)), ()
        if raw.ndim != 0:
            raise ShapeError(f"{name}: unbatched scores {x.shape} need one class index (0-d), got "
                             f"target shape {raw.shape}; for a batch pass (batch, classes) scores")
        return fn.reshape(x, (1, -1)), raw.reshape(1), ()
    if x.ndim == 2:
        return x, target, None
    if x.ndim == 0:
        raise ShapeError(f"{name}: needs (batch, classes) scores, got shape {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim)) + (1,)
    rows = fn.reshape(fn.transpose(x, axes), (-1, x.shape[1]))
    if raw.ndim == x.ndim and raw.dtype.kind == "f":       # probabilities (N, C, d1, ...)
        if raw.shape != x.shape:
            raise ShapeError(f"{name}: target probabilities must have the input's shape {x.shape}, "
                             f"got {raw.shape}")
        return rows, fn.reshape(fn.transpose(as_node(target), axes), (-1, x.shape[1])), \
            (x.shape[0],) + x.shape[2:]
    expected = (x.shape[0],) + x.shape[2:]
    if raw.shape != expected:
        raise ShapeError(f"{name}: input {x.shape} needs target class indices of shape {expected}, "
                         f"got {raw.shape}")
    return rows, raw.reshape(-1), expected


def _index_array(target, n_rows, name):
    target = np.asarray(target.data if isinstance(target, Node) else target)
    if target.shape != (n_rows,) or target.dtype.kind not in "iu":
        hint = (" (al.tensor makes floats of a list: give class indices as an int array, e.g. "
                "al.tensor(labels, dtype='int64') or np.array(labels))") if target.dtype.kind == "f" else ""
        raise ShapeError(f"{name}: target must be {n_rows} integer class indices, got "
                         f"shape {target.shape} dtype {target.dtype}{hint}")
    return target


def _out_of_range(name, target, n_classes):
    return ValueError(f"{name}: class indices must lie in [0, {n_classes}), got "
                      f"{target.min()}..{target.max()}")


def _one_hot(target, n_rows, n_classes, value, dtype, name):
    """Rows of zeros with `value` at each target class, checked in the same compiled pass."""
    target = _index_array(target, n_rows, name)
    try:
        return KS.one_hot(target, n_classes, value, dtype)
    except IndexError:
        raise _out_of_range(name, target, n_classes) from None


def _class_weights(name, weight, n_classes, dtype):
    w = np.asarray(weight.data if isinstance(weight, Node) else weight, dtype=dtype)
    if w.shape != (n_classes,):
        raise ShapeError(f"{name}: weight must have one entry per class ({n_classes},), got {w.shape}")
    return w


def _picked_weights(name, target, n_classes, weight, ignore_index, dtype):
    """Per row: the weight of its class (1 without `weight`), 0 where target == ignore_index;
    and the target with ignored rows pointed at class 0 (their weight is 0 anyway)."""
    keep = target != ignore_index
    safe = np.where(keep, target, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= n_classes):
        raise _out_of_range(name, target[keep], n_classes)
    w = np.ones(n_classes, dtype) if weight is None else _class_weights(name, weight, n_classes, dtype)
    return safe, np.where(keep, w[safe], 0).astype(dtype), keep


def _unfold(loss, shape):
    return loss if shape is None else fn.reshape(loss, shape)


@_scoped
def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-input[i, target[i]] from log-probabilities (N, C) or (N, C, d1, ...), reduced.

    As in PyTorch: `weight` rescales each class, and the mean divides by the sum of
    the picked weights; rows whose target is `ignore_index` count for nothing.

    >>> import autograd_lab as al, numpy as np
    >>> logp = al.log_softmax(al.tensor([[0.0, 0.0], [0.0, 0.0]]))
    >>> round(al.nn.functional.nll_loss(logp, np.array([0, -100])).item(), 4)   # log 2, one row
    0.6931
    """
    log_probs = as_node(input)
    _check_order("nll_loss", log_probs, target)
    rows, target, shape = _classes_last("nll_loss", log_probs, target)
    n_rows, n_classes = rows.shape
    target = _index_array(target, n_rows, "nll_loss")
    dtype = rows.dtype if rows.dtype.kind == "f" else state.default_dtype
    safe, w, keep = _picked_weights("nll_loss", target, n_classes, weight, ignore_index, dtype)
    picked = fn.getitem(rows, (np.arange(n_rows), safe))
    losses = -picked if weight is None and keep.all() else -picked * w
    if reduction == "mean":
        with np.errstate(divide="ignore", invalid="ignore"):    # every row ignored: nan, as PyTorch
            return fn.sum(losses) / w.sum(dtype=dtype)
    return _reduce("nll_loss", _unfold(losses, shape), reduction)


@_scoped
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Softmax cross-entropy from raw scores (N, C) and class indices (N,), PyTorch's signature.

    One op of the engine (`cross_entropy`), with the gradient (softmax - target) / batch.
    Stable for logits of any magnitude (log_softmax subtracts the maximum). `target`
    may also be probabilities of the input's shape (soft labels, e.g. from mixup), and
    then takes gradients like any input. Also as in PyTorch: (N, C, d1, ...) scores
    with (N, d1, ...) targets, `weight` per class, `ignore_index` (-100),
    `reduction` ("mean", "sum", "none"), and `label_smoothing` e (1-e on the class,
    e spread evenly).

    >>> import autograd_lab as al, numpy as np
    >>> logits = al.tensor([[2.0, 0.0], [0.0, 1000.0]], requires_grad=True)
    >>> round(al.nn.functional.cross_entropy(logits, np.array([0, 1])).item(), 4)
    0.0635
    >>> round(al.nn.functional.cross_entropy(logits, np.array([[0.5, 0.5], [0.0, 1.0]])).item(), 4)
    0.5635
    """
    if not 0 <= label_smoothing < 1:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1), got {label_smoothing}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    logits = as_node(input)
    _check_order("cross_entropy", logits, target)
    logits, target, shape = _classes_last("cross_entropy", logits, target)
    n_rows, n_classes = logits.shape
    dtype = logits.dtype if logits.dtype.kind == "f" else state.default_dtype
    raw = target.data if isinstance(target, Node) else np.asarray(target)
    e = label_smoothing
    if raw.ndim == 2:                                   # probabilities per class
        if raw.shape != logits.shape or raw.dtype.kind != "f":
            raise ShapeError(f"cross_entropy: target probabilities must be floats of the logits' shape "
                             f"{logits.shape}, got shape {raw.shape} dtype {raw.dtype}")
        q = fn.astype(as_node(target), dtype) if isinstance(target, Node) else raw.astype(dtype)
        if e:
            q = q * (1 - e) + e / n_classes             # a new array: the caller's stays as it was
        if weight is not None:
            q = q * _class_weights("cross_entropy", weight, n_classes, dtype)
        scale = n_rows                                  # the op divides by the rows; so does the mean
    elif weight is None and reduction == "mean" and not (raw == ignore_index).any():
        # the common case: one compiled pass builds the one-hot rows and checks the range
        q = _one_hot(raw, n_rows, n_classes, 1 - e, dtype, "cross_entropy")
        if e:
            q += e / n_classes
        return P.cross_entropy(logits, q)
    else:
        # torch's rule: row i weighs w[y_i] (0 if ignored) on its class and e/C * w[c] on every
        # class c; the mean divides by the sum of the picked weights
        target = _index_array(raw, n_rows, "cross_entropy")
        safe, picked, keep = _picked_weights("cross_entropy", target, n_classes, weight, ignore_index, dtype)
        w = np.ones(n_classes, dtype) if weight is None else _class_weights("cross_entropy", weight,
                                                                          n_classes, dtype)
        q = np.zeros((n_rows, n_classes), dtype)
        q[np.arange(n_rows), safe] = (1 - e) * picked
        if e:
            q += (e / n_classes) * w * keep[:, None]
        scale = picked.sum(dtype=dtype)
    # The cross_entropy op's rule (softmax - q) / batch holds for rows of q that sum to 1;
    # weights, ignored rows and unnormalised soft targets take the composite form instead.
    normalised = weight is None and raw.ndim == 2 and np.allclose(raw.sum(axis=1), 1, rtol=1e-5, atol=1e-6)
    if normalised and reduction == "mean":
        return P.cross_entropy(logits, q)
    per_row = -fn.sum(q * fn.log_softmax(logits, axis=1), axis=1)
    if reduction == "none":
        return _unfold(per_row, shape)
    if reduction == "sum":
        return fn.sum(per_row)
    with np.errstate(divide="ignore", invalid="ignore"):    # every row ignored: nan, as PyTorch
        return fn.sum(per_row) / np.asarray(scale, dtype)


def _target_like(target, x, name):
    """The target as a node of x's dtype and shape: it takes gradients like any input."""
    t = as_node(target)
    if t.shape != x.shape:
        raise ShapeError(f"{name}: target has shape {t.shape}, input has shape {x.shape}")
    return t if t.dtype == x.dtype else fn.astype(t, x.dtype)


def _elementwise_weight(name, weight, x):
    if weight is None:
        return None
    w = as_node(weight)
    try:
        np.broadcast_shapes(w.shape, x.shape)
    except ValueError:
        raise ShapeError(f"{name}: weight {w.shape} does not broadcast to the input {x.shape}") from None
    return w


def _float_input(input):
    x = as_node(input)
    if x.dtype.kind != "f":
        x = fn.astype(x, state.default_dtype)
    return x


@_scoped
def binary_cross_entropy(input, target, weight=None, reduction="mean", eps=None):
    """The lecture's loss, -[y log z + (1-y) log(1-z)] for probabilities z, reduced (mean).

    z is clamped to [eps, 1-eps] (eps 1e-7 for float32, 1e-12 for float64), so z = 0
    or 1 gives a large but finite loss; the gradient is zero where z is clamped.
    `weight` rescales each element (broadcast), as in PyTorch.

    >>> import autograd_lab as al
    >>> round(al.nn.functional.binary_cross_entropy(al.tensor([0.9, 0.2]), al.tensor([1.0, 0.0])).item(), 4)
    0.1643
    """
    z = _float_input(input)
    y = _target_like(target, z, "binary_cross_entropy")
    if eps is None:
        eps = 1e-7 if z.dtype == np.float32 else 1e-12
    z = fn.clip(z, eps, 1 - eps)
    loss = -(y * fn.log(z) + (1 - y) * fn.log(1 - z))
    w = _elementwise_weight("binary_cross_entropy", weight, loss)
    return _reduce("binary_cross_entropy", loss if w is None else loss * w, reduction)


def _log_sigmoid(x):
    """log(sigmoid(x)) = log_softmax([x, 0])[0]: exact and finite for any x, smooth everywhere.

    (The textbook max(x, 0) - x*y + log(1 + exp(-|x|)) is a sum of two kinks whose one-sided
    derivatives cancel; taken term by term at x = 0 they give 0 instead of sigmoid(0) - y.)
    """
    pair = fn.stack([x, Tensor._lift(np.zeros(x.shape, x.dtype), x)], axis=-1)
    return fn.getitem(fn.log_softmax(pair, axis=-1), (Ellipsis, 0))


@_scoped
def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(x), y) from logits x, exact for any logit.

    Written as (1 - y) x - (1 + (p - 1) y) log sigmoid(x) (p = pos_weight, 1 by default),
    with log sigmoid(x) from a two-class log_softmax: no overflow, and the gradient is
    sigmoid(x) - y everywhere, at x = 0 too.

    >>> import autograd_lab as al, numpy as np
    >>> round(al.nn.functional.binary_cross_entropy_with_logits(al.tensor([0.0]), np.array([1.0])).item(), 4)   # log 2
    0.6931
    """
    x = _float_input(input)
    y = _target_like(target, x, "binary_cross_entropy_with_logits")
    log_p = _log_sigmoid(x)
    if pos_weight is None:
        loss = (1 - y) * x - log_p
    else:
        p = _elementwise_weight("binary_cross_entropy_with_logits", pos_weight, x)
        loss = (1 - y) * x - (1 + (p - 1) * y) * log_p
    w = _elementwise_weight("binary_cross_entropy_with_logits", weight, loss)
    return _reduce("binary_cross_entropy_with_logits", loss if w is None else loss * w, reduction)


@_scoped
def mse_loss(input, target, reduction="mean"):
    """Squared differences, reduced (mean by default). Both sides take gradients.

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.functional.mse_loss(al.tensor([1.0, 3.0]), np.array([1.0, 1.0])).item()
    2.0
    """
    x = _float_input(input)
    diff = x - _target_like(target, x, "mse_loss")
    return _reduce("mse_loss", diff * diff, reduction)


@_scoped
def l1_loss(input, target, reduction="mean"):
    """Absolute differences, reduced (mean by default); |x|'(0) = 0 as in PyTorch.

    >>> import autograd_lab as al, numpy as np
    >>> al.nn.functional.l1_loss(al.tensor([1.0, 3.0]), np.array([2.0, 1.0])).item()
    1.5
    """
    x = _float_input(input)
    return _reduce("l1_loss", fn.abs(x - _target_like(target, x, "l1_loss")), reduction)


@_scoped
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target)."""
    x = _float_input(input)
    d = x - _target_like(target, x, "smooth_l1_loss")
    a = fn.abs(d)
    if beta == 0:
        return _reduce("smooth_l1_loss", a, reduction)
    return _reduce("smooth_l1_loss", fn.where(a.data < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)


@_scoped
def hinge_embedding(scores, y, margin=1.0):
    """Max-margin loss of micrograd's demo: mean of relu(margin - y * score), y in {-1, +1}."""
    scores = _float_input(scores)
    y = _target_like(y, scores, "hinge_embedding")
    return fn.mean(fn.relu(margin - y * scores))


# ---- layers' functional forms ------------------------------------------------------
def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, negative_slope * x elsewhere."""
    x = as_node(x)
    return fn.where(x.data > 0, x, x * negative_slope)


def _pad_index(n, before, after, mode):
    """Indices into an axis of length n that give it `before` and `after` extra entries."""
    i = np.arange(-before, n + after)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)                      # reflect: mirror at the edges, edges not repeated
    i = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(i >= n, period - i, i)


def pad(x, pad, mode="constant", value=0.0):
    """Pad (or crop, with negative sizes) the last dims, PyTorch's convention: `pad` is
    (left, right) for the last dim, then (top, bottom) for the one before, and so on.
    Modes "constant" (with `value`), "reflect", "replicate", "circular". Composite:
    concatenation with constants, or a gather of indices, so gradients of any order flow.

    >>> import autograd_lab as al
    >>> x = al.tensor([[1.0, 2.0, 3.0]])
    >>> al.nn.functional.pad(x, (1, 2)).data.tolist()
    [[0.0, 1.0, 2.0, 3.0, 0.0, 0.0]]
    >>> al.nn.functional.pad(x, (2, 1), mode="reflect").data.tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    """
    x = as_node(x)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: needs (before, after) pairs for at most {x.ndim} dims, got {pad}")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be constant, reflect, replicate or circular, got {mode!r}")
    for k in range(len(pad) // 2):
        axis = x.ndim - 1 - k
        before, after = pad[2 * k], pad[2 * k + 1]
        n = x.shape[axis]
        lead = (slice(None),) * axis
        if before < 0 or after < 0:          # negative padding crops
            x = fn.getitem(x, lead + (slice(max(-before, 0), n - max(-after, 0)),))
            before, after, n = max(before, 0), max(after, 0), x.shape[axis]
        if before == 0 and after == 0:
            continue
        if mode == "constant":
            parts = []
            for size in (before, after):
                shape = x.shape[:axis] + (size,) + x.shape[axis + 1:]
                parts.append(Tensor._lift(np.full(shape, value, x.dtype), x))
            x = fn.concatenate([parts[0], x, parts[1]], axis=axis)
        else:
            if mode == "reflect" and (before >= n or after >= n):
                raise ValueError(f"pad: reflect padding ({before}, {after}) must be smaller than "
                                 f"the dim {axis} of size {n}")
            x = fn.getitem(x, lead + (_pad_index(n, before, after, mode),))
    return x


def _dim(dim, axis, default, name):
    """PyTorch's `dim=` or numpy's `axis=` (one of them; they mean the same)."""
    if dim is not None and axis is not None and dim != axis:
        raise ValueError(f"{name}: dim={dim} and axis={axis} disagree; give one of them")
    return default if dim is None and axis is None else (dim if dim is not None else axis)


def relu(x):
    return fn.relu(x)


def sigmoid(x):
    return fn.sigmoid(x)


def tanh(x):
    return fn.tanh(x)


def softmax(x, dim=None, axis=None):
    """softmax along `dim` (default the last)."""
    return fn.softmax(x, axis=_dim(dim, axis, -1, "softmax"))


def log_softmax(x, dim=None, axis=None):
    """log_softmax along `dim` (default the last)."""
    return fn.log_softmax(x, axis=_dim(dim, axis, -1, "log_softmax"))


def softplus(x):
    """log(1 + exp(x)) = -log sigmoid(-x), finite and smooth for any x.

    >>> import autograd_lab as al
    >>> F = al.nn.functional
    >>> float(F.softplus(al.tensor(1000.0)).data), round(float(F.softplus(al.tensor(0.0)).data), 4)
    (1000.0, 0.6931)
    """
    return -_log_sigmoid(-_float_input(x))


def logsigmoid(x):
    """log(sigmoid(x)), finite for any x."""
    return _log_sigmoid(_float_input(x))


def silu(x):
    """x * sigmoid(x)."""
    x = as_node(x)
    return x * fn.sigmoid(x)


def elu(x, alpha=1.0):
    """x where x > 0, alpha (exp(x) - 1) elsewhere."""
    x = as_node(x)
    return fn.where(x.data > 0, x, alpha * (fn.exp(fn.minimum(x, 0.0)) - 1))


def gelu(x, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF; approximate="tanh" uses PyTorch's tanh formula.

    >>> import autograd_lab as al
    >>> x = al.tensor([-1.0, 0.0, 1.0], dtype="float64")
    >>> al.nn.functional.gelu(x, approximate="tanh").data.round(4).tolist()
    [-0.1588, 0.0, 0.8412]
    """
    x = _float_input(x)
    if approximate == "tanh":
        inner = np.sqrt(2 / np.pi).astype(x.dtype) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + fn.tanh(inner))
    if approximate != "none":
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1 + fn.erf(x * np.asarray(1 / np.sqrt(2), x.dtype)))


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise each sample over its last len(normalized_shape) dims (biased variance), then
    scale by weight and shift by bias, as PyTorch's layer_norm. Composite."""
    x = _float_input(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.shape[x.ndim - len(shape):] != shape:
        raise ShapeError(f"layer_norm: input {x.shape} does not end in normalized_shape {shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - fn.mean(x, axis=axes, keepdims=True)
    var = fn.mean(centered * centered, axis=axes, keepdims=True)
    out = centered / fn.sqrt(var + eps)
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def embedding(indices, weight, padding_idx=None):
    """Rows of `weight` picked by integer `indices` (any shape): result indices.shape + (dim,).

    Repeated indices add up their gradients; the padding_idx row gets none (PyTorch).
    """
    weight = as_node(weight)
    idx = np.asarray(indices.data if isinstance(indices, Node) else indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"embedding: indices must lie in [0, {n}), got {idx.min()}..{idx.max()}")
    out = fn.getitem(weight, idx)
    if padding_idx is not None:
        out = out * (idx != padding_idx)[..., None].astype(weight.dtype)
    return out


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


def one_hot(tensor, num_classes=-1):
    """Class indices (int) as one-hot rows, int64, one more axis at the end (no gradient)."""
    indices = np.asarray(tensor.data if isinstance(tensor, Node) else tensor)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: needs integer class indices, got dtype {indices.dtype}")
    n = int(indices.max()) + 1 if num_classes == -1 else int(num_classes)
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"one_hot: class values must be in [0, {n}), got {indices.min()}..{indices.max()}")
    return Tensor((indices[..., None] == np.arange(n)).astype(np.int64))


def batch_norm(input, running_mean=None, running_var=None, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Normalise each feature (axis 1) by batch statistics (training) or running ones: PyTorch's
    `F.batch_norm`, same signature and defaults.

    `running_mean` / `running_var` are arrays or Tensors of shape (C,). In training they are
    updated in place, `(1 - momentum) * running + momentum * batch`, with the unbiased batch
    variance (as torch), and may be None (no running statistics kept). Outside training they
    are required: they are what the input is normalised with.

    >>> import autograd_lab as al, numpy as np
    >>> rm, rv = np.zeros(2), np.ones(2)
    >>> x = al.tensor([[1.0, 10.0], [3.0, 30.0]])
    >>> al.nn.functional.batch_norm(x, rm, rv, training=True).data.round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> rm, rv
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    x = as_node(input)
    if _holds_running_stats(running_mean):
        raise TypeError(
            "batch_norm: pass the running statistics as arrays, as PyTorch does: "
            "F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training, "
            "momentum, eps)")
    if x.ndim < 2:
        raise ShapeError(f"batch_norm: needs input (N, C, ...), got shape {x.shape}")
    stats = [_stat_array("running_mean", running_mean, x), _stat_array("running_var", running_var, x)]
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
        running_mean, running_var = stats
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * x.data.mean(axis=axes)
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * x.data.var(axis=axes) * (n / (n - 1))
        return out
    if stats[0] is None or stats[1] is None:
        raise ValueError("batch_norm: running_mean and running_var are required when not "
                         "training (training=False is the default, as in PyTorch)")
    mean = stats[0].reshape(shape).astype(x.dtype)
    std = np.sqrt(stats[1].reshape(shape).astype(x.dtype) + eps)
    out = (x - mean) / std
    if weight is not None:
        out = out * fn.reshape(weight, shape)
    if bias is not None:
        out = out + fn.reshape(bias, shape)
    return out


def _holds_running_stats(obj) -> bool:
    """A BatchNorm module (or any holder of running_mean) where an array belongs."""
    return hasattr(obj, "running_mean") and not isinstance(obj, (np.ndarray, Node))


def _stat_array(name, stat, x):
    """The ndarray behind a running statistic (updated in place), checked against x's channels."""
    if stat is None:
        return None
    array = stat.data if isinstance(stat, Node) else stat
    if not isinstance(array, np.ndarray):
        raise TypeError(f"batch_norm: {name} must be an ndarray or a Tensor (updated in place), "
                        f"got {type(stat).__name__}")
    if array.shape != (x.shape[1],):
        raise ShapeError(f"batch_norm: {name} has shape {array.shape}, input {x.shape} has "
                         f"{x.shape[1]} channels in axis 1")
    return array
