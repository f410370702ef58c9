"""Render every picture type of autograd_lab into docs/gallery/ (PNG), for docs/gallery.md.

    python docs/make_gallery.py [--out docs/gallery]

Each figure comes from the library itself; nothing is drawn by hand.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import autograd_lab as al
from autograd_lab import nn
from autograd_lab.viz import plots


def micrograd_example():
    a, b, c = al.Value(2.0, label="a"), al.Value(-3.0, label="b"), al.Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = al.Value(-2.0, label="f")
    L = d * f; L.label = "L"
    return L


def demo_cnn():
    al.manual_seed(0)
    model = al.audio.AudioCNN(n_classes=10)
    x = al.tensor(np.random.default_rng(0).standard_normal((8, 1, 40, 32)).astype(np.float32),
                  name="log-mel batch")
    return model, x


def deep_net(activation):
    al.manual_seed(1)
    layers = []
    for _ in range(6):
        layers += [nn.Linear(8, 8), activation()]
    return nn.Sequential(nn.Linear(2, 8), activation(), *layers, nn.Linear(8, 1))


def scalar_mlp_loss(sizes, samples):
    """micrograd's MLP on a few samples, squared error summed."""
    al.manual_seed(0)
    mlp = nn.MLP(2, sizes, activation="tanh")
    xs = [[2.0, 3.0], [-1.0, 0.5], [0.5, 1.0], [1.0, 1.0]][:samples]
    loss = sum(((mlp(x) - y) ** 2 for x, y in zip(xs, [1.0, -1.0, 1.0, -1.0])), al.Value(0.0, requires_grad=False))
    loss.backward()
    return loss


