"""Run every benchmark script and print their tables (the source of docs/performance.md).

    python benchmarks/run_all.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402,F401  (imports torch first, see common.py)
import w1_sgemm  # noqa: E402
import w2_mlp_step  # noqa: E402
import w3_cnn_step  # noqa: E402
import w4_conv_layer  # noqa: E402
import w5_op_overhead  # noqa: E402
import w6_small_mlp  # noqa: E402
import w7_cold_start  # noqa: E402

if __name__ == "__main__":
    for run in (w1_sgemm.main, w2_mlp_step.main, w3_cnn_step.main, w4_conv_layer.main,
                w5_op_overhead.main, lambda: w6_small_mlp.main(["--activation", "relu"]),
                lambda: w6_small_mlp.main(["--activation", "tanh"]), w7_cold_start.main):
        run()
        print()
