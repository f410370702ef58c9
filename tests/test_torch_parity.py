"""The same computation in autograd_lab and in PyTorch: values, first- and second-order
gradients, in float64, for ops, layers and losses (broadcasting, odd shapes, size-1 axes).

Each case is one function written once and run on both libraries: `lib` is either
`AL` or `TORCH` below (the package, its `F` = nn.functional and its `nn`), so where
the two spell a call the same way, the test proves that a PyTorch habit works here.
Where they must differ, the case gives the torch form separately (`torch_fn`).

Gradients: the output is contracted with a fixed random u; first order compares
d<u, f>/d(every float input); second order contracts those gradients with fixed
random v and compares the gradient of that (a Hessian-vector product), computed
through a recorded backward pass (create_graph=True) on both sides. Parameters of
layers count as inputs. Skipped where torch is not installed.
"""
from __future__ import annotations

import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)    # small tensors; spinning threads only slow a shared machine down

import autograd_lab as al  # noqa: E402

AL = types.SimpleNamespace(name="al", lib=al, F=al.nn.functional, nn=al.nn)
TORCH = types.SimpleNamespace(name="torch", lib=torch, F=torch.nn.functional, nn=torch.nn)


# ---- input specifications ------------------------------------------------------------------
def x(*shape, low=-2.0, high=2.0, avoid=()):
    """A float input of `shape` that takes gradients, drawn uniformly from [low, high]."""
    return ("float", shape, low, high, avoid)


def idx(shape, high, low=0, fill=None):
    """Integer class indices in [low, high) (constant); `fill` puts given values at the front."""
    return ("int", shape, low, high, fill)


def const(array):
    """A constant float array (no gradient)."""
    return ("const", np.asarray(array, np.float64))


class Case:
    def __init__(self, name, fn, inputs, torch_fn=None, layer=None, order=2, rtol=1e-9, atol=1e-10,
                 train=True):
        self.name, self.fn, self.inputs = name, fn, inputs
        self.torch_fn = torch_fn or fn
        self.layer, self.order, self.rtol, self.atol, self.train = layer, order, rtol, atol, train


def _draw(spec, rng):
    kind = spec[0]
    if kind == "float":
        _, shape, low, high, avoid = spec
        a = rng.uniform(low, high, shape)
        for point in avoid:                      # away from kinks, where the two may differ
            near = np.abs(a - point) < 0.1
            a[near] = point + np.where(a[near] >= point, 0.1, -0.1)
        return a
    if kind == "int":
        _, shape, low, high, fill = spec
        a = rng.integers(low, high, shape)
        if fill is not None:
            a.reshape(-1)[:len(fill)] = fill
        return a
    return spec[1]


def _leaves(case, arrays):
    al_in, t_in = [], []
    for spec, a in zip(case.inputs, arrays):
        if spec[0] == "float":
            al_in.append(al.tensor(a.copy(), requires_grad=True))
            t_in.append(torch.tensor(a.copy(), requires_grad=True))
        elif spec[0] == "int":
            al_in.append(a.copy())
            t_in.append(torch.from_numpy(a.copy()))
        else:
            al_in.append(al.tensor(a.copy()))
            t_in.append(torch.from_numpy(a.copy()))
    return al_in, t_in


def _layers(case):
    """The layer built by both libraries, torch's loaded with ours' float64 weights."""
    al.manual_seed(0)
    previous = al.get_default_dtype()
    al.set_default_dtype(np.float64)
    try:
        ours = case.layer(AL)
    finally:
        al.set_default_dtype(previous)
    theirs = case.layer(TORCH).double()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    ours.train(case.train)
    theirs.train(case.train)
    return ours, theirs


def _raw(v, lib):
    if v is None:
        return None
    return v.detach().numpy(force=True) if lib is TORCH else np.asarray(v.data)


