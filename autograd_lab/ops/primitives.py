"""The op table: every primitive op of autograd_lab, declared once.

Each entry: name, forward on raw data, then one gradient rule per input,
`rule(g, out, *inputs, **params)`, written with operators and with the ops
themselves (an op called on raw arrays evaluates, on graph nodes records; see
core/op.py), so that a rule runs on arrays, on floats, and on graph nodes
alike. Masks (the derivatives of step functions) come from masks.py. Rules may
return a broadcast-shaped gradient: the engine sums it back to the input's
shape. Everything else (mean, softmax, losses, ...) is composed from these in
functions.py and needs no rule of its own.

A rule may hand raw arrays to a faster compiled kernel (relu, cross_entropy);
its branch for graph nodes then computes the same with ops, and the generated
second-order gradchecks hold the two to each other.
"""
from __future__ import annotations

import builtins
import math
import operator

import numpy as np

from ..core.node import Node
from ..core.op import no_flops, per_input_element, primitive
from ..core.shapes import keepdims_shape, normalize_axis, sum_to
from ..kernels import elementwise as KE
from ..kernels import matmul as KM
from ..kernels import softmax as KS
from ..kernels.pool import scatter_add_flat
from . import masks as M
from . import samples as S


# ---- unary elementwise -----------------------------------------------------
def _stable_sigmoid(x):
    e = np.exp(-np.abs(x))            # exp of a non-positive number never overflows
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _scalar_log(x):
    # like np.log: -inf at 0 and nan below, where math.log raises
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _scalar_sigmoid(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# Elementwise ops work on al.Value too; each is exported as al.<name> (function=True),
# the unary ones also as methods x.exp() (method=True).
neg = primitive("neg", operator.neg,
                lambda g, out, x: -g,
                elementwise=True, sympy=lambda sp, x: -x, symbol="-", function=True,
                samples=S.unary())
exp = primitive("exp", np.exp,
                lambda g, out, x: g * out,
                scalar=math.exp, elementwise=True, sympy=lambda sp, x: sp.exp(x),
                function=True, method=True, samples=S.unary())
log = primitive("log", np.log,
                lambda g, out, x: g / x,
                scalar=_scalar_log, elementwise=True, sympy=lambda sp, x: sp.log(x),
                function=True, method=True, samples=S.unary(0.3, 3.0))
sqrt = primitive("sqrt", np.sqrt,
                 lambda g, out, x: g / (2 * out),
                 scalar=math.sqrt, elementwise=True, sympy=lambda sp, x: sp.sqrt(x),
                 function=True, method=True, samples=S.unary(0.3, 3.0))
tanh = primitive("tanh", np.tanh,
                 lambda g, out, x: g * (1 - out * out),
                 scalar=math.tanh, elementwise=True, sympy=lambda sp, x: sp.tanh(x),
                 function=True, method=True, samples=S.unary())
sin = primitive("sin", np.sin,
                lambda g, out, x: g * cos(x),
                scalar=math.sin, elementwise=True, sympy=lambda sp, x: sp.sin(x),
                function=True, method=True, samples=S.unary())
cos = primitive("cos", np.cos,
                lambda g, out, x: -g * sin(x),
                scalar=math.cos, elementwise=True, sympy=lambda sp, x: sp.cos(x),
                function=True, method=True, samples=S.unary())


def _erf(x):
    from scipy.special import erf as scipy_erf    # imported on first use: scipy.special loads slowly
    return scipy_erf(x)


# erf for the exact GELU, x * (1 + erf(x / sqrt 2)) / 2 (PyTorch's default).
erf = primitive("erf", _erf,
                lambda g, out, x: g * (2 / math.sqrt(math.pi)) * exp(-x * x),
                scalar=math.erf, elementwise=True, sympy=lambda sp, x: sp.erf(x),
                function=True, method=True, samples=S.unary(-3.0, 3.0))
# sigmoid is a primitive rather than 1/(1+exp(-x)): no overflow, and a cheap rule.
sigmoid = primitive("sigmoid", _stable_sigmoid,
                    lambda g, out, x: g * out * (1 - out),
                    scalar=_scalar_sigmoid, elementwise=True,
                    sympy=lambda sp, x: 1 / (1 + sp.exp(-x)),
                    function=True, method=True, samples=S.unary(-4.0, 4.0))


# relu'(0) = 0 and |x|'(0) = 0, as in PyTorch.
def _relu_grad(g, out, x):
    if g.__class__ is np.ndarray and x.__class__ is np.ndarray:
        return KE.relu_backward(g, x)        # one compiled pass, not a compare and a multiply
    return g * M.positive(x)


relu = primitive("relu", KE.relu,
                 _relu_grad,
                 scalar=lambda x: x if x > 0 else 0.0, elementwise=True,
                 sympy=lambda sp, x: sp.Max(0, x),
                 function=True, method=True, samples=S.unary(avoid=(0.0,)))
abs = primitive("abs", np.abs,                                     # noqa: A001
                lambda g, out, x: g * sign(x),
                scalar=lambda x: x if x >= 0 else -x, elementwise=True,
                sympy=lambda sp, x: sp.Abs(x),
                function=True, method=True, samples=S.unary(avoid=(0.0,)))
def _sympy_clip(sp, x, low, high):
    x = x if low is None else sp.Max(x, low)
    return x if high is None else sp.Min(x, high)


# The gradient passes where low <= x <= high, bounds included (PyTorch's clamp).
clip = primitive("clip", lambda x, low, high: np.clip(x, low, high),
                 lambda g, out, x, low, high: g * M.inside(x, low, high),
                 scalar=lambda x, low, high: builtins.min(builtins.max(x, -math.inf if low is None else low),
                                                          math.inf if high is None else high),
                 elementwise=True, sympy=_sympy_clip,
                 samples=S.unary(avoid=(-0.5, 0.5), params={"low": -0.5, "high": 0.5}))

# ---- binary elementwise (numpy broadcasting; the engine undoes it) ----------
add = primitive("add", operator.add,
                lambda g, out, x, y: g,
                lambda g, out, x, y: g,
                elementwise=True, sympy=lambda sp, x, y: x + y, symbol="+", function=True,
                samples=S.binary())
sub = primitive("sub", operator.sub,
                lambda g, out, x, y: g,
                lambda g, out, x, y: -g,
                elementwise=True, sympy=lambda sp, x, y: x - y, symbol="-", function=True,
                samples=S.binary())
mul = primitive("mul", operator.mul,
                lambda g, out, x, y: g * y,
                lambda g, out, x, y: g * x,
                elementwise=True, sympy=lambda sp, x, y: x * y, symbol="*", function=True,
                samples=S.binary())
div = primitive("div", operator.truediv,
                lambda g, out, x, y: g / y,
                lambda g, out, x, y: -g * out / y,
                elementwise=True, sympy=lambda sp, x, y: x / y, symbol="/", function=True,
                samples=S.binary(low2=-2.0, high2=2.0, avoid2=(0.0,)))
# d/dx x**y = y x**(y-1) is 0 where y = 0, also at x = 0, where x**(y-1) is inf and
# y * inf is nan: the exponent steps to y - 1 only where y != 0 (x**0 = 1 there).
# d/dy x**y = x**y log x is 0 at x = 0 (for y > 0), where log x = -inf: log(x + [x = 0]).
# The same limits as PyTorch's masked rules; the masks are constants, so second
# derivatives follow.
def _exponent_less_one(y):
    zero = M.is_zero(y)
    return y - 1 + zero if np.any(zero) else y - 1      # no mask where none is needed


def _log_base(x):
    zero = M.is_zero(x)
    return log(x + zero) if np.any(zero) else log(x)


pow = primitive("pow", np.power,                                   # noqa: A001
                lambda g, out, x, y: g * y * x ** _exponent_less_one(y),
                lambda g, out, x, y: g * out * _log_base(x),
                scalar=math.pow, elementwise=True, sympy=lambda sp, x, y: x ** y, symbol="**",
                function=True, samples=S.binary(0.3, 2.0, -2.0, 2.0))
# Ties share the gradient equally, as in PyTorch.
maximum = primitive("maximum", np.maximum,
                    lambda g, out, x, y: M.share_of_extremum(g, x, y, operator.gt),
                    lambda g, out, x, y: M.share_of_extremum(g, y, x, operator.gt),
                    scalar=max, elementwise=True, sympy=lambda sp, x, y: sp.Max(x, y),
                    function=True, samples=S.binary())
minimum = primitive("minimum", np.minimum,
                    lambda g, out, x, y: M.share_of_extremum(g, x, y, operator.lt),
                    lambda g, out, x, y: M.share_of_extremum(g, y, x, operator.lt),
                    scalar=min, elementwise=True, sympy=lambda sp, x, y: sp.Min(x, y),
                    function=True, samples=S.binary())
where = primitive("where", np.where,
                  None,
                  lambda g, out, cond, x, y: where(cond, g, 0),
                  lambda g, out, cond, x, y: where(cond, 0, g),
                  flops=no_flops, samples=S.where_sample)

# ---- comparisons and sign: results carry no gradient ------------------------
_COMPARISON = dict(differentiable=False, flops=no_flops, function=True)
equal = primitive("equal", operator.eq, symbol="==", **_COMPARISON)
not_equal = primitive("not_equal", operator.ne, symbol="!=", **_COMPARISON)
less = primitive("less", operator.lt, symbol="<", **_COMPARISON)
less_equal = primitive("less_equal", operator.le, symbol="<=", **_COMPARISON)
greater = primitive("greater", operator.gt, symbol=">", **_COMPARISON)
greater_equal = primitive("greater_equal", operator.ge, symbol=">=", **_COMPARISON)
sign = primitive("sign", np.sign, differentiable=False, elementwise=True,
                 scalar=lambda x: float((x > 0) - (x < 0)), sympy=lambda sp, x: sp.sign(x),
                 flops=no_flops, function=True)


# ---- reductions -------------------------------------------------------------
def _extremum_vjp(g, out, x, axis, keepdims):
    """Gradient of max/min: shared equally among the elements that attain it (amax)."""
    shape = keepdims_shape(x.shape, axis)
    hit = astype(equal(x, reshape(out, shape=shape)), dtype=M.dtype_of(x))
    return reshape(g, shape=shape) * hit / sum(hit, axis=axis, keepdims=True)


# Array methods rather than np.sum / np.reshape / np.transpose: numpy's function
# layer costs ~1 µs a call, and a train step's backward pass makes dozens of them.
sum = primitive("sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),  # noqa: A001
                lambda g, out, x, axis, keepdims: broadcast_to(
                    reshape(g, shape=keepdims_shape(x.shape, axis)), shape=x.shape),
                flops=per_input_element, samples=S.reduction)
max = primitive("max", lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims),  # noqa: A001
                _extremum_vjp, flops=per_input_element, samples=S.reduction)
