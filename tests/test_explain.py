"""al.explain: paths counted and the largest found by dynamic programming over the engine's walk."""
import numpy as np
import pytest

import autograd_lab as al


def chain_with_squarings(length=1000, squarings=18, start=1.000001):
    """A chain of `length` ops on one Value, `squarings` of them y * y: 2**squarings paths."""
    x = al.Value(start, label="x")
    y, done = x, 0
    for i in range(length):
        if i % 50 == 0 and done < squarings:
            y = y * y
            done += 1
        elif i % 2:
            y = y * 1.0001
        else:
            y = y + 0.001
    return x, y


def test_a_1000_op_chain_with_2_to_the_18_paths_is_counted_not_enumerated():
    x, y = chain_with_squarings()
    ex = al.explain(y, x)
    y.backward()
    assert ex.path_count == 2 ** 18 and ex.truncated and len(ex.paths) == 32
    assert ex.total == pytest.approx(x.grad, rel=1e-12)
    # every listed path runs the whole chain: 1000 local derivatives
    assert all(len(p.locals) == 1000 and p.names[0] == ex.root_name and p.names[-1] == "x"
               for p in ex.paths)
    assert "262,144 paths in all; the 32 largest are listed" in ex.text


def test_the_largest_paths_are_listed_first_and_their_products_are_right():
    a = al.Value(3.0, label="a")
    small = a * 0.5; small.label = "s"
    big = a * 10.0; big.label = "b"
    tiny = a * -0.01; tiny.label = "t"
    out = small + big + tiny; out.label = "out"
    ex = al.explain(out, a, max_paths=2)
    assert ex.path_count == 3 and ex.truncated
    assert [p.names for p in ex.paths] == [["out", "s+b", "b", "a"], ["out", "s+b", "s", "a"]]
    assert [p.product for p in ex.paths] == [10.0, 0.5]
    assert ex.total == pytest.approx(10.49)


def test_explain_counts_paths_of_tensors_of_one_element_and_refuses_constants():
    w = al.tensor([2.0], requires_grad=True, name="w")
    y = (w * w * w).sum()
    ex = al.explain(y, w)
    assert ex.path_count == 3 and ex.total == pytest.approx(12.0)
    c = al.tensor([1.0], name="c")
    with pytest.raises(ValueError, match="does not require grad"):
        al.explain((w * c).sum(), c)
    with pytest.raises(ValueError, match="scalar graphs"):
        al.explain((w * al.tensor(np.ones(2))).sum(), w)


def test_explain_of_the_root_itself_and_of_an_unreachable_leaf():
    a, b = al.Value(2.0, label="a"), al.Value(5.0, label="b")
    y = a * 3; y.label = "y"
    assert al.explain(y, y).total == 1.0 and al.explain(y, y).path_count == 1
    with pytest.raises(ValueError, match="not part of the graph"):
        al.explain(y, b)
