"""The benchmark scripts must keep working (they also cross-check results); no timing asserted."""
import os
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import w5_op_overhead  # noqa: E402
import w6_small_mlp  # noqa: E402


def test_w5_runs_and_reports_microseconds(capsys):
    per_op = w5_op_overhead.main()
    assert 0 < per_op < 1e-3
    assert "W5 fwd+bwd per op" in capsys.readouterr().out


def test_w6_scalar_and_batched_agree(capsys):
    # main() asserts that al.Value, al.Tensor (and micrograd, when installed) give one loss.
    w6_small_mlp.main(["--repeats", "1"])
    out = capsys.readouterr().out
    assert "W6 (a) scalar al.Value, relu" in out and "W6 (b) batched" in out


def test_w6_hand_written_numpy_matches_the_engine():
    import numpy as np
    X, y, weights = w6_small_mlp.make_data()
    for activation in ("relu", "tanh"):
        assert np.isclose(w6_small_mlp.numpy_step(weights, X, y, activation),
                          w6_small_mlp.tensor_step(weights, X, y, activation))


@pytest.mark.slow
def test_conv_and_mlp_benchmarks_run_and_agree_with_the_hand_written_numpy(capsys):
    # Each main() asserts that autograd_lab's loss equals the numpy-by-hand loss.
    import w2_mlp_step
    import w3_cnn_step
    import w4_conv_layer
    w2_mlp_step.main(repeats=2)
    w3_cnn_step.main(repeats=2, w1_blocks=1)
    w4_conv_layer.main(repeats=2)
    out = capsys.readouterr().out
    assert "W2 MLP train step" in out and "W3 CNN train step" in out and "W4 conv fwd+bwd" in out