min = primitive("min", lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims),  # noqa: A001
                _extremum_vjp, flops=per_input_element, samples=S.reduction)


# ---- shapes and indexing ----------------------------------------------------
def _inverse_permutation(axes):
    return None if axes is None else tuple(int(i) for i in np.argsort(axes))


def _concatenate_vjp(i):
    def rule(g, out, *xs, axis):
        start = 0
        for x in xs[:i]:
            start += x.shape[axis]
        index = (slice(None),) * axis + (slice(start, start + xs[i].shape[axis]),)
        return getitem(g, index=index)
    return rule


def _scatter_add(g, index, shape):
    """zeros(shape) with `g` added at `index` (repeated indices add up)."""
    if len(shape) == 1 and isinstance(index, np.ndarray) and index.dtype.kind in "iu" \
            and index.ndim == 1:
        return scatter_add_flat(np.asarray(g), index, shape[0])   # compiled loop: np.add.at is slow
    out = np.zeros(shape, dtype=g.dtype)
    if _is_basic_index(index):
        out[index] = g            # distinct positions: plain assignment is exact
    else:
        np.add.at(out, index, g)  # advanced index: repeated positions accumulate
    return out


def _is_basic_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis
               for i in items)


def _cast(g, dtype):
    return g if g.dtype == dtype else astype(g, dtype=dtype)


