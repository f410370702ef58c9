"""The interactive viewer: one self-contained offline HTML page for any graph.

`al.draw(loss).save("graph.html")`, `al.viz.save_viewer_html(loss, path)` or, in Jupyter,
`al.draw(loss).interactive()`. Pan (drag) and zoom (wheel, buttons), click a layer to
expand it and its frame to collapse it, hover a node for its shape, value statistics and
gradient, search by name, switch between the forward and the backward pass. The layout is
our own (viewer.js: columns by depth, wrapped into bands), so no Graphviz runs and graphs of
thousands of nodes open at once. The stepper (stepper.py) is the same page with steps.

Nothing is loaded: the script, the styles and the data are in the file and a
Content-Security-Policy forbids every load. User text is JSON in a script element (with
< > & escaped) and reaches the page only through textContent, so names cannot inject markup.
"""
from __future__ import annotations

import html
import json
import math
import os
from importlib import resources

import numpy as np

from ..core.engine import topological_order
from ..core.node import Value
from .dot import fmt, scalar
from .flow import backward_flow, norm
from .groups import collapse, grouping
from .names import kind_of, node_names

EXPAND_UP_TO = 40           # graphs up to this many nodes open with every layer expanded


def _stats(a) -> str:
    a = np.asarray(a, dtype=np.float64)
    if a.size == 1:
        return fmt(float(a.reshape(-1)[0]))
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return "no finite values"
    return (f"min {fmt(finite.min())}, mean {fmt(finite.mean())}, max {fmt(finite.max())}, "
            f"std {fmt(finite.std())}")


def _short(x) -> str:
    """One line for a value or a gradient: the number, or the norm of an array."""
    a = np.asarray(getattr(x, "data", x))
    return fmt(float(a.reshape(-1)[0])) if a.size == 1 else f"norm {fmt(norm(a))}"


def graph_model(root, mode="backward") -> dict:
    """Everything the page shows, as plain data: nodes, edges (input -> consumer), groups."""
    nodes = topological_order(root)
    flow = backward_flow(root)
    groups = grouping(nodes, "layer")
    names = node_names(nodes, grouping(nodes, "neuron"))
    c = collapse(nodes, root, groups, "layer")
    index = {n: i for i, n in enumerate(nodes)}
    group_names = list(c.members) + [f"weights {b}" for b in c.bundles]
    gid = {name: k for k, name in enumerate(group_names)}
    home = {n: gid[g] for n, g in c.member_of.items()}
    home.update({leaf: gid[g] for leaf, g in c.absorbed.items()})
    home.update({p: gid[f"weights {b}"] for p, b in c.bundle_of.items()})

    def grad_of(n):
        if flow is not None:
            return flow.grads.get(n)
        return n.grad if n.requires_grad and n.grad is not None else None

    out_nodes = []
    for i, n in enumerate(nodes):
        g = grad_of(n)
        scalar_node = isinstance(n, Value) or np.size(n.data) == 1
        value = f"data {_short(n)}" if scalar_node else f"{tuple(n.shape)} {n.dtype}"
        info = [f"{names[n]}  ({kind_of(n, root)})"]
        if n.op is not None:
            info.append(f"op {n.op.name}" + (f" {dict(n.params)}" if n.params else ""))
        if n.scope:
            info.append(f"in {n.module_type} {n.scope}")
        if not isinstance(n, Value):
            info.append(f"shape {tuple(n.shape)} {n.dtype}")
        info.append(f"value {_stats(n.data)}")
        if g is not None:
            info.append(f"grad {_stats(getattr(g, 'data', g))}" + ("" if scalar_node else f", norm {fmt(norm(g))}"))
        out_nodes.append({"name": names[n], "k": kind_of(n, root), "op": n.op.symbol or n.op.name if n.op else None,
                          "g": home.get(n, -1), "v": value, "gr": None if g is None else _short(g), "info": info})
    edges = []
    for n in nodes:
        for position, x in enumerate(n.inputs):
            label, mag = "", 0.0
            if flow is not None and (n, position) in flow.edges:
                local, share = flow.edges[(n, position)]
                mag = norm(share)
                label = (f"{fmt(local)} × {fmt(scalar(flow.grads[n]))} = {fmt(scalar(share))}" if local is not None
                         else f"grad {tuple(np.shape(share))}, norm {fmt(mag)}" if np.size(share) > 1
                         else f"grad {fmt(scalar(share))}")
            edges.append([index[x], index[n], label, mag])
    out_groups = []
    for name in group_names:
        k = gid[name]
        members = [i for i, n in enumerate(nodes) if home.get(n) == k]
        out = max(members, key=lambda i: (nodes[i] in c.member_of, i))
        params = [nodes[i] for i in members if nodes[i].is_leaf and nodes[i].requires_grad]
        count = sum(int(np.size(p.data)) for p in params)
        first = nodes[members[-1]]
        kind = "weights" if name.startswith("weights ") else (first.module_type or "layer")
        info = [f"{kind} {name}", f"{len(members)} nodes, {count:,} parameters"]
        if grad_of(nodes[out]) is not None and kind != "weights":
            info.append(f"grad of its output: {_short(grad_of(nodes[out]))}")
        if params and flow is not None:
            info.append(f"parameter grad norm {fmt(math.sqrt(sum(norm(flow.grads.get(p)) ** 2 for p in params)))}")
        out_groups.append({"name": name, "type": kind, "out": out, "v": out_nodes[out]["v"], "info": info})
    return {"nodes": out_nodes, "edges": edges, "groups": out_groups, "mode": mode if flow else "forward",
            "hasGrad": flow is not None, "expand": len(nodes) <= EXPAND_UP_TO,
            "title": f"{names[root]}: {len(nodes)} nodes"}


