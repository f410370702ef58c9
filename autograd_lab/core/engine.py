"""The engine: record an op (`record`, `apply`) and walk the graph backwards.

Forward: `apply` runs an op's forward on the inputs' raw data and returns a new
node that remembers the op, its params and its inputs. (An op called on raw
data only evaluates: see `core/op.py`.)

Backward: one reverse walk over the graph in topological order, `_walk`. Each
node's gradient is complete when the walk reaches it; the op's gradient rule
for each input turns it into that input's share (its contribution), which is
summed back to the input's shape (broadcasting undone centrally, `sum_to`) and
added up over all paths. This is the only place that calls gradient rules.
Everything that needs gradients reads this walk:

  * `backward` accumulates every node's gradient into `.grad`;
  * `grad` returns the gradients of the nodes asked for;
  * `backward_steps` hands each node, its gradient and its contributions to the
    drawings, `al.explain` and the step-by-step page.

Rules run on raw numpy arrays / floats in a plain walk (nothing is recorded),
and on graph nodes with `create_graph=True`, so that the backward pass is
recorded like any forward computation (grad of grad, drawable).

All walks are loops over an explicit stack: no recursion, any depth.
"""
from __future__ import annotations

import math
import os
import sys
from typing import NamedTuple

import numpy as np

from .errors import AnomalyError, GraphFreedError, ShapeError
from .node import _NO_PARAMS, Node, Tensor, Value
from .shapes import sum_to
from .state import state

# A non-leaf node whose backward has run without retain_graph holds this in _saved.
_RELEASED = object()

# A plain backward() gives back the value (and does not keep the gradient) of every inner
# Tensor of at least this many bytes that only the graph refers to, once the walk is past
# it: as PyTorch frees what its graph saved. Without this a training loop holds the last
# step's whole graph (every activation and every gradient) while it builds the next one,
# which doubled the audio CNN's peak memory (docs/performance.md). Small graphs, the ones
# that get drawn and inspected, are never touched; walks that need a released value
# (drawings, explain, al.topological_order) compute it again from the inputs.
RELEASE_BYTES = 256 * 1024
_released_count = 0         # nodes released so far: walks look for released values only if > 0


# ---------------------------------------------------------------------------
# forward: recording one op
# ---------------------------------------------------------------------------
def record(op, args, params):
    """Record `op` on `args`, some of them nodes: lift numbers / arrays to constant nodes, then `apply`."""
    for a in args:
        if a.__class__ is not Tensor:
            break
    else:                  # all Tensors already, the common case: nothing to lift or check
        return apply(op, args, params or _NO_PARAMS)
    like = None
    for a in args:
        if isinstance(a, Node):
            if like is None or (like.dtype.kind not in "fc" and a.dtype.kind in "fc"):
                like = a
    cls = Tensor if like is None else like.__class__
    inputs = []
    for a in args:
        if a.__class__ is cls:
            inputs.append(a)
        elif isinstance(a, Node):
            raise TypeError(f"{op.name}: cannot mix {type(a).__name__} and {cls.__name__} inputs")
        else:
            inputs.append(cls._lift(a, like))
    return apply(op, tuple(inputs), params or _NO_PARAMS)


def apply(op, inputs: tuple, params: dict = _NO_PARAMS):
    """Run `op` on the inputs' data and return the result node (recorded if grad mode is on)."""
    first = inputs[0]
    cls = first.__class__
    forward = op.value_forward if cls is Value else op.forward
    n = len(inputs)
    try:   # one- and two-input ops are nearly all calls: spare them a list
        if params:
            data = forward(*[x.data for x in inputs], **params)
        elif n == 2:
            data = forward(first.data, inputs[1].data)
        elif n == 1:
            data = forward(first.data)
        else:
            data = forward(*[x.data for x in inputs])
    except (ValueError, IndexError, TypeError, ZeroDivisionError, OverflowError) as exc:
        raise forward_error(op, inputs, params, exc) from None
    saved = None
    if op.saves:
        data, saved = data
    if cls is Tensor:
        if data.__class__ is not np.ndarray:
            data = np.asarray(data)      # numpy hands back scalars for 0-d results
    elif data.__class__ is not float:
        data = float(data)

    out = cls.__new__(cls)
    out.data = data
    out._grad = cls._grad_start
    out.name = None
    out._saved = None
    if state.grad_enabled:
        out.op = op
        out.inputs = inputs
        out.params = params
        if not op.differentiable:
            out.requires_grad = False
        elif n == 2:
            out.requires_grad = first.requires_grad or inputs[1].requires_grad
        else:
            out.requires_grad = any(x.requires_grad for x in inputs)
        if saved is not None and out.requires_grad:
            out._saved = saved           # kept only while a backward pass may need it
    else:
        out.op = None
        out.inputs = ()
        out.params = _NO_PARAMS
        out.requires_grad = False
    if state.meta_active:
        out._meta = _make_meta()
        if state.anomaly:
            _check_finite_forward(out, op, inputs)
    else:
        out._meta = None
    return out


