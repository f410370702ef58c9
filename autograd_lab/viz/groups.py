"""Layer views: which nodes one box stands for, and the edges left between the boxes.

A group is a module call (its innermost scope, "Sequential.3") or, in scalar networks, a
neuron call ("L1.n3") or a layer call ("L1", all the neurons of layer 1 on one sample).
Parameters and constants used inside one group only are drawn inside it (absorbed); the
parameters of a scalar network, used by the calls of every sample, become one record per
neuron or per layer (a bundle) instead of one node per weight.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .names import groups_of, is_parameter, kind_of

LEVELS = ("op", "neuron", "layer")


def layer_name(neuron_call: str) -> str:
    """"L1.n3#2" (second call of neuron 3 of layer 1) -> "L1#2" (second call of layer 1)."""
    base, _, call = neuron_call.partition("#")
    layer = base.rsplit(".", 1)[0] if "." in base else base
    return f"{layer}#{call}" if call else layer


def grouping(nodes, level: str) -> dict:
    """node -> group name at `level` ("neuron" or "layer"; modules count at both)."""
    groups = groups_of(nodes)
    if level == "layer":
        groups = {n: (g if n.scope else layer_name(g)) for n, g in groups.items()}
    return groups


@dataclass
class Collapsed:
    members: dict = field(default_factory=dict)    # group -> its nodes, topological order
    absorbed: dict = field(default_factory=dict)   # leaf -> the only group that uses it
    bundles: dict = field(default_factory=dict)    # record name -> the parameters it lists
    free: list = field(default_factory=list)       # nodes drawn on their own
    between: dict = field(default_factory=dict)    # (src key, dst key) -> [(node, input position)]
    member_of: dict = field(default_factory=dict)  # node -> its group
    bundle_of: dict = field(default_factory=dict)  # parameter -> its record

    def key(self, node):
        """The box that stands for `node`: ("g", group), ("b", bundle) or ("v", node)."""
        if node in self.member_of:
            return ("g", self.member_of[node])
        if node in self.bundle_of:
            return ("b", self.bundle_of[node])
        return ("v", node)


def collapse(nodes, root, groups: dict, level: str) -> Collapsed:
    c = Collapsed()
    for node in nodes:
        if node in groups:
            c.members.setdefault(groups[node], []).append(node)
    users = {}
    for node in nodes:
        for x in node.inputs:
            users.setdefault(x, set()).add(groups.get(node, node))
    for node in nodes:
        if not node.is_leaf or node is root:
            continue
        used_by = users.get(node, set())
        if len(used_by) == 1 and isinstance(next(iter(used_by)), str) and \
                kind_of(node, root) in ("parameter", "constant"):
            c.absorbed[node] = next(iter(used_by))
        elif is_parameter(node) and node.name and "." in node.name and \
                all(isinstance(u, str) for u in used_by):
            prefix = node.name.rsplit(".", 1)[0]
            bundle = layer_name(prefix) if level == "layer" and not node.scope else prefix
            c.bundles.setdefault(bundle, []).append(node)
            c.bundle_of[node] = bundle
    c.member_of = {n: g for g, ns in c.members.items() for n in ns}
    for node in nodes:
        if node not in c.member_of and node not in c.absorbed and node not in c.bundle_of:
            c.free.append(node)
    for node in nodes:
        if node in c.absorbed or node in c.bundle_of:
            continue
        dst = c.key(node) if node in c.member_of else ("o", node)
        for position, x in enumerate(node.inputs):
            if x in c.absorbed:
                continue
            src = c.key(x)
            if src != dst:
                c.between.setdefault((src, dst), []).append((node, position))
    return c
