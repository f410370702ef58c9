# %% [markdown]
# # 6. Vanishing gradients: why deep sigmoid networks learn slowly
#
# Backpropagation multiplies one local derivative per layer. The sigmoid's derivative
# is at most 1/4, so through ten sigmoid layers the gradient can shrink by 4^10, about
# a million: the first layers hardly learn. ReLU's derivative is 1 wherever the unit is
# active, so the gradient arrives at the first layer at about the size it started.
#
#     python tutorials/06_vanishing_gradients.py [--out DIR] [--quick]

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

args = setup(__doc__)
depth, width = 10, 16
epochs = 60 if args.quick else 300


def deep_net(activation):
    """2 -> 16 -> ... -> 16 -> 1 with `depth` hidden layers."""
    layers, n_in = [], 2
    for _ in range(depth):
        layers += [nn.Linear(n_in, width), activation()]
        n_in = width
    return nn.Sequential(*layers, nn.Linear(n_in, 1))


X, y = al.data.make_moons(200, seed=0)
targets = y.astype(np.float32).reshape(-1, 1)


def loss_of(model):
    return nn.functional.binary_cross_entropy_with_logits(model(al.tensor(X)), targets)


# %% [markdown]
# ## The gradient at each layer, at initialisation
# One forward and backward pass; then the size (norm) of dL/dW for each Linear layer,
# from the first (next to the input) to the last.

# %%
norms = {}
models = {}
for name, activation in (("sigmoid", nn.Sigmoid), ("ReLU", nn.ReLU)):
    al.manual_seed(0)
    model = deep_net(activation)
    loss_of(model).backward()
    linears = [m for m in model if isinstance(m, nn.Linear)]
    norms[name] = [float(np.linalg.norm(m.weight.grad)) for m in linears]
    models[name] = model
    print(f"  {name:8s} |dL/dW| first layer {norms[name][0]:.2e}, last layer {norms[name][-1]:.2e}, "
          f"ratio {norms[name][-1] / norms[name][0]:.1e}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for name, values in norms.items():
    axes[0].semilogy(range(1, len(values) + 1), values, "-o", label=name)
axes[0].set_xlabel("layer (1 = next to the input)")
axes[0].set_ylabel("|dL/dW|")
axes[0].set_title(f"gradient size per layer, {depth} hidden layers, at initialisation")
axes[0].legend()

# %% [markdown]
# ## Training both
# The same data, optimiser and learning rate. The sigmoid network's loss stays flat for
# a long time: its early layers receive almost no gradient.

# %%
for name, activation in (("sigmoid", nn.Sigmoid), ("ReLU", nn.ReLU)):
    al.manual_seed(0)
    model = deep_net(activation)
    optimizer = al.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for _ in range(epochs):
        loss = loss_of(model)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    print(f"  {name:8s} loss after {epochs} epochs: {losses[-1]:.4f}")
    axes[1].plot(losses, label=name)
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("training loss")
axes[1].set_title("training a deep network")
axes[1].legend()
saved(plots.save(fig, os.path.join(args.out, "06_gradient_per_layer.png")))

# %% [markdown]
# ## The backward pass, drawn
# The layer view of the backward graph: each edge carries the size of the gradient that
# flows along it, and darker, thicker edges carry more. In the sigmoid network the edges
# fade towards the input.

# %%
for name, model in models.items():
    loss = loss_of(model)
    loss.backward()
    drawing = al.draw(loss, mode="backward", detail="layer",
                      title=f"{name}: gradient flowing back through {depth} layers")
    saved(drawing.save(os.path.join(args.out, f"06_backward_{name.lower()}.png")))