reshape = primitive("reshape", lambda x, shape: x.reshape(shape),
                    lambda g, out, x, shape: reshape(g, shape=x.shape),
                    flops=no_flops, samples=S.reshape_sample)
transpose = primitive("transpose", lambda x, axes: x.transpose(axes),
                      lambda g, out, x, axes: transpose(g, axes=_inverse_permutation(axes)),
                      flops=no_flops, samples=S.transpose_sample)
broadcast_to = primitive("broadcast_to", lambda x, shape: np.broadcast_to(x, shape),
                         lambda g, out, x, shape: sum_to(g, x.shape),
                         flops=no_flops, samples=S.broadcast_to_sample)
getitem = primitive("getitem", lambda x, index: x[index],
                    lambda g, out, x, index: scatter_add(g, index=index, shape=x.shape),
                    flops=no_flops, samples=S.getitem_sample)
# getitem's transpose: zeros with g added at index (repeated indices accumulate).
scatter_add = primitive("scatter_add", _scatter_add,
                        lambda g, out, x, index, shape: getitem(g, index=index),
                        flops=no_flops, samples=S.scatter_add_sample)


def _index_put(x, value, index):
    """A copy of x with `value` written at `index` (numpy assignment: broadcast, cast to x's dtype)."""
    out = np.array(x, copy=True)
    out[index] = value
    return out


