"""Gradient checks generated from the op table: every differentiable op is checked,
first order and (unless declared otherwise) second order, on hypothesis-drawn inputs."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import autograd_lab as al
from autograd_lab.core.op import OPS, primitive
from autograd_lab.ops import masks as M
from autograd_lab.ops.primitives import exp
from sampling import HypothesisGen

DIFFERENTIABLE = sorted(name for name, op in OPS.items() if op.differentiable)


def declaration_problems(op):
    """What keeps an op from being tested: no sampler, or an input without a rule."""
    if not op.differentiable:
        return []
    if op.samples is None:
        return [f"{op.name}: no samples= (test inputs) in its declaration"]
    if op.variadic_vjp is None and not any(rule is not None for rule in op.vjps):
        return [f"{op.name}: no gradient rule"]
    return []


def test_every_op_is_declared_with_rules_and_test_inputs():
    problems = [p for op in OPS.values() for p in declaration_problems(op)]
    assert problems == []
    assert len(DIFFERENTIABLE) >= 25


def test_an_op_without_samples_or_rules_is_reported():
    op = primitive("test_unsampled", np.sin, lambda g, out, x: g)
    bare = primitive("test_ruleless", np.sin, samples=lambda gen: ((gen.array(()),), {}))
    try:
        assert declaration_problems(op) == ["test_unsampled: no samples= (test inputs) in its declaration"]
        assert declaration_problems(bare) == ["test_ruleless: no gradient rule"]
    finally:
        del OPS["test_unsampled"], OPS["test_ruleless"]


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
