"""Operators and methods of Tensor and Value: the table of operators and argument-handling
methods, and the ops declared with method=True (x.exp(), x.tanh(), ...).

`a * b` on nodes goes straight to the engine's `apply`: the operator path is the
hot path of scalar (al.Value) networks, so it skips the argument handling of the
general `Op.__call__`.
"""
from __future__ import annotations

import inspect

import numpy as np

from ..core.engine import apply, record
from ..core.node import _NO_PARAMS, Node, Tensor, Value
from ..core.op import on_declare
from ..core.state import state
from . import functions as fn
from .creation import parse_to
from . import primitives as P


def _binary(op):
    def method(self, other):
        if other.__class__ is not self.__class__:
            if isinstance(other, Node):
                return record(op, (self, other), _NO_PARAMS)   # raises a clear mixing error
            other = self._lift(other, self)
        return apply(op, (self, other))
    method.__name__ = op.name
    return method


def _reflected(op):
    def method(self, other):
        if isinstance(other, Node):
            return record(op, (other, self), _NO_PARAMS)
        return apply(op, (self._lift(other, self), self))
    method.__name__ = "r" + op.name
    return method


def _unary(op):
    def method(self):
        return apply(op, (self,))
    method.__name__ = op.name
    return method


_SHARED = {
    "__add__": _binary(P.add), "__radd__": _reflected(P.add),
    "__sub__": _binary(P.sub), "__rsub__": _reflected(P.sub),
    "__mul__": _binary(P.mul), "__rmul__": _reflected(P.mul),
    "__truediv__": _binary(P.div), "__rtruediv__": _reflected(P.div),
    "__pow__": _binary(P.pow), "__rpow__": _reflected(P.pow),
    "__neg__": _unary(P.neg), "__abs__": _unary(P.abs),
    "clip": fn.clip,
}

_TENSOR_ONLY = {
    "__matmul__": fn.matmul, "__rmatmul__": lambda self, other: fn.matmul(other, self),
    "__eq__": _binary(P.equal), "__ne__": _binary(P.not_equal),
    "__lt__": _binary(P.less), "__le__": _binary(P.less_equal),
    "__gt__": _binary(P.greater), "__ge__": _binary(P.greater_equal),
    "__getitem__": fn.getitem,
    "sum": fn.sum, "mean": fn.mean, "max": fn.max, "min": fn.min,
    "reshape": fn.reshape, "flatten": fn.flatten, "transpose": fn.transpose,
    "astype": fn.astype, "matmul": fn.matmul,
    "softmax": fn.softmax, "log_softmax": fn.log_softmax, "logsumexp": fn.logsumexp,
    "T": property(lambda self: fn.transpose(self)),
}

def _inputs_only(forward):
    """How many inputs `forward` takes, if it takes nothing else (no params); else None."""
    if isinstance(forward, np.ufunc):
        return forward.nin
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError):          # a builtin without a signature: take the general path
        return None
    if all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params):
        return len(params)
    return None


def _declared(op):
    """x.<name>(...) for an op declared with method=True. A one-input op without params
    goes straight to the engine, as operators do: x.tanh() is on W5's hot path."""
    if _inputs_only(op.forward) == 1:
        return _unary(op)

    def method(self, *args, **params):
        return op(self, *args, **params)
    method.__name__ = op.name
    return method


@on_declare
def _bind(op):
    """An op declared with method=True is x.<its name>(...): on Tensor, and on Value too if elementwise."""
    if op.method:
        setattr(Node if op.elementwise else Tensor, op.name, _declared(op))


for _name, _method in _SHARED.items():
    setattr(Node, _name, _method)
for _name, _method in _TENSOR_ONLY.items():
    setattr(Tensor, _name, _method)
# Tensor defines __eq__, which would otherwise reset its hash to None.
Tensor.__hash__ = Node.__hash__
Value.__hash__ = Node.__hash__


# ---- PyTorch's methods (the functions above under the names a PyTorch user types) --------------
def _transpose_method(self, *axes):
    """x.transpose() reverses the axes (numpy); x.transpose(d0, d1) swaps two (PyTorch);
    x.transpose(2, 0, 1) or x.transpose((1, 0)) permutes them all (numpy). Two separate ints
    always swap: on a 2-D tensor numpy's transpose(1, 0) means the same, and its
    transpose(0, 1), the identity, is nothing anyone writes."""
    if len(axes) == 1 and (isinstance(axes[0], (tuple, list)) or axes[0] is None):
        return fn.transpose(self, None if axes[0] is None else tuple(axes[0]))
    if not axes:
        return fn.transpose(self)
    if len(axes) == 2:
        return fn.swapaxes(self, *axes)
    return fn.transpose(self, tuple(axes))


