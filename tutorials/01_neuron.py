# %% [markdown]
# # 1. An artificial neuron: a weighted sum, then a non-linearity
#
# A neuron multiplies each input by a weight, adds the products and a bias, and
# passes the sum through an activation function:  o = tanh(x1*w1 + x2*w2 + b).
# Every number below is an `al.Value`, a node of the graph, so we can draw the
# computation and see the gradient of the output with respect to every weight.
#
#     python tutorials/01_neuron.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import autograd_lab as al  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## Forward: the weighted sum and the activation

# %%
x1, x2 = al.Value(2.0, label="x1"), al.Value(0.0, label="x2")      # inputs
w1, w2 = al.Value(-3.0, label="w1"), al.Value(1.0, label="w2")     # weights
b = al.Value(6.8813735870195432, label="b")                         # bias
x1w1 = x1 * w1; x1w1.label = "x1*w1"
x2w2 = x2 * w2; x2w2.label = "x2*w2"
n = x1w1 + x2w2 + b; n.label = "n"                                  # the weighted sum
o = n.tanh(); o.label = "o"                                         # the non-linearity
print(f"weighted sum n = {n.data:.4f}, output o = tanh(n) = {o.data:.4f}")
saved(al.draw(o).save(os.path.join(args.out, "01_neuron_forward.svg")))

# %% [markdown]
# ## Backward: how the output changes with each weight
# `o.backward()` applies the chain rule from o back to every leaf.
# d o / d n = 1 - tanh(n)^2 = 0.5 here, and d n / d w1 = x1 = 2, so d o / d w1 = 1.

# %%
o.backward()
for v in (x1, w1, x2, w2, b):
    print(f"  d o / d {v.label:2s} = {v.grad:+.4f}")
saved(al.draw(o, mode="backward").save(os.path.join(args.out, "01_neuron_backward.svg")))
saved(al.draw(o, mode="backward").save(os.path.join(args.out, "01_neuron_backward.png")))
print(al.explain(o, w1))
