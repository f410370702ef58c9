"""Tracing: run the user's function once, eagerly, and keep what it recorded as an IR.

The engine already records every op of the forward pass as a graph. While a
trace runs, a few entry points behave differently so that the rest of the
step is recorded as well:

  * `backward()` and `al.grad` run with create_graph=True, so the backward
    pass is a graph of ops too (the engine's own recording, nothing new);
  * `Optimizer.step` computes its update with ops on nodes (optim.py's
    formulas, the same code) and still writes the new values in place;
  * `.item()`, `float(value)`, truth values and comparisons of Values note
    that Python looked at the data: fine at the very end of a step, but
    anything recorded after it, and any decision taken on it, cannot be
    replayed, so the function then falls back to eager;
  * the one-hot rows cross-entropy builds from class indices become an
    instruction over the indices (they are the data of every call).

The trace run *is* the call: its results, gradients and updates are the
eager ones. `reconcile` then compares two traces of the same function: the
leaves that are the same objects both times are its inputs (parameters),
constants must be equal, and anything else means the function depends on
data in a way the graph does not show.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from ..core import engine
from ..core import node as node_module
from ..core.node import _CONSTANT, Node, Tensor, Value
from ..kernels import softmax as KS
from ..ops import primitives as P
from .. import optim
from .ir import Graph, HostOp, Instr, Ref

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ACTIVE = None          # the running Trace, if any

ONE_HOT = HostOp("one_hot", lambda indices, *, classes, value, dtype: KS.one_hot(indices, classes, value, dtype))


def user_line(skip_files=()) -> str:
    """'file:line' of the innermost frame outside autograd_lab."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR) and filename not in skip_files:
            return f"{os.path.relpath(filename) if not filename.startswith('/usr') else filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


class Trace:
    """One traced call: the recorded nodes and where their values come from and go."""

    def __init__(self):
        self.inputs = {}         # node -> input descriptor tuple (("arg", k), ("grad", leaf), ("state", st, key, kind))
        self.host = {}           # id(array) -> ("arg", k) or (HostOp, ("arg", k), params)
        self.keep = []           # arrays of `host`, alive while ids matter
        self.updates = {}        # leaf -> node of its new data
        self.state_out = {}      # (id(st), key) -> (st, key, node, kind)
        self.grad_leaves = {}    # leaf -> None, in order: leaves a backward pass reached
        self.reads = []          # (node, None, line, value): data read by Python (.item())
        self.reasons = []        # why this function cannot be replayed (first one is reported)

    # ---- inputs -------------------------------------------------------------------
    def register_args(self, leaves):
        """The function's Tensors, Values and arrays, by position in its flattened arguments."""
        for k, a in enumerate(leaves):
            if isinstance(a, Node):
                self.inputs.setdefault(a, ("arg", k))
            else:
                self.host.setdefault(id(a), ("arg", k))

    def input_node(self, descriptor, data, like=None):
        if isinstance(like, Value) or isinstance(data, float) and not isinstance(like, Tensor):
            node = Value(float(data), requires_grad=False)
        else:
            node = Tensor(np.asarray(data))
        self.inputs[node] = descriptor
        return node

    def note(self, reason):
        self.reasons.append(reason)


# ---- the patched entry points ---------------------------------------------------------------
_originals = {}


def _traced_backward(root, grad=None, retain_graph=False, create_graph=False):
    tr = _ACTIVE
    for node in engine.topological_order(root, requires_grad_only=True):
        if node.op is None:
            tr.grad_leaves[node] = None
            g = node._grad
            if isinstance(g, np.ndarray) or (isinstance(g, float) and g != 0.0):
                # a gradient left from before: the program reads it (accumulation)
                node._grad = tr.input_node(("grad", node), g, like=node)
    _originals["backward"](root, grad, retain_graph=True, create_graph=True)


def _traced_grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
                 allow_unused=False):
    return _originals["grad"](outputs, inputs, grad_outputs, create_graph=True, retain_graph=True,
                              allow_unused=allow_unused)


def _varies(tr, node):
    """Does this node's data come from the call (not a constant of the trace)?"""
    return node.op is not None or node in tr.inputs or not (node._meta is _CONSTANT)


def _traced_item(self):
    tr = _ACTIVE
    value = _originals["item"](self)
    if _varies(tr, self):
        tr.reads.append((self, None, user_line(), value))
    return value


def _traced_value_float(self):
    tr = _ACTIVE
    if _varies(tr, self):
        tr.reads.append((self, None, user_line(), self.data))
    return float(self.data)


