"""Backpropagation, step by step, as one self-contained HTML page.

`save_backprop_html(root, path)` writes a page with the backward drawing inline
and Previous / Next / Play buttons and a slider. Step k highlights the node
whose gradient is complete at that point and lists, for each of its inputs, the
local derivative, the upstream gradient and their product, and every gradient
accumulated so far. No network access: the SVG, the script and the styles are
all in the file, and a Content-Security-Policy forbids loading anything else.
User text reaches the page only as SVG text escaped by Graphviz or through
`textContent`, so names cannot inject markup.
"""
from __future__ import annotations

import json
import os

import numpy as np

from ..core.engine import topological_order
from ..core.node import Value
from .draw import _fmt, _norm, backward_flow, draw


def _value_text(x) -> str:
    x = np.asarray(getattr(x, "data", x))
    if x.size == 1:
        return _fmt(float(x.reshape(-1)[0]))
    return f"shape {tuple(x.shape)}, norm {_fmt(_norm(x))}"


def backprop_steps(root) -> list:
    """The steps of backpropagation from `root`: what the stepper page shows."""
    flow = backward_flow(root)
    if flow is None:
        raise ValueError("save_backprop_html: the output must be a single number that requires grad")
    order = [n for n in reversed(topological_order(root, requires_grad_only=True))]
    ids = {n: i for i, n in enumerate(topological_order(root))}
    names = {n: (n.name or f"{n.op_name or 'x'}{ids[n]}") for n in ids}
    done = {root: flow.grads[root]}
    steps = [{
        "node": f"v{ids[root]}", "title": f"Start: d{names[root]}/d{names[root]} = 1",
        "upstream": _value_text(flow.grads[root]), "lines": ["the output's gradient with respect to itself is 1"],
        "grads": {f"v{ids[root]}": _value_text(flow.grads[root])},
    }]
    for node in order:
        if node.op is None or node not in flow.grads:
            continue
        lines = []
        for position, x in enumerate(node.inputs):
            if (node, position) not in flow.edges:
                continue
            local, share = flow.edges[(node, position)]
            if local is not None:
                lines.append(f"to {names[x]}: local d{names[node]}/d{names[x]} = {_fmt(local)} "
                             f"× upstream {_value_text(flow.grads[node])} = {_value_text(share)}")
            else:
                lines.append(f"to {names[x]}: gradient {_value_text(share)}")
            done[x] = done[x] + share if x in done else share
        steps.append({
            "node": f"v{ids[node]}", "op": f"o{ids[node]}",
            "title": f"Backward through {node.op.name} at {names[node]}",
            "upstream": _value_text(flow.grads[node]), "lines": lines,
            "grads": {f"v{ids[n]}": _value_text(g) for n, g in done.items()},
        })
    for step in steps:
        step["names"] = {f"v{i}": names[n] for n, i in ids.items()}
    return steps


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>Backpropagation, step by step</title>
<style>
 body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1em; color: #222; }
 #controls button { font-size: 1em; margin-right: .4em; padding: .3em .8em; }
 #slider { width: 20em; vertical-align: middle; }
 #layout { display: flex; flex-direction: column; gap: 1em; }
 #picture { overflow: auto; border: 1px solid #ccc; }
 #picture svg { max-width: 100%; height: auto; }
 #panel { min-width: 18em; }
 .current polygon, .current ellipse, .current path { stroke: #c00 !important; stroke-width: 4px; }
 .done polygon, .done ellipse { opacity: .55; }
 table { border-collapse: collapse; } td { border-bottom: 1px solid #ddd; padding: .15em .6em; }
 #shown-grad { font-weight: bold; }
</style></head>
<body>
<h2>Backpropagation, step by step</h2>
<div id="controls">
 <button id="prev">Previous</button><button id="next">Next</button><button id="play">Play</button>
 <input id="slider" type="range" min="0" value="0"> <span id="counter"></span>
</div>
<div id="layout">
 <div id="picture">__SVG__</div>
 <div id="panel">
  <h3 id="step-title"></h3>
  <p>upstream gradient of this node: <span id="shown-grad"></span></p>
  <ul id="contributions"></ul>
  <h4>gradients so far</h4>
  <table id="grad-table"></table>
 </div>
</div>
<script type="application/json" id="steps">__STEPS__</script>
<script>
"use strict";
const steps = JSON.parse(document.getElementById("steps").textContent);
const slider = document.getElementById("slider");
slider.max = steps.length - 1;
let current = 0, timer = null;
function mark(id, cls, on) { const el = document.getElementById(id); if (el) el.classList.toggle(cls, on); }
function show(k) {
  current = Math.max(0, Math.min(steps.length - 1, k));
  const s = steps[current];
  slider.value = current;
  document.getElementById("counter").textContent = "step " + current + " of " + (steps.length - 1);
  document.getElementById("step-title").textContent = s.title;
  document.getElementById("shown-grad").textContent = s.upstream;
  const list = document.getElementById("contributions");
  list.replaceChildren(...s.lines.map(t => { const li = document.createElement("li"); li.textContent = t; return li; }));
  const table = document.getElementById("grad-table");
  table.replaceChildren(...Object.entries(s.grads).map(([id, g]) => {
    const tr = document.createElement("tr");
    for (const text of [s.names[id], g]) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
    return tr; }));
  steps.forEach((t, i) => { mark(t.node, "current", i === current); mark(t.node, "done", i < current);
                            if (t.op) mark(t.op, "current", i === current); });
}
document.getElementById("prev").onclick = () => show(current - 1);
document.getElementById("next").onclick = () => show(current + 1);
slider.oninput = () => show(Number(slider.value));
document.getElementById("play").onclick = () => {
  if (timer) { clearInterval(timer); timer = null; return; }
  if (current >= steps.length - 1) show(0);
  timer = setInterval(() => { if (current >= steps.length - 1) { clearInterval(timer); timer = null; } else show(current + 1); }, 900);
};
show(0);
</script></body></html>
"""


def save_backprop_html(root, path) -> str:
    """Write the step-by-step backpropagation page for `root` (a scalar) to `path`.

    >>> import autograd_lab as al, tempfile, os
    >>> a, b = al.Value(2.0, label="a"), al.Value(-3.0, label="b")
    >>> path = al.viz.save_backprop_html(a * b, os.path.join(tempfile.mkdtemp(), "steps.html"))
    >>> "Previous" in open(path).read()
    True
    """
    steps = backprop_steps(root)
    svg = draw(root, mode="backward", legend=False).pipe("svg").decode()
    svg = svg[svg.index("<svg"):]                 # drop the XML prolog and DOCTYPE
    data = json.dumps(steps).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page = _PAGE.replace("__SVG__", svg).replace("__STEPS__", data)
    path = os.fspath(path)
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path