def _untouched(shape, index, dtype):
    """1 where index_put kept x, 0 where it wrote: a constant, so the rule stays linear in g."""
    keep = np.ones(shape, dtype=dtype)
    keep[index] = 0
    return keep


# x with value written at index, out of place: what `t[index] = value` records would be, as
# an op (Tensor.__setitem__ mutates only nodes outside the recorded graph). x's gradient is g
# with the written places zeroed, value's is g at index (summed back over broadcasting).
# Duplicate positions in an advanced index are undefined, as in torch.index_put.
index_put = primitive("index_put", _index_put,
                      lambda g, out, x, value, index: g * _untouched(x.shape, index, g.dtype),
                      lambda g, out, x, value, index: getitem(g, index=index),
                      flops=no_flops, samples=S.index_put_sample)
concatenate = primitive("concatenate", lambda *xs, axis: np.concatenate(xs, axis=axis),
                        variadic_vjp=_concatenate_vjp, flops=no_flops, samples=S.concatenate_sample)
astype = primitive("astype", lambda x, dtype: x.astype(dtype),
                   lambda g, out, x, dtype: _cast(g, M.dtype_of(x)),
                   flops=no_flops, samples=S.astype_sample)

# ---- linear algebra -----------------------------------------------------------
def _swap_last(x):
    """Swap the last two axes (the matrix transpose of a batch of matrices)."""
    n = len(x.shape)
    return transpose(x, axes=tuple(range(n - 2)) + (n - 1, n - 2))


# Inputs have ndim >= 2 (functions.matmul lifts vectors); batch dims broadcast.
matmul = primitive("matmul", KM.matmul,
                   lambda g, out, a, b: matmul(g, _swap_last(b)),
                   lambda g, out, a, b: matmul(_swap_last(a), g),
                   flops=lambda out, a, b: 2 * math.prod(out) * a[-1],      # multiply-add = 2
                   symbol="@", samples=S.matmul_sample)