def _with_dim(function):
    def method(self, dim=None, *, axis=None):
        if dim is not None and axis is not None and dim != axis:
            raise TypeError(f"{function.__name__}: got dim={dim} and axis={axis}; give one")
        return function(self, axis=-1 if dim is None and axis is None else (axis if axis is not None else dim))
    method.__name__ = function.__name__
    return method


class _Size(int):
    """`x.size` is numpy's element count (an int) and PyTorch's `x.size()` / `x.size(dim)`."""

    def __new__(cls, shape):
        out = int.__new__(cls, int(np.prod(shape, dtype=np.int64)))
        out._shape = tuple(shape)
        return out

    def __call__(self, dim=None):
        return self._shape if dim is None else self._shape[dim]


def _inplace(op, name, out_of_place):
    """x += y: in place on the data when no gradient is involved (a hand-written update under
    no_grad, a running sum of constants), as in PyTorch; when recording and y requires grad,
    or x is a computed node that does, it records x + y instead (the same values and
    gradients PyTorch gives, without its aliasing)."""
    def method(self, other):
        if state.grad_enabled:
            if self.requires_grad and self.is_leaf:
                raise RuntimeError(
                    f"{name}: in-place change of a leaf tensor that requires grad, while recording; "
                    f"update parameters under al.no_grad() (or on .data)")
            if self.requires_grad or getattr(other, "requires_grad", False):
                return out_of_place(self, other)
        result = op.evaluate(self.data, other.data if isinstance(other, Node) else other)
        np.copyto(self.data, result, casting="same_kind")
        return self
    method.__name__ = name
    return method


def _setitem(self, index, value):
    """t[index] = value, in place, with numpy's indexing, broadcasting and casting (as torch).

    Allowed where no recorded gradient can go stale: on a tensor that does not require grad,
    and on a leaf under al.no_grad() (initialising weights by hand). A node inside a recorded
    graph is never changed: the ops that used it keep its data for their gradients, and we
    have no version counter to notice. Write `y = y.index_put(index, value)` there instead.
    """
    index = fn._index(index)
    if isinstance(value, Node):
        if value.requires_grad and state.grad_enabled:
            raise RuntimeError(
                f"t[index] = value: the value (shape {value.shape}) requires grad and would be "
                f"copied without its gradient; write t = t.index_put(index, value) (recorded, "
                f"gradients flow to both) or assign under al.no_grad()")
        value = value.data
    if self.requires_grad:
        if not self.is_leaf:
            raise RuntimeError(
                f"t[index] = value on a tensor of shape {self.shape} computed by {self.op.name} "
                f"inside a recorded graph: autograd_lab does not change recorded nodes (the ops "
                f"that used it would differentiate with the new values); write "
                f"t = t.index_put(index, value), which records the write as an op, or use "
                f"t.detach() if no gradient should flow")
        if state.grad_enabled:
            raise RuntimeError(
                f"t[index] = value: a leaf tensor of shape {self.shape} that requires grad is "
                f"being used in an in-place operation (PyTorch: \"a leaf Variable that requires "
                f"grad is being used in an in-place operation.\"); initialise it inside "
                f"`with al.no_grad():`")
    fits = fn.check_index_put("t[index] = value", self.shape, index, np.shape(value))
    try:
        self.data[index] = value if np.shape(value) == fits else np.reshape(value, fits)
    except ValueError as exc:      # e.g. a read-only view (np.broadcast_to, expand)
        raise ValueError(f"t[index] = value on a tensor of shape {self.shape}: {exc}") from None


def _fill_(self, value):
    """x.fill_(v): every element set to v, in place, under the rules of x[...] = v."""
    _setitem(self, Ellipsis, value)
    return self


def _new(make):
    """x.new_zeros(size) and friends: x's dtype unless dtype= is given, never requiring grad
    unless asked (as torch)."""
    def method(self, *args, dtype=None, requires_grad=False, **kwargs):
        data = make(self, *args, **kwargs)
        return Tensor(np.asarray(data, dtype=self.dtype if dtype is None else dtype),
                      requires_grad=requires_grad)
    return method


