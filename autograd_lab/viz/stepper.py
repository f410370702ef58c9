"""Backpropagation, step by step, as one self-contained HTML page (the viewer with steps).

Step 0 is the forward pass alone: every gradient is hidden ("grad ?"). Each step reaches
one node, whose gradient is then complete: it fills that gradient in, shows the
contributions the node sends to its inputs on the edges, and writes the chain-rule line
for the node below the picture. Graphs of more than STEP_NODES nodes step through layers
(module calls, or layer calls of a scalar network) instead of single nodes. Previous /
Next / Play, a slider and the keyboard (← → space); zoom and pan as in the viewer.
"""
from __future__ import annotations

import os

import numpy as np

from ..core.engine import topological_order
from .dot import fmt, scalar
from .flow import backward_flow, norm
from .viewer import graph_model, iframe, page

STEP_NODES = 100             # beyond this, one step per layer


def _text(x) -> str:
    a = np.asarray(getattr(x, "data", x))
    return fmt(float(a.reshape(-1)[0])) if a.size == 1 else f"shape {tuple(a.shape)}, norm {fmt(norm(a))}"


def backprop_steps(root, model=None) -> list:
    """The steps of backpropagation from `root`: what the stepper page shows."""
    flow = backward_flow(root)
    if flow is None:
        raise ValueError("stepper: the output must be a single number that requires grad")
    nodes = topological_order(root)
    model = model or graph_model(root)
    index = {n: i for i, n in enumerate(nodes)}
    names = [n["name"] for n in model["nodes"]]
    consumers = {}
    for n in nodes:
        for position, x in enumerate(n.inputs):
            if (n, position) in flow.edges:
                consumers.setdefault(x, []).append((n, position))
    top = names[index[root]]

    def chain(x):
        if x is root:
            return f"d{top}/d{top} = 1"
        uses = consumers.get(x, [])
        lhs = f"d{top}/d{names[index[x]]}"
        symbolic = " + ".join(f"d{top}/d{names[index[n]]} · d{names[index[n]]}/d{names[index[x]]}" for n, _ in uses)
        if all(flow.edges[u][0] is not None for u in uses):
            numbers = " + ".join(f"{fmt(scalar(flow.grads[n]))} × {fmt(flow.edges[(n, p)][0])}" for n, p in uses)
        else:
            numbers = " + ".join(f"({_text(flow.edges[u][1])})" for u in uses)
        return f"{lhs} = {symbolic} = {numbers} = {_text(flow.grads[x])}"

    steps = [{"node": None, "title": "The forward pass: values only. Next starts backpropagation.",
              "upstream": "—", "chain": "", "lines": [], "reveal": [], "send": []}]
    by_layer = bool(len(nodes) > STEP_NODES and model["groups"])
    model["expand"] = not by_layer          # node by node: every node must be in sight
    keys = {}
    for x in flow.order:
        g = model["nodes"][index[x]]["g"] if by_layer else -1
        keys.setdefault(("g", g) if g >= 0 else ("n", x), []).append(x)
    for (kind, key), members in keys.items():
        lines = []
        for x in members:
            for position, inp in enumerate(x.inputs):
                if (x, position) in flow.edges:
                    local, share = flow.edges[(x, position)]
                    where = names[index[inp]]
                    lines.append(f"to {where}: {fmt(local)} × {_text(flow.grads[x])} = {_text(share)}"
                                 if local is not None else f"to {where}: {_text(share)}")
        head = members[0]
        if kind == "g":
            group = model["groups"][key]
            out = nodes[group["out"]]
            title = f"Backward through {group['type']} {group['name']}"
            shown = _text(flow.grads[out]) if out in flow.grads else "—"
            line = " · ".join(group["info"][1:])
        else:
            what = f"{head.op.name} at " if head.op is not None else "the leaf "
            title = ("Start: " if head is root else "Backward through " if head.op is not None else "Reached ") \
                + what + names[index[head]]
            shown, line = _text(flow.grads[head]), chain(head)
        steps.append({"node": index[head] if kind == "n" else index[nodes[model["groups"][key]["out"]]],
                      "title": title, "upstream": shown, "chain": line, "lines": lines,
                      "reveal": [index[x] for x in members], "send": [index[x] for x in members]})
    return steps


class Stepper:
    """The step-by-step page for `root`: `.save(path)`, `.steps`, and inline in Jupyter."""

    def __init__(self, root):
        model = graph_model(root, "backward")
        model["steps"] = self.steps = backprop_steps(root, model)
        self.html = page(model, "Backpropagation, step by step: " + model["title"])

    def save(self, path) -> str:
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def _repr_html_(self):
        return iframe(self.html, height=820)


def stepper(root) -> Stepper:
    """The backprop stepper for `root` (a scalar output); display it in Jupyter or `.save()` it."""
    return Stepper(root)


def save_backprop_html(root, path) -> str:
    """Write the step-by-step backpropagation page for `root` (a scalar) to `path`.

    >>> import autograd_lab as al, tempfile, os
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> path = al.viz.save_backprop_html(a * b, os.path.join(tempfile.mkdtemp(), "steps.html"))
    >>> "Previous" in open(path).read()
    True
    """
    return Stepper(root).save(path)
