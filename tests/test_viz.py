"""Drawings: values, gradients and the chain rule in the SVG; safe labels; layer view;
formats without a system Graphviz; al.explain and SymPy; summary."""
import html
import re

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab import nn
from autograd_lab.viz import render as R


@pytest.fixture
def no_dot(monkeypatch):
    """Pretend Graphviz's `dot` is not installed: the in-process route must work."""
    monkeypatch.setattr(R.shutil, "which", lambda name: None)


def micrograd_example():
    a, b, c = al.Value(2.0, label="a"), al.Value(-3.0, label="b"), al.Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = al.Value(-2.0, label="f")
    L = d * f; L.label = "L"
    L.backward()
    return L, dict(a=a, b=b, c=c, d=d, e=e, f=f, L=L)


def svg_text(svg: str) -> str:
    """The text a viewer of the SVG reads."""
    return " ".join(html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg))


def test_forward_and_backward_svgs_hold_every_value_and_gradient(no_dot):
    L, nodes = micrograd_example()
    forward = svg_text(al.draw(L).pipe("svg").decode())
    backward = svg_text(al.draw(L, mode="backward").pipe("svg").decode())
    for v in nodes.values():
        for text in (forward, backward):
            assert f"data {v.data:.4f}" in text and f"grad {v.grad:.4f}" in text, v.label
    # local derivative × upstream = contribution, on every edge into a value
    for edge in ["-2.0000 × 1.0000 = -2.0000", "4.0000 × 1.0000 = 4.0000",       # L = d * f
                 "1.0000 × -2.0000 = -2.0000",                                  # d = e + c (twice)
                 "-3.0000 × -2.0000 = 6.0000", "2.0000 × -2.0000 = -4.0000"]:   # e = a * b
        assert edge in backward, edge
    assert backward.count("1.0000 × -2.0000 = -2.0000") == 2


def test_png_and_pdf_without_dot(no_dot, tmp_path):
    L, _ = micrograd_example()
    drawing = al.draw(L)
    png = drawing.save(tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    pdf = drawing.save(tmp_path / "g.pdf")
    assert open(pdf, "rb").read(5) == b"%PDF-"
    assert drawing.save(tmp_path / "g.dot") and "digraph" in (tmp_path / "g.dot").read_text()
    with pytest.raises(al.viz.RenderError, match="choose one of"):
        drawing.save(tmp_path / "g.gif")
    assert drawing._repr_svg_().lstrip().startswith("<?xml")


HOSTILE = 'x <b>"q"</b> {1|2} \\ & <script>alert(1)</script>\nline2'


def test_hostile_labels_cannot_break_dot_or_inject_markup(no_dot):
    x = al.tensor(np.ones(3), name=HOSTILE, requires_grad=True)
    v = al.Value(1.5, label=HOSTILE)
    for root in ((x * 2).sum(), v * 3):
        root.backward()
        for mode in ("forward", "backward"):
            svg = al.draw(root, mode=mode).pipe("svg").decode()
            assert "<script" not in svg and "<b>" not in svg           # no markup got through
            text = svg_text(svg)
            assert 'x <b>"q"</b> {1|2} \\ & <script>alert(1)</script>' in text   # shown as written
            assert "line2" in text


def cnn_and_loss():
    al.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(32 * 10 * 8, 64), nn.ReLU(), nn.Linear(64, 10))
    x = al.tensor(np.random.default_rng(0).standard_normal((2, 1, 40, 32)).astype(np.float32), name="log-mel")
    loss = nn.functional.cross_entropy(model(x), np.array([3, 7]))
    loss.backward()
    return loss


def test_layer_view_of_a_cnn_fits_a_page_and_op_view_renders(no_dot):
    loss = cnn_and_loss()
    layer = al.draw(loss, detail="layer", mode="backward")
    nodes = re.findall(r"^\s+(v\d+|o\d+|g\d+) \[", layer.source, flags=re.M)
    assert len(nodes) <= 40, len(nodes)
    text = svg_text(layer.pipe("svg").decode())
    assert "Conv2d" in text and "4,640 parameters" in text and "grad norm" in text
    op_svg = al.draw(loss, detail="op").pipe("svg").decode()
    assert op_svg.count('class="node"') > len(nodes)