_STYLE = """
 body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 0; color: #222; }
 header { padding: .5em 1em; border-bottom: 1px solid #ccc; display: flex; flex-wrap: wrap; gap: .5em; align-items: center; }
 header button { font-size: .95em; padding: .25em .7em; }
 #canvas { width: 100%; height: 72vh; display: block; background: #fcfcfc; cursor: grab; }
 .node rect, rect.node { fill: #f4f4f4; stroke: #555; }
 .kind-parameter rect, rect.kind-parameter { fill: #fbd9a4; stroke-width: 2; }
 .kind-input rect, rect.kind-input { fill: #cfe2f3; }
 .kind-constant rect, rect.kind-constant { fill: #fff; stroke-dasharray: 4 2; }
 .kind-output rect, rect.kind-output { fill: #b8e0b8; stroke-width: 3; }
 .kind-backward rect, rect.kind-backward { fill: #e6d5ee; stroke-dasharray: 2 2; }
 .kind-group rect, rect.kind-group { fill: #e9eef7; stroke: #345; stroke-width: 2; cursor: pointer; }
 .node text { font-size: 11px; pointer-events: none; }
 .line2 { fill: #444; }
 .node.match rect, rect.node.match { stroke: #d60; stroke-width: 4; }
 .node.current rect, rect.node.current { stroke: #c00; stroke-width: 4; }
 .edge { fill: none; stroke: #999; stroke-width: 1; }
 .elabel { font-size: 10px; fill: #7a0a1e; text-anchor: middle; }
 .frame rect { fill: none; stroke: #888; stroke-dasharray: 6 3; }
 .frame-label { font-size: 11px; fill: #345; cursor: pointer; }
 #tip { position: fixed; background: #fffff0; border: 1px solid #999; padding: .3em .5em; font-size: .85em; max-width: 40em; pointer-events: none; }
 #stepper { padding: .5em 1em; }
 #chain { font-family: "DejaVu Sans Mono", monospace; background: #f6f6f6; padding: .4em; }
 table { border-collapse: collapse; } td { border-bottom: 1px solid #ddd; padding: .1em .6em; }
 #shown-grad { font-weight: bold; }
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'none'">
<title>__TITLE__</title>
<style>__STYLE__</style></head>
<body>
<header>
 <strong>__TITLE__</strong>
 <button id="toggle-mode">forward / backward</button> <span id="mode"></span>
 <button id="zoom-in">+</button><button id="zoom-out">−</button><button id="fit">fit</button>
 <button id="expand-all">expand all</button><button id="collapse-all">collapse all</button>
 <input id="search" type="search" placeholder="search by name (Enter: go)"> <span id="matches"></span>
</header>
<div id="stepper" hidden>
 <button id="prev">Previous</button><button id="next">Next</button><button id="play">Play</button>
 <input id="slider" type="range" min="0" value="0"> <span id="counter"></span>
 <span>(keys: ← → and space)</span>
 <h3 id="step-title"></h3>
 <p>gradient of this node: <span id="shown-grad"></span></p>
 <div id="chain"></div>
 <ul id="contributions"></ul>
 <details><summary>gradients so far</summary><table id="grad-table"></table></details>
</div>
<svg id="canvas" xmlns="http://www.w3.org/2000/svg">
 <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
  <path d="M0,0 L10,5 L0,10 z" fill="#777"/></marker></defs>
</svg>
<div id="tip" hidden></div>
<script type="application/json" id="graph">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""


def page(model: dict, title: str) -> str:
    """The HTML page for a graph model (with `steps` in it, the stepper)."""
    data = json.dumps(model, separators=(",", ":"))
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    script = resources.files(__package__).joinpath("viewer.js").read_text(encoding="utf-8")
    text = _PAGE.replace("__STYLE__", _STYLE).replace("__TITLE__", html.escape(title))
    return text.replace("__SCRIPT__", script).replace("__DATA__", data)


class Viewer:
    """The interactive page for `root`'s graph: `.save(path)`, `.html`, and inline in Jupyter."""

    def __init__(self, root, mode="backward"):
        self.model = graph_model(root, mode)
        self.html = page(self.model, "autograd_lab graph: " + self.model["title"])

    def save(self, path) -> str:
        path = os.fspath(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)
        return path

    def _repr_html_(self):
        return iframe(self.html)


def iframe(page_html: str, height: int = 640) -> str:
    """The page inside a sandboxed iframe: scripts run, nothing reaches the notebook."""
    return (f'<iframe sandbox="allow-scripts" style="width:100%;height:{height}px;border:1px solid #ccc" '
            f'srcdoc="{html.escape(page_html, quote=True)}"></iframe>')


def save_viewer_html(root, path, mode="backward") -> str:
    """Write the interactive viewer page for `root`'s graph to `path`.

    >>> import autograd_lab as al, tempfile, os
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> path = al.viz.save_viewer_html(a * b, os.path.join(tempfile.mkdtemp(), "graph.html"))
    >>> "Content-Security-Policy" in open(path).read()
    True
    """
    return Viewer(root, mode).save(path)
