"""Tests generated from the op table.

Every declaration is complete (test inputs, rules, SymPy form, FLOP count, exports,
where each applies); every differentiable op is gradient-checked, first order and
(unless declared otherwise) second order, on hypothesis-drawn inputs; SymPy forms
agree with the forwards and rules; and an op declared in another module reaches
every part of the library."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import autograd_lab as al
from autograd_lab.core.op import OPS, no_flops, primitive
from autograd_lab.ops import masks as M
from autograd_lab.ops.primitives import exp
from sampling import HypothesisGen

DIFFERENTIABLE = sorted(name for name, op in OPS.items() if op.differentiable)


def declaration_problems(op):
    """What an op's declaration lacks, of what applies to it: test inputs and rules if it is
    differentiable, a SymPy form if it is also elementwise, a FLOP count always, and the
    exports it asks for."""
    problems = []
    if op.flops is None:
        problems.append(f"{op.name}: no flops= (FLOP count for al.viz.summary) in its declaration")
    if op.differentiable:
        if op.samples is None:
            problems.append(f"{op.name}: no samples= (test inputs) in its declaration")
        if op.variadic_vjp is None and not any(rule is not None for rule in op.vjps):
            problems.append(f"{op.name}: no gradient rule")
        if op.elementwise and op.sympy is None:
            problems.append(f"{op.name}: no sympy= (SymPy form for al.to_sympy) in its declaration")
    if op.function and getattr(al, op.name, None) is not op:
        problems.append(f"{op.name}: declared function=True but al.{op.name} is not the op")
    if op.method and not callable(getattr(al.Tensor, op.name, None)):
        problems.append(f"{op.name}: declared method=True but Tensor has no method {op.name}")
    return problems


def test_every_op_is_declared_with_everything_that_applies_to_it():
    problems = [p for op in OPS.values() for p in declaration_problems(op)]
    assert problems == []
    assert len(DIFFERENTIABLE) >= 25


def test_an_op_lacking_a_field_that_applies_is_reported():
    unsampled = primitive("test_unsampled", np.sin, lambda g, out, x: g, flops=no_flops)
    ruleless = primitive("test_ruleless", np.sin, flops=no_flops,
                         samples=lambda gen: ((gen.array(()),), {}))
    uncounted = primitive("test_uncounted", np.sin, differentiable=False)
    formless = primitive("test_formless", np.sin, lambda g, out, x: g, elementwise=True,
                         samples=lambda gen: ((gen.array(()),), {}))
    try:
        assert declaration_problems(unsampled) == [
            "test_unsampled: no samples= (test inputs) in its declaration"]
        assert declaration_problems(ruleless) == ["test_ruleless: no gradient rule"]
        assert declaration_problems(uncounted) == [
            "test_uncounted: no flops= (FLOP count for al.viz.summary) in its declaration"]
        assert declaration_problems(formless) == [
            "test_formless: no sympy= (SymPy form for al.to_sympy) in its declaration"]
        assert formless.flops((2, 3), (2, 3)) == 6        # elementwise: one per output element
    finally:
        for name in ("test_unsampled", "test_ruleless", "test_uncounted", "test_formless"):
            del OPS[name]


def _inputs_and_fn(op, data):
    inputs, params = op.samples(HypothesisGen(data))
    rules = [op.vjp(i) for i in range(len(inputs))]
    for x, rule in zip(inputs, rules):
        if np.asarray(x).dtype.kind == "f":
            assert rule is not None, f"{op.name}: a floating input has no gradient rule"
    return inputs, (lambda *xs: op(*xs, **params))


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_first_order_gradcheck(name, data):
    inputs, fn = _inputs_and_fn(OPS[name], data)
    al.gradcheck(fn, inputs, order=1)


@pytest.mark.parametrize("name", [n for n in DIFFERENTIABLE if OPS[n].second_order])
@given(data=st.data())
def test_second_order_gradcheck(name, data):
    inputs, fn = _inputs_and_fn(OPS[name], data)
    al.gradcheck(fn, inputs, order=2)


@pytest.mark.parametrize("name", DIFFERENTIABLE)
@given(data=st.data())
def test_float32_stays_float32(name, data):
    inputs, fn = _inputs_and_fn(OPS[name], data)
    tensors = [al.tensor(np.asarray(x).astype(np.float32) if np.asarray(x).dtype.kind == "f" else x,
                         requires_grad=np.asarray(x).dtype.kind == "f") for x in inputs]
    out = fn(*tensors)
    if name != "astype":
        assert out.dtype == np.float32
    out.backward(np.ones(out.shape, np.float32))
    for t in tensors:
        if t.requires_grad:
            assert t.grad.dtype == np.float32 and t.grad.shape == t.shape


# ---- the checker itself must catch wrong rules -------------------------------
def test_gradcheck_catches_a_wrong_first_order_rule():
    wrong = primitive("test_wrong_sin", np.sin, lambda g, out, x: g * exp(x))   # d sin = cos
    try:
        with pytest.raises(al.GradcheckError, match="input 0"):
            al.gradcheck(wrong, [np.array([0.1, 0.7, -1.3])])
    finally:
        del OPS["test_wrong_sin"]


def test_gradcheck_catches_a_rule_that_is_not_differentiable_itself():
    # Right first derivative, but computed from raw data: a constant to the second pass.
    frozen = primitive("test_frozen_tanh", np.tanh,
                       lambda g, out, x: g * (1 - np.tanh(M.raw(x)) ** 2))
    try:
        assert al.gradcheck(frozen, [np.array([0.3, -0.8])], order=1)
        with pytest.raises(al.GradcheckError, match="order-2"):
            al.gradcheck(frozen, [np.array([0.3, -0.8])], order=2)
    finally:
        del OPS["test_frozen_tanh"]


def test_gradcheck_reports_the_worst_element():
    report = al.gradcheck(lambda x: x.exp() * x, [np.array([[0.5, 1.0], [2.0, -1.0]])])
    assert report.ok and report.order == 1
    assert report.worst_input == 0 and len(report.worst_index) == 2
    assert abs(report.analytic - report.numeric) < 1e-5


# ---- the other fields of a declaration, checked on every op -----------------------
@pytest.mark.parametrize("name", sorted(name for name, op in OPS.items() if op.samples is not None))
@settings(max_examples=5, deadline=None)
@given(data=st.data())
def test_flops_are_counted_from_shapes(name, data):
    op = OPS[name]
    inputs, params = op.samples(HypothesisGen(data))
    out = op.evaluate(*inputs, **params)
    count = op.flops(np.shape(out), *[np.shape(x) for x in inputs], **params)
    assert isinstance(count, (int, np.integer)) and count >= 0


def _scalar_inputs(op, data):
    inputs, params = op.samples(HypothesisGen(data))
    return [float(np.asarray(x).reshape(-1)[0]) for x in inputs], params


@pytest.mark.parametrize("name", sorted(name for name, op in OPS.items()
                                        if op.sympy is not None and op.samples is not None))
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_sympy_forms_agree_with_the_forward_and_the_rules(name, data):
    sp = pytest.importorskip("sympy")
    op = OPS[name]
    numbers, params = _scalar_inputs(op, data)
    values = [al.Value(v, label=f"x{i}") for i, v in enumerate(numbers)]
    out = op(*values, **params)
    symbols = sp.symbols([f"x{i}" for i in range(len(values))], real=True)
    expr = op.sympy(sp, *symbols, **params)
    at = dict(zip(symbols, numbers))
    assert float(expr.subs(at)) == pytest.approx(out.data, rel=1e-12, abs=1e-12)
    for i, s in enumerate(symbols):
        assert float(sp.diff(expr, s).subs(at)) == pytest.approx(
            al.core.engine.local_derivative(out, i), rel=1e-9, abs=1e-12)


def _withdraw(op):
    """Undo a test declaration: out of the table, al., the functions and the methods."""
    from autograd_lab.ops import functions
    del OPS[op.name]
    for where in (al, functions, al.Node, al.Tensor):
        if op.name in vars(where):
            delattr(where, op.name)


def test_an_op_declared_in_another_module_reaches_every_part_of_the_library(tmp_path, monkeypatch):
    import importlib
    import textwrap
    pytest.importorskip("sympy")
    (tmp_path / "softsign_op.py").write_text(textwrap.dedent('''
        import numpy as np
        from autograd_lab.core.op import primitive
        from autograd_lab.ops import samples as S
        from autograd_lab.ops.primitives import abs

        softsign = primitive(
            "test_softsign", lambda x: x / (1 + np.abs(x)),
            lambda g, out, x: g / ((1 + abs(x)) * (1 + abs(x))),
            elementwise=True, sympy=lambda sp, x: x / (1 + sp.Abs(x)),
            function=True, method=True, samples=S.unary(avoid=(0.0,)))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    op = importlib.import_module("softsign_op").softsign
    try:
        assert declaration_problems(op) == []
        assert al.test_softsign is op                                     # al.<name>
        x = al.tensor([0.5, -2.0], requires_grad=True)
        y = x.test_softsign()                                             # a Tensor method
        assert y.op is op and y.data.tolist() == pytest.approx([1 / 3, -2 / 3])
        v = al.Value(0.5, label="v")
        w = v.test_softsign()                                             # a Value method
        w.label = "w"

        @settings(max_examples=10, deadline=None)
        @given(data=st.data())
        def generated_checks(data):                                       # the generated gradchecks
            inputs, fn = _inputs_and_fn(op, data)
            al.gradcheck(fn, inputs, order=1)
            al.gradcheck(fn, inputs, order=2)
        generated_checks()

        assert al.explain(w, v).total == pytest.approx(1 / 1.5 ** 2)       # explain
        assert str(al.to_sympy(w)) == "v/(Abs(v) + 1)"                    # to_sympy
        rows = al.viz.summary(y.sum()).rows                               # summary
        assert [(r[1], r[5]) for r in rows if r[1] == "test_softsign"] == [("test_softsign", 2)]
        assert "test_softsign" in al.draw(w).source                        # drawings
    finally:
        _withdraw(op)
    assert not hasattr(al, "test_softsign") and not hasattr(al.Tensor, "test_softsign")


def test_adding_an_op_doc_shows_the_declarations_as_they_are():
    import inspect
    import pathlib
    from autograd_lab.ops import primitives
    doc = (pathlib.Path(__file__).parent.parent / "docs" / "adding-an-op.md").read_text()
    diff = doc.split("```diff\n")[1].split("```")[0]
    added = "".join(line[1:] + "\n" for line in diff.splitlines())
    assert added.count("primitive(") == 2 and added in inspect.getsource(primitives)
