"""The public functions with argument handling: `al.sum`, `al.reshape`, `al.softmax`, ...

Thin wrappers over the primitives in primitives.py that normalise arguments
(axes, indices, vectors in matmul), plus composite functions built from
primitives, which are differentiable to any order without rules of their own.

Like the ops themselves, they record on graph nodes and compute on raw data:
`al.exp(al.tensor(x))` is a node of the graph, `al.exp(np.array(x))` an array.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..core.errors import ShapeError
from ..core.node import Node, Tensor
from ..core.op import on_declare
from ..core.shapes import normalize_axis
from ..kernels import softmax as KS
from . import masks as M
from . import primitives as P


def as_node(x) -> Node:
    """`x` itself if it is a Tensor/Value, else a constant Tensor of it."""
    return x if isinstance(x, Node) else Tensor._lift(x, None)


def _operand(x):
    """A node as it is; anything else (an array, a list, a number) as an array."""
    return x if isinstance(x, Node) else np.asarray(x)


def _axis(axis, ndim):
    return None if axis is None else normalize_axis(axis, ndim)


# ---- elementwise ------------------------------------------------------------
@on_declare
def _export(op):
    """An op declared with function=True is a function itself (fn.exp, fn.add, ...): the
    package exports it as al.<name> the same way. Here are only those that need argument handling."""
    if op.function:
        globals()[op.name] = op


def clip(x, low=None, high=None):
    """Limit x to [low, high]; the gradient flows where low <= x <= high.

    >>> import autograd_lab as al
    >>> al.clip(al.tensor([-2.0, 0.5, 3.0]), -1, 1)
    tensor([-1. ,  0.5,  1. ], op=clip)
    """
    return P.clip(x, low=low, high=high)


def where(cond, x, y):
    """Elementwise `x if cond else y`; the gradient flows to the chosen side.

    >>> import autograd_lab as al, numpy as np
    >>> al.where(np.array([True, False]), al.tensor([1.0, 2.0]), al.tensor([10.0, 20.0]))
    tensor([ 1., 20.], op=where)
    """
    cond = cond.data if isinstance(cond, Node) else np.asarray(cond)
    return P.where(cond.astype(bool, copy=False), x, y)


# ---- reductions ---------------------------------------------------------------
def sum(x, axis=None, keepdims=False):                             # noqa: A001
    """Sum over `axis` (None: all; int or tuple).

    >>> import autograd_lab as al
    >>> al.sum(al.tensor([[1, 2], [3, 4]]), axis=0)
    tensor([4., 6.], op=sum)
    """
    x = _operand(x)
    return P.sum(x, axis=_axis(axis, x.ndim), keepdims=bool(keepdims))


def mean(x, axis=None, keepdims=False):
    """Mean over `axis`: sum divided by the number of elements reduced.

    >>> import autograd_lab as al
    >>> al.mean(al.tensor([[1.0, 2.0], [3.0, 6.0]]), axis=1)
    tensor([1.5, 4.5], op=div)
    """
    x = _operand(x)
    total = sum(x, axis, keepdims)
    count = x.size // builtins.max(total.size, 1) if x.size else 0
    return total / count


def max(x, axis=None, keepdims=False):                             # noqa: A001
    """Largest element over `axis`; ties share the gradient equally (like torch.amax)."""
    x = _operand(x)
    return P.max(x, axis=_axis(axis, x.ndim), keepdims=bool(keepdims))


def min(x, axis=None, keepdims=False):                             # noqa: A001
    """Smallest element over `axis`; ties share the gradient equally (like torch.amin)."""
    x = _operand(x)
    return P.min(x, axis=_axis(axis, x.ndim), keepdims=bool(keepdims))


def _shift(x, axis):
    """The largest element of node x along `axis`, as a constant (kernels.softmax.max_shift)."""
    return KS.max_shift(M.raw(x), axis)


def logsumexp(x, axis=-1, keepdims=False):
    """log(sum(exp(x))) over `axis`, exact for logits of any magnitude.

    >>> import autograd_lab as al
    >>> float(al.logsumexp(al.tensor([1000.0, 1000.0])).data)
    1000.6931...
    """
    x = _operand(x)
    shift = _shift(x, axis)
    out = P.log(sum(P.exp(x - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else reshape(out, np.squeeze(shift, axis=axis).shape)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) over `axis`, stable for large logits.

    >>> import autograd_lab as al
    >>> al.softmax(al.tensor([0.0, 0.0, 1000.0])).data.round(3).tolist()     # no overflow
    [0.0, 0.0, 1.0]
    """
    x = _operand(x)
    e = P.exp(x - _shift(x, axis))
    return e / sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x): log-probabilities, stable and precise for large logits."""
    return P.log_softmax(_operand(x), axis=int(axis))


# ---- shapes -------------------------------------------------------------------
def reshape(x, *shape):
    """Same data in a new shape (one dimension may be -1).

    >>> import autograd_lab as al, numpy as np
    >>> al.reshape(al.tensor(np.arange(6.0)), (2, 3)).shape
    (2, 3)
    """
    x = _operand(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    shape = tuple(int(s) for s in shape)
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or x.size % known:
            raise ShapeError(f"reshape: cannot reshape {x.shape} to {shape}")
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    return P.reshape(x, shape=shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the dimensions start_dim..end_dim (inclusive) into one."""
    x = _operand(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {x.shape}")
    merged = int(np.prod(x.shape[start:end + 1], dtype=np.int64))
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def transpose(x, *dims, axes=None):
    """Permute the axes: transpose(x) reverses them, transpose(x, (2, 0, 1)) or axes= permutes
    them (numpy); transpose(x, d0, d1) swaps two (PyTorch's torch.transpose).

    >>> import autograd_lab as al, numpy as np
    >>> x = al.tensor(np.zeros((2, 3, 4)))
    >>> al.transpose(x).shape, al.transpose(x, (2, 0, 1)).shape, al.transpose(x, 0, 1).shape
    ((4, 3, 2), (4, 2, 3), (3, 2, 4))
    """
    if len(dims) == 2:
        return swapaxes(x, *dims)
    if len(dims) == 1:
        axes = dims[0]
    elif dims:
        axes = dims
    x = _operand(x)
    if axes is not None:
        axes = tuple(int(a) % builtins.max(x.ndim, 1) for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of {x.ndim} axes")
    return P.transpose(x, axes=axes)


def broadcast_to(x, shape):
    return P.broadcast_to(x, shape=tuple(shape))


def astype(x, dtype):
    """Cast to `dtype`; the gradient is cast back to the input's dtype."""
    return P.astype(x, dtype=np.dtype(dtype))


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis.

    >>> import autograd_lab as al
    >>> al.concatenate([al.tensor([1.0]), al.tensor([2.0, 3.0])])
    tensor([1., 2., 3.], op=concatenate)
    """
    nodes = [_operand(t) for t in tensors]
    if not nodes:
        raise ValueError("concatenate: need at least one tensor")
    axis = int(axis) % builtins.max(nodes[0].ndim, 1)
    return P.concatenate(*nodes, axis=axis)


def stack(tensors, axis=0):
    """Join tensors along a new axis."""
    nodes = [_operand(t) for t in tensors]
    if not nodes:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in nodes}
    if len(shapes) > 1:
        raise ShapeError(f"stack: all tensors need the same shape, got {sorted(shapes)}")
    axis = int(axis) % (nodes[0].ndim + 1)
    expanded = [reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in nodes]
    return P.concatenate(*expanded, axis=axis)


def _index(index):
    """Tensors and lists in an index become arrays (an index carries no gradient)."""
    if isinstance(index, tuple):
        return tuple(_index(i) for i in index)
    if isinstance(index, Node):
        return index.data
    if isinstance(index, list):
        return np.asarray(index)
    return index


def getitem(x, index):
    """x[index] with numpy's rules; repeated indices accumulate their gradients."""
    return P.getitem(_operand(x), index=_index(index))


def index_put(x, index, value):
    """A copy of x with `value` written at `index` (numpy indexing, broadcasting, cast to x's
    dtype), recorded as one op: gradients flow to x (except where written) and to value.

    The out-of-place form of `x[index] = value`, for tensors inside a recorded graph.
    Repeated positions in an advanced index are undefined, as in torch.index_put.

    >>> import autograd_lab as al
    >>> x = al.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = x.index_put(x.data > 1.5, 0.0)
    >>> y.sum().backward(); y.data, x.grad
    (array([1., 0., 0.], dtype=float32), array([1., 0., 0.], dtype=float32))
    """
    x, index, value = _operand(x), _index(index), _operand(value)
    fits = check_index_put("index_put", np.shape(x), index, np.shape(value))
    return P.index_put(x, value if value.shape == fits else reshape(value, fits), index=index)


def check_index_put(what, shape, index, value_shape) -> tuple:
    """Raise IndexError (index out of range or malformed) or ShapeError (value does not
    broadcast to x[index]) naming `what` and the shapes, before anything is written.
    Returns the value's shape without the leading 1s that numpy would refuse."""
    try:
        part = np.empty(shape, dtype=bool)[index].shape
    except (IndexError, ValueError, TypeError) as exc:
        raise IndexError(f"{what}: index {_show_index(index)} does not fit a tensor of shape "
                         f"{tuple(shape)}: {exc}") from None
    value_shape = tuple(value_shape)
    while len(value_shape) > len(part) and value_shape[0] == 1:   # numpy and torch drop leading 1s
        value_shape = value_shape[1:]
    try:
        ok = np.broadcast_shapes(value_shape, part) == part
    except ValueError:
        ok = False
    if not ok:
        raise ShapeError(f"{what}: cannot write a value of shape {tuple(value_shape)} into "
                         f"x[index] of shape {part} (x has shape {tuple(shape)}, index "
                         f"{_show_index(index)}): the value must broadcast to {part}")
    return value_shape


def _show_index(index):
    items = index if isinstance(index, tuple) else (index,)
    shown = [f"<{i.dtype} array of shape {i.shape}>" if isinstance(i, np.ndarray) and i.size > 6
             else repr(i.tolist()) if isinstance(i, np.ndarray) else repr(i) for i in items]
    return "(" + ", ".join(shown) + ")" if isinstance(index, tuple) else shown[0]


# ---- linear algebra -------------------------------------------------------------
def matmul(a, b):
    """Matrix product with numpy's rules (vectors, batches, broadcasting).

    >>> import autograd_lab as al
    >>> (al.tensor([[1, 2], [3, 4]]) @ al.tensor([1, 1])).data
    array([3., 7.], dtype=float32)
    """
    a, b = _operand(a), _operand(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: needs at least 1-D inputs, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit: inner "
                         f"dimensions {a.shape[-1]} and {b.shape[-2 if b.ndim > 1 else 0]} differ")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    out = P.matmul(a2, b2)
    if a.ndim == 1 or b.ndim == 1:
        shape = out.shape
        if a.ndim == 1:
            shape = shape[:-2] + shape[-1:]
        if b.ndim == 1:
            shape = shape[:-1]
        out = reshape(out, shape)
    return out


# ---- PyTorch's spellings ----------------------------------------------------------
# Where numpy and PyTorch name the same thing differently, both are accepted when the
# meaning is unambiguous: `dim`/`axis`, `keepdim`/`keepdims`, `clamp`/`clip`,
# `cat`/`concatenate`, `permute`/`transpose(*axes)`. numpy's names are the canonical
# ones (docs/coming-from-pytorch.md).
def _dims(name, axis, dim, keepdims, keepdim, axis_default=None):
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{name}: got dim={dim} and axis={axis}; they are the same argument, give one")
    if keepdim is not None and keepdims is not None and bool(keepdim) != bool(keepdims):
        raise TypeError(f"{name}: got keepdim={keepdim} and keepdims={keepdims}; give one")
    axis = axis if axis is not None else dim if dim is not None else axis_default
    keep = bool(keepdims) if keepdims is not None else bool(keepdim)
    return (tuple(axis) if isinstance(axis, list) else axis), keep


def _accepts_dim(function):
    """f(x, axis=None, keepdims=False) also called as f(x, dim=..., keepdim=...)."""
    def wrapper(x, axis=None, keepdims=None, *, dim=None, keepdim=None):
        axis, keep = _dims(function.__name__, axis, dim, keepdims, keepdim)
        return function(x, axis, keep)
    wrapper.__name__, wrapper.__qualname__ = function.__name__, function.__qualname__
    wrapper.__doc__, wrapper.__module__ = function.__doc__, function.__module__
    wrapper.__wrapped__ = function
    return wrapper


sum, mean, amax, amin = (_accepts_dim(sum), _accepts_dim(mean),                 # noqa: A001
                         _accepts_dim(max), _accepts_dim(min))


class _MaxMin(tuple):
    """(values, indices), as torch.max(x, dim) returns them."""
    __slots__ = ()
    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def _extremum(reduce, pick, name):
    def function(x, axis=None, keepdims=None, *, dim=None, keepdim=None):
        axis_, keep = _dims(name, axis, dim, keepdims, keepdim)
        values = reduce(x, axis_, keep)
        if dim is None:              # numpy's form (axis= or positional): the values alone
            return values
        index = pick(x, dim=dim, keepdim=keep)      # PyTorch's max(x, dim=...): both
        return _MaxMin((values, index))
    function.__name__ = name
    function.__doc__ = (f"{'Largest' if name == 'max' else 'Smallest'} element over `axis` (ties "
                        "share the gradient equally, like torch.amax); with `dim=`, PyTorch's "
                        "(values, indices).")
    return function


def _arg(name, pick):
    def function(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
        axis_, keep = _dims(name, axis, dim, keepdims, keepdim)
        data = x.data if isinstance(x, Node) else np.asarray(x)
        if axis_ is None:
            out = np.asarray(pick(data.reshape(-1)))
            return Tensor(out.reshape((1,) * data.ndim) if keep else out)
        out = pick(data, axis=int(axis_))
        return Tensor(np.expand_dims(out, int(axis_)) if keep else np.asarray(out))
    function.__name__ = name
    function.__doc__ = (f"Index of the {'largest' if 'max' in name else 'smallest'} element along "
                        "`dim` (None: of the flattened tensor), an int64 tensor without gradient.")
    return function


argmax, argmin = _arg("argmax", np.argmax), _arg("argmin", np.argmin)
max, min = _extremum(amax, argmax, "max"), _extremum(amin, argmin, "min")             # noqa: A001


def var(x, dim=None, *, correction=None, unbiased=None, keepdim=False, axis=None, ddof=None,
        keepdims=None):
    """Variance over `dim`, unbiased by default as in PyTorch (correction=1; numpy's ddof=0
    is `correction=0`, `unbiased=False` or `ddof=0`). Composite: mean of squared deviations.

    >>> import autograd_lab as al
    >>> x = al.tensor([1.0, 2.0, 3.0, 4.0])
    >>> float(al.var(x).data), float(al.var(x, correction=0).data)
    (1.6666666..., 1.25)
    """
    axis_, keep = _dims("var", axis, dim, keepdims, keepdim)
    given = [c for c in (correction, ddof, None if unbiased is None else int(bool(unbiased)))
             if c is not None]
    if len(set(given)) > 1:
        raise TypeError(f"var: correction={correction}, unbiased={unbiased}, ddof={ddof} disagree")
    c = given[0] if given else 1
    x = _float(x)
    axes = None if axis_ is None else _axis(axis_, x.ndim)
    centered = x - mean(x, axis=axes, keepdims=True)
    n = x.size if axes is None else int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    return sum(centered * centered, axis=axes, keepdims=keep) / builtins.max(n - c, 0)


def std(x, dim=None, *, correction=None, unbiased=None, keepdim=False, axis=None, ddof=None,
        keepdims=None):
    """Standard deviation: sqrt(var(...)), unbiased by default as in PyTorch."""
    return sqrt(var(x, dim, correction=correction, unbiased=unbiased, keepdim=keepdim, axis=axis,
                    ddof=ddof, keepdims=keepdims))


def _float(x):
    x = as_node(x)
    return x if x.dtype.kind in "fc" else astype(x, np.float32 if x.dtype.itemsize <= 4 else np.float64)


def clamp(x, min=None, max=None):                                  # noqa: A002
    """PyTorch's name for `clip`: limit x to [min, max]."""
    return clip(x, min, max)


def cat(tensors, dim=0, *, axis=None):
    """PyTorch's name for `concatenate`, with `dim`."""
    return concatenate(tensors, axis=axis if axis is not None else dim)


def _stack(tensors, axis=0, *, dim=None):
    return _stack_axis(tensors, axis if dim is None else dim)


_stack_axis, stack = stack, _stack
stack.__name__, stack.__doc__ = "stack", _stack_axis.__doc__ + " (`dim=` accepted, as in PyTorch)"


def permute(x, *dims):
    """Reorder the dimensions: x.permute(0, 2, 1) (PyTorch's name for transpose(x, axes))."""
    dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
    return transpose(x, tuple(dims))


def swapaxes(x, axis0, axis1):
    """Swap two dimensions (PyTorch: transpose(x, d0, d1))."""
    x = _operand(x)
    order = list(range(x.ndim))
    a, b = axis0 % x.ndim, axis1 % x.ndim
    order[a], order[b] = order[b], order[a]
    return transpose(x, tuple(order))


def squeeze(x, dim=None, *, axis=None):
    """Drop dimensions of size 1 (all, or those in `dim`; one not of size 1 is left, as PyTorch)."""
    x = as_node(x)
    d = axis if axis is not None else dim
    if d is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    drop = {a % x.ndim for a in ((d,) if isinstance(d, int) else d)} if x.ndim else set()
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in drop and s == 1)))


