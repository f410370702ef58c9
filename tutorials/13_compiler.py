# %% [markdown]
# # 13. What a compiler does to your training step
#
# Every step of training runs the same operations on new numbers. The engine records
# them as a graph each time and pays Python's price per operation. `al.compile`
# records the whole step once - forward, the backward pass (as a graph, like
# `create_graph=True`) and the optimizer's updates - then rewrites that graph and
# turns it into generated code that later steps simply run.
#
#     python tutorials/13_compiler.py [--out DIR] [--quick]

# %%
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import saved, setup  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import autograd_lab as al  # noqa: E402
from autograd_lab.viz import plots  # noqa: E402

args = setup(__doc__)
F = al.nn.functional

# %% [markdown]
# ## A training step, written as usual
# A small classifier: 20 features -> 16 hidden units (ReLU) -> 3 classes, trained with
# SGD. The decorator is the only change.

# %%
rng = np.random.default_rng(0)
centers = rng.normal(scale=2.0, size=(3, 20))
labels = rng.integers(0, 3, 600)
features = (centers[labels] + rng.normal(size=(600, 20))).astype(np.float32)


def make_step(seed=0):
    al.manual_seed(seed)
    model = al.nn.Sequential(al.nn.Linear(20, 16), al.nn.ReLU(), al.nn.Linear(16, 3))
    opt = al.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


eager_step = make_step()
compiled_step = al.compile(make_step())      # the same network, the same initial weights

# %% [markdown]
# The first call traces: it runs the step eagerly and keeps everything it recorded. The
# second traces again and checks that both traces are the same program (the same ops,
# the same constants; the parameters the same objects). Only then is the program compiled.

# %%
batch = slice(0, 64)
for call in range(3):
    compiled_step(features[batch], labels[batch])
    eager_step(features[batch], labels[batch])          # the twin takes the same steps
    print(f"  after call {call + 1}: {compiled_step.status}")

# %% [markdown]
# ## Before: the graph as traced
# Blue ovals are the program's inputs (the batch, the parameters), grey ones constants,
# boxes ops, green boxes where results go: the loss returned, each parameter's gradient
# and its new value. Forward, backward and update are one graph.

# %%
traced = compiled_step.graph("traced")
saved(traced.save(os.path.join(args.out, "13_graph_traced.png")))

# %% [markdown]
# ## The passes, one after another
# Each pass is a function graph -> graph:
# - **dce** drops what no output needs; **cse** computes identical things once;
# - **fold** evaluates what depends on constants only; **simplify** removes x*1, x+0,
#   transposes of transposes, reshapes that change nothing;
# - **lower** gives gradients that the recorded backward spells with general ops the
#   kernel the plain backward uses (max-pooling's scatter, a convolution's bias sum);
# - in a CNN, **pool_before_relu** computes `max_pool2d(relu(x))` as
#   `relu(max_pool2d(x))` (ReLU is monotone: the same values, the same gradients) so that
#   ReLU and its gradient run on the pooled array, a quarter of the size; **conv_pool**
#   then runs a convolution, its 2x2 max-pool and that ReLU as one kernel (on CPUs with
#   AVX-512), and **pool_grad_weight** its weight gradient from the pooled gradient; this
#   MLP has none of them, so they report 0;
# - **fuse** merges chains of elementwise ops into one loop (one Numba kernel: no
#   temporary arrays in between);
# - **fuse_sums** lets such a loop also add up the columns of its result when a sum
#   over the rows reads it (a linear layer's bias gradient): one pass instead of two;
# - **plan_buffers** gives fused results preallocated buffers, shared once a value is
#   dead, and lets each parameter's update write into the parameter itself.

# %%
report = compiled_step.passes()
print(f"  {'pass':<18}{'changes':>8}{'instructions':>14}")
for r in report:
    print(f"  {r.name:<18}{r.changes:>8}{r.instructions:>14}")
fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
ax.bar(range(len(report)), [r.instructions for r in report], color="#4c72b0")
for k, r in enumerate(report):
    ax.text(k, r.instructions + 0.3, str(r.changes) if r.changes else "", ha="center", fontsize=8)
ax.set_xticks(range(len(report)), [r.name for r in report], rotation=40, ha="right")
ax.set_ylabel("instructions that compute")
ax.set_title("instructions after each pass (numbers: rewrites the pass made)")
saved(plots.save(fig, os.path.join(args.out, "13_passes.png")))

# %% [markdown]
# ## After: the optimized graph
# Orange boxes are fused kernels: the cross-entropy's gradient (exp, subtract, divide),
# ReLU's gradient (compare, multiply), both with the column sums that are their layer's
# bias gradient, and every SGD update (w - lr * g, written in place).

# %%
saved(compiled_step.graph("optimized").save(os.path.join(args.out, "13_graph_optimized.png")))

# %% [markdown]
# ## The generated code
# One Python function, a line per instruction; matrix products call the library's own
# kernels, fused chains call Numba kernels cached on disk by a hash of their source.

# %%
source = compiled_step.source()
print("\n".join("    " + line for line in source.splitlines()[:40]))

# %% [markdown]
# ## Same numbers, less time
# Compiled and eager steps give the same losses (the same float32 operations in the
# same order), step after step.

# %%
epochs = 2 if args.quick else 10
eager_losses, compiled_losses = [], []
times = {"eager": 0.0, "compiled": 0.0}
for epoch in range(epochs):
    for start in range(0, 576, 64):
        x, y = features[start:start + 64], labels[start:start + 64]
        t = time.perf_counter()
        eager_losses.append(float(eager_step(x, y).data))
        times["eager"] += time.perf_counter() - t
        t = time.perf_counter()
        compiled_losses.append(float(compiled_step(x, y).data))
        times["compiled"] += time.perf_counter() - t
gap = np.max(np.abs(np.array(eager_losses) - np.array(compiled_losses)) / np.array(eager_losses))
print(f"  largest relative difference of the losses: {gap:.1e}")
assert gap < 1e-4
steps = len(eager_losses)
print(f"  per step: eager {times['eager'] / steps * 1e6:.0f} µs, compiled {times['compiled'] / steps * 1e6:.0f} µs")

fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
ax.plot(eager_losses, lw=3, alpha=0.4, label="eager")
ax.plot(compiled_losses, "k--", lw=1, label="compiled")
ax.set_xlabel("step"); ax.set_ylabel("loss"); ax.legend()
ax.set_title("the same training, eager and compiled")
saved(plots.save(fig, os.path.join(args.out, "13_losses.png")))

# %% [markdown]
# ## What cannot be compiled, and what happens then
# A replayed program cannot look at numbers: a Python `if` on a loss, or `.item()` used
# in the middle of the step, would be frozen at the values of the trace. The compiler
# notices, warns once with the reason and the line, and runs the function eagerly.

# %%
w = al.tensor(np.ones(3, np.float32), requires_grad=True)


@al.compile
def scaled(x):
    scale = (x * w).sum().item()             # a number read in the middle ...
    return (x * scale).sum()                 # ... and used afterwards


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    scaled(al.tensor(np.arange(3.0, dtype=np.float32)))
print("  " + str(caught[0].message))
print(f"  status: {scaled.status[:60]}...")