def test_the_audio_cnn_drawn_by_layer_fits_a_page_and_by_op_renders(no_dot):
    al.manual_seed(0)
    model = al.audio.AudioCNN(n_classes=10)
    x = al.tensor(np.random.default_rng(1).standard_normal((4, 1, 40, 32)).astype(np.float32), name="log-mel")
    loss = nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 3]))
    loss.backward()
    layer = al.draw(loss, detail="layer", mode="backward")
    nodes = re.findall(r"^\s+(v\d+|o\d+|g\d+) \[", layer.source, flags=re.M)
    assert len(nodes) <= 40, len(nodes)
    svg = layer.pipe("svg").decode()
    assert "BatchNorm2d" in svg_text(svg) and "GlobalAvgPool2d" in svg_text(svg)
    op_svg = al.draw(loss, detail="op").pipe("svg").decode()
    assert op_svg.count('class="node"') > len(nodes)                 # every op: finer than the layers
    # a layer's gradient is the sum over every use of its output (BatchNorm uses it twice):
    # the edge into each layer carries exactly the gradient norm shown on that layer
    node_norms = set(re.findall(r"out grad norm ([\d.e-]+)", layer.source))
    edge_norms = set(re.findall(r"\), norm ([\d.e-]+)", layer.source))
    assert node_norms - {"1.0000"} <= edge_norms, node_norms - edge_norms


def test_large_graphs_default_to_layer_view_with_a_note():
    net = nn.Sequential(*[nn.Linear(4, 4) for _ in range(110)])   # 3 nodes each: op, weight, bias
    out = net(al.tensor(np.ones((1, 4)))).sum()
    drawing = al.draw(out)
    assert drawing.note and "each layer call as one node" in drawing.note and drawing.node_count > 300


def test_the_gradients_own_graph_is_drawn_with_backward_nodes_marked(no_dot):
    x = al.Value(0.5, label="x")
    (dx,) = al.grad(x.tanh(), x, create_graph=True)
    source = al.draw(dx).source
    assert "node of a backward pass" in source and "dotted" in source


# ---- the chain rule in words, and SymPy --------------------------------------------------
def test_explain_spells_out_micrograd_example_for_every_leaf():
    L, n = micrograd_example()
    assert str(al.explain(L, n["a"])) == "dL/da = dL/dd · dd/de · de/da = (-2)(1)(-3) = 6"
    assert str(al.explain(L, n["b"])) == "dL/db = dL/dd · dd/de · de/db = (-2)(1)(2) = -4"
    assert str(al.explain(L, n["c"])) == "dL/dc = dL/dd · dd/dc = (-2)(1) = -2"
    assert str(al.explain(L, n["f"])) == "dL/df = (4) = 4"
    assert al.explain(L, n["a"]).latex.startswith(r"\frac{\partial \mathrm{L}}{\partial \mathrm{a}}")


def test_explain_sums_the_paths_of_a_value_used_twice():
    x = al.Value(3.0, label="x")
    m = x * x; m.label = "m"
    y = m + x; y.label = "y"
    ex = al.explain(y, x)
    assert len(ex.paths) == 3 and ex.total == 7.0              # 2x + 1
    assert ex.text.splitlines()[0] == "dy/dx = dy/dm · dm/dx + dy/dm · dm/dx + dy/dx = (1)(3) + (1)(3) + (1) = 7"


def test_sympy_derivatives_agree_with_the_engine():
    sp = pytest.importorskip("sympy")
    rng = np.random.default_rng(0)
    leaves = [al.Value(float(v), label=n) for v, n in zip(rng.uniform(0.5, 1.5, 3), "xyz")]
    x, y, z = leaves
    out = ((x * y).tanh() + z.exp() / (x + 2) - (y ** 3).sigmoid() * z.log() + (x - z).relu()).sqrt()
    out.backward()
    expr, symbols = al.to_sympy(out, return_symbols=True)
    values = {s: leaf.data for leaf, s in symbols.items()}
    assert float(expr.subs(values)) == pytest.approx(out.data, rel=1e-12)
    for leaf, s in symbols.items():
        assert float(sp.diff(expr, s).subs(values)) == pytest.approx(leaf.grad, rel=1e-10)


