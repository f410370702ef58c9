"""al.compile: compiled programs give what eager gives (every op, first and second order,
whole training steps), passes rewrite what they should, guards re-trace, fallback warns."""
import os
import warnings

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.compiler import passes
from autograd_lab.compiler.api import CompileWarning
from autograd_lab.core.op import OPS

F = al.nn.functional


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_LAB_COMPILER_CACHE", str(tmp_path_factory.getbasetemp() / "compiled"))


class RandomGen:
    """The op table's samplers driven by a seeded numpy generator (no hypothesis: the
    compiled programs are checked on a few fixed draws per op)."""

    def __init__(self, seed, max_side=4):
        self.rng = np.random.default_rng(seed)
        self.max_side = max_side

    def shape(self, min_dims=0, max_dims=3):
        return tuple(int(s) for s in self.rng.integers(1, self.max_side + 1,
                                                       self.rng.integers(min_dims, max_dims + 1)))

    def broadcastable(self, n, max_dims=3):
        full = self.shape(0, max_dims)
        shapes = []
        for _ in range(n):
            keep = int(self.rng.integers(0, len(full) + 1))
            s = full[len(full) - keep:]
            shapes.append(tuple(1 if self.rng.random() < 0.3 else d for d in s))
        return shapes

    def array(self, shape, low=-2.0, high=2.0, avoid=()):
        values = self.rng.uniform(low, high, size=shape)
        for point in avoid:
            near = np.abs(values - point) < 0.15
            values[near] = point + np.where(values[near] >= point, 0.15, -0.15)
        return values

    def int_array(self, shape, low, high):
        return self.rng.integers(low, high + 1, size=shape)

    def integers(self, low, high):
        return int(self.rng.integers(low, high + 1))

    def boolean(self):
        return bool(self.rng.random() < 0.5)

    def choice(self, options):
        return options[int(self.rng.integers(0, len(options)))]

    def permutation(self, n):
        return tuple(int(i) for i in self.rng.permutation(n))

    def axis(self, ndim):
        options = [None] + list(range(-ndim, ndim))
        if ndim > 1:
            options.append(tuple(range(0, ndim, 2)))
        return self.choice(options)


DIFFERENTIABLE = sorted(name for name, op in OPS.items() if op.differentiable and op.samples)


def _program(op, params, order, seed):
    """fn(*tensors) -> (output, first-order grads, second-order grads), with fixed weights."""
    def fn(*xs):
        out = op(*xs, **params)
        rng = np.random.default_rng(seed)
        weights = al.tensor(rng.standard_normal(out.shape), dtype=out.dtype)
        loss = (out * weights).sum()
        wrt = [x for x in xs if x.requires_grad]
        grads = al.grad(loss, wrt, create_graph=True, allow_unused=True)
        result = [out, list(grads)]
        if order == 2:
            total = None
            for g in grads:
                if g is not None and g.requires_grad:
                    term = (g * g).sum()
                    total = term if total is None else total + term
            second = al.grad(total, wrt, allow_unused=True, create_graph=True) if total is not None else ()
            result.append(list(second))
        return result
    return fn


def _tensors(inputs):
    return [al.tensor(np.asarray(x), requires_grad=np.asarray(x).dtype.kind == "f") for x in inputs]


