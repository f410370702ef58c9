"""What each node is called and what kind of node it is, in every picture and in `explain`.

Kinds of leaves (the documented rule, docs/drawing.md):
- *parameter*: a leaf that a module owns (an `nn.Module` parameter, the weights and bias
  of `al.nn.Neuron`), or a Tensor leaf made with `requires_grad=True`;
- *input*: any other leaf with a name or with more than one element, and an `al.Value`
  leaf made from data (it has a gradient, which is drawn, but nobody trains it);
- *constant*: an unnamed number, or an array an op lifted from a Python number or array.

Names: a node's own name (`label=` / `name=`) first. A nameless node is named from its
expression when that is short (`a*b`, `tanh(h)`), else from where it sits: inside a
neuron of a scalar network `L1.n3.add2` (the second add of neuron 3 of layer 1), inside a
module call `Sequential.0.conv2d`, elsewhere its op and its place among the ops of that
kind (`add2`). A name used twice (the same neuron called on two samples) gets `#2`, `#3`.
Unnamed constants are named by their value (arrays: `const0`, ...), unnamed inputs `x0`, `x1`, ...
"""
from __future__ import annotations

import numpy as np

from ..core.node import Value

MAX_EXPRESSION = 20          # longer expressions fall back on a positional name
_INFIX = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "matmul": "@"}


def is_parameter(node) -> bool:
    meta = node._meta or {}
    if meta.get("parameter"):
        return True
    return not isinstance(node, Value) and node.requires_grad and not meta.get("constant")


def kind_of(node, root) -> str:
    """output, backward, parameter, input, constant or value (see the module docstring)."""
    if node is root:
        return "output"
    if node.from_backward:
        return "backward"
    if not node.is_leaf:
        return "value"
    if is_parameter(node):
        return "parameter"
    if node.name is None and (np.size(node.data) == 1 or (node._meta or {}).get("constant")) \
            and not (isinstance(node, Value) and node.requires_grad):
        return "constant"
    return "input"


def neuron_of(node):
    """The neuron ("L1.n3") whose output this node is, for scalar networks (al.nn.Neuron)."""
    return None if node._meta is None else node._meta.get("neuron")


def groups_of(nodes) -> dict:
    """node -> its group: the innermost module call (scope) or, in scalar networks, the neuron
    call it belongs to. A neuron call is its output plus the ops behind it back to the leaves
    and to other neurons' outputs; two calls of one neuron are two groups ("L1.n3#2")."""
    group, seen = {}, {}
    for node in nodes:
        if node.scope and not node.is_leaf:
            group[node] = node.scope
    for node in reversed(nodes):                 # outputs first, then walk back into the call
        base = neuron_of(node)
        if base is None or node in group:
            continue
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}#{seen[base]}"
        stack = [node]
        while stack:
            n = stack.pop()
            if n in group or n.is_leaf or (n is not node and neuron_of(n) is not None):
                continue
            group[n] = name
            stack.extend(n.inputs)
    return group


def _number(x) -> str:
    x = float(np.asarray(x).reshape(-1)[0])
    return str(int(x)) if x.is_integer() and abs(x) < 1e6 else f"{x:.4g}"


_PRECEDENCE = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2, "pow": 3}


def _operand(x, name: str, op: str, right=False) -> str:
    """`name` as an operand of `op`, in brackets only where precedence needs them."""
    inner = x.op.name if x.op is not None and x.name is None and x.op.name in _INFIX else None
    if inner is None:
        needs = name.startswith("-") and right
    else:
        needs = _PRECEDENCE[inner] < _PRECEDENCE[op] or (
            right and _PRECEDENCE[inner] == _PRECEDENCE[op] and op in ("sub", "div", "pow")) or (
            not right and op == "pow" and inner == "pow")
    return f"({name})" if needs else name


def node_names(nodes, groups=None) -> dict:
    """node -> a name that teaches (see the module docstring); `nodes` in topological order."""
    groups = groups_of(nodes) if groups is None else groups
    users = {}                               # leaf -> the groups that consume it
    for node in nodes:
        for x in node.inputs:
            if x.is_leaf:
                users.setdefault(x, set()).add(groups.get(node))
    names, used, counters, inputs, constants = {}, {}, {}, 0, 0
    for node in nodes:
        name = node.name
        owner = users.get(node, {None})
        if name is not None and node.is_leaf and "." not in name and len(owner) == 1 \
                and None not in owner and is_parameter(node):
            name = f"{next(iter(owner))}.{name}"     # a module's "weight" -> "Sequential.0.weight"
        if name is None and node.is_leaf:
            if np.size(node.data) == 1 and not (isinstance(node, Value) and node.requires_grad):
                name = _number(node.data)
            elif (node._meta or {}).get("constant"):
                name, constants = f"const{constants}", constants + 1    # an array an op lifted
            else:
                name, inputs = f"x{inputs}", inputs + 1
        elif name is None and neuron_of(node) and node in groups:
            name = groups[node]                      # a neuron's output is called by its neuron
        elif name is None:
            name = _expression(node, names)
            if name is None or len(name) > MAX_EXPRESSION:
                place = groups.get(node) or node.scope or ""
                key = (place, node.op.name)
                counters[key] = counters.get(key, 0) + 1
                name = f"{place}.{node.op.name}" if place else node.op.name
                module = node.scope is not None and groups.get(node) == node.scope
                if not (module and counters[key] == 1):      # Sequential.0.conv2d, L1.n0.add1, add1
                    name += str(counters[key])
        if name in used and not (node.is_leaf and node.name is None):   # numbers may repeat
            used[name] += 1
            name = f"{name}#{used[name]}"
        used.setdefault(name, 1)
        names[node] = name
    return names


def _expression(node, names):
    op = node.op
    args = [names[x] for x in node.inputs]
    if len(args) == 2 and op.name in _INFIX:
        a, b = node.inputs
        return f"{_operand(a, args[0], op.name)}{_INFIX[op.name]}{_operand(b, args[1], op.name, right=True)}"
    if len(args) == 1:                # sum(h) even with its axis: the params show on the op node
        x = node.inputs[0]
        wrap = x.name is None and x.op is not None and x.op.name in _INFIX
        return (f"-({args[0]})" if wrap else f"-{args[0]}") if op.name == "neg" else f"{op.name}({args[0]})"
    return None