def _shape_arg(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else size


def _requires_grad_(self, requires_grad=True):
    if not self.is_leaf and not requires_grad:
        raise RuntimeError("requires_grad_(False) on a computed tensor: use .detach() instead")
    if requires_grad and self.dtype.kind not in "fc":
        raise TypeError(f"requires_grad_: needs floating-point data, got dtype {self.dtype}")
    self.requires_grad = bool(requires_grad)
    return self


def _to(self, *args, **kwargs):
    """x.to(dtype) casts (a new node, as torch); devices other than the CPU do not exist here."""
    dtype = parse_to("Tensor", args, kwargs)
    return self if dtype is None or dtype == self.dtype else fn.astype(self, dtype)


def _type(self, dtype=None, **kwargs):
    """x.type(dtype) casts (x.to(dtype)); x.type() names the dtype, as torch's 'torch.FloatTensor' does."""
    if dtype is None:
        return str(self.dtype)
    return _to(self, dtype, **kwargs)


def _cast(dtype):
    return lambda self: self if self.dtype == dtype else fn.astype(self, dtype)


def _no_cuda(self, *args, **kwargs):
    raise RuntimeError("autograd_lab runs on the CPU only (numpy arrays): drop .cuda() / .to('cuda')")


_PYTORCH_STYLE = {
    "transpose": _transpose_method, "permute": fn.permute, "swapaxes": fn.swapaxes,
    "view": fn.reshape, "view_as": lambda self, other: fn.reshape(self, other.shape),
    "reshape_as": lambda self, other: fn.reshape(self, other.shape),
    "squeeze": fn.squeeze, "unsqueeze": fn.unsqueeze,
    "expand": fn.expand, "expand_as": lambda self, other: fn.broadcast_to(self, other.shape),
    "clamp": fn.clamp, "clip": fn.clip, "masked_fill": fn.masked_fill,
    "argmax": fn.argmax, "argmin": fn.argmin, "amax": fn.amax, "amin": fn.amin,
    "var": fn.var, "std": fn.std, "square": fn.square,
    "softmax": _with_dim(fn.softmax), "log_softmax": _with_dim(fn.log_softmax),
    # ops are not functions, so a class attribute holding one would not bind self: wrap them
    "add": _binary(P.add), "sub": _binary(P.sub), "mul": _binary(P.mul), "div": _binary(P.div),
    "pow": _binary(P.pow), "neg": _unary(P.neg),
    "maximum": _binary(P.maximum), "minimum": _binary(P.minimum),
    "eq": _binary(P.equal), "ne": _binary(P.not_equal), "lt": _binary(P.less),
    "le": _binary(P.less_equal), "gt": _binary(P.greater), "ge": _binary(P.greater_equal),
    "float": _cast(np.dtype(np.float32)), "double": _cast(np.dtype(np.float64)),
    "long": _cast(np.dtype(np.int64)), "int": _cast(np.dtype(np.int32)), "bool": _cast(np.dtype(bool)),
    "to": _to, "type": _type, "cpu": lambda self: self, "contiguous": lambda self: self, "cuda": _no_cuda,
    "clone": lambda self: fn.astype(self, self.dtype),     # a new node holding a copy
    "tolist": lambda self: self.data.tolist(),
    "dim": lambda self: self.data.ndim, "numel": lambda self: self.data.size,
    "size": property(lambda self: _Size(self.data.shape)),
    "requires_grad_": _requires_grad_,
    "all": lambda self, *a, **k: Tensor(np.asarray(self.data.all(*a, **k))),
    "any": lambda self, *a, **k: Tensor(np.asarray(self.data.any(*a, **k))),
    "__setitem__": _setitem, "index_put": fn.index_put,
    "fill_": _fill_, "zero_": lambda self: _fill_(self, 0),
    "new_zeros": _new(lambda self, *size: np.zeros(_shape_arg(size))),
    "new_ones": _new(lambda self, *size: np.ones(_shape_arg(size))),
    "new_full": _new(lambda self, size, fill_value: np.full(_shape_arg((size,)), fill_value)),
    "new_tensor": _new(lambda self, data: np.array(getattr(data, "data", data))),
    "t": fn.t, "split": fn.split, "chunk": fn.chunk, "unbind": fn.unbind, "repeat": fn.repeat,
    "sort": fn.sort, "topk": fn.topk,
    "__iadd__": _inplace(P.add, "__iadd__", _SHARED["__add__"]),
    "__isub__": _inplace(P.sub, "__isub__", _SHARED["__sub__"]),
    "__imul__": _inplace(P.mul, "__imul__", _SHARED["__mul__"]),
    "__itruediv__": _inplace(P.div, "__itruediv__", _SHARED["__truediv__"]),
}
for _name, _method in _PYTORCH_STYLE.items():
    setattr(Tensor, _name, _method)
