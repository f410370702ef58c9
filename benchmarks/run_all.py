"""Run every benchmark script and print their tables (the source of docs/performance.md).

    python benchmarks/run_all.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import w5_op_overhead  # noqa: E402
import w6_small_mlp  # noqa: E402

if __name__ == "__main__":
    w5_op_overhead.main()
    print()
    w6_small_mlp.main(["--activation", "relu"])
    print()
    w6_small_mlp.main(["--activation", "tanh"])
