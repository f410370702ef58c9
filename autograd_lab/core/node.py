"""Graph nodes: `Tensor` (numpy arrays) and `Value` (Python floats, for teaching).

Both are the same kind of node in the same graph: every result of an op knows
the op that made it (`.op`), the op's static parameters (`.params`, e.g. axis),
its inputs (`.inputs`) and an optional user name (`.name`). Leaves have
`op is None`. A node holds its inputs but never its consumers, so a graph is a
tree of plain references without cycles: it is freed as soon as its output is
dropped.

Operators (`+`, `*`, `@`, ...) and methods (`.sum()`, `.tanh()`, ...) are bound
to these classes in `autograd_lab/ops/methods.py`, next to the op table.
"""
from __future__ import annotations

import numbers

import numpy as np

from .state import state


class Node:
    """One value in the graph: a leaf, or the result of one op."""

    __slots__ = ("data", "_grad", "requires_grad", "op", "inputs", "params", "name",
                 "_saved", "_meta", "__weakref__")

    # numpy must hand `ndarray * node` to our reflected operators, not loop over us.
    __array_ufunc__ = None
    __hash__ = object.__hash__   # identity: nodes are dict keys during backward

    # ---- graph access -----------------------------------------------------
    @property
    def op_name(self) -> str | None:
        """Name of the op that made this node, or None for a leaf."""
        return None if self.op is None else self.op.name

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def scope(self):
        """Name of the nn.Module call that created this node, if any."""
        return None if self._meta is None else self._meta.get("scope")

    @property
    def module_type(self):
        """Type name of the innermost nn.Module whose call created this node, if any."""
        return None if self._meta is None else self._meta.get("module")

    @property
    def created_at(self):
        """'file:line' of the user code that created this node (anomaly mode only)."""
        return None if self._meta is None else self._meta.get("where")

    @property
    def from_backward(self) -> bool:
        """True for nodes recorded while computing gradients (create_graph=True)."""
        return bool(self._meta and self._meta.get("backward"))

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        self._grad = value

    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Backpropagate from this node; gradients accumulate into `.grad`.

        See `autograd_lab.core.engine.backward`.
        """
        from . import engine
        engine.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """A new leaf with the same data, cut from the graph (no gradient flows)."""
        return self._new_leaf(self.data, requires_grad=False, name=self.name)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


class Tensor(Node):
    """A numpy array in the graph.

    Build one with `al.tensor(...)`. `.data` is the ndarray, `.grad` an ndarray of
    the same shape after `backward()` (a Tensor when `create_graph=True`).

    >>> import autograd_lab as al
    >>> x = al.tensor([1.0, 2.0, 3.0], requires_grad=True, name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    array([2., 4., 6.], dtype=float32)
    """

    __slots__ = ()
    _grad_start = None

    def __init__(self, data, dtype=None, requires_grad=False, name=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"requires_grad=True needs floating-point data, got dtype {self.data.dtype} "
                f"(convert with dtype=np.float32)")
        self._grad = None
        self.requires_grad = bool(requires_grad)
        self.op = None
        self.inputs = ()
        self.params = _NO_PARAMS
        self.name = name
        self._saved = None
        self._meta = None

    @classmethod
    def _new_leaf(cls, data, requires_grad=False, name=None):
        return cls(data, requires_grad=requires_grad, name=name)

    @staticmethod
    def _lift(x, like):
        """A constant Tensor for a Python number or array used beside `like`."""
        if _is_number(x):
            dtype = like.data.dtype if like is not None else None
            if dtype is None or dtype.kind not in "fc":
                dtype = state.default_dtype if isinstance(x, float) or dtype is None else dtype
            out = Tensor(np.asarray(x, dtype=dtype))
        elif isinstance(x, Value):
            raise TypeError("cannot mix al.Value and al.Tensor in one op; "
                            "use al.tensor(value.data) to make a Tensor")
        else:
            out = Tensor(x)
        out._meta = _CONSTANT      # made by an op from a number or array: drawn as a constant
        return out

    # ---- array-like attributes -------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (not a copy)."""
        return self.data

    def item(self):
        """The single element as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): tensor has {self.data.size} elements, shape {self.shape}")
        return self.data.item()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """An integer 0-d tensor as a Python index (`classes[pred[0]]`), as in torch. Only 0-d:
        numpy asks __index__ first, and would read a (1,)-shaped index tensor as a scalar."""
        if self.data.dtype.kind not in "iu" or self.data.ndim != 0:
            raise TypeError(f"only integer 0-d tensors can be converted to an index; got dtype "
                            f"{self.data.dtype}, shape {self.shape}")
        return int(self.data.item())

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"truth value of a tensor with {self.data.size} elements is "
                             "ambiguous; use .any() or .all() on .data")
        return bool(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", threshold=20, edgeitems=3,
                               prefix="tensor(")
        extra = []
        if self.data.dtype != state.default_dtype:
            extra.append(f"dtype={self.data.dtype}")
        if self.op is not None:
            extra.append(f"op={self.op.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"


class Value(Node):
    """A scalar in the graph, with micrograd's interface, for teaching.

    `.data` and `.grad` are Python floats (float64). Values share the graph, the
    op table and the backward pass with Tensors; only their data is a float.

    >>> from autograd_lab import Value
    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> e = a * b; e.label = "e"
    >>> e.backward()
    >>> a.grad, b.grad
    (-3.0, 2.0)
    """

    __slots__ = ()
    _grad_start = 0.0

    def __init__(self, data, _children=(), _op="", label="", requires_grad=True):
        # _children and _op are accepted for micrograd compatibility and ignored:
        # the graph is recorded by the engine, not by the caller.
        self.data = float(data)
        self._grad = 0.0
        self.requires_grad = bool(requires_grad)
        self.op = None
        self.inputs = ()
        self.params = _NO_PARAMS
        self.name = label or None
        self._saved = None
        self._meta = None

    @classmethod
    def _new_leaf(cls, data, requires_grad=False, name=None):
        return cls(data, label=name or "", requires_grad=requires_grad)

    @staticmethod
    def _lift(x, like):
        if _is_number(x):
            return Value(x, requires_grad=False)
        raise TypeError(f"cannot combine al.Value with {type(x).__name__}; "
                        "Values combine with Values and Python numbers")

    @property
    def label(self) -> str:
        """micrograd's name for `.name`."""
        return self.name or ""

    @label.setter
    def label(self, text):
        self.name = text

    @property
    def _prev(self):
        """micrograd's name for the inputs, as a set."""
        return set(self.inputs)

    @property
    def _op(self):
        """micrograd's op symbol ('+', '*', 'tanh', ...), '' for a leaf."""
        if self.op is None:
            return ""
        return self.op.symbol or self.op.name

    shape = ()
    ndim = 0
    size = 1
    dtype = np.dtype(np.float64)

    def item(self):
        return self.data

    def __float__(self):
        return float(self.data)

    # Comparisons on scalars answer a plain bool; equality stays identity, as in
    # micrograd, so Values can live in sets.
    def __lt__(self, other):
        return self.data < _float_of(other)

    def __le__(self, other):
        return self.data <= _float_of(other)

    def __gt__(self, other):
        return self.data > _float_of(other)

    def __ge__(self, other):
        return self.data >= _float_of(other)

    def __repr__(self):
        # every digit, as micrograd prints it: a rounded repr hides what the user is checking
        return f"Value(data={self.data!r}, grad={self._grad!r})"


def _float_of(x):
    return x.data if isinstance(x, Value) else float(x)


_NO_PARAMS: dict = {}
_CONSTANT = {"constant": True}


def _as_array(data, dtype=None) -> np.ndarray:
    """ndarrays keep their dtype; Python numbers and lists take the default float dtype."""
    if isinstance(data, Node):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, np.generic):
        return np.asarray(data)
    arr = np.asarray(data)
    if arr.dtype.kind in "iuf":
        arr = arr.astype(state.default_dtype)
    return arr


def tensor(data, dtype=None, requires_grad=False, name=None, device=None) -> Tensor:
    """Make a leaf Tensor from an ndarray, a nested list or a number.

    Lists and numbers become the default float dtype (float32, see
    `al.set_default_dtype`); ndarrays keep theirs. `requires_grad` needs floats.

    >>> import autograd_lab as al
    >>> al.tensor([[1, 2], [3, 4]]).dtype
    dtype('float32')
    >>> al.tensor([1, 2], requires_grad=True, name="w").name
    'w'
    """
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"tensor(device={str(device)!r}): autograd_lab runs on the CPU only "
                           f"(numpy arrays); drop the device or use 'cpu'")
    if isinstance(data, np.ndarray) and dtype is None:
        data = data.copy()   # like torch.tensor: later in-place updates never touch the caller's array
    return Tensor(data, dtype=dtype, requires_grad=requires_grad, name=name)