def _screenshot(page, path, clicks, actions=()):
    """A page after `clicks` on Next (stepper) and `actions` ((selector, text) to click), in headless
    Chromium (if installed)."""
    import shutil
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        print("no Chromium/playwright: skipping the stepper screenshot")
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.goto("file://" + os.path.abspath(page))
        for _ in range(clicks):
            tab.click("#next")
        for selector, text in actions:
            tab.locator(selector, has_text=text).first.click()
        tab.screenshot(path=path, full_page=True)
        browser.close()
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gallery"))
    out = parser.parse_args(argv).out
    os.makedirs(out, exist_ok=True)
    made = []

    def put(name, thing):
        path = os.path.join(out, name)
        thing.save(path) if hasattr(thing, "save") else plots.save(thing, path)
        made.append(path)

    # 1-2. micrograd's example, forward and backward
    L = micrograd_example()
    L.backward()
    put("forward_scalar.png", al.draw(L))
    put("backward_scalar.png", al.draw(L, mode="backward"))

    # 3. a neuron with tanh on arrays: op view with values and gradients
    x = al.tensor([[2.0, 0.0]], name="x")
    w = al.tensor([[-3.0], [1.0]], requires_grad=True, name="w")
    b = al.tensor([6.8813735870195432], requires_grad=True, name="b")
    o = (x @ w + b).tanh().sum()
    o.backward()
    put("backward_arrays.png", al.draw(o, mode="backward"))

    # 4. the gradient's own graph (create_graph=True)
    t = al.Value(0.5, label="x")
    (dt,) = al.grad(t.tanh(), t, create_graph=True)
    dt.label = "dy/dx"
    put("gradient_graph.png", al.draw(dt, title="the graph that computes d tanh(x)/dx"))

    # 5-6. the demo CNN by layer (backward) and by op (forward, clustered by module)
    model, xb = demo_cnn()
    loss = nn.functional.cross_entropy(model(xb), np.arange(8) % 10)
    loss.backward()
    put("cnn_layers_backward.png", al.draw(loss, mode="backward"))
    al.manual_seed(0)
    ten = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(32 * 10 * 8, 64), nn.ReLU(), nn.Linear(64, 10))
    put("cnn_ops.png", al.draw(nn.functional.cross_entropy(ten(xb), np.arange(8) % 10)))

    # micrograd's MLPs: 2-3-1 by neuron (the default) and op by op, 2-16-16-1 by layer
    small = scalar_mlp_loss([3, 1], 2)
    put("mlp_2_3_1_backward.png", al.draw(small, mode="backward"))
    put("mlp_2_3_1_ops.png", al.draw(scalar_mlp_loss([3, 1], 1), mode="backward", detail="op"))
    put("mlp_2_16_16_1.png", al.draw(scalar_mlp_loss([16, 16, 1], 2), mode="backward"))

    # 7. vanishing gradients: deep sigmoid vs deep relu, edge width = gradient size
    for name, act in (("sigmoid", nn.Sigmoid), ("relu", nn.ReLU)):
        net = deep_net(act)
        score = net(al.tensor([[0.5, -0.3]])).sum()
        score.backward()
        put(f"vanishing_{name}.png", al.draw(score, detail="layer", mode="backward",
                                             title=f"deep {name} network: gradient norms per layer"))

    # 8-13. matplotlib figures
    put("activations.png", plots.activations())
    X, y = al.data.make_moons(200, noise=0.15, seed=0)
    al.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 2))
    hist = al.train.fit(mlp, nn.functional.cross_entropy, al.optim.Adam(mlp.parameters(), lr=0.03),
                        al.data.DataLoader(X, y, 32, shuffle=True), al.data.DataLoader(X, y, 200),
                        epochs=40, progress=False)
    put("loss_curves.png", plots.loss_curves(hist))

    def prob(points):
        with al.no_grad():
            return al.softmax(mlp(al.tensor(points)), axis=1).data[:, 1]
    put("decision_boundary.png", plots.decision_boundary(prob, X, y, title="2-16-16-2 MLP on moons"))

    def bowl(w1, w2):                 # an elongated quadratic: the learning rate matters
        return 0.5 * w1 ** 2 + 4.5 * w2 ** 2
    paths = {}
    for lr in (0.02, 0.1, 0.21):     # too small, good, too large (zig-zag across the valley)
        w_ = al.tensor([-1.8, 1.2], dtype=np.float64, requires_grad=True)
        trace = [w_.data.copy()]
        for _ in range(25):
            loss_w = 0.5 * w_[0] ** 2 + 4.5 * w_[1] ** 2
            loss_w.backward()
            w_.data -= lr * w_.grad
            w_.grad = None
            trace.append(w_.data.copy())
        paths[f"learning rate {lr}"] = np.array(trace)
    put("loss_surface.png", plots.loss_surface(bowl, paths=paths))
    rng = np.random.default_rng(0)
    S = 10 * np.log10(np.abs(rng.standard_normal((40, 100))) ** 2 + 1e-3) + \
        np.linspace(0, 20, 40)[:, None] * np.sin(np.linspace(0, 6, 100))[None, :]
    put("spectrogram.png", plots.spectrogram(S, title="log-mel spectrogram (synthetic)"))
    cm = np.diag(rng.integers(40, 50, 10)) + rng.integers(0, 4, (10, 10))
    put("confusion_matrix.png", plots.confusion_matrix(cm, [str(i) for i in range(10)]))
    put("filters.png", plots.filters(model.features[0].weight.data))
    model.eval()
    with al.no_grad():
        fmap = model.features[2](model.features[1](model.features[0](xb))).data[0]
    put("feature_maps.png", plots.feature_maps(fmap, "conv1 + relu feature maps"))

    # 14. summary table and the chain rule in words (text, into the gallery page)
    with open(os.path.join(out, "explain.txt"), "w") as f:
        for leaf in L.inputs[0].inputs[0].inputs + (L.inputs[0].inputs[1], L.inputs[1]):
            f.write(str(al.explain(L, leaf)) + "\n")
        f.write("\n" + str(al.viz.summary(loss)).split("\n\n")[1] + "\n")
    page = al.viz.save_backprop_html(micrograd_example(), os.path.join(out, "backprop_steps.html"))
    shots = [_screenshot(page, os.path.join(out, "backprop_steps_0.png"), clicks=0),
             _screenshot(page, os.path.join(out, "backprop_steps.png"), clicks=4)]
    viewer = al.draw(loss, mode="backward").save(os.path.join(out, "viewer.html"))
    shots.append(_screenshot(viewer, os.path.join(out, "viewer.png"), clicks=0,
                             actions=[("#canvas .kind-group", "features.4")]))
    made += [s for s in shots if s]
    for path in made:
        print(path)
    return made


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - start:.1f} s")
