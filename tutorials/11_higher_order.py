# %% [markdown]
# # 11. Higher-order derivatives: the gradient is a graph too
#
# With `create_graph=True`, the backward pass records its own operations, so the
# gradient is an ordinary node of a graph: it can be drawn, and differentiated again.
# That gives second derivatives (curvature), Hessian-vector products (curvature along a
# direction, without ever building the Hessian), and Newton's method.
#
#     python tutorials/11_higher_order.py [--out DIR] [--quick]

# %%
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)

# %% [markdown]
# ## Grad of grad: tanh and its first three derivatives
# d/dx tanh = 1 - tanh^2;  d2/dx2 = -2 tanh (1 - tanh^2);  d3/dx3 = (6 tanh^2 - 2)(1 - tanh^2).

# %%
xs = np.linspace(-3, 3, 121)
x = al.tensor(xs, dtype=np.float64, requires_grad=True)
f = x.tanh()
derivatives = [f]
for order in range(3):
    (g,) = al.grad(derivatives[-1].sum(), x, create_graph=True)   # elementwise: sum keeps each slope
    derivatives.append(g)
t = np.tanh(xs)
formulas = [t, 1 - t ** 2, -2 * t * (1 - t ** 2), (6 * t ** 2 - 2) * (1 - t ** 2)]
for order, (engine, formula) in enumerate(zip(derivatives, formulas)):
    print(f"  order {order}: largest difference from the formula {np.abs(engine.data - formula).max():.1e}")
    assert np.allclose(engine.data, formula, atol=1e-12)

fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
for order, d in enumerate(derivatives):
    ax.plot(xs, d.data, label=["tanh(x)", "first derivative", "second", "third"][order])
ax.axhline(0, color="k", lw=0.5); ax.set_xlabel("x"); ax.legend()
ax.set_title("tanh and its derivatives, each the gradient of the one before")
saved(plots.save(fig, os.path.join(args.out, "11_tanh_derivatives.png")))

# %% [markdown]
# ## The gradient's own graph, drawn
# For y = x^3 at x = 2: dy/dx = 3x^2 = 12 is computed by a graph the backward pass
# built; differentiating it once more gives 6x = 12.

# %%
x = al.Value(2.0, label="x")
y = x ** 3
y.label = "y"
(dy,) = al.grad(y, x, create_graph=True)
dy.label = "dy/dx"
(d2y,) = al.grad(dy, x)
print(f"  y = {y.data}, dy/dx = {dy.data} (3x^2 = 12), d2y/dx2 = {d2y.data} (6x = 12)")
saved(al.draw(dy, title="the graph of dy/dx for y = x^3, recorded by the backward pass")
      .save(os.path.join(args.out, "11_gradient_graph.png")))

# %% [markdown]
# ## Hessian-vector products
# For a loss L(w), the Hessian H holds all second derivatives. H v is the gradient of
# (grad L . v): two backward passes, never the n x n matrix. Check it against the full
# Hessian of a small network's loss, built column by column.

# %%
al.manual_seed(0)
rng = np.random.default_rng(0)
X = al.tensor(rng.standard_normal((32, 3)))
targets = rng.standard_normal((32, 1))
w = al.tensor(rng.standard_normal(3 * 4 + 4), dtype=np.float64, requires_grad=True)


def loss_of(w):
    W1 = al.reshape(w[:12], (3, 4))
    W2 = al.reshape(w[12:], (4, 1))
    return (((X @ W1).tanh() @ W2 - targets) ** 2).mean()


def hvp(v):
    (g,) = al.grad(loss_of(w), w, create_graph=True)
    (Hv,) = al.grad((g * al.tensor(v)).sum(), w)
    return Hv.data


v = rng.standard_normal(w.size)
H = np.stack([hvp(e) for e in np.eye(w.size)], axis=1)
print(f"  Hessian {H.shape}: symmetric to {np.abs(H - H.T).max():.1e}; "
      f"H v from one product vs the full matrix: {np.abs(hvp(v) - H @ v).max():.1e}")
eigenvalues = np.linalg.eigvalsh((H + H.T) / 2)
print(f"  curvature (eigenvalues) from {eigenvalues.min():.3f} to {eigenvalues.max():.3f}")

# %% [markdown]
# ## Newton's method against gradient descent
# Newton's step w <- w - H^-1 grad L uses the curvature, and near a minimum converges
# in a handful of steps where plain gradient descent needs many. Shown on Rosenbrock's
# banana-shaped valley, f(a, b) = (1 - a)^2 + 100 (b - a^2)^2, minimum at (1, 1).

# %%
def rosenbrock(a, b):
    return (1 - a) ** 2 + 100 * (b - a ** 2) ** 2


def gradient_and_hessian(point):
    p = al.tensor(point, dtype=np.float64, requires_grad=True)
    (g,) = al.grad(rosenbrock(p[0], p[1]), p, create_graph=True)
    rows = [al.grad(g[i], p, retain_graph=True)[0].data for i in range(2)]
    return g.data, np.stack(rows)


steps = 10 if args.quick else 25
newton, descent = [np.array([-1.2, 1.0])], [np.array([-1.2, 1.0])]
for _ in range(steps):
    g, H = gradient_and_hessian(newton[-1])
    newton.append(newton[-1] - np.linalg.solve(H, g))
for _ in range(steps * 40):
    g, _ = gradient_and_hessian(descent[-1])
    descent.append(descent[-1] - 0.0015 * g)
reached = next((k for k, p in enumerate(newton) if rosenbrock(*p) < 1e-10), None)
print(f"  Newton after {steps} steps: {newton[-1].round(6)}, f = {rosenbrock(*newton[-1]):.2e} "
      f"(below 1e-10 from step {reached})")
print(f"  gradient descent after {steps * 40} steps: {descent[-1].round(4)}, f = {rosenbrock(*descent[-1]):.2e}")
fig = plots.loss_surface(rosenbrock, xlim=(-1.6, 1.6), ylim=(-0.6, 1.8), log=True,
                         paths={f"Newton ({steps} steps)": np.array(newton),
                                f"gradient descent ({steps * 40} steps, every 20th shown)":
                                    np.array(descent)[::20]})
saved(plots.save(fig, os.path.join(args.out, "11_newton_vs_descent.png")))