# linear is one op, not transpose + matmul + add: fewer nodes to record and walk,
# and its weight gradient g.T @ x comes out in the weight's own (row-major)
# layout, where (x.T @ g).T is a transposed view that made the optimizer's
# update a strided pass (measured: 350 µs against 50 µs for W2's first layer).
def _linear_forward(x, w, b=None):
    out = KM.matmul(x.reshape(-1, x.shape[-1]), w.T)
    if b is not None:
        if out.dtype == np.result_type(out, b):
            out += b
        else:
            out = out + b
    return out.reshape(x.shape[:-1] + (w.shape[0],))


def _rows(a, width):
    """a as a 2-D array of rows of `width` (batch dimensions flattened)."""
    if len(a.shape) == 2:
        return a
    return reshape(a, shape=(int(np.prod(a.shape[:-1], dtype=np.int64)), width))


def _linear_grad_input(g, out, x, w, b=None):
    gx = matmul(_rows(g, w.shape[0]), w)
    return gx if len(x.shape) == 2 else reshape(gx, shape=x.shape)


# x @ w.T + b for x (..., in), w (out, in), b (out,).
linear = primitive(
    "linear", _linear_forward,
    _linear_grad_input,
    lambda g, out, x, w, b=None: matmul(_swap_last(_rows(g, w.shape[0])), _rows(x, w.shape[1])),
    lambda g, out, x, w, b=None: sum(_rows(g, w.shape[0]), axis=(0,), keepdims=False),
    flops=lambda out, x, w, b=None: 2 * math.prod(out) * w[1] + (math.prod(out) if b is not None else 0),
    samples=S.linear_sample)


# log_softmax as one op with the closed-form rule g - softmax * sum(g): a
# classifier's loss is then 4 recorded ops instead of 9 (W2 spends as long on
# the bookkeeping of a (64, 10) loss as on its arithmetic). x - logsumexp(x)
# along `axis`, stable for logits of any size.
log_softmax = primitive(
    "log_softmax", KS.log_softmax,
    lambda g, out, x, axis: g - exp(out) * sum(g, axis=normalize_axis(axis, len(g.shape)),
                                               keepdims=True),
    flops=per_input_element, samples=S.log_softmax_sample)


# Cross-entropy as one op, from logits (batch, classes) and target probabilities q
# of the same shape (one-hot rows for class labels; nn.functional builds them):
# loss = -sum(q * log_softmax(x)) / batch. A classifier's loss is then one
# recorded node with the textbook gradient (softmax(x) - q) / batch, where
# log_softmax + pick + mean + neg took 5 nodes and 170 µs of W2's step. The
# forward is one compiled pass (kernels.softmax) and returns the log-probabilities
# too, saved for the backward pass.
def _log_probs(x, saved):
    # recorded backward passes (create_graph) recompute them as a node, so that
    # their own gradient is right; plain ones reuse the forward's
    return log_softmax(x, axis=-1) if isinstance(x, Node) else saved


def _cross_entropy_grad_logits(g, out, x, q, saved):
    """g * (softmax(x) - q) / batch."""
    if isinstance(g, Node) or isinstance(x, Node) or isinstance(q, Node):
        return g * (exp(_log_probs(x, saved)) - q) / x.shape[0]
    return KS.cross_entropy_grad(g, saved, q)    # one compiled pass instead of four


cross_entropy = primitive(
    "cross_entropy", KS.cross_entropy,
    _cross_entropy_grad_logits,
    lambda g, out, x, q, saved: -g * _log_probs(x, saved) / x.shape[0],
    saves=True, flops=per_input_element, samples=S.cross_entropy_sample)


# ---- normalisation ------------------------------------------------------------------
# Batch normalisation (training mode) as one op: (x - mean) / sqrt(var + eps) * w + b
# per channel (axis 1), statistics over every other axis. Composed of elementwise ops
# it kept five full-size arrays per layer for the backward pass (centred, squared,
# the quotient, the product with w, the sum); as one op it keeps its output and two
# numbers per channel, which is what put the default audio CNN's peak memory above
# PyTorch's on 64 x 1 x 64 x 216 batches.
def _bn_axes(x):
    return (0,) + tuple(range(2, len(x.shape)))