def test_summary_counts_parameters_and_flops():
    s = al.viz.summary(cnn_and_loss())
    layers = {scope: (kind, params, flops) for scope, kind, params, flops, _ in s.layers}
    assert layers["Sequential.0"][:2] == ("Conv2d", 16 * 9 + 16)
    assert layers["Sequential.0"][2] >= 2 * 2 * 16 * 40 * 32 * 9
    assert "total:" in str(s)


# ---- pictures that fit a slide, names that teach -------------------------------------------
def scalar_mlp_loss(sizes, samples):
    """micrograd's MLP on a few samples, squared error summed from a constant 0."""
    al.manual_seed(0)
    mlp = nn.MLP(2, sizes, activation="tanh")
    xs = [[2.0, 3.0], [-1.0, 0.5], [0.5, 1.0], [1.0, 1.0]][:samples]
    loss = sum(((mlp(x) - y) ** 2 for x, y in zip(xs, [1.0, -1.0, 1.0, -1.0])), al.Value(0.0, requires_grad=False))
    loss.backward()
    return loss


def audio_cnn_loss():
    al.manual_seed(0)
    model = al.audio.AudioCNN(n_classes=10)
    x = al.tensor(np.random.default_rng(1).standard_normal((4, 1, 40, 32)).astype(np.float32), name="log-mel")
    loss = nn.functional.cross_entropy(model(x), np.array([0, 1, 2, 3]))
    loss.backward()
    return loss


def font_sizes(svg: str):
    return [float(s) for s in re.findall(r'<text[^>]*font-size="([\d.]+)"', svg)]


@pytest.mark.parametrize("graph, mode", [("cnn", "forward"), ("cnn", "backward"), ("audio_cnn", "backward"),
                                         ("mlp_2_16_16_1", "forward"), ("mlp_2_3_1", "forward"),
                                         ("mlp_2_3_1", "backward")])
def test_default_drawings_fit_a_slide(no_dot, tmp_path, graph, mode):
    """The size rule, measured on the rendered PNG: long side <= 5,000 px, aspect <= 3:1,
    no text smaller than the legend's."""
    from PIL import Image
    root = {"cnn": cnn_and_loss, "audio_cnn": audio_cnn_loss,
            "mlp_2_16_16_1": lambda: scalar_mlp_loss([16, 16, 1], 2),
            "mlp_2_3_1": lambda: scalar_mlp_loss([3, 1], 2)}[graph]()
    drawing = al.draw(root, mode=mode)
    width, height = Image.open(drawing.save(tmp_path / "g.png")).size
    assert max(width, height) <= 5000 and max(width, height) <= 3 * min(width, height), (width, height)
    svg = drawing.pipe("svg").decode()
    legend = re.search(r'<title>legend_\w+</title>.*?font-size="([\d.]+)"', svg, flags=re.S)
    assert legend, "the picture has a legend"
    assert min(font_sizes(svg)) >= float(legend.group(1))
    if graph == "mlp_2_16_16_1":   # 1,692 nodes: collapsed, and the caption says how to see more
        assert drawing.detail == "layer" and "detail='op'" in drawing.note and "detail='op'" in svg_text(svg)


def test_scalar_networks_name_parameters_by_position_and_inputs_are_not_parameters():
    loss = scalar_mlp_loss([3, 1], 2)
    nodes = al.core.engine.topological_order(loss)
    names = al.viz.names.node_names(nodes)
    kinds = {names[n]: al.viz.names.kind_of(n, loss) for n in nodes}
    assert kinds["L1.n2.w1"] == kinds["L2.n0.b"] == "parameter"
    assert kinds["2"] == "constant"                        # the data point 2.0, lifted by an op
    assert not any(re.fullmatch(r"[a-z_]+\d{2,}", n) for n in names.values()), sorted(names.values())
    assert "L2.n0" in names.values() and "L2.n0#2" in names.values()      # one neuron, two samples
    x = al.Value(3.0, label="x")                           # a Value made from data: an input
    w = al.Value(0.5, label="w"); w._meta = {"parameter": True}
    y = x * w
    assert al.viz.names.kind_of(x, y) == "input" and al.viz.names.kind_of(w, y) == "parameter"
    e = al.Value(2.0, label="a") * al.Value(-3.0, label="b")
    assert al.viz.names.node_names(al.core.engine.topological_order(e))[e] == "a*b"   # its expression
    assert str(al.explain(e + 1.0, e.inputs[0])).startswith("d(a*b+1)/da = d(a*b+1)/d(a*b) · d(a*b)/da")