def _close(a, b):
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _close(x, y)
    elif a is None or b is None:
        assert a is None and b is None
    else:
        np.testing.assert_allclose(np.asarray(a.data), np.asarray(b.data), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_every_op_compiles_to_what_eager_computes(name):
    """First and second order, three draws per op; the compiled program also runs on
    fresh inputs of the same shapes (it reads its arguments, it did not memorize them).
    Unfused here (each fused kernel costs a Numba compilation): fusion of every
    elementwise op is checked below in one program."""
    op = OPS[name]
    order = 2 if op.second_order else 1
    for seed in range(3):
        inputs, params = op.samples(RandomGen(seed))
        fn = _program(op, params, order, seed)
        step = al.compile(fn, fuse=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompileWarning)
            step(*_tensors(inputs))
            step(*_tensors(inputs))
            assert step.status == "compiled", step.status
            moved = [np.asarray(x) + (0.01 if np.asarray(x).dtype.kind == "f" else 0) for x in inputs]
            if name in ("sqrt", "log", "pow", "div"):
                moved = inputs           # keep samples away from poles
            got = step(*_tensors(moved))
        want = fn(*_tensors(moved))
        _close(got, want)


def test_every_elementwise_op_fused_in_one_program_first_and_second_order():
    names = [n for n in passes.ELEMENTWISE if n in DIFFERENTIABLE and n not in ("where", "astype")]
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0.4, 2.0, (3, 4)).astype(np.float32)
    y0 = rng.uniform(0.4, 2.0, (4,)).astype(np.float32)

    def fn(x, y):
        total = None
        for name in names:
            op = OPS[name]
            out = op(x, y) if passes.ELEMENTWISE[name] == 2 else (
                op(x, low=0.6, high=1.5) if name == "clip" else op(x))
            term = (out * out).sum()
            total = term if total is None else total + term
        gx, gy = al.grad(total, [x, y], create_graph=True)
        (hx,) = al.grad((gx * gx).sum() + (gy * gy).sum(), [x])
        return total, gx, gy, hx
    step = al.compile(fn)

    def args(shift):
        return (al.tensor(x0 + shift, requires_grad=True), al.tensor(y0 + shift, requires_grad=True))
    step(*args(0.0))
    step(*args(0.0))
    assert step.status == "compiled"
    fused = [i for i in step.ir().instrs if i.kind == "fused"]
    assert sum(len(i.body) for i in fused) >= 3 * len(names)
    got, want = step(*args(0.05)), fn(*args(0.05))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.data, b.data, rtol=2e-5, atol=1e-6)


# ---- whole training steps ----------------------------------------------------------------
def _mlp_params(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(128, 1280), (128,), (10, 128), (10,)]
    return [al.tensor((rng.standard_normal(s) * (np.sqrt(2 / s[1]) if len(s) > 1 else 0.1))
                      .astype(np.float32), requires_grad=True) for s in shapes]


def _mlp_step(params, opt):
    w1, b1, w2, b2 = params

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(F.linear(F.linear(x, w1, b1).relu(), w2, b2), y)
        loss.backward()
        opt.step()
        return loss
    return step


def _batches(shape, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(shape).astype(np.float32), rng.integers(0, 10, shape[0]))
            for _ in range(steps)]


@pytest.mark.parametrize("make_opt", [
    lambda p: al.optim.SGD(p, lr=0.05),
    lambda p: al.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: al.optim.Adam(p, lr=1e-3),
], ids=["sgd", "sgd-momentum", "adam"])
def test_w2_step_compiled_gives_eager_losses_for_50_steps(make_opt):
    eager_params, compiled_params = _mlp_params(), _mlp_params()
    eager = _mlp_step(eager_params, make_opt(eager_params))
    compiled = al.compile(_mlp_step(compiled_params, make_opt(compiled_params)))
    batches = _batches((64, 1280), 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for x, y in batches:
            want = float(eager(x, y).data)
            got = float(compiled(x, y).data)
            np.testing.assert_allclose(got, want, rtol=1e-5)
    assert compiled.status == "compiled"
    for p, q in zip(eager_params, compiled_params):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-4, atol=1e-6)


def _cnn_params(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(16, 1, 3, 3), (16,), (32, 16, 3, 3), (32,), (64, 2560), (64,), (10, 64), (10,)]
    out = []
    for s in shapes:
        scale = np.sqrt(2.0 / np.prod(s[1:])) if len(s) > 1 else 0.1
        out.append(al.tensor((rng.standard_normal(s) * scale).astype(np.float32), requires_grad=True))
    return out


