"""The gradient that flows along every edge, read from the engine's one reverse walk.

Drawings, the stepper and the viewer read d(root)/d(node) at every node and the share
sent along every edge from here; `core.engine.backward_steps` is the walk that backward()
runs too, so a picture shows what backward computes. An error in a rule propagates: a
picture never hides it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.engine import backward_steps, local_derivative
from ..core.node import Node


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
    """d(root)/d(every node) and the share sent along every edge, from the engine's walk.

    Returns None when root is not a single number that requires grad (no chain rule to show).
    """
    if np.size(root.data) != 1 or not root.requires_grad:
        return None
    grads, edges, order = {}, {}, []
    for step in backward_steps(root):
        node = step.node
        grads[node] = step.grad
        order.append(node)
        for c in step.contributions:
            local = None
            if np.size(c.input.data) == 1 and np.size(node.data) == 1:
                local = float(np.sum(local_derivative(node, c.position)))
            edges[(node, c.position)] = (local, c.value)
    return Flow(grads, edges, order)