def _run(lib, case, inputs, module, u, v):
    fn = case.fn if lib is AL else case.torch_fn
    args = ([module] if module is not None else []) + inputs
    out = fn(lib, *args)
    value = _raw(out, lib)
    if case.order == 0:
        return value, [], []
    wrt = [t for t in inputs if getattr(t, "requires_grad", False) and not isinstance(t, np.ndarray)]
    if module is not None:
        wrt += list(module.parameters())
    if lib is AL:
        g1 = al.grad(out, wrt, grad_outputs=u, create_graph=case.order > 1, allow_unused=True)
    else:
        g1 = torch.autograd.grad(out, wrt, grad_outputs=torch.from_numpy(u), create_graph=case.order > 1,
                                 allow_unused=True)
    first = [np.zeros(np.shape(_raw(w, lib))) if g is None else _raw(g, lib) for g, w in zip(g1, wrt)]
    if case.order == 1:
        return value, first, []
    total = None
    for g, vi in zip(g1, v):
        if g is None:
            continue
        term = (g * (al.tensor(vi) if lib is AL else torch.from_numpy(vi))).sum()
        total = term if total is None else total + term
    if total is None or not total.requires_grad:
        second = [np.zeros(np.shape(_raw(w, lib))) for w in wrt]
    else:
        g2 = (al.grad(total, wrt, allow_unused=True) if lib is AL
              else torch.autograd.grad(total, wrt, allow_unused=True))
        second = [np.zeros(np.shape(_raw(w, lib))) if g is None else _raw(g, lib) for g, w in zip(g2, wrt)]
    return value, first, second