def _cnn_step(p, opt):
    w1, b1, w2, b2, w3, b3, w4, b4 = p

    def step(x, y):
        opt.zero_grad()
        h = F.max_pool2d(F.conv2d(x, w1, b1, padding=1).relu(), 2)
        h = F.max_pool2d(F.conv2d(h, w2, b2, padding=1).relu(), 2)
        h = F.linear(h.reshape(h.shape[0], -1), w3, b3).relu()
        loss = F.cross_entropy(F.linear(h, w4, b4), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.slow
def test_w3_step_compiled_gives_eager_losses_for_50_steps():
    eager_params, compiled_params = _cnn_params(), _cnn_params()
    eager = _cnn_step(eager_params, al.optim.SGD(eager_params, lr=0.01))
    compiled = al.compile(_cnn_step(compiled_params, al.optim.SGD(compiled_params, lr=0.01)))
    batches = _batches((64, 1, 40, 32), 50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for x, y in batches:
            np.testing.assert_allclose(float(compiled(x, y).data), float(eager(x, y).data), rtol=1e-5)
    assert compiled.status == "compiled"
    for p, q in zip(eager_params, compiled_params):
        np.testing.assert_allclose(q.data, p.data, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("width", [8, 32])
def test_max_pool_runs_before_relu_with_eager_values_and_gradients(width):
    """pool_before_relu swaps relu -> max_pool2d and masks the pooled gradient: the same
    values and gradients as eager, also on windows whose inputs are all negative or all 0.
    With rows of 32 columns, conv_pool also runs the convolution, the pool and the relu as
    one kernel where the CPU has AVX-512."""
    from autograd_lab.kernels.simd import wide_kernels_fit
    rng = np.random.default_rng(4)

    def net(x, w, b, v):
        h = F.max_pool2d(F.conv2d(x, w, b, padding=1).relu(), 2)          # one relu, one pool
        return (h * h * v).sum(), h          # a gradient known only at run time

    w = al.tensor(rng.standard_normal((4, 2, 3, 3)).astype(np.float32), requires_grad=True)
    b = al.tensor(np.zeros(4, np.float32), requires_grad=True)
    v = rng.standard_normal((3, 4, 4, width // 2)).astype(np.float32)

    @al.compile
    def step(x):
        w.grad = b.grad = None
        loss, h = net(al.tensor(x), w, b, al.tensor(v))     # a first layer: no input gradient
        loss.backward()
        return loss, h

    xs = [rng.standard_normal((3, 2, 8, width)).astype(np.float32) for _ in range(3)]
    for x in xs:
        x[:, :, :4, :4] = 0.0          # no bias: whole windows of exact zeros (relu'(0) = 0)
        x[0] = -np.abs(x[0])           # with w's signs mixed, some all-negative windows
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompileWarning)
        for x in xs:
            loss, h = step(x)
            w.grad = b.grad = None
            want, h_want = net(al.tensor(x), w, b, al.tensor(v))
            want.backward()
            np.testing.assert_allclose(h.data, h_want.data, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(float(loss.data), float(want.data), rtol=1e-5)
            gw, gb = w.grad.copy(), b.grad.copy()
            step(x)
            np.testing.assert_allclose(w.grad, gw, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(b.grad, gb, rtol=1e-5, atol=1e-6)
    assert (h_want.data == 0).any() and (h_want.data > 0).any()
    assert step.status == "compiled"
    report = {r.name: r.changes for r in step.passes()}
    assert report["pool_before_relu"] == 3          # the forward, its backward, the bias gradient
    fused = width == 32 and wide_kernels_fit()
    assert report["conv_pool"] == (2 if fused else 0)           # the pool, and the relu after it
    assert report["pool_grad_weight"] == (1 if fused else 0)    # the weight gradient from the pooled one
    program = step.ir()
    if fused:
        assert not any(i.kind == "op" and i.op.name in ("conv2d", "max_pool2d", "relu") for i in program.instrs)
        assert any(i.kind == "op" and i.op.name == "conv2d_max_pool2d_relu" for i in program.instrs)
    else:
        pool = next(i for i in program.instrs if i.kind == "op" and i.op.name == "max_pool2d")
        assert program[pool.inputs[0]].op.name == "conv2d"        # pooled straight from the convolution
    full = (3, 4, 8, width)
    assert not any(i.kind == "fused" and i.shape == full for i in program.instrs)   # no full-size mask
    bias = next(i for i in program.instrs if i.kind == "op" and i.op.name == "conv2d_grad_bias")
    assert program[bias.inputs[0]].shape == (3, 4, 4, width // 2)      # summed over the pooled gradient


@pytest.mark.parametrize("lanes", ["host", "forced"])
def test_conv_relu_pool_in_rows_of_16_compiles_to_the_pairs_kernel(lanes, monkeypatch):
    """conv_pool on rows of 16 columns with 8 output channels (W3's second layer) runs
    `_wide_conv_max_pool_pairs` (each window a pair of lanes); values, returned pool and
    gradients equal eager. "forced": the 16-lane kernels also where the host lacks AVX-512."""
    from autograd_lab.kernels import conv as KC
    if lanes == "forced":
        monkeypatch.setattr(KC, "wide_kernels_fit", lambda: True)
    fused = KC.wide_kernels_fit()
    called = []
    monkeypatch.setattr(KC, "wide_conv_max_pool_pairs_kernel",
                        lambda *a, _run=KC.wide_conv_max_pool_pairs_kernel: called.append(1) or _run(*a))
    rng = np.random.default_rng(6)
    w = al.tensor((rng.standard_normal((8, 3, 3, 3)) * 0.5).astype(np.float32), requires_grad=True)
    b = al.tensor(rng.standard_normal(8).astype(np.float32) * 0.1, requires_grad=True)
    v = rng.standard_normal((2, 8, 3, 8)).astype(np.float32)

    def net(x):
        xt = al.tensor(x, requires_grad=True)
        h = F.max_pool2d(F.conv2d(xt, w, b, padding=1).relu(), 2)
        return xt, (h * h * al.tensor(v)).sum(), h          # a gradient known only at run time

    @al.compile
    def step(x):
        w.grad = b.grad = None
        xt, loss, h = net(x)
        loss.backward()
        return loss, h, xt.grad

    xs = [rng.standard_normal((2, 3, 6, 16)).astype(np.float32) for _ in range(3)]
    for x in xs:
        x[1] = -np.abs(x[1])                # some windows all negative after the convolution
        loss, h, gx = step(x)
        gw, gb = w.grad.copy(), b.grad.copy()
        w.grad = b.grad = None
        xt, want, h_want = net(x)
        want.backward()
        np.testing.assert_allclose(float(loss.data), float(want.data), rtol=1e-5)
        np.testing.assert_allclose(h.data, h_want.data, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(gx.data, xt.grad, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gw, w.grad, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(gb, b.grad, rtol=1e-5, atol=1e-5)
    assert (h_want.data == 0).any() and (h_want.data > 0).any()
    assert step.status == "compiled"
    assert dict((r.name, r.changes) for r in step.passes())["conv_pool"] == (2 if fused else 0)
    assert any(i.kind == "op" and i.op.name == "conv2d_max_pool2d_relu" for i in step.ir().instrs) == fused
    assert bool(called) == fused       # the replays (not only the traces) ran the pairs kernel


def test_a_returned_pool_keeps_its_values_before_the_relu():
    """conv_pool takes a relu into its kernel only when nothing else needs the pooled values."""
    from autograd_lab.kernels.simd import wide_kernels_fit
    rng = np.random.default_rng(5)
    w = al.tensor(rng.standard_normal((8, 2, 3, 3)).astype(np.float32), requires_grad=True)

    @al.compile
    def step(x):
        w.grad = None
        pooled = F.max_pool2d(F.conv2d(al.tensor(x), w, padding=1), 2)
        h = pooled.relu()
        (h * h).sum().backward()
        return pooled, h
    x = rng.standard_normal((2, 2, 4, 32)).astype(np.float32)
    step(x)
    pooled, h = step(x)
    want = F.max_pool2d(F.conv2d(al.tensor(x), w, padding=1), 2)
    assert (want.data < 0).any()
    np.testing.assert_allclose(pooled.data, want.data, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h.data, want.relu().data, rtol=1e-6, atol=1e-6)
    assert dict((r.name, r.changes) for r in step.passes())["conv_pool"] == (1 if wide_kernels_fit() else 0)


def test_scalar_mlp_over_values_compiles():
    al.manual_seed(0)
    model = al.nn.MLP(2, [4, 4, 1])
    al.manual_seed(0)
    twin = al.nn.MLP(2, [4, 4, 1])
    points = [(0.5, -1.0), (1.5, 0.3), (-0.7, 0.2)]
    labels = [1.0, -1.0, 1.0]

    def make(m):
        opt = al.optim.SGD(m.parameters(), lr=0.05)

        def step():
            opt.zero_grad()
            loss = al.Value(0.0)
            for (a, b), t in zip(points, labels):
                loss = loss + (1 + -t * m([a, b])).relu()
            loss.backward()
            opt.step()
            return loss
        return step
    eager, compiled = make(model), al.compile(make(twin))
    for _ in range(6):
        assert compiled().data == pytest.approx(eager().data, rel=1e-12)
    assert compiled.status == "compiled"
    assert [p.data for p in twin.parameters()] == pytest.approx([p.data for p in model.parameters()])


# ---- guards and fallback ---------------------------------------------------------------
def test_new_shapes_trace_again_and_old_ones_still_replay():
    w = al.tensor(np.ones(3, np.float32), requires_grad=True)

    @al.compile
    def f(x):
        return (x * w).tanh().sum(axis=-1)
    for shape in [(2, 3), (2, 3), (5, 3), (5, 3), (2, 3)]:
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        np.testing.assert_allclose(f(x).data, np.tanh(x).sum(-1), rtol=1e-6)
    assert len(f._entries) == 2 and f.status == "compiled"


def test_item_in_the_middle_falls_back_with_the_users_line():
    w = al.tensor(np.ones(3), requires_grad=True)

    @al.compile
    def f(x):
        scale = (x * w).sum().item()
        return (x * scale).sum()
    with pytest.warns(CompileWarning, match=r"\.item\(\).*test_compiler\.py:\d+"):
        first = f(al.tensor(np.arange(3.0)))
    assert float(first.data) == 9.0
    assert float(f(al.tensor(np.arange(3.0) + 1)).data) == 36.0   # eager from now on: right for new data
    assert f.status.startswith("eager")


def test_control_flow_on_data_falls_back():
    @al.compile
    def f(x):
        x = al.tensor(x)
        if (x.sum() > 0):
            return x * 2
        return x * 3
    with pytest.warns(CompileWarning, match="data-dependent control flow"):
        f(np.ones(2))
    np.testing.assert_array_equal(f(-np.ones(2)).data, [-3.0, -3.0])


def test_data_made_outside_the_ops_falls_back():
    rng = np.random.default_rng(0)

    @al.compile
    def f(x):
        mask = al.tensor(rng.random(x.shape) > 0.5)        # a fresh dropout mask per call
        return (x * mask).sum()
    with pytest.warns(CompileWarning, match="made inside the function|constant"):
        for _ in range(3):
            f(al.tensor(np.ones(4)))
    assert f.status.startswith("eager")


def test_a_learning_rate_schedule_reaches_the_compiled_step():
    eager_params, compiled_params = _mlp_params(), _mlp_params()
    opts = [al.optim.SGD(p, lr=0.1) for p in (eager_params, compiled_params)]
    schedules = [al.optim.StepLR(o, step_size=2, gamma=0.5) for o in opts]
    eager = _mlp_step(eager_params, opts[0])
    compiled = al.compile(_mlp_step(compiled_params, opts[1]))
    for x, y in _batches((16, 1280), 8):
        np.testing.assert_allclose(float(compiled(x, y).data), float(eager(x, y).data), rtol=1e-5)
        for s in schedules:
            s.step()
    assert compiled.status == "compiled" and opts[1].lr == 0.1 * 0.5 ** 4
    np.testing.assert_allclose(compiled_params[0].data, eager_params[0].data, rtol=1e-5, atol=1e-7)


def test_batch_norm_running_statistics_fall_back():
    model = al.nn.Sequential(al.nn.Linear(4, 3), al.nn.BatchNorm1d(3))
    step = al.compile(lambda x: model(x).sum())
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    with pytest.warns(CompileWarning, match="batch_norm.*running statistics"):
        step(x)
    before = model[1].running_mean.copy() if hasattr(model, "__getitem__") else None
    step(x)
    if before is not None:
        assert not np.allclose(model[1].running_mean, before)     # eager: the statistics move


def test_item_at_the_end_is_returned_from_the_program():
    w = al.tensor(np.ones(2, np.float32), requires_grad=True)
    opt = al.optim.SGD([w], lr=0.1)

    @al.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x).sum() - 1) ** 2
        loss.backward()
        opt.step()
        return loss.item()
    x = np.array([1.0, 2.0], np.float32)
    losses = [step(x) for _ in range(4)]
    assert step.status == "compiled"
    assert all(isinstance(v, float) for v in losses) and losses[3] < losses[0]


# ---- passes ----------------------------------------------------------------------------------
def _compiled_simple():
    w = al.tensor(np.full(4, 2.0, np.float32), requires_grad=True, name="w")

    @al.compile
    def f(x):
        y = (al.tensor(x) * w) * 1.0 + 0.0          # x*1 and x+0: simplified away
        z = y.transpose().transpose()               # transpose of transpose: gone
        a = (z * z).sum() + (z * z).sum()           # the same product twice: one after CSE
        unused = y.exp()                            # noqa: F841  dead code
        return a
    x = np.arange(4, dtype=np.float32)
    f(x)
    f(x)
    return f, x


def test_passes_report_and_rewrite():
    f, x = _compiled_simple()
    report = {r.name: r.changes for r in f.passes()[1:] if r.changes}
    assert report.get("dce", 0) >= 1 and report.get("cse", 0) >= 1 and report.get("simplify", 0) >= 3
    traced, optimized = f.ir("traced"), f.ir("optimized")
    assert optimized.op_count() < traced.op_count()
    assert not any(i.kind == "op" and i.op.name == "transpose" for i in optimized.instrs)
    np.testing.assert_allclose(float(f(x + 1).data), 2 * np.sum((2 * (x + 1)) ** 2), rtol=1e-6)


def test_constant_folding_and_fusion():
    @al.compile
    def f(x):
        scale = al.tensor(np.float32(2.0)) * 3.0          # all-constant: folded
        return ((al.tensor(x) * scale).tanh() + 1.0).sum()
    x = np.linspace(-1, 1, 5, dtype=np.float32)
    f(x)
    f(x)
    report = {r.name: r.changes for r in f.passes()}
    assert report["fold"] >= 1 and report["fuse"] >= 2
    fused = [i for i in f.ir().instrs if i.kind == "fused"]
    assert fused and [b.op.name for b in fused[0].body] == ["mul", "tanh", "add"]
    np.testing.assert_allclose(float(f(x).data), np.sum(np.tanh(6 * x) + 1), rtol=1e-6)


def test_buffers_are_reused_and_updates_written_in_place():
    params = _mlp_params()
    step = al.compile(_mlp_step(params, al.optim.SGD(params, lr=0.1)))
    for x, y in _batches((8, 1280), 2):
        step(x, y)
    array = params[0].data
    step(*_batches((8, 1280), 1, seed=3)[0])
    assert params[0].data is array                    # updated in place, as eager does
    places = step.ir().buffers
    assert sum(1 for p in places.values() if p[0] == "inplace") == 4
    # an update reads the parameter from the buffer it writes, not from a second argument
    # aliasing it (which keeps LLVM from vectorizing the loop)
    updates = [text for text in step.source().split("# fused kernel")[1:] if "fused(mul sub)" in text]
    assert len(updates) == 4
    for text in updates:
        assert "def kernel(out, a0, a1):" in text and "= out[i]" in text


def test_bias_gradients_are_summed_by_the_kernel_that_makes_their_input():
    params = _mlp_params()
    step = al.compile(_mlp_step(params, al.optim.SGD(params, lr=0.1)))
    batches = _batches((8, 1280), 3)
    for x, y in batches[:2]:
        step(x, y)
    program = step.ir()
    assert [i.kind for i in program.instrs].count("reduced") == 2          # both bias gradients
    assert not any(i.kind == "op" and i.op.name == "sum" for i in program.instrs)
    assert dict((r.name, r.changes) for r in step.passes())["fuse_sums"] == 2
    assert "s0[c] += " in step.source()
    # the gradients they give: the eager ones (the 50-step tests compare the whole training)
    eager = _mlp_params()
    for p, q in zip(eager, params):
        p.data[...] = q.data
    step(*batches[2])
    loss = F.cross_entropy(F.linear(F.linear(al.tensor(batches[2][0]), eager[0], eager[1]).relu(),
                                    eager[2], eager[3]), batches[2][1])
    loss.backward()
    for p, q in zip(eager, params):
        np.testing.assert_allclose(q.grad, p.grad, rtol=1e-5, atol=1e-7)


def test_graph_source_and_disk_cache(tmp_path):
    f, _ = _compiled_simple()
    for which in ("traced", "optimized"):
        drawing = f.graph(which)
        assert drawing.source.startswith("digraph") and "returned" in drawing.source
    assert "fused kernel" in f.graph("optimized").source
    source = f.source()
    assert "def step(inputs):" in source and "@njit(cache=True" in source
    cached = [n for n in os.listdir(os.environ["AUTOGRAD_LAB_COMPILER_CACHE"]) if n.startswith("fused_")]
    assert cached


def test_dce_and_cse_on_a_hand_made_graph():
    from autograd_lab.compiler.ir import Graph, Instr
    P = OPS
    g = Graph([
        Instr(0, "input", value=("arg", 0), shape=(3,), dtype=np.dtype("f4")),
        Instr(1, "op", op=P["exp"], inputs=(0,), shape=(3,), dtype=np.dtype("f4")),
        Instr(2, "op", op=P["exp"], inputs=(0,), shape=(3,), dtype=np.dtype("f4")),
        Instr(3, "op", op=P["add"], inputs=(1, 2), shape=(3,), dtype=np.dtype("f4")),
        Instr(4, "op", op=P["log"], inputs=(0,), shape=(3,), dtype=np.dtype("f4")),
    ], [(3, ("return", 0))])
    g2, removed = passes.dce(g)
    assert removed == 1 and len(g2) == 4
    g3, merged = passes.cse(g2)
    assert merged == 1 and g3[3].inputs == (1, 1)