def _decision(name):
    original = _originals[name]

    def method(self, *args):
        tr = _ACTIVE
        if _varies(tr, self):
            tr.note(f"Python decides on a traced value ({name.strip('_')}) at {user_line()}: "
                    "data-dependent control flow")
        return original(self, *args)
    return method


def _traced_one_hot(indices, classes, value, dtype):
    tr = _ACTIVE
    out = _originals["one_hot"](indices, classes, value, dtype)
    source = tr.host.get(id(indices))
    if source is not None and source[0] == "arg":
        tr.host[id(out)] = (ONE_HOT, source, {"classes": int(classes), "value": value,
                                             "dtype": np.dtype(dtype)})
        tr.keep.append(out)
    return out


def _traced_tensor(data, dtype=None, requires_grad=False, name=None):
    tr = _ACTIVE
    out = _originals["tensor"](data, dtype=dtype, requires_grad=requires_grad, name=name)
    source = tr.host.get(id(data)) if isinstance(data, np.ndarray) else None
    if source is not None and source[0] == "arg" and out.data.dtype == data.dtype:
        tr.inputs[out] = source          # a Tensor of an argument array: that argument
    return out


# ---- masks as recorded comparisons ----------------------------------------------------------
# Gradient rules of relu, clip, maximum and minimum multiply g by a mask computed from raw
# data: a constant to differentiation, but in a replayed program it must be this call's
# mask. While tracing, the mask helpers record it with the comparison ops instead (not
# differentiable, so the gradients are the same).
def _positive(x):
    return P.greater(x, 0.0)


def _recorded_relu_backward(g, x):
    if isinstance(g, Node) or isinstance(x, Node):
        return g * _positive(x)
    return _originals["mask:relu_backward"](g, x)


def _recorded_positive(x):
    return _positive(x) if isinstance(x, Node) else _originals["mask:positive"](x)


def _recorded_inside(x, low, high):
    if not isinstance(x, Node):
        return _originals["mask:inside"](x, low, high)
    mask = None if low is None else P.greater_equal(x, low)
    if high is not None:
        upper = P.less_equal(x, high)
        mask = upper if mask is None else P.mul(mask, upper)
    return 1.0 if mask is None else mask


def _recorded_share_of_extremum(g, mine, other, wins):
    import operator
    if not (isinstance(mine, Node) or isinstance(other, Node)):
        return _originals["mask:share_of_extremum"](g, mine, other, wins)
    won = (P.greater if wins is operator.gt else P.less)(mine, other)
    tie = P.equal(mine, other)
    return g * (won + 0.5 * tie)


_MASK_HELPERS = {"relu_backward": _recorded_relu_backward, "positive": _recorded_positive,
                 "inside": _recorded_inside, "share_of_extremum": _recorded_share_of_extremum}