def _bn_channel_shape(x):
    return (1, x.shape[1]) + (1,) * (len(x.shape) - 2)


def _batch_norm_forward(x, w, b, eps):
    axes, shape = _bn_axes(x), _bn_channel_shape(x)
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = (1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)).astype(x.dtype)
    out = x - mean
    out *= inv_std * w.reshape(shape)
    out += b.reshape(shape)
    return out, (mean, inv_std)


def _bn_standardised(x, eps, saved):
    """(x - mean) / std and 1 / std per channel: recomputed with ops in a recorded pass,
    so that their own gradients are right; from the forward's statistics otherwise."""
    axes = _bn_axes(x)
    if isinstance(x, Node):
        n = math.prod(x.shape) // x.shape[1]
        centred = x - sum(x, axis=axes, keepdims=True) / n
        inv_std = 1.0 / sqrt(sum(centred * centred, axis=axes, keepdims=True) / n + eps)
        return centred * inv_std, inv_std
    mean, inv_std = saved
    return (x - mean) * inv_std, inv_std


def _batch_norm_grad_input(g, out, x, w, b, eps, saved):
    """w / std * (g - mean(g) - x̂ mean(g x̂)), the means per channel."""
    axes = _bn_axes(x)
    n = math.prod(x.shape) // x.shape[1]
    if not (isinstance(g, Node) or isinstance(x, Node)):
        return _batch_norm_grad_input_array(g, x, w, axes, n, saved)
    x_hat, inv_std = _bn_standardised(x, eps, saved)
    g_mean = sum(g, axis=axes, keepdims=True) / n
    gx_mean = sum(g * x_hat, axis=axes, keepdims=True) / n
    return reshape(w, shape=_bn_channel_shape(x)) * inv_std * (g - g_mean - x_hat * gx_mean)


def _channel_dot(a, b):
    """sum(a * b) over every axis but 1, without the product array."""
    shape = (a.shape[0], a.shape[1], -1)
    return np.einsum("ncl,ncl->c", a.reshape(shape), b.reshape(shape))


def _batch_norm_grad_input_array(g, x, w, axes, n, saved):
    """The same on arrays, with two full-size temporaries instead of six (the first layer
    of the audio CNN on 5-s clips has 54 MB activations: each temporary counts)."""
    mean, inv_std = saved
    x_hat = x - mean
    x_hat *= inv_std
    gx_mean = _channel_dot(g, x_hat).reshape(mean.shape) / n                 # no g * x̂ array
    result = g - g.sum(axis=axes, keepdims=True) / n
    x_hat *= gx_mean
    result -= x_hat
    result *= (w.reshape(mean.shape) * inv_std).astype(result.dtype)
    return result


def _batch_norm_grad_weight(g, out, x, w, b, eps, saved):
    """sum(g x̂) per channel."""
    if isinstance(g, Node) or isinstance(x, Node):
        return sum(g * _bn_standardised(x, eps, saved)[0], axis=_bn_axes(x), keepdims=False)
    mean, inv_std = saved      # sum(g (x - mean)) / std: one full-size temporary, not three
    return (_channel_dot(g, x - mean) * inv_std.reshape(-1)).astype(g.dtype)


batch_norm = primitive(
    "batch_norm", _batch_norm_forward,
    _batch_norm_grad_input,
    _batch_norm_grad_weight,
    lambda g, out, x, w, b, eps, saved: sum(g, axis=_bn_axes(x), keepdims=False),
    # mean, variance (two passes of 2), subtract, scale, shift: about 7 per input element
    saves=True, flops=lambda out, x, w, b, **params: 7 * math.prod(x), samples=S.batch_norm_sample)