def forward_error(op, inputs, params, exc):
    """The forward's exception, re-raised with the op's name, the input shapes and params."""
    shapes = ", ".join(str(np.shape(getattr(x, "data", x))) for x in inputs)
    described = f"{op.name}: input shapes {shapes}"
    if params:
        described += " with " + ", ".join(f"{k}={v!r}" for k, v in params.items())
    if isinstance(exc, ValueError) and any(x.__class__ in (Tensor, np.ndarray) for x in inputs):
        return ShapeError(f"{described}: {exc}")
    return type(exc)(f"{described}: {exc}")


# ---------------------------------------------------------------------------
# node metadata: module scope, backward-pass marker, creation site
# ---------------------------------------------------------------------------
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _user_frame_location() -> str:
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not os.path.abspath(filename).startswith(_PACKAGE_DIR):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return "<unknown>"


def _make_meta() -> dict:
    meta = {}
    if state.scope is not None:   # (path, module type name, module) of the innermost call
        meta["scope"] = state.scope[0]
        meta["module"] = state.scope[1]
    if state.in_backward:
        meta["backward"] = True
    if state.anomaly:
        meta["where"] = _user_frame_location()
    return meta


def _nonfinite_kind(data):
    if isinstance(data, float):
        return None if math.isfinite(data) else ("nan" if math.isnan(data) else "inf")
    arr = np.asarray(data)
    if arr.dtype.kind not in "fc" or np.isfinite(arr).all():
        return None
    return "nan" if np.isnan(arr).any() else "inf"


def _check_finite_forward(out, op, inputs):
    kind = _nonfinite_kind(out.data)
    if kind is None:
        return
    bad_inputs = [i for i, x in enumerate(inputs) if _nonfinite_kind(x.data)]
    note = f" (input {bad_inputs[0]} already contained non-finite values)" if bad_inputs else ""
    raise AnomalyError(f"{op.name} produced {kind} in forward, at {out.created_at}{note}")


# ---------------------------------------------------------------------------
# graph walks
# ---------------------------------------------------------------------------
def _as_list(x):
    if isinstance(x, Node):
        return [x]
    return list(x)


