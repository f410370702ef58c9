"""The gradient that flows along every edge, from the op rules, without touching `.grad`.

Drawings, the stepper and the viewer read d(root)/d(node) at every node and the share
sent along every edge from here. An error in a rule propagates: a picture never hides it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.engine import topological_order
from ..core.node import Node, Tensor, Value
from ..core.state import no_grad
from ..ops import generic as F


@dataclass
class Flow:
    grads: dict          # node -> d root / d node (raw)
    edges: dict          # (node, input position) -> (local derivative or None, contribution)
    order: list          # the nodes in the order the reverse walk completes them (root first)


def norm(a) -> float:
    if a is None:
        return 0.0
    a = np.asarray(a.data if isinstance(a, Node) else a, dtype=np.float64)
    return float(np.sqrt(np.sum(a * a)))


def backward_flow(root) -> Flow | None:
    """d(root)/d(every node) and the share sent along every edge, by the op rules.

    Returns None when root is not a single number that requires grad (no chain rule to show).
    """
    if np.size(root.data) != 1 or not root.requires_grad:
        return None
    order = topological_order(root, requires_grad_only=True)
    seed = 1.0 if isinstance(root, Value) else np.ones_like(root.data)
    grads, edges, walked = {root: seed}, {}, []
    with no_grad():
        for node in reversed(order):
            g = grads.get(node)
            if g is None:
                continue
            walked.append(node)
            if node.op is None:
                continue
            args = [x.data for x in node.inputs]
            params = dict(node.params)
            if node.op.saves:
                if not isinstance(node._saved, np.ndarray):
                    # backward() released what this op saved: fall back on the gradients
                    # the engine stored (exact when the input has no other consumer)
                    for i, x in enumerate(node.inputs):
                        if x.requires_grad and x.grad is not None:
                            edges[(node, i)] = (None, x.grad)
                            grads[x] = x.grad
                    continue
                params["saved"] = node._saved
            for i, x in enumerate(node.inputs):
                rule = node.op.vjp(i)
                if rule is None or not x.requires_grad:
                    continue
                share = rule(g, node.data, *args, **params)
                if isinstance(x, Tensor) and np.shape(share) != x.shape:
                    share = F.sum_to(share, x.shape)
                local = None
                if np.size(x.data) == 1 and np.size(node.data) == 1:
                    one = 1.0 if isinstance(node, Value) else np.ones_like(node.data)
                    local = float(np.asarray(rule(one, node.data, *args, **params)).sum())
                edges[(node, i)] = (local, share)
                grads[x] = share if x not in grads else grads[x] + share
    return Flow(grads, edges, walked)
