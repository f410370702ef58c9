# %% [markdown]
# # 2. Activation functions: tanh, ReLU, sigmoid, and their derivatives
#
# Without a non-linearity, a stack of layers is just one linear map. The derivative
# of the activation scales every gradient that passes through it: where it is near
# zero (tanh and sigmoid far from 0, ReLU below 0) little gradient gets through.
# The derivatives below are not typed in: the engine computes them.
#
#     python tutorials/02_activations.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## Values and slopes at a few points

# %%
points = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
for name in ("tanh", "relu", "sigmoid"):
    x = al.tensor(points, dtype=np.float64, requires_grad=True)
    y = getattr(al, name)(x)
    y.sum().backward()
    print(f"{name:8s} f(x)  = {np.round(y.data, 3)}")
    print(f"{'':8s} f'(x) = {np.round(x.grad, 3)}")

# %% [markdown]
# The largest slope of sigmoid is 0.25 (at 0): ten sigmoid layers can shrink a
# gradient by 0.25^10, about 1e-6. That is the vanishing gradient of tutorial 6.

# %%
saved(plots.save(plots.activations(), os.path.join(args.out, "02_activations.png")))