def check(case, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [_draw(spec, rng) for spec in case.inputs]
    al_in, t_in = _leaves(case, arrays)
    ours = theirs = None
    if case.layer is not None:
        ours, theirs = _layers(case)
    al.manual_seed(0)
    probe = case.fn(AL, *(([ours] if ours is not None else []) + al_in))
    u = rng.standard_normal(np.shape(probe.data))
    n_wrt = sum(1 for s in case.inputs if s[0] == "float") + (len(ours.parameters()) if ours else 0)
    shapes = [np.shape(a) for s, a in zip(case.inputs, arrays) if s[0] == "float"]
    shapes += [p.shape for p in ours.parameters()] if ours else []
    v = [rng.standard_normal(s) for s in shapes]
    assert len(v) == n_wrt
    if ours is not None:               # the probe ran the layer once: start both from the same state
        ours, theirs = _layers(case)
    al_in, t_in = _leaves(case, arrays)
    mine = _run(AL, case, al_in, ours, u, v)
    ref = _run(TORCH, case, t_in, theirs, u, v)
    tol = dict(rtol=case.rtol, atol=case.atol)
    np.testing.assert_allclose(mine[0], ref[0], err_msg=f"{case.name}: values", **tol)
    for k, (a, b) in enumerate(zip(mine[1], ref[1])):
        np.testing.assert_allclose(a, b, err_msg=f"{case.name}: gradient of input {k}", **tol)
    for k, (a, b) in enumerate(zip(mine[2], ref[2])):
        np.testing.assert_allclose(a, b, err_msg=f"{case.name}: second order, input {k}", **tol)
    if ours is not None:               # running statistics, counters: the same state afterwards
        for key, value in ours.state_dict().items():
            np.testing.assert_allclose(value, theirs.state_dict()[key].numpy(), err_msg=f"{case.name}: {key}",
                                       rtol=1e-7, atol=1e-9)


# ---- the cases ---------------------------------------------------------------------------------
CASES = [
    # elementwise, unary
    Case("exp", lambda L, a: a.exp(), [x(3, 4)]),
    Case("log", lambda L, a: a.log(), [x(2, 3, low=0.2, high=3)]),
    Case("sqrt", lambda L, a: a.sqrt(), [x(5, low=0.2, high=3)]),
    Case("tanh", lambda L, a: a.tanh(), [x(2, 1, 3)]),
    Case("sigmoid", lambda L, a: a.sigmoid(), [x(4, 3, low=-6, high=6)]),
    Case("relu", lambda L, a: a.relu(), [x(3, 5, avoid=(0,))]),
    Case("abs", lambda L, a: a.abs(), [x(7, avoid=(0,))]),
    Case("neg", lambda L, a: -a, [x(2, 2)]),
    Case("pow_scalar", lambda L, a: a ** 3, [x(3, 2)]),
    Case("pow_tensor", lambda L, a, b: a ** b, [x(3, 1, low=0.3, high=2), x(1, 4)]),
    Case("rpow", lambda L, a: 2.0 ** a, [x(3)]),
    Case("F.relu", lambda L, a: L.F.relu(a), [x(2, 3, avoid=(0,))]),
    Case("F.leaky_relu", lambda L, a: L.F.leaky_relu(a, 0.2), [x(4, 3, avoid=(0,))]),
    Case("F.elu", lambda L, a: L.F.elu(a, 0.7), [x(4, 3, avoid=(0,))]),
    Case("F.silu", lambda L, a: L.F.silu(a), [x(2, 5)]),
    Case("F.softplus", lambda L, a: L.F.softplus(a), [x(3, 4, low=-30, high=30)]),
    Case("F.logsigmoid", lambda L, a: L.F.logsigmoid(a), [x(3, 4, low=-30, high=30)]),
    Case("F.gelu_tanh", lambda L, a: L.F.gelu(a, approximate="tanh"), [x(3, 4)]),
    Case("erf", lambda L, a: L.lib.erf(a), [x(3, 4, low=-3, high=3)]),
    Case("F.gelu", lambda L, a: L.F.gelu(a), [x(3, 4, low=-4, high=4)]),
    Case("pow_zero_at_zero", lambda L, a: (a * 0) ** 0 + a ** 2, [x(3)]),
    Case("pow_base_zero", lambda L, a, b: (a * 0) ** b, [x(3), x(3, low=1, high=3)], order=1),
    Case("clamp", lambda L, a: a.clamp(-0.5, 1.0), [x(4, 3, avoid=(-0.5, 1.0))]),
    Case("clamp_min_only", lambda L, a: L.lib.clamp(a, min=0.2), [x(5, avoid=(0.2,))]),
    Case("square", lambda L, a: a.square(), [x(2, 3)]),
    # elementwise, binary, broadcasting
    Case("add_broadcast", lambda L, a, b: a + b, [x(3, 1), x(1, 4)]),
    Case("sub_broadcast", lambda L, a, b: a - b, [x(2, 3, 4), x(4)]),
    Case("mul_broadcast", lambda L, a, b: a * b, [x(2, 1, 3), x(5, 1)]),
    Case("div_broadcast", lambda L, a, b: a / b, [x(3, 4), x(4, low=0.5, high=2)]),
    Case("rsub_scalar", lambda L, a: 1.5 - a, [x(3)]),
    Case("rdiv_scalar", lambda L, a: 2.0 / a, [x(3, 2, low=0.5, high=2)]),
    Case("maximum", lambda L, a, b: L.lib.maximum(a, b), [x(3, 4), x(4)]),
    Case("minimum", lambda L, a, b: L.lib.minimum(a, b), [x(3, 1), x(3, 4)]),
    Case("where", lambda L, a, b: L.lib.where(a > b, a, b * 2), [x(3, 4), x(4)]),
    # reductions
    Case("sum_all", lambda L, a: a.sum(), [x(3, 4)]),
    Case("mean_all", lambda L, a: a.mean(), [x(2, 3, 5)]),
    Case("max_all", lambda L, a: a.max(), [x(13)]),
    Case("min_all", lambda L, a: a.min(), [x(3, 4)]),
    Case("sum_dim_keepdim", lambda L, a: a.sum(dim=1, keepdim=True) * a, [x(2, 3, 4)]),
    Case("sum_dims_tuple", lambda L, a: a.sum(dim=(0, 2)), [x(2, 3, 4)]),
    Case("mean_dim", lambda L, a: a.mean(dim=-1) ** 2, [x(3, 5)]),
    Case("amax_dim", lambda L, a: a.amax(dim=0), [x(4, 3)]),
    Case("max_dim_values", lambda L, a: a.max(dim=1).values * 2, [x(3, 5)]),
    Case("min_dim_values", lambda L, a: a.min(dim=0, keepdim=True)[0] * a, [x(3, 4)]),
    Case("var_unbiased", lambda L, a: a.var(dim=1), [x(3, 5)]),
    Case("var_all_biased", lambda L, a: a.var(unbiased=False), [x(2, 3, 2)]),
    Case("std_keepdim", lambda L, a: a.std(dim=0, keepdim=True) * a, [x(4, 3)]),
    Case("std_correction0", lambda L, a: L.lib.std(a, dim=(1, 2), correction=0), [x(2, 3, 4)]),
    Case("logsumexp", lambda L, a: L.lib.logsumexp(a, 1), [x(3, 5, low=-50, high=50)]),
    Case("softmax", lambda L, a: L.F.softmax(a, dim=1), [x(3, 4, 2)]),
    Case("log_softmax", lambda L, a: L.F.log_softmax(a, dim=-1), [x(2, 3, low=-100, high=100)]),
    # shapes and indexing
    Case("reshape", lambda L, a: a.reshape(4, 3) * 2, [x(3, 4)]),
    Case("T", lambda L, a: a.T @ a, [x(3, 2)]),
    Case("getitem_slices", lambda L, a: a[1:, ::2] * 3, [x(4, 5)]),
    Case("getitem_repeated", lambda L, a: a[[0, 2, 0, 0]] ** 2, [x(3, 2)]),
    Case("getitem_mask", lambda L, a: a[a > 0] ** 2, [x(4, 3)]),
    Case("view", lambda L, a: a.view(2, -1) * 2, [x(3, 2, 2)]),
    Case("permute", lambda L, a: a.permute(2, 0, 1) * a.permute(2, 0, 1), [x(2, 3, 4)]),
    Case("transpose_swap", lambda L, a: a.transpose(1, 2) ** 2, [x(2, 3, 4)]),
    Case("transpose_2d", lambda L, a: a.transpose(0, 1) @ a, [x(3, 2)]),
    Case("squeeze_unsqueeze", lambda L, a: a.squeeze(1).unsqueeze(0) ** 2, [x(3, 1, 4)]),
    Case("squeeze_all", lambda L, a: a.squeeze() * 3, [x(1, 3, 1)]),
    Case("expand", lambda L, a: a.expand(2, 3, 4) * L.lib.arange(4.0, dtype=a.dtype), [x(3, 1)]),
    Case("flatten_start_end", lambda L, a: L.lib.flatten(a, 1, 2) ** 2, [x(2, 3, 4, 2)]),
    Case("cat_dim", lambda L, a, b: L.lib.cat([a, b * 2, a], dim=1), [x(2, 3), x(2, 1)]),
    Case("masked_fill", lambda L, a: a.masked_fill(a > 0.5, -1.0) * a, [x(3, 4, avoid=(0.5,))]),
    Case("F.pad_constant", lambda L, a: L.F.pad(a, (1, 2, 0, 1), value=0.5) ** 2, [x(2, 3, 4)]),
    Case("F.pad_reflect", lambda L, a: L.F.pad(a, (2, 1, 1, 1), mode="reflect") ** 2, [x(1, 2, 3, 4)]),
    Case("F.pad_replicate_crop", lambda L, a: L.F.pad(a, (-1, 2), mode="replicate") ** 2, [x(2, 2, 5)]),
    Case("F.pad_circular", lambda L, a: L.F.pad(a, (1, 2, 2, 0), mode="circular") ** 2, [x(1, 1, 3, 4)]),
    Case("clone", lambda L, a: a.clone() * a, [x(3)]),
    Case("argmax_dim", lambda L, a: a.argmax(dim=1), [x(4, 5)], order=0),
    Case("argmin_keepdim", lambda L, a: a.argmin(dim=0, keepdim=True), [x(4, 5)], order=0),
    Case("stack", lambda L, a, b: L.lib.stack([a, b * 2], 1), [x(3, 2), x(3, 2)]),
    # linear algebra
    Case("matmul", lambda L, a, b: a @ b, [x(3, 4), x(4, 2)]),
    Case("matmul_batched_broadcast", lambda L, a, b: a @ b, [x(2, 1, 3, 4), x(3, 4, 5)]),
    Case("matmul_vector", lambda L, a, b: a @ b, [x(3, 4), x(4)]),
    Case("matmul_vector_left", lambda L, a, b: a @ b, [x(4), x(4, 3)]),
    Case("F.linear", lambda L, a, w, b: L.F.linear(a, w, b), [x(2, 3, 4), x(5, 4), x(5)]),
    # functional layers
    Case("F.conv2d", lambda L, a, w, b: L.F.conv2d(a, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
         [x(2, 3, 7, 6), x(4, 3, 3, 2), x(4)]),
    Case("F.conv2d_same_even", lambda L, a, w: L.F.conv2d(a, w, padding="same"), [x(1, 2, 5, 6), x(3, 2, 4, 2)]),
    Case("F.conv2d_groups", lambda L, a, w: L.F.conv2d(a, w, groups=3, padding=1), [x(2, 6, 4, 5), x(3, 2, 3, 3)]),
    Case("F.conv1d", lambda L, a, w, b: L.F.conv1d(a, w, b, stride=2, padding=2), [x(2, 3, 11), x(4, 3, 5), x(4)]),
    Case("F.conv1d_same_dilated", lambda L, a, w: L.F.conv1d(a, w, padding="same", dilation=2), [x(1, 2, 9), x(2, 2, 3)]),
    Case("F.max_pool2d", lambda L, a: L.F.max_pool2d(a, 2), [x(2, 3, 4, 6)], order=1),
    Case("F.max_pool2d_stride_pad", lambda L, a: L.F.max_pool2d(a, 3, stride=2, padding=1), [x(1, 2, 7, 5)]),
    Case("F.avg_pool2d", lambda L, a: L.F.avg_pool2d(a, 3, stride=2, padding=1), [x(2, 2, 5, 7)]),
    Case("F.adaptive_avg_pool2d", lambda L, a: L.F.adaptive_avg_pool2d(a, (3, 2)), [x(2, 2, 7, 5)]),
    Case("F.adaptive_avg_pool2d_1", lambda L, a: L.F.adaptive_avg_pool2d(a, 1), [x(2, 3, 4, 5)]),
    Case("F.adaptive_max_pool2d", lambda L, a: L.F.adaptive_max_pool2d(a, (2, 3)), [x(1, 2, 5, 7)]),
    Case("F.layer_norm", lambda L, a, w, b: L.F.layer_norm(a, (3, 4), w, b), [x(2, 3, 4), x(3, 4), x(3, 4)]),
    Case("F.embedding", lambda L, i, w: L.F.embedding(i, w), [idx((2, 5), 4), x(4, 3)]),
    # losses
    Case("F.cross_entropy", lambda L, a, t: L.F.cross_entropy(a, t), [x(5, 4), idx((5,), 4)]),
    Case("F.cross_entropy_large_logits", lambda L, a, t: L.F.cross_entropy(a * 500, t), [x(4, 3), idx((4,), 3)]),
    Case("F.cross_entropy_weight_ignore_smooth",
         lambda L, a, t, w: L.F.cross_entropy(a, t, weight=w, ignore_index=-100, label_smoothing=0.2),
         [x(6, 4), idx((6,), 4, fill=[-100, 3]), const([0.5, 1.0, 2.0, 0.1])]),
    Case("F.cross_entropy_ignore_index_1", lambda L, a, t: L.F.cross_entropy(a, t, ignore_index=1),
         [x(6, 3), idx((6,), 3, fill=[1, 0, 2])]),
    Case("F.cross_entropy_sum", lambda L, a, t: L.F.cross_entropy(a, t, reduction="sum"), [x(5, 3), idx((5,), 3)]),
    Case("F.cross_entropy_none", lambda L, a, t: L.F.cross_entropy(a, t, reduction="none"), [x(5, 3), idx((5,), 3)]),
    Case("F.cross_entropy_NCT", lambda L, a, t: L.F.cross_entropy(a, t), [x(2, 4, 7), idx((2, 7), 4)]),
    Case("F.cross_entropy_NCHW_none", lambda L, a, t: L.F.cross_entropy(a, t, reduction="none"),
         [x(2, 3, 2, 3), idx((2, 2, 3), 3)]),
    Case("F.cross_entropy_soft_targets_with_grad",
         lambda L, a, b: L.F.cross_entropy(a, L.F.softmax(b, dim=1), label_smoothing=0.1), [x(4, 3), x(4, 3)]),
    Case("F.cross_entropy_soft_weighted",
         lambda L, a, b, w: L.F.cross_entropy(a, L.F.softmax(b, dim=1), weight=w), [x(4, 3), x(4, 3),
                                                                                  const([1.0, 3.0, 0.5])]),
    Case("F.cross_entropy_unbatched", lambda L, a, t: L.F.cross_entropy(a, t), [x(5), idx((), 5)]),
    Case("F.nll_loss", lambda L, a, t: L.F.nll_loss(L.F.log_softmax(a, dim=1), t), [x(5, 4), idx((5,), 4)]),
    Case("F.nll_loss_weight_ignore", lambda L, a, t, w: L.F.nll_loss(L.F.log_softmax(a, dim=1), t, weight=w),
         [x(6, 3), idx((6,), 3, fill=[-100]), const([0.2, 1.0, 4.0])]),
    Case("F.nll_loss_NCT_sum", lambda L, a, t: L.F.nll_loss(L.F.log_softmax(a, dim=1), t, reduction="sum"),
         [x(2, 3, 5), idx((2, 5), 3)]),
    Case("F.mse_loss_both_sides", lambda L, a, b: L.F.mse_loss(a.tanh(), b.tanh()), [x(3, 4), x(3, 4)]),
    Case("F.mse_loss_sum", lambda L, a, b: L.F.mse_loss(a, b, reduction="sum"), [x(5), x(5)]),
    Case("F.l1_loss", lambda L, a, b: L.F.l1_loss(a, b), [x(3, 4), const(np.full((3, 4), 0.05))], order=1),
    Case("F.smooth_l1_loss", lambda L, a, b: L.F.smooth_l1_loss(a, b, beta=0.5), [x(4, 3), const(np.zeros((4, 3)))]),
    Case("F.binary_cross_entropy", lambda L, a, b: L.F.binary_cross_entropy(a.sigmoid(), b.sigmoid()),
         [x(3, 4), x(3, 4)]),
    Case("F.binary_cross_entropy_weight_none",
         lambda L, a, b, w: L.F.binary_cross_entropy(a.sigmoid(), b, weight=w, reduction="none"),
         [x(3, 4), const(np.random.default_rng(1).uniform(0, 1, (3, 4))), const([1.0, 2.0, 0.5, 3.0])]),
    Case("F.bce_with_logits_at_zero", lambda L, a, t: L.F.binary_cross_entropy_with_logits(a * 0, t),
         [x(3), const([0.0, 0.5, 1.0])]),
    Case("F.bce_with_logits", lambda L, a, b: L.F.binary_cross_entropy_with_logits(a, b.sigmoid()),
         [x(4, 3, low=-40, high=40), x(4, 3)]),
    Case("F.bce_with_logits_pos_weight", lambda L, a, t, p: L.F.binary_cross_entropy_with_logits(
        a, t, pos_weight=p, reduction="sum"), [x(4, 3), const(np.eye(4, 3)), const([1.0, 2.0, 0.5])]),
    # layers (parameters are inputs too)
    Case("nn.Linear", lambda L, m, a: m(a), [x(4, 3)], layer=lambda L: L.nn.Linear(3, 5)),
    Case("nn.Conv2d", lambda L, m, a: m(a), [x(2, 2, 6, 5)],
         layer=lambda L: L.nn.Conv2d(2, 4, 3, stride=2, padding=1)),
    Case("nn.Conv2d_same_groups", lambda L, m, a: m(a), [x(1, 4, 5, 6)],
         layer=lambda L: L.nn.Conv2d(4, 6, (2, 3), padding="same", groups=2, bias=False)),
    Case("nn.Conv1d", lambda L, m, a: m(a), [x(2, 3, 10)], layer=lambda L: L.nn.Conv1d(3, 4, 4, padding="same")),
    Case("nn.BatchNorm1d", lambda L, m, a: m(a), [x(6, 3)], layer=lambda L: L.nn.BatchNorm1d(3)),
    Case("nn.BatchNorm2d", lambda L, m, a: m(a), [x(3, 2, 4, 3)], layer=lambda L: L.nn.BatchNorm2d(2)),
    Case("nn.BatchNorm2d_eval", lambda L, m, a: m(a), [x(3, 2, 4, 3)], layer=lambda L: L.nn.BatchNorm2d(2),
         train=False),
    Case("nn.LayerNorm", lambda L, m, a: m(a), [x(3, 2, 5)], layer=lambda L: L.nn.LayerNorm(5)),
    Case("nn.Embedding", lambda L, m, i: m(i) * 2, [idx((3, 4), 7)], layer=lambda L: L.nn.Embedding(7, 3)),
    Case("nn.Embedding_padding", lambda L, m, i: m(i) * 2, [idx((3, 4), 7, fill=[0, 0])],
         layer=lambda L: L.nn.Embedding(7, 3, padding_idx=0)),
    Case("nn.AdaptiveAvgPool2d", lambda L, m, a: m(a), [x(2, 3, 9, 7)], layer=lambda L: L.nn.AdaptiveAvgPool2d((4, 3))),
    Case("nn.MaxPool2d", lambda L, m, a: m(a), [x(2, 3, 6, 6)], layer=lambda L: L.nn.MaxPool2d(2)),
    Case("nn.Softmax", lambda L, m, a: m(a), [x(3, 4)], layer=lambda L: L.nn.Softmax(dim=0)),
    Case("nn.LogSoftmax", lambda L, m, a: m(a), [x(3, 4)], layer=lambda L: L.nn.LogSoftmax(dim=1)),
    Case("nn.GELU", lambda L, m, a: m(a), [x(3, 4)], layer=lambda L: L.nn.GELU()),
    Case("nn.GELU_tanh", lambda L, m, a: m(a), [x(3, 4)], layer=lambda L: L.nn.GELU(approximate="tanh")),
    Case("nn.Flatten", lambda L, m, a: m(a) * 2, [x(2, 3, 4)], layer=lambda L: L.nn.Flatten()),
    Case("nn.Unflatten", lambda L, m, a: m(a) * 2, [x(2, 6)], layer=lambda L: L.nn.Unflatten(1, (2, 3))),
    Case("nn.Sequential_cnn", lambda L, m, a: m(a), [x(2, 1, 8, 7)], layer=lambda L: L.nn.Sequential(
        L.nn.Conv2d(1, 3, 3, padding="same"), L.nn.BatchNorm2d(3), L.nn.ReLU(), L.nn.MaxPool2d(2),
        L.nn.Conv2d(3, 4, 3, padding=1), L.nn.Tanh(), L.nn.AdaptiveAvgPool2d(1), L.nn.Flatten(),
        L.nn.Linear(4, 2)), order=1),
    Case("nn.CrossEntropyLoss", lambda L, m, a, t: m(a, t), [x(4, 5), idx((4,), 5)],
         layer=lambda L: L.nn.CrossEntropyLoss(label_smoothing=0.05)),
    Case("nn.MSELoss", lambda L, m, a, b: m(a, b), [x(3, 2), x(3, 2)], layer=lambda L: L.nn.MSELoss(reduction="sum")),
    Case("nn.BCEWithLogitsLoss", lambda L, m, a, t: m(a, t), [x(5), const([0.0, 1.0, 1.0, 0.0, 0.3])],
         layer=lambda L: L.nn.BCEWithLogitsLoss()),
    Case("nn.L1Loss", lambda L, m, a, b: m(a, b), [x(3, 2), const(np.full((3, 2), 0.05))], layer=lambda L: L.nn.L1Loss(),
         order=1),
    Case("nn.NLLLoss", lambda L, m, a, t: m(a.log_softmax(1) if L is AL else a.log_softmax(1), t),
         [x(4, 3), idx((4,), 3)], layer=lambda L: L.nn.NLLLoss()),
    # index_put: x[index] = value as a recorded op; torch's index takes a tuple of index tensors
    Case("index_put_rows", lambda L, a, i, b: a.index_put((i,), b), [x(4, 3), idx((2,), 4, fill=[3, 1]), x(2, 3)]),
    Case("index_put_mask_broadcast", lambda L, a, b: a.index_put((a.detach() > 0,), b), [x(3, 4), x(1)]),
    # PyTorch's tensor methods and functions composed from our ops
    Case("methods_add_mul_pow_sub_div", lambda L, a, b: a.add(b).mul(a).pow(2).sub(b).div(3.0), [x(3, 2), x(2)]),
    Case("sort_descending", lambda L, a: a.sort(dim=0, descending=True)[0], [x(4, 3)]),
    Case("topk", lambda L, a: a.topk(2, dim=1)[0], [x(3, 5)]),
    Case("split_sizes", lambda L, a: a.split([1, 3], dim=1)[1], [x(2, 4)]),
    Case("chunk_uneven", lambda L, a: a.chunk(3, dim=0)[2], [x(7, 2)]),
    Case("unbind", lambda L, a: a.unbind(1)[1], [x(3, 4)]),
    Case("repeat_new_dim", lambda L, a: a.repeat(2, 1, 3), [x(2, 3)]),
    Case("t", lambda L, a: a.t(), [x(2, 3)]),
    Case("mm", lambda L, a, b: L.lib.mm(a, b), [x(2, 3), x(3, 4)]),
    Case("bmm", lambda L, a, b: L.lib.bmm(a, b), [x(2, 2, 3), x(2, 3, 4)]),
    Case("F.one_hot", lambda L, i: L.F.one_hot(i, 5), [idx((2, 3), 5)], order=0),
    # PyTorch's F.batch_norm signature: running statistics as tensors (None allowed in training)
    Case("F.batch_norm_train_no_stats", lambda L, a, w, b: L.F.batch_norm(a, None, None, w, b, training=True),
         [x(4, 3, 2), x(3), x(3)]),
    Case("F.batch_norm_eval", lambda L, a, w, b: L.F.batch_norm(
        a, L.lib.tensor(np.array([0.1, -0.2, 0.3])), L.lib.tensor(np.array([0.5, 2.0, 1.5])), w, b),
         [x(5, 3), x(3), x(3)]),
]


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_values_and_gradients_as_torch(case):
    check(case)


def test_the_suite_is_large_and_checks_second_order():
    assert len(CASES) >= 80
    assert sum(c.order == 2 for c in CASES) >= 60


def test_the_comparison_catches_a_difference():
    wrong = Case("wrong_gelu", lambda L, a: L.F.gelu(a, approximate="tanh"), [x(3)],
                 torch_fn=lambda L, a: L.F.gelu(a))      # exact erf form against the tanh form
    with pytest.raises(AssertionError, match="wrong_gelu: values"):
        check(wrong)


def test_a_torch_state_dict_loads_into_the_same_model_here():
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding="same"), torch.nn.BatchNorm2d(3),
                                 torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                                 torch.nn.Linear(3, 2)).double()
    batch = np.random.default_rng(0).normal(size=(4, 1, 5, 6))
    theirs(torch.from_numpy(batch))                    # running statistics move, the counter counts
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    assert int(state["1.num_batches_tracked"]) == 1
    ours = al.nn.Sequential(al.nn.Conv2d(1, 3, 3, padding="same"), al.nn.BatchNorm2d(3), al.nn.ReLU(),
                            al.nn.AdaptiveAvgPool2d(1), al.nn.Flatten(), al.nn.Linear(3, 2))
    ours.load_state_dict(state)
    theirs.eval()
    ours.eval()
    np.testing.assert_allclose(ours(al.tensor(batch)).data, theirs(torch.from_numpy(batch)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)     # our parameters are float32