def _boxes(svg):
    """(x0, y0, x1, y1) of each edge label, from its position and a generous width estimate."""
    boxes = []
    for group in re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, flags=re.S):
        for x, y, size, text in re.findall(r'<text[^>]*x="([-\d.]+)" y="([-\d.]+)"[^>]*font-size="([\d.]+)"[^>]*>'
                                           r'([^<]*)</text>', group):
            width = 0.62 * float(size) * len(html.unescape(text).strip())
            boxes.append((float(x) - width / 2, float(y) - float(size), float(x) + width / 2, float(y)))
    return boxes


@pytest.mark.parametrize("rankdir", ["LR", "TB"])
def test_edge_labels_never_collide_on_the_2_3_1_mlp(no_dot, rankdir):
    drawing = al.draw(scalar_mlp_loss([3, 1], 1), mode="backward", detail="op", rankdir=rankdir)
    boxes = _boxes(drawing.pipe("svg").decode())
    assert len(boxes) > 20
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_gradient_scale_is_linear_by_default_and_printed_in_the_legend():
    L, _ = micrograd_example()
    linear = al.draw(L, mode="backward").source
    assert "grow linearly with |gradient|: thickest = 6.0000" in linear
    # a gradient of 2 is a third as wide (above the 0.8 floor) as one of 6: penwidth 0.8 + 3.7 t
    widths = sorted({float(w) for w in re.findall(r"penwidth=([\d.]+)\]", linear)})
    assert 0.8 + 3.7 * 2 / 6 == pytest.approx(min(widths), abs=0.01) and max(widths) == pytest.approx(4.5)
    assert "log |gradient|, from 2.0000 to 6.0000" in al.draw(L, mode="backward", scale="log").source
    with pytest.raises(ValueError, match="scale"):
        al.draw(L, scale="cubic")


def test_layer_view_shows_each_layers_parameter_gradient_norm():
    loss = cnn_and_loss()
    model_params = {}
    for node in al.core.engine.topological_order(loss):
        if node.scope == "Sequential.0":
            for x in node.inputs:
                if x.is_leaf and x.requires_grad:
                    model_params[x.name] = x
    expected = np.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in model_params.values()))
    source = al.draw(loss, detail="layer", mode="backward").source
    block = re.search(r'label="\{Conv2d  Sequential.0\|[^"]*"', source).group(0)
    assert f"parameter grad norm {expected:.4f}" in block


def test_jupyter_reprs():
    L, n = micrograd_example()
    drawing = al.draw(L)
    assert drawing._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(drawing._repr_mimebundle_()) >= {"image/svg+xml", "image/png"}
    assert r"\frac{\partial \mathrm{L}}{\partial \mathrm{a}}" in al.explain(L, n["a"])._repr_html_()
    assert "<table>" in al.viz.summary(cnn_and_loss())._repr_html_()
    frame = al.viz.stepper(L)._repr_html_()
    assert frame.startswith("<iframe sandbox=\"allow-scripts\"") and "&lt;script" in frame
    assert "<iframe" in drawing.interactive()._repr_html_()


def test_the_stepper_steps_through_layers_on_larger_graphs():
    loss = scalar_mlp_loss([16, 16, 1], 1)              # 847 nodes
    steps = al.viz.backprop_steps(loss)
    assert steps[0]["reveal"] == [] and steps[0]["lines"] == []           # step 0: no gradient shown
    titles = [s["title"] for s in steps]
    assert len(steps) < 40 and any("layer L1" in t for t in titles) and any("layer L3" in t for t in titles)
    revealed = {i for s in steps for i in s["reveal"]}
    assert len(revealed) > 800                          # every node's gradient is revealed at some step
