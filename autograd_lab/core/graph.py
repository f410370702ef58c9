"""The graph as data: export to networkx, with values and gradients summarised."""
from __future__ import annotations

import numpy as np

from .engine import topological_order
from .node import Node


def summarize(x, max_elements: int = 16):
    """A printable view of a value or gradient: small arrays whole, large ones as statistics."""
    if x is None:
        return None
    if isinstance(x, Node):
        x = x.data
    if isinstance(x, (float, int)):
        return float(x)
    arr = np.asarray(x)
    if arr.size <= max_elements:
        return arr.tolist()
    finite = arr[np.isfinite(arr)] if arr.dtype.kind in "fc" else arr
    if finite.size == 0:
        return {"size": int(arr.size), "finite": 0}
    return {"min": float(finite.min()), "max": float(finite.max()),
            "mean": float(finite.mean()), "std": float(finite.std()),
            "norm": float(np.linalg.norm(finite.astype(np.float64).ravel()))}


def to_networkx(root, max_elements: int = 16):
    """The graph that produced `root` as a `networkx.DiGraph`.

    Nodes are numbered in topological order; their attributes are op, params,
    shape, dtype, name, is_leaf, requires_grad, is_parameter, value, grad,
    from_backward and scope. Edges run from input to result, with the input
    positions they fill.

    >>> import autograd_lab as al
    >>> a = al.Value(2.0, label="a"); b = al.Value(-3.0, label="b")
    >>> G = al.to_networkx(a * b)
    >>> [G.nodes[n]["op"] for n in G], G.number_of_edges()
    ([None, None, 'mul'], 2)
    """
    import networkx as nx

    order = topological_order(root)
    ids = {node: i for i, node in enumerate(order)}
    graph = nx.DiGraph()
    for node, i in ids.items():
        graph.add_node(
            i, op=node.op_name, params=dict(node.params), shape=tuple(node.shape),
            dtype=str(node.dtype), name=node.name, is_leaf=node.is_leaf,
            requires_grad=node.requires_grad,
            is_parameter=node.is_leaf and node.requires_grad,
            value=summarize(node.data, max_elements), grad=summarize(node.grad, max_elements),
            from_backward=node.from_backward, scope=node.scope)
    for node, i in ids.items():
        for position, x in enumerate(node.inputs):
            j = ids[x]
            if graph.has_edge(j, i):
                graph.edges[j, i]["input_index"] += (position,)
            else:
                graph.add_edge(j, i, input_index=(position,))
    return graph
