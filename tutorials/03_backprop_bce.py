# %% [markdown]
# # 3. Forward and backward propagation with binary cross-entropy
#
# Training a network: the forward pass computes a prediction z and the loss
# L(z, y) = -[y log z + (1-y) log(1-z)]; backpropagation computes dL/dw for every
# weight; gradient descent moves each weight against its gradient.
# Here we do the chain rule by hand for one neuron and check it against the engine.
#
#     python tutorials/03_backprop_bce.py [--out DIR] [--quick]

# %%
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import autograd_lab as al  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## One neuron with a sigmoid output, label y = 1

# %%
x1, x2, y = 1.5, -0.5, 1.0
w1, w2, b = al.Value(0.8, label="w1"), al.Value(-1.2, label="w2"), al.Value(0.1, label="b")
a = w1 * x1 + w2 * x2 + b; a.label = "a"
z = a.sigmoid(); z.label = "z"
L = -(y * z.log() + (1 - y) * (1 - z).log()); L.label = "L"
L.backward()
print(f"forward: a = {a.data:.4f}, z = sigmoid(a) = {z.data:.4f}, L = {L.data:.4f}")

# %% [markdown]
# ## The chain rule by hand
# dL/dz = -(y/z) + (1-y)/(1-z);  dz/da = z(1-z);  da/dw1 = x1.
# Multiplied: dL/dw1 = (z - y) x1, the well-known result for sigmoid + BCE.

# %%
zv = 1 / (1 + math.exp(-a.data))
dL_dz = -(y / zv) + (1 - y) / (1 - zv)
dz_da = zv * (1 - zv)
by_hand = {"w1": dL_dz * dz_da * x1, "w2": dL_dz * dz_da * x2, "b": dL_dz * dz_da}
for v in (w1, w2, b):
    print(f"  dL/d{v.label}: by hand {by_hand[v.label]:+.6f}   engine {v.grad:+.6f}")
    assert abs(by_hand[v.label] - v.grad) < 1e-12

# %% [markdown]
# ## The same, drawn, and stepped through in a browser

# %%
saved(al.draw(L, mode="backward").save(os.path.join(args.out, "03_backprop_bce.png")))
saved(al.viz.save_backprop_html(L, os.path.join(args.out, "03_backprop_steps.html")))

# %% [markdown]
# ## A gradient-descent step lowers the loss

# %%
learning_rate = 0.5
for v in (w1, w2, b):
    v.data -= learning_rate * v.grad
a2 = w1.data * x1 + w2.data * x2 + b.data
z2 = 1 / (1 + math.exp(-a2))
print(f"after one step with learning rate {learning_rate}: L = {-math.log(z2):.4f} (was {L.data:.4f})")
