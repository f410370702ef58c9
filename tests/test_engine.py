"""Engine behaviour: broadcasting, accumulation, graph lifetime, errors, higher order."""
import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import autograd_lab as al


def t(data, **kw):
    return al.tensor(np.asarray(data, dtype=np.float64), requires_grad=True, **kw)


# ---- dtypes and construction ---------------------------------------------------
def test_default_dtypes():
    assert al.tensor([1, 2]).dtype == np.float32
    assert al.tensor(3.0).dtype == np.float32
    assert al.tensor(np.arange(3)).dtype == np.int64           # ndarrays keep theirs
    assert al.tensor(np.zeros(2, np.float64)).dtype == np.float64
    al.set_default_dtype(np.float64)
    try:
        assert al.tensor([1.5]).dtype == np.float64
    finally:
        al.set_default_dtype(np.float32)


def test_requires_grad_on_integers_is_refused():
    with pytest.raises(TypeError, match="floating"):
        al.tensor(np.arange(3), requires_grad=True)


def test_tensor_copies_its_ndarray():
    source = np.ones(3, np.float32)
    w = al.tensor(source, requires_grad=True)
    w.data -= 1
    assert source.tolist() == [1, 1, 1]


def test_python_scalars_keep_float32():
    x = al.tensor([1.0, 2.0], requires_grad=True)
    y = (2.5 * x + 1) / 3 - x ** 2
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


# ---- gradients -------------------------------------------------------------------
def test_broadcasting_gradients_sum_back_to_input_shapes():
    a = t(np.ones((3, 1)))
    b = t(np.arange(4.0))
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and a.grad.ravel().tolist() == [6.0, 6.0, 6.0]
    assert b.grad.tolist() == [3.0, 3.0, 3.0, 3.0]


def test_gradients_accumulate_until_zeroed():
    x = t([1.0, 2.0])
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]
    x.grad = None
    (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_repeated_indices_accumulate():
    x = t([1.0, 2.0, 3.0])
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]
    y = t(np.arange(6.0).reshape(2, 3))
    (y[1, 1:] * 2).sum().backward()
    assert y.grad.tolist() == [[0, 0, 0], [0, 2, 2]]


def test_max_ties_share_the_gradient_like_torch_amax():
    x = t([1.0, 3.0, 3.0, 0.0])
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    a, b = t([1.0, 2.0]), t([1.0, 0.0])
    al.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 1.0] and b.grad.tolist() == [0.5, 0.0]


def test_relu_and_abs_at_zero_have_zero_gradient():
    x = t([0.0])
    x.relu().sum().backward()
    assert x.grad.tolist() == [0.0]
    y = t([0.0])
    y.abs().sum().backward()
    assert y.grad.tolist() == [0.0]


def test_reductions_with_axes_and_keepdims():
    x = t(np.arange(24.0).reshape(2, 3, 4))
    y = x.sum(axis=(0, 2), keepdims=True)
    assert y.shape == (1, 3, 1)
    assert x.mean(axis=-1).shape == (2, 3)
    np.testing.assert_allclose(x.mean(axis=1).data, np.arange(24.0).reshape(2, 3, 4).mean(1))
    x.min(axis=1).sum().backward()
    assert x.grad[:, 0, :].sum() == 8 and x.grad[:, 1:, :].sum() == 0


