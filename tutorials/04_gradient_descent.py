# %% [markdown]
# # 4. Gradient descent, the learning rate, and the loss contour
#
# Gradient descent repeats w <- w - learning_rate * dL/dw. Too small a rate crawls;
# too large a rate overshoots the valley and zig-zags (or diverges). On a surface
# with two valleys, where you start decides which minimum you reach.
#
#     python tutorials/04_gradient_descent.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)
steps = 15 if args.quick else 40


def descend(loss_fn, start, learning_rate, steps):
    """Gradient descent on a loss of a 2-vector; returns the path of w."""
    w = al.tensor(np.array(start, dtype=np.float64), requires_grad=True)
    path = [w.data.copy()]
    for _ in range(steps):
        loss = loss_fn(w[0], w[1])
        loss.backward()
        w.data -= learning_rate * w.grad
        w.grad = None
        path.append(w.data.copy())
    return np.array(path)


# %% [markdown]
# ## An elongated valley: three learning rates

# %%
def valley(w1, w2):
    return 0.5 * w1 ** 2 + 4.5 * w2 ** 2      # curvature 1 along w1, 9 along w2


paths = {f"learning rate {lr}": descend(valley, [-1.8, 1.2], lr, steps) for lr in (0.02, 0.1, 0.21)}
for label, path in paths.items():
    print(f"  {label:20s} final loss {valley(*path[-1]):.5f}")
saved(plots.save(plots.loss_surface(valley, paths=paths), os.path.join(args.out, "04_learning_rates.png")))


# %% [markdown]
# ## Two minima: a local one and the global one

# %%
def two_valleys(w1, w2):
    return (w1 ** 2 - 1) ** 2 + 0.3 * w1 + w2 ** 2    # global minimum near w1 = -1


starts = {"start at w1 = 1.5": [1.5, 1.0], "start at w1 = -0.2": [-0.2, 1.0]}
paths = {label: descend(two_valleys, s, 0.05, steps * 2) for label, s in starts.items()}
for label, path in paths.items():
    print(f"  {label:20s} ends at w1 = {path[-1][0]:+.3f}, loss {two_valleys(*path[-1]):+.4f}")
saved(plots.save(plots.loss_surface(two_valleys, paths=paths), os.path.join(args.out, "04_local_global.png")))
