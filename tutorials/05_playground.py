# %% [markdown]
# # 5. A neural-network playground: small MLPs on 2-D data
#
# Like the TensorFlow playground, but on our engine, and with the backward pass one
# click away. In a terminal:
#
#     autograd-lab playground
#
# opens the interactive page (data sets, features, layers, activations, learning rate,
# regularisation, play/pause; click a point to see its forward and backward pass, local
# × upstream on every edge). Its URL holds every setting, so a link is a lesson. This
# script drives the same playground session without a browser (so it runs in CI), then
# looks closer with plain matplotlib: four toy datasets, what each hidden neuron
# responds to, and shallow against deep.
#
#     python tutorials/05_playground.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab import nn  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402
from autograd_lab.playground import Session  # noqa: E402

args = setup(__doc__)
epochs = 150 if args.quick else 600


def mlp(sizes, activation=nn.Tanh):
    """Linear layers of the given sizes with `activation` between them; one logit out."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers[:-1])


def train(model, X, y, epochs, lr=0.03):
    """Full-batch Adam on binary cross-entropy with logits; returns the loss history."""
    optimizer = al.optim.Adam(model.parameters(), lr=lr)
    inputs, targets = al.tensor(X), y.astype(np.float32).reshape(-1, 1)
    losses = []
    for _ in range(epochs):
        loss = nn.functional.binary_cross_entropy_with_logits(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def probability(model):
    def predict(points):
        with al.no_grad():
            return model(al.tensor(points)).sigmoid().data[:, 0]
    return predict


# %% [markdown]
# ## The playground's own session, from a shared link
# A teacher shares a playground URL; its settings (everything after the token) rebuild
# the same state here. The spiral, two hidden layers of 8 tanh neurons, only x1 and x2
# as features, 1,000 points (70 % for training), Adam: train until the test loss falls
# below 0.1, as the page would when you press Play.

# %%
from urllib.parse import parse_qsl  # noqa: E402

link = "data=spiral&layers=8,8&act=tanh&features=x1,x2&n=1000&ratio=70&batch=20&opt=adam&lr=0.03"
session = Session(dict(parse_qsl(link)))
while session.history[-1][2] >= 0.1 and session.epoch < (100 if args.quick else 300):
    snap = session.train(epochs=5)
snap = session.snapshot()                      # with the data points (training replies leave them out)
print(f"  playground: epoch {snap['epoch']}, training loss {snap['train_loss']:.3f}, test loss {snap['test_loss']:.3f}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4.4), layout="constrained")
cells, d = snap["grid"], snap["domain"]
colours = np.array([[245, 147, 34], [8, 119, 189]]) / 255            # the page's class colours
confidence = np.array(snap["boundary"]["conf"]).reshape(cells, cells, 1)
winner = np.array(snap["boundary"]["cls"]).reshape(cells, cells)
shade = 0.15 + 0.55 * confidence                       # as the page: the class colour, paler where unsure
axes[0].imshow(1 + (colours[winner] - 1) * shade, extent=[-d, d, -d, d])   # row 0 is the top (x2 = +d)
for subset, edge in (("train", "white"), ("test", "black")):
    xy, labels = np.array(snap["points"][subset]["xy"]), np.array(snap["points"][subset]["label"])
    axes[0].scatter(xy[:, 0], xy[:, 1], c=colours[labels], s=10, edgecolors=edge, linewidths=0.5)
axes[0].set_title("decision boundary (white edge: training, black: test)")
history = np.array(snap["history"])
axes[1].plot(history[:, 0], history[:, 1], label="training")
axes[1].plot(history[:, 0], history[:, 2], label="test")
axes[1].axhline(0.1, color="grey", lw=0.8, ls="--")
axes[1].set_xlabel("epoch"); axes[1].set_ylabel("cross-entropy"); axes[1].legend(); axes[1].set_title("loss curves")
saved(plots.save(fig, os.path.join(args.out, "05_playground_session.png")))

# %% [markdown]
# ## One point, forward and backward
# Clicking a point on the page shows this: the point's loss as a graph of scalar
# `al.Value`s through the current weights, and for every weight the chain rule's
# local derivative (the input x) times the upstream gradient (d loss / d z of the
# neuron) — which is exactly the engine's gradient. Below: the first neuron's
# incoming edges, then the whole graph of a small network drawn by `al.draw`.

# %%
trace = session.trace("test", 0)
first = trace["layers"][0]
print(f"  test point 0 at {np.round(trace['xy'], 3).tolist()}, label {trace['label']}, loss {trace['loss']:.4f}")
for e in first["edges"][:2]:
    print(f"    {e['name']}: local x = {e['x']:+.4f} x upstream {e['upstream']:+.4f} = {e['dw']:+.4f}")
small = Session({"data": "xor", "layers": "2", "features": "x1,x2,x1x2", "opt": "adam", "lr": "0.05"})
small.train(epochs=20)
with open(os.path.join(args.out, "05_point_backward.svg"), "w", encoding="utf-8") as f:
    f.write(small.drawing_svg("train", 0))
saved(os.path.join(args.out, "05_point_backward.svg"))

# %% [markdown]
# ## Four datasets, one 2-8-8-1 tanh network each
# Each network is trained on 200 points and tested on 200 fresh points from the same
# distribution (another seed).

# %%
makers = {"moons": al.data.make_moons, "circles": al.data.make_circles,
          "xor": al.data.make_xor, "spiral": al.data.make_spiral}
fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), layout="constrained")
models = {}
for ax, (name, make) in zip(axes, makers.items()):
    al.manual_seed(0)
    X, y = make(200, seed=0)
    X_test, y_test = make(200, seed=1)
    model = mlp((2, 8, 8, 1))
    losses = train(model, X, y, epochs)
    accuracy = np.mean((probability(model)(X_test) > 0.5) == y_test)
    print(f"  {name:8s} final training loss {losses[-1]:.3f}, test accuracy {accuracy:.3f}")
    plots.decision_boundary(probability(model), X, y, ax=ax, title=f"{name}: test accuracy {accuracy:.2f}")
    models[name] = (model, X, y)
saved(plots.save(fig, os.path.join(args.out, "05_decision_boundaries.png")))

# %% [markdown]
# ## What each hidden neuron computes
# Every neuron of the first hidden layer draws one straight line through the plane (its
# weighted sum is zero there) and squashes the two sides apart. The second layer
# combines those half-planes into curved regions. Heat maps of each neuron's output:

# %%
model, X, y = models["circles"]
grid = np.linspace(-1.6, 1.6, 120)
gx, gy = np.meshgrid(grid, grid)
points = al.tensor(np.c_[gx.ravel(), gy.ravel()].astype(np.float32))
fig, axes = plt.subplots(2, 8, figsize=(16, 4.4), layout="constrained")
with al.no_grad():
    hidden1 = model[1](model[0](points)).data          # Linear, then tanh
    hidden2 = model[3](model[2](al.tensor(hidden1))).data
for row, (layer, values) in enumerate((("layer 1", hidden1), ("layer 2", hidden2))):
    for k in range(8):
        ax = axes[row, k]
        ax.imshow(values[:, k].reshape(gx.shape), origin="lower", cmap="RdBu_r", vmin=-1, vmax=1,
                  extent=[grid[0], grid[-1], grid[0], grid[-1]])
        ax.set_title(f"{layer}, neuron {k}", fontsize=8)
        ax.set_xticks([]); ax.set_yticks([])
fig.suptitle("circles: each hidden neuron's output over the input plane (red +1, blue -1)")
saved(plots.save(fig, os.path.join(args.out, "05_neuron_heatmaps.png")))

# %% [markdown]
# ## Shallow against deep, with the same 24 hidden neurons
# One hidden layer of 24 neurons, or three layers of 8, on a spiral of two and a half
# turns. Depth lets later layers reuse the features of earlier ones (the network folds
# the plane several times), so the deep network drives the training loss far lower
# with the same number of neurons. Compare the test accuracies too: fitting the
# training data better is not the same as generalising better.

# %%
X, y = al.data.make_spiral(400, turns=2.5, noise=0.02, seed=0)
X_test, y_test = al.data.make_spiral(400, turns=2.5, noise=0.02, seed=1)
fig, axes = plt.subplots(1, 3, figsize=(13, 4), layout="constrained")
histories = {}
for ax, (label, sizes) in zip(axes, (("shallow 2-24-1", (2, 24, 1)), ("deep 2-8-8-8-1", (2, 8, 8, 8, 1)))):
    al.manual_seed(1)
    model = mlp(sizes)
    histories[label] = train(model, X, y, epochs * 2, lr=0.02)
    accuracy = np.mean((probability(model)(X_test) > 0.5) == y_test)
    n_params = sum(p.size for p in model.parameters())
    print(f"  {label:16s} {n_params} parameters, final loss {histories[label][-1]:.3f}, test accuracy {accuracy:.3f}")
    plots.decision_boundary(probability(model), X, y, ax=ax, title=f"{label}: {accuracy:.2f}")
for label, losses in histories.items():
    axes[2].plot(losses, label=label)
axes[2].set_yscale("log"); axes[2].set_xlabel("epoch"); axes[2].set_ylabel("training loss")
axes[2].legend(); axes[2].set_title("training loss")
saved(plots.save(fig, os.path.join(args.out, "05_shallow_vs_deep.png")))
