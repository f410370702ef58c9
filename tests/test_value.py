"""al.Value: micrograd's interface and micrograd's numbers, on the shared engine."""
import math

import pytest

import autograd_lab as al
from autograd_lab import Value


def test_micrograd_classic_example_exact():
    a = Value(2.0, label="a")
    b = Value(-3.0, label="b")
    c = Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = Value(-2.0, label="f")
    L = d * f; L.label = "L"
    L.backward()
    values = {v.label: (v.data, v.grad) for v in (a, b, c, d, e, f, L)}
    assert values == {"a": (2.0, 6.0), "b": (-3.0, -4.0), "c": (10.0, -2.0), "d": (4.0, -2.0),
                      "e": (-6.0, -2.0), "f": (-2.0, 4.0), "L": (-8.0, 1.0)}
    assert L._op == "*" and {p.label for p in L._prev} == {"d", "f"}
    assert L.op_name == "mul" and L.inputs == (d, f)


def test_micrograd_readme_example():
    # The expression and the printed numbers of micrograd's README.
    a = Value(-4.0)
    b = Value(2.0)
    c = a + b
    d = a * b + b**3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g += 10.0 / f
    assert f"{g.data:.4f}" == "24.7041"
    g.backward()
    assert f"{a.grad:.4f}" == "138.8338"
    assert f"{b.grad:.4f}" == "645.5773"


def test_neuron_with_tanh_from_the_lecture():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5), abs=1e-12)
    assert (x1.grad, w1.grad, x2.grad, w2.grad) == pytest.approx((-1.5, 1.0, 0.5, 0.0))


def test_value_ops_match_tensor_ops():
    x = 0.7
    for name in ["exp", "tanh", "sigmoid", "relu", "log", "sqrt", "abs"]:
        v = Value(x)
        out = getattr(v, name)()
        out.backward()
        t = al.tensor(x, dtype="float64", requires_grad=True)
        ref = getattr(t, name)()
        ref.backward()
        assert out.data == pytest.approx(float(ref.data), rel=1e-15), name
        assert v.grad == pytest.approx(float(t.grad), rel=1e-15), name


def test_value_is_float64_and_uses_the_same_op_table():
    y = Value(1.5) * 2
    assert isinstance(y.data, float) and y.op is al.OPS["mul"]
    assert Value(1.0) < Value(2.0) and Value(3.0) >= 3


def test_value_create_graph_gives_second_derivative():
    x = Value(0.5)
    y = x.tanh()
    (dy,) = al.grad(y, x, create_graph=True)
    (d2y,) = al.grad(dy, x)
    t = math.tanh(0.5)
    assert dy.data == pytest.approx(1 - t * t)
    assert d2y.data == pytest.approx(-2 * t * (1 - t * t))


def test_mixing_value_and_tensor_is_a_clear_error():
    with pytest.raises(TypeError, match="Value"):
        Value(1.0) + al.tensor(1.0)