def _mask_module():
    import importlib
    for name in ("autograd_lab.ops.masks", "autograd_lab.ops.generic"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def _traced_batch_norm(*args, **kwargs):
    _ACTIVE.note(f"batch_norm at {user_line()} reads or updates running statistics outside the "
                 "recorded ops (numpy on .data)")
    return _originals["batch_norm"](*args, **kwargs)


def _state_node(tr, st, key, value, like):
    if isinstance(value, Node):
        return value
    entry = (id(st), key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        kind = "int" if isinstance(value, int) else "float"
        if isinstance(like, Value):
            node = tr.input_node(("state", st, key, kind), float(value), like=like)
        else:
            # float64, as Python computes with it (Adam's bias corrections 1 - beta ** t)
            node = tr.input_node(("state", st, key, kind), np.asarray(value, dtype=np.float64))
    elif isinstance(value, np.ndarray):
        node = tr.input_node(("state", st, key, "array"), value)
    else:
        tr.note(f"optimizer state {key!r} of type {type(value).__name__} cannot be traced")
        return value
    tr.state_out.setdefault(entry, (st, key, node, kind if not isinstance(value, np.ndarray) else "array"))
    return node


def _traced_optimizer_step(opt):
    tr = _ACTIVE
    groups = opt.param_groups
    if len({repr(g["lr"]) for g in groups}) > 1:
        # the rate is read back as opt.lr (the first group's) at every call
        tr.note("structure: parameter groups with different learning rates are not traced")
    lrs, rates = [g["lr"] for g in groups], {}
    try:
        for group in groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = opt.state.get(p)
                if st is None:
                    st = opt.state[p] = {}
                # the learning rate is read at every call (a schedule changes it between steps), in
                # the parameter's dtype, as numpy rounds a Python float where it meets an array
                kind = "float" if isinstance(p, Value) else p.data.dtype
                if kind not in rates:
                    rates[kind] = tr.input_node(("attr", opt, "lr", kind), lrs[0] if kind == "float"
                                                else np.asarray(lrs[0], dtype=kind), like=p)
                group["lr"] = rates[kind]
                _traced_update(tr, opt, p, st, group)
    finally:
        for group, lr in zip(groups, lrs):
            group["lr"] = lr


def _traced_update(tr, opt, p, st, group):
    g = p.grad
    if not isinstance(g, Node):
        g = tr.input_node(("grad", p), g, like=p)
    nodes = {key: _state_node(tr, st, key, value, p) for key, value in st.items()}
    w = tr.updates.get(p, p)
    step = opt._update(g, w, nodes, group)
    new = w - step
    tr.updates[p] = new
    for key, node in nodes.items():
        if isinstance(node, Node):
            entry = (id(st), key)
            kind = tr.state_out[entry][3] if entry in tr.state_out else "array"
            tr.state_out[entry] = (st, key, node, kind)
        st[key] = node
    if isinstance(p.data, float):
        p.data = float(new.data)
    else:
        p.data[...] = new.data         # in place, as the eager step does


class tracing:
    """Context in which `tr` records: patches the entry points above, restores them after."""

    def __init__(self, tr):
        self.tr = tr

    def __enter__(self):
        global _ACTIVE
        if _ACTIVE is not None:
            raise RuntimeError("al.compile: a compiled function was called while another one is "
                               "being traced; nesting is not supported")
        import autograd_lab as al
        _ACTIVE = self.tr
        _originals.update(backward=engine.backward, grad=engine.grad, item=Tensor.item,
                          one_hot=KS.one_hot, step=optim.Optimizer.step,
                          **{n: getattr(Value, n) for n in ("__lt__", "__le__", "__gt__", "__ge__")},
                          bool=Tensor.__bool__, tensor=al.tensor)
        engine.backward = al.backward = _traced_backward
        engine.grad = al.grad = _traced_grad
        Tensor.item = _traced_item
        Value.item = _traced_value_float
        Value.__float__ = _traced_value_float
        Tensor.__bool__ = _decision("bool")
        for n in ("__lt__", "__le__", "__gt__", "__ge__"):
            setattr(Value, n, _decision(n))
        KS.one_hot = _traced_one_hot
        masks = _mask_module()
        for name, recorded in _MASK_HELPERS.items():
            if hasattr(masks, name):
                _originals["mask:" + name] = getattr(masks, name)
                setattr(masks, name, recorded)
        al.tensor = node_module.tensor = _traced_tensor
        from ..nn import functional as nn_functional
        _originals["batch_norm"] = nn_functional.batch_norm
        nn_functional.batch_norm = _traced_batch_norm
        optim.Optimizer.step = _traced_optimizer_step
        return self.tr

    def __exit__(self, *exc):
        global _ACTIVE
        import autograd_lab as al
        engine.backward = al.backward = _originals["backward"]
        engine.grad = al.grad = _originals["grad"]
        Tensor.item = _originals["item"]
        del Value.item
        del Value.__float__
        Tensor.__bool__ = _originals["bool"]
        for n in ("__lt__", "__le__", "__gt__", "__ge__"):
            setattr(Value, n, _originals[n])
        KS.one_hot = _originals["one_hot"]
        masks = _mask_module()
        for name in _MASK_HELPERS:
            if "mask:" + name in _originals:
                setattr(masks, name, _originals.pop("mask:" + name))
        al.tensor = node_module.tensor = _originals["tensor"]
        from ..nn import functional as nn_functional
        nn_functional.batch_norm = _originals["batch_norm"]
        optim.Optimizer.step = _originals["step"]
        _ACTIVE = None
        return False


# ---- args -----------------------------------------------------------------------------------
def flatten(obj, leaves, path=()):
    """The structure of `obj` with Tensors, Values and arrays replaced by ("leaf", k)."""
    if isinstance(obj, (Node, np.ndarray)):
        leaves.append(obj)
        return ("leaf", len(leaves) - 1)
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(flatten(o, leaves) for o in obj))
    if isinstance(obj, dict):
        return ("dict", tuple((k, flatten(v, leaves)) for k, v in obj.items()))
    return ("static", obj)


def leaf_key(x):
    if isinstance(x, Tensor):
        return ("T", x.data.shape, x.data.dtype.str, x.requires_grad)
    if isinstance(x, Value):
        return ("V", x.requires_grad)
    return ("A", x.shape, x.dtype.str)


# ---- from a finished trace to IR ---------------------------------------------------------------
def _params_key(v):
    if isinstance(v, np.ndarray):
        return ("array", v.shape, v.dtype.str)
    if isinstance(v, Ref):
        return v.key()
    if isinstance(v, tuple):
        return tuple(_params_key(x) for x in v)
    if isinstance(v, np.dtype):
        return ("dtype", v.str)
    return v


def build(tr, returned, arg_leaves):
    """The IR of a finished trace: (graph, returned structure, leaf data by position)."""
    sinks = []           # (node, sink)
    leaves = []
    structure = flatten(returned, leaves)
    reads = {id(v): node for node, _, _, v in tr.reads}
    for k, leaf in enumerate(leaves):
        if isinstance(leaf, Node):
            sinks.append((leaf, ("return", k)))
    returned_numbers = _find_numbers(returned, reads)
    for k, node in returned_numbers:
        sinks.append((node, ("return_number", k)))
    for leaf in tr.grad_leaves:
        g = leaf._grad
        if isinstance(g, Node):
            sinks.append((g, ("grad", leaf)))
    for leaf, node in tr.updates.items():
        sinks.append((node, ("data", leaf)))
    for st, key, node, kind in tr.state_out.values():
        if isinstance(node, Node):
            sinks.append((node, ("state", st, key, kind)))

    for k, a in enumerate(arg_leaves):
        if isinstance(a, Node):
            tr.inputs.setdefault(a, ("arg", k))
        else:
            tr.host.setdefault(id(a), ("arg", k))

    order = engine.topological_order([n for n, _ in sinks])
    saved_of = {}
    for node in order:
        if node.op is not None and node.op.saves and isinstance(node._saved, np.ndarray):
            saved_of[id(node._saved)] = node
    ids = {}
    instrs = []
    leaf_data = {}        # instr id -> (leaf object or None, data) for reconcile

    def add(instr):
        instrs.append(instr)
        return instr.id

    saved_ids = {}

    def as_param(v):
        if isinstance(v, np.ndarray):
            owner = saved_of.get(id(v)) or (saved_of.get(id(v.base)) if v.base is not None else None)
            if owner is not None:
                if owner not in saved_ids:
                    saved_ids[owner] = add(Instr(len(instrs), "saved", inputs=(ids[owner],),
                                                 shape=owner._saved.shape, dtype=owner._saved.dtype))
                return Ref(saved_ids[owner], v.shape)
        if isinstance(v, tuple):
            return tuple(as_param(x) for x in v)
        return v

    for node in order:
        scalar = isinstance(node, Value)
        shape, dtype = (((), np.dtype(np.float64)) if scalar else (node.data.shape, node.data.dtype))
        i = len(instrs)
        if node in tr.inputs:
            ids[node] = add(Instr(i, "input", value=tr.inputs[node], shape=shape, dtype=dtype, scalar=scalar))
        elif node.op is None:
            source = tr.host.get(id(node.data)) if not scalar else None
            if source is not None and source[0] == "arg":
                ids[node] = add(Instr(i, "input", value=source, shape=shape, dtype=dtype))
            elif source is not None:
                host_op, arg_source, params = source
                arg = add(Instr(i, "input", value=arg_source, shape=tr_shape(tr, arg_source, arg_leaves),
                                dtype=arg_leaves[arg_source[1]].dtype))
                ids[node] = add(Instr(i + 1, "op", op=host_op, inputs=(arg,), params=params,
                                      shape=shape, dtype=dtype))
            elif node._meta is _CONSTANT:
                ids[node] = add(Instr(i, "const", value=node.data, shape=shape, dtype=dtype, scalar=scalar))
            else:
                ids[node] = add(Instr(i, "input", value=("leaf", node), shape=shape, dtype=dtype,
                                      scalar=scalar))
                leaf_data[ids[node]] = node
        else:
            params = {k: as_param(v) for k, v in node.params.items()}
            ids[node] = add(Instr(len(instrs), "op", op=node.op, inputs=tuple(ids[x] for x in node.inputs),
                                  params=params, shape=shape, dtype=dtype, scalar=scalar))
    outputs = [(ids[node], sink) for node, sink in sinks]
    graph = Graph(instrs, outputs)
    graph.leaf_instr = {id(node): i for node, i in ids.items() if node.op is None}
    return graph, structure, leaf_data


def tr_shape(tr, source, arg_leaves):
    return np.shape(arg_leaves[source[1]])


def _find_numbers(obj, reads, out=None, path=None):
    """Returned numbers that came from .item(): (position among returned numbers, node)."""
    out = [] if out is None else out
    numbers = []
    _collect_numbers(obj, numbers)
    for k, x in enumerate(numbers):
        node = reads.get(id(x))
        if node is not None:
            out.append((k, node))
    return out


def _collect_numbers(obj, numbers):
    if isinstance(obj, (list, tuple)):
        for o in obj:
            _collect_numbers(o, numbers)
    elif isinstance(obj, dict):
        for o in obj.values():
            _collect_numbers(o, numbers)
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        numbers.append(obj)


def signature(graph, structure):
    """What must be equal for two traces to be the same program."""
    rows = []
    for ins in graph.instrs:
        if ins.kind == "input":
            d = ins.value
            desc = (d[0],) + tuple(id(x) if isinstance(x, (Node, dict)) else x for x in d[1:])
            if d[0] == "leaf":
                desc = ("leaf",)
        elif ins.kind == "op":
            desc = (ins.op.name, tuple([(k, _params_key(v)) for k, v in ins.params.items()])
                    if ins.params else ())
        else:
            desc = ()
        rows.append((ins.kind, desc, ins.inputs, ins.shape, ins.dtype))
    where = getattr(graph, "leaf_instr", {})

    def ref(x):     # a leaf by its place in the program (made-inside leaves differ by identity)
        if isinstance(x, Node):
            return ("leaf at", where[id(x)]) if id(x) in where else id(x)
        return id(x) if isinstance(x, dict) else x
    sinks = tuple((i, tuple(ref(x) for x in s)) for i, s in graph.outputs)
    return rows, sinks, repr(structure_shape(structure))


def structure_shape(structure):
    if structure[0] == "static":
        v = structure[1]
        return ("static", type(v).__name__) if isinstance(v, (int, float)) else structure
    if structure[0] == "leaf":
        return structure
    if structure[0] == "dict":
        return ("dict", tuple((k, structure_shape(v)) for k, v in structure[1]))
    return (structure[0], tuple(structure_shape(s) for s in structure[1]))


def _equal_data(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (a != a and b != b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)


def _equal_param(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and _equal_data(a, b)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_equal_param(x, y) for x, y in zip(a, b))
    if isinstance(a, Ref):
        return isinstance(b, Ref) and a.key() == b.key()
    return a == b


def reconcile(first, second):
    """(graph, None) if two traces (graph, structure, leaf_data) are one program, else (None, reason).

    A reason that starts with "structure:" may go away in a later trace (an optimizer's
    state appears on its first step); any other one will not.

    Leaves that are the same objects in both are inputs read at every call;
    leaves made inside the function and constants must hold equal data in both.
    """
    (g1, s1, leaves1), (g2, s2, leaves2) = first, second
    sig1, sig2 = signature(g1, s1), signature(g2, s2)
    if sig1 != sig2:
        rows1, rows2 = sig1[0], sig2[0]
        for r1, r2, ins in zip(rows1, rows2, g2.instrs):
            if r1 != r2:
                return None, (f"structure: the function records different operations on each call (first at "
                              f"{ins.name}): data-dependent Python control flow")
        if len(rows1) != len(rows2):
            return None, "structure: the function records a different number of operations on each call"
        return None, "structure: the function's outputs or updates differ between calls"
    instrs, made_inside = [], set()
    for a, b in zip(g1.instrs, g2.instrs):
        if a.kind == "input" and a.value[0] == "leaf":
            x, y = leaves1[a.id], leaves2[b.id]
            if x is y:
                b = b.copy(value=("data", y))
            elif _equal_data(x.data, y.data):
                b = b.copy(kind="const", value=y.data)
                made_inside.add(id(y))
            else:
                return None, ("a tensor made inside the function holds different data on each call "
                              f"(shape {b.shape}): pass such data as an argument")
        elif a.kind == "const" and not _equal_data(a.value, b.value):
            return None, (f"a constant of shape {b.shape} changes between calls: it is computed from "
                          "data outside the recorded ops (.data, numpy)")
        elif a.kind == "op":
            for k in a.params:
                if not _equal_param(a.params[k], b.params[k]):
                    return None, (f"param {k!r} of {a.op.name} changes between calls: it is computed "
                                  "from data outside the recorded ops")
        instrs.append(b)
    # gradients of leaves made inside the function reach nothing the caller can see
    outputs = [(i, s) for i, s in g2.outputs if not (s[0] == "grad" and id(s[1]) in made_inside)]
    return Graph(instrs, outputs), None
