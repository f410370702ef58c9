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


def flatten(x, start_dim=0):
    """Merge the dimensions from `start_dim` on into one."""
    x = _operand(x)
    return reshape(x, x.shape[:start_dim] + (-1,))


def transpose(x, axes=None):
    """Permute the axes (None: reverse them)."""
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