def test_softmax_family_is_stable_for_large_logits():
    logits = np.array([[1000.0, -1000.0, 999.0], [-1e3, -1e3, -1e3]])
    for dtype in (np.float32, np.float64):
        x = al.tensor(logits.astype(dtype), requires_grad=True)
        shifted = logits - logits.max(axis=1, keepdims=True)
        ref_logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        logp = al.log_softmax(x, axis=1)
        np.testing.assert_allclose(logp.data, ref_logp, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(al.softmax(x, axis=1).data, np.exp(ref_logp), atol=1e-6)
        lse = al.logsumexp(x, axis=1)
        np.testing.assert_allclose(lse.data, np.array([1000.3132617, -1000 + np.log(3)]), rtol=1e-6)
        (logp[:, 0].sum() + lse.sum()).backward()
        assert np.isfinite(x.grad).all()


def test_matmul_shapes_and_gradients():
    a, b = t(np.random.default_rng(0).normal(size=(2, 3))), t([1.0, 2.0, 3.0])
    y = a @ b
    assert y.shape == (2,)
    y.sum().backward()
    np.testing.assert_allclose(a.grad, np.tile([1.0, 2.0, 3.0], (2, 1)))
    np.testing.assert_allclose(b.grad, a.data.sum(0))


def test_concatenate_stack_where_transpose():
    a, b = t([[1.0, 2.0]]), t([[3.0, 4.0]])
    assert al.concatenate([a, b]).shape == (2, 2)
    s = al.stack([a, b], axis=1)
    assert s.shape == (1, 2, 2)
    (s * al.tensor([[[1.0, 2.0], [3.0, 4.0]]])).sum().backward()
    assert a.grad.tolist() == [[1.0, 2.0]] and b.grad.tolist() == [[3.0, 4.0]]
    c = t([1.0, -1.0])
    al.where(c.data > 0, c * 10, c * 100).sum().backward()
    assert c.grad.tolist() == [10.0, 100.0]
    m = t(np.arange(6.0).reshape(2, 3))
    assert m.T.shape == (3, 2) and m.transpose((1, 0)).shape == (3, 2)


def test_comparisons_are_not_differentiable():
    x = t([1.0, -1.0])
    mask = x > 0
    assert mask.dtype == bool and not mask.requires_grad and mask.data.tolist() == [True, False]


# ---- al.grad and higher order -----------------------------------------------------
def test_grad_returns_a_tuple_and_does_not_accumulate():
    x, y = t([1.0, 2.0]), t([3.0])
    gx, gy = al.grad((x * y).sum(), [x, y])
    assert gx.data.tolist() == [3.0, 3.0] and gy.data.tolist() == [3.0]
    assert x.grad is None and y.grad is None


def test_grad_unused_input():
    x, z = t([1.0]), t([2.0])
    with pytest.raises(ValueError, match="not part of the graph"):
        al.grad((x * 2).sum(), [x, z])
    gx, gz = al.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.data.tolist() == [2.0]


def test_hessian_vector_product():
    rng = np.random.default_rng(1)
    x = t(rng.normal(size=4))
    v = rng.normal(size=4)
    (g,) = al.grad((x ** 3).sum() + (x.tanh() * x).sum(), x, create_graph=True)
    (hv,) = al.grad((g * v).sum(), x)
    xs = x.data
    th = np.tanh(xs)
    diag = 6 * xs + 2 * (1 - th**2) - 2 * xs * th * (1 - th**2)
    np.testing.assert_allclose(hv.data, diag * v, rtol=1e-10)


def test_nodes_of_a_recorded_backward_pass_are_marked():
    x = t([0.5])
    (g,) = al.grad(x.tanh().sum(), x, create_graph=True)
    assert g.from_backward and g.requires_grad
    assert not x.from_backward
    assert any(n.from_backward for n in al.topological_order(g))


def test_second_backward_without_retain_graph_raises():
    x = t([1.0, 2.0])
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(al.GraphFreedError, match="retain_graph=True"):
        y.backward()
    z = (x * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad.tolist() == pytest.approx((np.exp([1.0, 2.0]) * 2 + np.array([4.0, 8.0])).tolist())


# ---- graph size and lifetime ------------------------------------------------------
@pytest.mark.slow
def test_a_100000_op_chain_backpropagates():
    x = al.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]
    v0 = al.Value(0.5)
    v = v0
    for _ in range(100_000):
        v = v + 1e-6
    v.backward()
    assert v0.grad == 1.0
    del y, v   # freeing 200,000 nested nodes must not overflow the C stack either


def test_graph_is_freed_when_its_output_is_dropped_without_the_gc():
    gc.disable()
    try:
        x = al.tensor(np.ones(3), requires_grad=True)
        hidden = x.tanh()
        probe = weakref.ref(hidden)
        out = (hidden * 2).sum()
        out.backward()
        del hidden
        assert probe() is not None      # still held by the graph of `out`
        del out
        assert probe() is None          # no reference cycle: freed by refcounting alone
    finally:
        gc.enable()


def test_training_loop_memory_does_not_grow():
    rng = np.random.default_rng(0)
    w1 = al.tensor(rng.normal(size=(2, 16)) * 0.5, requires_grad=True)
    w2 = al.tensor(rng.normal(size=(16, 1)) * 0.5, requires_grad=True)
    xs = al.tensor(rng.normal(size=(32, 2)))
    ys = al.tensor((rng.normal(size=(32, 1)) > 0).astype(np.float32))

    def step():
        loss = (((xs @ w1).tanh() @ w2).sigmoid() - ys).abs().mean()
        loss.backward()
        for w in (w1, w2):
            w.data -= 0.1 * w.grad
            w.grad = None

    for _ in range(100):
        step()
    tracemalloc.start()
    try:
        for _ in range(200):
            step()
        after_warmup, _ = tracemalloc.get_traced_memory()
        for _ in range(1000):
            step()
        after_more, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after_more - after_warmup < 32 * 1024, (after_warmup, after_more)


def test_no_grad_records_nothing():
    x = t([1.0])
    with al.no_grad():
        y = x * 2
        with al.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.op_name == "mul"


# ---- errors ------------------------------------------------------------------------
def test_broadcast_error_names_the_op_and_both_shapes():
    with pytest.raises(al.ShapeError, match=r"add: input shapes \(2, 3\), \(4,\)"):
        al.tensor(np.ones((2, 3))) + al.tensor(np.ones(4))
    assert issubclass(al.ShapeError, ValueError)


def test_matmul_error_names_the_shapes():
    with pytest.raises(al.ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        al.tensor(np.ones((2, 3))) @ al.tensor(np.ones((4, 5)))


def test_backward_on_non_scalar_needs_grad():
    x = t([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*grad="):
        (x * 2).backward()
    with pytest.raises(al.ShapeError, match="grad has shape"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.array([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]


def test_backward_without_any_grad_input():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (al.tensor([1.0]) * 2).sum().backward()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # numpy warns too; we raise
def test_anomaly_mode_names_the_op_and_the_user_line():
    x = t([0.0, 1.0])
    with al.detect_anomaly():
        with pytest.raises(al.AnomalyError, match=r"log produced -?inf.*test_engine\.py:\d+"):
            al.log(x)
        y = al.sqrt(x)          # sqrt(0) = 0 is fine forward; its gradient is inf
        with pytest.raises(al.AnomalyError, match=r"backward of sqrt produced inf.*test_engine\.py"):
            y.sum().backward()


# ---- graph access ------------------------------------------------------------------
def test_graph_access_and_networkx_export():
    w = al.tensor(np.ones((2, 2), np.float32), requires_grad=True, name="w")
    x = al.tensor(np.arange(2.0), name="x")
    y = (w @ x).sum(axis=0)
    order = al.topological_order(y)
    assert order[-1] is y and {n.name for n in order if n.is_leaf} == {"w", "x"}
    assert y.op_name == "sum" and y.params == {"axis": (0,), "keepdims": False}
    y.backward()
    G = al.to_networkx(y)
    attrs = [G.nodes[n] for n in G]
    w_attrs = next(a for a in attrs if a["name"] == "w")
    assert w_attrs["is_parameter"] and w_attrs["grad"] == [[0.0, 1.0], [0.0, 1.0]]
    assert w_attrs["shape"] == (2, 2) and w_attrs["dtype"] == "float32"
    big = al.to_networkx(al.tensor(np.arange(100.0)) * 2)
    product = next(n for n in big if big.nodes[n]["op"] == "mul")
    assert set(big.nodes[product]["value"]) == {"min", "max", "mean", "std", "norm"}
    assert big.nodes[product]["value"]["max"] == 198.0
    assert G.number_of_nodes() == len(order)


def test_each_leaf_owns_its_gradient_array():
    # Fresh results are adopted without a copy; anything shared must be copied:
    # add hands one array to both inputs, reshape returns a view, the seed is the user's.
    a, b, c = (al.tensor(np.ones((2, 3)), requires_grad=True) for _ in range(3))
    seed = np.full((2, 3), 2.0)
    (a + b + c.reshape(6).reshape(2, 3)).backward(seed)
    grads = [a.grad, b.grad, c.grad, seed]
    for i, first in enumerate(grads):
        for second in grads[i + 1:]:
            assert not np.shares_memory(first, second)
    a.grad += 1                    # a user may change one in place
    assert b.grad.tolist() == c.grad.tolist() == seed.tolist() == [[2.0] * 3] * 2
    leaf = al.tensor(np.ones(3), requires_grad=True)
    leaf.backward(seed[0])         # the root itself is the leaf: its seed is the user's array
    assert not np.shares_memory(leaf.grad, seed) and leaf.grad.flags.writeable


def test_a_fresh_weight_gradient_is_adopted_not_copied():
    # W2's first weight gradient is 655 kB; copying it cost 30 µs of a 750 µs step
    w = al.tensor(np.ones((128, 1280), np.float32), requires_grad=True)
    x = al.tensor(np.ones((64, 1280), np.float32))
    copies = []
    original = np.array

    def counting_array(obj, *args, **kwargs):
        if isinstance(obj, np.ndarray) and obj.shape == (128, 1280):
            copies.append(obj)
        return original(obj, *args, **kwargs)
    np.array = counting_array
    try:
        al.nn.functional.linear(x, w).sum().backward()
    finally:
        np.array = original
    assert copies == [] and w.grad.tolist()[0][:2] == [64.0, 64.0]


# ---- one protocol: ops evaluate or record; one reverse walk -------------------------
def test_an_op_on_raw_data_evaluates_and_on_nodes_records():
    from autograd_lab.ops import primitives as P
    raw = P.exp(np.array([0.0, 1.0]))
    assert type(raw) is np.ndarray and raw.tolist() == pytest.approx([1.0, np.e])
    assert type(P.exp(1.0)) is float and P.log(0.0) == -np.inf      # floats: the scalar forward
    node = P.exp(al.tensor([0.0, 1.0]))
    assert isinstance(node, al.Tensor) and node.op is P.exp
    mixed = P.mul(al.tensor([2.0]), np.array([3.0]))                  # a node among the inputs records
    assert isinstance(mixed, al.Tensor) and mixed.op is P.mul and mixed.data.tolist() == [6.0]
    with pytest.raises(al.ShapeError, match="add: input shapes \\(2,\\), \\(3,\\)"):
        P.add(np.ones(2), np.ones(3))                                 # raw errors name the op too


def _package_sources(folder):
    import pathlib
    root = pathlib.Path(al.__file__).parent
    return {p.relative_to(root).as_posix(): p.read_text() for p in (root / folder).rglob("*.py")}


def test_core_imports_nothing_from_ops():
    import ast
    for name, text in _package_sources("core").items():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                module = ("." * node.level) + (node.module or "")
                assert not module.lstrip(".").startswith("ops") and "autograd_lab.ops" not in module, \
                    f"core/{name} imports {module}"


def test_ops_are_never_looked_up_by_name_and_rules_are_called_in_one_module():
    import re
    sources = _package_sources(".")
    for name, text in sources.items():
        if name != "core/op.py":
            assert not re.search(r"OPS\[", text), f"{name} looks an op up by its name"
        if name not in ("core/engine.py", "core/op.py"):
            assert not re.search(r"\.(vjps?|variadic_vjp)\b", text), f"{name} calls gradient rules"


def test_backward_steps_report_every_contribution_and_agree_with_backward():
    a, b = t([1.0, 2.0]), t([3.0])
    loss = ((a * b).tanh() * a).sum()
    steps = list(al.core.engine.backward_steps(loss))
    assert steps[0].node is loss and steps[0].grad == 1.0
    received = {}
    for step in steps:
        for c in step.contributions:
            assert step.node.inputs[c.position] is c.input
            received[c.input] = received.get(c.input, 0) + c.value
    by_node = {s.node: s.grad for s in steps}
    loss.backward()
    for leaf in (a, b):                 # a leaf's gradient is the sum of what it received
        np.testing.assert_allclose(received[leaf], leaf.grad)
        np.testing.assert_allclose(by_node[leaf], leaf.grad)
    assert a.grad is not by_node[a]     # the walk leaves .grad alone: these are its own


def test_backward_steps_work_after_backward_released_saved_state():
    logits = t([[0.5, -1.0, 2.0]])
    pooled = al.nn.functional.max_pool2d(logits.reshape(1, 1, 1, 3), 1)
    loss = al.nn.functional.cross_entropy(pooled.reshape(1, 3), np.array([2]))
    loss.backward()                      # releases cross_entropy's and max_pool2d's saved state
    with pytest.raises(al.GraphFreedError):
        loss.backward()
    received = {}
    for step in al.core.engine.backward_steps(loss):   # the forward runs again to get it back
        received[step.node] = step.grad
    np.testing.assert_allclose(received[logits], logits.grad)


def test_an_exception_in_a_rule_is_not_swallowed_by_drawings():
    from autograd_lab.core.op import OPS, primitive
    broken = primitive("test_broken_rule", np.sin, lambda g, out, x: 1 / 0)
    try:
        y = broken(al.Value(0.5, label="x"))
        with pytest.raises(ZeroDivisionError):
            al.draw(y, mode="backward")
        with pytest.raises(ZeroDivisionError):
            al.explain(y, y.inputs[0])
    finally:
        del OPS["test_broken_rule"]


def _big_chain():
    x = al.tensor(np.linspace(-1, 1, 512 * 1024, dtype=np.float32), requires_grad=True)   # 2 MB
    hidden = (x * 3.0).relu()
    return x, hidden, (hidden * hidden).sum()


def test_plain_backward_gives_back_big_inner_values_only_the_graph_holds():
    x, hidden, loss = _big_chain()
    inner = loss.inputs[0]                 # hidden * hidden: only the graph refers to it
    expected = inner.data.copy()
    del inner
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loss.backward()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    # new: x.grad and hidden.grad (2 MB each); the product's and x * 3's gradients are not kept
    # (retain_graph keeps them: 8 MB) and their values (2 MB each) were given back
    assert after - before < 4.5 * 2**20
    np.testing.assert_allclose(x.grad, np.where(x.data > 0, 18 * x.data, 0), rtol=1e-6)
    # a node the user holds keeps its value and its gradient
    assert hidden.data is not None and hidden.grad is not None
    np.testing.assert_allclose(hidden.grad, 2 * hidden.data, rtol=1e-6)
    # a walk over the graph (drawings, explain) computes a released value again
    order = al.topological_order(loss)
    np.testing.assert_array_equal(order[-2].data, expected)
    with pytest.raises(al.GraphFreedError):
        loss.backward()


def test_retain_graph_keeps_every_value_and_gradient():
    x, hidden, loss = _big_chain()
    inner = loss.inputs[0]
    loss.backward(retain_graph=True)
    assert inner.data is not None and inner.grad is not None
