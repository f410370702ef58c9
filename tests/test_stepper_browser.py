"""The stepper and the viewer in a real browser: headless Chromium opens them offline.

CI installs Debian's chromium (.ci/run) and sets AUTOGRAD_LAB_REQUIRE_BROWSER=1, so
there the tests cannot skip; elsewhere they skip with a message when Chromium is missing.
"""
import os
import re
import time

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.core.engine import topological_order
from autograd_lab.viz.names import node_names



def _page(browser, path):
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})   # no network
    page = context.new_page()
    requests, dialogs, errors = [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto("file://" + str(path))
    page.wait_for_selector("body[data-ready='1']")
    return page, requests, dialogs, errors


def micrograd_example():
    a, b, c = al.Value(2.0, label="a"), al.Value(-3.0, label="b"), al.Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = al.Value(-2.0, label="f")
    L = d * f; L.label = "L"
    return L


def _node_texts(page):
    """name -> the second line each node shows."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#canvas .node')]
        .filter(n => n.dataset.name).map(n => [n.dataset.name, n.querySelector('.line2').textContent]))""")


def test_the_stepper_hides_gradients_then_reveals_the_engines_numbers(browser, tmp_path):
    L = micrograd_example()
    path = al.viz.save_backprop_html(L, tmp_path / "steps.html")
    L.backward()
    names = node_names(topological_order(L))
    page, requests, _, errors = _page(browser, path)
    texts = _node_texts(page)                                      # step 0: the forward pass only
    assert texts["L"] == texts["a"] == "grad ?" and page.locator("#grad-table tr").count() == 0
    assert page.locator(".elabel").count() == 0                    # no contribution sent yet
    page.click("#next")                                            # step 1: the output, dL/dL = 1
    assert page.text_content("#shown-grad") == "1.0000" and _node_texts(page)["a"] == "grad ?"
    steps = int(page.get_attribute("#slider", "max"))
    for k in range(2, steps + 1):
        page.keyboard.press("ArrowRight")                          # the keyboard steps too
        assert page.text_content("#counter") == f"step {k} of {steps}"
    texts = _node_texts(page)
    for node, name in names.items():                              # the end: every gradient is the engine's
        if node.requires_grad:
            assert texts[name] == f"grad {node.grad:.4f}", name
    page.fill("#slider", "3")
    page.dispatch_event("#slider", "input")
    assert page.text_content("#step-title") == "Backward through add at d"
    assert page.text_content("#shown-grad") == f"{L.inputs[0].grad:.4f}"
    assert "dL/dd = dL/dL · dL/dd = 1.0000 × -2.0000 = -2.0000" == page.text_content("#chain")
    assert _node_texts(page)["e"] == "grad ?"                      # not reached yet
    assert page.locator(".elabel").count() == 4                    # sent by L and by d
    assert page.locator("#canvas .node.current").count() == 1
    before = page.get_attribute("#canvas > g", "transform")
    page.click("#zoom-in")
    assert page.get_attribute("#canvas > g", "transform") != before
    assert all(url.startswith("file://") for url in requests) and errors == []


def test_hostile_labels_stay_text(browser, tmp_path):
    hostile = '<img src=x onerror=alert(1)> "q" & </script><script>alert(2)</script>'
    x = al.Value(1.0, label=hostile)
    y = x * 2.0
    y.label = "y"
    for path in (al.viz.save_backprop_html(y, tmp_path / "hostile.html"),
                 al.draw(y, mode="backward").save(tmp_path / "hostile_viewer.html")):
        page, _, dialogs, errors = _page(browser, path)
        if page.locator("#next").is_visible():
            page.click("#next")
        page.fill("#search", "onerror")
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 2                # the page's own two
        assert hostile in page.evaluate("() => document.querySelector('#canvas').textContent")
        assert page.text_content("#matches") == "1 match"
        assert dialogs == [] and errors == []


def audio_cnn_loss():
    al.manual_seed(0)
    model = al.audio.AudioCNN(n_classes=10)
    x = al.tensor(np.random.default_rng(1).standard_normal((2, 1, 40, 32)).astype(np.float32), name="log-mel")
    loss = al.nn.functional.cross_entropy(model(x), np.array([0, 1]))
    loss.backward()
    return loss


def test_the_viewer_pans_zooms_expands_hovers_searches_and_toggles(browser, tmp_path, monkeypatch):
    # The AudioCNN's graph (39 nodes, batch norm being one op) is small enough to open
    # expanded; lower the bar so that this page opens with every layer collapsed.
    monkeypatch.setattr(al.viz.viewer, "EXPAND_UP_TO", 20)
    loss = audio_cnn_loss()
    path = al.draw(loss, mode="backward").save(tmp_path / "graph.html")
    text = open(path, encoding="utf-8").read()
    assert "default-src 'none'" in text and not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)
    page, requests, _, errors = _page(browser, path)
    groups = page.locator("#canvas .kind-group")
    collapsed = groups.count()
    assert collapsed >= 15                                         # every layer collapsed to one box
    nodes = page.locator("#canvas .node").count()
    page.locator("#canvas .kind-group", has_text="features.4").first.click()      # expand one layer
    assert page.locator("#canvas .kind-group").count() == collapsed - 1
    assert page.locator("#canvas .node").count() > nodes
    assert page.locator(".frame-label").count() == 1
    page.locator(".frame-label").click()                          # and collapse it again
    assert page.locator("#canvas .node").count() == nodes
    page.locator("#canvas .node", has_text="log-mel").hover()     # hover: shape, statistics, gradient
    tip = page.text_content("#tip")
    assert page.is_visible("#tip") and "shape (2, 1, 40, 32)" in tip and "mean" in tip
    page.fill("#search", "features.8")
    assert page.locator("#canvas .node.match").count() >= 1 and "match" in page.text_content("#matches")
    assert page.locator(".elabel").count() > 0 and "backward" in page.text_content("#mode")
    page.click("#toggle-mode")                                     # forward: no gradient labels
    assert page.locator(".elabel").count() == 0 and "forward" in page.text_content("#mode")
    before = page.get_attribute("#canvas > g", "transform")
    page.mouse.move(600, 500)
    page.mouse.wheel(0, -300)                                      # zoom
    after_zoom = page.get_attribute("#canvas > g", "transform")
    page.mouse.down(); page.mouse.move(700, 560); page.mouse.up()  # pan
    assert len({before, after_zoom, page.get_attribute("#canvas > g", "transform")}) == 3
    assert all(url.startswith("file://") for url in requests) and errors == []


def test_a_5000_node_page_is_small_and_opens_quickly(browser, tmp_path):
    x = al.tensor(np.linspace(-1, 1, 8), requires_grad=True, name="x")
    h = x
    for _ in range(1250):                                         # 4 nodes per round: mul, its constant, add, tanh
        h = (h * 0.9).tanh() + x
    loss = h.sum()
    loss.backward()
    count = len(topological_order(loss))
    assert count >= 5000
    path = al.viz.save_viewer_html(loss, tmp_path / "big.html")
    size = os.path.getsize(path)
    assert size < 5_000_000, size
    start = time.perf_counter()
    page, _, _, errors = _page(browser, path)
    seconds = time.perf_counter() - start
    assert page.locator("#canvas .node").count() >= 5000 and errors == []
    print(f"{count} nodes: {size / 1e6:.2f} MB, opened in {seconds:.2f} s")
    assert seconds < 20                                            # generous: docs give the measured figure