def unsqueeze(x, dim):
    """Insert a dimension of size 1 at `dim` (negative counts from the end of the result)."""
    x = as_node(x)
    d = dim % (x.ndim + 1)
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


def expand(x, *sizes):
    """Broadcast to `sizes` (-1 keeps a dimension), PyTorch's name for broadcast_to."""
    x = as_node(x)
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ShapeError(f"expand: {len(sizes)} sizes for a tensor of shape {x.shape}")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    return broadcast_to(x, shape)


def masked_fill(x, mask, value):
    """value where mask is true, x elsewhere (no gradient flows to the filled places)."""
    x = as_node(x)
    mask = mask.data if isinstance(mask, Node) else np.asarray(mask)
    return where(mask, Tensor._lift(np.asarray(value, x.dtype), x), x)


def square(x):
    return x * x


# ---- more of PyTorch's tensor functions: composed from the ops above, so they need no rule ----
# (sum, max, min are this module's reductions here: Python's are builtins.sum/max/min)
def _one_axis(dim, ndim) -> int:
    (axis,) = normalize_axis(int(dim), ndim)
    return axis


def mm(a, b):
    """Matrix product of two 2-D tensors (torch.mm); `matmul` for batches and broadcasting."""
    a, b = _operand(a), _operand(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ShapeError(f"mm: needs two 2-D tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def bmm(a, b):
    """Batched matrix product of (B, n, m) and (B, m, p) tensors (torch.bmm)."""
    a, b = _operand(a), _operand(b)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise ShapeError(f"bmm: needs (B, n, m) and (B, m, p) tensors, got shapes {a.shape} and {b.shape}")
    return matmul(a, b)


def t(x):
    """Transpose of a tensor of at most 2 dimensions (torch's x.t())."""
    x = _operand(x)
    if x.ndim > 2:
        raise ShapeError(f"t: expects a tensor of at most 2 dimensions, got shape {x.shape}; "
                         f"use transpose(d0, d1) or permute")
    return transpose(x) if x.ndim == 2 else x


def split(x, split_size_or_sections, dim=0):
    """Pieces of `split_size` along dim (the last may be shorter), or of the given sizes."""
    x = as_node(x)
    axis = _one_axis(dim, x.ndim)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        if split_size_or_sections < 1:
            raise ValueError(f"split: split_size must be >= 1, got {split_size_or_sections}")
        sizes = [builtins.min(int(split_size_or_sections), n - s) for s in range(0, n, int(split_size_or_sections))]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n:
            raise ShapeError(f"split: sizes {sizes} do not add up to {n}, dimension {dim} of {x.shape}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(getitem(x, (slice(None),) * axis + (slice(start, start + size),)))
        start += size
    return tuple(pieces)


def chunk(x, chunks, dim=0):
    """`chunks` pieces of equal size along dim (the last may be smaller), as torch.chunk."""
    x = as_node(x)
    n = x.shape[_one_axis(dim, x.ndim)]
    return split(x, builtins.max(1, -(-n // int(chunks))), dim)


def unbind(x, dim=0):
    """The slices along dim, that dimension removed."""
    x = as_node(x)
    axis = _one_axis(dim, x.ndim)
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis]))


def repeat(x, *sizes):
    """Tile x `sizes` times along each dimension (torch's x.repeat, numpy's tile)."""
    x = as_node(x)
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    if len(sizes) < x.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat counts for a tensor of shape {x.shape}; "
                         f"give one per dimension")
    shape = (1,) * (len(sizes) - x.ndim) + x.shape
    spread = reshape(x, tuple(d for n in shape for d in (1, n)))           # (1, d0, 1, d1, ...)
    tiled = broadcast_to(spread, tuple(d for r, n in zip(sizes, shape) for d in (r, n)))
    return reshape(tiled, tuple(r * n for r, n in zip(sizes, shape)))


def _gather_along(x, order, axis):
    """x's values in `order` (integer array of x's shape but along axis) by one getitem."""
    grids = list(np.ix_(*[np.arange(n) for n in order.shape]))
    grids[axis] = order
    return getitem(x, tuple(grids))


def sort(x, dim=-1, descending=False):
    """(values, indices) sorted along dim; gradients flow to the values (stable order, as torch)."""
    x = as_node(x)
    axis = _one_axis(dim, x.ndim)
    order = np.argsort(-x.data if descending else x.data, axis=axis, kind="stable")
    return _gather_along(x, order, axis), Tensor(order.astype(np.int64))


def topk(x, k, dim=-1, largest=True, sorted=True):    # noqa: A002  (torch's keyword)
    """(values, indices) of the k largest (or smallest) along dim, largest first."""
    x = as_node(x)
    axis = _one_axis(dim, x.ndim)
    if not 0 <= k <= x.shape[axis]:
        raise ValueError(f"topk: k={k} is out of range for dimension {dim} of size {x.shape[axis]}")
    order = np.argsort(-x.data if largest else x.data, axis=axis, kind="stable")
    order = np.take(order, np.arange(k), axis=axis)
    return _gather_along(x, order, axis), Tensor(order.astype(np.int64))