def topological_order(roots, requires_grad_only: bool = False) -> list:
    """Every node that `roots` depend on, each after all of its inputs.

    Iterative depth-first search: any depth works (no recursion limit).

    >>> import autograd_lab as al
    >>> a = al.Value(2.0, label="a"); b = a * 3; c = b + a
    >>> [n.label or n.op_name or n.data for n in al.topological_order(c)]
    ['a', 3.0, 'mul', 'add']
    """
    order = []
    seen = set()
    for root in _as_list(roots):
        if root in seen or (requires_grad_only and not root.requires_grad):
            continue
        seen.add(root)
        stack = [(root, iter(root.inputs))]
        while stack:
            node, pending = stack[-1]
            for child in pending:
                if child not in seen and (child.requires_grad or not requires_grad_only):
                    seen.add(child)
                    stack.append((child, iter(child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    if _released_count:
        _restore_values(order)
    return order


def _restore_values(order):
    """Compute again the values a plain backward() released (inputs come first in `order`)."""
    for node in order:
        if node.data is None and node.op is not None:
            out = node.op.forward(*[x.data for x in node.inputs], **node.params)
            node.data = out[0] if node.op.saves else out


def _release_candidates(order):
    """How many times the graph's nodes refer to each inner Tensor big enough to release."""
    # one test per node first: graphs of small tensors (most of them) skip the edge count
    big = [n for n in order if n.__class__ is Tensor and n.op is not None and n.data.nbytes >= RELEASE_BYTES]
    if not big:
        return None
    uses = dict.fromkeys(big, 0)
    for node in order:
        for x in node.inputs:
            if x in uses:
                uses[x] += 1
    return uses


def _probe_graph_only_references():
    """References to a node that only the graph holds, as counted in `_walk`'s check.

    Measured, like `_ONLY_OURS`: the node in `order`, as a key of the `uses` dict, in
    the loop's variable, and in the call's argument (interpreters count these differently).
    """
    def walk():
        thing = object()
        order = [thing]
        uses = {thing: 0}
        thing = None
        for node in reversed(order):
            yield _references(node) - uses[node]
    return next(walk())


# ---------------------------------------------------------------------------
# backward: the one reverse walk
# ---------------------------------------------------------------------------
def _seed(root, grad, create_graph):
    """The gradient of `root` with respect to itself (or the user's `grad`)."""
    if grad is None:
        if root.__class__ is Tensor and root.data.size != 1:
            raise RuntimeError(
                f"backward(): the output has shape {root.shape}; gradients start from a "
                f"scalar. Reduce it first (e.g. .sum()), or pass grad= an array of shape {root.shape}")
        seed = 1.0 if root.__class__ is Value else np.ones_like(root.data)
    else:
        if isinstance(grad, Node):
            seed = grad if create_graph else grad.data
        elif root.__class__ is Value:
            seed = float(grad)
        else:
            seed = np.asarray(grad, dtype=root.data.dtype)
        if root.__class__ is Tensor and tuple(np.shape(seed.data if isinstance(seed, Node) else seed)) != root.shape:
            raise ShapeError(f"backward(): grad has shape {np.shape(getattr(seed, 'data', seed))}, "
                             f"the output has shape {root.shape}")
    if create_graph and not isinstance(seed, Node):
        seed = root._new_leaf(seed)
    return seed


class Contribution(NamedTuple):
    """What one node sends back to one of its inputs: `value` = the rule applied to the node's gradient."""
    position: int      # which input of the node (a node may use the same input twice)
    input: Node
    value: object      # d root / d node, times d node / d input; already of the input's shape


class BackwardStep(NamedTuple):
    """One node reached by the reverse walk, once its gradient is complete."""
    node: Node
    grad: object                 # d root / d node, summed over every path from the root
    contributions: tuple         # Contribution per input that takes a gradient (none for a leaf)


_NO_CONTRIBUTIONS = ()


def _walk(roots, seeds, *, create_graph, retain_graph, strict, contributions, accumulate=False):
    """The reverse walk that every consumer of gradients reads (see `backward_steps`).

    Yields (node, grad, contributions) in reverse topological order, each node
    once, when its gradient is complete. `contributions` is a tuple of
    `Contribution`s when asked for, else empty (backward() needs none, and
    building them costs a tuple per edge). `strict`: a node whose saved state a
    previous backward() released raises GraphFreedError; otherwise (the drawings
    and explain) an op that saves state has its forward run again to get it back.
    """
    order = topological_order(roots, requires_grad_only=True)
    # what to release once the walk is past it (see RELEASE_BYTES); a node the user holds
    # (or another graph uses) has more references than the graph's own and is kept
    uses = _release_candidates(order) if strict and not retain_graph and not create_graph else None
    grads = {}
    for root, seed in zip(roots, seeds):
        grads[root] = seed if root not in grads else grads[root] + seed
    root = seed = None               # no stray reference to a seed array (see _ONLY_OURS)
    anomaly = state.anomaly
    if create_graph:
        saved_mode = (state.grad_enabled, state.in_backward)
        state.grad_enabled, state.in_backward = True, True
        state.refresh()
    pop = grads.pop
    try:
        for node in reversed(order):
            g = pop(node, None)
            if g is None:
                continue
            op = node.op
            if op is None:
                if not accumulate:
                    yield node, g, _NO_CONTRIBUTIONS
                elif node._grad.__class__ is float and g.__class__ is float:
                    node._grad += g            # al.Value's plain pass: the hot path
                else:
                    _accumulate(node, g, create_graph)
                continue
            inputs = node.inputs
            if create_graph:
                args, out = inputs, node
            elif len(inputs) == 2:
                args, out = (inputs[0].data, inputs[1].data), node.data
            else:
                args, out = [x.data for x in inputs], node.data
            params = node.params
            if node._saved is _RELEASED and (strict or op.saves):
                _released(node, strict)
            if op.saves:
                params = dict(params, saved=node._saved)
            rules = op.vjps if op.variadic_vjp is None else None
            shares = [] if contributions else None
            for i, x in enumerate(inputs):
                if not x.requires_grad:
                    continue
                rule = rules[i] if rules is not None else op.variadic_vjp(i)
                if rule is None:
                    continue
                gi = rule(g, out, *args, **params) if params else rule(g, out, *args)
                if x.__class__ is Tensor and gi.shape != x.data.shape:
                    gi = sum_to(gi, x.data.shape)
                if anomaly:
                    _check_finite_backward(gi, node, i)
                if shares is not None:
                    shares.append(Contribution(i, x, gi))
                prev = grads.get(x)
                grads[x] = gi if prev is None else prev + gi
            gi = prev = args = None    # no stray reference: backward() may adopt arrays only grads holds
            if not retain_graph:
                node._saved = _RELEASED
                if uses and node in uses and _references(node) - uses[node] <= _GRAPH_ONLY:
                    _release_value(node)
            if not accumulate:
                yield node, g, (_NO_CONTRIBUTIONS if shares is None else tuple(shares))
                shares = None
            elif node._grad is None and g.__class__ is np.ndarray:
                if node.data is not None:      # (a released node keeps no gradient)
                    node._grad = g             # an inner Tensor's plain pass: kept as it is
            elif node._grad.__class__ is float and g.__class__ is float:
                node._grad += g                # al.Value's plain pass: the hot path
            else:
                _accumulate(node, g, create_graph)
    finally:
        if create_graph:
            state.grad_enabled, state.in_backward = saved_mode
            state.refresh()


def _release_value(node):
    global _released_count
    node.data = None           # its gradient is not kept either (_accumulating_pass)
    _released_count += 1


def _released(node, strict):
    """A previous backward() released this node's saved state: raise, or run its forward again."""
    if strict:
        raise GraphFreedError(
            f"backward through the graph a second time (at op {node.op.name}): its saved "
            "state was released by the first backward(). Pass retain_graph=True to "
            "the first call if you need to go backward twice.")
    forward = node.op.value_forward if node.__class__ is Value else node.op.forward
    node._saved = forward(*[x.data for x in node.inputs], **node.params)[1]


def backward_steps(root, grad=None):
    """Walk back from `root` once, as backward() does, and yield what happens at each node.

    The same walk as `backward` and `grad` (one place calls gradient rules), on
    raw data, recording nothing, leaving `.grad` untouched and releasing
    nothing: for drawings, `al.explain` and the step-by-step page. Yields a
    `BackwardStep(node, grad, contributions)` per node that `root` depends on
    through inputs that require grad, in the order the walk reaches them (each
    node's gradient complete); `contributions` has one
    `Contribution(position, input, value)` per input that takes a gradient.
    Works after `backward()` too: state it released is computed again.

    >>> import autograd_lab as al
    >>> a = al.Value(2.0, label="a"); b = al.Value(-3.0, label="b")
    >>> for step in backward_steps(a * b + a):
    ...     print(step.node.op_name or step.node.label, step.grad,
    ...           [(c.position, c.value) for c in step.contributions])
    add 1.0 [(0, 1.0), (1, 1.0)]
    mul 1.0 [(0, -3.0), (1, 2.0)]
    b 2.0 []
    a -2.0 []
    """
    if not root.requires_grad:
        return
    seed = _seed(root, grad, False)
    # rules get raw data here, so the ops they call only compute: nothing is recorded
    for node, g, shares in _walk([root], [seed], create_graph=False, retain_graph=True,
                                 strict=False, contributions=True):
        yield BackwardStep(node, g, shares)


def local_derivative(node, position):
    """d node / d node.inputs[position], on raw data: the rule applied to a gradient of ones.

    For scalar nodes this is the number on the edge of a chain-rule picture; for
    arrays it is the rule's result for g = 1 (a vector-Jacobian product with ones).
    None when no gradient flows to that input.

    >>> import autograd_lab as al
    >>> x = al.Value(3.0); y = x * x
    >>> local_derivative(y, 0)
    3.0
    """
    op = node.op
    rule = op.vjp(position)
    if rule is None:
        return None
    params = node.params
    if op.saves:
        if node._saved is _RELEASED or node._saved is None:
            _released(node, strict=False)
        params = dict(params, saved=node._saved)
    one = 1.0 if node.__class__ is Value else np.ones_like(node.data)
    return rule(one, node.data, *[x.data for x in node.inputs], **params)


def _accumulating_pass(roots, seeds, *, retain_graph, create_graph):
    """backward(): the walk adds each node's complete gradient into its `.grad` as it goes
    (`accumulate=True`: the same walk, without a yield and a tuple per node, which cost
    5% of W5's backward pass)."""
    for _ in _walk(roots, seeds, create_graph=create_graph, retain_graph=retain_graph,
                   strict=True, contributions=False, accumulate=True):
        pass


def _capturing_pass(roots, seeds, capture, *, retain_graph, create_graph):
    """grad(): read the walk, keep the complete gradients of the nodes in `capture`."""
    captured = {}
    for node, g, _ in _walk(roots, seeds, create_graph=create_graph, retain_graph=retain_graph,
                            strict=True, contributions=False):
        if node in capture:
            captured[node] = g
    return captured


def _references(g):
    return sys.getrefcount(g)


def _probe_references():
    """How many references an array has in `_accumulate` when the backward pass holds the only one.

    Measured rather than assumed: the same path as a gradient's in `_walk` (popped from
    a dict into the walk's local, handed to a function), with a fresh array, so the
    count follows the interpreter's own conventions.
    """
    grads = {0: np.empty(1)}
    g = grads.pop(0)
    return _as_in_accumulate(g)


def _as_in_accumulate(g):
    return _references(g)


_ONLY_OURS = _probe_references()
_GRAPH_ONLY = _probe_graph_only_references()


def _accumulate(node, g, create_graph):
    """Add `g` into node.grad (a new object each time: grads are never modified in place)."""
    cur = node._grad
    if cur is None or (cur.__class__ is float and cur == 0.0 and not isinstance(g, float)):
        # A leaf gets its own writable array. Rules may hand the same array to
        # several inputs, or return a view or a buffer held elsewhere: those are
        # copied. A fresh result that nothing else refers to (a weight gradient
        # from a matrix product) is taken as it is: copying W2's first weight
        # gradient cost 30 µs of a 750 µs step.
        if node.op is None and g.__class__ is np.ndarray and not (
                g.base is None and g.flags.writeable and _references(g) <= _ONLY_OURS):
            g = np.array(g)
        elif node.__class__ is Tensor and not create_graph and g.__class__ is not np.ndarray:
            g = np.asarray(g)
        node._grad = g
    else:
        node._grad = cur + g


def _check_finite_backward(gi, node, i):
    kind = _nonfinite_kind(gi.data if isinstance(gi, Node) else gi)
    if kind is not None:
        raise AnomalyError(f"backward of {node.op.name} produced {kind} in the gradient of "
                           f"input {i}; that node was created at {node.created_at}")


def backward(root, grad=None, retain_graph=False, create_graph=False):
    """Accumulate d(root)/d(node) into `.grad` of every node that requires grad.

    `grad` is needed when root is not a scalar (it is the vector of the
    vector-Jacobian product). Without `retain_graph`, a second backward through
    the same graph raises. With `create_graph`, the gradients are themselves
    recorded graph nodes (Tensors / Values), so they can be differentiated.
    """
    if not root.requires_grad:
        raise RuntimeError(
            "backward(): this result does not require grad. Give an input "
            "requires_grad=True (Tensors default to False), and do not compute it under no_grad().")
    seed = _seed(root, grad, create_graph)
    _accumulating_pass([root], [seed], retain_graph=retain_graph or create_graph,
                       create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None,
         allow_unused=False) -> tuple:
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated).

    >>> import autograd_lab as al
    >>> x = al.tensor(3.0, requires_grad=True)
    >>> (dy,) = al.grad(x ** 3, x, create_graph=True)       # 3x^2 = 27
    >>> (d2y,) = al.grad(dy, x)                             # 6x = 18
    >>> float(dy.data), float(d2y.data)
    (27.0, 18.0)
    """
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, (list, tuple)):
        grad_outputs = list(grad_outputs)
    else:
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"al.grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for k, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(f"al.grad: output {k} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    seeds = [_seed(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    captured = _capturing_pass(outputs, seeds, set(inputs), retain_graph=retain_graph,
                               create_graph=create_graph)
    result = []
    for k, x in enumerate(inputs):
        g = captured.get(x)
        if g is None:
            if not allow_unused:
                what = f"{x.name!r}" if x.name else f"of shape {x.shape}"
                raise ValueError(
                    f"al.grad: input {k} ({what}) is not part of the graph of the outputs "
                    "(or does not require grad); pass allow_unused=True to get None for it")
            result.append(None)
        elif isinstance(g, Node):
            if create_graph and not g.requires_grad and x.requires_grad:
                g = _constant_of(g, x)   # constant in x (a linear op's gradient): its derivative is 0
            result.append(g)
        else:
            result.append(x._new_leaf(g))
    return tuple(result)


def _constant_of(g, x):
    from .op import constant_of      # op.py imports this module: imported on use
    return constant_of(g, x)
